"""One model hop of pipelining: the model runs on a worker thread while the audio thread goes on.

:class:`PipelinedStreamer` wraps an :class:`~aural.models.runtime.OnnxStreamer` with the same
``audio_in`` / ``run()`` / ``reset()`` / ``hop`` / ``latency`` surface.  ``run()`` hands the hop
in ``audio_in`` to the model and returns the model's output for the *previous* hop, so its
latency is the model's plus one hop, and the model has a whole hop of real time to finish
instead of the part of one host block that is left after the rest of the chain::

    p = PipelinedStreamer(OnnxStreamer("dsunet-voice"), threaded=True)
    p.audio_in[...] = x     # (channels, hop) float32
    y = p.run()             # output of the hop before (zeros first), valid until the next run
    p.close()               # or let it be collected: the worker stops either way

With ``threaded=False`` the same pipeline runs inline: identical samples, no thread (offline
work, tests, platforms without non-blocking pipes, where it falls back to this by itself).  Threaded or not, the output is the same sample
for sample, so a live stream still equals offline processing.

Real-time rules for ``run()`` (called from the audio thread):

- no allocation, no lock: the hand-over is two preallocated copies, a counter and one byte written
  to a non-blocking pipe that wakes the worker (the worker blocks on its read end);
- the worker raises itself to SCHED_FIFO priority 1 where allowed, so that an ordinary process
  cannot preempt it while it holds the GIL that the audio callback needs (priority inversion);
- if the previous hop is not finished when the next one is due (the machine is overloaded),
  ``run()`` yields the GIL (``time.sleep(0)``) until it is, and counts a late hop (``late``):
  never wrong samples, at worst the cost of running the model inline.
"""
from __future__ import annotations

import os
import threading
import time
import weakref

import numpy as np

__all__ = ["PipelinedStreamer"]


def _worker(inner, rfd: int, state: dict, priority: int | None) -> None:
    """The worker loop: one byte on ``rfd`` = run one hop; b"q" = quit.  ``state["done"]``
    counts finished hops (an int assignment is atomic under the GIL)."""
    from aural.realtime.osc import raise_priority  # local: models must not need realtime at import
    raise_priority(priority)
    read = os.read
    run = inner.run
    while True:
        try:
            b = read(rfd, 1)
        except OSError:
            return
        if not b or b == b"q":
            return
        try:
            run()
        except BaseException as e:  # noqa: BLE001 - reported by run() on the audio thread
            state["error"] = e
        state["done"] += 1


def _stop(wfd: int, rfd: int, thread: threading.Thread) -> None:
    try:
        os.set_blocking(wfd, True)
        os.write(wfd, b"q")
    except OSError:
        pass
    if thread is not threading.current_thread():
        thread.join(2.0)
    for fd in (wfd, rfd):
        try:
            os.close(fd)
        except OSError:
            pass


class PipelinedStreamer:
    """The model one hop behind, on a worker thread (``threaded=True``) or inline.

    inner: an OnnxStreamer (or anything with ``audio_in``, ``audio_out``, ``run()``,
    ``reset()``, ``hop``, ``channels``, ``latency``).  priority: SCHED_FIFO priority of the worker
    (None: leave it ordinary)."""

    def __init__(self, inner, threaded: bool = True, priority: int | None = 1) -> None:
        self.inner = inner
        self.threaded = bool(threaded)
        c, h = inner.channels, inner.hop
        self.audio_in = np.zeros((c, h), np.float32)
        self.audio_out = np.zeros((c, h), np.float32)
        self.late = 0          # hops whose predecessor was not finished in time
        self.submitted = 0     # hops handed to the model
        self._state = {"done": 0, "error": None}
        self._wfd = -1
        self._thread: threading.Thread | None = None
        self._closer = None
        if self.threaded:
            rfd, wfd = os.pipe()
            try:
                os.set_blocking(wfd, False)
            except OSError:  # a platform without non-blocking pipes: the same pipeline inline
                os.close(rfd)
                os.close(wfd)
                self.threaded = False
        if self.threaded:
            self._wfd = wfd
            t = threading.Thread(target=_worker, args=(inner, rfd, self._state, priority),
                                 name="aural-model", daemon=True)
            t.start()
            self._thread = t
            self._closer = weakref.finalize(self, _stop, wfd, rfd, t)

    # ------------------------------------------------------------------ surface of OnnxStreamer
    @property
    def hop(self) -> int:
        return self.inner.hop

    @property
    def channels(self) -> int:
        return self.inner.channels

    @property
    def latency(self) -> int:
        """The model's latency plus the one hop of pipelining, in model samples."""
        return int(self.inner.latency) + int(self.inner.hop)

    def _wait(self) -> None:
        st = self._state
        if st["done"] != self.submitted:
            self.late += 1
            sleep = time.sleep
            while st["done"] != self.submitted:
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError("the model worker thread has stopped")
                sleep(0)  # let the worker take the GIL to finish
        e = st["error"]
        if e is not None:
            st["error"] = None
            raise RuntimeError(f"the model failed on its worker thread: {e!r}") from e

    def run(self, x: np.ndarray | None = None) -> np.ndarray:
        """Hand over one hop (``x``, or ``audio_in`` filled in place) and return the output for
        the hop before (a view valid until the next call)."""
        if x is not None:
            self.audio_in[...] = x
        inner = self.inner
        if self.threaded:
            self._wait()
        self.audio_out[...] = inner.audio_out
        inner.audio_in[...] = self.audio_in
        self.submitted += 1
        if self.threaded:
            os.write(self._wfd, b"r")
        else:
            inner.run()
        return self.audio_out

    def reset(self) -> None:
        """Finish the hop in flight, then zero every state and the ``late`` count (not from the
        audio thread while threaded: it may wait for the worker)."""
        if self.threaded:
            self._wait()
        self.late = 0
        self.inner.reset()
        self.inner.audio_out[...] = 0.0
        self.audio_out[...] = 0.0

    def close(self) -> None:
        """Stop the worker (also done when the object is collected)."""
        if self._closer is not None:
            try:
                self._wait()
            except RuntimeError:  # the worker failed or stopped: nothing left to finish
                pass
            self._closer()
            self._closer = None
            self._thread = None
