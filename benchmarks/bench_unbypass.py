"""Time of the one 128-frame block (48 kHz, stereo) in which a bypassed Chain holding a
PedalboardNode(pedalboard.Reverb()) is switched back on (the wet path restarts: rewind).

Run: .venv/bin/python benchmarks/bench_unbypass.py   (prints median/max in ms, and the
median of an ordinary block for comparison; the period of a 128-frame block is 2.67 ms)."""
from __future__ import annotations

import time

import numpy as np
import pedalboard

from aural.engine import Chain
from aural.plugins import PedalboardNode


def main(trials: int = 30, block: int = 128, sr: int = 48000) -> None:
    ch = Chain([PedalboardNode(pedalboard.Reverb())], name="fx")
    ch.prepare(sr, 2, block)
    x = (0.1 * np.random.default_rng(0).standard_normal((2, block))).astype(np.float32)
    normal, unbypass = [], []
    for _ in range(trials):
        for _ in range(20):
            t = time.perf_counter()
            ch.process(x)
            normal.append(time.perf_counter() - t)
        ch.bypass = True
        for _ in range(200):  # the 10 ms glide out, then fully dry
            ch.process(x)
        ch.bypass = False
        t = time.perf_counter()
        ch.process(x)
        unbypass.append(time.perf_counter() - t)
    ms = 1e3
    print(f"ordinary block: median {np.median(normal) * ms:.3f} ms")
    print(f"un-bypass block: median {np.median(unbypass) * ms:.3f} ms, max {np.max(unbypass) * ms:.3f} ms "
          f"(period {block / sr * ms:.2f} ms)")


if __name__ == "__main__":
    main()
