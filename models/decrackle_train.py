"""Train the learned de-crackle model and export it to ONNX (torch only here; issue 22).

    nice -n 5 .venv/bin/python -m aural.models.decrackle_train --work runs/decrackle \
        --minutes 90 --out runs/decrackle.onnx

The net estimates the clicks and crackle in a waveform, which the node subtracts (the music
itself never passes through the net).  It is a stack of non-causal dilated convolutions, all
without bias and with leaky-ReLU activations: the net is positively homogeneous
(``net(a * x) == a * net(x)`` for ``a > 0``), so it is blind to level by construction.  Valid
convolutions: an input of ``T + R - 1`` samples gives the estimate of the ``T`` samples from
``(R - 1) / 2`` on (``R``: the receptive field); the streaming node keeps that much context and
declares the look-ahead as latency.

Loss per example: ``10 log10((|c_hat - c|^2 + e) / (|c|^2 + e))`` with ``e = 1e-3 |s|^2`` (``c``
the crackle, ``s`` the clean target): the SI-SDR-like gain left on the table in dB, and on clean
examples the model's own output counted against -30 dB of the signal.  Data:
:mod:`aural.models.decrackle_data`.  Progress every 50 steps; checkpoint (``--work/ckpt.pt``)
every minute; a rerun resumes until ``--minutes`` of training in total, then exports.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from .decrackle import CHANNELS, DILATIONS, IN_KERNEL, receptive_field
from .decrackle_data import DENSE_DB, DENSE_RATE, ExamplePool


def build_net(channels: int = CHANNELS, dilations=DILATIONS, in_kernel: int = IN_KERNEL,
              extra=()):
    """The de-crackle net (torch): (batch, 1, T + R - 1) -> (batch, 1, T).

    ``extra``: dilations of residual blocks appended after ``dilations`` (longer context, e.g.
    128 256 512), their output convolution zero at the start: the net then computes exactly what
    the net without them computes, so a trained net grows its context without losing anything."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, d: int, zero: bool = False) -> None:
            super().__init__()
            self.d = d
            self.conv = nn.Conv1d(channels, channels, 3, dilation=d, bias=False)
            self.mix = nn.Conv1d(channels, channels, 1, bias=False)
            if zero:
                nn.init.zeros_(self.mix.weight)

        def forward(self, h):
            z = self.mix(nn.functional.leaky_relu(self.conv(nn.functional.leaky_relu(h, 0.1)), 0.1))
            return h[:, :, self.d:-self.d] + z

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Conv1d(1, channels, in_kernel, bias=False)
            self.blocks = nn.ModuleList([Block(d) for d in dilations]
                                        + [Block(d, zero=True) for d in extra])
            self.out1 = nn.Conv1d(channels, channels, 1, bias=False)
            self.out2 = nn.Conv1d(channels, 1, 1, bias=False)
            nn.init.normal_(self.out2.weight, std=1e-3)

        def forward(self, x):
            h = self.inp(x * 10.0)
            for b in self.blocks:
                h = b(h)
            return self.out2(nn.functional.leaky_relu(self.out1(h), 0.1)) / 10.0

    net = Net()
    net.receptive_field = receptive_field(tuple(dilations) + tuple(extra), in_kernel)
    net.extra = tuple(int(d) for d in extra)
    return net


LOSS_FLOOR = 1e-3  # loss_db's floor, a share of the clean signal's energy (sessions 23-24)


def loss_db(c_hat, c, s, floor: float = LOSS_FLOOR):
    """Mean over the batch of 10 log10((|c_hat - c|^2 + e) / (|c|^2 + e)), e = floor |s|^2."""
    import torch

    e = floor * (s * s).sum(-1) + 1e-10
    num = ((c_hat - c) ** 2).sum(-1) + e
    den = (c * c).sum(-1) + e
    return (10.0 * torch.log10(num / den)).mean()


def export(net, path: Path) -> None:
    """x (batch, 1, T + R - 1) -> crackle (batch, 1, T); T dynamic.  Writes atomically."""
    import torch

    net = net.eval()
    r = net.receptive_field
    x = torch.zeros(1, 1, r + 255)
    tmp = str(path) + ".tmp"
    torch.onnx.export(net, (x,), tmp, input_names=["x"], output_names=["crackle"],
                      dynamic_axes={"x": {0: "b", 2: "t"}, "crackle": {0: "b", 2: "t_out"}},
                      opset_version=17, dynamo=False)
    import onnx

    m = onnx.load(tmp)
    meta = m.metadata_props.add()
    meta.key, meta.value = "aural", json.dumps({"kind": "decrackle", "receptive_field": r})
    onnx.save(m, tmp)
    os.replace(tmp, path)


def train(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    work = Path(args.work).expanduser()
    work.mkdir(parents=True, exist_ok=True)
    ck = work / "ckpt.pt"
    saved = torch.load(ck) if ck.exists() else None
    # a resumed run keeps the architecture it was started with
    extra = tuple(saved.get("extra", ())) if saved else tuple(args.extra)
    net = build_net(args.channels, extra=extra)
    r = net.receptive_field
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    spent, step, hist = 0.0, 0, []
    if saved is None and args.init:
        # grow a trained net: its weights, the appended blocks' output zero (same function)
        try:
            missing, unexpected = net.load_state_dict(torch.load(args.init)["net"], strict=False)
        except RuntimeError as e:  # other channel count
            raise SystemExit(f"--init {args.init} does not fit this net: {e}") from None
        if unexpected or any(not k.startswith("blocks.") for k in missing):
            raise SystemExit(f"--init {args.init} does not fit this net: {unexpected or missing}")
        print(f"initialised from {args.init}; new blocks {extra}", flush=True)
    if saved is not None:
        s = saved
        net.load_state_dict(s["net"])
        opt.load_state_dict(s["opt"])
        spent, step, hist = s["spent"], s["step"], s.get("hist", [])
        for g in opt.param_groups:  # a resumed run takes this run's --lr (a lower last leg)
            g["lr"] = args.lr
        print(f"resumed at step {step} ({spent / 60:.1f} min)", flush=True)
    pool = ExamplePool(args.pool, args.pool_seconds, args.seed, dense_db=args.dense_db,
                       dense_rate=args.dense_rate)
    rng = np.random.default_rng(args.seed * 1000 + step)
    t0 = time.time() - spent
    last_save = time.time()
    run = []
    half = (r - 1) // 2

    def save() -> None:
        tmp = work / "ckpt.pt.tmp"
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "spent": time.time() - t0,
                    "step": step, "hist": hist, "channels": args.channels, "extra": list(extra)},
                   tmp)
        os.replace(tmp, ck)

    while time.time() - t0 < args.minutes * 60 and (args.steps <= 0 or step < args.steps):
        x, c, _sr = pool.batch(rng, args.batch, args.samples + r - 1)
        xt = torch.from_numpy(x)[:, None, :]
        ct = torch.from_numpy(c[:, half:half + args.samples])
        st = torch.from_numpy(x[:, half:half + args.samples]) - ct
        c_hat = net(xt)[:, 0, :]
        loss = loss_db(c_hat, ct, st, args.floor)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        run.append(loss.item())
        if step % 50 == 0:
            hist.append((step, float(np.mean(run))))
            print(f"step {step} loss {np.mean(run):+.2f} dB  {time.time() - t0:.0f} s", flush=True)
            run = []
        if time.time() - last_save > 60:
            save()
            last_save = time.time()
    save()
    export(net, Path(args.out))
    meta = {"steps": step, "minutes": (time.time() - t0) / 60.0, "receptive_field": r,
            "args": vars(args)}
    (work / "export.json").write_text(json.dumps(meta, indent=1))
    print("exported", args.out, json.dumps(meta), flush=True)
    return meta


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/decrackle.onnx",
                    help="ONNX file written at the end (DeCrackle(model=...) loads it)")
    ap.add_argument("--work", default="~/.cache/aural/decrackle")
    ap.add_argument("--minutes", type=float, default=90.0)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: time only)")
    ap.add_argument("--pool", type=int, default=1500, help="clean segments drawn once")
    ap.add_argument("--pool-seconds", type=float, default=1.5)
    ap.add_argument("--samples", type=int, default=8192, help="scored samples per example")
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--channels", type=int, default=CHANNELS)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dense-db", type=float, nargs=2, default=list(DENSE_DB),
                    metavar=("LOW", "HIGH"), help="dense crackle peak, dB re the signal's RMS")
    ap.add_argument("--dense-rate", type=float, nargs=2, default=list(DENSE_RATE),
                    metavar=("LOW", "HIGH"), help="dense crackle, clicks per second")
    ap.add_argument("--floor", type=float, default=LOSS_FLOOR,
                    help="loss floor, a share of the clean signal's energy: crackle and error "
                         "under it weigh little")
    ap.add_argument("--extra", type=int, nargs="*", default=[], metavar="D",
                    help="dilations of blocks appended for longer context (a new run only)")
    ap.add_argument("--init", default="",
                    help="a checkpoint whose weights start a new run (with --extra: a net grown "
                         "from a trained one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export-only", action="store_true",
                    help="export the checkpoint in --work to --out and stop (a snapshot of a run)")
    args = ap.parse_args(argv)
    if args.export_only:
        return export_checkpoint(Path(args.work).expanduser() / "ckpt.pt", Path(args.out))
    return train(args)


def export_checkpoint(ckpt: Path, out: Path) -> dict:
    """Export a training checkpoint to ONNX; returns its step and minutes."""
    import torch

    s = torch.load(ckpt)
    net = build_net(int(s.get("channels", CHANNELS)), extra=s.get("extra", ()))
    net.load_state_dict(s["net"])
    export(net, out)
    meta = {"steps": s["step"], "minutes": s["spent"] / 60.0}
    print("exported", out, json.dumps(meta), flush=True)
    return meta


if __name__ == "__main__":
    main()
