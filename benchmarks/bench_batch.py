"""Batch throughput: files/s and audio-hours/hour for 1 and 2 local workers and local Ray, in
one run; cost per file against file length; peak memory per worker.

    python benchmarks/bench_batch.py [--files 8] [--seconds 10] [--preset voice] [--json out.json]

The files are real speech (tests/data) with noise, 48 kHz mono, written to a temporary folder.
Each engine starts from an empty output folder, so every file is processed; the worker start-up
(importing aural, building the chain, loading the ONNX model) is part of the wall time, as for a
user.  Ratios between rows of one run are what to compare; absolute numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aural.engine.batch import MANIFEST, plan_batch, run_batch  # noqa: E402


def _speech(seconds: float, seed: int) -> np.ndarray:
    clips = sorted((ROOT / "tests" / "data").glob("speech_*.flac"))
    x = np.concatenate([sf.read(c, dtype="float64")[0] for c in clips])
    x = resample_poly(x, 160, 147)  # 22.05 -> 24 kHz
    x = resample_poly(x, 2, 1)      # -> 48 kHz
    n = int(seconds * 48000)
    reps = int(np.ceil(n / x.size))
    x = np.tile(x, reps)[:n]
    rng = np.random.default_rng(seed)
    return (0.6 * x + 0.02 * rng.standard_normal(n)).astype(np.float32)


def _make(folder: Path, lengths: list[float]) -> float:
    folder.mkdir(parents=True)
    for i, s in enumerate(lengths):
        sf.write(folder / f"f{i:03d}.wav", _speech(s, i), 48000, subtype="PCM_16")
    return float(sum(lengths))


def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / MANIFEST).read_text().splitlines()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--preset", default="voice")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    rows, result = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio = _make(tmp / "in", [a.seconds] * a.files)
        engines = [("local, 1 worker", "local", 1), ("local, 2 workers", "local", 2)]
        if not a.no_ray:
            engines.append(("ray (local, 2 CPUs)", "ray", 2))
        for label, engine, n in engines:
            out = tmp / f"out-{engine}-{n}"
            plan = plan_batch(tmp / "in", out, preset=a.preset)
            t0 = time.monotonic()
            if engine == "ray":
                from aural.engine.batch_ray import run_batch_ray
                rep = run_batch_ray(plan, workers=n)
            else:
                rep = run_batch(plan, workers=n)
            wall = time.monotonic() - t0
            assert rep.ok and len(rep.processed) == a.files, rep.failed
            recs = _records(out)
            rss = max(r.get("worker_rss_mb", 0.0) for r in recs)
            fps, ahh = a.files / wall, (audio / 3600.0) / (wall / 3600.0)
            rows.append((label, f"{wall:.1f}", f"{fps:.2f}", f"{ahh:.0f}", f"{rss:.0f}"))
            result[label] = {"wall_s": wall, "files_per_s": fps, "audio_hours_per_hour": ahh,
                             "peak_worker_rss_mb": rss}
        # cost per file against its length (one worker; the chain is built once)
        lengths = [2.0, 8.0, 32.0]
        _make(tmp / "len", lengths)
        rep = run_batch(plan_batch(tmp / "len", tmp / "out-len", preset=a.preset), workers=1)
        per = {r["rel"]: r["seconds"] for r in _records(tmp / "out-len")}
        secs = [per[f"f{i:03d}.wav"] for i in range(len(lengths))]
        slope, fixed = np.polyfit(lengths, secs, 1)
        result["cost_per_file"] = {"lengths_s": lengths, "seconds": secs,
                                   "fixed_s": float(fixed), "s_per_audio_s": float(slope)}
    print(f"{a.files} files x {a.seconds:.0f} s, 48 kHz mono, preset {a.preset}")
    w = [max(len(r[i]) for r in rows + [("engine", "wall s", "files/s", "audio-h/h", "worker MB")])
         for i in range(5)]
    for r in [("engine", "wall s", "files/s", "audio-h/h", "worker MB")] + rows:
        print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)))
    c = result["cost_per_file"]
    print("cost per file: " + ", ".join(f"{ln:.0f} s -> {s:.2f} s" for ln, s in
                                        zip(c["lengths_s"], c["seconds"]))
          + f"  (fixed {c['fixed_s']:.3f} s + {c['s_per_audio_s']:.4f} s per audio second)")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
