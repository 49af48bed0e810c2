"""Filters: Butterworth (lowpass/highpass/bandpass/bandstop, order 1-16) and one RBJ EQ band.

Both run as a cascade of second-order sections (direct form II transposed, float64 state carried
across blocks, any channel count) in one Numba kernel per block.

How parameter changes work (the design choice, for both processors)
-------------------------------------------------------------------
Coefficients are designed *inside the audio-thread kernel*, in closed form, with no allocation:

- Butterworth: analog prototype poles ``-sin(t) + j cos(t)``, ``t = pi (2k+1) / (2N)``, moved by the
  usual lowpass/highpass/bandpass/bandstop transforms at pre-warped edges ``tan(pi f / fs)``,
  mapped with the bilinear transform ``z = (1+s)/(1-s)``, one biquad per conjugate pole pair (one
  first-order section for the real pole of an odd lowpass/highpass) and each section normalised to
  unit gain in the passband (DC, Nyquist or the band centre).  The product is the same transfer
  function as ``scipy.signal.butter(N, Wn, btype, fs=fs, output='sos')`` (the tests check the
  responses agree to 1e-9); only the split of the gain between sections differs.
- ParametricEQ: the RBJ Audio-EQ-Cookbook formulas.

A continuous parameter (frequency, band edge, gain, Q) does not jump: the kernel glides it with a
one-pole smoother (log-frequency, log-Q, dB), redesigns the sections every 32 samples while a
glide is under way, and ramps each coefficient linearly, sample by sample, from one design to the
next (a biquad's stability region is convex in (a1, a2), so the ramp stays stable; stepping the
coefficients every 32 samples instead gave audible zipper noise: 10x the curvature of the
steady signal on a fast sweep).  The 32-sample grid is counted in absolute samples from
``prepare``/``reset``, so processing is block-size invariant whenever nothing changes, and a
steady filter costs nothing extra (the design and ramp only run while gliding).  Designing in the kernel rather than handing scipy
designs over from ``set()`` keeps the control thread free of state shared with the audio thread,
and lets the glide interpolate the *design parameters*, which always gives stable, well-formed
filters (interpolating coefficients does not).  Discrete parameters (``mode``, ``order``, ``type``)
switch instantly at the next block: sections that become active start from zero state.

Edges are clamped to [``MIN_HZ``, 0.45 * fs] for every rate 8-192 kHz; band modes keep the upper
edge at least ``MIN_BAND_RATIO`` times the lower one.  ``sos`` gives the current coefficients as a
numpy array (n_sections, 6) in scipy's layout (``a0 == 1``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..params import Param
from ..processor import Processor, register

__all__ = ["Butterworth", "ParametricEQ", "Rumble", "butterworth_sos", "rbj_sos"]

MAX_SECTIONS = 16  # order 16 band filters
SUB = 32  # glide grid (samples)
NYQ_FRAC = 0.45  # highest edge, as a fraction of the sample rate
MIN_HZ = 1.0
MIN_BAND_RATIO = 1.05  # high_hz >= 1.05 * cutoff_hz in band modes
SNAP = 1e-4  # glide ends when |current - target| < SNAP (log-frequency, log-Q, dB)

MODES = ("highpass", "lowpass", "bandpass", "bandstop")
EQ_TYPES = ("peak", "lowshelf", "highshelf", "lowpass", "highpass", "notch")

# indices of the float state shared by both glide kernels
_CUR, _TGT, _COEF, _SR = 0, 3, 6, 7
# indices of the int state
_K0, _K1, _NSEC, _PHASE, _RAMP = 0, 1, 2, 3, 4


# --------------------------------------------------------------------------- designs (Numba)
@njit(cache=True, nogil=True)
def _clamp_edges(mode: int, lo: float, hi: float, sr: float):
    top = NYQ_FRAC * sr
    if mode >= 2:
        lo = min(max(lo, MIN_HZ), top / MIN_BAND_RATIO)
        hi = min(max(hi, lo * MIN_BAND_RATIO), top)
    else:  # high_hz is unused; keep it finite and in range all the same
        lo = min(max(lo, MIN_HZ), top)
        hi = min(max(hi, MIN_HZ), top)
    return lo, hi


@njit(cache=True, nogil=True)
def _set_section(sos, s, b0, b1, b2, a1, a2) -> None:
    sos[s, 0] = b0
    sos[s, 1] = b1
    sos[s, 2] = b2
    sos[s, 3] = 1.0
    sos[s, 4] = a1
    sos[s, 5] = a2


@njit(cache=True, nogil=True)
def _pair_den(s1, s2):
    """Digital denominator (a1, a2) of the analog poles s1, s2 (a conjugate or real pair)."""
    z1 = (1.0 + s1) / (1.0 - s1)
    z2 = (1.0 + s2) / (1.0 - s2)
    return -(z1 + z2).real, (z1 * z2).real


@njit(cache=True, nogil=True)
def _band_section(sos, s, mode: int, q1, q2, c0: float, w0d: float) -> None:
    """One band-mode biquad from analog poles q1, q2, normalised in its passband."""
    a1, a2 = _pair_den(q1, q2)
    if mode == 2:  # bandpass: zeros at z = +-1, unit gain at the centre
        e1 = complex(math.cos(w0d), -math.sin(w0d))  # z^-1 at the centre
        e2 = e1 * e1
        den = abs(1.0 + a1 * e1 + a2 * e2)
        num = abs(1.0 - e2)
        g = den / num if num > 0.0 else 1.0
        _set_section(sos, s, g, 0.0, -g, a1, a2)
    else:  # bandstop: zeros at the centre frequency, unit gain at DC
        g = (1.0 + a1 + a2) / (2.0 - 2.0 * c0)
        _set_section(sos, s, g, -2.0 * c0 * g, g, a1, a2)


@njit(cache=True, nogil=True)
def _butter_into(sos, mode: int, order: int, lo: float, hi: float, sr: float) -> int:
    """Write the Butterworth sections for (mode, order, edges in Hz) into sos; return their count.

    mode: 0 highpass, 1 lowpass, 2 bandpass, 3 bandstop (lo/hi: band edges)."""
    lo, hi = _clamp_edges(mode, lo, hi, sr)
    n = order
    s = 0
    if mode <= 1:
        wc = math.tan(math.pi * lo / sr)
        if n % 2 == 1:  # real pole first (at s = -wc for both lowpass and highpass)
            p = -wc
            z = (1.0 + p) / (1.0 - p)
            a1 = -z
            if mode == 1:
                g = (1.0 + a1) * 0.5
                _set_section(sos, s, g, g, 0.0, a1, 0.0)
            else:
                g = (1.0 - a1) * 0.5
                _set_section(sos, s, g, -g, 0.0, a1, 0.0)
            s += 1
        for k in range(n // 2 - 1, -1, -1):  # low Q first, the sharpest pair last (as scipy)
            t = math.pi * (2 * k + 1) / (2 * n)
            p = complex(-math.sin(t), math.cos(t))
            sp = wc * p if mode == 1 else wc / p
            a1, a2 = _pair_den(sp, sp.conjugate())
            if mode == 1:
                g = (1.0 + a1 + a2) * 0.25
                _set_section(sos, s, g, 2.0 * g, g, a1, a2)
            else:
                g = (1.0 - a1 + a2) * 0.25
                _set_section(sos, s, g, -2.0 * g, g, a1, a2)
            s += 1
        return s
    wl = math.tan(math.pi * lo / sr)
    wh = math.tan(math.pi * hi / sr)
    w0sq = wl * wh
    bw = wh - wl
    w0d = 2.0 * math.atan(math.sqrt(w0sq))
    c0 = math.cos(w0d)
    if n % 2 == 1:
        p = complex(-1.0, 0.0)
        h = p * bw * 0.5 if mode == 2 else (bw * 0.5) / p
        r = (h * h - w0sq) ** 0.5
        _band_section(sos, s, mode, h + r, h - r, c0, w0d)
        s += 1
    for k in range(n // 2 - 1, -1, -1):
        t = math.pi * (2 * k + 1) / (2 * n)
        p = complex(-math.sin(t), math.cos(t))
        h = p * bw * 0.5 if mode == 2 else (bw * 0.5) / p
        r = (h * h - w0sq) ** 0.5
        q1 = h + r
        q2 = h - r
        _band_section(sos, s, mode, q1, q1.conjugate(), c0, w0d)
        _band_section(sos, s + 1, mode, q2, q2.conjugate(), c0, w0d)
        s += 2
    return s


@njit(cache=True, nogil=True)
def _rbj_into(sos, kind: int, freq: float, gain_db: float, q: float, sr: float) -> int:
    """One RBJ cookbook biquad into sos[0]; kind indexes EQ_TYPES.  Returns 1."""
    f = min(max(freq, MIN_HZ), NYQ_FRAC * sr)
    w0 = 2.0 * math.pi * f / sr
    cw = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * max(q, 1e-3))
    a = 10.0 ** (gain_db / 40.0)
    if kind == 0:  # peak
        b0, b1, b2 = 1.0 + alpha * a, -2.0 * cw, 1.0 - alpha * a
        a0, a1, a2 = 1.0 + alpha / a, -2.0 * cw, 1.0 - alpha / a
    elif kind == 1 or kind == 2:  # shelves
        sa = 2.0 * math.sqrt(a) * alpha
        if kind == 1:
            b0 = a * ((a + 1.0) - (a - 1.0) * cw + sa)
            b1 = 2.0 * a * ((a - 1.0) - (a + 1.0) * cw)
            b2 = a * ((a + 1.0) - (a - 1.0) * cw - sa)
            a0 = (a + 1.0) + (a - 1.0) * cw + sa
            a1 = -2.0 * ((a - 1.0) + (a + 1.0) * cw)
            a2 = (a + 1.0) + (a - 1.0) * cw - sa
        else:
            b0 = a * ((a + 1.0) + (a - 1.0) * cw + sa)
            b1 = -2.0 * a * ((a - 1.0) + (a + 1.0) * cw)
            b2 = a * ((a + 1.0) + (a - 1.0) * cw - sa)
            a0 = (a + 1.0) - (a - 1.0) * cw + sa
            a1 = 2.0 * ((a - 1.0) - (a + 1.0) * cw)
            a2 = (a + 1.0) - (a - 1.0) * cw - sa
    elif kind == 3:  # lowpass
        b1 = 1.0 - cw
        b0, b2 = 0.5 * b1, 0.5 * b1
        a0, a1, a2 = 1.0 + alpha, -2.0 * cw, 1.0 - alpha
    elif kind == 4:  # highpass
        b1 = -(1.0 + cw)
        b0, b2 = -0.5 * b1, -0.5 * b1
        a0, a1, a2 = 1.0 + alpha, -2.0 * cw, 1.0 - alpha
    else:  # notch
        b0, b1, b2 = 1.0, -2.0 * cw, 1.0
        a0, a1, a2 = 1.0 + alpha, -2.0 * cw, 1.0 - alpha
    inv = 1.0 / a0
    _set_section(sos, 0, b0 * inv, b1 * inv, b2 * inv, a1 * inv, a2 * inv)
    return 1


@njit(cache=True, nogil=True)
def _design(sos, kind: int, fs, ist) -> None:
    """(Re)design sos from the current glide values; kind 0 Butterworth, 1 RBJ band."""
    sr = fs[_SR]
    if kind == 0:
        ist[_NSEC] = _butter_into(sos, ist[_K0], ist[_K1], math.exp(fs[_CUR]),
                                  math.exp(fs[_CUR + 1]), sr)
    else:
        ist[_NSEC] = _rbj_into(sos, ist[_K0], math.exp(fs[_CUR]), fs[_CUR + 1],
                               math.exp(fs[_CUR + 2]), sr)


# --------------------------------------------------------------------------- the cascade
@njit(cache=True, nogil=True)
def _run2x2(w, sos, s, zi, c0, i0, i1) -> None:
    """Sections s, s+1 on channels c0, c0+1 of w[:, i0:i1] in place (4 independent recurrences)."""
    b0 = sos[s, 0]
    b1 = sos[s, 1]
    b2 = sos[s, 2]
    a1 = sos[s, 4]
    a2 = sos[s, 5]
    d0 = sos[s + 1, 0]
    d1 = sos[s + 1, 1]
    d2 = sos[s + 1, 2]
    e1 = sos[s + 1, 4]
    e2 = sos[s + 1, 5]
    c1 = c0 + 1
    p1 = zi[c0, s, 0]
    p2 = zi[c0, s, 1]
    q1 = zi[c0, s + 1, 0]
    q2 = zi[c0, s + 1, 1]
    r1 = zi[c1, s, 0]
    r2 = zi[c1, s, 1]
    t1 = zi[c1, s + 1, 0]
    t2 = zi[c1, s + 1, 1]
    for i in range(i0, i1):
        u = w[c0, i]
        v = w[c1, i]
        y = b0 * u + p1
        p1 = b1 * u - a1 * y + p2
        p2 = b2 * u - a2 * y
        y2 = b0 * v + r1
        r1 = b1 * v - a1 * y2 + r2
        r2 = b2 * v - a2 * y2
        z = d0 * y + q1
        q1 = d1 * y - e1 * z + q2
        q2 = d2 * y - e2 * z
        z2 = d0 * y2 + t1
        t1 = d1 * y2 - e1 * z2 + t2
        t2 = d2 * y2 - e2 * z2
        w[c0, i] = z
        w[c1, i] = z2
    zi[c0, s, 0] = p1
    zi[c0, s, 1] = p2
    zi[c0, s + 1, 0] = q1
    zi[c0, s + 1, 1] = q2
    zi[c1, s, 0] = r1
    zi[c1, s, 1] = r2
    zi[c1, s + 1, 0] = t1
    zi[c1, s + 1, 1] = t2


@njit(cache=True, nogil=True)
def _run2x1(w, sos, s, zi, c0, i0, i1) -> None:
    """Section s on channels c0, c0+1."""
    b0 = sos[s, 0]
    b1 = sos[s, 1]
    b2 = sos[s, 2]
    a1 = sos[s, 4]
    a2 = sos[s, 5]
    c1 = c0 + 1
    p1 = zi[c0, s, 0]
    p2 = zi[c0, s, 1]
    r1 = zi[c1, s, 0]
    r2 = zi[c1, s, 1]
    for i in range(i0, i1):
        u = w[c0, i]
        v = w[c1, i]
        y = b0 * u + p1
        p1 = b1 * u - a1 * y + p2
        p2 = b2 * u - a2 * y
        y2 = b0 * v + r1
        r1 = b1 * v - a1 * y2 + r2
        r2 = b2 * v - a2 * y2
        w[c0, i] = y
        w[c1, i] = y2
    zi[c0, s, 0] = p1
    zi[c0, s, 1] = p2
    zi[c1, s, 0] = r1
    zi[c1, s, 1] = r2


@njit(cache=True, nogil=True)
def _run1x2(w, sos, s, zi, c0, i0, i1) -> None:
    """Sections s, s+1 on channel c0."""
    b0 = sos[s, 0]
    b1 = sos[s, 1]
    b2 = sos[s, 2]
    a1 = sos[s, 4]
    a2 = sos[s, 5]
    d0 = sos[s + 1, 0]
    d1 = sos[s + 1, 1]
    d2 = sos[s + 1, 2]
    e1 = sos[s + 1, 4]
    e2 = sos[s + 1, 5]
    p1 = zi[c0, s, 0]
    p2 = zi[c0, s, 1]
    q1 = zi[c0, s + 1, 0]
    q2 = zi[c0, s + 1, 1]
    for i in range(i0, i1):
        u = w[c0, i]
        y = b0 * u + p1
        p1 = b1 * u - a1 * y + p2
        p2 = b2 * u - a2 * y
        z = d0 * y + q1
        q1 = d1 * y - e1 * z + q2
        q2 = d2 * y - e2 * z
        w[c0, i] = z
    zi[c0, s, 0] = p1
    zi[c0, s, 1] = p2
    zi[c0, s + 1, 0] = q1
    zi[c0, s + 1, 1] = q2


@njit(cache=True, nogil=True)
def _run1x1(w, sos, s, zi, c0, i0, i1) -> None:
    """Section s on channel c0."""
    b0 = sos[s, 0]
    b1 = sos[s, 1]
    b2 = sos[s, 2]
    a1 = sos[s, 4]
    a2 = sos[s, 5]
    p1 = zi[c0, s, 0]
    p2 = zi[c0, s, 1]
    for i in range(i0, i1):
        u = w[c0, i]
        y = b0 * u + p1
        p1 = b1 * u - a1 * y + p2
        p2 = b2 * u - a2 * y
        w[c0, i] = y
    zi[c0, s, 0] = p1
    zi[c0, s, 1] = p2


@njit(cache=True, nogil=True)
def _cascade(w, sos, nsec: int, zi, i0: int, i1: int) -> None:
    """Run the nsec sections over w[:, i0:i1] (float64, in place), channels and sections in pairs
    so the CPU overlaps independent recurrences."""
    c = w.shape[0]
    c0 = 0
    while c0 < c:
        two = c0 + 1 < c
        s = 0
        while s < nsec:
            if s + 1 < nsec:
                if two:
                    _run2x2(w, sos, s, zi, c0, i0, i1)
                else:
                    _run1x2(w, sos, s, zi, c0, i0, i1)
                s += 2
            else:
                if two:
                    _run2x1(w, sos, s, zi, c0, i0, i1)
                else:
                    _run1x1(w, sos, s, zi, c0, i0, i1)
                s += 1
        c0 += 2 if two else 1


@njit(cache=True, nogil=True)
def _ramp_cascade(w, co, nsec: int, zi, i0: int, i1: int, ph0: int) -> None:
    """The cascade over w[:, i0:i1] with coefficients ramping linearly, per sample, from co[0]
    towards co[1] (co[2] = per-sample step); sample i0 sits at phase ph0 of its 32-sample
    segment.  A biquad's stability region is convex in (a1, a2), so every interpolated section
    between two stable designs is stable."""
    sos = co[0]
    d = co[2]
    c = w.shape[0]
    for ch in range(c):
        for i in range(i0, i1):
            k = float(ph0 + (i - i0) + 1)
            v = w[ch, i]
            for s in range(nsec):
                b0 = sos[s, 0] + k * d[s, 0]
                b1 = sos[s, 1] + k * d[s, 1]
                b2 = sos[s, 2] + k * d[s, 2]
                a1 = sos[s, 4] + k * d[s, 4]
                a2 = sos[s, 5] + k * d[s, 5]
                y = b0 * v + zi[ch, s, 0]
                zi[ch, s, 0] = b1 * v - a1 * y + zi[ch, s, 1]
                zi[ch, s, 1] = b2 * v - a2 * y
                v = y
            w[ch, i] = v


@njit(cache=True, nogil=True)
def _glide_process(x, out, co, zi, work, fs, ist, kind: int) -> None:
    """Filter x (channels, n) into out.

    co: (3, sections, 6): current design, design at the end of the running 32-sample segment,
    per-sample step.  While a continuous parameter moves, it steps on the absolute 32-sample
    grid; each step designs the segment's end point into co[1] and the coefficients ramp to it
    sample by sample (no zipper noise).  Otherwise the steady cascade runs on co[0]."""
    c, n = x.shape
    for ch in range(c):
        for i in range(n):
            work[ch, i] = x[ch, i]
    ph = ist[_PHASE]
    nsec = ist[_NSEC]
    ramp = ist[_RAMP]
    moving = fs[_CUR] != fs[_TGT] or fs[_CUR + 1] != fs[_TGT + 1] or fs[_CUR + 2] != fs[_TGT + 2]
    if not moving and ramp == 0:
        _cascade(work, co[0], nsec, zi, 0, n)
        ph = (ph + n) % SUB
    else:
        a = fs[_COEF]
        i = 0
        while i < n:
            if ph == 0 and moving:
                moving = False
                for k in range(3):
                    cur = fs[_TGT + k] + a * (fs[_CUR + k] - fs[_TGT + k])
                    if abs(cur - fs[_TGT + k]) < SNAP:
                        cur = fs[_TGT + k]
                    else:
                        moving = True
                    fs[_CUR + k] = cur
                _design(co[1], kind, fs, ist)
                for s in range(nsec):
                    for j in range(6):
                        co[2, s, j] = (co[1, s, j] - co[0, s, j]) * (1.0 / SUB)
                ramp = 1
            if ramp:
                m = min(n - i, SUB - ph)
                _ramp_cascade(work, co, nsec, zi, i, i + m, ph)
            else:
                m = n - i
                _cascade(work, co[0], nsec, zi, i, i + m)
            i += m
            ph = (ph + m) % SUB
            if ramp and ph == 0:  # segment done: land exactly on its end design
                for s in range(nsec):
                    for j in range(6):
                        co[0, s, j] = co[1, s, j]
                ramp = 0
    ist[_PHASE] = ph
    ist[_RAMP] = ramp
    # keep the state finite and free of denormals
    for ch in range(c):
        for s in range(nsec):
            for j in range(2):
                v = zi[ch, s, j]
                if not np.isfinite(v) or abs(v) < 1e-30:
                    zi[ch, s, j] = 0.0
    for ch in range(c):
        for i in range(n):
            out[ch, i] = work[ch, i]


@njit(cache=True, nogil=True)
def _switch(co, zi, fs, ist, kind: int) -> None:
    """A discrete parameter changed: redesign now from the current glide point (a running ramp
    is dropped); newly used sections start from zero state."""
    old = ist[_NSEC]
    _design(co[0], kind, fs, ist)
    ist[_RAMP] = 0
    for ch in range(zi.shape[0]):
        for s in range(old, ist[_NSEC]):
            zi[ch, s, 0] = 0.0
            zi[ch, s, 1] = 0.0


# --------------------------------------------------------------------------- python side
def butterworth_sos(mode: str | int, order: int, cutoff_hz: float, high_hz: float,
                    sample_rate: float) -> np.ndarray:
    """The sections :class:`Butterworth` runs for these settings, (n_sections, 6) float64."""
    m = MODES.index(mode) if isinstance(mode, str) else int(mode)
    sos = np.zeros((MAX_SECTIONS, 6))
    ns = _butter_into(sos, m, int(order), float(cutoff_hz), float(high_hz), float(sample_rate))
    return sos[:ns].copy()


def rbj_sos(kind: str | int, freq_hz: float, gain_db: float, q: float,
            sample_rate: float) -> np.ndarray:
    """The RBJ cookbook biquad :class:`ParametricEQ` runs, (1, 6) float64."""
    k = EQ_TYPES.index(kind) if isinstance(kind, str) else int(kind)
    sos = np.zeros((1, 6))
    _rbj_into(sos, k, float(freq_hz), float(gain_db), float(q), float(sample_rate))
    return sos


class _GlidedSos(Processor):
    """Shared machinery: a gliding, self-designing SOS cascade (see the module docstring)."""

    _kind = 0
    _max_sections = MAX_SECTIONS

    def _targets_now(self) -> tuple[float, float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _discrete_now(self) -> tuple[int, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self) -> None:
        self._co = np.zeros((3, self._max_sections, 6))
        self._zi = np.zeros((self.channels, self._max_sections, 2))
        self._work = np.zeros((self.channels, self.max_block))
        self._fs = np.zeros(8)
        self._is = np.zeros(5, np.int64)
        self._fs[_SR] = float(self.sample_rate)
        ms = max(p.smoothing_ms for p in self.params)
        self._fs[_COEF] = math.exp(-SUB / (ms * 1e-3 * self.sample_rate)) if ms > 0 else 0.0
        self._reset()

    def _reset(self) -> None:
        t = self._targets_now()
        k0, k1 = self._discrete_now()
        for k in range(3):
            self._fs[_TGT + k] = t[k]
            self._fs[_CUR + k] = t[k]
        self._is[_K0] = k0
        self._is[_K1] = k1
        self._is[_PHASE] = 0
        self._is[_RAMP] = 0
        self._zi[:] = 0.0
        self._co[:] = 0.0
        _design(self._co[0], self._kind, self._fs, self._is)

    def _on_param(self, name: str, value: float) -> None:
        if not self.prepared:
            return
        t = self._targets_now()
        for k in range(3):
            self._fs[_TGT + k] = t[k]
        k0, k1 = self._discrete_now()
        if k0 != self._is[_K0] or k1 != self._is[_K1]:
            self._is[_K0] = k0
            self._is[_K1] = k1
            _switch(self._co, self._zi, self._fs, self._is, self._kind)

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        _glide_process(x, out, self._co, self._zi, self._work, self._fs, self._is, self._kind)

    @property
    def sos(self) -> np.ndarray:
        """Current second-order sections (n_sections, 6), scipy layout; a copy.

        While a parameter glides this is the design at the start of the running 32-sample
        segment (the coefficients ramp from it, sample by sample, to the next design)."""
        if not self.prepared:
            raise RuntimeError(f"{self.name}: sos needs the sample rate: call prepare() first")
        return self._co[0, : int(self._is[_NSEC])].copy()

    @property
    def gliding(self) -> bool:
        """True while a continuous parameter is still moving towards its target."""
        return bool(self.prepared and (self._is[_RAMP] != 0
                                       or np.any(self._fs[_CUR:_CUR + 3] != self._fs[_TGT:_TGT + 3])))


@register
class Butterworth(_GlidedSos):
    """Butterworth filter of order 1-16: highpass, lowpass, bandpass or bandstop.

    ``cutoff_hz`` is the -3 dB frequency of a lowpass/highpass and the lower -3 dB edge of a band
    mode; ``high_hz`` is the upper edge (band modes only).  A band filter of order N has N
    biquads (2N poles, like ``scipy.signal.butter(N, [lo, hi], 'bandpass')``).  Frequencies glide
    in log-frequency over ``smoothing_ms`` (sections redesigned every 32 samples while moving,
    coefficients ramped per sample in between); ``mode`` and ``order`` switch at once.  ``sos`` holds the current sections."""

    params = (
        Param("mode", "highpass", kind="choice", choices=MODES, doc="filter type"),
        Param("order", 2, kind="int", range=(1, 16),
              doc="Butterworth order (slope 6*order dB/octave; band modes: order per edge)"),
        Param("cutoff_hz", 80.0, unit="Hz", range=(MIN_HZ, 96000.0), smoothing_ms=20.0,
              scale="log", doc="-3 dB cutoff (lower edge in band modes), clamped below 0.45*fs"),
        Param("high_hz", 8000.0, unit="Hz", range=(MIN_HZ, 96000.0), smoothing_ms=20.0,
              scale="log", doc="upper -3 dB edge of bandpass/bandstop, clamped below 0.45*fs"),
    )
    _kind = 0
    _max_sections = MAX_SECTIONS

    def _targets_now(self) -> tuple[float, float, float]:
        mode = int(self.v("mode"))
        lo, hi = _clamp_edges(mode, self.v("cutoff_hz"), self.v("high_hz"),
                              float(self.sample_rate))
        return math.log(lo), math.log(hi), 0.0

    def _discrete_now(self) -> tuple[int, int]:
        return int(self.v("mode")), int(self.v("order"))


@register
class ParametricEQ(_GlidedSos):
    """One RBJ-cookbook EQ band: peak, lowshelf, highshelf, lowpass, highpass or notch.

    ``gain_db`` applies to peak and shelves (a shelf has half its gain, in dB, at ``freq_hz``).
    ``q`` is the band's Q (shelves: the cookbook's Q form; 0.707 gives the steepest shelf without
    overshoot).  Frequency (log), gain (dB) and Q (log) glide over ``smoothing_ms``; ``type``
    switches at once.  ``sos`` holds the current (1, 6) section."""

    params = (
        Param("type", "peak", kind="choice", choices=EQ_TYPES, doc="band shape"),
        Param("freq_hz", 1000.0, unit="Hz", range=(MIN_HZ, 96000.0), smoothing_ms=20.0,
              scale="log", doc="centre / corner frequency, clamped below 0.45*fs"),
        Param("gain_db", 0.0, unit="dB", range=(-30.0, 30.0), smoothing_ms=20.0,
              doc="boost or cut (peak and shelves)"),
        Param("q", 0.7071, unit="", range=(0.05, 40.0), smoothing_ms=20.0, scale="log",
              doc="quality factor (bandwidth)"),
    )
    _kind = 1
    _max_sections = 1

    def _targets_now(self) -> tuple[float, float, float]:
        f = min(max(self.v("freq_hz"), MIN_HZ), NYQ_FRAC * float(self.sample_rate))
        return math.log(f), self.v("gain_db"), math.log(self.v("q"))

    def _discrete_now(self) -> tuple[int, int]:
        return int(self.v("type")), 0


# --------------------------------------------------------------------------- Rumble
RUMBLE_RATE = 400.0        # Hz: the rate the sub band is filtered at (decimation fs / R)
RUMBLE_STAGES = 4          # moving averages of R samples in the decimator and the interpolator
RUMBLE_PASS_HZ = 20.0      # the lowpass (what is removed) is flat to here ...
RUMBLE_STOP_HZ = 40.0      # ... and -50 dB from here (the highpass passes it untouched)
RUMBLE_ATTEN_DB = 50.0
RUMBLE_FRAME_S = 0.25      # detection frame
RUMBLE_FRAMES = 12         # detection window (3 s)
RUMBLE_MIN_FRAMES = 6      # frames before the first decision (1.5 s)
RUMBLE_PERSIST = 0.2       # quietest frame / mean frame power of the sub band, at least
RUMBLE_CV = 0.25           # coefficient of variation of the frame power, at least (noise-like)
RUMBLE_CORR = 0.5          # |correlation| of sub-band and program frame powers, below
RUMBLE_REL = 3e-4          # sub-band power / program power, at least (-35 dB)
RUMBLE_FLOOR = 1e-9        # sub-band power (mean square), at least (-90 dBFS)
RUMBLE_ON = 2              # positive frames in a row before the filter engages
RUMBLE_OFF = 8             # negative frames in a row before it disengages
RUMBLE_GLIDE_MS = 200.0
RUMBLE_DET_HZ = 4.0        # the detector ignores the sub band below this (DC offset, drift)
RUMBLE_DC_S = 1.0          # the filter leaves LP's running mean (this time constant) in


@njit(cache=True, nogil=True)
def _boxcar(v, ring, sums, idx, base, r, pos) -> float:
    """One moving average of r samples: ring[base:base + r], running sum sums[idx]."""
    old = ring[base + pos]
    ring[base + pos] = v
    s = sums[idx] + v - old
    sums[idx] = s
    return s / r


@njit(cache=True, nogil=True)
def rumble_block(x, out, rings, sums, lows, taps, dl, ist, fst, fr, frt, r, dtot, detect,
                 g_coef, dcs, det_a, dc_a) -> None:
    """Rumble filter: y = x(n - D) - g * LP(x).  LP: four moving averages of r samples,
    every r-th sample kept, a linear-phase FIR at fs / r, zero-stuffed back to fs and four
    moving averages again; every part symmetric, so LP is linear-phase with delay D.

    dcs[ch]: per channel, the detector's one-pole highpass state (previous LP, previous
    output: the detector measures the sub band above ~RUMBLE_DET_HZ) and the running mean of LP
    (time constant RUMBLE_DC_S, at dcs[ch, 2]) that the filter leaves in: a DC offset, or a
    drift over seconds, is no rumble and is neither detected nor removed."""
    c, n = x.shape
    ns = RUMBLE_STAGES
    nl = taps.shape[0]
    dlen = dl.shape[1]
    flen = int(fst[3])
    for i in range(n):
        pos = ist[0]
        dpos = ist[1]
        tick = pos == 0
        lp_sum = 0.0
        tot_sum = 0.0
        for ch in range(c):
            v = float(x[ch, i])
            d = v
            for st in range(ns):
                d = _boxcar(d, rings[ch], sums[ch], st, st * r, r, pos)
            u = 0.0
            if tick:
                # a low-rate sample: into the FIR's ring, one FIR output, zero-stuffed (x r)
                lp = ist[7]
                lows[ch, lp] = d
                acc = 0.0
                for t in range(nl):
                    j = lp - t
                    if j < 0:
                        j += nl
                    acc += taps[t] * lows[ch, j]
                u = acc * r
            for st in range(ns, 2 * ns):
                u = _boxcar(u, rings[ch], sums[ch], st, st * r, r, pos)
            xd = dl[ch, (dpos - dtot) % dlen]
            dl[ch, dpos] = v
            m = dcs[ch, 2] + dc_a * (u - dcs[ch, 2])
            dcs[ch, 2] = m if abs(m) > 1e-30 else 0.0
            g = fst[0]
            out[ch, i] = xd - g * (u - m)
            # the detector's band: LP above RUMBLE_DET_HZ (one-pole highpass)
            hp = det_a * (dcs[ch, 1] + u - dcs[ch, 0])
            dcs[ch, 0] = u
            dcs[ch, 1] = hp if abs(hp) > 1e-30 else 0.0
            lp_sum += hp * hp
            tot_sum += xd * xd
        if tick:
            ist[7] = ist[7] + 1 if ist[7] + 1 < nl else 0
        ist[0] = pos + 1 if pos + 1 < r else 0
        ist[1] = dpos + 1 if dpos + 1 < dlen else 0
        # detection on frames counted in samples
        fst[4] += lp_sum
        fst[5] += tot_sum
        ist[2] += 1
        if ist[2] >= flen:
            ist[2] = 0
            k = ist[3] % RUMBLE_FRAMES
            fr[k] = fst[4] / (flen * c)
            ptot = fst[5] / (flen * c)
            # the program above the sub band (rumble alone leaves next to nothing there)
            frt[k] = max(ptot - fr[k], 1e-6 * ptot)
            fst[6] = fst[6] + 0.2 * (ptot - fst[6]) if ist[3] > 0 else ptot
            fst[4] = 0.0
            fst[5] = 0.0
            ist[3] += 1
            have = ist[3] - (dtot // flen + 1)
            if detect != 0 and have >= RUMBLE_MIN_FRAMES:
                # the last min(have, RUMBLE_FRAMES) frames
                nf = min(have, RUMBLE_FRAMES)
                mean = 0.0
                lo = 1e300
                for q in range(nf):
                    j = (ist[3] - 1 - q) % RUMBLE_FRAMES
                    mean += fr[j]
                    lo = min(lo, fr[j])
                mean /= nf
                var = 0.0
                for q in range(nf):
                    j = (ist[3] - 1 - q) % RUMBLE_FRAMES
                    var += (fr[j] - mean) ** 2
                cv = math.sqrt(var / nf) / mean if mean > 0.0 else 0.0
                # a kick drum's or a bass line's own sub energy rises and falls with the
                # program; rumble does not care: correlation of the two frame powers (in dB)
                ma = 0.0
                mb = 0.0
                for q in range(nf):
                    j = (ist[3] - 1 - q) % RUMBLE_FRAMES
                    ma += math.log(fr[j] + 1e-30)
                    mb += math.log(frt[j] + 1e-30)
                ma /= nf
                mb /= nf
                sab = 0.0
                saa = 0.0
                sbb = 0.0
                for q in range(nf):
                    j = (ist[3] - 1 - q) % RUMBLE_FRAMES
                    da = math.log(fr[j] + 1e-30) - ma
                    db = math.log(frt[j] + 1e-30) - mb
                    sab += da * db
                    saa += da * da
                    sbb += db * db
                corr = sab / math.sqrt(saa * sbb) if saa > 1e-12 and sbb > 1e-12 else 0.0
                yes = (mean > RUMBLE_FLOOR and lo > RUMBLE_PERSIST * mean and cv > RUMBLE_CV
                       and mean > RUMBLE_REL * fst[6] and abs(corr) < RUMBLE_CORR)
                if yes:
                    ist[5] = 0
                    ist[4] += 1
                    if ist[4] >= RUMBLE_ON:
                        ist[6] = 1
                else:
                    ist[4] = 0
                    ist[5] += 1
                    if ist[5] >= RUMBLE_OFF:
                        ist[6] = 0
        gt = fst[1] if (ist[6] != 0 or detect == 0) else 0.0
        g = fst[0]
        if g != gt:
            g = gt + g_coef * (g - gt)
            if abs(g - gt) < 1e-9:
                g = gt
            fst[0] = g
    # keep the running sums free of denormals
    for ch in range(c):
        for st in range(2 * ns):
            if abs(sums[ch, st]) < 1e-30:
                sums[ch, st] = 0.0


def rumble_taps(low_rate: float) -> np.ndarray:
    """The linear-phase FIR lowpass Rumble runs at ``low_rate``: Kaiser-windowed sinc, flat to
    RUMBLE_PASS_HZ, RUMBLE_ATTEN_DB down from RUMBLE_STOP_HZ, odd length, unit DC gain."""
    from scipy.signal import firwin, kaiserord
    nyq = 0.5 * low_rate
    n, beta = kaiserord(RUMBLE_ATTEN_DB, (RUMBLE_STOP_HZ - RUMBLE_PASS_HZ) / nyq)
    n |= 1
    h = firwin(n, 0.5 * (RUMBLE_PASS_HZ + RUMBLE_STOP_HZ), window=("kaiser", beta), fs=low_rate)
    return (h / h.sum()).astype(np.float64)


@register
class Rumble(Processor):
    """Turntable/handling rumble remover: a linear-phase highpass applied only where rumble is.

    Filter.  ``y = x(n - D) - g * LP(x)``.  LP is computed at ~400 Hz: four moving averages of
    R = fs / 400 samples, every R-th sample kept, a linear-phase Kaiser FIR (flat to 20 Hz,
    -50 dB from 40 Hz), zero-stuffed back and four moving averages again; every part is
    symmetric, so the highpass is linear-phase: from 40 Hz up the output is the input delayed
    by ``latency_samples`` (~83 ms), to within -50 dB; below 20 Hz rumble goes down by 30 dB
    and more (at 30 Hz by ~6 dB).

    Engaged, the filter leaves LP's running mean (time constant 1 s) in: a DC offset is no
    rumble and passes.

    Detection (``detect``).  In 250 ms frames (counted in samples) the power of LP above ~4 Hz
    (one-pole highpass: a DC offset or a slow drift is no rumble) is compared
    over the last 3 s: rumble is broadband noise that is always there, so the band is
    persistent (its quietest frame >= 20 % of the mean: a kick drum's sub energy comes and
    goes) and fluctuates like noise (frame-power variation >= 25 %: a steady sub-bass tone or
    organ pedal does not), does not rise and fall with the program (correlation of the frame
    powers in dB within +-0.5: a kick drum's own sub energy, and its tail, do), above -90 dBFS and no more
    than 35 dB under the program.  Two such
    frames engage the filter (200 ms glide); 8 frames without (2 s) release it.  Without
    rumble the output is the input delayed by ``latency_samples``, exactly.  ``detect = off``
    filters always.  ``engaged``: the detector's state.
    """

    params = (
        Param("detect", True, kind="bool",
              doc="filter only where rumble is detected (off: always)"),
        Param("depth", 1.0, range=(0.0, 1.0), doc="share of the sub band removed when engaged"),
    )

    def _prepare(self) -> None:
        fs = float(self.sample_rate)
        self._r = max(2, int(round(fs / RUMBLE_RATE)))
        self._taps = rumble_taps(fs / self._r)
        nl = self._taps.shape[0]
        self._dtot = RUMBLE_STAGES * (self._r - 1) + self._r * (nl - 1) // 2
        c = self.channels
        self._rings = np.zeros((c, 2 * RUMBLE_STAGES * self._r), np.float64)
        self._sums = np.zeros((c, 2 * RUMBLE_STAGES), np.float64)
        self._lows = np.zeros((c, nl), np.float64)
        self._dl = np.zeros((c, self._dtot + 1), np.float64)
        self._ist = np.zeros(8, np.int64)
        self._fst = np.zeros(8, np.float64)
        self._fr = np.zeros(RUMBLE_FRAMES, np.float64)
        self._frt = np.zeros(RUMBLE_FRAMES, np.float64)
        self._dcs = np.zeros((c, 3), np.float64)
        self._dc_a = float(1.0 - np.exp(-1.0 / (RUMBLE_DC_S * fs)))
        self._det_a = float(np.exp(-2.0 * np.pi * RUMBLE_DET_HZ / fs))
        self._gcoef = float(np.exp(-1000.0 / (RUMBLE_GLIDE_MS * fs)))
        self._reset()

    def _latency(self) -> int:
        return self._dtot

    def _reset(self) -> None:
        self._rings[:] = 0.0
        self._sums[:] = 0.0
        self._lows[:] = 0.0
        self._dl[:] = 0.0
        self._ist[:] = 0
        self._fst[:] = 0.0
        self._fr[:] = 0.0
        self._frt[:] = 0.0
        self._dcs[:] = 0.0
        self._fst[1] = self.v("depth")
        self._fst[3] = float(round(RUMBLE_FRAME_S * self.sample_rate))
        if not self.v("detect"):
            self._fst[0] = self._fst[1]

    def _on_param(self, name: str, value: float) -> None:
        if not self.prepared:
            return
        if name == "depth":
            self._fst[1] = value
        elif name == "detect" and not value:
            self._ist[6] = 0

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        rumble_block(x, out, self._rings, self._sums, self._lows, self._taps, self._dl,
                     self._ist, self._fst, self._fr, self._frt, self._r, self._dtot,
                     int(self.v("detect")),
                     self._gcoef, self._dcs, self._det_a, self._dc_a)

    @property
    def engaged(self) -> bool:
        """True while the detector finds rumble (the filter is on or fading in)."""
        return bool(self.prepared and self._ist[6])
