"""Bandwidth extension kernels shared by the streaming node and the trainer (numpy + numba only).

Layout (one per sample rate, see :class:`BweLayout`): an STFT of ``n_fft`` (~21 ms) with a hop of
``n_fft/4``; Hann analysis; Kaiser (beta 12, sidelobes below -97 dB five bins out) synthesis, so
a generated spectrum that is zero below bin ``k0`` leaks less than -97 dB below ``k0 - 5``.

Envelope bands: ``N_BANDS`` ERB-spaced bands from 0 to 24 kHz (fixed in Hz, whatever the rate).
Per frame and channel: the band powers in dB (``band_db``), the reference level ``ref`` (the mean
power below the cutoff, dB) and the model features (``features``): for every band wholly below the
cutoff its level relative to ``ref`` (/20), a known-mask, ``ref``/50 and cutoff/24 kHz.  The model
(or the DSP fallback :func:`fold_envelope`) returns every band's level relative to ``ref`` (/20);
only the bands above the cutoff are used.

Synthesis (:func:`synth_hop`): the top of the known band, ``[src_lo, src_hi)``, is copied upwards
period by period (a shift of a multiple of 4 bins keeps the phase coherent across hops of
``n_fft/4``: spectral translation, i.e. single-sideband modulation), shaped per bin to the
predicted envelope (interpolated between band centres in dB), and added to the input delayed by
``n_fft - hop``.  Below the first generated bin the output is the input, sample for sample.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from aural.engine.stft import _analyze, _fft_inplace, _irfft_pre, fft_tables

__all__ = ["N_BANDS", "N_FEAT", "TOP_HZ", "BweLayout", "band_edges_hz", "analyze_hop",
           "band_db", "detect_cutoff", "features", "fold_envelope", "synth_hop", "GUARD_BINS"]

N_BANDS = 32
N_FEAT = 2 * N_BANDS + 2
TOP_HZ = 24000.0
GUARD_BINS = 5       # generated content starts this many bins above the cutoff bin
KAISER_BETA = 12.0
DB_FLOOR = -140.0


def band_edges_hz(n: int = N_BANDS, top: float = TOP_HZ) -> np.ndarray:
    """n+1 band edges in Hz, ERB-rate spaced from 0 to ``top`` (Glasberg & Moore)."""
    e_top = 21.4 * math.log10(1.0 + 0.00437 * top)
    e = np.linspace(0.0, e_top, n + 1)
    return (10.0 ** (e / 21.4) - 1.0) / 0.00437


def fft_size(sample_rate: int) -> int:
    """~21 ms power of two: 1024 at 44.1/48 kHz, 2048 at 96 kHz, 512 at 16 kHz."""
    n = int(math.ceil(sample_rate * 0.021))
    return max(64, 1 << (n - 1).bit_length())


class BweLayout:
    """STFT sizes, windows, FFT tables and band->bin map for one sample rate."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self.n_fft = fft_size(self.sample_rate)
        self.hop = self.n_fft // 4
        self.n_bins = self.n_fft // 2 + 1
        self.bin_hz = self.sample_rate / self.n_fft
        t = np.arange(self.n_fft)
        self.win_a = 0.5 - 0.5 * np.cos(2 * np.pi * t / self.n_fft)
        ws = np.kaiser(self.n_fft + 1, KAISER_BETA)[: self.n_fft]
        ola = np.zeros(self.n_fft)
        for s in range(0, self.n_fft, self.hop):
            ola += np.roll(self.win_a * ws, s)
        self.win_s = ws / ola.mean()
        self.pnorm = 1.0 / float(np.sum(self.win_a ** 2))  # |X|^2 * pnorm: mean-square per bin
        self.rev, self.tw, self.tw2 = fft_tables(self.n_fft)
        edges = band_edges_hz()
        lo = np.round(edges[:-1] / self.bin_hz).astype(np.int64)
        hi = np.round(edges[1:] / self.bin_hz).astype(np.int64)
        hi = np.maximum(hi, lo + 1)
        lo[0] = 1  # no DC
        top = self.n_bins - 1  # Nyquist bin excluded
        self.band_lo = np.minimum(lo, top)
        self.band_hi = np.minimum(hi, top)
        self.band_centre = 0.5 * (self.band_lo + self.band_hi - 1).astype(np.float64)
        self.edges_hz = edges
        self.top_bin = int(min(top, round(TOP_HZ / self.bin_hz)))

    @property
    def latency(self) -> int:
        """Delay of the output hop behind the newest input (n_fft - hop)."""
        return self.n_fft - self.hop


@njit(cache=True, nogil=True)
def analyze_hop(inbuf, x, window, spec, z, rev, tw, tw2, pavg, a_avg: float, pnorm: float) -> None:
    """Shift hop x (C, H) into inbuf (C, N), spec[c] = rfft(window * inbuf[c]) and update the
    channel-mean running power spectrum pavg (one-pole, coefficient a_avg)."""
    c = inbuf.shape[0]
    kb = spec.shape[1]
    _analyze(inbuf, x, window, window, spec, z, rev, tw, tw2)  # the shared STFT analysis
    inv = pnorm / c
    for k in range(kb):
        p = 0.0
        for ch in range(c):
            v = spec[ch, k]
            p += v.real * v.real + v.imag * v.imag
        pavg[k] = a_avg * pavg[k] + (1.0 - a_avg) * p * inv


@njit(cache=True, nogil=True)
def band_db(spec, band_lo, band_hi, pnorm: float, out) -> None:
    """out[c, b] = 10 log10(mean power of band b) (floored at DB_FLOOR dB)."""
    c = spec.shape[0]
    for ch in range(c):
        for b in range(band_lo.shape[0]):
            lo = band_lo[b]
            hi = band_hi[b]
            if hi <= lo:
                out[ch, b] = DB_FLOOR
                continue
            s = 0.0
            for k in range(lo, hi):
                v = spec[ch, k]
                s += v.real * v.real + v.imag * v.imag
            out[ch, b] = 10.0 * math.log10(s * pnorm / (hi - lo) + 1e-14)


@njit(cache=True, nogil=True)
def detect_cutoff(pavg, k_min: int, k_max: int, width: int, drop_db: float, knee_db: float,
                  level_db: float, work, sdb) -> int:
    """Upper edge of the running power spectrum pavg (bins), or -1 for none in [k_min, k_max].

    1. Region: the highest bin k where the mean level of [k - width, k) lies ``drop_db`` above
       the loudest bin from k + k/4 up (a transition allowance of 25 %) and above ``level_db``:
       everything well above k is that much quieter than the band just below it.
    2. Edge: the plateau P = the mean level of [0.8 e, 0.92 e); the cutoff e is the highest bin
       (up to k + k/4) whose 5-bin-smoothed level is within ``knee_db`` of P (iterated from
       e = k until it stays put, at most 12 times: a plateau first measured on the roll-off
       moves down to the band below it).
    work, sdb: float64 scratch of len(pavg)."""
    kb = pavg.shape[0]
    top = kb - 2
    for k in range(kb):
        sdb[k] = 10.0 * math.log10(pavg[k] + 1e-20)
    run = -1e300
    for k in range(top, -1, -1):  # suffix max: work[k] = max(sdb[k:top+1])
        v = sdb[k]
        if v > run:
            run = v
        work[k] = run
    ke = -1
    for k in range(min(k_max, top), k_min - 1, -1):
        g = max(3, k // 4)
        if k - width < 1 or k + g > top:
            continue
        s = 0.0
        for j in range(k - width, k):
            s += sdb[j]
        a = s / width
        if a > level_db and a - work[k + g] > drop_db:
            ke = k
            break
    if ke < 0:
        return -1
    # 5-bin smoothed level (power mean), into work
    for k in range(2, top - 1):
        s = 0.0
        for j in range(k - 2, k + 3):
            s += pavg[j]
        work[k] = 10.0 * math.log10(s / 5.0 + 1e-20)
    # edge refinement: the highest bin within knee_db of the mean level of [0.8 e, 0.92 e),
    # iterated from the region estimate until stable (a plateau measured just below the edge)
    e = ke
    for _ in range(12):
        lo = max(1, (e * 4) // 5)
        hi = max(lo + 1, (e * 23) // 25)
        s = 0.0
        for k in range(lo, hi):
            s += pavg[k]
        p = 10.0 * math.log10(s / (hi - lo) + 1e-20)
        e2 = -1
        for k in range(min(top - 2, ke + max(3, ke // 4)), 1, -1):
            if work[k] >= p - knee_db:
                e2 = k
                break
        if e2 < 0 or e2 == e:
            break
        e = e2
    return e if k_min <= e <= k_max else -1


@njit(cache=True, nogil=True)
def features(bdb, band_hi, k_cut: int, cut_hz: float, feat, ref) -> None:
    """Model features (C, N_FEAT) from band levels bdb (C, B) below the cutoff bin k_cut;
    ref[c] = power-mean level (dB) of the known bands."""
    c, nb = bdb.shape
    for ch in range(c):
        s = 0.0
        w = 0.0
        for b in range(nb):
            if band_hi[b] <= k_cut:
                s += 10.0 ** (bdb[ch, b] / 10.0) * (band_hi[b] - (band_hi[b - 1] if b else 1))
                w += band_hi[b] - (band_hi[b - 1] if b else 1)
        r = 10.0 * math.log10(s / w + 1e-14) if w > 0 else DB_FLOOR
        ref[ch] = r
        for b in range(nb):
            if band_hi[b] <= k_cut:
                v = (bdb[ch, b] - r) / 20.0
                feat[ch, b] = max(-5.0, min(2.0, v))
                feat[ch, nb + b] = 1.0
            else:
                feat[ch, b] = 0.0
                feat[ch, nb + b] = 0.0
        feat[ch, 2 * nb] = max(-3.0, r / 50.0)
        feat[ch, 2 * nb + 1] = cut_hz / 24000.0


@njit(cache=True, nogil=True)
def fold_envelope(bdb, ref, band_lo, band_hi, band_centre, k_cut: int, bin_hz: float,
                  offset_db: float, env) -> None:
    """DSP fallback envelope (relative to ref, /20): the level of the top known octave
    extrapolated with its own slope (dB per octave, clamped to [-24, -3]) minus ``offset_db``."""
    c, nb = bdb.shape
    for ch in range(c):
        # least squares of level vs log2(f) over the known bands in [cut/2, cut)
        sx = 0.0
        sy = 0.0
        sxx = 0.0
        sxy = 0.0
        n = 0
        for b in range(nb):
            if band_hi[b] <= k_cut and band_lo[b] * 2 >= k_cut - 1:
                x = math.log2(max(band_centre[b], 1.0))
                y = bdb[ch, b]
                sx += x
                sy += y
                sxx += x * x
                sxy += x * y
                n += 1
        if n >= 2 and sxx * n - sx * sx > 1e-9:
            slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        else:
            slope = -12.0
        slope = max(-24.0, min(-3.0, slope))
        lvl = sy / n if n > 0 else ref[ch] - 20.0
        xm = sx / n if n > 0 else math.log2(max(k_cut * 0.75, 1.0))
        for b in range(nb):
            x = math.log2(max(band_centre[b], 1.0))
            env[ch, b] = (lvl + slope * (x - xm) - offset_db - ref[ch]) / 20.0


HARM_MIN_R = 0.3     # spectral autocorrelation a harmonic period needs (else the nominal one)
HARM_RANGE = 0.25    # periods searched: the nominal one +- this share


@njit(cache=True, nogil=True)
def harmonic_period(spec, ch: int, src_hi: int, wdt: int, mag) -> int:
    """The translation period in bins near ``wdt`` that best continues the magnitude spectrum's
    own periodicity below ``src_hi`` (Pearson correlation of |X[k]| and |X[k - p]| over the
    source band, a small preference for the nominal period); ``wdt`` when none correlates by
    HARM_MIN_R (noise, or too few bins).  For a harmonic comb the best p is a multiple of f0.
    ``mag``: float64 scratch of at least ``src_hi`` values."""
    lo = src_hi - wdt
    pmin = max(4, int(wdt * (1.0 - HARM_RANGE)))
    pmax = min(int(wdt * (1.0 + HARM_RANGE)), lo - 1)
    if pmax < pmin:
        return wdt
    for k in range(lo - pmax, src_hi):
        mag[k] = abs(spec[ch, k])
    m = src_hi - lo
    sa = 0.0
    saa = 0.0
    for k in range(lo, src_hi):
        sa += mag[k]
        saa += mag[k] * mag[k]
    va = saa - sa * sa / m
    if va <= 0.0:
        return wdt
    best = -2.0
    bp = wdt
    br = 0.0
    for p in range(pmin, pmax + 1):
        sb = 0.0
        sbb = 0.0
        sab = 0.0
        for k in range(lo, src_hi):
            b = mag[k - p]
            sb += b
            sbb += b * b
            sab += mag[k] * b
        vb = sbb - sb * sb / m
        if vb <= 0.0:
            continue
        r = (sab - sa * sb / m) / math.sqrt(va * vb)
        score = r - 0.1 * abs(p - wdt) / wdt
        if score > best:
            best = score
            bp = p
            br = r
    return bp if br >= HARM_MIN_R else wdt


@njit(cache=True, nogil=True)
def synth_hop(spec, env, ref, inbuf, ola, out, k_cut: int, k_top: int, band_lo, band_hi,
              band_centre, win_s, z, frame, ybuf, gain, rev, tw, tw2, pnorm: float,
              noise_mix: float, seed, harmonic: bool = True) -> None:
    """Generate the band [k_cut + GUARD_BINS, k_top) from spec shaped to env (C, B, rel. dB/20),
    overlap-add it, and write out (C, H) = oldest hop of inbuf + the finished OLA hop.
    k_cut < 0: nothing generated (out is the delayed input once the OLA tail has passed).

    ``seed``: int64[2], the phase-noise generator's state and the hop counter.  ``harmonic``:
    the translation period follows the spectrum's own (:func:`harmonic_period`), so a harmonic
    comb continues on its harmonics instead of landing between them."""
    c, n = inbuf.shape
    h = out.shape[1]
    m = n // 2
    kb = spec.shape[1]
    nb = band_lo.shape[0]
    k0 = k_cut + GUARD_BINS
    active = k_cut > 0 and k0 < k_top
    if active:
        # source: [src_lo, src_hi) just below the cutoff, width a multiple of 4 bins
        src_hi = k_cut - max(4, k_cut // 20)
        wdt = max(4, (src_hi // 2) // 4 * 4)
        src_lo = src_hi - wdt
        if src_lo < 1:
            active = False
    inv = 1.0 / m
    for ch in range(c):
        if active:
            for k in range(kb):
                ybuf[k] = 0.0
            per = harmonic_period(spec, ch, src_hi, wdt, frame) if harmonic else wdt
            hn = seed[1] & 3
            # translated spectrum, periods of `per` bins above [src_hi - per, src_hi): a shift of
            # d bins is a modulation by d fs / n_fft, whose phase at this frame's start is
            # (pi / 2) d hn (hops of n_fft / 4); scramble phase by noise_mix
            for k in range(k0, k_top):
                j = k
                while j >= src_hi:
                    j -= per
                v = spec[ch, j]
                q = ((k - j) * hn) & 3
                if q == 1:
                    v = complex(-v.imag, v.real)
                elif q == 2:
                    v = -v
                elif q == 3:
                    v = complex(v.imag, -v.real)
                if noise_mix > 0.0:
                    seed[0] = (seed[0] * 6364136223846793005 + 1442695040888963407) & 0x7FFFFFFFFFFFFFFF
                    ph = (seed[0] >> 20) * (2.0 * math.pi / 8796093022208.0)
                    mag = math.sqrt(v.real * v.real + v.imag * v.imag)
                    v = (1.0 - noise_mix) * v + noise_mix * mag * complex(math.cos(ph), math.sin(ph))
                ybuf[k] = v
            # per band: gain (dB) to reach the envelope; interpolate between band centres
            for b in range(nb):
                lo = max(band_lo[b], k0)
                hi = min(band_hi[b], k_top)
                if hi <= lo:
                    gain[b] = -200.0
                    continue
                s = 0.0
                for k in range(lo, hi):
                    v = ybuf[k]
                    s += v.real * v.real + v.imag * v.imag
                have = 10.0 * math.log10(s * pnorm / (hi - lo) + 1e-20)
                want = env[ch, b] * 20.0 + ref[ch]
                g = want - have
                gain[b] = min(60.0, g)
            bi = 0
            for k in range(k0, k_top):
                while bi + 1 < nb and band_centre[bi + 1] <= k:
                    bi += 1
                # bands not covering k (below k0) have gain -200: use the nearest valid one
                ga = gain[bi]
                gb = gain[bi + 1] if bi + 1 < nb else ga
                if ga < -199.0:
                    ga = gb
                if gb < -199.0:
                    gb = ga
                ca = band_centre[bi]
                cb = band_centre[bi + 1] if bi + 1 < nb else ca + 1.0
                t = (k - ca) / (cb - ca) if cb > ca else 0.0
                t = max(0.0, min(1.0, t))
                gdb = ga + t * (gb - ga)
                ybuf[k] = ybuf[k] * 10.0 ** (gdb / 20.0)
            _irfft_pre(ybuf, z, tw2)
            _fft_inplace(z, rev, tw, True)
            for i in range(m):
                v = z[i]
                ola[ch, 2 * i] += v.real * inv * win_s[2 * i]
                ola[ch, 2 * i + 1] += v.imag * inv * win_s[2 * i + 1]
        for i in range(h):
            out[ch, i] = inbuf[ch, i] + ola[ch, i]
        for i in range(n - h):
            ola[ch, i] = ola[ch, i + h]
        for i in range(n - h, n):
            ola[ch, i] = 0.0
    seed[1] += 1
