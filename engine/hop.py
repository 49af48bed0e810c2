"""The host-block adapter: lets a processor that needs a fixed hop run under any host block size.

A :class:`HopProcessor` implements ``_process_hop(x, out)`` on exactly ``self.hop`` frames.  The
adapter collects host samples into a hop-sized buffer and hands finished hops out through a FIFO
that starts with ``hop - 1`` samples of silence.  That is the least delay that works for every
host block size from 1 frame up (the last frame of a hop arrives before the hop can be
processed), so the declared latency is ``hop - 1 + _hop_latency()``, and output does not depend on
how the host cuts the stream.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .processor import Processor

__all__ = ["HopProcessor", "HopFifo"]


@njit(cache=True, nogil=True)
def _fifo_write(ring, state, x, start: int, n: int) -> None:
    """Append x[:, start:start+n] to ring; state = [read, write, count]."""
    size = ring.shape[1]
    w = state[1]
    for i in range(n):
        for ch in range(ring.shape[0]):
            ring[ch, w] = x[ch, start + i]
        w += 1
        if w == size:
            w = 0
    state[1] = w
    state[2] += n


@njit(cache=True, nogil=True)
def _fifo_read(ring, state, out, start: int, n: int) -> None:
    """Pop n frames from ring into out[:, start:start+n]."""
    size = ring.shape[1]
    r = state[0]
    for i in range(n):
        for ch in range(ring.shape[0]):
            out[ch, start + i] = ring[ch, r]
        r += 1
        if r == size:
            r = 0
    state[0] = r
    state[2] -= n


@njit(cache=True, nogil=True)
def _hop_feed(x, pos: int, hin, state) -> int:
    """Copy frames of x from ``pos`` into the hop buffer until it is full or x is used up.

    state[0] is the number of frames already in hin; returns the new position in x."""
    h = hin.shape[1]
    fill = state[0]
    m = min(h - fill, x.shape[1] - pos)
    for ch in range(x.shape[0]):
        for i in range(m):
            hin[ch, fill + i] = x[ch, pos + i]
    state[0] = fill + m
    return pos + m


class HopFifo:
    """Preallocated multichannel FIFO (numba ring)."""

    def __init__(self, channels: int, capacity: int) -> None:
        self.ring = np.zeros((channels, capacity), np.float32)
        self.state = np.zeros(3, np.int64)

    @property
    def count(self) -> int:
        return int(self.state[2])

    def write(self, x: np.ndarray, start: int = 0, n: int | None = None) -> None:
        n = x.shape[1] - start if n is None else n
        _fifo_write(self.ring, self.state, x, start, n)

    def read(self, out: np.ndarray, start: int = 0, n: int | None = None) -> None:
        n = out.shape[1] - start if n is None else n
        _fifo_read(self.ring, self.state, out, start, n)

    def clear(self, prefill: int = 0) -> None:
        self.ring[:] = 0.0
        self.state[:] = 0
        self.state[1] = prefill % self.ring.shape[1]
        self.state[2] = prefill


class HopProcessor(Processor):
    """A processor that works on fixed hops of ``self.hop`` frames.

    Subclasses set ``self.hop`` in ``_prepare_hop()`` (called from prepare, before buffers are
    made), implement ``_process_hop(x, out)`` on (channels, hop) arrays, ``_reset_hop()``, and
    ``_hop_latency()`` for the latency inside their hop processing."""

    hop: int = 256

    def _prepare(self) -> None:
        self._prepare_hop()
        h = int(self.hop)
        if h < 1:
            raise ValueError(f"{self.name}: hop must be >= 1")
        self._hin = np.zeros((self.channels, h), np.float32)
        self._hout = np.zeros((self.channels, h), np.float32)
        self._hstate = np.zeros(1, np.int64)  # frames collected in _hin
        self._ofifo = HopFifo(self.channels, self.max_block + 2 * h)
        self._ofifo.clear(prefill=h - 1)

    def _reset(self) -> None:
        self._hstate[0] = 0
        self._hin[:] = 0.0
        self._ofifo.clear(prefill=self.hop - 1)
        self._reset_hop()

    def _latency(self) -> int:
        return int(self.hop) - 1 + int(self._hop_latency())

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        hin, st = self._hin, self._hstate
        fifo = self._ofifo
        pos = _hop_feed(x, 0, hin, st)
        while st[0] == hin.shape[1]:  # a hop is complete
            self._process_hop(hin, self._hout)
            _fifo_write(fifo.ring, fifo.state, self._hout, 0, self._hout.shape[1])
            st[0] = 0
            pos = _hop_feed(x, pos, hin, st)
        _fifo_read(fifo.ring, fifo.state, out, 0, out.shape[1])

    # hooks
    def _prepare_hop(self) -> None:
        pass

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        out[:] = x

    def _reset_hop(self) -> None:
        pass

    def _hop_latency(self) -> int:
        return 0
