"""``aural repair IN -o OUT [--gaps auto|FILE.csv]``: fill dropouts and damaged spans."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .common import CliError, table

METHODS = ("auto", "ar", "extrap", "model")


def register(sub) -> None:
    p = sub.add_parser(
        "repair", help="fill dropouts (runs of digital zeros) or listed damaged spans",
        description="Find dropouts (runs of exact zeros of --min-ms..--max-ms whose surroundings "
                    "are not silent; digital silence between tracks is left alone) or read the "
                    "damaged spans from a CSV (start_s,end_s in seconds, or a header "
                    "start_sample,end_sample), and fill them: AR (Janssen) interpolation for "
                    "gaps up to --short-ms, the spectrogram inpainting model for longer ones. "
                    "Samples outside the gaps are written unchanged.  The input is never "
                    "overwritten; the output is written atomically.",
        epilog="examples:\n"
               "  aural repair damaged.wav -o fixed.wav\n"
               "  aural repair tape.flac -o fixed.flac --gaps spans.csv --report gaps.json",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("input", help="audio file to repair")
    p.add_argument("-o", "--output", help="output .wav or .flac (default: INPUT_STEM.repaired.wav)")
    p.add_argument("--gaps", default="auto", metavar="auto|FILE.csv",
                   help="'auto' (detect dropouts, default) or a CSV of spans")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="auto (AR short, model long; default), ar, extrap or model")
    p.add_argument("--min-ms", type=float, default=2.0, help="shortest dropout (default 2 ms)")
    p.add_argument("--max-ms", type=float, default=250.0, help="longest dropout (default 250 ms)")
    p.add_argument("--short-ms", type=float, default=15.0,
                   help="gaps up to this long use AR interpolation with --method auto (default 15)")
    p.add_argument("--constant", action="store_true",
                   help="also detect runs of one repeated non-zero value (held samples)")
    p.add_argument("--silence-db", type=float, default=-60.0,
                   help="both sides of a dropout must be louder than this (dBFS, default -60)")
    p.add_argument("--subtype", default="PCM_24", type=str.upper, choices=("PCM_16", "PCM_24", "FLOAT"),
                   help="sample format of the output (default PCM_24)")
    p.add_argument("--report", metavar="FILE.json", help="write the list of repaired spans as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)


def run(args) -> int:
    from aural.engine.io import output_format, read_audio, write_audio
    from aural.engine.processor import MAX_RATE, MIN_RATE
    from aural.engine.processors.repair import repair

    inp = args.input
    out = args.output or str(Path(inp).with_name(f"{Path(inp).stem}.repaired.wav"))
    output_format(out)
    if os.path.exists(out) and os.path.samefile(out, inp):
        raise CliError(f"{out}: refusing to overwrite the input file")
    if args.gaps != "auto" and not os.path.isfile(args.gaps):
        raise CliError(f"--gaps: {args.gaps}: no such file (give 'auto' or a CSV of spans)")
    if not 0.0 < args.min_ms <= args.max_ms <= 250.0:
        raise CliError("--min-ms and --max-ms must satisfy 0 < min <= max <= 250")
    audio, sr = read_audio(inp)
    if not MIN_RATE <= sr <= MAX_RATE:
        raise CliError(f"{inp}: sample rate {sr} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    kw = {}
    if args.gaps == "auto":
        kw = {"min_ms": args.min_ms, "max_ms": args.max_ms, "silence_db": args.silence_db,
              "constant": args.constant}
    try:
        y, report = repair(audio, sr, gaps=args.gaps, method=args.method,
                           short_ms=args.short_ms, **kw)
    except ValueError as e:
        raise CliError(str(e)) from None
    write_audio(out, y, sr, subtype=args.subtype, protect=[inp])
    if args.report:
        tmp = args.report + ".part"
        with open(tmp, "w") as f:
            json.dump({"input": inp, "output": out, "sample_rate": sr, "gaps": report}, f, indent=1)
        os.replace(tmp, args.report)
    if not args.quiet:
        if report:
            rows = [("channel", "start s", "end s", "ms", "method")]
            rows += [(str(r["channel"]), f"{r['start_s']:.4f}", f"{r['end_s']:.4f}",
                      f"{r['ms']:.1f}", r["method"]) for r in report]
            table(rows, sys.stdout)
        print(f"aural repair: {len(report)} gap(s) repaired -> {out}")
    return 0
