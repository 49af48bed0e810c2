"""What is wrong with a recording: noise floor, hum, clicks, clipping, band limit, speech or music.

    a = analyse(audio, 48000)            # (channels, n) or (n,) float samples
    a = analyse_file("take.flac")        # the first 40 s and 20 s from the middle, streamed
    a.findings()                         # ["50 Hz hum, lines up to the 6th harmonic, 32 dB above the floor", ...]

Every detector is a plain offline computation over at most ``MAX_SECONDS`` of audio (numpy, scipy
and, for clicks, the DeClick node run read-only over the excerpt); :mod:`aural.engine.auto`
turns an :class:`Analysis` into a chain.  All levels are dBFS (full scale 1.0), frequencies Hz.

- noise floor: per band (1/6 octave, 32 ms frames, smoothed over 5 frames) the 5th percentile
  of the band power over time, corrected for its bias on noise, weighted by how flat the band's
  spectrum is in its quiet frames (noise is flat; a decaying note, a pad or hum is not), summed
  over bands.  SNR: mean power less the floor, over the floor.
- hum: :func:`aural.engine.metrics.detect_hum` (Welch peaks at 50/60 Hz harmonics), confirmed on
  both halves of the excerpt, harmonics counted up to 20.
- clicks: a DeClick node (threshold ``CLICK_SIGMA``) over the channel mean; its repair count.
- clipping: per channel and polarity, samples within 0.01 dB of the largest magnitude, in runs
  of >= 2, that outnumber the samples in the 5 % below it (a hard ceiling, not a peak).
- band limit: the highest frequency above which the mean spectrum stays >= 30 dB down (from 10 %
  higher up to 0.96 of Nyquist); the edge is the -6 dB point before the steepest fall near it
  (none when the edge is above 0.9 of Nyquist: that is the anti-alias filter).
- content: speech has pauses (low-energy frames), syllabic 2-8 Hz envelope modulation and
  voiced/unvoiced alternation (pitch-strength spread); music has steady pitch or a steady level.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np

__all__ = ["CLICK_SIGMA", "Analysis", "Collector", "MAX_SECONDS", "analyse", "analyse_blocks",
           "analyse_file", "band_limit_hz", "clipping", "content_features", "noise_floor"]

#: most audio analysed (seconds): the start of a file plus a stretch of its middle
MAX_SECONDS = 60.0
#: DeClick threshold (robust sigmas) of the click count: stricter than the node's default 6
CLICK_SIGMA = 8.0
#: onset rejection of the click count (DeClick.k_side): stricter than the node's own, so that
#: hard transients of electronic music are not taken for clicks (deciding to add a DeClick
#: must do no harm; the node, once added, repairs with its own settings)
CLICK_K_SIDE = 6.0
#: clicks per minute (and at least MIN_CLICKS of them) that make a recording "clicky"
CLICKS_PER_MIN = 12.0
MIN_CLICKS = 3
#: scratch thumps needed before auto adds DeThump
MIN_THUMPS = 2
#: a repair smaller than this fraction of the local RMS is not counted as a click
CLICK_RATIO = 0.2
#: fraction of samples on a hard ceiling that counts as clipping (and at least MIN_CLIPPED)
CLIP_FRACTION = 2e-4
MIN_CLIPPED = 12
#: below this SNR (dB) the noise is worth removing (speech / music)
NOISY_SNR_SPEECH = 15.0
NOISY_SNR_MUSIC = 8.0
_EPS = 1e-20
#: percentile of the band power over time taken as its noise floor
FLOOR_PCT = 5.0
#: mains frequency tolerance (fraction of 50/60 Hz)
HUM_DRIFT = 0.005
#: a hum of the fundamental alone is removed only within this many dB of the signal RMS
HUM_LONE_DB = 30.0


def _db(p: float) -> float:
    return 10.0 * math.log10(max(p, _EPS))


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th-13th, 21st, ..."""
    suf = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suf}"


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyse`.  Levels in dBFS, frequencies in Hz, rates per minute."""
    sample_rate: int
    channels: int
    seconds: float                  #: audio analysed
    peak_dbfs: float
    rms_dbfs: float
    noise_floor_dbfs: float         #: RMS level of the stationary noise (hum excluded)
    snr_db: float                   #: signal power over the noise floor
    hum_hz: float = 0.0             #: mains fundamental, 50 or 60; 0 = no hum
    hum_harmonics: int = 0          #: highest harmonic that stands out
    hum_dbfs: float = -math.inf     #: summed power of the hum peaks
    hum_prominence_db: float = 0.0  #: the strongest hum line over the spectrum around it
    clicks: int = 0                 #: clicks counted in the excerpt
    clicks_per_min: float = 0.0
    thumps: int = 0                 #: scratch thumps (low-frequency pulses DeThump would take)
    clip_fraction: float = 0.0      #: samples on a flat ceiling / all samples
    clip_level: float = 0.0         #: the ceiling (linear, largest flagged); 0 = not clipped
    band_limit_hz: float | None = None  #: upper spectral edge; None = full band
    content: str = "silence"        #: "speech", "music", "mixed" or "silence"
    features: dict = field(default_factory=dict)  #: the content features, for the curious

    @property
    def has_hum(self) -> bool:
        return self.hum_hz > 0.0

    @property
    def clicky(self) -> bool:
        return self.clicks >= MIN_CLICKS and self.clicks_per_min >= CLICKS_PER_MIN

    @property
    def clipped(self) -> bool:
        return self.clip_level > 0.0

    @property
    def thumpy(self) -> bool:
        """Scratch thumps worth a DeThump node: at least ``MIN_THUMPS`` pulses (a lone kick drum
        with a steady pitch after a quiet stretch can pass for one, two of them rarely)."""
        return self.thumps >= MIN_THUMPS

    @property
    def noisy(self) -> bool:
        """SNR below the threshold for the content: 15 dB; music is left alone down to 8 dB (on
        music a denoiser costs more than the noise, docs/quality.md)."""
        if self.content == "silence" or not math.isfinite(self.snr_db):
            return False
        lim = NOISY_SNR_MUSIC if self.content == "music" else NOISY_SNR_SPEECH
        return self.snr_db < lim

    @property
    def hum_audible(self) -> bool:
        """Hum worth removing: two or more harmonics, or a lone fundamental within 30 dB of
        the signal's RMS (a faint 50 Hz line alone is below hearing at that level)."""
        return self.has_hum and (self.hum_harmonics >= 2
                                 or self.hum_dbfs - self.rms_dbfs > -HUM_LONE_DB)

    @property
    def hum_above_floor_db(self) -> float:
        """How far the strongest hum line rises over the spectrum beside it (dB)."""
        return self.hum_prominence_db if self.has_hum else -math.inf

    @property
    def clean(self) -> bool:
        """Nothing to repair: no hum, clicks, thumps, clipping or low SNR."""
        return not (self.hum_audible or self.clicky or self.thumpy or self.clipped
                    or self.noisy)

    def findings(self) -> list[str]:
        """Plain-language lines, one per fact."""
        if self.content == "silence":
            return [f"silence ({self.seconds:.1f} s analysed): nothing to do"]
        out = [f"content: {self.content} ({self.seconds:.1f} s analysed)",
               f"noise floor {self.noise_floor_dbfs:.0f} dBFS, estimated SNR {self.snr_db:.0f} dB"
               + (" (noisy)" if self.noisy else "")]
        if self.has_hum:
            n = self.hum_harmonics  # the highest harmonic standing out, not a count
            lines = "the fundamental only" if n <= 1 else f"lines up to the {_ordinal(n)} harmonic"
            out.append(f"{self.hum_hz:g} Hz hum, {lines}, "
                       f"{self.hum_above_floor_db:.0f} dB above the floor"
                       + ("" if self.hum_audible else " (faint: left alone)"))
        else:
            out.append("no mains hum")
        if self.clicky:
            out.append(f"clicks: {self.clicks_per_min:.0f} per minute")
        elif self.clicks:
            out.append(f"{self.clicks} isolated click{'s' if self.clicks != 1 else ''} "
                       "(too few to repair)")
        else:
            out.append("no clicks")
        if self.thumpy:
            out.append(f"scratch thumps: {self.thumps} low-frequency pulses")
        elif self.thumps:
            out.append("1 low-frequency pulse (a lone one: left alone)")
        if self.clipped:
            out.append(f"clipped at {20 * math.log10(self.clip_level):.1f} dBFS "
                       f"({self.clip_level:.3g}): {100 * self.clip_fraction:.2f} % of samples")
        else:
            out.append("no clipping")
        if self.band_limit_hz is not None:
            out.append(f"band-limited: nothing above {self.band_limit_hz / 1000:.1f} kHz "
                       "(a low-rate or lossy source; not restored)")
        return out

    def to_dict(self) -> dict:
        """JSON-safe form (non-finite numbers become None)."""
        d = asdict(self)
        for k, v in list(d.items()):
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        d["findings"] = self.findings()
        return d


# ------------------------------------------------------------------------------ detectors
def _frames_power(x: np.ndarray, sr: int, n_fft: int, hop: int) -> np.ndarray:
    """Power spectra (frames, bins) of each channel, averaged over channels (Hann window)."""
    from scipy.signal import stft
    _, _, z = stft(x, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop,
                   boundary=None, padded=False, axis=-1)
    p = np.abs(z) ** 2  # (channels, bins, frames)
    return p.mean(axis=0).T


def noise_floor(x: np.ndarray, sr: int, hum_hz: float = 0.0) -> tuple[float, float]:
    """(noise power, mean power) per sample of ``x`` (channels, n): the per-band 5th percentile
    over time, bias-corrected, flatness-weighted, summed over 1/6-octave bands (128 ms frames
    every 32 ms: bins of ~8 Hz resolve the partials of notes).  With ``hum_hz`` the bins of its
    first 20 harmonics are replaced by their neighbours' (hum is not part of the floor)."""
    from scipy.signal import get_window
    from scipy.stats import chi2
    n_fft = 1 << int(round(math.log2(0.128 * sr)))
    hop = n_fft // 4
    mean = float(np.mean(np.square(x, dtype=np.float64)))
    if x.shape[1] < n_fft * 8:
        return mean, mean
    p = _frames_power(x, sr, n_fft, hop)
    # frames of digital silence (padding, gaps) are not a noise floor
    live = p.sum(axis=1) > 1e-14 * n_fft
    if live.sum() < 8:
        return mean, mean
    p = p[live]
    if hum_hz > 0.0:
        df = sr / n_fft
        for k in range(1, 21):
            c = int(round(k * hum_hz / df))
            if c + 5 >= p.shape[1]:
                break
            lo = max(0, c - 2)
            side = np.minimum(p[:, max(0, c - 5)], p[:, c + 5])
            p[:, lo:c + 3] = side[:, None]
    w = get_window("hann", n_fft)
    scale = 1.0 / (np.sum(w ** 2) / np.sum(w) ** 2 * n_fft)  # |Z|^2 (scipy scales by 1/sum(w))
    nb = p.shape[1]
    edges = [1]
    while edges[-1] < nb:
        edges.append(max(edges[-1] + 8, int(round(edges[-1] * 2 ** (1 / 6)))))
    edges[-1] = nb
    k = 3
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = p[:, lo:hi].sum(axis=1)
        if band.size >= k:
            band = np.convolve(band, np.ones(k) / k, mode="valid")
        dof = 2.0 * (hi - lo) * k * 0.25  # hop = a quarter frame: neighbours overlap
        bias = chi2.ppf(FLOOR_PCT / 100, dof) / dof
        level = float(np.percentile(band, FLOOR_PCT))
        # noise is flat within the band in its quiet frames; a decaying note or hum is not
        quiet = p[: band.size, lo:hi][band <= level * 1.5].mean(axis=0) + 1e-30
        flat = float(np.exp(np.mean(np.log(quiet))) / np.mean(quiet))
        total += level / bias * float(np.clip((flat - 0.45) / 0.4, 0.0, 1.0))
    # one-sided spectrum: interior bins count twice in Parseval
    noise = 2.0 * total * scale
    return min(noise, mean), mean


def clipping(x: np.ndarray) -> tuple[float, float]:
    """(fraction of samples on a hard ceiling, the ceiling) of ``x`` (channels, n); (0, 0) when
    no channel and polarity has one."""
    n_flag, level = 0, 0.0
    for ch in x:
        for sgn in (1.0, -1.0):
            v = sgn * ch.astype(np.float64)
            m = float(v.max()) if v.size else 0.0
            if m <= 1e-4:
                continue
            on = v >= m * 10 ** (-0.01 / 20)
            runs = on[1:] & on[:-1]
            in_runs = int(np.count_nonzero(on & (np.r_[False, runs] | np.r_[runs, False])))
            below = int(np.count_nonzero((v >= 0.95 * m) & ~on))
            if in_runs >= MIN_CLIPPED and in_runs > below:
                n_flag += in_runs
                level = max(level, m)
    frac = n_flag / max(1, x.size)
    if frac < CLIP_FRACTION:
        return 0.0, 0.0
    return frac, level


def band_limit_hz(x: np.ndarray, sr: int) -> float | None:
    """Upper spectral edge in Hz, or None for a full-band signal (see the module text)."""
    from scipy.signal import welch
    n = 1 << int(round(math.log2(sr / 20.0)))  # ~20 Hz bins
    a = np.asarray(x, dtype=np.float64)
    if a.shape[1] < n:
        return None
    f, p = welch(a, fs=sr, nperseg=n, noverlap=n // 2, axis=-1)
    p = p.mean(axis=0)
    if float(p.max()) <= 0.0:
        return None
    nyq = sr / 2.0
    k = max(1, int(round(0.01 * nyq / (f[1] - f[0]))))
    ld = 10.0 * np.log10(np.convolve(p, np.ones(k) / k, mode="same") + 1e-30)
    top = int(np.searchsorted(f, 0.96 * nyq))
    # running max from the top: the loudest the spectrum gets above each frequency
    above = np.maximum.accumulate(ld[:top][::-1])[::-1]
    ref = float(np.percentile(ld[(f > 200) & (f < min(2000.0, 0.5 * nyq))], 75))
    for i in range(top - 2, 0, -1):
        fc = f[i]
        if fc < 1000.0:
            break
        if ld[i] < ref - 55.0:
            continue
        j = int(np.searchsorted(f, 1.1 * fc))
        if j >= top:
            continue
        # the edge: from here on everything stays >= 30 dB below this point
        # a cliff: everything above is 30 dB under this point, or 60 dB under the main band
        # with this point within 40 dB of it (quiet top octave of speech, filter side lobes)
        if above[j] <= ld[i] - 30.0 or (above[j] <= ref - 60.0 and ld[i] >= ref - 40.0):
            # a cliff below i: the edge is where the spectrum falls fastest, within 0.7-1.1 f_i
            a0, a1 = int(np.searchsorted(f, 0.7 * fc)), min(j, top - 1)
            e0 = a0 + int(np.argmin(np.diff(ld[a0:a1 + 1])))
            # ... then its -6 dB point re the level just below (a filter falls fastest near
            # its stop band, past the cut-off)
            b0, b1 = int(np.searchsorted(f, 0.75 * f[e0])), int(np.searchsorted(f, 0.85 * f[e0]))
            lvl = float(np.median(ld[b0:b1 + 1])) - 6.0
            e = b1
            while e < e0 and ld[e + 1] > lvl:
                e += 1
            edge = float(f[e])
            return None if edge > 0.9 * nyq else edge
    return None


def _exact_f0(mono: np.ndarray, sr: int, f0: float) -> float:
    """The fundamental of the line spectrum near k*f0 (k = 1..5), read off a zero-padded
    spectrum of the signal decimated to 1 kHz (power-weighted mean of f_k / k)."""
    from scipy.signal import resample_poly
    g = math.gcd(int(sr), 1000)
    d = resample_poly(mono, 1000 // g, int(sr) // g)
    n = 1 << int(math.ceil(math.log2(max(d.size, 1) * 8)))
    spec = np.abs(np.fft.rfft(d * np.hanning(d.size), n)) ** 2
    df = 1000.0 / n
    num = den = 0.0
    for k in range(1, 6):
        lo, hi = int((k * f0 - 1.5) / df), int((k * f0 + 1.5) / df) + 1
        if hi >= spec.size or (k * f0) > 450.0:
            break
        i = lo + int(np.argmax(spec[lo:hi]))
        if 0 < i < spec.size - 1:  # parabolic interpolation of the peak
            a, b, c = np.log(spec[i - 1:i + 2] + 1e-30)
            i = i + 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else i
        num += spec[int(i)] * (i * df / k)
        den += spec[int(i)]
    return num / den if den > 0 else 0.0


def _hum(x: np.ndarray, sr: int) -> tuple[float, int, float, float]:
    """(fundamental or 0, highest harmonic found, summed hum power dBFS, prominence dB).

    Mains hum sits within 0.5 % of 50 or 60 Hz and stays for the whole excerpt: a low note
    (G1 is 49 Hz) or a tuned kick drum does neither."""
    from .metrics import detect_hum
    mono = x.mean(axis=0)
    h = detect_hum(mono, sr)
    if h is None:
        return 0.0, 0, -math.inf, 0.0
    if abs(_exact_f0(mono, sr, h["f0"]) - h["f0"]) > HUM_DRIFT * h["f0"]:
        return 0.0, 0, -math.inf, 0.0
    half = mono.size // 2
    if mono.size >= 8 * sr:  # a held note is not steady for the whole excerpt: both halves
        for part in (mono[:half], mono[half:]):
            g = detect_hum(part, sr)
            if g is None or g["f0"] != h["f0"]:
                return 0.0, 0, -math.inf, 0.0
    full = detect_hum(mono, sr, mains=(h["f0"],), harmonics=20) or h
    return (float(h["f0"]), int(max(full["harmonics"])), float(full["level_dbfs"]),
            float(full["prominence_db"]))


def _clicks(x: np.ndarray, sr: int) -> int:
    """Clicks in the channel mean: spans a DeClick node (threshold CLICK_SIGMA) repairs, less
    the slight ones (a change under CLICK_RATIO of the local RMS: a kink the AR model did
    not expect) and those at an onset (the level 1-10 ms after the span over 2x the level before: a drum hit
    or a plucked note, not a click)."""
    from .processors.declick import DeClick
    mono = x.mean(axis=0, keepdims=True).astype(np.float32)
    node = DeClick(threshold=CLICK_SIGMA)
    node.k_side = CLICK_K_SIDE
    y = node(mono, sr)
    if node.clicks_repaired == 0:
        return 0
    changed = np.flatnonzero(np.abs(y[0] - mono[0]) > 1e-7)
    if changed.size == 0:
        return 0
    gap = max(2, int(0.002 * sr))
    starts = np.r_[changed[0], changed[1:][np.diff(changed) > gap]]
    ends = np.r_[changed[:-1][np.diff(changed) > gap], changed[-1]]
    m = mono[0].astype(np.float64)
    d = np.abs(y[0].astype(np.float64) - m)
    a, b = int(0.001 * sr), int(0.010 * sr)
    count = 0
    for s0, s1 in zip(starts, ends):
        pre = m[max(0, s0 - b): max(0, s0 - a)]
        post = m[s1 + a: s1 + b]
        if pre.size < a or post.size < a:
            continue
        local = math.sqrt(0.5 * (np.mean(pre ** 2) + np.mean(post ** 2))) + 1e-9
        onset = np.mean(post ** 2) > 4.0 * np.mean(pre ** 2) + 1e-12
        if not onset and float(d[s0:s1 + 1].max()) > CLICK_RATIO * local:
            count += 1
    return count


def content_features(x: np.ndarray, sr: int) -> dict[str, float]:
    """Speech/music features of ``x`` (channels, n), each a plain number.

    ``low_energy``: fraction of 20 ms frames more than 10 dB under the mean active level (pauses);
    ``modulation``: share of the 2-8 Hz band in the 1-16 Hz envelope modulation spectrum
    (syllables); ``voicing_std``: spread of the frame pitch strength (voiced/unvoiced
    alternation); ``flux``: mean normalised spectral change between 20 ms frames;
    ``pitch_steady``: fraction of voiced frames whose pitch is within 1 % of the previous one
    (held notes)."""
    from scipy.signal import butter, sosfiltfilt
    mono = x.mean(axis=0).astype(np.float64)
    hop = max(1, int(round(0.010 * sr)))
    win = 2 * hop
    nfr = (mono.size - win) // hop
    if nfr < 50:
        return {}
    idx = np.arange(nfr)[:, None] * hop + np.arange(win)[None, :]
    band = sosfiltfilt(butter(4, [300.0, min(3400.0, 0.45 * sr)], "bandpass", fs=sr,
                              output="sos"), mono)
    e = np.mean(band[idx] ** 2, axis=1) + 1e-12
    edb = 10 * np.log10(e)
    act = edb[edb > edb.max() - 60.0]
    ref = 10 * np.log10(np.mean(10 ** (act / 10)))
    low_energy = float(np.mean(edb < ref - 10.0))
    env = np.sqrt(e) - np.sqrt(e).mean()
    spec = np.abs(np.fft.rfft(env * np.hanning(env.size))) ** 2
    fm = np.fft.rfftfreq(env.size, 0.010)
    syl = spec[(fm >= 2) & (fm <= 8)].sum()
    modulation = float(syl / max(spec[(fm >= 1) & (fm <= 16)].sum(), 1e-30))
    # beat: the envelope's autocorrelation peak at 0.2-1.5 s lags (music repeats, speech not)
    nfft = 1 << int(math.ceil(math.log2(2 * env.size)))
    r = np.fft.irfft(np.abs(np.fft.rfft(env, nfft)) ** 2)[: env.size]
    r = r / (r[0] + 1e-30) * env.size / np.maximum(env.size - np.arange(env.size), 1)
    l0, l1 = 20, min(150, env.size // 2)
    pulse = float(r[l0:l1].max()) if l1 > l0 else 0.0
    # spectral flux (20 ms frames, magnitude normalised per frame)
    mag = np.abs(np.fft.rfft(mono[idx] * np.hanning(win), axis=1))
    mag /= mag.sum(axis=1, keepdims=True) + 1e-12
    flux = float(np.mean(np.abs(np.diff(mag, axis=0)).sum(axis=1)))
    # pitch strength: normalised autocorrelation peak, 60-500 Hz, 40 ms frames of the low band
    lp = sosfiltfilt(butter(4, min(1000.0, 0.45 * sr), fs=sr, output="sos"), mono)
    pw = 4 * hop
    n2 = (lp.size - pw) // hop
    i2 = np.arange(0, n2, 2)[:, None] * hop + np.arange(pw)[None, :]
    fr = lp[i2] * np.hanning(pw)
    spec2 = np.fft.rfft(fr, 2 * pw, axis=1)
    ac = np.fft.irfft(np.abs(spec2) ** 2, axis=1)[:, :pw]
    lo, hi = int(sr / 500.0), min(int(sr / 60.0), pw - 1)
    seg = ac[:, lo:hi] / (ac[:, :1] + 1e-12)
    strength = seg.max(axis=1)
    lag = seg.argmax(axis=1) + lo
    loud = np.mean(fr ** 2, axis=1) > 1e-3 * np.mean(fr ** 2)
    st = strength[loud]
    voiced = (strength > 0.6) & loud
    vl = lag[voiced]
    both = voiced[1:] & voiced[:-1]
    steady = np.abs(np.diff(lag.astype(np.float64))) <= 0.01 * lag[1:] + 0.5
    pitch_steady = float(np.mean(steady[both])) if both.sum() >= 5 else 0.0
    hf = 0.0
    if sr >= 12000:
        p = np.abs(np.fft.rfft(mono[idx] * np.hanning(win), axis=1)) ** 2
        fq = np.fft.rfftfreq(win, 1.0 / sr)
        hf = float(p[:, fq >= 5000.0].sum() / max(p.sum(), 1e-30))
    return {"hf": round(hf, 4), "low_energy": round(low_energy, 4), "modulation": round(modulation, 4),
            "voicing_std": round(float(st.std()) if st.size else 0.0, 4),
            "flux": round(flux, 4), "pulse": round(pulse, 4), "pitch_steady": round(pitch_steady, 4),
            "voiced": round(float(vl.size / max(1, loud.sum())), 4)}


def classify(feat: dict[str, float]) -> str:
    """"speech", "music" or "mixed" from :func:`content_features`: a vote of pauses (speech has
    15-40 % low-energy frames), no beat, no held pitch, syllabic modulation and little energy
    above 5 kHz (calibrated on the test speech, synthetic plucked music and sonic-pi loops)."""
    if not feat:
        return "mixed"
    s = 1.0 if 0.12 <= feat["low_energy"] <= 0.40 else -1.0
    s += 1.0 if feat["pulse"] < 0.4 else -1.0
    s += 0.5 if feat["pitch_steady"] < 0.65 else -1.0
    s += 0.5 if feat["modulation"] > 0.45 else -0.5
    s -= 1.5 if feat["hf"] > 0.08 else 0.0
    if s >= 2.0:
        return "speech"
    if s <= 0.0:
        return "music"
    return "mixed"


# ------------------------------------------------------------------------------ entry points
def _as_channels(audio) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"audio must be (channels, frames) or (frames,) with samples, "
                         f"got shape {a.shape}")
    if a.shape[0] > 64 and a.shape[1] <= 64:
        a = a.T  # (frames, channels), as soundfile reads
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"audio must be float samples (full scale 1.0), got {a.dtype}")
    return np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def _thumps(x: np.ndarray, sr: int) -> int:
    """Scratch thumps: the pulses a DeThump node (default settings) fits and would subtract."""
    from .processors import DeThump
    p = DeThump()
    p(np.ascontiguousarray(x, dtype=np.float32), sr)
    return p.thumps_removed


def analyse(audio, sample_rate: int) -> Analysis:
    """Analyse float ``audio`` ((channels, n) or (n,), full scale 1.0) at ``sample_rate`` Hz.

    Raises ValueError for an empty or non-float array or a rate outside 8-192 kHz."""
    from .processor import MAX_RATE, MIN_RATE
    sr = int(sample_rate)
    if not MIN_RATE <= sr <= MAX_RATE:
        raise ValueError(f"sample rate {sample_rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    x = _as_channels(audio)
    ch, n = x.shape
    seconds = n / sr
    peak = float(np.max(np.abs(x)))
    mean = float(np.mean(np.square(x, dtype=np.float64)))
    if peak < 1e-5 or n < int(0.25 * sr):
        return Analysis(sr, ch, seconds, _db(peak * peak), _db(mean), _db(mean), math.nan)
    hum_hz, hum_k, hum_db, hum_prom = _hum(x, sr)
    noise, _ = noise_floor(x, sr, hum_hz)
    noise = max(noise, 1e-13)  # -130 dBFS: below any recording's floor
    sig = max(mean - noise - (10 ** (hum_db / 10) if hum_hz else 0.0), 0.0)
    snr = float(np.clip(_db(sig) - _db(noise), -20.0, 100.0)) if sig > 0 else -20.0
    clicks = _clicks(x, sr)
    thumps = _thumps(x, sr)
    frac, level = clipping(x)
    feat = content_features(x, sr)
    return Analysis(
        sample_rate=sr, channels=ch, seconds=round(seconds, 3), peak_dbfs=_db(peak * peak),
        rms_dbfs=_db(mean), noise_floor_dbfs=_db(noise), snr_db=snr, hum_hz=hum_hz,
        hum_harmonics=hum_k, hum_dbfs=hum_db, hum_prominence_db=hum_prom, clicks=clicks,
        clicks_per_min=60.0 * clicks / seconds, thumps=thumps, clip_fraction=frac, clip_level=level,
        band_limit_hz=band_limit_hz(x, sr), content=classify(feat), features=feat)


class Collector:
    """Gathers the first ``seconds`` of a live stream block by block (the audio thread's copies),
    then :meth:`analysis` analyses them: ``feed(block)`` returns True once it has enough."""

    def __init__(self, sample_rate: int, seconds: float = 10.0) -> None:
        self.sample_rate = int(sample_rate)
        self.want = max(1, int(seconds * sample_rate))
        self._parts: list[np.ndarray] = []
        self.frames = 0

    def feed(self, block: np.ndarray) -> bool:
        b = np.atleast_2d(np.asarray(block, dtype=np.float32))
        take = min(b.shape[1], self.want - self.frames)
        if take > 0:
            self._parts.append(b[:, :take].copy())
            self.frames += take
        return self.frames >= self.want

    def analysis(self) -> Analysis:
        if not self._parts:
            raise ValueError("no audio collected")
        return analyse(np.concatenate(self._parts, axis=1), self.sample_rate)


def analyse_blocks(blocks: Iterable[np.ndarray], sample_rate: int, total_frames: int = 0,
                   max_seconds: float = MAX_SECONDS) -> Analysis:
    """Analyse a stream of (channels, n) blocks: its first two thirds of ``max_seconds`` and, when
    ``total_frames`` says it is longer, a third of ``max_seconds`` from its middle."""
    sr = int(sample_rate)
    head_n = int(max_seconds * sr) if total_frames <= max_seconds * sr else int(max_seconds * sr * 2 / 3)
    mid_n = int(max_seconds * sr) - head_n
    mid_at = max(head_n, total_frames // 2 - mid_n // 2)
    parts: list[np.ndarray] = []
    pos = got_head = got_mid = 0
    for b in blocks:
        n = b.shape[1]
        if got_head < head_n:
            take = b[:, : head_n - got_head]
            parts.append(take)
            got_head += take.shape[1]
        if mid_n and pos + n > mid_at and got_mid < mid_n:
            lo = max(0, mid_at - pos)
            take = b[:, lo: lo + mid_n - got_mid]
            parts.append(take)
            got_mid += take.shape[1]
        pos += n
        if got_head >= head_n and got_mid >= mid_n:
            break
    if not parts:
        raise ValueError("no audio to analyse")
    return analyse(np.concatenate(parts, axis=1), sr)


def analyse_file(path: str | os.PathLike, max_seconds: float = MAX_SECONDS) -> Analysis:
    """Analyse an audio file, streamed (:func:`aural.engine.io.iter_blocks`): at most
    ``max_seconds`` of it, the start and, for a longer file, a stretch of the middle.

    Raises :class:`aural.engine.io.AudioFileError` for a missing, empty or unreadable file."""
    from .io import AudioFileError, audio_info, iter_blocks
    info = audio_info(path)
    if info.frames == 0:
        raise AudioFileError(path, "contains no audio frames")
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    return analyse_blocks(iter_blocks(path, 65536), info.sample_rate, int(info.frames),
                          max_seconds)
