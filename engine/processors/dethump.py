"""De-thump: removes the low-frequency "boom" of a scratch (the tonearm's decaying low-frequency
oscillation after a large click, 12-100 Hz, tau 4-150 ms) without touching the music under it.

A scratch kicks the stylus and the tonearm/cartridge resonance rings out as a damped
low-frequency oscillation (Godsill & Rayner, "Digital Audio Restoration", ch. 7: "low frequency
noise pulses").  It is additive, so the repair is a subtraction of a fitted pulse model, not a
gain on the band (a gain takes the music's own bass with it and leaves the part of the pulse at
the music's level):

1. Split: a causal 4th-order Butterworth low-pass at ``cutoff_hz`` gives the low band ``l``.
2. Detect: every hop (5 ms) the RMS of a 10 ms window of ``l`` that ends 35 ms (skip + fit)
   before the newest sample is compared with the music's own low-band level, the 80th
   percentile of the last ~1.5 s of such levels (frames taken by a thump are not added to it; a
   bass line or regular kick drums set it high).  ``threshold_db`` above it, and rising (1.25x
   the previous hop's level: the decaying rest of an event already judged is not fitted again),
   and at least twice the least level of the last 30 ms (a kick drum's body that dips and swells
   again is no new event), is a candidate; its onset is the first sample of the window where
   ``l`` exceeds a third of the window's peak.
3. Fit: over the 32 ms that start 3 ms after the onset (already known: the detection lags), a
   damped sinusoid ``Re(C_lp exp((-1/tau + j w) t))`` is fitted to ``l`` by least squares
   (frequency and decay on a grid, then refined; amplitude and phase per channel, in closed
   form; ``l`` sampled at ~2 kHz).  The filter's effect is removed exactly for such a signal:
   ``C = C_lp / H(z0)``, ``z0 = exp((-1/tau + j w) / sr)``.
4. Accept only a pulse that explains all but ``MAX_RESIDUAL`` (30 %) of the low band in the
   window, decays (tau <= 150 ms), and rings at one pitch (both halves of the window agree on f
   within ``MAX_GLIDE``, 15 %: a kick drum or a voice glides); otherwise nothing changes.
5. Start: where the model fits best (the low band before it is left unexplained), moved back by
   the low-pass's group delay, or to the scratch's click when one stands out in the high band.
6. Subtract ``Re(C exp(s t))`` from every channel from the start (1 ms fade-in) until the model
   has decayed by 60 dB (or 1 s).

Outside a thump the output is the input, bit for bit (delayed by the latency).  Decisions are made
per hop (``HopProcessor``), so the output does not depend on the host block size.  Latency:
``hop - 1 + look-ahead``, the look-ahead 10 ms (detection window) + 3 + 32 ms (fit) + one hop +
9 ms (the start may lie before the onset): ~55-60 ms (2639 samples at 48 kHz).
"""
from __future__ import annotations

import cmath
import math

import numpy as np
from numba import njit

from ..hop import HopProcessor
from ..params import Param
from ..processor import register
from .declick import select_inplace
from .filters import _butter_into

__all__ = ["DeThump"]

#: the pulse model must explain all but this fraction of the low band in the fit window
MAX_RESIDUAL = 0.3
#: decay time-constant grid (s) and the longest accepted
TAU_MIN, TAU_MAX = 0.004, 0.15
#: lowest and highest frequency fitted (Hz): a scratch's boom (the tonearm/cartridge resonance
#: and the groove wall's low-frequency pulse) lies below ~100 Hz; kick drums and voices above
F_MIN = 12.0
F_MAX = 100.0
#: a candidate's window level must exceed the previous hop's by this factor (an onset)
RISE = 1.25
#: the largest frequency difference between the two halves of the fit window (fraction of f)
MAX_GLIDE = 0.15
#: ... and exceed the least window level of the last ONSET_HOPS hops (~30 ms) by this factor: a
#: thump rises out of the music, while the body of a kick drum already sounding that dips and
#: swells again (1.25x from one hop to the next) is not a new event
ONSET_RISE = 2.0
ONSET_HOPS = 6
#: a low-band window level at or under this is digital silence, left out of the music's level
SILENT = 1e-9
#: with ``need_click``: the click's high-band peak must reach this share of the pulse's peak
CLICK_MIN = 0.04


@njit(cache=True, nogil=True)
def _sos_response(sos, z) -> complex:
    """H(z) of the cascaded biquads (rows b0 b1 b2 a0 a1 a2) at a complex z."""
    h = 1.0 + 0.0j
    zi = 1.0 / z
    for s in range(sos.shape[0]):
        num = sos[s, 0] + sos[s, 1] * zi + sos[s, 2] * zi * zi
        den = 1.0 + sos[s, 4] * zi + sos[s, 5] * zi * zi
        h *= num / den
    return h


@njit(cache=True, nogil=True)
def _fit_cost(lbuf, k0, kn, dec, t0, sr, f, tau, coef) -> float:
    """Residual energy (summed over channels) of the least-squares fit of
    a u + b v (u, v = exp(-t/tau) cos/sin(2 pi f t), t = (k - t0)/sr) to lbuf[:, k0:k0+kn:dec].
    coef[ch, 0:2] receives (a, b).  Returns inf for a degenerate basis."""
    w = 2.0 * math.pi * f
    uu = 0.0
    uv = 0.0
    vv = 0.0
    nch = lbuf.shape[0]
    for ch in range(nch):
        coef[ch, 2] = 0.0
        coef[ch, 3] = 0.0
        coef[ch, 4] = 0.0
    # the basis by recurrence: one complex rotation per point (no exp/cos/sin in the loop)
    s = complex(-1.0 / (tau * sr), w / sr)
    z = cmath.exp(s * dec)
    b = cmath.exp(s * (k0 - t0))
    for k in range(k0, k0 + kn, dec):
        u = b.real
        v = b.imag
        b *= z
        uu += u * u
        uv += u * v
        vv += v * v
        for ch in range(nch):
            y = lbuf[ch, k]
            coef[ch, 2] += y * u
            coef[ch, 3] += y * v
            coef[ch, 4] += y * y
    det = uu * vv - uv * uv
    if not (det > 1e-9 * uu * vv) or uu <= 0.0:
        return math.inf
    res = 0.0
    for ch in range(nch):
        bu = coef[ch, 2]
        bv = coef[ch, 3]
        ca = (vv * bu - uv * bv) / det
        cb = (uu * bv - uv * bu) / det
        coef[ch, 0] = ca
        coef[ch, 1] = cb
        res += coef[ch, 4] - (ca * bu + cb * bv)
    return res


@njit(cache=True, nogil=True)
def fit_pulse(lbuf, k0, kn, dec, t0, sr, fmin, fmax, coef, best) -> float:
    """Grid search (f in [fmin, fmax], 1 Hz steps) then local refinement of (f, tau) for the
    damped sinusoid; best = [f, tau], coef[ch, 0:2] = (a, b) of the best fit.  Returns the
    residual fraction (residual / energy)."""
    nch = lbuf.shape[0]
    energy = 0.0
    for ch in range(nch):
        for k in range(k0, k0 + kn, dec):
            energy += lbuf[ch, k] * lbuf[ch, k]
    if not (energy > 0.0):
        return 1.0
    bc = math.inf
    bf = fmin
    bt = 0.02
    ntau = 16
    f = fmin
    while f <= fmax:
        for i in range(ntau):
            tau = TAU_MIN * (TAU_MAX / TAU_MIN) ** (i / (ntau - 1))
            c = _fit_cost(lbuf, k0, kn, dec, t0, sr, f, tau, coef)
            if c < bc:
                bc = c
                bf = f
                bt = tau
        f += 1.0
    # refine: coordinate steps that halve
    df = 0.5
    dl = 0.5 * math.log(TAU_MAX / TAU_MIN) / (ntau - 1)
    for _ in range(12):
        improved = False
        for cand in range(4):
            f = bf
            tau = bt
            if cand == 0:
                f = bf + df
            elif cand == 1:
                f = bf - df
            elif cand == 2:
                tau = bt * math.exp(dl)
            else:
                tau = bt * math.exp(-dl)
            if f < fmin or f > fmax or tau < 0.5 * TAU_MIN or tau > 2.0 * TAU_MAX:
                continue
            c = _fit_cost(lbuf, k0, kn, dec, t0, sr, f, tau, coef)
            if c < bc:
                bc = c
                bf = f
                bt = tau
                improved = True
        if not improved:
            df *= 0.5
            dl *= 0.5
    _fit_cost(lbuf, k0, kn, dec, t0, sr, bf, bt, coef)
    best[0] = bf
    best[1] = bt
    return max(bc, 0.0) / energy


@njit(cache=True, nogil=True)
def _damped(k, sr, w, tau):
    """exp(-t/tau) (cos w t, sin w t) at t = k / sr."""
    tt = k / sr
    g = math.exp(-tt / tau)
    return g * math.cos(w * tt), g * math.sin(w * tt)


@njit(cache=True, nogil=True)
def _pulse_start(xbuf, lbuf, r0, r_hi, r1, t0, sr, f, tau, coef, sos):
    """Where the fitted pulse starts (buffer index, full band), and the peak of the scratch's
    click in the high band (0.0 when no click stands out).

    In the low band: the ns in [r0, r_hi] minimising the energy of ``l`` before ns plus that of
    ``l - model`` from ns to r1 (the model is zero before the pulse; extrapolated backwards it
    grows, so a start too early costs).  Then back by the low-pass's group delay at f, and to
    the scratch's click when one stands out in the high band (x - l) within 3 ms before."""
    nch = lbuf.shape[0]
    w = 2.0 * math.pi * f
    r0 = max(r0, 1)
    e = 0.0
    for t in range(r0, r1):
        cw, sw = _damped(t - t0, sr, w, tau)
        for ch in range(nch):
            d = lbuf[ch, t] - (coef[ch, 0] * cw + coef[ch, 1] * sw)
            e += d * d
    best = e
    ns = r0
    for t in range(r0, r_hi):
        cw, sw = _damped(t - t0, sr, w, tau)
        for ch in range(nch):
            y = lbuf[ch, t]
            d = y - (coef[ch, 0] * cw + coef[ch, 1] * sw)
            e += y * y - d * d
        if e < best:
            best = e
            ns = t + 1
    # group delay of the low-pass at f (samples)
    dw = 0.01 * w / sr
    p1 = cmath.phase(_sos_response(sos, cmath.exp(complex(0.0, w / sr + dw))))
    p0 = cmath.phase(_sos_response(sos, cmath.exp(complex(0.0, w / sr - dw))))
    dp = p1 - p0
    if dp > math.pi:
        dp -= 2.0 * math.pi
    elif dp < -math.pi:
        dp += 2.0 * math.pi
    start = ns - int(round(-dp / (2.0 * dw)))
    c0 = max(start - int(0.003 * sr), 1)
    c1 = min(start + int(0.001 * sr), lbuf.shape[1] - 1)
    hpk = 0.0
    hpos = -1
    hsum = 0.0
    for i in range(c0, c1 + 1):
        for ch in range(nch):
            v = abs(xbuf[ch, i] - lbuf[ch, i])
            hsum += v
            if v > hpk:
                hpk = v
                hpos = i
    if hpos >= 0 and hpk > 6.0 * hsum / ((c1 + 1 - c0) * nch):
        start = hpos
    # the click: the peak second difference of x within [start - 4 ms, start + 2 ms] (a sharp
    # edge; a 12-100 Hz ring and its filtered residue have next to none)
    q0 = max(start - int(0.004 * sr), 1)
    q1 = min(start + int(0.002 * sr), xbuf.shape[1] - 2)
    click = 0.0
    for i in range(q0, q1 + 1):
        for ch in range(nch):
            click = max(click, abs(xbuf[ch, i + 1] - 2.0 * xbuf[ch, i] + xbuf[ch, i - 1]))
    return max(start, 1), click


@njit(cache=True, nogil=True)
def dethump_hop(hop_in, hop_out, sos, zi, xbuf, lbuf, hist, hcount, tmp, st, lv, model, coef,
                best, la, h, dw, skip, wfit, dec, thr, sub, floor, fmax, sr, stats,
                click_min) -> None:
    """One hop for every channel (channels share the detection and the pulse's f and tau; the
    amplitude and phase are per channel).

    xbuf/lbuf (C, M): input and low-band history; the hop written out is
    [M - la - h, M - la).  st (int64, absolute sample times): [0] state (0 idle, 2 pulse
    active), [1] newest sample + 1, [2] the model's time origin (the onset), [4] pulse end,
    [6] where the subtraction starts ([3], [5] unused); lv: [0] the previous hop's window level,
    [1:] the last ONSET_HOPS window levels, newest first.  model (C, 2): the pulse's complex amplitude
    C per channel; best = [f, tau].  stats: [0] pulses removed, [1] candidates rejected.
    click_min: a pulse is accepted only with a click at its start whose high-band peak is at
    least this share of the pulse's peak amplitude (0: no click needed)."""
    nch = hop_in.shape[0]
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
    st[1] += h
    tnew = st[1]
    base = tnew - m                      # absolute time of buffer index 0
    # ---- detection on the dw samples that end lag = skip + wfit before the newest: the fit
    # window after an onset found there is already known
    lag = skip + wfit
    acc = 0.0
    for ch in range(nch):
        for i in range(m - lag - dw, m - lag):
            acc += lbuf[ch, i] * lbuf[ch, i]
    lvl = math.sqrt(acc / (dw * nch))
    nh = hcount[0]
    ref = 0.0
    if nh > 0:
        for i in range(nh):
            tmp[i] = hist[i]
        ref = select_inplace(tmp, nh, (nh * 4) // 5)
    busy = st[0] != 0
    prev = lv[0]
    low = lvl                            # the least window level of the last ONSET_HOPS hops
    for j in range(ONSET_HOPS):
        low = min(low, lv[1 + j])
    val = lvl
    if busy:
        val = ref                        # a thump does not raise the reference
    elif (nh >= hist.shape[0] // 8 and lvl > thr * ref and lvl > floor and lvl > RISE * prev
          and lvl > ONSET_RISE * low):
        # (an onset is a rise: the decaying rest of an event already judged is not looked at
        # again, or its later, steadier part would pass for a pulse)
        val = ref
        # onset in the low band: first sample of the window (and the hop before it) above a
        # third of the window's peak
        lo = m - lag - dw - h
        pk = 0.0
        for i in range(lo, m - lag):
            for ch in range(nch):
                pk = max(pk, abs(lbuf[ch, i]))
        on = lo
        for i in range(lo, m - lag):
            hit = False
            for ch in range(nch):
                if abs(lbuf[ch, i]) > pk / 3.0:
                    hit = True
            if hit:
                on = i
                break
        k0 = on + skip
        rfrac = fit_pulse(lbuf, k0, wfit, dec, on, sr, F_MIN, fmax, coef, best)
        f = best[0]
        tau = best[1]
        ok = rfrac <= MAX_RESIDUAL and tau <= TAU_MAX and f < fmax - 0.5
        if ok:
            # a resonance rings at one pitch; a kick drum or a voice glides: the two halves of
            # the window must agree on the frequency
            half = wfit // 2
            fit_pulse(lbuf, k0, half, dec, on, sr, 0.6 * f, 1.5 * f, coef, best)
            f1 = best[0]
            fit_pulse(lbuf, k0 + half, wfit - half, dec, on, sr, 0.6 * f, 1.5 * f, coef, best)
            f2 = best[0]
            # (a pulse that has decayed by the second half leaves it too little to measure)
            ok = abs(f1 - f2) <= MAX_GLIDE * f or tau * sr < half
            fit_pulse(lbuf, k0, wfit, dec, on, sr, f - 1.0, f + 1.0, coef, best)
            f = best[0]
            tau = best[1]
        if ok:
            d0 = m - la - h
            start, click = _pulse_start(xbuf, lbuf, on - int(0.008 * sr), k0, k0 + wfit, on,
                                        sr, f, tau, coef, sos)
            z0 = cmath.exp(complex(-1.0 / (tau * sr), 2.0 * math.pi * f / sr))
            hz = _sos_response(sos, z0)
            amp = 0.0
            for ch in range(nch):  # (idle here: the model is not in use until st[0] = 2)
                c = complex(coef[ch, 0], -coef[ch, 1]) / hz
                model[ch, 0] = c.real
                model[ch, 1] = c.imag
                amp = max(amp, abs(c))
            # a scratch is a click and its boom; a kick struck alone (an 808, a sine kick after
            # silence) rings the same way but starts without one
            ok = click >= click_min * amp
        if ok:
            st[0] = 2
            st[2] = base + on
            st[6] = base + max(start, d0)
            st[4] = st[6] + min(int(6.9 * tau * sr), int(sr))
            stats[0] += 1
        else:
            stats[1] += 1
    lv[0] = lvl
    for j in range(ONSET_HOPS - 1, 0, -1):
        lv[1 + j] = lv[j]
    lv[1] = lvl
    if lvl > SILENT or busy:
        # digital silence (a stream's start, a delay line's zeros upstream, a dropout) is not the
        # music's level: counted, it made the music's first note after it a thump
        hist[hcount[1]] = val
        hcount[1] = (hcount[1] + 1) % hist.shape[0]
        hcount[0] = min(nh + 1, hist.shape[0])
    # ---- output
    d0 = m - la - h
    for ch in range(nch):
        for i in range(h):
            hop_out[ch, i] = xbuf[ch, d0 + i]
    if st[0] == 2:
        f = best[0]
        tau = best[1]
        fade = max(1, int(0.001 * sr))
        for i in range(h):
            t = base + d0 + i
            if t < st[6] or t >= st[4]:
                continue
            k = t - st[6]
            cw, sw = _damped(t - st[2], sr, 2.0 * math.pi * f, tau)
            g = sub
            if k < fade:
                g *= (k + 1) / fade
            for ch in range(nch):
                # Re((cr + j ci) exp(s t))
                hop_out[ch, i] -= g * (model[ch, 0] * cw - model[ch, 1] * sw)
        if base + d0 + h >= st[4]:
            st[0] = 0


@register
class DeThump(HopProcessor):
    """Scratch thump remover (low-band pulse detection, damped-sinusoid fit, subtraction).

    Latency ``hop - 1 + 50 ms`` (hop 5 ms: 2639 samples at 48 kHz).  ``thumps_removed`` counts
    pulses subtracted since prepare/reset, ``thumps_rejected`` candidates the pulse model did not
    explain (left alone)."""

    params = (
        Param("threshold_db", 12.0, unit="dB", range=(6.0, 40.0),
              doc="low-band level above the music's own (80th percentile of ~1.5 s) that "
                  "counts as a thump"),
        Param("cutoff_hz", 150.0, unit="Hz", range=(60.0, 400.0),
              doc="top of the band the pulse is looked for in (the fit's band)"),
        Param("depth_db", 40.0, unit="dB", range=(0.0, 80.0),
              doc="how much of the fitted pulse is subtracted (40 dB: 99 %; 0: nothing)"),
        Param("need_click", True, kind="bool",
              doc="accept a pulse only when a click marks its start (a scratch; a kick drum "
                  "struck alone rings like a thump but has none)"),
    )
    #: the history of window levels the reference is taken from (s)
    history_s = 1.5
    #: detection window, gap before the fit window, fit window (s)
    detect_s = 0.010
    skip_s = 0.003
    fit_s = 0.032

    def _prepare_hop(self) -> None:
        sr = self.sample_rate
        self.hop = max(16, round(sr * 0.005))
        h = self.hop
        self._dw = max(8, round(sr * self.detect_s))
        self._skip = max(1, round(sr * self.skip_s))
        self._wfit = max(16, round(sr * self.fit_s))
        # detection lags the newest sample by skip + fit; the pulse may start up to ~14 ms
        # before the detected onset (start search, the low-pass's delay, the click)
        self._la = self._dw + self._skip + self._wfit + h + round(0.009 * sr)
        self._dec = max(1, round(sr / 2000.0))
        c = self.channels
        m = self._la + 2 * h + round(0.01 * sr)
        self._xbuf = np.zeros((c, m), np.float64)
        self._lbuf = np.zeros((c, m), np.float64)
        self._zi = np.zeros((c, 2, 2), np.float64)
        self._sos = np.zeros((2, 6), np.float64)
        nh = max(8, round(self.history_s * sr / h))
        self._hist = np.zeros(nh, np.float64)
        self._tmp = np.zeros(nh, np.float64)
        self._hcount = np.zeros(2, np.int64)
        self._st = np.zeros(7, np.int64)
        self._lv = np.zeros(1 + ONSET_HOPS, np.float64)
        self._model = np.zeros((c, 2), np.float64)
        self._coef = np.zeros((c, 5), np.float64)
        self._best = np.zeros(2, np.float64)
        self._stats = np.zeros(2, np.int64)
        self._design()

    def _design(self) -> None:
        """Order-4 Butterworth lowpass into the preallocated sections (Numba, no allocation:
        safe on the audio thread when ``cutoff_hz`` changes)."""
        fc = min(self.v("cutoff_hz"), 0.45 * self.sample_rate)
        _butter_into(self._sos, 1, 4, fc, fc, float(self.sample_rate))
        self._fmax = min(0.8 * fc, F_MAX)

    def _on_param(self, name: str, value: float) -> None:
        if name == "cutoff_hz" and self.prepared:
            self._design()

    def _reset_hop(self) -> None:
        self._xbuf[:] = 0.0
        self._lbuf[:] = 0.0
        self._zi[:] = 0.0
        self._hist[:] = 0.0
        self._hcount[:] = 0
        self._st[:] = 0
        self._lv[:] = 0.0
        self._model[:] = 0.0
        self._stats[:] = 0

    def _hop_latency(self) -> int:
        return self._la

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        dethump_hop(x, out, self._sos, self._zi, self._xbuf, self._lbuf, self._hist,
                    self._hcount, self._tmp, self._st, self._lv, self._model, self._coef, self._best,
                    self._la, self.hop, self._dw, self._skip, self._wfit, self._dec,
                    10.0 ** (self.v("threshold_db") / 20.0),
                    1.0 - 10.0 ** (-self.v("depth_db") / 20.0), 3e-3, self._fmax,
                    float(self.sample_rate), self._stats,
                    CLICK_MIN if self.v("need_click") else 0.0)

    @property
    def thumps_removed(self) -> int:
        """Pulses subtracted since prepare/reset."""
        return int(self._stats[0]) if self.prepared else 0

    @property
    def thumps_rejected(self) -> int:
        """Candidates left alone (the pulse model did not explain the low band)."""
        return int(self._stats[1]) if self.prepared else 0

    @property
    def thump_frames(self) -> int:
        """Thumps treated since prepare/reset (kept for callers of the former gain version:
        now the number of pulses removed)."""
        return self.thumps_removed
