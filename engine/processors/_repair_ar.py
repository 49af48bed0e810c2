"""AR kernels for gap repair: two-sided AR fit, Janssen/LSAR interpolation of a span, and
forward/backward AR extrapolation with a cross-fade (Numba, no allocation: all scratch is passed
in).  The banded LSAR solve is DeClick's (:func:`..declick.lsar_solve`)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .declick import ar_coef_autocorr, levinson, lsar_solve

__all__ = ["ArScratch", "gap_order", "gap_context", "fill_lsar", "fill_extrap"]


def gap_order(length: int, sample_rate: int) -> int:
    """AR order for a gap of ``length`` samples: a quarter of the gap, 16..min(96, 2 ms)."""
    hi = max(16, min(96, int(0.002 * sample_rate)))
    return int(min(hi, max(16, length // 4)))


def gap_context(length: int, p: int, sample_rate: int) -> int:
    """Samples each side used to fit the model: 3x the gap, >= 4p and >= 10 ms, <= 100 ms."""
    return int(max(4 * p, int(0.01 * sample_rate), min(3 * length, int(0.1 * sample_rate))))


class ArScratch:
    """Preallocated work arrays for gaps of up to ``max_len`` samples and order ``max_p``."""

    def __init__(self, max_len: int, max_p: int) -> None:
        self.r = np.zeros(max_p + 1)
        self.a = np.zeros(max_p + 1)
        self.ab = np.zeros(max_p + 1)
        self.atmp = np.zeros(max_p + 1)
        self.ra = np.zeros(max_p + 1)
        self.pos = np.zeros(max_len, np.int64)
        self.lb = np.zeros((max_len, max_p + 1))
        self.rhs = np.zeros(max_len)
        self.sol = np.zeros(max_len)
        self.fw = np.zeros(max_len)
        self.bw = np.zeros(max_len)


@njit(cache=True, nogil=True)
def _autocorr_add(xb, start, n, p, r) -> None:
    """r[k] += autocorrelation (lag k) of the Hann-windowed xb[start:start+n] (clipped to xb)."""
    lo = max(0, start)
    hi = min(xb.shape[0], start + n)
    m = hi - lo
    if m <= p:
        return
    for k in range(p + 1):
        s = 0.0
        for i in range(m - k):
            w1 = 0.5 - 0.5 * math.cos(2.0 * math.pi * (i + 0.5) / m)
            w2 = 0.5 - 0.5 * math.cos(2.0 * math.pi * (i + k + 0.5) / m)
            s += xb[lo + i] * w1 * xb[lo + i + k] * w2
        r[k] += s


@njit(cache=True, nogil=True)
def _levinson(r, p, a, atmp, wnc) -> float:
    """Prediction-error filter a[0..p] from autocorrelation r (white-noise correction wnc)."""
    return levinson(r, p, a, atmp, wnc)


@njit(cache=True, nogil=True)
def fill_lsar(xb, mask, s, e, p, ctx, iters, r, a, atmp, ra, pos, lb, rhs, sol) -> bool:
    """Janssen interpolation of xb[s:e] in place: fit AR(p) on ctx samples each side, LSAR
    solve, then ``iters`` re-fits on the whole span (gap included) and re-solves.  ``mask``
    (same length as xb, zeros) is used as scratch and left zero.  Returns False if it failed
    (xb[s:e] then unchanged)."""
    n = e - s
    for k in range(p + 1):
        r[k] = 0.0
    _autocorr_add(xb, s - ctx, ctx, p, r)
    _autocorr_add(xb, e, ctx, p, r)
    _levinson(r, p, a, atmp, 1e-6)
    for i in range(n):
        pos[i] = s + i
        mask[s + i] = 1
    ok = True
    for it in range(iters + 1):
        if it > 0:
            for k in range(p + 1):
                r[k] = 0.0
            _autocorr_add(xb, s - ctx, e - s + 2 * ctx, p, r)
            _levinson(r, p, a, atmp, 1e-6)
        ar_coef_autocorr(a, p, ra)
        if not lsar_solve(xb, pos, n, ra, p, mask, lb, rhs, sol):
            ok = it > 0
            break
        for i in range(n):
            xb[s + i] = sol[i]
    for i in range(n):
        mask[s + i] = 0
    if not ok:
        for i in range(n):
            xb[s + i] = 0.0
    return ok


@njit(cache=True, nogil=True)
def fill_extrap(xb, s, e, p, ctx, r, a, ab, atmp, fw, bw) -> None:
    """Fill xb[s:e] by forward AR extrapolation of the left context and backward extrapolation
    of the right one, cross-faded with a raised cosine (weights on the predictions' sides)."""
    n = e - s
    size = xb.shape[0]
    for k in range(p + 1):
        r[k] = 0.0
    _autocorr_add(xb, s - ctx, ctx, p, r)
    _levinson(r, p, a, atmp, 1e-6)
    for k in range(p + 1):
        r[k] = 0.0
    _autocorr_add(xb, e, ctx, p, r)  # autocorrelation is time-symmetric: same filter backwards
    _levinson(r, p, ab, atmp, 1e-6)
    for i in range(n):
        acc = 0.0
        for k in range(1, p + 1):
            q = i - k
            if q >= 0:
                acc -= a[k] * fw[q]
            elif s + q >= 0:
                acc -= a[k] * xb[s + q]
        fw[i] = acc
    for i in range(n - 1, -1, -1):
        acc = 0.0
        for k in range(1, p + 1):
            q = i + k
            if q < n:
                acc -= ab[k] * bw[q]
            elif s + q < size:
                acc -= ab[k] * xb[s + q]
        bw[i] = acc
    for i in range(n):
        w = 0.5 + 0.5 * math.cos(math.pi * (i + 0.5) / n)
        xb[s + i] = w * fw[i] + (1.0 - w) * bw[i]
