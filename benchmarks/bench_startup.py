"""Start-up time of the ``aural`` command and the cost of its first run (Numba compilation).

    python benchmarks/bench_startup.py [--repeats 3] [--preset voice]

Measures, in one run, the wall time of fresh subprocesses:

* ``aural --help``, ``aural enhance --help`` and ``aural info EXAMPLE`` (best of ``--repeats``;
  for info both the time to its first line, the file's header, and the time to its last);
* ``python -c "import aural"`` (best of ``--repeats``);
* ``aural enhance EXAMPLE`` with a cold Numba cache (``NUMBA_CACHE_DIR`` set to a fresh empty
  folder), then again with that cache warm, then ``aural warmup`` + ``aural enhance`` on another
  fresh cache folder (when the command exists).

EXAMPLE is the bundled ``aural/examples/speech_noisy.flac``.  Prints a Markdown table (seconds)
and the ratios cold / warm enhance and help / import; machines are noisy, so compare ratios
within one run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "aural", "examples", "speech_noisy.flac")
AURAL = [sys.executable, "-m", "aural.cli"]


def wall(cmd: list[str], env: dict | None = None, check: bool = True) -> tuple[float, str]:
    """(wall seconds, stdout + stderr) of one subprocess run."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return dt, p.stdout + p.stderr


def best(cmd: list[str], repeats: int, env: dict | None = None) -> float:
    return min(wall(cmd, env)[0] for _ in range(repeats))


def first_line(cmd: list[str], env: dict | None = None) -> float:
    """Wall seconds until the command prints its first line (what a person waits for)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env=env, cwd=ROOT)
    p.stdout.readline()
    dt = time.perf_counter() - t0
    p.stdout.read()
    p.wait()
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per light command (best taken)")
    ap.add_argument("--preset", default="voice", help="preset of the enhance runs (default voice)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="aural-bench-startup-")
    try:
        env = dict(os.environ)
        # the light commands use the user's (warm) cache, as a user's machine would
        rows: list[tuple[str, float]] = []
        rows.append(("python -c 'import aural'", best([sys.executable, "-c", "import aural"],
                                                      args.repeats, env)))
        rows.append(("aural --help", best(AURAL + ["--help"], args.repeats, env)))
        rows.append(("aural enhance --help", best(AURAL + ["enhance", "--help"], args.repeats, env)))
        rows.append(("aural info EXAMPLE, first line", min(
            first_line(AURAL + ["info", EXAMPLE], env) for _ in range(args.repeats))))
        rows.append(("aural info EXAMPLE, complete (levels + auto analysis of 10.7 s)",
                     best(AURAL + ["info", EXAMPLE], args.repeats, env)))

        out = os.path.join(tmp, "out.flac")
        enh = AURAL + ["enhance", EXAMPLE, "-o", out, "-p", args.preset, "--no-progress"]
        cold_env = dict(env, NUMBA_CACHE_DIR=os.path.join(tmp, "cache-a"))
        cold, cold_out = wall(enh, cold_env)
        warm, warm_out = wall(enh, cold_env)
        rows.append((f"aural enhance EXAMPLE -p {args.preset}, cold Numba cache", cold))
        rows.append((f"aural enhance EXAMPLE -p {args.preset}, warm Numba cache", warm))

        w_env = dict(env, NUMBA_CACHE_DIR=os.path.join(tmp, "cache-b"))
        probe = subprocess.run(AURAL + ["warmup", "--help"], capture_output=True, cwd=ROOT)
        warmup = after_warmup = None
        if probe.returncode == 0:
            warmup, _ = wall(AURAL + ["warmup"], w_env)
            after_warmup, _ = wall(enh, w_env)
            rows.append(("aural warmup (fresh cache)", warmup))
            rows.append((f"aural enhance EXAMPLE -p {args.preset}, after warmup", after_warmup))

        w = max(len(r[0]) for r in rows)
        print(f"| {'command':<{w}} | seconds |")
        print(f"|{'-' * (w + 2)}|--------:|")
        for name, s in rows:
            print(f"| {name:<{w}} | {s:7.2f} |")
        print()
        print(f"cold / warm enhance: {cold / warm:.1f}x")
        imp = rows[0][1]
        print(f"aural --help / import aural: {rows[1][1] / imp:.2f}x")
        for label, text in (("cold", cold_out), ("warm", warm_out)):
            for ln in text.splitlines():
                if "x realtime" in ln or "compiled kernels" in ln:
                    print(f"{label} run says: {ln.strip()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
