"""``aural warmup``: compile (or load from the cache) the Numba kernels of the shipped presets once.

The first run of a preset otherwise pays Numba's compilation (10-30 s on a small machine) in the
middle of a job or a live stream.  Kernels are cached on disk (``@njit(cache=True)``: beside the
sources in ``__pycache__``, or under ``NUMBA_CACHE_DIR``), so after ``aural warmup`` every later
process loads them in milliseconds.  Each preset is run as ``aural enhance`` runs it (a file,
streamed with :func:`aural.engine.io.process_file`) and as ``aural live`` warms it
(:func:`aural.realtime.stream.warm_chain`: every parameter hook, bypass and mix), at each rate
and channel count asked for.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

from .common import CliError

RATES = (44100, 48000)
CHANNELS = (1, 2)


def register(sub) -> None:
    p = sub.add_parser(
        "warmup", help="compile the shipped presets' kernels once (later runs start at once)",
        description="Run every shipped preset (or those named) over a short signal, as "
                    "the enhance and live commands run them, so that Numba compiles their "
                    "kernels now and caches them on disk: later commands load them in "
                    "milliseconds.  Running it again costs little (it loads the cache).")
    p.add_argument("presets", nargs="*", metavar="PRESET",
                   help="preset names or .json files (default: every shipped preset)")
    p.add_argument("--rate", type=int, action="append", metavar="HZ",
                   help="sample rate to warm, repeatable (default 44100 and 48000)")
    p.add_argument("--channels", type=int, action="append", metavar="N",
                   help="channel count to warm, repeatable (default 1 and 2)")
    p.add_argument("--no-live", dest="live", action="store_false",
                   help="skip the live path (parameter changes, bypass, small blocks)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)


def warm_preset(name: str, rates, channels, live: bool = True, folder: str | None = None) -> float:
    """Run preset ``name`` through the file path (and the live path) at every rate and channel
    count; returns the seconds it took."""
    import numpy as np

    from aural.engine.io import process_file, write_audio
    from aural.engine.presets import load_preset

    t0 = time.monotonic()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="aural-warmup-", dir=folder) as tmp:
        src, dst = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out.wav")
        for sr in rates:
            for ch in channels:
                chain = load_preset(name)
                n = sr // 2  # 0.5 s: noise with a tone, then silence
                t = np.arange(n) / sr
                x = 0.05 * rng.standard_normal((ch, n)) + 0.2 * np.sin(2 * np.pi * 220 * t)
                x[:, n // 2:] = 0.0
                write_audio(src, x.astype(np.float32), sr, subtype="FLOAT")
                process_file(chain, src, dst, block=4096, subtype="PCM_24")
                if live:
                    from aural.realtime.stream import warm_chain
                    warm_chain(chain, sr, ch, 128, seconds=0.05)
    return time.monotonic() - t0


def run(args) -> int:
    from aural.engine.presets import list_presets
    from aural.engine.processor import MAX_RATE, MIN_RATE

    names = args.presets or list_presets()
    rates = tuple(args.rate or RATES)
    channels = tuple(args.channels or CHANNELS)
    for sr in rates:
        if not MIN_RATE <= sr <= MAX_RATE:
            raise CliError(f"--rate must be {MIN_RATE}..{MAX_RATE} Hz, got {sr}")
    for ch in channels:
        if not 1 <= ch <= 32:
            raise CliError(f"--channels must be 1..32, got {ch}")
    total = time.monotonic()
    for name in names:
        if not args.quiet:
            print(f"warming {name} ...", end=" ", flush=True)
        s = warm_preset(name, rates, channels, live=args.live)
        if not args.quiet:
            print(f"{s:.1f} s", flush=True)
    if not args.quiet:
        from numba.core.config import CACHE_DIR

        where = CACHE_DIR or "__pycache__ beside the sources"
        print(f"{len(names)} preset(s) ready in {time.monotonic() - total:.1f} s "
              f"(Numba cache: {where})", file=sys.stdout)
    return 0
