"""Process-wide hooks of the ``aural`` command: signals remove temporary files; audio warnings print
as one line.

    from aural.cleanup import install
    install()          # at the start of main(), in the main thread

SIGTERM and SIGHUP (a service stop, ``timeout``, a closed terminal) would otherwise kill the
process where it stands and leave the hidden ``.NAME.aural-<pid>-<hex>.part`` / ``.pass1.w64``
temporaries of :mod:`aural.engine.io` beside the output.  With :func:`install` they delete every
registered temporary at once, then raise :class:`Terminated` (a ``SystemExit``) in the main
thread, so ``finally`` blocks and ``with`` writers unwind as for Ctrl-C, and the process exits
with status 128 + signal number (143 for SIGTERM, 129 for SIGHUP).  A second such signal while
unwinding exits at once.  SIGINT keeps Python's own KeyboardInterrupt, which unwinds the same
way (the command exits 130).  Signals whose handler is not the default (e.g. SIGHUP ignored under
``nohup``) are left alone.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import warnings

__all__ = ["Terminated", "install"]

_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))
_hits = 0
_show_original = warnings.showwarning
_IO = "aural.engine.io"  # not imported here: `aural --help` stays fast (no numpy)


def _remove_temporaries() -> None:
    io = sys.modules.get(_IO)  # not imported yet: no temporary can exist
    if io is not None:
        io.remove_temporaries()


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM/SIGHUP; exits with status 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + int(signum))
        self.signum = int(signum)


def _say(text: str) -> None:
    try:  # straight to the fd: sys.stderr may be mid-write in the interrupted code
        os.write(2, text.encode("utf-8", "replace"))
    except OSError:  # the terminal is gone (SIGHUP)
        pass


def _on_signal(signum: int, frame) -> None:
    global _hits
    _hits += 1
    _remove_temporaries()
    name = signal.Signals(signum).name
    if _hits > 1:
        os._exit(128 + signum)
    _say(f"aural: {name}: stopped, temporary files removed\n")
    raise Terminated(signum)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    io = sys.modules.get(_IO)
    if io is not None and isinstance(category, type) and issubclass(category, io.AudioWarning):
        try:
            print(f"aural: warning: {message}", file=file or sys.stderr)
        except (OSError, ValueError):
            pass
        return
    _show_original(message, category, filename, lineno, file, line)


def install() -> bool:
    """Install the SIGTERM/SIGHUP handlers and the one-line display of AudioWarning.

    Idempotent.  Returns False (and changes nothing about signals) outside the main thread,
    where Python cannot set signal handlers."""
    global _hits
    warnings.showwarning = _show_warning
    if threading.current_thread() is not threading.main_thread():
        return False
    _hits = 0
    for sig in _SIGNALS:
        if signal.getsignal(sig) in (signal.SIG_DFL, _on_signal):
            signal.signal(sig, _on_signal)
    return True
