"""``aural serve``: the web page (upload, enhance with live progress, compare, download)."""
from __future__ import annotations

import argparse

HELP = "run the web page: upload a recording, enhance it, compare A/B, download"


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help=HELP, description=HELP + ".  Bound to loopback "
                              "by default; everything the page needs is served locally.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes it, with no login)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--jobs-dir", default=None,
                   help="where uploads and results are kept (default ~/.local/share/aural/jobs)")
    p.add_argument("--max-upload-mb", type=float, default=500.0,
                   help="largest accepted upload in MB (default 500)")
    p.add_argument("--max-duration-h", type=float, default=3.0,
                   help="longest accepted recording in hours (default 3)")
    p.add_argument("--max-job-gb", type=float, default=None,
                   help="disk one job may use, output and temporaries, estimated before it starts "
                        "(default 4, or $AURAL_WEB_MAX_JOB_GB)")
    p.add_argument("--max-total-gb", type=float, default=None,
                   help="disk all kept jobs may use together (default 20, or $AURAL_WEB_MAX_TOTAL_GB)")
    p.add_argument("--max-connections", type=int, default=None,
                   help="connections served at once; more get 503 (default 32, or "
                        "$AURAL_WEB_MAX_CONNECTIONS)")
    p.add_argument("--timeout-s", type=float, default=None,
                   help="idle connections are closed after this (default 30, or $AURAL_WEB_TIMEOUT_S)")
    p.add_argument("--keep-hours", type=float, default=24.0,
                   help="delete finished jobs this many hours after they end (default 24)")
    p.add_argument("--workers", type=int, default=1,
                   help="jobs processed at the same time; more wait in a queue (default 1)")
    p.add_argument("--quiet", action="store_true", help="log warnings only")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        from aural.web import serve
    except ImportError as e:  # flask missing
        print(f"aural serve needs the web extra: pip install 'aural[web]' ({e})")
        return 2
    if not 0 <= args.port <= 65535:
        print(f"aural serve: port {args.port} is out of range")
        return 2
    for name in ("max_upload_mb", "max_duration_h", "keep_hours", "max_job_gb", "max_total_gb",
                 "max_connections", "timeout_s"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            print(f"aural serve: --{name.replace('_', '-')} must be positive")
            return 2
    if args.workers < 1:
        print("aural serve: --workers must be at least 1")
        return 2
    try:
        serve(args.host, args.port, jobs_dir=args.jobs_dir, max_upload_mb=args.max_upload_mb,
              keep_hours=args.keep_hours, workers=args.workers,
              max_duration_h=args.max_duration_h, quiet=args.quiet,
              max_job_gb=args.max_job_gb, max_total_gb=args.max_total_gb,
              max_connections=args.max_connections, timeout_s=args.timeout_s)
    except ValueError as e:  # a bad limit, from an option or AURAL_WEB_*
        print(f"aural serve: {e}")
        return 2
    except OSError as e:
        print(f"aural serve: cannot listen on {args.host}:{args.port}: {e.strerror or e}")
        return 1
    return 0
