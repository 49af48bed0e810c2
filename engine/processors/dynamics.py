"""Dynamics: gain (smoothed), compressor, look-ahead limiter."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..kernels import smooth_coef, smoothed_gain
from ..params import Param
from ..processor import Processor, register

__all__ = ["Gain", "Compressor", "Limiter"]


def db_to_lin(db: float) -> float:
    return float(10.0 ** (db / 20.0))


@register
class Gain(Processor):
    """Static gain in dB, glided per sample over ``smoothing_ms`` (no zipper noise)."""

    params = (Param("gain_db", 0.0, unit="dB", range=(-96.0, 48.0), smoothing_ms=20.0,
                    doc="gain applied to every channel"),)

    def _prepare(self) -> None:
        self._g = np.array([db_to_lin(self.v("gain_db"))])
        self._coef = smooth_coef(self.spec("gain_db").smoothing_ms, float(self.sample_rate))

    def _reset(self) -> None:
        self._g[0] = db_to_lin(self.v("gain_db"))

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        smoothed_gain(x, out, self._g, db_to_lin(self.v("gain_db")), self._coef)


# --------------------------------------------------------------------------- compressor
_LOG_TO_DB = 20.0 / math.log(10.0)
_DB_TO_LOG = math.log(10.0) / 20.0


@njit(cache=True, nogil=True)
def _gain_computer(xg: float, thr: float, ratio: float, knee: float) -> float:
    """Static curve (dB in -> dB out) with a quadratic soft knee of width ``knee`` dB."""
    d = xg - thr
    if 2.0 * d <= -knee:
        return xg
    if knee > 0.0 and 2.0 * abs(d) <= knee:
        t = d + 0.5 * knee
        return xg + (1.0 / ratio - 1.0) * t * t / (2.0 * knee)
    return thr + d / ratio


@njit(cache=True, nogil=True)
def _compress(x, out, st, thr: float, ratio: float, knee: float, a_att: float, a_rel: float,
              makeup_db: float, a_mk: float) -> None:
    """Feed-forward compressor, per sample.

    Detector: stereo-linked peak (max |x| over channels) in dB -> static curve -> gain reduction
    xL = xG - yG (dB, >= 0) -> smooth decoupled peak detector in the log domain
    (Giannoulis, Massberg & Reiss, JAES 2012): y1 = max(xL, aR*y1 + (1-aR)*xL),
    yL = aA*yL + (1-aA)*y1.  Gain = makeup - yL (dB).  st = [y1, yL, makeup(smoothed), min gain]."""
    c, n = x.shape
    y1 = st[0]
    yl = st[1]
    mk = st[2]
    worst = 0.0
    quiet = math.exp((thr - 0.5 * knee) * _DB_TO_LOG)  # below this peak: no gain reduction
    mk_lin = math.exp(makeup_db * _DB_TO_LOG)
    for i in range(n):
        pk = 0.0
        for ch in range(c):
            v = abs(x[ch, i])
            if v > pk:
                pk = v
        if pk <= quiet:
            xl = 0.0
        else:
            xg = math.log(pk) * _LOG_TO_DB
            xl = xg - _gain_computer(xg, thr, ratio, knee)
        r = a_rel * y1 + (1.0 - a_rel) * xl
        y1 = xl if xl > r else r
        yl = a_att * yl + (1.0 - a_att) * y1
        if yl < 1e-6:  # dB: below float32 resolution
            yl = 0.0
        if y1 < 1e-6:
            y1 = 0.0
        if yl > worst:
            worst = yl
        mk = makeup_db + a_mk * (mk - makeup_db)
        if abs(mk - makeup_db) < 1e-9:
            mk = makeup_db
        if yl == 0.0 and mk == makeup_db:
            g = mk_lin
        else:
            g = math.exp((mk - yl) * _DB_TO_LOG)
        for ch in range(c):
            out[ch, i] = g * x[ch, i]
    st[0] = y1
    st[1] = yl
    st[2] = mk
    st[3] = worst


@register
class Compressor(Processor):
    """Feed-forward downward compressor with a soft knee, stereo-linked, no latency.

    The detector takes the peak over all channels per sample (linked: every channel gets the same
    gain, the stereo image stays put), the gain computer works in dB, and the gain reduction is
    smoothed in the log domain by a decoupled peak detector (release, then attack smoothing), so a
    steady tone sits on the static curve ``out = threshold + (in - threshold) / ratio`` (peak
    levels) with almost no ripple.  ``makeup_db`` glides over 20 ms.  ``gain_reduction_db`` is the
    largest reduction of the last block (a meter)."""

    params = (
        Param("threshold_db", -20.0, unit="dB", range=(-80.0, 0.0), doc="level (sample peak) where compression starts"),
        Param("ratio", 4.0, unit=":1", range=(1.0, 100.0), scale="log", doc="input dB per output dB above the threshold"),
        Param("knee_db", 6.0, unit="dB", range=(0.0, 24.0), doc="width of the soft knee around the threshold"),
        Param("attack_ms", 10.0, unit="ms", range=(0.0, 500.0), doc="attack time constant"),
        Param("release_ms", 100.0, unit="ms", range=(1.0, 5000.0), scale="log", doc="release time constant"),
        Param("makeup_db", 0.0, unit="dB", range=(-24.0, 36.0), smoothing_ms=20.0, doc="gain after compression"),
    )

    def _prepare(self) -> None:
        self._st = np.zeros(4)
        self._mk_coef = smooth_coef(self.spec("makeup_db").smoothing_ms, float(self.sample_rate))
        self._update()
        self._reset()

    def _coef(self, ms: float) -> float:
        return math.exp(-1000.0 / (ms * self.sample_rate)) if ms > 0.0 else 0.0

    def _update(self) -> None:
        self._thr = self.v("threshold_db")
        self._ratio = self.v("ratio")
        self._knee = self.v("knee_db")
        self._aa = self._coef(self.v("attack_ms"))
        self._ar = self._coef(self.v("release_ms"))
        self._mk = self.v("makeup_db")

    def _reset(self) -> None:
        self._st[:] = 0.0
        self._st[2] = self.v("makeup_db")

    def _on_param(self, name: str, value: float) -> None:
        if self.prepared:
            self._update()

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        _compress(x, out, self._st, self._thr, self._ratio, self._knee, self._aa, self._ar,
                  self._mk, self._mk_coef)

    @property
    def gain_reduction_db(self) -> float:
        """Largest gain reduction (dB, >= 0) applied in the last block."""
        return float(self._st[3]) if self.prepared else 0.0

    def static_curve(self, level_db: np.ndarray | float) -> np.ndarray:
        """Output level (dB) for a steady input peak level (dB), makeup included."""
        lv = np.atleast_1d(np.asarray(level_db, dtype=np.float64))
        y = np.array([_gain_computer(float(v), self.v("threshold_db"), self.v("ratio"),
                                     self.v("knee_db")) for v in lv])
        return y + self.v("makeup_db")


# --------------------------------------------------------------------------- limiter
@njit(cache=True, nogil=True)
def _limit(x, out, delay, dq_val, dq_idx, hbuf, st, ist, ceiling: float, ceil32: float,
           a_rel: float) -> None:
    """Look-ahead peak limiter, per sample.  L = hbuf.shape[0] - 1 samples of look-ahead.

    g_req[t] = min(1, ceiling / max_ch |x[t]|); m[t] = min(g_req[t-L..t]) (monotonic deque);
    h = instant attack to m, release towards m; gain[t] = mean(h[t-L..t]) (boxcar).  The output
    at t is x[t-L] * gain[t]: every h in that window is <= g_req[t-L], so the sample peak never
    exceeds the ceiling (a final clamp to the float32 ceiling only catches rounding).
    st = [h, running sum, min gain of block]; ist = [t, dq head, dq count, ring pos]."""
    c, n = x.shape
    win = hbuf.shape[0]  # L + 1
    cap = dq_val.shape[0]
    t = ist[0]
    head = ist[1]
    cnt = ist[2]
    w = ist[3]
    h = st[0]
    acc = st[1]
    lo = 1.0
    inv = 1.0 / win
    for i in range(n):
        pk = 0.0
        for ch in range(c):
            v = abs(x[ch, i])
            if v > pk:
                pk = v
        g = ceiling / pk if pk > ceiling else 1.0
        # sliding minimum over the last L+1 required gains
        j = head + cnt  # one past the back (ring index without a modulo)
        if j >= cap:
            j -= cap
        while cnt > 0:
            b = j - 1 if j > 0 else cap - 1
            if dq_val[b] < g:
                break
            j = b
            cnt -= 1
        dq_val[j] = g
        dq_idx[j] = t
        cnt += 1
        while dq_idx[head] <= t - win:
            head += 1
            if head == cap:
                head = 0
            cnt -= 1
        m = dq_val[head]
        # instant attack, exponential release
        if m < h:
            h = m
        else:
            h = m + a_rel * (h - m)
        # boxcar average of h over L+1 samples (exact re-sum once per window)
        acc += h - hbuf[w]
        hbuf[w] = h
        gain = acc * inv
        if gain < lo:
            lo = gain
        r = w + 1 if w + 1 < win else 0  # holds x[t - L]
        for ch in range(c):
            delay[ch, w] = x[ch, i]
            d = delay[ch, r]
            y = d * gain
            if y > ceil32:
                y = ceil32
            elif y < -ceil32:
                y = -ceil32
            out[ch, i] = y
        w += 1
        if w == win:
            w = 0
            acc = 0.0
            for k in range(win):
                acc += hbuf[k]
        t += 1
    ist[0] = t
    ist[1] = head
    ist[2] = cnt
    ist[3] = w
    st[0] = h
    st[1] = acc
    st[2] = lo


@register
class Limiter(Processor):
    """True look-ahead peak limiter: no output sample exceeds ``ceiling_db``.

    The gain needed by every incoming sample is known ``lookahead_ms`` before that sample leaves
    the delay line; the gain ramps down over the look-ahead window (sliding minimum + boxcar, so
    no step) and recovers with ``release_ms``.  Stereo-linked.  Latency: the look-ahead,
    ``round(lookahead_ms * fs / 1000)`` samples (at least 1); a change of ``lookahead_ms`` takes
    effect at the next ``prepare()`` (latency only changes there).  ``gain_reduction_db`` is the
    deepest reduction of the last block."""

    params = (
        Param("ceiling_db", -1.0, unit="dBFS", range=(-60.0, 0.0), doc="highest output sample peak"),
        Param("lookahead_ms", 2.0, unit="ms", range=(0.05, 50.0), doc="look-ahead (= latency); applied at prepare"),
        Param("release_ms", 50.0, unit="ms", range=(1.0, 5000.0), scale="log", doc="release time constant"),
    )

    def _prepare(self) -> None:
        self._L = max(1, int(round(self.v("lookahead_ms") * 1e-3 * self.sample_rate)))
        win = self._L + 1
        self._delay = np.zeros((self.channels, win))
        self._hbuf = np.ones(win)
        self._dq_val = np.ones(win + 1)
        self._dq_idx = np.zeros(win + 1, np.int64)
        self._st = np.zeros(3)
        self._ist = np.zeros(4, np.int64)
        self._update()
        self._reset()

    def _update(self) -> None:
        c = 10.0 ** (self.v("ceiling_db") / 20.0)
        c32 = np.float32(c)
        if float(c32) > c:
            c32 = np.nextafter(c32, np.float32(0.0))
        self._ceil = c
        self._ceil32 = float(c32)
        ms = self.v("release_ms")
        self._arel = math.exp(-1000.0 / (ms * self.sample_rate))

    def _reset(self) -> None:
        self._delay[:] = 0.0
        self._hbuf[:] = 1.0
        self._dq_val[:] = 1.0
        self._dq_idx[:] = 0
        self._st[0] = 1.0
        self._st[1] = float(self._L + 1)
        self._st[2] = 1.0
        self._ist[:] = 0
        # the deque starts with one entry (gain 1 at t = -1) so it is never empty
        self._dq_idx[0] = -1
        self._ist[2] = 1

    def _on_param(self, name: str, value: float) -> None:
        if self.prepared:
            self._update()

    def _latency(self) -> int:
        return getattr(self, "_L", 0)

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        _limit(x, out, self._delay, self._dq_val, self._dq_idx, self._hbuf, self._st, self._ist,
               self._ceil, self._ceil32, self._arel)

    @property
    def gain_reduction_db(self) -> float:
        """Deepest gain reduction (dB, >= 0) in the last block."""
        if not self.prepared:
            return 0.0
        return float(-20.0 * math.log10(max(self._st[2], 1e-12)))
