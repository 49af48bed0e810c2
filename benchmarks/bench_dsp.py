"""Per-block cost of every DSP processor and preset chain, next to scipy and pedalboard.

    python benchmarks/bench_dsp.py [--rate 48000] [--channels 2] [--block 128] [--seconds 10]

Runs on one thread (NUMBA_NUM_THREADS=1), after a warm-up, on a noisy speech-like signal;
times are the CPU time of the benchmark thread (best of 3 passes), so other load on the machine
shifts them little.
Prints a Markdown table: µs per block and real-time factor (time spent / audio duration), plus
the ratios the foundation issue targets (in one run, since machines are noisy).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def make_signal(sr: int, channels: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    # speech-like: modulated harmonic bursts + noise + a little hum
    env = (np.sin(2 * np.pi * 3.0 * t) > 0).astype(float) * 0.3
    voice = env * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 900 * t))
    x = voice + 0.03 * rng.standard_normal(n) + 0.02 * np.sin(2 * np.pi * 50 * t)
    return np.tile(x.astype(np.float32), (channels, 1)) * np.linspace(0.9, 1.0, channels)[:, None].astype(np.float32)


def time_blocks(fn, x: np.ndarray, block: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` mean µs per block of fn(block_array) over the whole signal."""
    n = x.shape[1] // block
    blocks = [np.ascontiguousarray(x[:, i * block:(i + 1) * block]) for i in range(n)]
    for b in blocks[: min(50, n)]:  # warm-up
        fn(b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()  # CPU time of this thread: robust to other load on the machine
        for b in blocks:
            fn(b)
        best = min(best, (time.thread_time() - t0) / n)
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args(argv)

    import scipy.signal as ss

    from aural.engine.processor import REGISTRY
    import aural.engine.processors  # noqa: F401  (registers every processor)

    sr, ch, blk = a.rate, a.channels, a.block
    x = make_signal(sr, ch, a.seconds)
    period_us = blk / sr * 1e6
    rows: list[tuple[str, float]] = []

    def bench(label: str, fn) -> float:
        us = time_blocks(fn, x, blk)
        rows.append((label, us))
        print(f"  {label:<44s} {us:9.1f} µs", file=sys.stderr)
        return us

    print(f"# {sr} Hz, {ch} ch, {blk}-frame blocks, one thread", file=sys.stderr)
    skip = {"Chain", "Mix"}
    results: dict[str, float] = {}
    for name, cls in sorted(REGISTRY.items()):
        if name in skip or cls.__module__.startswith(("tests", "__main__")):
            continue
        if not cls.__module__.startswith("aural.engine"):
            continue
        try:
            p = cls()
            p.prepare(sr, ch, blk)
        except Exception as e:  # a processor that needs arguments
            print(f"  (skipped {name}: {e})", file=sys.stderr)
            continue
        results[name] = bench(f"aural {name}", p.process)

    # the Butterworth comparison at the same settings: order-4 highpass at 80 Hz
    bw = None
    if "Butterworth" in REGISTRY:
        bw = REGISTRY["Butterworth"](mode="highpass", order=4, cutoff_hz=80.0)
        bw.prepare(sr, ch, blk)
        results["bw"] = bench("aural Butterworth HP4 80 Hz", bw.process)
        sos = np.asarray(bw.sos, dtype=np.float64)
    else:
        sos = ss.butter(4, 80.0, "highpass", fs=sr, output="sos")
    zi = np.zeros((sos.shape[0], ch, 2))

    def scipy_sos(b):
        nonlocal zi
        y, zi = ss.sosfilt(sos, b, axis=-1, zi=zi)
        return y

    results["sosfilt"] = bench("scipy.signal.sosfilt (zi) HP4 80 Hz", scipy_sos)

    import pedalboard as pb

    def pb_fn(plugin):
        return lambda b: plugin.process(b, sr, buffer_size=blk, reset=False)

    # pedalboard's HighpassFilter is a 2nd-order (12 dB/oct) filter: compare with our order 2 too
    results["pb_hp"] = bench("pedalboard HighpassFilter 80 Hz (2nd order)", pb_fn(pb.HighpassFilter(80.0)))
    if "Butterworth" in REGISTRY:
        bw2 = REGISTRY["Butterworth"](mode="highpass", order=2, cutoff_hz=80.0)
        bw2.prepare(sr, ch, blk)
        results["bw2"] = bench("aural Butterworth HP2 80 Hz", bw2.process)
    results["pb_comp"] = bench("pedalboard Compressor -20 dB 4:1", pb_fn(pb.Compressor(-20.0, 4.0, 5.0, 100.0)))
    results["pb_lim"] = bench("pedalboard Limiter -1 dB", pb_fn(pb.Limiter(-1.0, 100.0)))
    if "Compressor" in REGISTRY:
        c = REGISTRY["Compressor"](threshold_db=-20.0, ratio=4.0, attack_ms=5.0, release_ms=100.0)
        c.prepare(sr, ch, blk)
        results["comp"] = bench("aural Compressor -20 dB 4:1", c.process)

    try:
        from aural.engine.presets import list_presets, load_preset
        for name in list_presets():
            chain = load_preset(name)
            chain.prepare(sr, ch, blk)
            results[f"preset:{name}"] = bench(f"preset {name} (whole chain)", chain.process)
    except ImportError:
        pass

    print(f"\n{sr} Hz, {ch} channels, {blk}-frame blocks ({period_us:.0f} µs of audio), one thread\n")
    print("| node | µs / block | real-time factor |")
    print("|---|---:|---:|")
    for label, us in rows:
        print(f"| {label} | {us:.1f} | {us / period_us:.4f} |")
    print()
    if "bw" in results:
        print(f"- Numba Butterworth HP4 vs scipy sosfilt: {results['sosfilt'] / results['bw']:.1f}x faster (target >= 5x)")
    if "bw2" in results:
        print(f"- Numba Butterworth HP2 vs pedalboard HighpassFilter: {results['bw2'] / results['pb_hp']:.2f}x "
              f"pedalboard's time (target <= 2x)")
    if "preset:voice_dsp" in results:
        print(f"- voice_dsp preset (the DSP voice chain) real-time factor: "
              f"{results['preset:voice_dsp'] / period_us:.4f} (target <= 0.02)")
    if "preset:voice" in results:
        print(f"- voice preset (neural) real-time factor: {results['preset:voice'] / period_us:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
