"""The status thread: one-line status on the terminal, overload events, OSC meters.

It reads the LiveStream's preallocated per-block rings (never the audio thread's locks: there are
none) every ``interval`` seconds, prints

    in  -23.1 dB  out  -20.4 dB  cpu  12.3% (max  31.0%)  xruns 0  dropped 0  latency 10.7 ms

rewritten in place (``\\r``) on a terminal, prints events posted by the callback (a node bypassed
on overload, a callback error) on lines of their own, and sends ``/aural/meters`` to OSC
subscribers.
"""
from __future__ import annotations

import sys
import threading
from typing import TextIO

__all__ = ["StatusThread"]


class StatusThread:
    def __init__(self, live, osc=None, interval: float = 0.1, out: TextIO | None = None,
                 line: bool = True, line_every: float = 0.25, priority: int | None = 1) -> None:
        self.priority = priority
        self.rt = False
        self.live = live
        self.osc = osc
        self.interval = float(interval)
        self.out = out if out is not None else sys.stderr
        self.line = line
        self.line_every = max(1, int(round(line_every / self.interval)))
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.events: list[str] = []
        self.last = None

    def start(self) -> "StatusThread":
        self._thread = threading.Thread(target=self._run, name="aural-status", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        if self.line and self.tty:
            self.out.write("\n")
            self.out.flush()

    def _run(self) -> None:
        from .osc import raise_priority
        self.rt = raise_priority(self.priority)
        tick = 0
        while not self._stop.wait(self.interval):
            self.step(tick)
            tick += 1

    def step(self, tick: int = 0) -> None:
        gate = getattr(self.live, "yield_to_audio", None)
        if gate is not None:
            gate()
        snap = self.live.snapshot()
        self.last = snap
        for ev in self.live.events_since():
            self.events.append(ev)
            self.out.write(("\r\x1b[K" if self.tty else "") + ev + "\n")
        if self.osc is not None:
            self.osc.send_meters(snap)
        if self.line and tick % self.line_every == 0:
            if self.tty:
                self.out.write("\r\x1b[K" + snap.line())
            elif tick % (self.line_every * 20) == 0:  # not a terminal: one line every ~5 s
                self.out.write(snap.line() + "\n")
            self.out.flush()
