"""Train the bandwidth extender's envelope net and export it to ONNX (torch only here).

    nice -n 5 .venv/bin/python -m aural.models.bwe_train --out models/weights/bwe.onnx \
        --minutes 25 --work ~/.cache/aural/bwe

Data (:mod:`aural.models.bwe_data`): 2 s segments of full-band train speech and music (each
example's source drawn first, ``--balance source``), cut at a log-uniform 3.4-11 kHz; features exactly as the streaming node computes them
(:func:`aural.models.bwe_core.features` on Hann frames of 1024, hop 256 at 48 kHz, causal framing)
with the cutoff jittered by +-8 % (the detector's error); target: the clean signal's band levels
relative to the known band's level (dB / 20, clipped to [-5, 2]); loss: L1 in dB over the bands
above the cutoff.  Net: Linear(66, 96) + ReLU -> GRU(96) -> Linear(96, 32); exported one frame per
call (GRUCell) with the state as input/output.  Resumable: the dataset and the checkpoint live in
``--work``; a rerun continues until ``--minutes`` of training in total.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from . import bwe_core as core
from .bwe_data import SR, cut, draw_segment, source_files, source_groups

HIDDEN = 96


def frame_spec(x: np.ndarray, lay: core.BweLayout) -> np.ndarray:
    """Causal STFT frames as the node sees them: frame t ends at sample (t + 1) * hop."""
    n, h = lay.n_fft, lay.hop
    xp = np.concatenate([np.zeros(n - h, np.float32), x])
    t = (len(xp) - n) // h + 1
    idx = np.arange(t)[:, None] * h + np.arange(n)[None, :]
    return np.fft.rfft(xp[idx] * lay.win_a[None, :], axis=1)


def make_example(clean: np.ndarray, fc: float, rng: np.random.Generator,
                 lay: core.BweLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (T, F), target (T, B), mask (T, B)) for one segment cut at fc Hz."""
    g = 10.0 ** (rng.uniform(-30.0, 0.0) / 20.0)
    clean = clean * np.float32(g / max(1e-6, float(np.max(np.abs(clean)))))
    low = cut(clean, fc, rng)
    sl, sc = frame_spec(low, lay), frame_spec(clean, lay)
    t = sl.shape[0]
    bl = np.zeros((t, core.N_BANDS))
    bc = np.zeros((t, core.N_BANDS))
    core.band_db(sl, lay.band_lo, lay.band_hi, lay.pnorm, bl)
    core.band_db(sc, lay.band_lo, lay.band_hi, lay.pnorm, bc)
    kc = int(round(fc * rng.uniform(0.92, 1.08) / lay.bin_hz))
    feat = np.zeros((t, core.N_FEAT), np.float32)
    ref = np.zeros(t)
    core.features(bl, lay.band_hi, kc, kc * lay.bin_hz, feat, ref)
    target = np.clip((bc - ref[:, None]) / 20.0, -5.0, 2.0).astype(np.float32)
    unknown = (lay.band_hi > kc) & (lay.band_lo < lay.top_bin) & (lay.band_hi > lay.band_lo)
    mask = np.broadcast_to(unknown, target.shape).astype(np.float32)
    return feat, target, mask


def build_dataset(path: Path, n_speech: int, n_music: int, seconds: float, seed: int,
                  balance: str = "source") -> None:
    """Draw the training examples once and save them (features, targets, masks) to path.

    ``balance="source"``: each example picks a source (a voice, a package) uniformly, then a
    segment of its files, so a voice with 790 files weighs as much as one with 6; ``"file"``:
    a segment of all the split's files (the session-16 recipe: three voices made 70 % of it)."""
    rng = np.random.default_rng(seed)
    lay = core.BweLayout(SR)
    if balance == "source":
        sp, mu = source_groups("train", "speech"), source_groups("train", "music")
    elif balance == "file":
        sp, mu = [source_files("train", "speech")], [source_files("train", "music")]
    else:
        raise ValueError(f"balance must be 'source' or 'file', not {balance!r}")
    feats, tgts, masks = [], [], []
    for i in range(n_speech + n_music):
        groups = sp if i < n_speech else mu
        files = groups[int(rng.integers(0, len(groups)))] if len(groups) > 1 else groups[0]
        x = draw_segment(files, seconds, rng)
        fc = math.exp(rng.uniform(math.log(3400.0), math.log(11000.0)))
        f, t, m = make_example(x, fc, rng, lay)
        feats.append(f)
        tgts.append(t)
        masks.append(m)
        if i % 200 == 0:
            print(f"dataset {i}/{n_speech + n_music}", flush=True)
    np.savez(path, feat=np.stack(feats), target=np.stack(tgts), mask=np.stack(masks))


def _net():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(core.N_FEAT, HIDDEN)
            self.gru = nn.GRU(HIDDEN, HIDDEN, batch_first=True)
            self.out = nn.Linear(HIDDEN, core.N_BANDS)

        def forward(self, x):
            y, _ = self.gru(torch.relu(self.inp(x)))
            return self.out(y)

    return Net()


def export(net, path: Path) -> None:
    """One frame per call: feat (C, F), h (C, H) -> env (C, B), h_out (C, H)."""
    import torch
    from torch import nn

    class Step(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = net.inp
            self.cell = nn.GRUCell(HIDDEN, HIDDEN)
            self.cell.weight_ih.data = net.gru.weight_ih_l0.data.clone()
            self.cell.weight_hh.data = net.gru.weight_hh_l0.data.clone()
            self.cell.bias_ih.data = net.gru.bias_ih_l0.data.clone()
            self.cell.bias_hh.data = net.gru.bias_hh_l0.data.clone()
            self.out = net.out

        def forward(self, feat, h):
            h2 = self.cell(torch.relu(self.inp(feat)), h)
            return self.out(h2), h2

    step = Step().eval()
    feat = torch.zeros(1, core.N_FEAT)
    h = torch.zeros(1, HIDDEN)
    tmp = str(path) + ".tmp"
    torch.onnx.export(step, (feat, h), tmp, input_names=["feat", "h"], output_names=["env", "h_out"],
                      dynamic_axes={"feat": {0: "c"}, "h": {0: "c"}, "env": {0: "c"}, "h_out": {0: "c"}},
                      opset_version=17, dynamo=False)
    os.replace(tmp, path)


def train(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    work = Path(args.work).expanduser()
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data.npz"
    if not data.exists():
        build_dataset(data, args.speech, args.music, args.seconds, args.seed, args.balance)
    d = np.load(data)
    feat, tgt, mask = (torch.from_numpy(d[k]) for k in ("feat", "target", "mask"))
    n = feat.shape[0]
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    ck = work / "ckpt.pt"
    spent, step = 0.0, 0
    if ck.exists():
        s = torch.load(ck)
        net.load_state_dict(s["net"])
        opt.load_state_dict(s["opt"])
        spent, step = s["spent"], s["step"]
    rng = np.random.default_rng(args.seed + step)
    t0 = time.time() - spent
    last_save = time.time()
    while time.time() - t0 < args.minutes * 60:
        idx = torch.from_numpy(rng.integers(0, n, args.batch))
        st = int(rng.integers(0, feat.shape[1] - args.frames + 1))
        f, t, m = (a[idx, st:st + args.frames] for a in (feat, tgt, mask))
        y = net(f)
        loss = (torch.abs(y - t) * m).sum() / m.sum().clamp(min=1.0) * 20.0
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.2f} dB  {time.time() - t0:.0f} s", flush=True)
        if time.time() - last_save > 60:
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(),
                        "spent": time.time() - t0, "step": step}, ck)
            last_save = time.time()
    torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "spent": time.time() - t0,
                "step": step}, ck)
    export(net, Path(args.out))
    meta = {"steps": step, "minutes": (time.time() - t0) / 60.0, "args": vars(args)}
    (work / "export.json").write_text(json.dumps(meta, indent=1))
    print("exported", args.out, meta, flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "weights" / "bwe.onnx"))
    ap.add_argument("--work", default="~/.cache/aural/bwe")
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--speech", type=int, default=1400)
    ap.add_argument("--music", type=int, default=600)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--balance", choices=("source", "file"), default="source",
                    help="draw examples per source (default) or per file (the session-16 data)")
    ap.add_argument("--export-only", action="store_true")
    args = ap.parse_args(argv)
    if args.export_only:
        import torch
        net = _net()
        net.load_state_dict(torch.load(Path(args.work).expanduser() / "ckpt.pt")["net"])
        export(net, Path(args.out))
        return
    train(args)


if __name__ == "__main__":
    main()
