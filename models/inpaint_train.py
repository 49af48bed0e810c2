"""Train and export the spectrogram-inpainting Res-U-Net (torch; training and export only).

    nice -n 5 .venv/bin/python -m aural.models.inpaint_train --out runs/inpaint --minutes 35
    (writes runs/inpaint/last.pt and models/weights/inpaint-resunet.onnx unless --no-export)

Data: the project's recipe (:class:`aural.models.data.Recipe`, 16 kHz): train split of the speech
(fillets-ng-data-cs) and music (sonic-pi-samples) lists, reserved files excluded by the recipe.
Examples: random 128-frame crops of the log-magnitude STFT (n_fft 256, hop 64) whose loudest bin
is above -60 dBFS; one time gap per patch, 3-90 frames wide (covers the seed's 10-70 % and real
5-250 ms gaps) at a random place.  Loss on the gap columns only: L1 of the normalised
log-magnitude (dB/20) + 2 x L1 of the linear magnitude (relative to the patch's loudest bin).
The last checkpoint is exported (no selection on the dev split, which the benchmark scores).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .inpaint import BINS, FRAMES, HOP, N_FFT, default_model_path, stft

__all__ = ["ResUNet", "PatchSource", "train", "export"]


def _conv(ci: int, co: int, stride: int = 1, dil: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(ci, co, 3, stride, padding=dil, dilation=dil),
                         nn.LeakyReLU(0.1))


class ResUNet(nn.Module):
    """Res-U-Net V2 (strided-convolution down path, nearest-upsample + conv up path, skip
    concatenations, dilated bottleneck, global residual over the interpolated input)."""

    def __init__(self, ch: tuple[int, ...] = (8, 24, 48, 64)) -> None:
        super().__init__()
        c0, c1, c2, c3 = ch
        self.ch = ch
        self.inc = nn.Sequential(_conv(2, c0), _conv(c0, c0))
        self.d1 = nn.Sequential(_conv(c0, c1, 2), _conv(c1, c1))
        self.d2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.d3 = nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3))
        self.mid = nn.Sequential(_conv(c3, c3, dil=2), _conv(c3, c3, dil=4), _conv(c3, c3, dil=8))
        self.u3 = _conv(c3 + c2, c2)
        self.u2 = _conv(c2 + c1, c1)
        self.u1 = _conv(c1 + c0, c0)
        self.out = nn.Conv2d(c0, 1, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base, mask = x[:, 0:1], x[:, 1:2]
        e0 = self.inc(x)
        e1 = self.d1(e0)
        e2 = self.d2(e1)
        e3 = self.d3(e2)
        m = e3 + self.mid(e3)
        u = self.u3(torch.cat([self.up(m), e2], 1))
        u = self.u2(torch.cat([self.up(u), e1], 1))
        u = self.u1(torch.cat([self.up(u), e0], 1))
        y = base + self.out(u)
        return base + mask * (y - base)


class PatchSource:
    """Log-magnitude spectrograms (dB re full scale) of the recipe's files, and random patches."""

    def __init__(self, split: str, max_speech: int = 250, seed: int = 0) -> None:
        from .data import Recipe

        rec = Recipe(sample_rate=16000, max_files=400)
        files = rec.files("speech", split)[:max_speech] + rec.files("music", split)
        self.specs: list[np.ndarray] = []
        self.kinds: list[str] = []
        for f in files:
            x = rec.audio(f)
            if len(x) < N_FFT + HOP * (FRAMES - 1):
                continue
            S = 20.0 * np.log10(np.abs(stft(x, N_FFT, HOP))[:, :BINS].T + 1e-6)
            self.specs.append(S.astype(np.float32))
            self.kinds.append("speech" if "fillets" in f else "music")
        self.rng = np.random.default_rng(seed)

    def patch(self, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
        """A random (BINS, FRAMES) dB patch whose loudest bin is above -60 dBFS."""
        idx = [i for i, k in enumerate(self.kinds) if kind is None or k == kind]
        for _ in range(50):
            S = self.specs[idx[rng.integers(len(idx))]]
            t = rng.integers(0, S.shape[1] - FRAMES + 1)
            p = S[:, t:t + FRAMES]
            if p.max() > -60.0:
                return p
        return p

    def batch(self, rng: np.random.Generator, n: int, wmin: int = 3, wmax: int = 90,
              kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(inputs (n, 2, BINS, FRAMES), targets (n, 1, BINS, FRAMES)) normalised."""
        from .inpaint import interp_gap, normalise

        x = np.zeros((n, 2, BINS, FRAMES), np.float32)
        y = np.zeros((n, 1, BINS, FRAMES), np.float32)
        for i in range(n):
            p = self.patch(rng, kind)
            w = int(rng.integers(wmin, wmax + 1))
            s = int(rng.integers(0, FRAMES - w + 1))
            gap = np.zeros(FRAMES, bool)
            gap[s:s + w] = True
            pn, _ = normalise(p, ~gap)
            y[i, 0] = pn
            x[i, 0] = interp_gap(pn, gap)
            x[i, 1] = gap[None, :]
        return x, y


def _loss(pred: torch.Tensor, tgt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    denom = mask.sum().clamp_min(1.0)
    l_log = ((pred - tgt).abs() * mask).sum() / denom
    lin = (torch.pow(10.0, pred) - torch.pow(10.0, tgt)).abs()
    return l_log + 2.0 * (lin * mask).sum() / denom


def export(model: ResUNet, path: str | Path) -> None:
    """ONNX (opset 17, dynamic batch) of the model; checked against torch with onnxruntime."""
    import onnxruntime as ort

    model.eval()
    x = torch.zeros(1, 2, BINS, FRAMES)
    x[:, 1, :, 40:70] = 1.0
    x[:, 0] = torch.randn(BINS, FRAMES) * 0.5 - 2.0
    path = str(path)
    torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], opset_version=17,
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = model(x).numpy()
    got = sess.run(None, {"x": x.numpy()})[0]
    err = float(np.abs(ref - got).max())
    if err > 1e-3:
        raise RuntimeError(f"ONNX export differs from torch by {err}")


def train(out: Path, minutes: float, batch: int = 8, lr: float = 2e-3, threads: int = 2,
          seed: int = 0, max_speech: int = 250, init: str | None = None) -> ResUNet:
    """Train for ``minutes`` of wall time (Adam, cosine decay); saves out/last.pt every 100 steps.
    ``init``: a checkpoint to continue from (a second leg; its examples use a new seed)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    src = PatchSource("train", max_speech=max_speech, seed=seed)
    dev = PatchSource("dev", max_speech=40, seed=seed + 1)
    xd, yd = dev.batch(np.random.default_rng(1234), 32)
    print(f"data: {len(src.specs)} train / {len(dev.specs)} dev spectrograms "
          f"({time.time() - t0:.0f} s)", flush=True)
    model = ResUNet()
    if init:
        model.load_state_dict(torch.load(init, map_location="cpu")["model"])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    budget = minutes * 60.0 - (time.time() - t0)
    t1 = time.time()
    step = 0
    log = []
    while time.time() - t1 < budget:
        frac = min(1.0, (time.time() - t1) / budget)
        for g in opt.param_groups:
            g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1.0 + np.cos(np.pi * frac)))
        x, y = src.batch(rng, batch)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        model.train()
        pred = model(xt)
        loss = _loss(pred, yt, xt[:, 1:2])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            model.eval()
            with torch.no_grad():
                xdt = torch.from_numpy(xd)
                dl = float(_loss(model(xdt), torch.from_numpy(yd), xdt[:, 1:2]))
                di = float(_loss(xdt[:, 0:1], torch.from_numpy(yd), xdt[:, 1:2]))
            rec = {"step": step, "min": round((time.time() - t0) / 60, 1), "train": float(loss.detach()),
                   "dev": dl, "dev_interp": di}
            log.append(rec)
            print(json.dumps(rec), flush=True)
            torch.save({"model": model.state_dict(), "ch": model.ch, "step": step}, out / "last.pt")
    torch.save({"model": model.state_dict(), "ch": model.ch, "step": step}, out / "last.pt")
    (out / "log.json").write_text(json.dumps(log))
    return model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/inpaint")
    ap.add_argument("--minutes", type=float, default=35.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--onnx", default=str(default_model_path()))
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--export-only", help="checkpoint to export without training")
    ap.add_argument("--init", help="checkpoint to continue training from")
    a = ap.parse_args(argv)
    if a.export_only:
        ck = torch.load(a.export_only, map_location="cpu")
        model = ResUNet(tuple(ck["ch"]))
        model.load_state_dict(ck["model"])
    else:
        model = train(Path(a.out), a.minutes, a.batch, a.lr, a.threads, a.seed, init=a.init)
    if not a.no_export:
        export(model, a.onnx)
        print(f"exported {a.onnx} ({Path(a.onnx).stat().st_size / 1e6:.2f} MB, "
              f"{sum(p.numel() for p in model.parameters())} parameters)")


if __name__ == "__main__":
    main()
