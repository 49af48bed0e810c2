"""Cost of the pedalboard bridge: pedalboard built-ins run through aural vs called directly.

The graph: HighpassFilter(80 Hz) -> Compressor(-20 dB, 4:1) -> Gain(+3 dB) -> Limiter(-1 dB),
48 kHz stereo, streamed block by block (reset=False), per 128- and 512-frame block.

Rows:
  pedalboard            the same plugins in a ``pedalboard.Pedalboard``, ``board(block, sr,
                        reset=False)`` per block (the reference)
  node(Pedalboard)      that Pedalboard as one aural node: ``PedalboardNode(board).process(block)``
  Chain[Pedalboard]     the Pedalboard inside an aural ``Chain`` (what a graph costs)
  Chain[4 plugins]      the four plugins as four nodes of an aural ``Chain``
                        (vs its own reference: the four plugins called one after another)

Timing: the variants are interleaved in many short rounds (so machine load hits them alike);
each round is timed in CPU time of this process (``time.process_time``: time the process was
preempted by other work does not count), and each figure is the median over rounds of the time
per block, in microseconds.  Overhead = aural / reference - 1.

    .venv/bin/python benchmarks/bench_bridge.py [--seconds 0.1] [--rounds 40]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pedalboard as pb
from aural.engine import Chain
from aural.plugins import PedalboardNode

SR = 48000


def plugins():
    return [pb.HighpassFilter(80), pb.Compressor(threshold_db=-20, ratio=4), pb.Gain(3),
            pb.Limiter(threshold_db=-1)]


def make_variants(block: int):
    board = pb.Pedalboard(plugins())
    board(np.zeros((2, 8192), np.float32), SR, reset=False)
    singles = plugins()
    for p in singles:
        p(np.zeros((2, 8192), np.float32), SR, reset=False)
    node = PedalboardNode(pb.Pedalboard(plugins()))
    node.prepare(SR, 2, block)
    chain1 = Chain([pb.Pedalboard(plugins())])
    chain1.prepare(SR, 2, block)
    chain4 = Chain(plugins())
    chain4.prepare(SR, 2, block)

    def direct(x):
        return board(x, SR, reset=False)

    def direct4(x):
        for p in singles:
            x = p(x, SR, reset=False)
        return x

    return {"pedalboard": direct, "node(Pedalboard)": node.process,
            "Chain[Pedalboard]": chain1.process, "4 plugins called in turn": direct4,
            "Chain[4 plugins]": chain4.process}


def run(block: int, seconds: float, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    n_blocks = max(50, int(seconds * SR / block))
    blocks = [(0.2 * rng.standard_normal((2, block))).astype(np.float32) for _ in range(16)]
    variants = make_variants(block)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for f in variants.values():  # warm up (numba, plugin buffers)
        for i in range(200):
            f(blocks[i % 16])
    for _ in range(rounds):
        for name, f in variants.items():
            t0 = time.process_time()
            for i in range(n_blocks):
                f(blocks[i & 15])
            times[name].append((time.process_time() - t0) / n_blocks * 1e6)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=0.2, help="audio per round and variant")
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    print(f"pedalboard {pb.__version__}, {SR} Hz stereo, HPF -> Compressor -> Gain -> Limiter; "
          f"median CPU us per block over {args.rounds} interleaved rounds")
    print(f"{'block':>5}  {'variant':<26} {'us/block':>9} {'x realtime':>10} {'overhead':>9}")
    for block in (128, 512):
        r = run(block, args.seconds, args.rounds)
        refs = {"node(Pedalboard)": "pedalboard", "Chain[Pedalboard]": "pedalboard",
                "Chain[4 plugins]": "4 plugins called in turn"}
        for name, us in r.items():
            rt = block / SR * 1e6 / us
            over = f"{(us / r[refs[name]] - 1) * 100:+.1f}%" if name in refs else ""
            print(f"{block:>5}  {name:<26} {us:>9.2f} {rt:>10.0f} {over:>9}")


if __name__ == "__main__":
    main()
