"""Noise reduction on the shared streaming STFT: :class:`Wiener` and :class:`SpectralGate`.

Both run on :class:`aural.engine.stft.Stft` inside a :class:`HopProcessor`: frame size
``default_fft_size(sample_rate)`` (16 ms rounded up to a power of two: 1024 at 44.1/48 kHz, 256 at
16 kHz), hop of half a frame with sqrt-Hann analysis/synthesis windows.  Declared latency
``hop - 1 + n_fft - hop = n_fft - 1`` samples (21.3 ms at 48 kHz).

The noise PSD is tracked blindly per channel and bin (:mod:`aural.engine.noise_psd`: IMCRA or
minimum statistics), so no noise-only clip is needed and the processors adapt to slowly changing
noise.  Everything a hop does after the FFT runs in one Numba kernel that allocates nothing.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..hop import HopProcessor
from ..kernels import LIMIT
from ..noise_psd import TRACKERS, NoiseTracker
from ..params import Param
from ..processor import register
from ..stft import Stft, default_fft_size

__all__ = ["Wiener", "SpectralGate", "RULES"]

RULES = ("omlsa", "lsa", "wiener")

# gain-kernel coefficient slots
_C_ALPHA = 0    # decision-directed alpha (per hop)
_C_STRENGTH = 1
_C_FLOOR = 2    # linear gain floor
_C_RULE = 3
_C_XIMIN = 4
_C_LINK = 5
_C_ZTHR = 6     # Esch-Vary: passed-power threshold
_C_PSI = 7      # Esch-Vary: largest half-width in bins
_C_ALPHA0 = 8   # decision-directed alpha where speech is absent (per hop)
_C_N = 9

# gain state fields gs[ch, f, k]
_G_DD = 0       # previous |A|^2 / lambda (decision-directed memory)
_G_GAIN = 1     # gain of the current frame
_G_N = 2


#: fast-math flags of the kernels: no NaN/inf assumptions (those checks must survive)
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: a hop with a sample at or beyond this (+30 dBFS; the input is limited to +-LIMIT) is no audio
#: but a burst of bad input: the adaptive statistics re-learn once it has left the frame
HOSTILE = 0.5 * LIMIT


@njit(cache=True, nogil=True)
def _peak(x) -> float:
    """Largest |x| of a (channels, n) block."""
    m = 0.0
    for c in range(x.shape[0]):
        for i in range(x.shape[1]):
            a = abs(x[c, i])
            if a > m:
                m = a
    return m


@njit(cache=True, nogil=True, fastmath=_FM)
def lsa_factor(v: float) -> float:
    """exp(E1(v) / 2), the factor of the log-spectral amplitude gain over the Wiener gain
    (G_lsa = xi / (1 + xi) * lsa_factor(v), v = gamma * xi / (1 + xi)).

    Polynomial fits (relative error < 6e-4), no exp/log: for v < 1 through
    exp((E1(v) + ln v) / 2) / sqrt(v); 1 for v >= 5 (true value < 1.0006)."""
    if v < 1.0:
        if v < 1e-12:
            v = 1e-12
        f = 0.7493048922 + v * (0.3746860286 + v * (-0.0002280327 + v * (-0.0098164290 + v * 0.0019889448)))
        return f / math.sqrt(v)
    if v < 2.5:
        return 1.5903447533 + v * (-0.8762739205 + v * (0.5426815783 + v * (-0.1594723230 + v * 0.0182558908)))
    if v < 5.0:
        return 1.1718992344 + v * (-0.1416529435 + v * (0.0455005989 + v * (-0.0066727576 + v * 0.0003736904)))
    return 1.0


@njit(cache=True, nogil=True, fastmath=_FM)
def _wiener_frame(spec, pw, active, gamma, spp, absence, gs, gcf, scratch) -> None:
    """Apply the suppression gain to spec (channels, bins) in place.

    pw, active, gamma, spp: the tracker's power, activity, a-posteriori SNR and speech-presence
    probability of this frame."""
    c, b = spec.shape
    alpha1 = gcf[_C_ALPHA]
    alpha0 = gcf[_C_ALPHA0]
    strength = gcf[_C_STRENGTH]
    floor = gcf[_C_FLOOR]
    rule = int(gcf[_C_RULE])
    ximin = gcf[_C_XIMIN]
    lfloor = math.log(floor)
    inv_strength = 1.0 / strength
    for ch in range(c):
        on = active[ch] > 0.0
        for k in range(b):
            gam = gamma[ch, k] * inv_strength if on else 0.0
            if gam > 1e10:
                gam = 1e10
            g1 = gam - 1.0
            if g1 < 0.0:
                g1 = 0.0
            p = spp[ch, k]
            alpha = alpha0 if absence[ch, k] > 0.0 else alpha1
            xi = alpha * gs[ch, _G_DD, k] + (1.0 - alpha) * g1
            if xi < ximin:
                xi = ximin
            gw = xi / (1.0 + xi)
            gh = gw
            if rule != 2:
                # log-spectral amplitude gain
                gh = gw * lsa_factor(gam * gw)
                if gh > 1.0:
                    gh = 1.0
            g = gh
            if rule == 0:
                # OM-LSA: G = G_lsa^p * G_min^(1-p)
                if p <= 0.0:
                    g = floor
                elif p < 1.0:
                    g = math.exp(p * math.log(gh) + (1.0 - p) * lfloor)
            if g < floor:
                g = floor
            if g > 1.0:
                g = 1.0
            gs[ch, _G_GAIN, k] = g
            if on:
                gs[ch, _G_DD, k] = gh * gh * gam
    zthr = gcf[_C_ZTHR]
    psi = gcf[_C_PSI]
    if gcf[_C_LINK] > 0.0 and c > 1:
        # one gain for all channels: the channel mean, smoothed from the summed powers
        inv = 1.0 / c
        for k in range(b):
            s = 0.0
            for ch in range(c):
                s += gs[ch, _G_GAIN, k]
            gs[0, _G_GAIN, k] = s * inv
        _musical_smooth(gs[0, _G_GAIN], pw, 0, c, zthr, psi, scratch)
        for ch in range(c):
            for k in range(b):
                g = gs[0, _G_GAIN, k]
                gs[ch, _G_GAIN, k] = g
                spec[ch, k] *= g
        return
    for ch in range(c):
        _musical_smooth(gs[ch, _G_GAIN], pw, ch, ch + 1, zthr, psi, scratch)
        for k in range(b):
            spec[ch, k] *= gs[ch, _G_GAIN, k]


@njit(cache=True, nogil=True, fastmath=_FM)
def _musical_smooth(g, pw, c0: int, c1: int, zthr: float, psi: float, scratch) -> None:
    """Esch & Vary (2009): in frames where the filter passes little power (noise only), smooth
    the gain g over frequency with a width growing as the passed power falls.  Isolated gain
    peaks (musical tones) are diluted; speech frames, which pass more power, are untouched.
    The passed power is measured on the channels c0..c1-1 of pw."""
    if zthr <= 0.0 or psi <= 0.0:
        return
    b = g.shape[0]
    num = 0.0
    den = 0.0
    for ch in range(c0, c1):
        for k in range(b):
            num += g[k] * g[k] * pw[ch, k]
            den += pw[ch, k]
    if den > 0.0:
        zeta = num / den
        if zeta < zthr:
            n = int((1.0 - zeta / zthr) * psi + 0.5)
            if n > 0:
                _box_smooth(g, scratch, n)


@njit(cache=True, nogil=True, fastmath=_FM)
def _box_smooth(g, acc, n: int) -> None:
    """g[k] = mean of g over bins k-n..k+n (clipped to the valid range); acc: scratch (b+1)."""
    b = g.shape[0]
    acc[0] = 0.0
    for k in range(b):
        acc[k + 1] = acc[k] + g[k]
    for k in range(b):
        lo = k - n
        hi = k + n + 1
        if lo < 0:
            lo = 0
        if hi > b:
            hi = b
        g[k] = (acc[hi] - acc[lo]) / (hi - lo)

@njit(cache=True, nogil=True, fastmath=_FM)
def _tonal_guard(noise, gamma, out, half: int, guard: int, ceil: float) -> None:
    """A-posteriori SNR against a noise estimate kept off tonal peaks.

    Blind trackers take a sustained note for noise (it is as steady as hiss).  Hiss has a smooth
    spectrum; a note is a peak a few bins wide.  Per bin the noise estimate is capped at
    ``ceil`` times the larger of the minima of the estimate over ``half`` bins on each side,
    ``guard`` bins away: on a smooth (or sloping) spectrum one side is as high as the bin and
    nothing changes; on a peak both sides are lower and the peak is kept as signal."""
    c, b = noise.shape
    for ch in range(c):
        for k in range(b):
            lo = 1e300
            for j in range(k - guard - half, k - guard):
                if 0 <= j < b and noise[ch, j] < lo:
                    lo = noise[ch, j]
            hi = 1e300
            for j in range(k + guard + 1, k + guard + half + 1):
                if 0 <= j < b and noise[ch, j] < hi:
                    hi = noise[ch, j]
            if lo == 1e300:
                lo = hi
            if hi == 1e300:
                hi = lo
            ref = max(lo, hi) * ceil
            lam = noise[ch, k]
            if ref < lam and ref > 0.0:
                out[ch, k] = gamma[ch, k] * (lam / ref)
            else:
                out[ch, k] = gamma[ch, k]


@njit(cache=True, nogil=True)
def _chsum(noise, k: int) -> float:
    """The noise estimate of bin k summed over the channels."""
    s = 0.0
    for ch in range(noise.shape[0]):
        s += noise[ch, k]
    return s


@njit(cache=True, nogil=True)
def _hiss_presence(noise, power, st, k0: int, k1: int, a_pow: float, a_h: float,
                   warm: int, half: int, guard: int, ceil: float) -> float:
    """Hiss presence 0..1 from the top band (bins k0..k1-1).  Hiss is a floor that is

    - always there: the tracked noise floor is a large share of the band's average power (a
      clean recording's top band is cymbals, breaths and decays far above its quietest level);
    - smooth: flat or gently sloping across the band (spectral flatness of the floor at least
      ``HISS_FLAT0``): a drone's or a cymbal's steady top partials are peaks, not a floor;
    - loud enough to matter: the floor per bin, extended over the whole spectrum, within
      ``HISS_SNR1`` dB of the program (a floor 30 dB and more under the program is the
      recording's own air, or a steady drone, and the gain would only eat the music).

    Nothing is decided before ``warm`` hops (the tracker starts from the first frames' power,
    which reads as all floor).  st: [average band power, smoothed presence, average total
    power, hops seen]."""
    c, b = noise.shape
    lam = 0.0
    pw = 0.0
    tot = 0.0
    lsum = 0.0
    nk = k1 - k0
    for ch in range(c):
        for k in range(b):
            tot += power[ch, k]
    for k in range(k0, k1):
        # the floor, steady partials discounted: capped like the tonal guard's noise estimate
        # at ``ceil`` times the larger of the floor's minima beside the bin
        s = 0.0
        for ch in range(c):
            s += noise[ch, k]
        lo = 1e300
        for j in range(k - guard - half, k - guard):
            if 0 <= j < b:
                lo = min(lo, _chsum(noise, j))
        hi = 1e300
        for j in range(k + guard + 1, k + guard + half + 1):
            if 0 <= j < b:
                hi = min(hi, _chsum(noise, j))
        if lo == 1e300:
            lo = hi
        if hi == 1e300:
            hi = lo
        ref = max(lo, hi) * ceil
        # the band's power counts the steady partial's excess out as well
        p = -max(s - ref, 0.0)
        for ch in range(c):
            p += power[ch, k]
        pw += max(p, 0.0)
        if ref < s:
            s = ref
        lam += s
        lsum += math.log(s + 1e-300)
    st[0] = pw if st[0] <= 0.0 else st[0] + a_pow * (pw - st[0])
    st[2] = tot if st[2] <= 0.0 else st[2] + a_pow * (tot - st[2])
    st[3] += 1.0
    r = lam / st[0] if st[0] > 0.0 else 0.0
    # a top band holding next to nothing (a synthesised pad, a band-limited transfer) holds
    # no hiss worth a gain either, however steady its remains
    if st[0] < HISS_MIN_REL * st[2] * nk / b:
        r = 0.0
    h = (r - HISS_R0) / (HISS_R1 - HISS_R0)
    # smooth: flatness (geometric over arithmetic mean) of the floor across the band
    flat = math.exp(lsum / nk) / (lam / nk) if lam > 0.0 else 0.0
    h = min(h, (flat - HISS_FLAT0) / (HISS_FLAT1 - HISS_FLAT0))
    # loud enough: the floor per bin against the program per bin (dB)
    if lam > 0.0 and st[2] > 0.0:
        snr = -10.0 * math.log10((lam / nk) / (st[2] / b))
        h = min(h, (HISS_SNR0 - snr) / (HISS_SNR0 - HISS_SNR1))
    else:
        h = 0.0
    st[4] = lam / (nk * c)
    if st[3] < warm:
        h = 0.0
    h = min(max(h, 0.0), 1.0)
    st[1] += a_h * (h - st[1])
    return st[1]


@njit(cache=True, nogil=True)
def _floor_cap(noise, gamma, out, shape, level: float) -> None:
    """A-posteriori SNR against a noise estimate capped at the hiss floor found in the top band
    (``level`` per bin), extended down in frequency along ``shape`` (the most a hiss spectrum
    rises towards the bass, times a margin): a hiss floor is smooth and broadband, so a bin whose
    tracked "noise" stands far above it holds a sustained sound, not hiss."""
    c, b = noise.shape
    for ch in range(c):
        for k in range(b):
            cap = level * shape[k]
            lam = noise[ch, k]
            if cap < lam and cap > 0.0:
                out[ch, k] = gamma[ch, k] * (lam / cap)
            else:
                out[ch, k] = gamma[ch, k]


@njit(cache=True, nogil=True)
def _blend(spec, dry, h: float) -> None:
    """spec = h * spec + (1 - h) * dry (the gain applied only as far as hiss is present)."""
    c, b = spec.shape
    for ch in range(c):
        for k in range(b):
            spec[ch, k] = h * spec[ch, k] + (1.0 - h) * dry[ch, k]


HISS_R0 = 0.1    # noise floor / band power at which hiss presence starts ...
HISS_R1 = 0.3    # ... and is full
HISS_POW_S = 1.5  # averaging of the band power
HISS_MIN_REL = 1e-4  # band power per bin / total power per bin, at least (-40 dB)
HISS_H_S = 0.5    # smoothing of the presence
HISS_FLAT0 = 0.15  # spectral flatness of the top-band floor at which presence starts ...
HISS_FLAT1 = 0.3   # ... and is full (white or pinkish hiss: 0.9 and more)
HISS_SNR0 = 32.0   # program over floor (per bin, dB) at which presence starts ...
HISS_SNR1 = 27.0   # ... and is full (hiss 20 dB under the program reads ~22 dB)
HISS_WARM_S = 1.0  # no presence before the tracker has seen this much
HISS_SLOPE_DB = 3.0  # below the top band the noise estimate is capped at the band's floor
HISS_CAP_DB = 3.0    # rising this much per octave towards the bass, plus this margin


# gate coefficient slots
_K_NSTD = 0
_K_THR = 1       # threshold offset in dB
_K_FLOOR = 2     # linear gain of gated bins
_K_ATT = 3       # mask time smoothing: attack coefficient per hop
_K_REL = 4       # release coefficient per hop
_K_NF = 5        # frequency smoothing half-width in bins
_K_STAT = 6      # noise-statistics update rate per hop
_K_N = 7

# gate state fields gt[ch, f, k]
_T_MEAN = 0      # mean of 10 log10(|Y|^2 / noise) over noise-only frames (dB)
_T_VAR = 1       # its variance (dB^2)
_T_MASK = 2      # time-smoothed mask
_T_RAW = 3       # frequency-smoothed raw mask of the current frame
_T_N = 4

#: mean and variance of 10 log10(E) for E ~ Exp(1): the dB statistics of Gaussian noise
_GAUSS_DB_MEAN = -2.5068
_GAUSS_DB_VAR = 31.0215
_DB_PER_NEPER2 = 10.0 / math.log(10.0)


@njit(cache=True, nogil=True, fastmath=_FM)
def _gate_frame(spec, active, gamma, absence, gt, kcf, norm, scratch) -> None:
    """Spectral gating of spec (channels, bins) in place with the tracker's statistics."""
    c, b = spec.shape
    nstd = kcf[_K_NSTD]
    thr = kcf[_K_THR]
    floor = kcf[_K_FLOOR]
    att = kcf[_K_ATT]
    rel = kcf[_K_REL]
    nf = int(kcf[_K_NF])
    rate = kcf[_K_STAT]
    for ch in range(c):
        on = active[ch] > 0.0
        # raw mask: the bin is above the noise mean + n_std * noise std (all in dB, relative to
        # the tracked noise PSD); the statistics are learned where the tracker's smoothed power
        # says noise only (not from the bin's own level, which would truncate the distribution)
        for k in range(b):
            if not on:
                gt[ch, _T_RAW, k] = 0.0
                continue
            gam = gamma[ch, k]
            if gam < 1e-30:
                gam = 1e-30
            d = _DB_PER_NEPER2 * math.log(gam)
            m = gt[ch, _T_MEAN, k]
            var = gt[ch, _T_VAR, k]
            gt[ch, _T_RAW, k] = 1.0 if d > m + nstd * math.sqrt(var) + thr else 0.0
            w = rate * absence[ch, k]
            if w > 0.0:
                dev = d - m
                # a stray loud frame, or the quiet ones after a burst that inflated the noise
                # PSD, must not inflate the statistics (Gaussian noise: 0.1 % below -30 dB)
                if dev > 30.0:
                    dev = 30.0
                elif dev < -30.0:
                    dev = -30.0
                gt[ch, _T_MEAN, k] = m + w * dev
                var = var + w * (dev * dev - var)
                if var < 0.25:
                    var = 0.25
                gt[ch, _T_VAR, k] = var
        # smoothing over frequency: triangle of half-width nf (two box filters), edge-normalised
        if nf > 0:
            raw = gt[ch, _T_RAW]
            acc = 0.0
            for k in range(b):
                acc += raw[k]
                if k > nf:
                    acc -= raw[k - nf - 1]
                scratch[k] = acc
            acc = 0.0
            for k in range(b - 1, -1, -1):
                acc += scratch[k]
                if k + nf + 1 < b:
                    acc -= scratch[k + nf + 1]
                raw[k] = acc * norm[k]
        # smoothing over time (causal one-pole, separate attack and release) and the gain
        for k in range(b):
            r = gt[ch, _T_RAW, k]
            m = gt[ch, _T_MASK, k]
            a = att if r > m else rel
            m = r + a * (m - r)
            if m < 1e-9:
                m = 0.0  # no denormals in the decaying mask
            gt[ch, _T_MASK, k] = m
            spec[ch, k] *= floor + (1.0 - floor) * m


@njit(cache=True, nogil=True)
def _tri_norm(norm, nf: int) -> None:
    """norm[k] = 1 / (sum of the triangle weights nf+1-|d| that fall inside 0..len-1 around k)."""
    b = norm.shape[0]
    for k in range(b):
        tot = 0.0
        for d in range(-nf, nf + 1):
            if 0 <= k + d < b:
                tot += nf + 1 - abs(d)
        norm[k] = 1.0 / tot


def _db(x: float) -> float:
    return float(10.0 ** (x / 20.0))


class _Glide:
    """A parameter value that glides to its target once per hop (one-pole, ``tau_s``)."""

    __slots__ = ("value", "target", "coef")

    def __init__(self, value: float, hop_s: float, tau_s: float) -> None:
        self.value = self.target = float(value)
        self.coef = math.exp(-hop_s / tau_s)

    @property
    def moving(self) -> bool:
        return self.value != self.target

    def step(self) -> float:
        t = self.target
        v = t + self.coef * (self.value - t)
        self.value = t if abs(v - t) <= 1e-6 * max(abs(t), 1e-3) else v
        return self.value

    def jump(self) -> None:
        self.value = self.target


class _SpectralDenoiser(HopProcessor):
    """Shared STFT + tracker plumbing of the two noise reducers."""

    #: hop as a fraction of the frame
    overlap = 2
    #: frame length in ms (rounded up to a power of two) at rates up to 24 kHz, and above
    frame_ms_low = 32.0
    frame_ms_high = 16.0

    def _prepare_hop(self) -> None:
        ms = self.frame_ms_low if self.sample_rate <= 24000 else self.frame_ms_high
        n_fft = default_fft_size(self.sample_rate, ms)
        self.n_fft = n_fft
        self.hop = n_fft // self.overlap
        self.stft = Stft(self.channels, n_fft, self.hop)
        nb = self.stft.n_bins
        self.tracker = NoiseTracker(self.channels, nb, self.hop, self.sample_rate,
                                    int(self.v("tracker")))
        self._w1 = np.zeros(nb + 1)
        self._hop_s = self.hop / float(self.sample_rate)
        self._since_hostile = -1  # samples since the last hop of bad input (-1: none pending)

    def _hop_latency(self) -> int:
        return self.stft.latency

    def _reset_hop(self) -> None:
        self.stft.reset()
        self.tracker.reset()
        self._since_hostile = -1

    def _guard(self, x: np.ndarray) -> None:
        """After a hop holding a burst of bad input (beyond ``HOSTILE``: huge values limited by
        the input sanitiser), re-learn the noise statistics from scratch once the burst has left
        the analysis frame: they would otherwise take the burst for noise (or, right after it,
        every frame for far below the noise) and need many seconds to forget it."""
        if _peak(x) >= HOSTILE:
            self._since_hostile = 0
        elif self._since_hostile >= 0:
            self._since_hostile += x.shape[1]
            if self._since_hostile >= self.n_fft:
                self._since_hostile = -1
                self._relearn()

    def _relearn(self) -> None:
        """Forget the adaptive statistics (O(state), audio thread); the STFT buffers stay."""
        self.tracker.reset()

    def _on_param(self, name: str, value: float) -> None:
        if name == "tracker" and self.prepared:
            self.tracker.set_method(int(value))

    # ------------------------------------------------------------------ inspection
    def noise_estimate(self) -> np.ndarray:
        """Tracked noise PSD (channels, n_fft//2+1) in |STFT|^2 units of this processor's frames
        (white noise of variance s2 reads ``s2 * sum(window**2)``)."""
        return self.tracker.noise.copy()

    def noise_psd_per_sample(self) -> np.ndarray:
        """Tracked noise PSD normalised to the variance per sample: white noise of variance s2
        reads s2 in every bin."""
        return self.tracker.noise / float(np.sum(self.stft.win_a ** 2))


@register
class Wiener(_SpectralDenoiser):
    """Blind single-channel noise reduction: IMCRA noise tracking + decision-directed OM-LSA gain.

    Per channel and bin, the noise PSD is tracked without a noise clip (``tracker``), the a-priori
    SNR is estimated by the decision-directed rule (``dd_alpha``), and the gain is, by ``rule``:

    - ``omlsa`` (default): Cohen's optimally-modified log-spectral amplitude estimator, the
      log-MMSE (LSA) gain raised to the speech-presence probability and the floor to its
      complement: G = G_lsa^p * G_floor^(1-p);
    - ``lsa``: Ephraim-Malah log-spectral amplitude gain;
    - ``wiener``: xi / (1 + xi).

    The gain never goes below ``floor_db`` (attenuation limit) nor above 1; ``strength`` scales the
    noise estimate (over-subtraction).  Musical noise is kept down by the decision-directed
    recursion, the speech-presence weighting of OM-LSA and, in frames that pass little power
    (noise only), a smoothing of the gain over frequency whose width grows as the passed power
    falls (Esch & Vary 2009, up to +-600 Hz).  ``link`` applies one gain (the channel mean) to
    every channel, which keeps a stereo image steady.  ``dd_alpha`` is given for a 10 ms hop and
    rescaled to the actual hop.  With ``floor_db = 0`` the output is the input delayed by
    ``latency_samples``.
    """

    params = (
        Param("floor_db", -22.0, unit="dB", range=(-60.0, 0.0), smoothing_ms=50.0,
              doc="lowest gain (most attenuation) applied to a bin"),
        Param("strength", 1.0, unit="x", range=(0.25, 4.0), smoothing_ms=50.0,
              doc="over-subtraction: multiplies the noise estimate"),
        Param("dd_alpha", 0.93, range=(0.5, 0.999),
              doc="decision-directed a-priori SNR smoothing (at a 10 ms hop)"),
        Param("tracker", "mcra", kind="choice", choices=TRACKERS,
              doc="noise PSD tracker: IMCRA or minimum statistics"),
        Param("rule", "omlsa", kind="choice", choices=RULES,
              doc="gain rule: OM-LSA, log-MMSE (LSA) or Wiener"),
        Param("link", False, kind="bool", doc="apply the channel-averaged gain to all channels"),
        Param("tonal", False, kind="bool",
              doc="keep sustained notes: the noise estimate is capped at the level beside "
                  "each spectral peak (hiss is smooth, a note is a peak)"),
        Param("hiss_gate", False, kind="bool",
              doc="act only as far as a hiss floor is present in the top band (its tracked "
                  "floor is a large share of its power); clean material passes"),
    )

    _DD_REF_S = 0.010
    #: tonal guard: half-width of the side windows and the gap to them (Hz), cap factor
    _TONAL_HALF_HZ = 200.0
    _TONAL_GUARD_HZ = 60.0
    _TONAL_CEIL = 2.0
    _DD_ALPHA0 = 0.99
    _ZTHR = 0.3
    _PSI_HZ = 600.0

    def _prepare_hop(self) -> None:
        super()._prepare_hop()
        nb = self.stft.n_bins
        self._gs = np.ones((self.channels, _G_N, nb))  # DD memory at 0 dB, gains at 1
        self._gcf = np.zeros(_C_N)
        self._floor = _Glide(_db(self.v("floor_db")), self._hop_s, 0.05)
        self._strength = _Glide(self.v("strength"), self._hop_s, 0.05)
        self._gam = np.zeros((self.channels, nb))
        self._dry = np.zeros((self.channels, nb), np.complex128)
        self._hst = np.zeros(5)
        self._hwarm = int(math.ceil(HISS_WARM_S / self._hop_s))
        bwh = self.sample_rate / self.n_fft
        self._hk0 = int(0.15 * self.sample_rate / bwh)
        self._hk1 = max(self._hk0 + 1, int(0.4 * self.sample_rate / bwh))
        f = np.arange(nb) * bwh
        fref = self._hk0 * bwh
        octs = np.log2(fref / np.maximum(f, 20.0))
        self._hshape = 10 ** ((HISS_CAP_DB + HISS_SLOPE_DB * np.maximum(octs, 0.0)) / 10.0)
        self._ha_pow = 1.0 - math.exp(-self._hop_s / HISS_POW_S)
        self._ha_h = 1.0 - math.exp(-self._hop_s / HISS_H_S)
        bw = self.sample_rate / self.n_fft
        self._t_half = max(2, int(round(self._TONAL_HALF_HZ / bw)))
        self._t_guard = max(2, int(round(self._TONAL_GUARD_HZ / bw)))
        self._update_coefs()

    def _update_coefs(self) -> None:
        g = self._gcf
        a = self.v("dd_alpha")
        g[_C_ALPHA] = a ** (self._hop_s / self._DD_REF_S)
        g[_C_ALPHA0] = max(a, self._DD_ALPHA0) ** (self._hop_s / self._DD_REF_S)
        g[_C_STRENGTH] = self._strength.value
        g[_C_FLOOR] = self._floor.value
        g[_C_RULE] = self.v("rule")
        g[_C_XIMIN] = 10 ** (-25.0 / 10.0)
        g[_C_LINK] = self.v("link")
        g[_C_ZTHR] = self._ZTHR
        g[_C_PSI] = self._PSI_HZ / (self.sample_rate / self.n_fft)

    def _relearn(self) -> None:
        super()._relearn()
        self._gs[:] = 1.0
        self._hst[:] = 0.0

    def _reset_hop(self) -> None:
        super()._reset_hop()
        self._gs[:] = 1.0  # DD memory starts at 0 dB a-priori SNR, gains at 1
        self._hst[:] = 0.0
        self._floor.jump()
        self._strength.jump()
        self._update_coefs()

    def _on_param(self, name: str, value: float) -> None:
        super()._on_param(name, value)
        if not self.prepared:
            return
        if name == "floor_db":
            self._floor.target = _db(value)
        elif name == "strength":
            self._strength.target = value
        elif name in ("dd_alpha", "rule", "link"):
            self._update_coefs()

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        # parameter glides advance once per hop (block-size invariant)
        if self._floor.moving or self._strength.moving:
            self._gcf[_C_FLOOR] = self._floor.step()
            self._gcf[_C_STRENGTH] = self._strength.step()
        self._guard(x)
        spec = self.stft.analyze(x)
        t = self.tracker
        t.update_spectrum(spec)
        gamma = t.gamma
        gate = self.v("hiss_gate")
        if gate:
            h = _hiss_presence(t.noise, t.power, self._hst, self._hk0, self._hk1,
                               self._ha_pow, self._ha_h, self._hwarm, self._t_half,
                               self._t_guard, self._TONAL_CEIL)
            self._dry[:] = spec
        if self.v("tonal"):
            _tonal_guard(t.noise, t.gamma, self._gam, self._t_half, self._t_guard,
                         self._TONAL_CEIL)
            gamma = self._gam
        if gate:
            _floor_cap(t.noise, gamma, self._gam, self._hshape, self._hst[4])
            gamma = self._gam
        _wiener_frame(spec, t.power, t.active, gamma, t.presence, t.absence, self._gs, self._gcf, self._w1)
        if gate:
            _blend(spec, self._dry, h)
        self.stft.synthesize(out)

    @property
    def hiss_presence(self) -> float:
        """The hiss gate's current presence (0..1; 1 when ``hiss_gate`` is off)."""
        if not self.prepared or not self.v("hiss_gate"):
            return 1.0
        return float(self._hst[1])


@register
class SpectralGate(_SpectralDenoiser):
    """Spectral gating (the noisereduce method) with blindly tracked noise statistics.

    Per channel and bin, the noise PSD is tracked online (``tracker``) and the mean and standard
    deviation of the noise level in dB are learned where the tracker finds no speech.  A bin
    passes when its level exceeds ``mean + n_std * std + threshold_db``; the binary mask is
    smoothed over frequency (triangle of half-width ``smooth_hz``) and over time (causal
    one-pole: closes with time constant ``smooth_ms``, opens three times faster), and gated bins
    are attenuated by ``reduction_db``.  Causal: latency ``n_fft - 1`` like :class:`Wiener`.
    """

    params = (
        Param("n_std", 1.5, range=(0.0, 6.0),
              doc="threshold above the noise mean, in standard deviations of the noise (dB)"),
        Param("threshold_db", 0.0, unit="dB", range=(-20.0, 30.0), doc="extra threshold offset"),
        Param("reduction_db", 24.0, unit="dB", range=(0.0, 80.0), smoothing_ms=50.0,
              doc="attenuation of gated bins"),
        Param("smooth_ms", 50.0, unit="ms", range=(0.0, 500.0),
              doc="mask smoothing over time (release time constant)"),
        Param("smooth_hz", 500.0, unit="Hz", range=(0.0, 4000.0),
              doc="mask smoothing over frequency (half-width of the triangle)"),
        Param("tracker", "mcra", kind="choice", choices=TRACKERS,
              doc="noise PSD tracker: IMCRA or minimum statistics"),
    )

    #: attack time constant of the mask as a fraction of smooth_ms (release)
    _ATTACK = 1.0 / 3.0
    #: time constant of the learned noise dB statistics
    _STAT_S = 1.0

    def _prepare_hop(self) -> None:
        super()._prepare_hop()
        nb = self.stft.n_bins
        self._gt = np.zeros((self.channels, _T_N, nb))
        self._kcf = np.zeros(_K_N)
        self._norm = np.ones(nb)
        self._floor = _Glide(_db(-self.v("reduction_db")), self._hop_s, 0.05)
        self._update_coefs()
        self._reset_gate()

    def _update_coefs(self) -> None:
        k = self._kcf
        k[_K_NSTD] = self.v("n_std")
        k[_K_THR] = self.v("threshold_db")
        k[_K_FLOOR] = self._floor.value
        ms = self.v("smooth_ms") * 1e-3
        k[_K_ATT] = math.exp(-self._hop_s / (ms * self._ATTACK)) if ms > 0 else 0.0
        k[_K_REL] = math.exp(-self._hop_s / ms) if ms > 0 else 0.0
        nf = int(round(self.v("smooth_hz") / (self.sample_rate / self.n_fft)))
        nf = min(nf, self.stft.n_bins - 1)
        k[_K_NF] = nf
        k[_K_STAT] = 1.0 - math.exp(-self._hop_s / self._STAT_S)
        _tri_norm(self._norm, nf)

    def _reset_gate(self) -> None:
        self._gt[:] = 0.0
        self._gt[:, _T_MEAN] = _GAUSS_DB_MEAN
        self._gt[:, _T_VAR] = _GAUSS_DB_VAR

    def _relearn(self) -> None:
        super()._relearn()
        self._reset_gate()

    def _reset_hop(self) -> None:
        super()._reset_hop()
        self._reset_gate()
        self._floor.jump()
        self._kcf[_K_FLOOR] = self._floor.value

    def _on_param(self, name: str, value: float) -> None:
        super()._on_param(name, value)
        if not self.prepared:
            return
        if name == "reduction_db":
            self._floor.target = _db(-value)
        elif name in ("n_std", "threshold_db", "smooth_ms", "smooth_hz"):
            self._update_coefs()

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        if self._floor.moving:
            self._kcf[_K_FLOOR] = self._floor.step()
        self._guard(x)
        spec = self.stft.analyze(x)
        t = self.tracker
        t.update_spectrum(spec)
        _gate_frame(spec, t.active, t.gamma, t.absence, self._gt, self._kcf, self._norm, self._w1)
        self.stft.synthesize(out)
