"""De-click: removes clicks and crackle (vinyl, shellac 78s, digital glitches) by AR modelling.

Method (Vaseghi & Rayner; Godsill & Rayner, "Digital Audio Restoration", ch. 5):

1. Every hop (4 ms) an all-pole model of order p (20 at <= 30 kHz up to 32 at 48 kHz and above)
   is fitted per channel to the newest ~25 ms (Hann-windowed autocorrelation, Levinson-Durbin).
2. The signal is filtered by the prediction-error filter A(z) and then by A(1/z):
   ``eps = A(z)A(1/z) x / r_a(0)`` is the error of interpolating each sample from p neighbours on
   both sides (the matched filter for an impulse).  A sample is a click candidate when
   ``|eps| > threshold * sigma`` with sigma the robust scale (1.4826 * median |eps|) of the recent
   ~15 ms, and never below -50 dB re the signal's level.
3. When the hop about to leave holds a candidate, every candidate of the unrepaired stretch is
   first repaired in a scratch copy and the model refitted on it: the click does not shape the
   model that repairs it, and new material (a note onset) is already known to it.
4. The extent of each click is found by a likelihood test on the least-squares AR (LSAR)
   interpolation: starting at the strongest sample, a neighbour joins the span when making it
   unknown lowers the prediction-error energy by more than (4 sigma_e)^2 (sigma_e: innovation
   scale, local), and an edge sample is given back when restoring it costs less than that.  A
   span longer than ``max_click_ms`` (a transient, a scratch too long to bridge) is left alone.
   Do no harm (issue 22): a click is short and isolated, the music's own transients are not.
   A candidate is left alone when the residual right before or after it is about as large as
   its peak, or when it is an onset: from 2 ``max_click_ms`` after its start on the residual
   level (median, ~10 ms) or the signal level (median |x| or |x[n] - x[n-1]|, ~10 ms) stays
   above the level before it, or the high band within ~2 ms on either side (a hi-hat, a snare:
   bursts of several ms the detection only cuts a piece of) is above the floor before.  A
   candidate far above the residual next to it (``k_strong``) or whose correction dwarfs the
   signal around it (``k_amp``) is a click even on an onset.
5. The span is replaced by the LSAR interpolation (Janssen, Veldhuis & Vries 1986): the values
   minimising the prediction-error energy given the samples around.  The normal matrix is the
   band (width p) of the Toeplitz autocorrelation of the AR coefficients, solved by a banded
   Cholesky in O(n p^2).
6. Soft repair (issue 22; Godsill & Rayner ch. 5, the noisy-data model): dense crackle is
   smaller than the error of interpolating 10-20 samples of loud material, so replacing it
   (step 5) gains little there and can lose.  Instead each sample of the span (grown again with
   a lower likelihood threshold, and a margin of ~0.05 ms) carries a click of its own variance
   sigma_c,i^2, estimated from the data by a few EM iterations (sparse Bayesian learning), and
   the repair minimises ||A x||^2 / sigma_e^2 + sum_i (x_i - y_i)^2 / sigma_c,i^2: the same
   banded system with sigma_e^2 / sigma_c,i^2 added on the diagonal.  A small click is shrunk
   towards the observation, a sample with no click keeps its value, a large click is in effect
   replaced; a repair left within the interpolation's own error is a false alarm (the samples
   are kept).  A large click whose decaying tail was followed over more than 1 ms keeps the
   hard replacement.

Everything runs in fixed hops (``HopProcessor``), so the output does not depend on the host block
size.  A click can only be repaired once p samples after it are known, and its whole extent is
decided before it leaves: the look-ahead (``max(max_click_ms range) + 3p + ~0.1 ms``) is declared
as latency (hop - 1 + look-ahead: 487 samples, 10.1 ms, at 48 kHz).

The AR kernels here (fit, residuals, banded LSAR solve, median) are shared with DeClip.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..hop import HopProcessor
from ..params import Param
from ..processor import register

__all__ = ["DeClick"]

#: the longest click the look-ahead is sized for (top of the max_click_ms range)
MAX_CLICK_MS_LIMIT = 4.0
#: eps below this fraction of the signal's RMS is never a click (-50 dB)
REL_FLOOR = 10.0 ** (-50.0 / 20.0)


def ar_order(sample_rate: int) -> int:
    """AR model order used for a sample rate (20 at <= 30 kHz, up to 32 at 48 kHz and above)."""
    return int(min(32, max(20, round(sample_rate / 1500.0))))


# --------------------------------------------------------------------------- shared AR kernels
@njit(cache=True, nogil=True)
def ar_fit(xb, start, n, win, wtmp, p, r, a, atmp, wnc=1e-9) -> float:
    """Fit an AR(p) model to xb[start:start+n] (Hann window ``win`` of length n).

    ``wnc``: white-noise correction (r[0] is raised by this fraction: a noise floor that bounds
    the model's spectral dynamic range and regularises interpolation).
    Writes the prediction-error filter a[0..p] (a[0] = 1) and returns the prediction-error power
    of the windowed data (divide by sum(win^2) for the innovation variance); 0.0 (and a white
    model a = [1, 0, ...]) for a (near) silent window."""
    for i in range(n):
        wtmp[i] = xb[start + i] * win[i]
    for k in range(p + 1):
        s = 0.0
        for i in range(n - k):
            s += wtmp[i] * wtmp[i + k]
        r[k] = s
    if not (r[0] > 1e-20 * n):
        a[0] = 1.0
        for i in range(1, p + 1):
            a[i] = 0.0
        return 0.0
    # white-noise correction keeps the recursion well conditioned on pure tones
    return levinson(r, p, a, atmp, wnc)


@njit(cache=True, nogil=True)
def levinson(r, p, a, atmp, wnc) -> float:
    """Levinson-Durbin: the prediction-error filter a[0..p] (a[0] = 1) of autocorrelation r,
    with r[0] raised by the fraction ``wnc``; returns the prediction-error power (0.0 and a
    white model for a silent r).  Shared by DeClick, DeClip and the gap repair."""
    a[0] = 1.0
    for i in range(1, p + 1):
        a[i] = 0.0
    if not (r[0] > 1e-30):
        return 0.0
    r0 = r[0] * (1.0 + wnc)
    err = r0
    for i in range(1, p + 1):
        acc = r[i]
        for j in range(1, i):
            acc += a[j] * r[i - j]
        k = -acc / err
        if k >= 1.0 or k <= -1.0:
            break
        for j in range(1, i):
            atmp[j] = a[j] + k * a[i - j]
        for j in range(1, i):
            a[j] = atmp[j]
        a[i] = k
        err *= 1.0 - k * k
        if err <= r0 * 1e-14:
            break
    return err


@njit(cache=True, nogil=True)
def ar_coef_autocorr(a, p, ra) -> None:
    """ra[d] = sum_k a[k] a[k+d], d = 0..p (autocorrelation of the prediction-error filter)."""
    for d in range(p + 1):
        s = 0.0
        for k in range(p + 1 - d):
            s += a[k] * a[k + d]
        ra[d] = s


@njit(cache=True, nogil=True)
def forward_residual(xb, a, p, ef, lo, hi) -> None:
    """ef[n] = sum_i a[i] xb[n-i] for n in [lo, hi) (needs lo >= p)."""
    for n in range(lo, hi):
        s = 0.0
        for i in range(p + 1):
            s += a[i] * xb[n - i]
        ef[n] = s


@njit(cache=True, nogil=True)
def twosided_residual(ef, a, p, inv_ra0, eps, lo, hi) -> None:
    """eps[n] = sum_i a[i] ef[n+i] / ra[0] for n in [lo, hi) (needs ef up to hi+p-1)."""
    for n in range(lo, hi):
        s = 0.0
        for i in range(p + 1):
            s += a[i] * ef[n + i]
        eps[n] = s * inv_ra0


@njit(cache=True, nogil=True)
def select_inplace(v, n, kth) -> float:
    """The kth smallest of v[:n] (0-based) by quickselect (reorders v; middle pivot)."""
    if n <= 0:
        return 0.0
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = v[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while v[i] < pivot:
                i += 1
            while v[j] > pivot:
                j -= 1
            if i <= j:
                t = v[i]
                v[i] = v[j]
                v[j] = t
                i += 1
                j -= 1
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            break
    return v[kth]


@njit(cache=True, nogil=True)
def median_inplace(v, n) -> float:
    """Median of v[:n] by quickselect (reorders v; deterministic middle pivot)."""
    return select_inplace(v, n, n // 2)


@njit(cache=True, nogil=True)
def _band_factor(lb, ra, p, n, pos, lamv, soft) -> bool:
    """Banded Cholesky factor (into lb, row i holds L[i, i - d] at column d) of the normal
    matrix of the AR interpolation of the samples at pos[:n]: M_ij = ra(pos_i - pos_j) (0
    beyond lag p), its diagonal raised by 1e-9 ra(0) (regularisation) and, with ``soft``, by
    lamv[i] (the noisy-data model's sigma_e^2 / sigma_c,i^2).  False if M is not positive."""
    dg = 1e-9 * ra[0] + 1e-30
    for i in range(n):
        j0 = i - p
        j0 = max(j0, 0)
        for j in range(j0, i + 1):
            dp = pos[i] - pos[j]
            m = ra[dp] if dp <= p else 0.0
            if i == j:
                m += dg
                if soft:
                    m += lamv[i]
            s = m
            for k in range(j0, j):
                s -= lb[i, i - k] * lb[j, j - k]
            if i == j:
                if not (s > 1e-300):
                    return False
                lb[i, 0] = math.sqrt(s)
            else:
                lb[i, i - j] = s / lb[j, 0]
    return True


@njit(cache=True, nogil=True)
def _banded_substitute(lb, rhs, sol, n, p) -> bool:
    """Forward and back substitution with the banded Cholesky factor lb (row i holds
    L[i, i - d] at column d, d = 0..p): sol = (L L^T)^-1 rhs.  False when the result is not
    finite."""
    for i in range(n):
        s = rhs[i]
        k0 = i - p
        k0 = max(k0, 0)
        for k in range(k0, i):
            s -= lb[i, i - k] * sol[k]
        sol[i] = s / lb[i, 0]
    for i in range(n - 1, -1, -1):
        s = sol[i]
        k1 = i + p + 1
        k1 = min(k1, n)
        for k in range(i + 1, k1):
            s -= lb[k, k - i] * sol[k]
        sol[i] = s / lb[i, 0]
    for i in range(n):
        if not np.isfinite(sol[i]):
            return False
    return True


@njit(cache=True, nogil=True)
def lsar_solve(xb, pos, n, ra, p, mask, lb, rhs, sol) -> bool:
    """Least-squares AR interpolation of the samples xb[pos[:n]] (mask[pos] == 1 marks unknowns).

    Solves sum_{j in U} ra(i-j) x_j = -sum_{j not in U} ra(i-j) x_j by banded Cholesky
    (lb: (>=n, p+1) scratch).  The solution is left in sol[:n]; returns False if it failed."""
    size = xb.shape[0]
    for i in range(n):
        pi = pos[i]
        s = 0.0
        for d in range(-p, p + 1):
            q = pi + d
            if q < 0 or q >= size or mask[q] != 0:
                continue
            s -= ra[abs(d)] * xb[q]
        rhs[i] = s
    if not _band_factor(lb, ra, p, n, pos, rhs, False):
        return False
    return _banded_substitute(lb, rhs, sol, n, p)


@njit(cache=True, nogil=True)
def shift_in(buf, hop, h) -> None:
    """Shift every channel of buf (C, M) left by h and append hop (C, h)."""
    c, m = buf.shape
    for ch in range(c):
        for i in range(m - h):
            buf[ch, i] = buf[ch, i + h]
        for i in range(h):
            buf[ch, m - h + i] = hop[ch, i]


# --------------------------------------------------------------------------- de-click kernel
@njit(cache=True, nogil=True)
def _cluster_end(eps, start, lim, thr, g):
    """From a trigger at ``start`` follow triggers separated by <= g samples.

    Returns (last trigger, closed) where closed means g quiet samples were seen after it."""
    c1 = start
    m = start + 1
    while m < lim and m - c1 <= g:
        if abs(eps[m]) > thr:
            c1 = m
        m += 1
    return c1, (m - c1 > g)


@njit(cache=True, nogil=True)
def _refresh(xb, a, p, inv_ra0, ef, eps, lo, hi, s0, lim, m_len) -> None:
    """Recompute ef and eps after xb[lo:hi] changed."""
    hf = hi + p
    hf = min(hf, m_len)
    forward_residual(xb, a, p, ef, lo, hf)
    le = lo - p
    le = max(le, s0)
    he = hi + p
    he = min(he, lim)
    twosided_residual(ef, a, p, inv_ra0, eps, le, he)


@njit(cache=True, nogil=True)
def _fwd_at(xb, a, p, q) -> float:
    s = 0.0
    for i in range(p + 1):
        s += a[i] * xb[q - i]
    return s


@njit(cache=True, nogil=True)
def _solve_span(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol) -> bool:
    """LSAR-interpolate the contiguous span xb[u0..u1] in place (Cholesky factor left in lb)."""
    nu = u1 - u0 + 1
    for i in range(nu):
        pos[i] = u0 + i
        mask[u0 + i] = 1
    ok = lsar_solve(xb, pos, nu, ra, p, mask, lb, rhs, sol)
    for i in range(nu):
        mask[u0 + i] = 0
    if ok:
        for i in range(nu):
            xb[u0 + i] = sol[i]
    return ok


@njit(cache=True, nogil=True)
def _solve_span_soft(xb, u0, u1, ra, p, lamv, obs, pos, lb, rhs, sol) -> bool:
    """Noisy-data interpolation of xb[u0..u1] in place (Godsill & Rayner ch. 5): the click has a
    finite variance sigma_c^2, so the values minimise ||A x||^2 + lam sum (x_i - obs_i)^2 with
    lamv[i] = sigma_e^2 / sigma_c,i^2 (obs[i]: the observed value of xb[u0 + i]).  lam = 0 is the
    least-squares AR interpolation (hard replacement); a small click (lam large) is shrunk
    towards the observation instead of replaced.  The band Cholesky factor is left in lb."""
    size = xb.shape[0]
    n = u1 - u0 + 1
    for i in range(n):
        pi = u0 + i
        s = lamv[i] * obs[i]
        for d in range(-p, p + 1):
            q = pi + d
            if q < 0 or q >= size or (u0 <= q <= u1):
                continue
            s -= ra[abs(d)] * xb[q]
        rhs[i] = s
    for i in range(n):
        pos[i] = u0 + i
    if not _band_factor(lb, ra, p, n, pos, lamv, True):
        return False
    if not _banded_substitute(lb, rhs, sol, n, p):
        return False
    for i in range(n):
        xb[u0 + i] = sol[i]
    return True


@njit(cache=True, nogil=True)
def _inv_diag_at(lb, p, n, wv, c) -> float:
    """[M^-1]_cc from the band Cholesky factor L of M: |L^-1 e_c|^2 (solve L z = e_c; z is 0
    above row c)."""
    ss = 0.0
    for i in range(c, n):
        bi = 1.0 if i == c else 0.0
        k0 = i - p
        k0 = max(k0, c)
        for k in range(k0, i):
            bi -= lb[i, i - k] * wv[k]
        z = bi / lb[i, 0]
        wv[i] = z
        ss += z * z
    return ss


@njit(cache=True, nogil=True)
def _inv_diag(lb, p, n, wv, dg) -> None:
    """The diagonal of M^-1 (into dg[:n]) from the band Cholesky factor L of M:
    [M^-1]_cc = |L^-1 e_c|^2."""
    for c in range(n):
        dg[c] = _inv_diag_at(lb, p, n, wv, c)


@njit(cache=True, nogil=True)
def _soft_fix(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol, orig, sv0, wv, se, k_soft, n_it,
              sfb, k_sig) -> bool:
    """Soft repair of xb[u0..u1] (issue 22; Godsill & Rayner ch. 5, the noisy-data model):
    each sample carries a click of its own variance sigma_c,i^2, estimated from the data by EM
    (sparse Bayesian learning): starting from the square of the hard (LSAR) correction less the
    interpolation's own error variance (sigma_e^2 [M^-1]_ii, times k_soft), each iteration sets
    sigma_c,i^2 to the posterior mean square of the click at i.  A large click keeps what is
    in effect the hard replacement (sigma_c^2 >> the interpolation error); a small one (dense
    crackle on loud material) is shrunk towards the observation instead of being replaced by
    an interpolation that errs by more than the click; a sample that is no click falls back
    to its observed value.  Scratch rows of sfb: 0 the observed values, 2 the weights
    lam_i = sigma_e^2 / sigma_c,i^2 of the final solve (kept for a re-solve), 4 the diagonal
    of M^-1, 5 sigma_c,i^2."""
    nu = u1 - u0 + 1
    se2 = se * se
    for i in range(nu):
        sfb[0, i] = orig[u0 + i - sv0]
        sfb[2, i] = 0.0
    if not _solve_span(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol):
        for q in range(u0, u1 + 1):
            xb[q] = orig[q - sv0]
        return False
    _inv_diag(lb, p, nu, wv, sfb[4])
    vi = 0.0
    for i in range(nu):
        v = sfb[0, i] - xb[u0 + i]
        sfb[5, i] = max(v * v - se2 * sfb[4, i], 0.0) * k_soft
        vi += se2 * sfb[4, i]
    for it in range(n_it + 1):
        for i in range(nu):
            sfb[2, i] = se2 / max(sfb[5, i], 1e-12 * se2)
        if not _solve_span_soft(xb, u0, u1, ra, p, sfb[2], sfb[0], pos, lb, rhs, sol):
            # (not solvable: the hard replacement)
            for i in range(nu):
                sfb[2, i] = 0.0
            _solve_span(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol)
            return True
        if it == n_it:
            break
        _inv_diag(lb, p, nu, wv, sfb[4])
        for i in range(nu):
            v = sfb[0, i] - xb[u0 + i]
            sfb[5, i] = v * v + se2 * sfb[4, i]
    cor = 0.0
    for i in range(nu):
        v = sfb[0, i] - xb[u0 + i]
        cor += v * v
    if cor < k_sig * vi:
        # the correction left is within the interpolation's own error: no click after all
        for i in range(nu):
            xb[u0 + i] = sfb[0, i]
            sfb[2, i] = 0.0
        return False
    return True


@njit(cache=True, nogil=True)
def _gain_add(xb, ra, p, lb, wv, u0, u1, q) -> float:
    """Drop of the prediction-error energy if sample q (outside the solved span u0..u1) were
    made unknown too: g_q^2 / (r_a(0) - r_qS R_SS^-1 r_Sq) with g_q = (R x)_q."""
    gq = 0.0
    for d in range(-p, p + 1):
        gq += ra[abs(d)] * xb[q + d]
    n = u1 - u0 + 1
    if q > u1:
        i0 = q - p - u0
        i0 = max(i0, 0)
    else:
        i0 = 0
    ss = 0.0
    for i in range(i0, n):
        dd = q - (u0 + i)
        if dd < 0:
            dd = -dd
        bi = ra[dd] if dd <= p else 0.0
        k0 = i - p
        k0 = max(k0, i0)
        for k in range(k0, i):
            bi -= lb[i, i - k] * wv[k]
        w = bi / lb[i, 0]
        wv[i] = w
        ss += w * w
    schur = ra[0] * (1.0 + 1e-9) - ss
    schur = max(schur, 1e-12 * ra[0])
    return gq * gq / schur


@njit(cache=True, nogil=True)
def _inv_diag_first(lb, p, n, wv) -> float:
    """[M^-1]_00 from the band Cholesky factor (solve L z = e_0)."""
    return _inv_diag_at(lb, p, n, wv, 0)


@njit(cache=True, nogil=True)
def _regrow(xb, ra, p, pos, mask, lb, rhs, sol, wv, orig, sv0, sv1, u0, u1, lo_min, hi_max,
            gl, lmax, lim_add, lim_rm):
    """Grow the repaired span [u0, u1] by the likelihood test with the (lower) bound lim_add,
    then give back edge samples costing less than lim_rm (as in _repair_cluster).  Used for
    the soft repair only, once the click is accepted: a soft repair of a clean sample costs
    little, a click's edge left out costs its energy.  Returns the new span (solved in place),
    or the old one when a solve fails."""
    v0 = u0
    v1 = u1
    for _it in range(64):
        if not _solve_span(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol):
            break
        n1 = u1
        q1 = min(u1 + gl, hi_max, sv1 - 1)
        for q in range(u1 + 1, q1 + 1):
            if _gain_add(xb, ra, p, lb, wv, u0, u1, q) > lim_add:
                n1 = q
        n0 = u0
        q0 = max(u0 - gl, lo_min, sv0)
        for q in range(u0 - 1, q0 - 1, -1):
            if _gain_add(xb, ra, p, lb, wv, u0, u1, q) > lim_add:
                n0 = q
        if (n0 == u0 and n1 == u1) or n1 - n0 + 1 > lmax:
            break
        for q in range(n0, u0):
            xb[q] = orig[q - sv0]
        for q in range(u1 + 1, n1 + 1):
            xb[q] = orig[q - sv0]
        u0 = n0
        u1 = n1
    for _it in range(64):
        if not _solve_span(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol):
            break
        n = u1 - u0 + 1
        d1 = orig[u1 - sv0] - xb[u1]
        rm1 = u1 > v1 and d1 * d1 * lb[n - 1, 0] * lb[n - 1, 0] < lim_rm
        rm0 = False
        if u0 < v0:
            d0 = orig[u0 - sv0] - xb[u0]
            rm0 = d0 * d0 / _inv_diag_first(lb, p, n, wv) < lim_rm
        if not (rm0 or rm1):
            return u0, u1
        if rm1:
            xb[u1] = orig[u1 - sv0]
            u1 -= 1
        if rm0:
            xb[u0] = orig[u0 - sv0]
            u0 += 1
    for q in range(u0, u1 + 1):
        if q < v0 or q > v1:
            xb[q] = orig[q - sv0]
    _solve_span(xb, v0, v1, ra, p, pos, mask, lb, rhs, sol)
    return v0, v1


@njit(cache=True, nogil=True)
def _span_energy(xb, a, p, lo, hi) -> float:
    """Forward prediction-error energy sum_{n=lo}^{hi} e[n]^2."""
    s = 0.0
    for q in range(lo, hi + 1):
        v = _fwd_at(xb, a, p, q)
        s += v * v
    return s


@njit(cache=True, nogil=True)
def _grow_chunks(xb, a, p, ra, pos, mask, lb, rhs, sol, orig, sv0, sv1, lo_min, hi_max, u0, u1,
                 lmax, k, se2, t_chunk):
    """Extend the repaired span [u0, u1] by chunks of k samples (right, then left) while making
    a chunk unknown lowers the prediction-error energy by more than a chi-square bound
    (k + t_chunk sqrt(2k)) se2.  A click's smooth decaying tail is predictable sample by
    sample, so the one-sample test stops at its first samples; jointly, the tail is not."""
    for side in range(2):
        for _it in range(256):
            if side == 0:
                n0 = u0
                n1 = min(u1 + k, hi_max, sv1 - 1)
            else:
                n0 = max(u0 - k, lo_min, sv0)
                n1 = u1
            kk = (n1 - n0) - (u1 - u0)
            if kk <= 0 or n1 - n0 + 1 > lmax:
                break
            e_old = _span_energy(xb, a, p, n0, n1 + p)
            ok = _solve_span(xb, n0, n1, ra, p, pos, mask, lb, rhs, sol)
            e_new = _span_energy(xb, a, p, n0, n1 + p) if ok else e_old
            if ok and e_old - e_new > (kk + t_chunk * math.sqrt(2.0 * kk)) * se2:
                u0 = n0
                u1 = n1
                continue
            for q in range(n0, n1 + 1):
                if q < u0 or q > u1:
                    xb[q] = orig[q - sv0]
            _solve_span(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol)
            break
    return u0, u1


@njit(cache=True, nogil=True)
def _repair_cluster(xb, ad, p, inv_ra0, ef, eps, ai, ra, pos, mask, lb, rhs, sol, orig, wv, c0,
                    c1, lo_min, s0, lim, m_len, lmax, gl, sig_e, t_add, t_rm, nloc, kch, peak,
                    threshold, absb, wloc, k_tail, k_side, wlong, k_persist, k_env, wnear, k_near, k_strong, k_amp, sfb, sfp):
    """Find the extent of the click behind the eps cluster [c0, c1] and repair it.

    ad/ef/eps: the detection model and its residuals (refreshed here after a change);
    ai/ra: the interpolation model (fitted to clean past samples) and its coefficient
    autocorrelation.

    The span starts at the strongest sample and is grown, then trimmed, by a likelihood test:
    a sample joins when making it unknown lowers the prediction-error energy of the LSAR solution
    by more than (t_add sigma_e)^2 (a clean sample lowers it by ~sigma_e^2), and an edge sample
    is given back when fixing it to its observed value raises the energy by less than
    (t_rm sigma_e)^2.  Returns (start, one past the end) of the repaired span, (-1, end) when
    nothing needed repair, (-2, end) when the residual next to the span is about as large as
    the click (rejected: the music's own transient), or (0, 0) when the click was left alone (longer than lmax or
    unsolvable; the samples are restored)."""
    pk = c0
    best = 0.0
    for q in range(c0, c1 + 1):
        v = abs(eps[q])
        if v > best:
            best = v
            pk = q
    hi_max = m_len - p - 1
    if pk < lo_min or pk > hi_max:
        return 0, 0
    sv0 = pk - lmax - gl
    sv0 = max(sv0, lo_min)
    sv1 = pk + lmax + gl + 1
    sv1 = min(sv1, hi_max + 1)
    for q in range(sv0, sv1):
        orig[q - sv0] = xb[q]
    # local innovation scale just before the cluster (ef there does not see the click yet;
    # loud passages have a larger one than the window's median)
    se = sig_e
    hi_l = c0 - 2
    lo_l = hi_l - nloc
    lo_l = max(lo_l, p)
    if hi_l > lo_l:
        acc = 0.0
        for q in range(lo_l, hi_l):
            v = _fwd_at(xb, ai, p, q)
            acc += v * v
        sl = math.sqrt(acc / (hi_l - lo_l))
        se = max(se, sl)
    lim_add = t_add * t_add * se * se
    lim_rm = t_rm * t_rm * se * se
    u0 = pk
    u1 = pk
    ok = False
    grown = False
    for _it in range(64):
        if u1 - u0 + 1 > lmax:
            break
        ok = _solve_span(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol)
        if not ok:
            break
        n1 = u1
        q1 = u1 + gl
        q1 = min(q1, hi_max)
        for q in range(u1 + 1, q1 + 1):
            if _gain_add(xb, ra, p, lb, wv, u0, u1, q) > lim_add:
                n1 = q
        n0 = u0
        q0 = u0 - gl
        q0 = max(q0, lo_min)
        for q in range(u0 - 1, q0 - 1, -1):
            if _gain_add(xb, ra, p, lb, wv, u0, u1, q) > lim_add:
                n0 = q
        if n0 == u0 and n1 == u1:
            grown = True
            break
        for q in range(n0, u0):
            xb[q] = orig[q - sv0]
        for q in range(u1 + 1, n1 + 1):
            xb[q] = orig[q - sv0]
        u0 = n0
        u1 = n1
    if not (ok and grown):
        for q in range(sv0, sv1):
            xb[q] = orig[q - sv0]
        _refresh(xb, ad, p, inv_ra0, ef, eps, sv0, sv1, s0, lim, m_len)
        return 0, 0
    a0 = u0
    a1 = u1
    for _it in range(64):
        n = u1 - u0 + 1
        d1 = orig[u1 - sv0] - xb[u1]
        rm1 = d1 * d1 * lb[n - 1, 0] * lb[n - 1, 0] < lim_rm
        rm0 = False
        if n > 1:
            d0 = orig[u0 - sv0] - xb[u0]
            rm0 = d0 * d0 / _inv_diag_first(lb, p, n, wv) < lim_rm
        if not (rm0 or rm1):
            break
        if rm1:
            xb[u1] = orig[u1 - sv0]
            u1 -= 1
        if rm0:
            xb[u0] = orig[u0 - sv0]
            u0 += 1
        if u1 < u0:
            break
        if not _solve_span(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol):
            for q in range(u0, u1 + 1):
                xb[q] = orig[q - sv0]
            u1 = u0 - 1
            break
    side = _side_level(eps, absb, u0, u1, p, wloc, s0, lim) if u1 >= u0 else 0.0
    if u1 >= u0 and peak <= k_side * side:
        # the residual just before or just after the span (outside its reach: eps there is the
        # observed signal's) is about as large: a note onset or the music's own transient
        # density, not a click
        for q in range(sv0, sv1):
            xb[q] = orig[q - sv0]
        _refresh(xb, ad, p, inv_ra0, ef, eps, sv0, sv1, s0, lim, m_len)
        return -2, u1 + 1
    # what follows is looked at from 2 max_click_ms after the click's start on: a click's own
    # decaying tail (beyond the repaired span) is not the music's
    af = max(u1 + 1, u0 + 2 * lmax) + gl
    cor = _correction(xb, orig, sv0, u0, u1) if u1 >= u0 else 0.0
    wim = (wnear + 2) // 3
    # the signal ~2 ms around: for a span of a few samples from 2 max_click_ms on, for a longer
    # one from its end on (a drum's attack carries on right after the part taken for a click)
    a_amp = af if u1 - u0 + 1 <= 2 * gl + 1 else u1 + 1 + gl
    # a long span (the loud start of a short noise burst: a tick, a shaker) needs a larger
    # margin over its surroundings than a spike of a few samples to count as a click
    ka = k_amp if u1 - u0 + 1 <= sfp[8] else sfp[9]
    if u1 >= u0 and k_persist > 0.0 and peak < k_strong * side and (
            cor < ka * _x_peak(xb, u0 - wnear, u0, a_amp, af + wnear)) and (
            cor < 2.0 * ka * _x_peak(xb, u0 - wim, u0, u1 + 1, u1 + 1 + wim)):
        # (a candidate far above the residual next to it, or whose correction dwarfs the
        # signal around it, ~2 ms or right next to it, is a click even on an onset)
        # a click is an isolated burst: past its reach the residual is back at its floor.  A
        # drum hit, a pluck or a plosive is an onset: the residual after it stays well above
        # the floor before it (medians over ~10 ms: robust to the odd crackle on either side)
        fb = _robust_level(eps, absb, u0 - p - wlong, u0 - p, s0, lim)
        fa = _robust_level(eps, absb, af + p, af + p + wlong, s0, lim)
        onset = fb > 0.0 and fa > k_persist * fb
        if not onset:
            # the signal itself: a click leaves the level after it where it was before it; an
            # onset raises it (and keeps it up).  Medians of |x| and of |x[n] - x[n-1]| (the
            # high band, where a hi-hat's or a snare's onset lives) over ~10 ms each side
            for dif in range(2):
                lb_ = _x_level(xb, absb, u0 - wlong, u0, dif)
                la_ = _x_level(xb, absb, af, af + wlong, dif)
                if lb_ >= 0.0 and la_ > k_env * lb_:
                    onset = True
        if not onset and k_near > 0.0:
            # a click is isolated: right next to it (both sides, ~2 ms) the high band is at the
            # floor of the ~10 ms before; a hi-hat or a snare is a burst of several ms that the
            # detection only cuts a piece of
            fl = _x_level(xb, absb, u0 - wnear - wlong, u0 - wnear, 1, 4)
            nb = _x_level(xb, absb, u0 - wnear, u0, 1, 4)
            na_ = _x_level(xb, absb, af, af + wnear, 1, 4)
            if fl >= 0.0 and max(nb, na_) > k_near * fl:
                onset = True
        if onset:
            for q in range(sv0, sv1):
                xb[q] = orig[q - sv0]
            _refresh(xb, ad, p, inv_ra0, ef, eps, sv0, sv1, s0, lim, m_len)
            return -2, u1 + 1
    large = peak > k_tail * threshold * side
    if u1 >= u0 and kch > 0 and large:
        # a large click: follow its decaying tail (small crackle has none worth the risk)
        u0, u1 = _grow_chunks(xb, ai, p, ra, pos, mask, lb, rhs, sol, orig, sv0, sv1, lo_min,
                              hi_max, u0, u1, lmax, kch, se * se, t_add)
        a0 = min(a0, u0)
        a1 = max(a1, u1)
    if u1 >= u0:
        # safety: an interpolation far outside the envelope of its surroundings is a model that
        # does not fit (not a click we can repair): leave it
        env = 0.0
        for q in range(u0 - p, u1 + p + 1):
            if (q < u0 or q > u1) and abs(xb[q]) > env:
                env = abs(xb[q])
        big = False
        for q in range(u0, u1 + 1):
            if abs(xb[q]) > 2.0 * env + 1e-9:
                big = True
        if big:
            for q in range(sv0, sv1):
                xb[q] = orig[q - sv0]
            _refresh(xb, ad, p, inv_ra0, ef, eps, sv0, sv1, s0, lim, m_len)
            return 0, 0
    for i in range(sfb.shape[1]):
        sfb[2, i] = 0.0
    if u1 >= u0 and sfp[0] > 0.0 and (not large or u1 - u0 + 1 <= sfp[5]):
        # soft repair (issue 22), but for a large click whose followed tail is longer than
        # sfp[5] (hard replacement).  A small click's span is grown again with the lower
        # threshold sfp[4]; a margin of sfp[2] samples on either side (the edges the
        # likelihood test left out).  A large click's correction is always kept (the check
        # against the interpolation error, sfp[3], is for small ones: false alarms)
        if sfp[4] > 0.0 and not large:
            u0, u1 = _regrow(xb, ra, p, pos, mask, lb, rhs, sol, wv, orig, sv0, sv1, u0, u1,
                             lo_min, hi_max, gl, lmax, sfp[4] * sfp[4] * se * se, lim_rm)
        mg = int(sfp[2])
        u0 = max(u0 - mg, sv0, lo_min)
        u1 = min(u1 + mg, sv1 - 1, hi_max)
        a0 = min(a0, u0)
        a1 = max(a1, u1)
        if not _soft_fix(xb, u0, u1, ra, p, pos, mask, lb, rhs, sol, orig, sv0, wv, se, sfp[0],
                         int(sfp[1]), sfb, sfp[7] if large else sfp[3]):
            u1 = u0 - 1
    _refresh(xb, ad, p, inv_ra0, ef, eps, a0, a1 + 1, s0, lim, m_len)
    if u1 < u0:
        return -1, a1 + 1  # nothing to repair after all: a false alarm, the signal is intact
    for q in range(u0, u1 + 1):
        sfb[0, q - u0] = orig[q - sv0]
    return u0, u1 + 1


@njit(cache=True, nogil=True)
def _robust_level(eps, absb, lo, hi, s_lo, lim) -> float:
    """Robust residual scale 1.4826 median |eps[lo:hi]| (clipped to [s_lo, lim)); -1.0 when
    fewer than 32 samples are available."""
    lo = max(lo, s_lo)
    hi = min(hi, lim)
    m = hi - lo
    if m < 32:
        return -1.0
    for i in range(m):
        absb[i] = abs(eps[lo + i])
    return 1.4826 * median_inplace(absb, m)


@njit(cache=True, nogil=True)
def _x_level(xb, absb, lo, hi, dif, qk=2) -> float:
    """The 1/qk quantile (median: qk = 2) of |xb[lo:hi]| (dif = 0) or of |xb[n] - xb[n-1]|
    (dif = 1); -1.0 when fewer than 32 samples are available."""
    lo = max(lo, 1)
    hi = min(hi, xb.shape[0])
    m = hi - lo
    if m < 32:
        return -1.0
    for i in range(m):
        v = xb[lo + i]
        if dif == 1:
            v -= xb[lo + i - 1]
        absb[i] = abs(v)
    return select_inplace(absb, m, m // qk)


@njit(cache=True, nogil=True)
def _correction(xb, orig, sv0, u0, u1) -> float:
    """Largest change the repair of xb[u0..u1] makes (orig: the observed samples from sv0)."""
    d = 0.0
    for q in range(u0, u1 + 1):
        d = max(d, abs(orig[q - sv0] - xb[q]))
    return d


@njit(cache=True, nogil=True)
def _x_peak(xb, lo0, hi0, lo1, hi1) -> float:
    """max |xb| over [lo0, hi0) and [lo1, hi1) (clipped to the buffer)."""
    m = xb.shape[0]
    v = 0.0
    for q in range(max(lo0, 0), min(hi0, m)):
        v = max(v, abs(xb[q]))
    for q in range(max(lo1, 0), min(hi1, m)):
        v = max(v, abs(xb[q]))
    return v


@njit(cache=True, nogil=True)
def _side_level(eps, absb, c0, c1, p, w, s_lo, lim) -> float:
    """Robust residual scale (1.4826 median |eps|) just before the span [c0, c1] and just after
    it (w samples each, p samples of side lobes left out); the larger of the two.

    A click stands out from both sides; a note onset or a dense run of the music's own
    transients is matched by the residual level on at least one side."""
    lvl = 0.0
    for side in range(2):
        if side == 0:
            hi = c0 - p
            lo = hi - w
            lo = max(lo, s_lo)
        else:
            lo = c1 + p + 1
            hi = lo + w
            hi = min(hi, lim)
        m = hi - lo
        if m < 8:
            continue
        for i in range(m):
            absb[i] = abs(eps[lo + i])
        lvl = max(lvl, 1.4826 * median_inplace(absb, m))
    return lvl


@njit(cache=True, nogil=True)
def _scan_repair(xb, a, p, ra, inv_ra0, ef, eps, pos, mask, lb, rhs, sol, orig, wv, n_first,
                 n_end, d_start, s_lo, lim, m_len, lmax, g, gl, thr, sig_e, t_add, t_rm,
                 k_shadow, nloc, busy, skipping, stats, absb, threshold, wloc, kch,
                 k_tail, k_side, wlong, k_persist, k_env, wnear, k_near, k_strong, k_amp, sfb, sfp):
    """Find and repair the clicks that start in [n_first, n_end) (model a for detection and
    interpolation).  Returns the updated (busy, skipping) state; counts into stats."""
    span_max = lmax + 2 * p         # eps side lobes reach p samples each side of a click
    n = n_first
    sh0 = 0
    sh1 = -1
    shadow_thr = 0.0
    nrep = 0
    pv0 = 0
    pv1 = 0
    while n < n_end:
        v = abs(eps[n])
        if v <= thr or (sh0 <= n <= sh1 and v <= shadow_thr):
            # (next to a repair eps carries the repair's own interpolation error: only what
            # is a sizeable part of the repaired click counts there)
            n += 1
            continue
        if skipping == 1 and n - busy <= g:
            busy = n  # the long event goes on
            n += 1
            continue
        skipping = 0
        c1, closed = _cluster_end(eps, n, lim, thr, g)
        if (not closed) or c1 - n + 1 > span_max or nrep >= 256:
            stats[1] += 1
            busy = c1
            skipping = 1
            n = c1 + 1
            continue
        # the strongest sample within p after the cluster start is the click itself (the
        # first triggers may be side lobes of eps ahead of it)
        hi_pk = c1 + p
        hi_pk = min(hi_pk, lim - 1)
        peak = 0.0
        for q in range(n, hi_pk + 1):
            peak = max(peak, abs(eps[q]))
        u0, end = _repair_cluster(xb, a, p, inv_ra0, ef, eps, a, ra, pos, mask, lb, rhs, sol,
                                  orig, wv, n, hi_pk, d_start, s_lo, lim, m_len, lmax, gl,
                                  sig_e, t_add, t_rm, nloc, kch, peak, threshold, absb, wloc,
                                  k_tail, k_side, wlong, k_persist, k_env, wnear, k_near, k_strong, k_amp,
                                  sfb, sfp)
        nrep += 1
        if u0 == -2:
            # the residual next to it is about as large: the music's own transients
            stats[2] += 1
            busy = max(busy, end - 1)
            n = end
        elif u0 < 0:
            # a false alarm: nothing changed
            busy = max(busy, end - 1)
            n = end
        elif end > 0:
            # (a soft repair can leave the residual of a click over the threshold: a repair
            # overlapping the one before is the same click, repaired again, not another one)
            again = pv1 > pv0 and u0 < pv1 and end > pv0
            if not again:
                stats[0] += 1
            if pv1 > pv0 and pv1 <= u0 and u0 - pv1 < p:
                # the click before this one was rebuilt with this one still in its right-hand
                # context: solve it again, then this one with the better left-hand context
                # (soft repairs again with their own lam and observed values)
                if _solve_span_soft(xb, pv0, pv1 - 1, ra, p, sfb[3], sfb[1], pos, lb, rhs, sol):
                    _solve_span_soft(xb, u0, end - 1, ra, p, sfb[2], sfb[0], pos, lb, rhs, sol)
                _refresh(xb, a, p, inv_ra0, ef, eps, pv0, end, s_lo, lim, m_len)
            pv0 = u0
            pv1 = end
            for i in range(end - u0):
                sfb[1, i] = sfb[0, i]
                sfb[3, i] = sfb[2, i]
            sh0 = u0 - p
            sh1 = end - 1 + p
            shadow_thr = k_shadow * peak
            for i in range(end - u0):
                if sfb[2, i] > 0.0:
                    # a soft repair leaves part of a small click in the residual: only more
                    # than the click itself triggers again there
                    shadow_thr = max(shadow_thr, sfp[6] * peak)
                    break
            if u0 <= n or again:
                busy = max(busy, end - 1)
                n = end
            # else: rescan from n (what was ahead of the repaired click was its side lobes
            # and is gone now, or is another click)
        else:
            stats[1] += 1
            busy = c1
            skipping = 1
            n = c1 + 1
    return busy, skipping


@njit(cache=True, nogil=True)
def _model(xb, w0, na, win, wtmp, p, r, a, atmp, ra, ef, eps, absb, s_lo, lim, m_len, threshold,
           rel_floor, wnc):
    """Fit the AR model on xb[w0:w0+na]; residuals from s_lo on; detection threshold on eps and
    the innovation scale.  Returns (inv_ra0, thr, sig_e)."""
    err = ar_fit(xb, w0, na, win, wtmp, p, r, a, atmp, wnc)
    rms = math.sqrt(r[0] / (0.375 * na))
    ar_coef_autocorr(a, p, ra)
    inv_ra0 = 1.0 / ra[0]
    forward_residual(xb, a, p, ef, s_lo, m_len)
    twosided_residual(ef, a, p, inv_ra0, eps, s_lo, lim)
    nm = lim - s_lo
    for i in range(nm):
        absb[i] = abs(eps[s_lo + i])
    thr = threshold * 1.4826 * median_inplace(absb, nm)
    # below -50 dB re the signal level a "click" is numerical dust (oversampled, band-limited
    # material whitens down to its quantisation noise)
    thr = max(thr, rel_floor * rms + 1e-9)
    sig_e = math.sqrt(err / (0.375 * na))
    sig_e = max(sig_e, 1e-7 * rms + 1e-12)
    return inv_ra0, thr, sig_e


@njit(cache=True, nogil=True)
def declick_hop(hop_in, hop_out, buf, xs, ef, eps, absb, win, wtmp, r, a, atmp, ra, pos, mask,
                orig, wv, lb, rhs, sol, ist, stats, scratch_stats, p, na, la, lmax, g, gl,
                threshold, rel_floor, t_add, t_rm, k_shadow, nloc, wnc, wloc, kch,
                k_tail, k_side, wlong, k_persist, k_env, wnear, k_near, k_strong, k_amp,
                sfb, sfp) -> None:
    """One hop of the de-clicker for every channel.

    buf (C, M): input history (float64, repaired in place).  The hop written out is
    D = buf[:, M-la-h : M-la].  The AR model is fitted to the newest na samples (it knows the
    material being examined, so a new note is no "click").  When D holds a candidate, the
    candidates of the whole unrepaired stretch are first repaired in a scratch copy, the model
    is refitted on that cleaned copy (so no click shapes the model that repairs it) and the real
    pass runs with it.  ist[ch, 0]: last buffer index already handled, ist[ch, 1]: 1 while
    following a long event that is left alone.  stats[0]: repaired clicks, stats[1]: events left
    alone."""
    nch, h = hop_in.shape
    m_len = buf.shape[1]
    shift_in(buf, hop_in, h)
    d_end = m_len - la
    d_start = d_end - h
    lim = m_len - p
    s_lo = d_start - na // 2        # residuals (and their robust scale) from here on
    w0 = m_len - na
    for ch in range(nch):
        xb = buf[ch]
        busy = ist[ch, 0] - h
        busy = max(busy, -1)
        skipping = ist[ch, 1]
        n_first = d_start
        if n_first <= busy:
            n_first = busy + 1
        inv_ra0, thr, sig_e = _model(xb, w0, na, win, wtmp, p, r, a, atmp, ra, ef, eps, absb,
                                     s_lo, lim, m_len, threshold, rel_floor, wnc)
        n = n_first
        while n < d_end and abs(eps[n]) <= thr:
            n += 1
        if n < d_end:
            for i in range(m_len):
                xs[i] = xb[i]
            _scan_repair(xs, a, p, ra, inv_ra0, ef, eps, pos, mask, lb, rhs, sol, orig, wv,
                         n_first, lim, d_start, s_lo, lim, m_len, lmax, g, gl, thr, sig_e,
                         t_add, t_rm, k_shadow, nloc, busy, skipping, scratch_stats, absb,
                         threshold, wloc, kch, k_tail, k_side, wlong, k_persist, k_env, wnear, k_near, k_strong, k_amp,
                         sfb, sfp)
            ar_fit(xs, w0, na, win, wtmp, p, r, a, atmp, wnc)
            # the cleaned window gives the model; thresholds stay those of the observed signal
            # (fitting on xs only to get a, then residuals of xb with it)
            ar_coef_autocorr(a, p, ra)
            inv_ra0 = 1.0 / ra[0]
            err = r[0]
            forward_residual(xb, a, p, ef, s_lo, m_len)
            twosided_residual(ef, a, p, inv_ra0, eps, s_lo, lim)
            nm = lim - s_lo
            for i in range(nm):
                absb[i] = abs(eps[s_lo + i])
            thr2 = threshold * 1.4826 * median_inplace(absb, nm)
            rms = math.sqrt(err / (0.375 * na))
            thr2 = max(thr2, rel_floor * rms + 1e-9)
            for i in range(nm):
                absb[i] = abs(ef[s_lo + i])
            sig2 = 1.4826 * median_inplace(absb, nm)
            sig2 = max(sig2, 1e-7 * rms + 1e-12)
            busy, skipping = _scan_repair(xb, a, p, ra, inv_ra0, ef, eps, pos, mask, lb, rhs,
                                          sol, orig, wv, n_first, d_end, d_start, s_lo, lim,
                                          m_len, lmax, g, gl, thr2, sig2, t_add, t_rm,
                                          k_shadow, nloc, busy, skipping, stats, absb,
                                          threshold, wloc, kch, k_tail, k_side, wlong, k_persist, k_env, wnear, k_near,
                                          k_strong, k_amp, sfb, sfp)
        ist[ch, 0] = busy
        ist[ch, 1] = skipping
        for i in range(h):
            hop_out[ch, i] = xb[d_start + i]


@register
class DeClick(HopProcessor):
    """Click and crackle remover (AR-model detection, least-squares AR interpolation).

    Latency: ``hop - 1 + look-ahead`` samples, where the hop is 4 ms and the look-ahead
    ``4 ms + 3 p + ~0.1 ms`` (487 samples, 10.1 ms, in all at 48 kHz).  ``clicks_repaired`` counts
    repaired clicks since prepare/reset, ``runs_skipped`` the detections left alone because they
    were longer than ``max_click_ms``."""

    params = (
        Param("threshold", 6.0, unit="sigma", range=(3.0, 30.0),
              doc="detection threshold on the two-sided AR residual, in robust standard "
                  "deviations (lower finds smaller clicks, and more false alarms)"),
        Param("max_click_ms", 1.5, unit="ms", range=(0.05, MAX_CLICK_MS_LIMIT),
              doc="longest disturbance treated as a click; longer events are left alone"),
    )

    #: likelihood thresholds (in innovation standard deviations) to grow / trim a click's span
    t_add = 4.0
    t_rm = 4.0
    #: next to a repair, only eps above this fraction of the repaired click's peak triggers again
    k_shadow = 0.3
    #: white-noise correction of the AR fit (a noise floor bounding the model's dynamic range)
    wnc = 1e-9
    #: span of the local innovation-level estimate before a click (covers a few glottal pulses)
    local_ms = 8.0
    #: span of the residual level compared on each side of a candidate (onset rejection)
    side_ms = 2.5
    #: chunk by which a repaired span is extended over a click's decaying tail
    chunk_ms = 0.4
    #: the tail is followed for clicks above k_tail x the detection level next to them
    k_tail = 5.0
    #: a candidate whose residual peak is below k_side x the residual level just before or just
    #: after it is the music's own (onset rejection)
    k_side = 4.0
    #: a candidate after which the residual level (median over ``persist_ms``) stays above
    #: k_persist x its level before is an onset, not a click (0 turns all onset tests off)
    k_persist = 2.5
    persist_ms = 10.0
    #: ... and so is one after which the signal level (median |x| or |x[n] - x[n-1]|) stays
    #: above k_env x its level before
    k_env = 2.0
    #: ... or one with the high band within ``near_ms`` on either side above k_near x the
    #: floor before (lower quartiles of |x[n] - x[n-1]|: a burst of several ms)
    k_near = 2.5
    near_ms = 2.0
    #: the onset tests are skipped for a peak above k_strong x the residual level next to it,
    #: or a correction above k_amp x the signal's peak ~2 ms around (2 k_amp right next to it)
    k_strong = 40.0
    k_amp = 1.5
    #: ... k_amp_span in place of k_amp for a span longer than amp_span_ms
    amp_span_ms = 0.3
    k_amp_span = 1.75
    #: soft repair (issue 22): per-sample click variances, initially k_soft x (the square of
    #: the hard correction less the interpolation error variance; 0: hard replacement only),
    #: refined by n_soft EM iterations, over the span and soft_margin_ms on either side
    k_soft = 1.0
    n_soft = 3
    soft_margin_ms = 0.05
    #: a soft repair whose correction energy is below k_sig x the interpolation's error
    #: variance is no click (the observed samples are kept)
    k_sig = 2.0
    #: before a soft repair the span of a small click is grown again with this (lower)
    #: likelihood threshold (0: not)
    t_add_soft = 2.0
    #: a large click (its tail followed) whose span is longer than soft_large_ms keeps the hard
    #: replacement (a vinyl click's long tail; shorter ones are crackle far above the residual)
    soft_large_ms = 1.0
    #: next to a soft repair only eps above k_shadow_soft x the repaired click's peak triggers
    #: again (what is left of a shrunk click is not another one)
    k_shadow_soft = 1.0
    #: k_sig for a large click soft-repaired (its correction against the interpolation error)
    k_sig_large = 1.0

    def _prepare_hop(self) -> None:
        sr = self.sample_rate
        self.hop = max(16, round(sr * 0.004))
        p = ar_order(sr)
        self._p = p
        self._g = max(2, round(sr * 0.00008))       # gap joining eps triggers
        self._gl = max(2, round(sr * 0.0001))       # look-through when growing a span
        self._lmax_cap = math.ceil(MAX_CLICK_MS_LIMIT * 1e-3 * sr)
        self._la = self._lmax_cap + 3 * p + self._g + 4
        self._nloc = max(2 * p, round(sr * self.local_ms * 1e-3))
        self._na = max(round(0.025 * sr), 16 * p)
        m = p + self._na + self.hop + self._la
        c = self.channels
        self._soft_mg = round(sr * self.soft_margin_ms * 1e-3)
        nmax = self._lmax_cap + 2 * self._gl + 4 + 2 * self._soft_mg
        self._buf = np.zeros((c, m), np.float64)
        self._ef = np.zeros(m, np.float64)
        self._eps = np.zeros(m, np.float64)
        self._absb = np.zeros(m, np.float64)
        self._win = np.hanning(self._na + 2)[1:-1].astype(np.float64)
        self._wtmp = np.zeros(self._na, np.float64)
        self._r = np.zeros(p + 1, np.float64)
        self._a = np.zeros(p + 1, np.float64)
        self._atmp = np.zeros(p + 1, np.float64)
        self._ra = np.zeros(p + 1, np.float64)
        self._xs = np.zeros(m, np.float64)
        self._scratch_stats = np.zeros(3, np.int64)
        self._pos = np.zeros(nmax, np.int64)
        self._mask = np.zeros(m, np.int8)
        self._lb = np.zeros((nmax, p + 1), np.float64)
        self._rhs = np.zeros(nmax, np.float64)
        self._sol = np.zeros(nmax, np.float64)
        self._wv = np.zeros(nmax, np.float64)
        self._orig = np.zeros(2 * nmax + 2, np.float64)
        self._ist = np.zeros((c, 2), np.int64)
        self._ist[:, 0] = -1
        self._stats = np.zeros(3, np.int64)
        self._wloc = max(16, round(sr * self.side_ms * 1e-3))
        self._kch = max(3, round(sr * self.chunk_ms * 1e-3)) if self.chunk_ms > 0 else 0
        self._lmax = self._lmax_samples()
        self._wlong = max(32, round(sr * self.persist_ms * 1e-3))
        self._wnear = max(32, round(sr * self.near_ms * 1e-3))
        self._sfb = np.zeros((6, nmax), np.float64)
        # soft repair: scratch rows (_soft_fix; 1, 3: the previous repair's) and its settings
        # (k_soft, n_soft, margin, k_sig, t_add_soft, soft_large in samples, k_shadow_soft,
        # k_sig_large)
        self._sfp = np.array([self.k_soft, self.n_soft, self._soft_mg, self.k_sig,
                              self.t_add_soft, round(sr * self.soft_large_ms * 1e-3),
                              self.k_shadow_soft, self.k_sig_large,
                              round(sr * self.amp_span_ms * 1e-3), self.k_amp_span], np.float64)

    def _lmax_samples(self) -> int:
        lm = round(self.v("max_click_ms") * 1e-3 * self.sample_rate)
        return int(min(max(lm, 1), self._lmax_cap))

    def _on_param(self, name: str, value: float) -> None:
        if name == "max_click_ms" and self.prepared:
            self._lmax = self._lmax_samples()

    def _reset_hop(self) -> None:
        self._buf[:] = 0.0
        self._mask[:] = 0
        self._ist[:, 0] = -1
        self._ist[:, 1] = 0
        self._stats[:] = 0

    def _hop_latency(self) -> int:
        return self._la

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        declick_hop(x, out, self._buf, self._xs, self._ef, self._eps, self._absb, self._win, self._wtmp,
                    self._r, self._a, self._atmp, self._ra, self._pos, self._mask, self._orig,
                    self._wv, self._lb, self._rhs, self._sol, self._ist, self._stats, self._scratch_stats, self._p,
                    self._na, self._la, self._lmax, self._g, self._gl,
                    float(self.v("threshold")), REL_FLOOR, self.t_add, self.t_rm, self.k_shadow,
                    self._nloc, self.wnc, self._wloc, self._kch,
                    self.k_tail, self.k_side, self._wlong, self.k_persist, self.k_env, self._wnear, self.k_near, self.k_strong, self.k_amp,
                    self._sfb, self._sfp)

    @property
    def clicks_repaired(self) -> int:
        """Clicks repaired since prepare/reset."""
        return int(self._stats[0]) if self.prepared else 0

    @property
    def runs_skipped(self) -> int:
        """Detections left alone (longer than max_click_ms, or not solvable)."""
        return int(self._stats[1]) if self.prepared else 0
