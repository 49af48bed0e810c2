"""Helpers shared by the subcommands: errors, the progress bar, figures and their table."""
from __future__ import annotations

import importlib
import math
import sys
import time
from typing import IO

__all__ = ["CliError", "Progress", "expected_errors", "fmt_db", "fmt_time", "table"]


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


#: where the other "bad input" errors live: module -> class name
_ERROR_HOMES = {"aural.engine.io": "AudioFileError", "aural.engine.presets": "PresetError",
                "aural.engine.params": "ParamError"}


def expected_errors(loaded_only: bool = False) -> tuple[type[BaseException], ...]:
    """The errors that mean "bad input", printed as one line without a traceback.

    Imported on demand: the command line starts without the engine (and so without Numba).
    ``loaded_only``: only those whose module is already imported (enough to classify an
    exception that was raised, whose class is necessarily loaded), importing nothing."""
    out: list[type[BaseException]] = [CliError]
    for mod, cls in _ERROR_HOMES.items():
        if loaded_only and mod not in sys.modules:
            continue
        out.append(getattr(importlib.import_module(mod), cls))
    return tuple(out)


def __getattr__(name: str):  # EXPECTED_ERRORS, as before, without importing the engine early
    if name == "EXPECTED_ERRORS":
        return expected_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fmt_db(x: float | None, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return f"{x:.1f}{(' ' + unit) if unit else ''}"


def fmt_time(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def table(rows: list[tuple[str, ...]], stream: IO[str] | None = None) -> None:
    """Print rows as left-aligned first column and right-aligned others."""
    stream = stream or sys.stdout
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        print("  ".join(cells).rstrip(), file=stream)


class Progress:
    """A one-line progress bar with ETA on stderr, redrawn at most ``rate_hz`` times a second.

    Shown only when ``enabled`` (the caller decides: stderr is a terminal, or --progress)."""

    def __init__(self, total: int, sample_rate: int, enabled: bool, label: str = "",
                 stream: IO[str] | None = None, rate_hz: float = 10.0) -> None:
        self.total = max(1, int(total))
        self.sample_rate = sample_rate
        self.enabled = enabled
        self.label = label
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self._last = -1.0
        self._period = 1.0 / rate_hz
        self._width = 0

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self._period:
            return
        self._last = now
        frac = min(1.0, done / self.total)
        elapsed = now - self.t0
        bar_w = 24
        fill = int(round(frac * bar_w))
        bar = "#" * fill + "." * (bar_w - fill)
        audio_s = done / self.sample_rate
        speed = audio_s / elapsed if elapsed > 0 else 0.0
        if frac >= 1.0:
            tail = f"done in {fmt_time(elapsed)}"
        elif done > 0 and elapsed > 0.2:
            tail = f"ETA {fmt_time(elapsed * (1.0 - frac) / frac)}"
        else:
            tail = "ETA --:--"
        line = (f"{self.label}[{bar}] {frac * 100:5.1f}%  {fmt_time(audio_s)}/"
                f"{fmt_time(self.total / self.sample_rate)}  {speed:5.1f}x realtime  {tail}")
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def finish(self, done: int) -> None:
        if self.enabled:
            self.update(done, force=True)
            self.stream.write("\n")
            self.stream.flush()
