"""NeuralEnhancer's adaptive limit: a clean input (high SNR) loses at most ~3 dB to the model,
a noisy one is processed exactly as without it; per channel, block-size invariant."""
from __future__ import annotations

import numpy as np
import pytest
from aural.models import NeuralEnhancer
from helpers import si_sdr
from scipy.signal import resample_poly

SR = 48000


def voice_like(seconds: float, floor_db: float, seed: int = 0) -> np.ndarray:
    """Syllables of a gliding harmonic tone (120-220 Hz, 200-400 ms, pauses 100-300 ms) over a
    white floor ``floor_db`` below the voice's RMS: a clean close-up voice in a quiet room."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = np.zeros(n)
    pos = int(0.2 * SR)
    while pos < n:
        d = int(rng.uniform(0.2, 0.4) * SR)
        t = np.arange(d) / SR
        f0 = rng.uniform(120, 220) * (1 + 0.1 * t / t[-1])
        ph = 2 * np.pi * np.cumsum(f0) / SR
        s = sum(np.sin(k * ph) / k for k in range(1, 30) if k * f0[0] < 8000)
        s *= np.sin(np.pi * t / t[-1]) ** 2
        y[pos:pos + d] += s[: n - pos]
        pos += d + int(rng.uniform(0.1, 0.3) * SR)
    y *= 0.1 / np.sqrt(np.mean(y ** 2))
    y += 0.1 * 10 ** (floor_db / 20) * rng.standard_normal(n)
    return y.astype(np.float32)


@pytest.mark.parametrize("sr", [16000, 48000])  # the model's own rate, and resampled around it
def test_clean_voice_passes_nearly_untouched(sr):
    x = voice_like(8.0, -65.0)
    if sr != SR:
        x = resample_poly(x, sr, SR).astype(np.float32)
    on = NeuralEnhancer(model="dsunet-voice")
    y_on = on(x, sr)
    y_off = NeuralEnhancer(model="dsunet-voice", adaptive_limit=False)(x, sr)
    st = 4 * sr  # the share glides down with a 1 s time constant after 0.5 s
    s_on, s_off = si_sdr(x[st:], y_on[st:]), si_sdr(x[st:], y_off[st:])
    assert on.clean_share == pytest.approx(1 - 10 ** (-3 / 20), abs=0.02)
    # the model's deviation scaled by its share 0.29: 10.8 dB less
    assert s_on >= s_off + 9.0, (s_on, s_off)


def test_noisy_input_processed_as_without_it():
    x = voice_like(5.0, -10.0, seed=1)  # 10 dB SNR
    on = NeuralEnhancer(model="dsunet-voice")
    y_on = on(x, SR)
    y_off = NeuralEnhancer(model="dsunet-voice", adaptive_limit=False)(x, SR)
    assert on.clean_share == 1.0
    np.testing.assert_array_equal(y_on, y_off)


def test_per_channel_and_block_invariant():
    clean, noisy = voice_like(6.0, -65.0, 2), voice_like(6.0, -10.0, 3)
    x = np.stack([clean, noisy])
    ref = NeuralEnhancer(model="dsunet-voice")(x, SR)
    ne = NeuralEnhancer(model="dsunet-voice")
    ne.prepare(SR, 2, 1024)
    rng = np.random.default_rng(4)
    out, i = [], 0
    while i < x.shape[1]:
        b = int(rng.integers(1, 1025))
        out.append(ne.process(x[:, i:i + b], out=np.zeros((2, min(b, x.shape[1] - i)), np.float32)))
        i += b
    y = np.concatenate(out, axis=1)
    lat = ne.latency_samples
    np.testing.assert_allclose(y[:, lat:], ref[:, : x.shape[1] - lat], atol=1e-6)
    # the noisy channel alone gives the same samples as in the pair (channels independent)
    alone = NeuralEnhancer(model="dsunet-voice")(noisy, SR)
    np.testing.assert_allclose(ref[1], alone, atol=1e-6)
    assert 0.25 < ne._ad_st[0, 5] < 0.35 and ne._ad_st[1, 5] == 1.0


def test_silent_start_does_not_fake_a_clean_input():
    """Digital silence before noisy speech (a file's lead-in) is not taken for the noise floor:
    the noisy part is processed exactly as without the adaptive limit."""
    x = np.concatenate([np.zeros(SR, np.float32), voice_like(4.0, -10.0, seed=5)])
    on = NeuralEnhancer(model="dsunet-voice")
    y_on = on(x, SR)
    y_off = NeuralEnhancer(model="dsunet-voice", adaptive_limit=False)(x, SR)
    np.testing.assert_array_equal(y_on, y_off)
