"""Degradation simulator: makes (degraded, clean) training pairs.  numpy/scipy only (no torch).

Every additive disturbance is scaled so that ``10*log10(P(clean) / P(disturbance)) = snr_db``
exactly (powers are means of squares over the whole clip); every other degradation has a
parameter with a physical meaning that the tests measure:

=================  ===========================================================================
``add_noise``      any noise signal at ``snr_db`` (real recordings, or the generators below)
``white_noise``    flat spectrum;  ``pink_noise`` -3 dB/octave;  ``brown_noise`` -6 dB/octave
``babble``         3-8 overlapping talkers, each a random excerpt of other speech
``hum``            mains hum: 50 or 60 Hz and harmonics (1/k amplitudes, random phases, slight
                   drift), added at ``snr_db``
``clicks``         sparse impulsive clicks (vinyl/scratch: decaying few-sample bursts) at
                   ``rate_hz`` per second, added at ``snr_db``
``crackle``        dense small crackle (hundreds per second), added at ``snr_db``
``clip``           hard clipping at ``clip_db`` below the clip's peak (threshold = peak*10^(-dB/20))
``bandlimit``      zero-phase low-pass at ``cutoff_hz`` (8th-order Butterworth, sosfiltfilt:
                   >= 40 dB down an octave above), optional high-pass (telephone band)
``reverb``         convolution with a synthetic RIR: direct path + exponentially decaying noise
                   tail with reverberation time ``rt60`` and direct-to-reverberant ratio ``drr_db``
``gain``           level change by ``db`` (applied to degraded AND target: the model must work at
                   any level; it is not an AGC)
=================  ===========================================================================

:class:`Degrader` draws a random chain of these per example from a seeded generator (so the
same seed gives the same pair) and returns the metadata of what it applied.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

__all__ = [
    "CATEGORIES",
    "Degrader",
    "add_noise",
    "babble",
    "bandlimit",
    "brown_noise",
    "clicks",
    "clip",
    "colored_noise",
    "crackle",
    "gain",
    "hum",
    "pink_noise",
    "power",
    "reverb",
    "rt60_of",
    "scale_to_snr",
    "snr_db",
    "synth_rir",
    "white_noise",
]

EPS = 1e-12


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def snr_db(clean: np.ndarray, disturbance: np.ndarray) -> float:
    """10*log10(P(clean) / P(disturbance)) in dB."""
    return 10.0 * math.log10((power(clean) + EPS) / (power(disturbance) + EPS))


def scale_to_snr(clean: np.ndarray, disturbance: np.ndarray, snr: float) -> np.ndarray:
    """The disturbance scaled so that snr_db(clean, scaled) == snr."""
    pd = power(disturbance)
    if pd <= 0.0:
        return np.zeros_like(disturbance)
    g = math.sqrt(power(clean) / pd / (10.0 ** (snr / 10.0)))
    return (disturbance * g).astype(np.float32)


def _fit(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random excerpt of ``noise`` of length n (looped if too short)."""
    noise = np.asarray(noise, np.float32)
    if len(noise) >= n:
        s = int(rng.integers(0, len(noise) - n + 1))
        return noise[s:s + n].copy()
    reps = n // len(noise) + 2
    s = int(rng.integers(0, len(noise)))
    return np.tile(noise, reps)[s:s + n].copy()


def add_noise(clean: np.ndarray, noise: np.ndarray, snr: float,
              rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """clean + noise at ``snr`` dB.  noise shorter/longer than clean is looped/excerpted.
    Returns (noisy, the scaled noise that was added)."""
    rng = rng or np.random.default_rng(0)
    d = scale_to_snr(clean, _fit(noise, len(clean), rng), snr)
    return (clean + d).astype(np.float32), d


def colored_noise(n: int, exponent: float, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """Gaussian noise with power spectral density ~ 1/f**exponent (0 white, 1 pink, 2 brown),
    flat below 20 Hz, unit power."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    f = np.maximum(f, 20.0)
    spec *= f ** (-exponent / 2.0)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return (x / math.sqrt(np.mean(x * x) + EPS)).astype(np.float32)


def white_noise(n: int, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    return colored_noise(n, 0.0, rng, sample_rate)


def pink_noise(n: int, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    return colored_noise(n, 1.0, rng, sample_rate)


def brown_noise(n: int, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    return colored_noise(n, 2.0, rng, sample_rate)


def babble(n: int, speech: Sequence[np.ndarray], rng: np.random.Generator,
           talkers: int | None = None) -> np.ndarray:
    """Sum of ``talkers`` (3-8) random excerpts of the given speech clips, each at unit power."""
    k = int(talkers or rng.integers(3, 9))
    out = np.zeros(n, np.float32)
    for _ in range(k):
        s = speech[int(rng.integers(0, len(speech)))]
        seg = _fit(s, n, rng)
        out += seg / math.sqrt(power(seg) + EPS)
    return out


def hum(n: int, sample_rate: int, rng: np.random.Generator, f0: float | None = None,
        harmonics: int | None = None) -> np.ndarray:
    """Mains hum: f0 (50 or 60 Hz, +-0.5 %) and harmonics up to ``harmonics`` (<= Nyquist),
    amplitudes 1/k with random extra emphasis on odd harmonics (buzz), random phases."""
    f0 = float(f0 if f0 is not None else (50.0 if rng.random() < 0.5 else 60.0))
    f0 *= 1.0 + rng.uniform(-0.005, 0.005)
    nh = int(harmonics if harmonics is not None else rng.integers(1, 12))
    t = np.arange(n) / sample_rate
    out = np.zeros(n, np.float64)
    buzz = rng.uniform(0.0, 1.0)
    for k in range(1, nh + 1):
        if k * f0 >= 0.45 * sample_rate:
            break
        a = 1.0 / k * (1.0 + 2.0 * buzz * (k % 2 == 1 and k > 1))
        out += a * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    return out.astype(np.float32)


def _impulses(n: int, times: np.ndarray, amps: np.ndarray, lengths: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n, np.float32)
    for t, a, L in zip(times, amps, lengths):
        L = int(L)
        env = np.exp(-np.arange(L) / max(L / 4.0, 1.0))
        burst = a * env * rng.standard_normal(L)
        e = min(n, t + L)
        out[t:e] += burst[:e - t]
    return out


def clicks(n: int, sample_rate: int, rng: np.random.Generator, rate_hz: float | None = None) -> np.ndarray:
    """Sparse clicks: ``rate_hz`` (0.5-8) per second, 0.1-2 ms bursts, amplitudes over 20 dB."""
    rate = float(rate_hz if rate_hz is not None else rng.uniform(0.5, 8.0))
    k = max(1, int(rng.poisson(rate * n / sample_rate)))
    times = rng.integers(0, n, size=k)
    amps = 10 ** rng.uniform(-1.0, 0.0, size=k) * rng.choice([-1.0, 1.0], size=k)
    lengths = rng.integers(max(1, int(1e-4 * sample_rate)), int(2e-3 * sample_rate) + 2, size=k)
    return _impulses(n, times, amps, lengths, rng)


def crackle(n: int, sample_rate: int, rng: np.random.Generator, rate_hz: float | None = None) -> np.ndarray:
    """Dense crackle (worn vinyl): ``rate_hz`` (100-1000) tiny impulses per second, high-passed."""
    rate = float(rate_hz if rate_hz is not None else rng.uniform(100.0, 1000.0))
    k = max(1, int(rng.poisson(rate * n / sample_rate)))
    times = rng.integers(0, n, size=k)
    amps = 10 ** rng.uniform(-1.5, 0.0, size=k) * rng.choice([-1.0, 1.0], size=k)
    lengths = rng.integers(1, max(2, int(3e-4 * sample_rate)) + 1, size=k)
    x = _impulses(n, times, amps, lengths, rng)
    sos = signal.butter(2, min(1000.0, 0.4 * sample_rate), "highpass", fs=sample_rate, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32)


def clip(x: np.ndarray, clip_db: float) -> np.ndarray:
    """Hard clipping at ``clip_db`` dB below the peak of x."""
    peak = float(np.max(np.abs(x)))
    thr = peak * 10.0 ** (-clip_db / 20.0)
    return np.clip(x, -thr, thr).astype(np.float32)


def bandlimit(x: np.ndarray, sample_rate: int, cutoff_hz: float, highpass_hz: float = 0.0,
              order: int = 8) -> np.ndarray:
    """Zero-phase low-pass at cutoff_hz (and high-pass at highpass_hz if > 0)."""
    cutoff = min(float(cutoff_hz), 0.49 * sample_rate)
    sos = signal.butter(order, cutoff, "lowpass", fs=sample_rate, output="sos")
    y = signal.sosfiltfilt(sos, x)
    if highpass_hz > 0:
        sos = signal.butter(4, float(highpass_hz), "highpass", fs=sample_rate, output="sos")
        y = signal.sosfiltfilt(sos, y)
    return y.astype(np.float32)


def synth_rir(sample_rate: int, rt60: float, rng: np.random.Generator, drr_db: float = 0.0,
              predelay_ms: float = 0.0) -> np.ndarray:
    """Synthetic room impulse response: unit direct path at index 0, then (after predelay) a
    Gaussian noise tail decaying 60 dB in ``rt60`` seconds (a plain exponential, so the
    measured rt60 matches; no frequency-dependent decay); the tail's energy is set so that
    10*log10(E_direct / E_tail) = drr_db."""
    n = max(2, int(1.5 * rt60 * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60)  # amplitude: -60 dB at rt60
    start = max(1, int(predelay_ms * 1e-3 * sample_rate))
    tail[:start] = 0.0
    e_tail = float(np.sum(tail * tail))
    tail *= math.sqrt(10.0 ** (-drr_db / 10.0) / (e_tail + EPS))
    tail[0] = 1.0
    return tail.astype(np.float32)


def rt60_of(rir: np.ndarray, sample_rate: int) -> float:
    """Reverberation time from the Schroeder decay curve (T20 fit from -5 to -25 dB, x3)."""
    e = np.cumsum((rir[1:].astype(np.float64) ** 2)[::-1])[::-1]
    edc = 10 * np.log10(e / e[0] + 1e-30)
    i5 = int(np.argmax(edc <= -5.0))
    i25 = int(np.argmax(edc <= -25.0))
    tt = np.arange(i5, i25) / sample_rate
    slope = np.polyfit(tt, edc[i5:i25], 1)[0]
    return float(-60.0 / slope)


def reverb(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """x convolved with rir, same length (the direct path at index 0 keeps x aligned)."""
    return signal.fftconvolve(x, rir)[:len(x)].astype(np.float32)


def gain(x: np.ndarray, db: float) -> np.ndarray:
    return (x * 10.0 ** (db / 20.0)).astype(np.float32)


CATEGORIES = ("noise", "hum", "clicks", "clip", "bandlimit", "reverb")


@dataclass
class Degrader:
    """Draws a random degradation chain per example.

    sample_rate: audio rate.  noises: real noise clips (float32 arrays at sample_rate).
    babble_speech: speech clips to make babble from (other files than the clean one).
    p: probability of each category; snr_range: (-5, 20) dB for noise, hum and clicks.
    level_range: gain in dB applied to degraded and target alike.
    keep_room: share of the reverberant examples whose target is the reverberant speech (a
    denoiser's job: noise out, room kept) rather than the dry one (0: always dry, as before).
    """

    sample_rate: int = 16000
    noises: Sequence[np.ndarray] = ()
    babble_speech: Sequence[np.ndarray] = ()
    p: dict = field(default_factory=lambda: {"noise": 0.85, "hum": 0.25, "clicks": 0.2,
                                             "crackle": 0.1, "clip": 0.15, "bandlimit": 0.15,
                                             "reverb": 0.2})
    snr_range: tuple[float, float] = (-5.0, 20.0)
    level_range: tuple[float, float] = (-25.0, 0.0)
    keep_room: float = 0.0

    def noise_signal(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        kinds = ["white", "pink", "brown"]
        if self.noises:
            kinds += ["real"] * 6
        if self.babble_speech:
            kinds += ["babble"]
        k = kinds[int(rng.integers(0, len(kinds)))]
        if k == "real":
            return _fit(self.noises[int(rng.integers(0, len(self.noises)))], n, rng), k
        if k == "babble":
            return babble(n, self.babble_speech, rng), k
        return colored_noise(n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[k], rng, self.sample_rate), k

    def __call__(self, clean: np.ndarray, rng: np.random.Generator,
                 force: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
        """(degraded, target, meta) for one clean clip.  force: apply exactly these categories
        (default: each with its probability ``p``, and noise when none was drawn)."""
        sr = self.sample_rate
        x = np.asarray(clean, np.float32)
        n = len(x)
        meta: dict = {}
        lvl = float(rng.uniform(*self.level_range))
        peak = float(np.max(np.abs(x))) + EPS
        target = gain(x / peak * 0.5, lvl)  # normalise, then level change (both sides)
        meta["level_db"] = lvl
        if force is None:  # draw the chain; a clean pair teaches nothing (and skews SI-SDR means)
            force = [c for c in ("reverb", "bandlimit", "noise", "hum", "clicks", "crackle", "clip")
                     if rng.random() < self.p.get(c, 0)] or ["noise"]
        chosen = frozenset(force)

        def use(c: str) -> bool:
            return c in chosen
        y = target.copy()
        dry = target  # the SNRs below are set against the dry speech, with or without keep_room
        if use("reverb"):
            rt = float(rng.uniform(0.15, 1.0))
            drr = float(rng.uniform(-3.0, 12.0))
            y = reverb(y, synth_rir(sr, rt, rng, drr_db=drr))
            meta["reverb"] = {"rt60": rt, "drr_db": drr}
            # decided by its own stream (seeded by this room), so ``rng`` draws exactly as before
            own = np.random.default_rng([n, int(rt * 1e9), int((drr + 10.0) * 1e9)])
            if self.keep_room > 0 and own.random() < self.keep_room:
                target = y.copy()
                meta["reverb"]["target"] = "reverberant"
        if use("bandlimit"):
            fc = float(rng.choice([3400.0, 4000.0, 5500.0]))
            fc = min(fc, 0.45 * sr)
            hp = 300.0 if rng.random() < 0.5 else 0.0
            y = bandlimit(y, sr, fc, hp)
            meta["bandlimit"] = {"cutoff_hz": fc, "highpass_hz": hp}
        add: list[tuple[str, Callable[[], np.ndarray]]] = []
        if use("noise"):
            add.append(("noise", lambda: self.noise_signal(n, rng)))
        if use("hum"):
            add.append(("hum", lambda: (hum(n, sr, rng), "hum")))
        if use("clicks"):
            add.append(("clicks", lambda: (clicks(n, sr, rng), "clicks")))
        if use("crackle"):
            add.append(("crackle", lambda: (crackle(n, sr, rng), "crackle")))
        for cat, make in add:
            d, kind = make()
            s = float(rng.uniform(*self.snr_range))
            if cat in ("clicks", "crackle"):
                s += 5.0  # impulsive noise is audible at higher SNR
            y = y + scale_to_snr(dry, d, s)
            meta[cat] = {"snr_db": s, "type": kind}
        if use("clip"):
            c = float(rng.uniform(3.0, 15.0))
            y = clip(y, c)
            meta["clip"] = {"clip_db": c}
        return y.astype(np.float32), target.astype(np.float32), meta
