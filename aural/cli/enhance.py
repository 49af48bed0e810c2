"""``aural enhance IN [-o OUT]``: run a preset over a file, streaming, and print before/after figures."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from .common import CliError, Progress, fmt_db, table

SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
#: aural.engine.processor.MAX_BLOCK, for the help text without importing the engine (a test
#: checks they agree)
MAX_BLOCK = 65536
#: a warm-up pass longer than this was compiling Numba kernels (seconds)
COMPILE_NOTE_S = 1.0
#: said on stderr while that happens
COMPILING = "aural enhance: compiling kernels (first run only; 'aural warmup' does it ahead)..."


def register(sub) -> None:
    p = sub.add_parser(
        "enhance", help="enhance an audio file with a preset",
        description="Run a preset over an audio file (WAV, FLAC, OGG, MP3, ...) block by block "
                    "and write a WAV or FLAC file of the same length, rate and channels, "
                    "aligned with the input.  The input is never overwritten.")
    p.add_argument("input", help="audio file to enhance")
    p.add_argument("-o", "--output", help="output .wav or .flac (default: INPUT_STEM.enhanced.flac "
                                          "beside the input for FLAC input, .wav otherwise)")
    p.add_argument("-p", "--preset", default="voice",
                   help="preset name: shipped, or saved in the user store (see 'aural presets'), "
                        "a .json file, or 'auto' (analyse the file and build the chain that fits "
                        "it; on clean input it changes nothing) (default: voice)")
    p.add_argument("-s", "--set", dest="settings", action="append", default=[],
                   metavar="NODE.PARAM=VALUE",
                   help="override a parameter, e.g. --set presence.gain_db=3 (repeatable; "
                        "'aural presets NAME' lists a preset's nodes and parameters)")
    p.add_argument("--loudness", type=float, metavar="LUFS",
                   help="normalise the output to this integrated loudness (e.g. -16 for podcasts, "
                        "-14 for streaming); gain goes before the preset's final limiter")
    p.add_argument("--block", type=int, default=4096, metavar="N",
                   help=f"processing block size in frames, 1..{MAX_BLOCK} (default 4096; the result "
                        "does not depend on it)")
    p.add_argument("--subtype", default="PCM_24", type=str.upper, choices=SUBTYPES,
                   help="sample format of the output (default PCM_24)")
    p.add_argument("--no-learn", dest="learn", action="store_false",
                   help="process the file exactly as a live stream would: nodes do not first "
                        "learn its opening (by default DeHum cancels the hum from the first "
                        "sample and the neural enhancer's adaptive limit reads the SNR of the "
                        "first 2 s; docs/restoration.md, docs/models.md)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show the progress bar even when stderr is not a terminal")
    g.add_argument("--no-progress", dest="progress", action="store_false",
                   help="never show the progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)


def default_output(inp: str) -> str:
    from aural.engine.io import WRITE_FORMATS

    path = Path(inp)
    ext = path.suffix.lower() if path.suffix.lower() in WRITE_FORMATS else ".wav"
    return str(path.with_name(f"{path.stem}.enhanced{ext}"))


def _split_limiter(chain):
    """(chain without a final active Limiter, Chain of that Limiter) for loudness normalising."""
    from aural.engine.graph import Chain

    nodes = list(chain.children)
    if nodes and type(nodes[-1]).__name__ == "Limiter" and not nodes[-1].bypass:
        return Chain(nodes[:-1], name=chain.name), Chain([nodes[-1]], name="post")
    return chain, Chain([], name="post")


def warm_up(chain, sample_rate: int, channels: int, block: int, quiet: bool) -> float:
    """Run ``chain`` over 0.25 s of noise (then ``process_file`` prepares it afresh), so Numba
    compiles or loads its kernels before the clock of the realtime factor starts.  Says
    "compiling kernels" on stderr when that takes over ``COMPILE_NOTE_S``.  Returns seconds."""
    import numpy as np

    t0 = time.monotonic()
    note = threading.Timer(COMPILE_NOTE_S, lambda: print(COMPILING, file=sys.stderr, flush=True))
    note.daemon = True
    if not quiet:
        note.start()
    try:
        chain.prepare(sample_rate, channels, block)
        x = (0.05 * np.random.default_rng(0).standard_normal((channels, block))).astype(np.float32)
        for _ in range(max(2, -(-sample_rate // (4 * block)))):
            chain.process(x)
        chain.reset()
    finally:
        note.cancel()
    return time.monotonic() - t0


def run(args) -> int:
    from aural.engine.graph import Chain
    from aural.engine.io import (AudioFileError, audio_info, discard_temporary, output_format,
                                 process_file, temporary_path)
    from aural.engine.metrics import LevelMeter
    from aural.engine.presets import apply_settings, load_preset
    from aural.engine.processor import MAX_RATE, MIN_RATE

    inp = args.input
    info = audio_info(inp)  # missing, empty, corrupt, unsupported: one-line AudioFileError
    if info.frames == 0:
        raise AudioFileError(inp, "contains no audio frames")
    if not MIN_RATE <= info.sample_rate <= MAX_RATE:
        raise CliError(f"{inp}: sample rate {info.sample_rate} Hz is outside "
                       f"{MIN_RATE}-{MAX_RATE} Hz")
    out = args.output or default_output(inp)
    output_format(out)
    if os.path.exists(out) and os.path.samefile(out, inp):
        raise CliError(f"{out}: refusing to overwrite the input file")
    if not 1 <= args.block <= MAX_BLOCK:
        raise CliError(f"--block must be 1..{MAX_BLOCK}, got {args.block}")
    if args.loudness is not None and not -70.0 <= args.loudness <= 0.0:
        raise CliError(f"--loudness must be -70..0 LUFS, got {args.loudness}")
    analysis = None
    if args.preset == "auto":  # analyse the file, then build the chain that fits it
        from aural.engine.analysis import analyse_file
        from aural.engine.auto import apply_auto_settings, build_chain, describe_for_cli
        analysis = analyse_file(inp)
        chain = build_chain(analysis)
        for item in apply_auto_settings(chain, args.settings):
            if not args.quiet:
                print(f"aural enhance: note: {item}: no such node in the auto chain for this file",
                      file=sys.stderr)
    else:
        chain = load_preset(args.preset)
        for addr, given, applied in apply_settings(chain, args.settings):
            try:
                clipped = float(given) != float(applied)
            except (TypeError, ValueError):
                clipped = False
            if clipped and not args.quiet:
                print(f"aural enhance: note: {addr}={given} is out of range, using {applied}",
                      file=sys.stderr)
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    show = show and not args.quiet
    sr, ch = info.sample_rate, info.channels
    before, after = LevelMeter(sr, ch, loudness=True), LevelMeter(sr, ch, loudness=True)
    warm_s = warm_up(chain, sr, ch, args.block, args.quiet)
    t0 = time.monotonic()  # the realtime factor excludes the warm-up (compilation)

    if args.loudness is None:
        bar = Progress(info.frames, sr, show, "enhance ")

        def watch(x, y, done, total):
            before.add(x)
            after.add(y)
            bar.update(done)

        w = process_file(chain, inp, out, block=args.block, subtype=args.subtype, on_block=watch,
                         learn=args.learn)
        bar.finish(info.frames)
        latency = chain.latency_samples
        note = None
    else:
        # pass 1: everything before the final limiter, into a float temp file beside the output;
        # pass 2: gain to the target loudness, then the limiter, into the output.
        main, post = _split_limiter(chain)
        # pid-tagged and registered: removed on a signal, swept after a SIGKILL
        tmp = temporary_path(out, ".pass1.w64")
        try:
            mid = LevelMeter(sr, ch, loudness=True)
            bar = Progress(info.frames, sr, show, "enhance ")

            def watch1(x, y, done, total):
                before.add(x)
                mid.add(y)
                bar.update(done)

            process_file(main, inp, tmp, block=args.block, subtype="FLOAT", on_block=watch1,
                         learn=args.learn)
            bar.finish(info.frames)
            measured = mid.lufs
            silent = measured is None or measured == float("-inf")
            gain = 0.0 if silent else float(args.loudness - measured)
            from aural.engine.processors import Gain  # registered processor
            for attempt in range(2):
                after = LevelMeter(sr, ch, loudness=True)
                bar = Progress(info.frames, sr, show, "loudness ")

                def watch2(x, y, done, total):
                    after.add(y)
                    bar.update(done)

                stage2 = Chain([Gain(name="loudness", gain_db=gain)] + list(post.children),
                               name="post")
                w = process_file(stage2, tmp, out, block=args.block, subtype=args.subtype,
                                 on_block=watch2)
                bar.finish(info.frames)
                miss = args.loudness - (after.lufs or float("-inf"))
                # the limiter took some loudness away: push once more (gain before the limiter)
                if silent or len(post) == 0 or abs(miss) < 0.2 or attempt == 1:
                    break
                gain += miss
            if silent:
                note = "output is silent: no loudness gain applied"
            else:
                note = f"loudness gain {gain:+.1f} dB"
                if len(post):
                    note += " before the limiter"
                else:
                    note += " (no final Limiter in the preset: peaks are not limited)"
            latency = main.latency_samples + stage2.latency_samples
        finally:
            discard_temporary(tmp)
    elapsed = time.monotonic() - t0
    if args.quiet:
        return 0
    out_info = audio_info(out)
    dur = info.frames / sr
    print(f"input   {inp}  ({info.format}/{info.subtype}, {sr} Hz, {ch} ch, {dur:.2f} s)")
    print(f"output  {out}  ({out_info.format}/{out_info.subtype}, {out_info.sample_rate} Hz, "
          f"{out_info.channels} ch, {out_info.frames / sr:.2f} s)")
    print(f"preset  {args.preset}: {' > '.join(n.name for n in chain.children) or '(nothing)'}")
    if analysis is not None:
        for line in describe_for_cli(analysis, chain):
            print(f"auto    {line}")
    print(f"latency {latency} samples ({1000.0 * latency / sr:.1f} ms), compensated in the file")
    rows = [("", "before", "after"),
            ("peak dBFS", fmt_db(before.peak_dbfs), fmt_db(after.peak_dbfs)),
            ("RMS dBFS", fmt_db(before.rms_dbfs), fmt_db(after.rms_dbfs)),
            ("loudness LUFS", fmt_db(before.lufs), fmt_db(after.lufs)),
            ("est. SNR dB", fmt_db(before.snr_db), fmt_db(after.snr_db))]
    table(rows)
    if note:
        print(note)
    if w.clipped:
        print(f"warning: {w.clipped} samples above full scale were clipped "
              f"(use --subtype FLOAT, or a Limiter at the end of the preset)")
    speed = dur / elapsed if elapsed > 0 else float("inf")
    print(f"processed {dur:.1f} s of audio in {elapsed:.2f} s ({_fmt_speed(speed)} realtime)")
    if warm_s > COMPILE_NOTE_S:
        print(f"compiled kernels in {warm_s:.1f} s first (not counted above; once per install "
              "and preset: 'aural warmup' does it ahead)")
    return 0


def _fmt_speed(speed: float) -> str:
    """A realtime factor with two significant figures below 10 (0.62x, 4.3x), whole above."""
    if speed >= 10 or speed == float("inf"):
        return f"{speed:.0f}x"
    return f"{speed:.2g}x" if speed >= 1 else f"{speed:.2f}x"
