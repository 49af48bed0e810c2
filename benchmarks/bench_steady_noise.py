"""Steady coloured noise: how far each denoiser pulls it down, per band and level, and what it
takes from clean speech at the same level.

    python benchmarks/bench_steady_noise.py                      # ~1 min
    python benchmarks/bench_steady_noise.py --neural-model runs/x.onnx --systems neural-voice

The dry-speech PESQ gap to DeepFilterNet3 sits on stationary coloured noise (white, pink,
brown) and on loud low-frequency noise (docs/quality.md); this isolates it.  For each noise
colour (white, pink 1/f, brown 1/f^2, seeded) at -20 and -40 dBFS RMS, 8 s at 48 kHz, the table
gives the suppression (input power / output power, dB) over the last 5 s (the steady state:
trackers and recurrent states have had 3 s) in octave bands up to 8 kHz (PESQ-wb's band).  A
second table runs a clean dry-speech clip of the bench dev set (no noise) scaled to the same
RMS levels and gives the power each system removes from it per band (dB; 0 is ideal): a
denoiser that suppresses noise by removing speech shows it there.

Systems: ``neural-voice`` (the NeuralEnhancer with ``--neural-model`` at its default 20 dB
attenuation limit), ``neural-raw`` (the same model with no limit: what the network itself does),
``deepfilternet3`` (its default, no limit), ``speexdsp``.  Each system is reset before each
signal and fed in 10 ms blocks (peers frame by frame), outputs aligned as in bench_quality.py.
"""
from __future__ import annotations

import os

for _k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import welch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_quality as bq  # noqa: E402

RATE = bq.RATE
SECONDS = 8.0
STEADY_FROM = 3.0  # s: measure after this
EDGES = (0, 125, 250, 500, 1000, 2000, 4000, 8000)  # Hz
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power-spectrum slope exponent
LEVELS = (-20.0, -40.0)  # dBFS RMS
SYSTEMS = ("neural-voice", "neural-raw", "deepfilternet3", "speexdsp")


def coloured_noise(alpha: float, n: int, seed: int) -> np.ndarray:
    """Unit-RMS Gaussian noise with power spectrum ~ 1/f^alpha (DC bin set like the first)."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / f ** (alpha / 2.0), n)
    return x / np.sqrt(np.mean(x * x))


def band_powers(x: np.ndarray) -> np.ndarray:
    """Power per band of EDGES over the steady part of x (linear)."""
    f, p = welch(x[int(STEADY_FROM * RATE):], RATE, nperseg=4096)
    return np.array([p[(f >= lo) & (f < hi)].sum() for lo, hi in zip(EDGES[:-1], EDGES[1:])])


def make_system(name: str, model: str, probe: np.ndarray):
    if name == "neural-voice":
        return bq.AuralSystem("neural-voice", neural_model=model)
    if name == "neural-raw":
        return bq.AuralSystem("neural-voice", neural_model=model, atten_limit=100.0)
    return bq.PeerSystem(name, probe)


def run(systems: list[str], model: str, seed: int, log=print) -> dict:
    t0 = time.monotonic()
    n = int(SECONDS * RATE)
    dev = bq.build_devset(1, SECONDS, seed=seed)
    speech = np.asarray(dev["dry speech in noise"][0]["clean"], np.float64)[:n]
    speech = speech / np.sqrt(np.mean(speech * speech))
    signals = {}
    for i, (colour, alpha) in enumerate(COLOURS.items()):
        noise = coloured_noise(alpha, n, seed + i)
        for lev in LEVELS:
            signals[("noise", colour, lev)] = (10 ** (lev / 20) * noise).astype(np.float32)
    for lev in LEVELS:
        signals[("speech", "dry speech", lev)] = (10 ** (lev / 20) * speech).astype(np.float32)
    res = {"edges_hz": list(EDGES), "levels_dbfs": list(LEVELS), "model": model, "seed": seed,
           "rows": []}
    for name in systems:
        sys_ = make_system(name, model, speech.astype(np.float32))
        label = getattr(sys_, "label", name)
        for (kind, what, lev), x in signals.items():
            sys_.reset()
            y = sys_.process(x)
            d = 10 * np.log10(band_powers(x) / np.maximum(band_powers(y), 1e-30))
            res["rows"].append({"system": label, "kind": kind, "signal": what, "level_dbfs": lev,
                                "db_removed": [round(float(v), 2) for v in d]})
            log(f"{label}: {what} at {lev:g} dBFS: " + " ".join(f"{v:6.1f}" for v in d))
    res["wall_s"] = time.monotonic() - t0
    return res


def markdown(res: dict) -> str:
    bands = [f"{lo}-{hi}" for lo, hi in zip(res["edges_hz"][:-1], res["edges_hz"][1:])]
    out = []
    for kind, title in (("noise", "Steady noise removed (dB, more is better)"),
                        ("speech", "Clean speech removed (dB, 0 is ideal)")):
        out += [f"**{title}**, bands in Hz:", "",
                "| system | signal | dBFS | " + " | ".join(bands) + " |",
                "|---|---|---" + "|---" * len(bands) + "|"]
        for r in res["rows"]:
            if r["kind"] == kind:
                out.append(f"| {r['system']} | {r['signal']} | {r['level_dbfs']:g} | "
                           + " | ".join(f"{v:.1f}" for v in r["db_removed"]) + " |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of: " + ", ".join(SYSTEMS))
    ap.add_argument("--neural-model", default=bq.NEURAL_VOICE_MODEL,
                    help="model (shipped name or .onnx) of the neural systems (default %(default)s)")
    ap.add_argument("--seed", type=int, default=20240)
    ap.add_argument("--json", help="also write the figures as JSON here")
    a = ap.parse_args(argv)
    systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    bad = [s for s in systems if s not in SYSTEMS]
    if bad:
        ap.error(f"unknown system(s): {', '.join(bad)}")
    res = run(systems, a.neural_model, a.seed, log=lambda m: print(m, file=sys.stderr, flush=True))
    bq.write_json(a.json, res)
    print(f"<!-- {SECONDS:g} s signals at {RATE} Hz, steady part from {STEADY_FROM:g} s, "
          f"seed {a.seed}; {res['wall_s']:.0f} s -->\n")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
