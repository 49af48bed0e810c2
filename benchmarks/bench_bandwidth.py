"""Bandwidth extension benchmark: band-limited held-out clips, input vs DSP baseline vs model.

    .venv/bin/python benchmarks/bench_bandwidth.py [--draws 2] [--seconds 3] [--json out.json]

Clips (``--split``): ``score`` (default, for publishing): the registry's score-split full-band
sources of :mod:`aural.models.bwe_data` (tuxpaint be/da/ro and klettres da/he/hu speech,
0ad-data music); ``tune`` (for choosing): its dev sources (tuxpaint bg/nb/de and klettres de/pt
speech, ufoai-music).  Both are held out of training, 48 kHz mono, drawn with a fixed seed, the
SOURCE first (uniformly), then a file of it: drawn file by file, one voice with 789 files made
most of the speech (``--by-file`` repeats that older draw).  A draw whose clean clip is itself
band-limited (:func:`full_band`: 11-16 kHz more than 55 dB under 1-4 kHz) is redrawn.
Degradation: the project's zero-phase 8th-order Butterworth low-pass
(:func:`aural.models.degrade.bandlimit`) at 4 and 8 kHz.  Methods: ``input`` (the band-limited
clip), ``folding`` (BandwidthExtender mode folding: spectral translation shaped by the top
octave's slope, the DSP baseline), ``model`` (mode model: the shipped bwe.onnx envelope net).
Metrics: log-spectral distance (dB, lower is better) at 48 kHz (0-24 kHz: the whole missing band
counts, the empty band scored against the metric's -100 dB floor) and ``LSD16`` on both signals
resampled to 16 kHz (0-8 kHz: the protocol of the category tables in docs/quality.md, where the
issue's "input ~9 dB" was measured), SI-SDR (dB), ViSQOL audio mode MOS-LQO
(visqol-python, if installed), RTF (processing time / duration, one thread).  Mean and worst
per (kind, cutoff, method).  Default run < 5 minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

from aural.engine.metrics import log_spectral_distance, si_sdr  # noqa: E402
from aural.models.bwe import BandwidthExtender  # noqa: E402
from aural.models.bwe_data import SR, draw_segment, source_files, source_groups  # noqa: E402
from aural.models.data import reaches_band  # noqa: E402
from aural.models.degrade import bandlimit  # noqa: E402


def _visqol():
    try:
        from visqol import VisqolApi
    except ImportError:
        return None
    api = VisqolApi()
    api.create(mode="audio")
    return api


def to16k(x: np.ndarray) -> np.ndarray:
    """48 kHz -> 16 kHz (polyphase, Kaiser-windowed anti-alias filter)."""
    return resample_poly(x, 1, SR // 16000, axis=-1).astype(np.float32)


def full_band(x: np.ndarray, sr: int = SR) -> bool:
    """A clean clip counts as full band when its long-term spectrum at 11-16 kHz lies no more
    than 55 dB under its 1-4 kHz level (speech and music: 25-45 dB; a source sampled at 22.05 kHz
    or lossy-coded: 80 dB and more).  Independent of the extender's own detector, so a change to
    the detector does not change the draw."""
    return reaches_band(x, sr, 16000.0, width_hz=5000.0)  # 11-16 kHz


def draw_clips(kind: str, n: int, seconds: float, seed: int, split: str = "score",
               by_file: bool = False) -> list[np.ndarray]:
    """n full-band clips of ``kind`` from ``split``: a source drawn uniformly, then a segment of
    its files (``by_file``: a segment of all the split's files, the pre-session-19 draw)."""
    rng = np.random.default_rng(seed)
    groups = [source_files(split, kind)] if by_file else source_groups(split, kind)
    if not groups:
        raise SystemExit(f"no {kind} sources of the {split} split on this machine: "
                         "AURAL_DATA=full bash scripts/setup.d/50-data.sh")
    out: list[np.ndarray] = []
    for _ in range(n * 10):
        files = groups[int(rng.integers(0, len(groups)))]
        x = draw_segment(files, seconds, rng)
        x = (x / max(1e-6, float(np.max(np.abs(x)))) * 0.5).astype(np.float32)
        if full_band(x):
            out.append(x)
        if len(out) == n:
            break
    return out


def run(draws: int, seconds: float, cutoffs: list[float], seed: int, split: str = "score",
        by_file: bool = False) -> list[dict]:
    vq = _visqol()
    rows = []
    for kind in ("speech", "music"):
        clips = draw_clips(kind, draws, seconds, seed, split, by_file)
        for fc in cutoffs:
            for i, x in enumerate(clips):
                y = bandlimit(x, SR, fc)
                outs = {"input": (y, 0.0)}
                for mode in ("folding", "model"):
                    b = BandwidthExtender(mode=mode)
                    b(y[:SR // 10], SR)  # compile / warm
                    t = time.perf_counter()
                    z = b(y, SR)
                    outs[mode] = (z, (time.perf_counter() - t) / seconds)
                for name, (z, rtf) in outs.items():
                    r = {"kind": kind, "cutoff_hz": fc, "draw": i, "method": name,
                         "lsd_db": log_spectral_distance(x, z),
                         "lsd16_db": log_spectral_distance(to16k(x), to16k(z)),
                         "si_sdr_db": si_sdr(x, z),
                         "rtf": rtf, "visqol": None}
                    if vq is not None:
                        r["visqol"] = float(vq.measure_from_arrays(x.astype(np.float64),
                                                                  z.astype(np.float64), SR).moslqo)
                    rows.append(r)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["kind"], r["cutoff_hz"], r["method"]) for r in rows},
                  key=lambda k: (k[0], k[1], ("input", "folding", "model").index(k[2])))
    for kind, fc, m in keys:
        rs = [r for r in rows if (r["kind"], r["cutoff_hz"], r["method"]) == (kind, fc, m)]
        s = {"kind": kind, "cutoff_hz": fc, "method": m, "n": len(rs)}
        for met, worst in (("lsd_db", max), ("lsd16_db", max), ("si_sdr_db", min), ("visqol", min), ("rtf", max)):
            v = [r[met] for r in rs if r[met] is not None]
            s[met] = float(np.mean(v)) if v else None
            s[met + "_worst"] = float(worst(v)) if v else None
        out.append(s)
    return out


def _f(v, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--cutoffs", default="4000,8000")
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--json", default=str(Path(__file__).resolve().parent.parent / "runs"
                                          / "bench_bandwidth.json"),
                    help="where the figures go (default runs/bench_bandwidth.json)")
    ap.add_argument("--split", default="score", choices=("score", "tune"),
                    help="score: publish; tune: choose and tune (the registry's tune split)")
    ap.add_argument("--by-file", action="store_true",
                    help="draw files uniformly over the split (the old draw), not sources")
    a = ap.parse_args(argv)
    t0 = time.time()
    rows = run(a.draws, a.seconds, [float(c) for c in a.cutoffs.split(",")], a.seed,
               "dev" if a.split == "tune" else "score", a.by_file)
    summ = summarise(rows)
    print(f"{'kind':7s} {'cut':>5s} {'method':8s} {'LSD dB':>14s} {'LSD16 dB':>14s} {'SI-SDR dB':>14s} "
          f"{'ViSQOL':>12s} {'RTF':>12s}   (mean / worst)")
    for s in summ:
        print(f"{s['kind']:7s} {s['cutoff_hz'] / 1000:4.0f}k {s['method']:8s} "
              f"{_f(s['lsd_db'], '6.2f')} /{_f(s['lsd_db_worst'], '6.2f')} "
              f"{_f(s['lsd16_db'], '6.2f')} /{_f(s['lsd16_db_worst'], '6.2f')} "
              f"{_f(s['si_sdr_db'], '6.2f')} /{_f(s['si_sdr_db_worst'], '6.2f')} "
              f"{_f(s['visqol'], '5.2f')} /{_f(s['visqol_worst'], '5.2f')} "
              f"{_f(s['rtf'], '5.3f')} /{_f(s['rtf_worst'], '5.3f')}")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"summary": summ, "rows": rows, "seconds": a.seconds, "draws": a.draws,
                   "wall_s": time.time() - t0}, f, indent=1)
    print(f"wrote {a.json} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
