"""What the ``auto`` preset finds and builds per damage category, and what it gains.

    .venv/bin/python benchmarks/bench_auto.py [--draws 3] [--seconds 5] [--neural]

Categories: clean speech, clean music (synthetic plucked + sonic-pi loops not reserved), hum,
clicks, clipping, noise (10 dB white), band-limited (4 kHz).  Per draw (seed): the damaged
signal, auto's analysis and chain, SI-SDR of the input and of the output against the clean
signal (for clean input: output against input).  Prints one row per category (means over the
draws) and the chains seen.  Wiener stands in for the neural model unless ``--neural``.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import music, speech  # noqa: E402

from aural.engine.auto import auto_chain_for_audio  # noqa: E402
from aural.engine.metrics import si_sdr  # noqa: E402

SR = 22050
LOOPS = ("breakbeat", "mehackit1", "perc1", "perc2", "weirdo")


def _clean_speech(rng, n):
    return speech(SR, n, "abcd"[int(rng.integers(4))])[None]


def _damage(cat: str, rng, secs: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(clean, damaged, rate)."""
    if cat == "clean music":
        if rng.integers(2):
            x = music(44100, secs, int(rng.integers(100)))
        else:
            name = LOOPS[int(rng.integers(len(LOOPS)))]
            x, _ = sf.read(f"/usr/share/sonic-pi/samples/loop_{name}.flac", dtype="float32",
                           always_2d=True)
            x = x.T[:, : int(secs * 44100)]
        return x, x, 44100
    s = _clean_speech(rng, secs)
    t = np.arange(s.shape[1]) / SR
    if cat == "clean speech":
        return s, s, SR
    if cat == "hum":
        f0 = (50.0, 60.0)[int(rng.integers(2))]
        amp = rng.uniform(0.005, 0.03)
        y = s + sum(amp / k * np.sin(2 * np.pi * k * f0 * t + k) for k in range(1, 7))
    elif cat == "clicks":
        y = s.copy()
        for p in rng.integers(SR // 10, s.shape[1] - SR // 10, int(rng.integers(15, 60))):
            y[0, p:p + int(rng.integers(1, 4))] += rng.choice([-1, 1]) * rng.uniform(0.1, 0.5)
    elif cat == "clipping":
        s = s / np.abs(s).max()
        y = np.clip(s, -rng.uniform(0.3, 0.7), None)
        y = np.clip(y, None, -y.min())
    elif cat == "noise":
        y = s + rng.standard_normal(s.shape) * np.sqrt(np.mean(s ** 2) / 10.0)
    elif cat == "band-limited":
        y = resample_poly(resample_poly(s[0], 8000, SR), SR, 8000)[None, : s.shape[1]]
    else:
        raise ValueError(cat)
    return s.astype(np.float32), y.astype(np.float32), SR


CATS = ("clean speech", "clean music", "hum", "clicks", "clipping", "noise", "band-limited")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--neural", action="store_true", help="the neural model for noisy speech")
    args = ap.parse_args(argv)
    print(f"{'category':14s} {'found (most common)':44s} {'in':>6s} {'out':>6s} {'gain':>6s}  chains")
    for cat in CATS:
        rows, chains, found = [], Counter(), Counter()
        for d in range(args.draws):
            rng = np.random.default_rng(1000 * CATS.index(cat) + d)
            clean, y, sr = _damage(cat, rng, args.seconds)
            t0 = time.monotonic()
            chain, a = auto_chain_for_audio(y, sr, neural=True if args.neural else False)
            out = chain(y, sr)
            dt = time.monotonic() - t0
            ref = y if cat.startswith("clean") else clean
            rows.append((si_sdr(ref, y), si_sdr(ref, out), dt))
            chains[" > ".join(n.name for n in chain.children) or "identity"] += 1
            key = [f for f in a.findings() if not f.startswith(("no ", "noise floor", "content"))]
            key = (["noisy"] if a.noisy else []) + key
            found[f"{a.content}; " + ("; ".join(k.split(":")[0].split(",")[0] for k in key)
                                      or "nothing")] += 1
        r = np.array(rows)
        inn, outt = np.minimum(r[:, 0], 99.0), np.minimum(r[:, 1], 99.0)
        print(f"{cat:14s} {found.most_common(1)[0][0][:44]:44s} {inn.mean():6.1f} {outt.mean():6.1f}"
              f" {np.mean(outt - inn):+6.1f}  {dict(chains)}  ({r[:, 2].mean():.1f} s each)")
    print("SI-SDR dB against the clean signal (clean categories: output against input, capped at 99)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
