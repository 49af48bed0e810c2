"""De-clip: rebuilds the peaks of a clipped (flat-topped) signal.

Detection.  A sample is *at the rail* when it lies within ``tolerance_db`` of the clip level of
its polarity; two or more consecutive such samples are a clipped run (one sample at the maximum is
just a peak).  The clip level is ``clip_level`` when set, else found per channel and polarity as
the largest magnitude seen since reset; in that automatic mode a level only counts as a rail once
at least four samples have sat on it (a clean signal touches its maximum once or twice), so a
clean recording passes untouched.

Reconstruction.  The samples of a run are replaced by a least-squares AR interpolation (LSAR, as
in DeClick: the values that minimise the prediction-error energy of an all-pole model fitted to
the surrounding ~25 ms) under the constraint that they stay beyond the rail with the sign of the
run (a clipped sample's true value was at least the clip level).  The constraint is met by an
active set: samples whose solution falls inside the rail are pinned to it and the rest solved
again (a few passes).  Runs closer than p samples are solved jointly.  The model is first fitted
to the observed window, every run in it is repaired in a scratch copy, and the model refitted on
that copy: flat tops would otherwise make the model too dull to rebuild the peaks.  A rebuilt
value is bounded to 4x (12 dB over) the clip level.

A run is only repaired once p samples after it are known: the look-ahead (the top of the
``max_run_ms`` range plus 2p) is declared as latency, with the 4 ms hop (737 samples, 15.4 ms, at
48 kHz).

Level.  The rebuilt peaks exceed the clip level (often by 3-6 dB on strongly clipped material),
so the output would clip again at the same place if the clip level was full scale.  ``headroom_db``
(default -3 dB) scales the whole output to leave room for them; set it to 0 dB where the output
is float and re-clipping is no concern, or lower it for heavy clipping.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..hop import HopProcessor
from ..kernels import smooth_coef
from ..params import Param
from ..processor import register
from .declick import ar_coef_autocorr, ar_fit, ar_order, lsar_solve, shift_in

__all__ = ["DeClip"]

#: the longest clipped run the look-ahead is sized for (top of the max_run_ms range)
MAX_RUN_MS_LIMIT = 10.0
#: a rebuilt sample never exceeds this multiple of the clip level
MAX_OVERSHOOT = 4.0
#: automatic mode: samples that must sit on a level before it is taken for a rail
CONFIRM_SAMPLES = 4


@njit(cache=True, nogil=True)
def _track_levels(buf, h, lev, cnt, tol) -> None:
    """Update per-channel (pos, neg) clip levels and their rail counts from the newest h samples."""
    c, m = buf.shape
    for ch in range(c):
        for i in range(m - h, m):
            v = buf[ch, i]
            for s in range(2):
                a = v if s == 0 else -v
                if a <= 0.0:
                    continue
                lv = lev[ch, s]
                if a > lv:
                    if a * (1.0 - tol) > lv:
                        cnt[ch, s] = 1  # a new, higher level: start counting again
                    else:
                        cnt[ch, s] += 1
                    lev[ch, s] = a
                elif a >= lv * (1.0 - tol):
                    cnt[ch, s] += 1


@njit(cache=True, nogil=True)
def _rail_sign(v, rp, rn) -> int:
    if rp > 0.0 and v >= rp:
        return 1
    if rn > 0.0 and -v >= rn:
        return -1
    return 0


@njit(cache=True, nogil=True)
def _run_end(xb, start, lim, rp, rn) -> int:
    """Last index of the run of same-sign rail samples starting at ``start`` (stops before lim)."""
    s = _rail_sign(xb[start], rp, rn)
    q = start
    while q + 1 < lim and _rail_sign(xb[q + 1], rp, rn) == s:
        q += 1
    return q


@njit(cache=True, nogil=True)
def _solve_group(xb, pos, sgn, nu, lvp, lvn, ra, p, mask, lb, rhs, sol, upos, iters) -> int:
    """Constrained LSAR over the clipped samples pos[:nu] (signs sgn): every value ends beyond
    its rail.  Returns the number of samples rebuilt (0 if the solve failed)."""
    # active set: start with all unknown; pin violators to the rail and solve the rest again
    nfree = nu
    for i in range(nu):
        mask[pos[i]] = 1
    ok = True
    for _it in range(iters):
        k = 0
        for i in range(nu):
            if mask[pos[i]] == 1:
                upos[k] = pos[i]
                k += 1
        nfree = k
        if nfree == 0:
            break
        ok = lsar_solve(xb, upos, nfree, ra, p, mask, lb, rhs, sol)
        if not ok:
            break
        viol = 0
        j = 0
        for i in range(nu):
            q = pos[i]
            if mask[q] != 1:
                continue
            v = sol[j]
            j += 1
            lv = lvp if sgn[i] > 0 else lvn
            if sgn[i] * v < lv:
                mask[q] = 0           # pinned to the rail (known from now on)
                xb[q] = sgn[i] * lv
                viol += 1
        if viol == 0:
            break
    if ok and nfree > 0:
        j = 0
        for i in range(nu):
            q = pos[i]
            if mask[q] == 1:
                v = sol[j]
                j += 1
                lv = lvp if sgn[i] > 0 else lvn
                if sgn[i] * v < lv:
                    v = sgn[i] * lv
                if sgn[i] * v > MAX_OVERSHOOT * lv:
                    v = sgn[i] * MAX_OVERSHOOT * lv
                xb[q] = v
    for i in range(nu):
        q = pos[i]
        if mask[q] == 1 and not ok:
            xb[q] = sgn[i] * (lvp if sgn[i] > 0 else lvn)
        mask[q] = 0
    return nu if ok else 0


@njit(cache=True, nogil=True)
def _scan_runs(xb, n_first, n_end, lim, rp, rn, lvp, lvn, lmax, nmax, p, ra, pos, sgn, upos,
               mask, lb, rhs, sol, busy, iters, stats):
    """Repair the clipped runs that start in [n_first, n_end).  Returns the new busy index."""
    n = n_first
    if n <= busy:
        n = busy + 1
    while n < n_end:
        s = _rail_sign(xb[n], rp, rn)
        if s == 0:
            n += 1
            continue
        e = _run_end(xb, n, lim, rp, rn)
        ln = e - n + 1
        if n > 0 and _rail_sign(xb[n - 1], rp, rn) == s:
            # the rest of a run already left alone (a run never starts inside the rail)
            busy = e
            n = e + 1
            continue
        if ln < 2:
            n = e + 1
            continue
        if e + 1 >= lim or ln > lmax:
            # too long (or not yet ended inside the look-ahead): leave it
            stats[1] += 1
            busy = e
            n = e + 1
            continue
        nu = 0
        nruns = 0
        last = e
        start = n
        while True:
            for q in range(start, last + 1):
                pos[nu] = q
                sgn[nu] = s
                nu += 1
            nruns += 1
            # a further run within p samples is solved with this one
            t = last + 1
            found = False
            while t < lim and t <= last + p:
                s2 = _rail_sign(xb[t], rp, rn)
                if s2 != 0:
                    e2 = _run_end(xb, t, lim, rp, rn)
                    if e2 - t + 1 >= 2 and e2 + 1 < lim and e2 - t + 1 <= lmax \
                            and nu + (e2 - t + 1) <= nmax:
                        found = True
                        start = t
                        s = s2
                        last = e2
                    break
                t += 1
            if not found:
                break
        done = _solve_group(xb, pos, sgn, nu, lvp, lvn, ra, p, mask, lb, rhs, sol, upos, iters)
        if done > 0:
            stats[0] += nruns
        else:
            stats[1] += nruns
        busy = last
        n = last + 1
    return busy


@njit(cache=True, nogil=True)
def declip_hop(hop_in, hop_out, buf, xs, win, wtmp, r, a, atmp, ra, pos, sgn, upos, mask, lb,
               rhs, sol, lev, cnt, ist, stats, scratch, gain, p, na, la, lmax, nmax, tol,
               manual, confirm, iters, g_target, g_coef, wnc, refits) -> None:
    """One hop of the de-clipper for every channel (layout as in declick_hop)."""
    nch, h = hop_in.shape
    m_len = buf.shape[1]
    shift_in(buf, hop_in, h)
    _track_levels(buf, h, lev, cnt, tol)
    d_end = m_len - la
    d_start = d_end - h
    lim = m_len - p
    w0 = m_len - na
    for ch in range(nch):
        xb = buf[ch]
        busy = ist[ch] - h
        busy = max(busy, -1)
        if manual > 0.0:
            lvp = manual
            lvn = manual
        else:
            lvp = lev[ch, 0] if cnt[ch, 0] >= confirm else 0.0
            lvn = lev[ch, 1] if cnt[ch, 1] >= confirm else 0.0
        if lvp < 1e-4:
            lvp = 0.0
        if lvn < 1e-4:
            lvn = 0.0
        rp = lvp * (1.0 - tol)
        rn = lvn * (1.0 - tol)
        if lvp > 0.0 or lvn > 0.0:
            # any run starting in the hop about to leave?
            n = d_start if d_start > busy else busy + 1
            hit = False
            while n < d_end - 1:
                s = _rail_sign(xb[n], rp, rn)
                if s != 0 and _rail_sign(xb[n + 1], rp, rn) == s:
                    hit = True
                    break
                n += 1
            if hit:
                ar_fit(xb, w0, na, win, wtmp, p, r, a, atmp, wnc)
                ar_coef_autocorr(a, p, ra)
                for _k in range(refits):
                    for i in range(m_len):
                        xs[i] = xb[i]
                    _scan_runs(xs, w0, lim, lim, rp, rn, lvp, lvn, lmax, nmax, p, ra, pos, sgn,
                               upos, mask, lb, rhs, sol, -1, iters, scratch)
                    ar_fit(xs, w0, na, win, wtmp, p, r, a, atmp, wnc)
                    ar_coef_autocorr(a, p, ra)
                busy = _scan_runs(xb, d_start, d_end, lim, rp, rn, lvp, lvn, lmax, nmax, p, ra,
                                  pos, sgn, upos, mask, lb, rhs, sol, busy, iters, stats)
        ist[ch] = busy
    # output with the (smoothed) headroom gain
    g = gain[0]
    for i in range(h):
        if g != g_target:
            g = g_target + g_coef * (g - g_target)
            if abs(g - g_target) < 1e-9:
                g = g_target
        for ch in range(nch):
            hop_out[ch, i] = g * buf[ch, d_start + i]
    gain[0] = g


@register
class DeClip(HopProcessor):
    """Clipped-peak reconstruction (constrained least-squares AR interpolation).

    ``runs_repaired`` counts the clipped runs rebuilt since prepare/reset, ``runs_skipped`` those
    left alone (longer than ``max_run_ms``).  ``clip_levels`` gives the current (pos, neg) level
    per channel (0 where no rail is established)."""

    params = (
        Param("clip_level", 0.0, unit="", range=(0.0, 4.0),
              doc="clip level as linear amplitude (1.0 = full scale); 0 finds it automatically "
                  "per channel and polarity"),
        Param("tolerance_db", 0.01, unit="dB", range=(0.0, 3.0),
              doc="how far below the clip level a sample still counts as clipped"),
        Param("max_run_ms", 5.0, unit="ms", range=(0.1, MAX_RUN_MS_LIMIT),
              doc="longest clipped run that is rebuilt; longer ones are left flat"),
        Param("headroom_db", -3.0, unit="dB", range=(-24.0, 0.0), smoothing_ms=20.0,
              doc="gain applied to the output so that rebuilt peaks do not clip again"),
    )

    #: white-noise correction of the AR fit: a floor 40 dB under the signal regularises the
    #: interpolation of long runs (a model with a huge spectral range makes it oscillate)
    wnc = 1e-6
    #: model refinements per hop with runs: repair the window's runs in a scratch copy, refit
    refits = 1
    #: AR analysis window (ms)
    window_ms = 25.0

    def _prepare_hop(self) -> None:
        sr = self.sample_rate
        self.hop = max(16, round(sr * 0.004))
        p = ar_order(sr)
        self._p = p
        self._lmax_cap = math.ceil(MAX_RUN_MS_LIMIT * 1e-3 * sr)
        self._la = self._lmax_cap + 2 * p + 2
        self._na = max(round(self.window_ms * 1e-3 * sr), 16 * p)
        m = p + self._na + self.hop + self._la
        c = self.channels
        self._nmax = 2 * self._lmax_cap + 2
        self._buf = np.zeros((c, m), np.float64)
        self._xs = np.zeros(m, np.float64)
        self._win = np.hanning(self._na + 2)[1:-1].astype(np.float64)
        self._wtmp = np.zeros(self._na, np.float64)
        self._r = np.zeros(p + 1, np.float64)
        self._a = np.zeros(p + 1, np.float64)
        self._atmp = np.zeros(p + 1, np.float64)
        self._ra = np.zeros(p + 1, np.float64)
        self._pos = np.zeros(self._nmax, np.int64)
        self._sgn = np.zeros(self._nmax, np.int64)
        self._upos = np.zeros(self._nmax, np.int64)
        self._mask = np.zeros(m, np.int8)
        self._lb = np.zeros((self._nmax, p + 1), np.float64)
        self._rhs = np.zeros(self._nmax, np.float64)
        self._sol = np.zeros(self._nmax, np.float64)
        self._lev = np.zeros((c, 2), np.float64)
        self._cnt = np.zeros((c, 2), np.int64)
        self._ist = np.full(c, -1, np.int64)
        self._stats = np.zeros(2, np.int64)
        self._scratch = np.zeros(2, np.int64)
        self._gain = np.array([self._target_gain()])
        self._gcoef = smooth_coef(self.spec("headroom_db").smoothing_ms, float(sr))
        self._lmax = self._lmax_samples()

    def _target_gain(self) -> float:
        return float(10.0 ** (self.v("headroom_db") / 20.0))

    def _lmax_samples(self) -> int:
        lm = round(self.v("max_run_ms") * 1e-3 * self.sample_rate)
        return int(min(max(lm, 2), self._lmax_cap))

    def _on_param(self, name: str, value: float) -> None:
        if name == "max_run_ms" and self.prepared:
            self._lmax = self._lmax_samples()

    def _reset_hop(self) -> None:
        self._buf[:] = 0.0
        self._mask[:] = 0
        self._lev[:] = 0.0
        self._cnt[:] = 0
        self._ist[:] = -1
        self._stats[:] = 0
        self._gain[0] = self._target_gain()

    def _hop_latency(self) -> int:
        return self._la

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        tol = 1.0 - 10.0 ** (-self.v("tolerance_db") / 20.0)
        declip_hop(x, out, self._buf, self._xs, self._win, self._wtmp, self._r, self._a,
                   self._atmp, self._ra, self._pos, self._sgn, self._upos, self._mask, self._lb,
                   self._rhs, self._sol, self._lev, self._cnt, self._ist, self._stats,
                   self._scratch, self._gain, self._p, self._na, self._la, self._lmax,
                   self._nmax, tol, float(self.v("clip_level")), CONFIRM_SAMPLES, 6,
                   self._target_gain(), self._gcoef, self.wnc, self.refits)

    @property
    def runs_repaired(self) -> int:
        """Clipped runs rebuilt since prepare/reset."""
        return int(self._stats[0]) if self.prepared else 0

    @property
    def runs_skipped(self) -> int:
        """Clipped runs left alone (longer than max_run_ms) since prepare/reset."""
        return int(self._stats[1]) if self.prepared else 0

    @property
    def clip_levels(self) -> np.ndarray:
        """(channels, 2) current positive/negative clip level (0 where none is established)."""
        if not self.prepared:
            return np.zeros((0, 2))
        if self.v("clip_level") > 0.0:
            return np.full((self.channels, 2), self.v("clip_level"))
        return np.where(self._cnt >= CONFIRM_SAMPLES, self._lev, 0.0)
