"""Online noise power spectral density (PSD) tracking for spectral processors.

Two blind trackers follow the noise PSD of a running STFT without a noise-only clip:

``mcra``  Improved minima-controlled recursive averaging (IMCRA, I. Cohen, "Noise spectrum
          estimation in adverse environments: improved minima controlled recursive averaging",
          IEEE Trans. Speech Audio Proc. 11(5), 2003).  Two iterations of smoothing and minimum
          tracking give a speech-presence probability p per bin; the noise PSD is recursively
          averaged with a p-dependent time constant and bias-compensated.
``minstats`` Minimum statistics with optimal (SNR-dependent) smoothing and bias compensation
          (R. Martin, "Noise power spectral density estimation based on optimal smoothing and
          minimum statistics", IEEE Trans. Speech Audio Proc. 9(5), 2001).  Its speech-presence
          probability is the a-posteriori one of Gerkmann & Hendriks (2012) with a fixed 15 dB prior
          SNR.

Both keep per-channel, per-bin state in preallocated float64 arrays and allocate nothing per
frame.  Time constants are given for the reference of the papers (8 ms hop) and rescaled to the
actual hop, so the trackers behave the same at 8 kHz and at 192 kHz.  A frame that is digitally
silent (total power below ``SILENCE_POWER``) leaves the state untouched, so leading zeros do not
poison the estimate; the first non-silent frame (re)initialises it.

The spectral processors call :func:`track_frame` from inside their own Numba kernels; the
:class:`NoiseTracker` object owns the state and offers :meth:`NoiseTracker.update` for
stand-alone use (e.g. tests and analysis).

PSD scale: the tracked values are in the units of ``|X(k)|**2`` of the STFT frame that is fed in
(not normalised by the window), so white noise of variance s2 analysed with window w has
``E|X(k)|^2 = s2 * sum(w**2)``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["NoiseTracker", "TRACKERS", "track_frame", "track", "track_spectrum", "SILENCE_POWER"]

TRACKERS = ("mcra", "minstats")

#: frames whose summed power is below this are "digital silence" and skipped
SILENCE_POWER = 1e-18
#: lowest noise PSD kept (avoids divisions by zero and denormals)
LAM_FLOOR = 1e-24
_BIG = 1e300

# --- fields of the state array st[ch, field, bin] (shared by both trackers)
LAM = 0      # noise PSD estimate (output)
SPP = 1      # speech presence probability (output)
_G2G = 2     # previous G^2 * gamma (decision-directed a-priori SNR inside the tracker)
# IMCRA
_LT = 3      # lambda-tilde (before bias compensation)
_S = 4
_SMIN = 5
_SMSW = 6
_ST = 7
_STMIN = 8
_STMSW = 9
# minimum statistics
_PS = 3      # optimally smoothed periodogram
_PBAR = 4
_P2BAR = 5
_AMIN = 6    # actmin
_AMSUB = 7   # actmin_sub
_PMIN = 8    # Pmin_u
_LFLAG = 9   # lmin_flag
GAM = 10     # a-posteriori SNR |Y|^2 / noise of the last frame (before its update)
NOISE = 11   # 1 where the smoothed power says noise only (independent of the bin's own level)
_NFIELDS = 12

# --- per-channel integers ic[ch, k]
_NACT = 0    # active (non-silent) frames seen
_J = 1       # frame counter inside the current sub-window
_U = 2       # ring write index

# --- per-channel scalars sc[ch, k]
_ALPHAC = 0  # minstats: correction factor alpha_c
_QINV = 1    # minstats: mean 1/Q_eq of the last frame

# --- coefficient vector cf[k]
_METHOD = 0
_AS = 1      # IMCRA alpha_s
_AD = 2      # alpha_d
_ADD = 3     # tracker-internal decision-directed alpha
_BETA = 4
_BMIN = 5
_G0 = 6
_G1 = 7
_Z0 = 8
_NU = 9
_NV = 10
_NINIT = 11
_XIMIN = 12
_AMAX = 13   # minstats alpha_max
_BMAX = 14   # minstats beta_max
_MD = 15     # M(D)
_MV = 16     # M(V)
_AV = 17
_SNREXP = 18  # minstats: exponent of the SNR in alpha_min
_AC_A = 19   # alpha_c smoothing
_XIH1 = 20   # SPP: fixed prior SNR under H1
_NCF = 21

_HOP_REF_S = 0.008  # the papers' hop (16 kHz, 128 samples)

#: fast-math flags for the kernels: no NaN/inf assumptions (those checks must survive)
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}
_INV4 = np.array([0.0, 1.0, 1.0 / 2.0, 1.0 / 3.0, 1.0 / 4.0])

# M(D) of Martin (2001), table 3
_MD_D = np.array([1, 2, 5, 8, 10, 15, 20, 30, 40, 60, 80, 120, 140, 160], np.float64)
_MD_M = np.array([0, .26, .48, .58, .61, .668, .705, .762, .8, .841, .865, .89, .9, .91], np.float64)


@njit(cache=True, nogil=True, fastmath=_FM)
def _init_channel(ch, pw, st, ring, ic, sc, cf, work) -> None:
    b = pw.shape[0]
    for k in range(b):
        v = pw[k]
        if v < LAM_FLOOR:
            v = LAM_FLOOR
        st[ch, LAM, k] = v
        st[ch, SPP, k] = 0.0
        st[ch, _G2G, k] = 1.0
        for f in range(3, _NFIELDS):
            st[ch, f, k] = v
        st[ch, _LFLAG, k] = 0.0
        st[ch, GAM, k] = 1.0
    for r in range(ring.shape[1]):
        for u in range(ring.shape[2]):
            for k in range(b):
                ring[ch, r, u, k] = _BIG
    if cf[_METHOD] == 0.0:
        # smoothed periodograms start from the frequency-smoothed first frame
        _freq_smooth(pw, work[0])
        for k in range(b):
            s = work[0, k] if work[0, k] > LAM_FLOOR else LAM_FLOOR
            st[ch, _S, k] = s
            st[ch, _SMIN, k] = s
            st[ch, _SMSW, k] = s
            st[ch, _ST, k] = s
            st[ch, _STMIN, k] = s
            st[ch, _STMSW, k] = s
    else:
        for k in range(b):
            st[ch, _AMIN, k] = _BIG
            st[ch, _AMSUB, k] = _BIG
            st[ch, _PBAR, k] = st[ch, _PS, k]
            # start the variance at a typical noise value (1/Q_eq = 0.1) so the first
            # sub-window minima are already bias-compensated
            st[ch, _P2BAR, k] = 1.2 * st[ch, _PS, k] * st[ch, _PS, k]
    ic[ch, _NACT] = 0
    ic[ch, _J] = 0
    ic[ch, _U] = 0
    sc[ch, _ALPHAC] = 1.0
    sc[ch, _QINV] = 0.5


@njit(cache=True, nogil=True, fastmath=_FM)
def _freq_smooth(x, y) -> None:
    """y = x smoothed over frequency with the normalised 3-tap Hann window [1/4, 1/2, 1/4]."""
    b = x.shape[0]
    if b < 3:
        for k in range(b):
            y[k] = x[k]
        return
    y[0] = (2.0 * x[0] + x[1]) / 3.0
    for k in range(1, b - 1):
        y[k] = 0.25 * x[k - 1] + 0.5 * x[k] + 0.25 * x[k + 1]
    y[b - 1] = (2.0 * x[b - 1] + x[b - 2]) / 3.0


@njit(cache=True, nogil=True, fastmath=_FM)
def _imcra(ch, pw, st, ring, ic, cf, work) -> None:
    b = pw.shape[0]
    a_s = cf[_AS]
    a_d = cf[_AD]
    beta = cf[_BETA]
    bmin = cf[_BMIN]
    g0 = cf[_G0]
    g1 = cf[_G1]
    z0 = cf[_Z0]
    nu = int(cf[_NU])
    nv = int(cf[_NV])
    init = ic[ch, _NACT] < int(cf[_NINIT])
    ind = work[1]
    # first iteration: smoothing over frequency (3-tap Hann) and time, minimum tracking and a
    # rough speech-absence indicator (all tests division-free: x / den < c  <=>  x < c * den)
    for k in range(b):
        if k == 0:
            sfk = (2.0 * pw[0] + pw[1]) * (1.0 / 3.0) if b > 1 else pw[0]
        elif k == b - 1:
            sfk = (2.0 * pw[k] + pw[k - 1]) * (1.0 / 3.0)
        else:
            sfk = 0.25 * (pw[k - 1] + pw[k + 1]) + 0.5 * pw[k]
        s = a_s * st[ch, _S, k] + (1.0 - a_s) * sfk
        if s < LAM_FLOOR:
            s = LAM_FLOOR  # recursive averages are floored: no denormals, no division by 0
        st[ch, _S, k] = s
        if init:
            st[ch, _SMIN, k] = s
            st[ch, _SMSW, k] = s
        else:
            if s < st[ch, _SMIN, k]:
                st[ch, _SMIN, k] = s
            if s < st[ch, _SMSW, k]:
                st[ch, _SMSW, k] = s
        den = bmin * st[ch, _SMIN, k] + LAM_FLOOR
        ind[k] = 1.0 if (pw[k] < g0 * den and s < z0 * den) else 0.0
    # second iteration: smoothing over the bins found noise-only
    for k in range(b):
        im = ind[k - 1] if k > 0 else 0.0
        ip = ind[k + 1] if k + 1 < b else 0.0
        i0 = 2.0 * ind[k]
        cnt = int(im + i0 + ip)
        if cnt > 0:
            num = i0 * pw[k]
            if im > 0.0:
                num += pw[k - 1]
            if ip > 0.0:
                num += pw[k + 1]
            sft = num * _INV4[cnt]
        else:
            sft = st[ch, _ST, k]
        stt = a_s * st[ch, _ST, k] + (1.0 - a_s) * sft
        if stt < LAM_FLOOR:
            stt = LAM_FLOOR
        st[ch, _ST, k] = stt
        if init:
            st[ch, _STMIN, k] = stt
            st[ch, _STMSW, k] = stt
        else:
            if stt < st[ch, _STMIN, k]:
                st[ch, _STMIN, k] = stt
            if stt < st[ch, _STMSW, k]:
                st[ch, _STMSW, k] = stt
    # a-priori speech absence q, speech presence probability p and the noise update
    add = cf[_ADD]
    ximin = cf[_XIMIN]
    for k in range(b):
        gamma = pw[k] / st[ch, LAM, k]
        st[ch, GAM, k] = gamma
        g = gamma - 1.0
        if g < 0.0:
            g = 0.0
        xi = add * st[ch, _G2G, k] + (1.0 - add) * g
        if xi < ximin:
            xi = ximin
        gw = xi / (1.0 + xi)
        st[ch, _G2G, k] = gw * gw * gamma
        den = bmin * st[ch, _STMIN, k] + LAM_FLOOR
        p = 1.0
        st[ch, NOISE, k] = 0.0
        if st[ch, _S, k] < z0 * den:
            st[ch, NOISE, k] = 1.0
            if pw[k] <= den:
                p = 0.0
            elif pw[k] < g1 * den:
                # q = (g1 - gamma_min) / (g1 - 1), 0 < q < 1
                q = (g1 * den - pw[k]) / (den * (g1 - 1.0))
                v = gamma * gw
                if v < 200.0:
                    p = 1.0 / (1.0 + q / (1.0 - q) * (1.0 + xi) * math.exp(-v))
        st[ch, SPP, k] = p
        ad = a_d + (1.0 - a_d) * p
        lt = ad * st[ch, _LT, k] + (1.0 - ad) * pw[k]
        if lt < LAM_FLOOR:
            lt = LAM_FLOOR
        st[ch, _LT, k] = lt
        st[ch, LAM, k] = beta * lt
    # minimum search window bookkeeping
    j = ic[ch, _J] + 1
    if j >= nv:
        u = ic[ch, _U]
        for k in range(b):
            ring[ch, 0, u, k] = st[ch, _SMSW, k]
            ring[ch, 1, u, k] = st[ch, _STMSW, k]
        u += 1
        if u >= nu:
            u = 0
        ic[ch, _U] = u
        for k in range(b):
            m0 = ring[ch, 0, 0, k]
            m1 = ring[ch, 1, 0, k]
            for uu in range(1, nu):
                if ring[ch, 0, uu, k] < m0:
                    m0 = ring[ch, 0, uu, k]
                if ring[ch, 1, uu, k] < m1:
                    m1 = ring[ch, 1, uu, k]
            st[ch, _SMIN, k] = m0
            st[ch, _STMIN, k] = m1
            st[ch, _SMSW, k] = st[ch, _S, k]
            st[ch, _STMSW, k] = st[ch, _ST, k]
        j = 0
    ic[ch, _J] = j


@njit(cache=True, nogil=True, fastmath=_FM)
def _minstats(ch, pw, st, ring, ic, sc, cf) -> None:
    b = pw.shape[0]
    nu = int(cf[_NU])
    nv = int(cf[_NV])
    d = nu * nv
    amax = cf[_AMAX]
    bmax = cf[_BMAX]
    md = cf[_MD]
    mv = cf[_MV]
    # correction factor alpha_c from the ratio of smoothed to instantaneous total power
    sp = 0.0
    sy = 0.0
    sden = 0.0
    for k in range(b):
        sp += st[ch, _PS, k]
        sy += pw[k]
        sden += st[ch, LAM, k]
    r = sp / (sy + LAM_FLOOR) - 1.0
    act = 1.0 / (1.0 + r * r)
    if act < 0.7:
        act = 0.7
    ac = cf[_AC_A] * sc[ch, _ALPHAC] + (1.0 - cf[_AC_A]) * act
    sc[ch, _ALPHAC] = ac
    # alpha_min from the global SNR (Martin 2006)
    snr = sy / (sden + LAM_FLOOR)
    if snr < 1e-6:
        snr = 1e-6
    amin = snr ** cf[_SNREXP]
    if amin > 0.3:
        amin = 0.3
    qsum = 0.0
    for k in range(b):
        lam = st[ch, LAM, k]
        st[ch, GAM, k] = pw[k] / lam
        ps = st[ch, _PS, k]
        rr = ps / lam - 1.0
        a = amax * ac / (1.0 + rr * rr)
        if a < amin:
            a = amin
        ps = a * ps + (1.0 - a) * pw[k]
        if ps < LAM_FLOOR:
            ps = LAM_FLOOR
        st[ch, _PS, k] = ps
        bb = a * a
        if bb > bmax:
            bb = bmax
        pb = bb * st[ch, _PBAR, k] + (1.0 - bb) * ps
        p2 = bb * st[ch, _P2BAR, k] + (1.0 - bb) * ps * ps
        st[ch, _PBAR, k] = pb
        st[ch, _P2BAR, k] = p2
        var = p2 - pb * pb
        if var < 0.0:
            var = 0.0
        qinv = var / (2.0 * lam * lam)
        if qinv > 0.5:
            qinv = 0.5
        if qinv < 1e-6:
            qinv = 1e-6
        qsum += qinv
        qeq = 1.0 / qinv
        qt = (qeq - 2.0 * md) / (1.0 - md)
        qtv = (qeq - 2.0 * mv) / (1.0 - mv)
        if qt < 1e-3:
            qt = 1e-3
        if qtv < 1e-3:
            qtv = 1e-3
        bmn = 1.0 + (d - 1) * 2.0 / qt
        bmns = 1.0 + (nv - 1) * 2.0 / qtv
        # park the bias factors in the G2G and SPP rows (rewritten below)
        st[ch, _G2G, k] = bmn
        st[ch, SPP, k] = bmns
    qbar = qsum / b
    sc[ch, _QINV] = qbar
    bc = 1.0 + cf[_AV] * math.sqrt(qbar)
    j = ic[ch, _J] + 1
    for k in range(b):
        ps = st[ch, _PS, k]
        bmn = st[ch, _G2G, k]
        bmns = st[ch, SPP, k]
        kmod = bc * bmn * ps < st[ch, _AMIN, k]
        if kmod:
            st[ch, _AMIN, k] = bc * bmn * ps
            st[ch, _AMSUB, k] = bc * bmns * ps
        if j > 1 and j < nv and kmod:
            st[ch, _LFLAG, k] = 1.0
    if j >= nv:
        # end of a sub-window
        # largest step up of the minimum per sub-window when the noise rises.  Martin allows
        # 8x/4x/2x for small 1/Q_eq; with our frames 1/Q_eq is small even during speech, and more
        # than 2x let speech leak into the estimate (+3 dB over-estimation), so it is capped at 2x.
        slope = 2.0 if qbar < 0.06 else 1.2
        u = ic[ch, _U]
        for k in range(b):
            if bc * st[ch, _G2G, k] * st[ch, _PS, k] <= st[ch, _AMIN, k]:
                st[ch, _LFLAG, k] = 0.0  # a new minimum in this frame: no local-min flag
            ring[ch, 0, u, k] = st[ch, _AMIN, k]
        u += 1
        if u >= nu:
            u = 0
        ic[ch, _U] = u
        for k in range(b):
            pmin = ring[ch, 0, 0, k]
            for uu in range(1, nu):
                if ring[ch, 0, uu, k] < pmin:
                    pmin = ring[ch, 0, uu, k]
            amsub = st[ch, _AMSUB, k]
            if st[ch, _LFLAG, k] > 0.0 and amsub < slope * pmin and amsub > pmin:
                pmin = amsub
                for uu in range(nu):
                    ring[ch, 0, uu, k] = amsub
            st[ch, _PMIN, k] = pmin
            st[ch, _LFLAG, k] = 0.0
            st[ch, _AMIN, k] = _BIG
            st[ch, _AMSUB, k] = _BIG
        j = 0
    else:
        for k in range(b):
            if st[ch, _AMSUB, k] < st[ch, _PMIN, k]:
                st[ch, _PMIN, k] = st[ch, _AMSUB, k]
    ic[ch, _J] = j
    # noise PSD and a-posteriori speech presence probability
    xh = cf[_XIH1]
    c1 = 1.0 + xh
    c2 = xh / (1.0 + xh)
    for k in range(b):
        lam = st[ch, _PMIN, k]
        if lam < LAM_FLOOR:
            lam = LAM_FLOOR
        st[ch, LAM, k] = lam
        e = pw[k] / lam * c2
        if e > 200.0:
            p = 1.0
        else:
            p = 1.0 / (1.0 + c1 * math.exp(-e))
        st[ch, SPP, k] = p
        st[ch, _G2G, k] = 1.0
        st[ch, NOISE, k] = 1.0 if st[ch, _PS, k] < 1.67 * lam else 0.0


@njit(cache=True, nogil=True, fastmath=_FM)
def track_frame(ch, pw, st, ring, ic, sc, cf, work) -> bool:
    """Update channel ``ch`` of the tracker with one frame's power spectrum ``pw`` (n_bins,).

    Returns False (and leaves the state alone) for a digitally silent frame."""
    b = pw.shape[0]
    tot = 0.0
    for k in range(b):
        tot += pw[k]
    if not tot >= SILENCE_POWER:  # also catches NaN
        return False
    if ic[ch, _NACT] == 0:
        _init_channel(ch, pw, st, ring, ic, sc, cf, work)
    if cf[_METHOD] == 0.0:
        _imcra(ch, pw, st, ring, ic, cf, work)
    else:
        _minstats(ch, pw, st, ring, ic, sc, cf)
    if ic[ch, _NACT] < 1 << 40:
        ic[ch, _NACT] += 1
    return True


@njit(cache=True, nogil=True, fastmath=_FM)
def track(pw, active, st, ring, ic, sc, cf, work) -> None:
    """Update every channel with the power spectra pw (channels, n_bins); active[ch] = 1.0 where
    the frame was tracked, 0.0 where it was digitally silent."""
    for ch in range(pw.shape[0]):
        active[ch] = 1.0 if track_frame(ch, pw[ch], st, ring, ic, sc, cf, work) else 0.0


@njit(cache=True, nogil=True, fastmath=_FM)
def track_spectrum(spec, pw, active, st, ring, ic, sc, cf, work) -> None:
    """pw = |spec|^2 (both (channels, n_bins)), then :func:`track`."""
    c, b = spec.shape
    for ch in range(c):
        for k in range(b):
            z = spec[ch, k]
            pw[ch, k] = z.real * z.real + z.imag * z.imag
    track(pw, active, st, ring, ic, sc, cf, work)


def _interp_m(d: float) -> float:
    return float(np.interp(d, _MD_D, _MD_M))


class NoiseTracker:
    """Per-channel, per-bin blind noise PSD tracker for a streaming STFT.

    channels, n_bins: layout of the power spectra fed in; hop, sample_rate: frame rate (time
    constants are rescaled from the 8 ms reference hop).  ``method``: ``"mcra"`` (IMCRA) or
    ``"minstats"`` (index 0 or 1).

    Arrays handed to kernels: ``st`` (channels, fields, n_bins) float64 with the noise PSD in
    ``st[:, LAM]`` and the speech-presence probability in ``st[:, SPP]``; ``ring``, ``ic``,
    ``sc``, ``cf`` and ``work`` are the tracker's private state, integers, scalars,
    coefficients and scratch space.
    """

    def __init__(self, channels: int, n_bins: int, hop: int, sample_rate: float,
                 method: str | int = "mcra") -> None:
        self.channels, self.n_bins, self.hop = int(channels), int(n_bins), int(hop)
        self.sample_rate = float(sample_rate)
        hop_s = self.hop / self.sample_rate
        r = hop_s / _HOP_REF_S
        cf = np.zeros(_NCF)
        # IMCRA (Cohen 2003: alpha_s .9, alpha_d .85, alpha .92, U 8, V 15, 0.96 s window)
        cf[_AS] = 0.9 ** r
        cf[_AD] = 0.85 ** r
        cf[_ADD] = 0.92 ** r
        cf[_BETA] = 1.47
        cf[_BMIN] = 1.66
        cf[_G0] = 4.6
        cf[_G1] = 3.0
        cf[_Z0] = 1.67
        cf[_NINIT] = max(2, int(round(0.12 / hop_s)))
        cf[_XIMIN] = 10 ** (-25 / 10)
        # minimum statistics (Martin 2001/2006): alpha_max .96, beta_max .8, ~1.5 s window
        cf[_AMAX] = 0.96 ** r
        cf[_BMAX] = 0.8 ** r
        cf[_AV] = 2.12
        cf[_SNREXP] = -self.hop / (0.064 * self.sample_rate)
        cf[_AC_A] = 0.7 ** r
        cf[_XIH1] = 10 ** (15 / 10)
        self._cf_base = cf
        self.st = np.zeros((self.channels, _NFIELDS, self.n_bins))
        self.work = np.zeros((2, self.n_bins))
        self.ic = np.zeros((self.channels, 3), np.int64)
        self.sc = np.zeros((self.channels, 2))
        self.cf = cf.copy()
        # ring sized for the larger of the two windows
        self._u = 8
        self._v_mcra = max(2, int(round(0.96 / (self._u * hop_s))))
        self._v_ms = max(2, int(round(1.5 / (self._u * hop_s))))
        self.ring = np.zeros((self.channels, 2, self._u, self.n_bins))
        # M(D), M(V) of both windows, precomputed so set_method allocates nothing
        self._m = [(_interp_m(self._u * v), _interp_m(v)) for v in (self._v_mcra, self._v_ms)]
        #: |X|^2 of the last frame and whether it was tracked (1.0) or digitally silent (0.0)
        self.power = np.zeros((self.channels, self.n_bins))
        self.active = np.zeros(self.channels)
        # (channels, n_bins) views the gain kernels read (the field layout stays private here)
        #: noise PSD estimate after the last frame
        self.noise = self.st[:, LAM]
        #: speech-presence probability of the last frame
        self.presence = self.st[:, SPP]
        #: a-posteriori SNR of the last frame: |X|^2 / (noise estimate before that frame)
        self.gamma = self.st[:, GAM]
        #: 1.0 where the smoothed power says noise only (independent of the bin's own level)
        self.absence = self.st[:, NOISE]
        self.set_method(method)

    def set_method(self, method: str | int) -> None:
        """Select the algorithm (no allocation) and restart tracking."""
        m = TRACKERS.index(method) if isinstance(method, str) else int(method)
        if not 0 <= m < len(TRACKERS):
            raise ValueError(f"unknown tracker {method!r}")
        self.method = m
        self.cf[_METHOD] = float(m)
        self.cf[_NU] = float(self._u)
        nv = self._v_mcra if m == 0 else self._v_ms
        self.cf[_NV] = float(nv)
        self.cf[_MD], self.cf[_MV] = self._m[m]
        self.reset()

    @property
    def window_s(self) -> float:
        """Length of the minimum-search window in seconds."""
        return float(self.cf[_NU] * self.cf[_NV] * self.hop / self.sample_rate)

    def reset(self) -> None:
        self.power[:] = 0.0
        self.active[:] = 0.0
        self.st[:] = 0.0
        self.st[:, LAM] = LAM_FLOOR
        self.ring[:] = _BIG
        self.ic[:] = 0
        self.sc[:] = 0.0
        self.work[:] = 0.0

    def update(self, power: np.ndarray) -> None:
        """Feed one frame's power spectra (channels, n_bins) float64."""
        self.power[:] = power
        track(self.power, self.active, self.st, self.ring, self.ic, self.sc, self.cf, self.work)

    def update_spectrum(self, spec: np.ndarray) -> None:
        """Feed one frame's complex spectra (channels, n_bins) (no allocation)."""
        track_spectrum(spec, self.power, self.active, self.st, self.ring, self.ic, self.sc,
                       self.cf, self.work)
