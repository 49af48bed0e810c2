"""``aural batch IN_DIR OUT_DIR``: restore a whole folder tree, resumable, on local workers or Ray."""
from __future__ import annotations

import sys

from .common import CliError


def register(sub) -> None:
    p = sub.add_parser(
        "batch", help="restore every audio file of a folder tree (resumable)",
        description="Mirror IN_DIR into OUT_DIR, running a preset over every audio file. "
                    "Formats are kept (WAV/FLAC/W64; others become FLAC) unless --format. "
                    "Outputs are written atomically; OUT_DIR/.aural-batch.jsonl records each "
                    "finished file, so a run that was stopped resumes where it stopped. "
                    "Bad files are reported at the end; the exit status is 1 if any failed.",
        epilog="examples:\n"
               "  aural batch tapes/ restored/ --preset vinyl --workers 2\n"
               "  aural batch tapes/ restored/ --engine ray --address auto",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of audio files (walked recursively)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created; mirrors IN_DIR)")
    p.add_argument("-p", "--preset", default="voice",
                   help="preset name, .json file, or 'auto' (each file analysed, its own chain "
                        "built) (default: voice)")
    p.add_argument("-s", "--set", dest="settings", action="append", default=[],
                   metavar="NODE.PARAM=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--format", choices=("wav", "flac", "w64"),
                   help="write every output in this format (default: keep the input's)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes (default: the number of cores)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local process pool (default) or Ray (pip install 'aural[ray]')")
    p.add_argument("--address", metavar="ADDR",
                   help="with --engine ray: an existing cluster ('auto', 'ray://head:10001'); "
                        "default: start a local one")
    p.add_argument("--block", type=int, default=4096, metavar="N",
                   help="processing block in frames (default 4096; the result does not depend on it)")
    p.add_argument("--no-learn", dest="learn", action="store_false",
                   help="process every file as a live stream would (by default nodes first learn "
                        "each file's opening, as aural enhance does)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures")
    p.set_defaults(func=run)


def run(args) -> int:
    from aural.engine.batch import plan_batch, run_batch

    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be >= 1, got {args.workers}")
    if args.address and args.engine != "ray":
        raise CliError("--address needs --engine ray")
    try:
        plan = plan_batch(args.in_dir, args.out_dir, preset=args.preset, settings=args.settings,
                          block=args.block, fmt=args.format, learn=args.learn)
    except ValueError as e:
        raise CliError(str(e)) from None
    # the preset and settings must be valid before any worker starts
    if args.preset != "auto":  # auto builds a chain per file
        from aural.engine.presets import apply_settings, load_preset
        apply_settings(load_preset(args.preset), list(args.settings))
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    say(f"aural batch: {len(plan.todo)} to do, {len(plan.done)} already done "
        f"({len(plan.ignored)} non-audio files ignored), engine {args.engine}")
    if args.engine == "ray":
        from aural.engine.batch_ray import run_batch_ray
        try:
            report = run_batch_ray(plan, workers=args.workers, address=args.address, progress=say)
        except RuntimeError as e:
            raise CliError(str(e)) from None
    else:
        report = run_batch(plan, workers=args.workers, progress=say)
    hours = report.audio_seconds / 3600.0
    rate = hours / (report.wall_seconds / 3600.0) if report.wall_seconds > 0 else 0.0
    if not args.quiet:
        print(f"processed {len(report.processed)}, skipped {len(report.skipped)} (done before), "
              f"failed {len(report.failed)}; {report.audio_seconds:.1f} s of audio in "
              f"{report.wall_seconds:.1f} s ({rate:.1f} audio-hours/hour)")
    for rel, reason in report.failed:
        print(f"failed: {rel}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0
