"""NeuralEnhancer file mode (``learn``): the adaptive limit's SNR estimate read from a file's
head, so a clean file passes with the clean share from its first sample instead of the model
alone ramping down over its first seconds; a noisy file is processed exactly as live; another
stream falls back to the live behaviour exactly; block-size invariant, at the model's rate and
resampled around it."""
from __future__ import annotations

import numpy as np
import pytest
from aural.engine.graph import Chain
from aural.engine.learn import learn_head, learn_seconds
from aural.engine.processors import DeHum, Gain
from aural.models import NeuralEnhancer
from helpers import si_sdr
from scipy.signal import resample_poly
from test_models_adaptive import voice_like

SR = 48000
WMIN = 1 - 10 ** (-3 / 20)  # the clean share: at most 3 dB off


def _at(x: np.ndarray, sr: int) -> np.ndarray:
    return x if sr == SR else resample_poly(x, sr, SR).astype(np.float32)


@pytest.mark.parametrize("sr", [16000, 48000])
def test_clean_file_starts_with_the_clean_share(sr):
    x = _at(voice_like(3.0, -65.0), sr)[None]
    live = NeuralEnhancer(model="dsunet-voice")
    y_live = live(x, sr)
    p = NeuralEnhancer(model="dsunet-voice")
    p.prepare(sr, 1, 8192)
    assert p.learn(x) and p.learned
    assert p.clean_share == pytest.approx(WMIN, abs=0.02)   # from the first sample
    y = p(x, sr)
    first = slice(0, sr)  # live: the model alone for 0.5 s, then a 1 s glide
    gain = si_sdr(x[0, first], y[0, first]) - si_sdr(x[0, first], y_live[0, first])
    assert gain > 6.0, gain


def test_noisy_file_is_processed_as_live():
    x = voice_like(4.0, -10.0, seed=1)[None]  # 10 dB SNR: the model as set, either way
    p = NeuralEnhancer(model="dsunet-voice")
    p.prepare(SR, 1, 8192)
    assert p.learn(x)
    np.testing.assert_array_equal(p(x, SR), NeuralEnhancer(model="dsunet-voice")(x, SR))


def test_another_stream_falls_back_to_live_exactly():
    x = voice_like(3.0, -65.0, seed=2)[None]
    other = voice_like(3.0, -65.0, seed=3)[None]
    p = NeuralEnhancer(model="dsunet-voice")
    p.prepare(SR, 1, 8192)
    assert p.learn(x)
    np.testing.assert_array_equal(p(other, SR), NeuralEnhancer(model="dsunet-voice")(other, SR))
    assert not p.learned


@pytest.mark.parametrize("sr,blocks", [(48000, [480]), (48000, [1, 1000, 37]), (44100, [512, 77])])
def test_learned_stream_is_block_size_invariant(sr, blocks):
    x = _at(voice_like(3.0, -65.0, seed=4), sr)
    x = np.stack([x, 0.5 * x])  # two channels
    p = NeuralEnhancer(model="dsunet-voice")
    p.prepare(sr, 2, 8192)
    assert p.learn(x)
    one = p(x, sr)
    p.reset()  # the learned estimate is restored on reset
    lat = p.latency_samples
    xs = np.concatenate([x, np.zeros((2, lat), np.float32)], axis=1)
    got, pos, i = [], 0, 0
    while pos < xs.shape[1]:
        m = min(blocks[i % len(blocks)], xs.shape[1] - pos)
        got.append(p.process(np.ascontiguousarray(xs[:, pos:pos + m])).copy())
        pos, i = pos + m, i + 1
    np.testing.assert_array_equal(np.concatenate(got, axis=1)[:, lat:], one)


def test_chain_learns_every_learner_through_the_nodes_before():
    x = voice_like(3.0, -65.0, seed=5)[None]
    chain = Chain([Gain(gain_db=-6.0), DeHum(), NeuralEnhancer(model="dsunet-voice")])
    chain.prepare(SR, 1, 1024)
    assert learn_seconds(chain) == pytest.approx(8.0)
    assert learn_head(chain, x) == 1           # DeHum finds no hum; the enhancer holds a head
    assert chain[2].learned
    assert chain[2].clean_share == pytest.approx(WMIN, abs=0.02)


def test_learn_errors():
    with pytest.raises(RuntimeError, match="prepare"):
        NeuralEnhancer(model="dsunet-voice").learn(np.zeros((1, SR), np.float32))
    p = NeuralEnhancer(model="dsunet-voice")
    p.prepare(SR, 2, 512)
    with pytest.raises(ValueError, match=r"\(2, frames\)"):
        p.learn(np.zeros((1, SR), np.float32))
    assert not p.learn(np.zeros((2, 10), np.float32))  # shorter than one model hop


def test_learn_survives_hostile_heads():
    x = voice_like(2.0, -65.0, seed=6)[None].copy()
    x[0, 100:200] = np.nan
    x[0, 3000] = -np.inf
    x[0, 5000:5010] = 1e30
    p = NeuralEnhancer(model="dsunet-voice")
    p.prepare(SR, 1, 8192)
    assert p.learn(x)
    y = p(x, SR)
    assert np.isfinite(y).all() and np.abs(y).max() <= 64.0


def test_a_stream_that_leaves_the_head_later_restarts_the_estimate():
    """Two files with the same first second (a shared intro) and different rest: streamed after
    learning the first, the second drops the learned estimate where they part and its share
    glides back to the model as set (10 dB SNR) instead of keeping the clean file's."""
    clean = voice_like(1.0, -65.0, seed=7)
    noisy = voice_like(3.0, -10.0, seed=8)
    a = np.concatenate([clean, voice_like(2.0, -65.0, seed=9)])[None]
    b = np.concatenate([clean, noisy[SR:]])[None]
    p = NeuralEnhancer(model="dsunet-voice")
    p.prepare(SR, 1, 8192)
    assert p.learn(a)
    p(b, SR)
    assert not p.learned
    assert p.clean_share > 0.9              # back towards the model for the noisy rest
    assert np.isfinite(p(b, SR)).all()


def test_learned_stream_allocates_nothing():
    import tracemalloc

    x = voice_like(3.0, -65.0, seed=10)[None]
    p = NeuralEnhancer(model="dsunet-voice")
    p.prepare(SR, 1, 1024)
    assert p.learn(x)
    p.reset()
    blocks = [np.ascontiguousarray(x[:, i:i + 1024]) for i in range(0, 90 * 1024, 1024)]
    for b in blocks[:8]:  # warm up
        p.process(b)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for b in blocks[8:]:           # through the rest of the 2 s head and past it
            p.process(b)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert p.learned
    assert peak - base < 4096, f"peak {peak - base} bytes: an array was allocated"
