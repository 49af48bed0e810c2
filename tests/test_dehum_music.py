"""DeHum under music: mains hum buried under a drum loop is found and removed; the drum loop
alone is never taken for hum.

The loop (48 kHz, 120 bpm) is what defeats a naive hum detector: kicks are decaying sine sweeps
from about 60 down to about 50 Hz (loud, transient, low-frequency energy right on both mains
fundamentals) on beats 1 and 3, snares (noise bursts with a 200 Hz body) on 2 and 4.  Each
hit differs a little (sweep, decay, level, a few ms of timing), as played or sequenced drums do;
a sample-exact loop on a whole number of mains cycles is the documented limit of the detector.
The hum: 50 Hz with 10 harmonics, odd ones stronger, a 0.03 Hz offset and a slow wander, mixed
5 dB under the loop (by power).  SI-SDR is scored from 2 s on (the detector needs ~1 s).
"""
from __future__ import annotations

import numpy as np
import pytest
from aural.engine.processors import DeHum
from helpers import si_sdr, stream

SR = 48000
SECONDS = 10.0
START = int(2.0 * SR)


def drum_loop(seed: int, sr: int = SR, seconds: float = SECONDS) -> np.ndarray:
    """Kicks (decaying 60 -> 50 Hz sweeps) on beats 1 and 3, snares on 2 and 4, 120 bpm."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = np.zeros(n + sr)
    beat = 0.5
    for i in range(int(seconds / beat)):
        pos = int((i * beat + rng.uniform(-0.004, 0.004)) * sr) + int(0.01 * sr)
        if i % 2 == 0:  # kick
            m = int(0.45 * sr)
            t = np.arange(m) / sr
            f_hi = rng.uniform(58.0, 64.0)
            f_lo = rng.uniform(48.0, 54.0)
            f = f_lo + (f_hi - f_lo) * np.exp(-t / rng.uniform(0.03, 0.06))
            ph = 2 * np.pi * np.cumsum(f) / sr
            env = np.exp(-t / rng.uniform(0.12, 0.2))
            click = rng.standard_normal(m) * np.exp(-t / 0.003) * 0.3
            hit = (np.sin(ph) + click) * env * 10 ** (rng.uniform(-2, 0) / 20)
        else:  # snare
            m = int(0.25 * sr)
            t = np.arange(m) / sr
            body = np.sin(2 * np.pi * rng.uniform(180, 220) * t) * np.exp(-t / 0.04)
            noise = rng.standard_normal(m) * np.exp(-t / rng.uniform(0.05, 0.08))
            hit = (0.5 * body + 0.4 * noise) * 10 ** (rng.uniform(-3, 0) / 20)
        y[pos:pos + m] += hit
    return (0.5 * y[:n] / np.max(np.abs(y[:n]))).astype(np.float64)


def mains_hum(seed: int, f0: float = 50.0, harmonics: int = 10, sr: int = SR,
              seconds: float = SECONDS) -> np.ndarray:
    """Odd harmonics stronger (1 vs 0.35, over k^0.7), random phases, +0.03 Hz and a wander."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f = f0 + 0.03 + 0.01 * np.sin(2 * np.pi * t / 30.0 + rng.uniform(0, 2 * np.pi))
    ph = 2 * np.pi * np.cumsum(f) / sr
    h = np.zeros_like(t)
    for k in range(1, harmonics + 1):
        a = (1.0 if k % 2 else 0.35) / k ** 0.7
        h += a * np.sin(k * ph + rng.uniform(0, 2 * np.pi))
    return h


def _mix(seed: int, snr_db: float = 5.0, f0: float = 50.0,
         bass_hz: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    x = drum_loop(seed)
    if bass_hz:  # a sustained bass note (an 808 boom, a synth bass) under the loop
        t = np.arange(x.size) / SR
        x = x + 1.0 * np.sin(2 * np.pi * bass_hz * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t))
    h = mains_hum(seed + 100, f0)
    h *= np.sqrt(np.mean(x ** 2) / np.mean(h ** 2) / 10 ** (snr_db / 10))
    return x, x + h


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_hum_under_drum_loop_is_detected_and_removed(seed):
    x, mix = _mix(seed)
    p = DeHum()
    y = stream(p, mix[None].astype(np.float32), SR, 4800)[0]
    assert abs(p.detected_hz - 50.03) < 0.05, p.detected_hz
    before = si_sdr(x[START:], mix[START:])
    after = si_sdr(x[START:], y[START:])
    assert before < 6.0  # the hum really is loud
    # measured (seeds 1-6): +8.9, +14.5, +12.3, +13.0, +11.0, +10.5 dB (the fundamental sits
    # under the kicks' 48-54 Hz tails and converges last); seed 6 was +2.7 before the
    # detector's estimate stopped following a kick-dominated fundamental
    assert after - before >= 8.0, (before, after)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_drum_loop_alone_is_never_hum(seed):
    x = drum_loop(seed)[None].astype(np.float32)
    p = DeHum()
    p.prepare(SR, 1, 4800)
    assert p.latency_samples == 0
    out = np.empty_like(x)
    for i in range(0, x.shape[1], 4800):
        out[:, i:i + 4800] = p.process(np.ascontiguousarray(x[:, i:i + 4800]))
        assert p.detected_hz == 0.0, f"false detection at {i / SR:.1f} s"
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("seed", [1, 2])
def test_60hz_hum_under_a_52hz_bass_is_found(seed):
    """A loud steady bass note at 51.9 Hz under the loop is coherent too, but 4 % off 50 Hz: it
    is not 50 Hz hum; it must neither hide the 60 Hz hum nor restart the canceller's averages
    (measured: +29.0, +28.6 dB; the detector before issue 22's music work: +19.4, +12.9)."""
    x, mix = _mix(seed, f0=60.0, bass_hz=51.9)
    p = DeHum()
    y = stream(p, mix[None].astype(np.float32), SR, 4800)[0]
    assert abs(p.detected_hz - 60.03) < 0.05, p.detected_hz
    before = si_sdr(x[START:], mix[START:])
    after = si_sdr(x[START:], y[START:])
    assert after - before >= 20.0, (before, after)
