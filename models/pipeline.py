"""One model hop of pipelining: the model runs on a worker thread while the audio thread goes on.

:class:`PipelinedStreamer` wraps an :class:`~aural.models.runtime.OnnxStreamer` with the same
``audio_in`` / ``run()`` / ``reset()`` / ``hop`` / ``latency`` surface.  ``run()`` hands the hop
in ``audio_in`` to the model and returns the model's output for the *previous* hop, so its
latency is the model's plus one hop, and the model has a whole hop of real time to finish
instead of the part of one host block that is left after the rest of the chain::

    p = PipelinedStreamer(OnnxStreamer("dsunet-voice"), threaded=True)
    p.audio_in[...] = x     # (channels, hop) float32
    y = p.run()             # output of the hop before (zeros first), valid until the next run
    p.deadline = 0.00133    # live: wait at most this long for a late hop (None: wait, exact)
    p.close()               # or let it be collected: the worker stops either way

With ``threaded=False`` the same pipeline runs inline: identical samples, no thread (offline
work, tests).  Threaded or not, the output is the same sample for sample as long as no hop
misses its deadline, so a live stream still equals offline processing.

Real-time rules for ``run()`` (called from the audio thread):

- no allocation, no blocking lock, no syscall while the worker is busy: the hand-over is a copy
  into a preallocated ring of ``depth`` hops and a counter; the worker is woken (a lock it sleeps
  on is released, one futex call) only when it has gone to sleep;
- the worker raises itself to SCHED_FIFO priority 1 where allowed, so that an ordinary process
  cannot preempt it while it holds the GIL that the audio callback needs (priority inversion);
- if the previous hop is not finished when the next one is due, ``run()`` counts it ``late`` and
  waits for it on a lock (the GIL is released while waiting, no spinning): without a
  ``deadline`` until it is done (offline: exact samples); with one at most ``deadline`` seconds,
  after which the hop's output is replaced by the input delayed by the pipeline's latency (the
  dry signal in time with the model's output) and counted in ``missed``.  The worker still runs
  the hop (the model state stays in step) and its output is discarded.  With a deadline nothing
  raises: a model error or a dead worker gives the dry signal and counts ``errors``/``missed``.
"""
from __future__ import annotations

import _thread
import threading
import time
import weakref

import numpy as np

__all__ = ["PipelinedStreamer"]


class _Shared:
    """State shared by the audio thread and the worker.  Each field has one writer; int stores
    are atomic under the GIL.  ``submitted`` (audio) and ``done`` (worker) count hops."""

    __slots__ = ("submitted", "done", "sleeping", "waiting", "quit", "error", "reset_at",
                 "reset_req", "reset_seen", "wake", "finished", "in_ring", "out_ring", "ok")

    def __init__(self, depth: int, c: int, h: int) -> None:
        self.submitted = 0
        self.done = 0
        self.sleeping = False      # worker: about to sleep on ``wake``
        self.waiting = False       # audio: waiting on ``finished``
        self.quit = False
        self.error: BaseException | None = None
        self.reset_at = 0          # audio: reset the model before hop ``reset_at`` ...
        self.reset_req = 0         # ... when this count of requests (audio) ...
        self.reset_seen = 0        # ... differs from the count honoured (worker)
        self.wake = _thread.allocate_lock()      # held while the worker may sleep; audio releases
        self.finished = _thread.allocate_lock()  # held while the audio may wait; worker releases
        self.wake.acquire()
        self.finished.acquire()
        self.in_ring = np.zeros((depth, c, h), np.float32)
        self.out_ring = np.zeros((depth, c, h), np.float32)
        self.ok = np.zeros(depth, np.int8)


def _worker(inner, sh: _Shared, priority: int | None) -> None:
    """The worker loop: run every submitted hop in order, sleep on ``sh.wake`` when none is
    left.  Releases ``sh.finished`` after a hop if the audio thread waits for it."""
    from aural.realtime.osc import raise_priority  # local: models must not need realtime at import
    raise_priority(priority)
    depth = sh.in_ring.shape[0]
    while not sh.quit:
        j = sh.done
        if j == sh.submitted:
            sh.sleeping = True
            if j == sh.submitted and not sh.quit:  # re-check: a hop may have come meanwhile
                sh.wake.acquire()
            sh.sleeping = False
            continue
        req = sh.reset_req
        if req != sh.reset_seen and j >= sh.reset_at:
            inner.reset()
            inner.audio_out[...] = 0.0
            sh.reset_seen = req
        s = j % depth
        inner.audio_in[...] = sh.in_ring[s]
        try:
            inner.run()
            sh.out_ring[s] = inner.audio_out
            sh.ok[s] = 1
        except BaseException as e:  # noqa: BLE001 - reported by run() on the audio thread
            sh.error = e
            sh.ok[s] = 0
        sh.done = j + 1
        if sh.waiting and sh.finished.locked():
            sh.finished.release()


def _stop(sh: _Shared, thread: threading.Thread) -> None:
    sh.quit = True
    if sh.wake.locked():
        try:
            sh.wake.release()
        except RuntimeError:
            pass
    if thread is not threading.current_thread():
        thread.join(2.0)


class PipelinedStreamer:
    """The model one hop behind, on a worker thread (``threaded=True``) or inline.

    inner: an OnnxStreamer (or anything with ``audio_in``, ``audio_out``, ``run()``,
    ``reset()``, ``hop``, ``channels``, ``latency``).  priority: SCHED_FIFO priority of the worker
    (None: leave it ordinary).  depth: hops that may queue up for a slow worker (>= 2).
    deadline: seconds ``run()`` waits at most for a late hop (None: until done; set by the live
    stream to half its block period)."""

    def __init__(self, inner, threaded: bool = True, priority: int | None = 1, depth: int = 8,
                 deadline: float | None = None) -> None:
        self.inner = inner
        self.threaded = bool(threaded)
        c, h = inner.channels, inner.hop
        self.audio_in = np.zeros((c, h), np.float32)
        self.audio_out = np.zeros((c, h), np.float32)
        self.deadline = deadline
        self.late = 0          # hops whose predecessor was not finished when it was due
        self.missed = 0        # hops whose output was replaced by the delayed input (deadline)
        self.errors = 0        # model errors met with a deadline set (output: delayed input)
        self.last_error: BaseException | None = None
        # input history for the substitute: hop k's output lines up with input delayed by
        # latency + hop, i.e. the oldest ``hop`` samples of the last latency + 2 hops (a ring)
        self._hist = np.zeros((c, int(inner.latency) + 2 * h), np.float32)
        self._hpos = 0
        self._prev = 0         # what the previous call left: 0 nothing (zeros), 1 a hop, 2 a dropped hop
        self._sh = _Shared(max(2, int(depth)), c, h)
        self._thread: threading.Thread | None = None
        self._closer = None
        if self.threaded:
            t = threading.Thread(target=_worker, args=(inner, self._sh, priority),
                                 name="aural-model", daemon=True)
            t.start()
            self._thread = t
            self._closer = weakref.finalize(self, _stop, self._sh, t)

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

    @property
    def worker_delay(self) -> int:
        """The delay the worker adds (one hop), in model samples (0 inline)."""
        return int(self.inner.hop) if self.threaded else 0

    @property
    def submitted(self) -> int:
        """Hops handed to the model."""
        return self._sh.submitted

    # ------------------------------------------------------------------ waiting
    def _wait_done(self, target: int, limit: float | None) -> bool:
        """Wait until ``target`` hops are done, at most ``limit`` seconds (None: no bound; the
        worker's death raises).  The GIL is released while waiting."""
        sh = self._sh
        if sh.done >= target:
            return True
        pc = time.perf_counter
        end = None if limit is None else pc() + limit
        fin = sh.finished
        sh.waiting = True
        try:
            while sh.done < target:
                if end is None:
                    fin.acquire(True, 0.05)
                    if sh.done < target and (self._thread is None or not self._thread.is_alive()):
                        raise RuntimeError("the model worker thread has stopped")
                else:
                    rem = end - pc()
                    if rem <= 0.0:
                        return False
                    fin.acquire(True, rem)
        finally:
            sh.waiting = False
            fin.acquire(False)  # keep it held for the next wait (a late release may have freed it)
        return True

    def _remember(self) -> None:
        """Append ``audio_in`` to the input history ring (copies only, no temporary array)."""
        hist, h, p = self._hist, self.inner.hop, self._hpos
        r = hist.shape[1]
        m = min(h, r - p)
        hist[:, p:p + m] = self.audio_in[:, :m]
        if m < h:
            hist[:, :h - m] = self.audio_in[:, m:]
        self._hpos = (p + h) % r

    def _substitute(self) -> None:
        """audio_out <- the input delayed by ``latency`` (the dry signal in the model's time):
        the oldest ``hop`` samples of the history."""
        hist, h, p = self._hist, self.inner.hop, self._hpos
        r = hist.shape[1]
        m = min(h, r - p)
        self.audio_out[:, :m] = hist[:, p:p + m]
        if m < h:
            self.audio_out[:, m:] = hist[:, :h - m]

    # ------------------------------------------------------------------ the hop
    def run(self, x: np.ndarray | None = None) -> np.ndarray:
        """Hand over one hop (``x``, or ``audio_in`` filled in place) and return the output for
        the hop before (a view valid until the next call)."""
        if x is not None:
            self.audio_in[...] = x
        if not self.threaded:
            self.audio_out[...] = self.inner.audio_out
            self.inner.audio_in[...] = self.audio_in
            self.inner.run()
            return self.audio_out
        self._remember()
        sh = self._sh
        depth = sh.ok.shape[0]
        prev = self._prev
        if prev == 1:
            j = sh.submitted - 1
            if sh.done <= j:
                self.late += 1
            if self._wait_done(j + 1, self.deadline):
                s = j % depth
                if sh.ok[s]:
                    self.audio_out[...] = sh.out_ring[s]
                else:
                    self._model_failed()
            else:
                self.missed += 1
                self._substitute()
        elif prev == 2:
            self._substitute()
        else:
            self.audio_out[...] = 0.0
        k = sh.submitted
        if k - sh.done < depth:
            sh.in_ring[k % depth] = self.audio_in
            sh.submitted = k + 1
            self._prev = 1
            if sh.sleeping and sh.wake.locked():
                sh.wake.release()
        else:  # the worker is a whole ring behind: this hop never reaches the model
            self.missed += 1
            self._prev = 2
        return self.audio_out

    def _model_failed(self) -> None:
        sh = self._sh
        e, sh.error = sh.error, None
        if self.deadline is None:
            raise RuntimeError(f"the model failed on its worker thread: {e!r}") from e
        self.errors += 1
        self.missed += 1
        if e is not None:
            self.last_error = e
        self._substitute()

    def reset(self) -> None:
        """Zero every state and the counts.  Without a deadline (control thread) it waits for the
        hops in flight and resets the model here; with one (it may be the audio thread: a node
        coming out of bypass) it never waits: the worker resets the model before the next hop
        and the outputs still in flight are discarded."""
        sh = self._sh
        if self.threaded:
            if self.deadline is None:
                self._wait_done(sh.submitted, None)
                self.inner.reset()
                self.inner.audio_out[...] = 0.0
                sh.reset_seen = sh.reset_req
            else:
                sh.reset_at = sh.submitted
                sh.reset_req += 1
            sh.error = None
        else:
            self.inner.reset()
            self.inner.audio_out[...] = 0.0
        self.late = self.missed = self.errors = 0
        self._prev = 0
        self._hist[:] = 0.0
        self._hpos = 0
        self.audio_out[...] = 0.0

    def close(self) -> None:
        """Stop the worker (also done when the object is collected)."""
        if self._closer is not None:
            try:
                self._wait_done(self._sh.submitted, 2.0)
            except RuntimeError:  # the worker failed or stopped: nothing left to finish
                pass
            self._closer()
            self._closer = None
            self._thread = None
