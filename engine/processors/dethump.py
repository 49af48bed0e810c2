"""De-thump: removes the low-frequency "boom" of a scratch (a large decaying pulse below ~200 Hz,
20-100 ms) without touching the rest of the band.

Method: the signal is split by a causal 4th-order Butterworth low-pass at ``cutoff_hz``:
``x = low + (x - low)``.  Every hop (5 ms) the low band's RMS over a 20 ms window is compared
with the music's own low-band level: the 80th percentile of the last ~1.5 s of window levels
(frames that were thumps are not added to it, so a long thump does not raise it; a bass line
or regular kick drums set it high).  A frame ``threshold_db`` above that level is a thump; its
low band is scaled down to the level (at most by ``depth_db``) while it stays 3 dB above
it, the gain moving linearly from
frame to frame: ``out = x - (1 - g) low``.  Outside a thump g = 1 and the output is the input,
bit for bit (delayed by the latency).

Decisions are made per hop (``HopProcessor``), so the output does not depend on the host block
size.  Latency: ``hop - 1 + 2 hop`` samples (the window's look-ahead; 719 samples, 15 ms, at
48 kHz).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit
from ..hop import HopProcessor
from ..params import Param
from ..processor import register
from .declick import select_inplace
from .filters import _butter_into

__all__ = ["DeThump"]


@njit(cache=True, nogil=True)
def dethump_hop(hop_in, hop_out, sos, zi, xbuf, lbuf, hist, hcount, gprev, tmp, la, w, thr,
                gmin, floor, stats) -> None:
    """One hop for every channel (channels share the decision: a thump hits both groove walls).

    xbuf/lbuf (C, M): input and low-band history; the hop written out ends la samples before the
    newest sample.  hist: ring of past window levels (hcount[0]: filled, hcount[1]: write
    index); gprev[0]: the previous frame's gain; stats[0]: thump frames."""
    nch, h = hop_in.shape
    m = xbuf.shape[1]
    nsec = sos.shape[0]
    for ch in range(nch):
        for i in range(m - h):
            xbuf[ch, i] = xbuf[ch, i + h]
            lbuf[ch, i] = lbuf[ch, i + h]
        for i in range(h):
            v = float(hop_in[ch, i])
            xbuf[ch, m - h + i] = v
            for s in range(nsec):
                y = sos[s, 0] * v + zi[ch, s, 0]
                zi[ch, s, 0] = sos[s, 1] * v - sos[s, 4] * y + zi[ch, s, 1]
                zi[ch, s, 1] = sos[s, 2] * v - sos[s, 5] * y
                v = y
            lbuf[ch, m - h + i] = v
    # low-band level of the window centred on the end of the hop going out
    acc = 0.0
    for ch in range(nch):
        for i in range(m - w, m):
            acc += lbuf[ch, i] * lbuf[ch, i]
    lvl = math.sqrt(acc / (w * nch))
    nh = hcount[0]
    ref = 0.0
    if nh > 0:
        for i in range(nh):
            tmp[i] = hist[i]
        ref = select_inplace(tmp, nh, (nh * 4) // 5)
    g = 1.0
    # hysteresis: a thump goes on while its decaying tail stays 3 dB above the reference
    on = thr if gprev[0] >= 1.0 else 1.41
    if nh >= hist.shape[0] // 8 and lvl > on * ref and lvl > floor:
        g = max(gmin, ref / lvl)
        stats[0] += 1
        val = ref          # a thump does not raise the reference
    else:
        val = lvl
    hist[hcount[1]] = val
    hcount[1] = (hcount[1] + 1) % hist.shape[0]
    hcount[0] = min(nh + 1, hist.shape[0])
    g0 = gprev[0]
    d0 = m - la - h
    for ch in range(nch):
        for i in range(h):
            gi = g0 + (g - g0) * (i + 1) / h
            q = d0 + i
            if gi >= 1.0:
                hop_out[ch, i] = xbuf[ch, q]
            else:
                hop_out[ch, i] = xbuf[ch, q] - (1.0 - gi) * lbuf[ch, q]
    gprev[0] = g


@register
class DeThump(HopProcessor):
    """Scratch thump remover (low-band transient detection, low-band gain within the thump).

    Latency ``3 hop - 1`` samples (hop 5 ms: 719 samples at 48 kHz).  ``thump_frames`` counts
    the 5 ms frames treated since prepare/reset."""

    params = (
        Param("threshold_db", 12.0, unit="dB", range=(6.0, 40.0),
              doc="low-band level above the music's own (80th percentile of ~1.5 s) that "
                  "counts as a thump"),
        Param("cutoff_hz", 200.0, unit="Hz", range=(60.0, 400.0),
              doc="top of the band treated (the thump's band; above it nothing changes)"),
        Param("depth_db", 40.0, unit="dB", range=(0.0, 80.0),
              doc="largest attenuation of the low band within a thump"),
    )
    #: the history of window levels the reference is taken from (s)
    history_s = 1.5

    def _prepare_hop(self) -> None:
        sr = self.sample_rate
        self.hop = max(16, round(sr * 0.005))
        h = self.hop
        self._w = 4 * h
        self._la = 2 * h
        c = self.channels
        self._xbuf = np.zeros((c, self._w + h), np.float64)
        self._lbuf = np.zeros((c, self._w + h), np.float64)
        self._zi = np.zeros((c, 2, 2), np.float64)
        self._sos = np.zeros((2, 6), np.float64)
        nh = max(8, round(self.history_s * sr / h))
        self._hist = np.zeros(nh, np.float64)
        self._tmp = np.zeros(nh, np.float64)
        self._hcount = np.zeros(2, np.int64)
        self._gprev = np.ones(1, np.float64)
        self._stats = np.zeros(1, np.int64)
        self._design()

    def _design(self) -> None:
        """Order-4 Butterworth lowpass into the preallocated sections (Numba, no allocation:
        safe on the audio thread when ``cutoff_hz`` changes)."""
        fc = min(self.v("cutoff_hz"), 0.45 * self.sample_rate)
        _butter_into(self._sos, 1, 4, fc, fc, float(self.sample_rate))

    def _on_param(self, name: str, value: float) -> None:
        if name == "cutoff_hz" and self.prepared:
            self._design()

    def _reset_hop(self) -> None:
        self._xbuf[:] = 0.0
        self._lbuf[:] = 0.0
        self._zi[:] = 0.0
        self._hist[:] = 0.0
        self._hcount[:] = 0
        self._gprev[:] = 1.0
        self._stats[:] = 0

    def _hop_latency(self) -> int:
        return self._la

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        dethump_hop(x, out, self._sos, self._zi, self._xbuf, self._lbuf, self._hist,
                    self._hcount, self._gprev, self._tmp, self._la, self._w,
                    10.0 ** (self.v("threshold_db") / 20.0),
                    10.0 ** (-self.v("depth_db") / 20.0), 3e-3, self._stats)

    @property
    def thump_frames(self) -> int:
        """5 ms frames treated as thumps since prepare/reset."""
        return int(self._stats[0]) if self.prepared else 0
