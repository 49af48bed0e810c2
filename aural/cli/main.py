"""Entry point of the ``aural`` command: finds the subcommand modules of :mod:`aural.cli`.

A subcommand module defines ``register(subparsers)``, which adds its parser with
``subparsers.add_parser(...)`` and sets ``func`` (``parser.set_defaults(func=run)``); ``run(args)``
returns the exit status (0 or None for success).  Raise :class:`aural.cli.common.CliError`, or
let :class:`~aural.engine.io.AudioFileError`, :class:`~aural.engine.presets.PresetError` or
:class:`~aural.engine.params.ParamError` through, for a one-line error and exit status 1.

A module that fails to import (a missing optional dependency) still shows up: its command
then says why it is unavailable instead of breaking every other command.

Start-up stays light: a subcommand module imports only the standard library at module level
(and what its ``register`` needs); the engine, Numba, SciPy, onnxruntime and pedalboard are
imported inside ``run``.  ``tests/test_startup.py`` checks this for ``aural --help``.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import aural
import aural.cli as _pkg

from .common import CliError, expected_errors

__all__ = ["build_parser", "main"]

_NOT_COMMANDS = {"main", "common", "__main__"}


def _unavailable(name: str, err: BaseException):
    reason = " ".join(str(err).split()) or type(err).__name__

    def register(sub) -> None:
        p = sub.add_parser(name, help=f"(unavailable: {reason})", add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)

        def run(args) -> int:
            raise CliError(f"this command is unavailable here: {reason}")
        p.set_defaults(func=run)
    return register


def _commands():
    """(name, register) for every subcommand module, sorted by name."""
    out = []
    for m in sorted(pkgutil.iter_modules(_pkg.__path__), key=lambda m: m.name):
        if m.name.startswith("_") or m.name in _NOT_COMMANDS:
            continue
        try:
            mod = importlib.import_module(f"{_pkg.__name__}.{m.name}")
        except Exception as e:  # an optional dependency missing: say so when it is used
            out.append((m.name, _unavailable(m.name, e)))
            continue
        reg = getattr(mod, "register", None)
        if callable(reg):
            out.append((m.name, reg))
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aural",
        description="Real-time audio enhancement and restoration: denoise, de-hum, de-click, "
                    "de-clip, EQ and dynamics, on files or live.",
        epilog="Run 'aural COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"aural {aural.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _, reg in _commands():
        reg(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from aural.cleanup import install  # SIGTERM/SIGHUP remove temporaries; one-line warnings
    install()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        print(f"aural {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `aural presets | head`
        return 0
    except Exception as e:
        if not isinstance(e, expected_errors(loaded_only=True)):
            raise
        msg = " ".join(str(e).split())
        print(f"aural {args.command}: error: {msg}", file=sys.stderr)
        return 1
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
