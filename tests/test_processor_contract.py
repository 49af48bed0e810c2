"""The processor contract's safety edges: self-recovery after NaN/inf, the audio-thread rewind,
the caller-owned output of ``process(block, out=)``, integer PCM input, and the pedalboard idiom
(re-prepare on a new format, ``flush()``, ``stream()``, ``latency_for``)."""
from __future__ import annotations

import numpy as np
import pedalboard as pb
import pytest

from aural.engine import Chain, Processor
from aural.engine.presets import load_named_preset
from aural.plugins import PedalboardNode
from helpers import Delay


class Poisonable(Processor):
    """A running sum that turns NaN forever once it sees a sample above 10 (a blown-up filter):
    only clearing its state brings it back."""

    def _prepare(self) -> None:
        self.acc = np.zeros(self.channels)

    def _process(self, x, out) -> None:
        for i in range(x.shape[1]):
            for c in range(x.shape[0]):
                if x[c, i] > 10.0:
                    self.acc[c] = np.nan
                self.acc[c] = 0.5 * self.acc[c] + x[c, i]
                out[c, i] = self.acc[c]

    def _reset(self) -> None:
        self.acc[:] = 0.0


def test_node_producing_nan_recovers_by_itself_and_counts_it():
    p = Poisonable()
    p.prepare(48000, 2, 64)
    x = np.full((2, 64), 0.25, np.float32)
    p.process(x)
    assert p.recoveries == 0
    bad = x.copy()
    bad[0, 10] = 20.0
    y = p.process(bad)
    assert np.isfinite(y).all() and p.nonfinite_out > 0
    assert p.recoveries == 1
    # the next block starts from clean state: same as a fresh node fed the same block
    ref = Poisonable()
    ref.prepare(48000, 2, 64)
    y2 = p.process(x).copy()
    np.testing.assert_array_equal(y2, ref.process(x))
    assert p.recoveries == 1
    # inside a chain the node recovers on its own too
    ch = Chain([Poisonable()])
    ch.prepare(48000, 2, 64)
    ch.process(bad)
    assert ch[0].recoveries == 1
    np.testing.assert_array_equal(ch.process(x), y2)


# ---------------------------------------------------------------------- helpers
def noise(channels: int, n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((channels, n))).astype(np.float32)


def voice_and_reverb() -> Chain:
    """A shipped preset chain (STFT denoiser, dynamics with look-ahead: latency > 0) followed by
    a hosted pedalboard Reverb."""
    ch = load_named_preset("voice_dsp")
    ch.append(pb.Reverb(room_size=0.5))
    return ch


FACTORIES = {
    "preset+reverb": voice_and_reverb,
    "resample": lambda: PedalboardNode(pb.Resample(target_sample_rate=11025)),
    "reverb": lambda: PedalboardNode(pb.Reverb()),
}


def cut(x: np.ndarray, sizes) -> list[np.ndarray]:
    out, pos, i = [], 0, 0
    while pos < x.shape[1]:
        m = min(sizes[i % len(sizes)], x.shape[1] - pos)
        out.append(x[:, pos:pos + m])
        pos += m
        i += 1
    return out


# ---------------------------------------------------------------------- process(out=)
def test_process_out_keeps_successive_outputs():
    p, q = Delay(samples=3), Delay(samples=3)
    p.prepare(48000, 2, 64)
    q.prepare(48000, 2, 64)
    x = noise(2, 640)
    kept = np.zeros_like(x)
    naive = []
    for k in range(10):
        blk = np.ascontiguousarray(x[:, 64 * k:64 * (k + 1)])
        r = p.process(blk, out=kept[:, 64 * k:64 * (k + 1)])
        assert np.shares_memory(r, kept)
        naive.append(q.process(blk))  # the documented pitfall: an internal buffer, reused
    expect = np.concatenate([np.zeros((2, 3), np.float32), x[:, :-3]], axis=1)
    np.testing.assert_array_equal(kept, expect)
    assert not np.array_equal(np.concatenate(naive, axis=1), expect)


# ---------------------------------------------------------------------- integer PCM
@pytest.mark.parametrize("dtype, scale", [(np.int16, 2.0 ** 15), (np.int32, 2.0 ** 31)])
def test_integer_pcm_is_scaled_like_soundfile(dtype, scale):
    p = Delay(samples=0)
    x = (noise(2, 1000) * scale).astype(dtype)
    y = p(x, 48000)
    np.testing.assert_allclose(y, x.astype(np.float64) / scale, rtol=0, atol=1e-6)
    assert np.abs(y).max() < 1.0
    with pytest.raises(TypeError, match="dtype"):
        p(np.ones(100, np.complex64), 48000)


# ---------------------------------------------------------------------- pedalboard idiom
def test_new_format_with_reset_false_reprepares_like_pedalboard():
    x = noise(2, 6000)
    node = PedalboardNode(pb.Reverb())
    node(x, 48000, buffer_size=512, reset=False)
    # another rate: pedalboard starts a fresh stream silently; so do we
    y = node(x, 44100, buffer_size=512, reset=False)
    ref = PedalboardNode(pb.Reverb())(x, 44100, buffer_size=512, reset=False)
    np.testing.assert_allclose(y, ref, atol=1e-6)
    np.testing.assert_allclose(y, pb.Reverb()(x, 44100, buffer_size=512, reset=False), atol=1e-5)
    # other channels, and a larger buffer size after an explicit reset(): just works
    node.reset()
    y1 = node(x[:1], 44100, buffer_size=2048, reset=False)
    np.testing.assert_allclose(y1, pb.Reverb()(x[:1], 44100, reset=False), atol=1e-5)
    # a smaller buffer size keeps streaming (pedalboard does too)
    a = node(x[:1], 44100, buffer_size=256, reset=False)
    r = pb.Reverb()
    r(x[:1], 44100, buffer_size=2048, reset=False)
    np.testing.assert_allclose(a, r(x[:1], 44100, buffer_size=256, reset=False), atol=1e-5)
    g = Delay(samples=5)  # an aural processor follows the same rule
    g(x, 48000, reset=False)
    assert g(x[:1], 16000, reset=False).shape == (1, 6000)


@pytest.mark.parametrize("sr", [16000, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("buffer_size", [128, 1000])
@pytest.mark.parametrize("kind", list(FACTORIES))
def test_streamed_calls_plus_flush_equal_one_shot(kind, sr, channels, buffer_size):
    n = int(0.3 * sr)
    x = noise(channels, n, seed=3)
    node = FACTORIES[kind]()
    ref = node(x, sr, buffer_size=buffer_size)
    lat = node.latency_samples
    assert lat > 0 or kind == "reverb"
    node.reset()
    sizes = [333, 1, 2000, 77]
    # pedalboard's reset=False idiom: raw output, delayed by the latency; then flush()
    layout = (lambda a: a[0]) if channels == 1 else (lambda a: a.T)  # 1-D / channels-last
    # (chunks of >= 3 frames: a (1, 2) array would read as one channel, as in pedalboard)
    outs = [node(layout(c), sr, buffer_size=buffer_size, reset=False)
            for c in cut(x, [333, 3, 2000, 77])]
    tail = node.flush()
    assert tail.shape == layout(np.zeros((channels, lat))).shape
    raw = np.concatenate(outs + [tail], axis=-1 if channels == 1 else 0)
    got = raw[lat:] if channels == 1 else raw[lat:].T
    got = got.reshape(channels, -1)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
    # the DemucsStreamer style: every result already aligned
    s = node.stream(sr, channels, buffer_size=buffer_size)
    parts = [s.feed(c) for c in cut(x, sizes)] + [s.flush()]
    assert parts[0].shape[1] == max(0, sizes[0] - lat)
    np.testing.assert_allclose(np.concatenate(parts, axis=1), ref, rtol=0, atol=1e-5)


def test_latency_known_before_processing():
    node = PedalboardNode(pb.Resample(target_sample_rate=11025))
    assert node.latency_samples == 0  # documented: not prepared yet
    lat = node.latency_for(48000)
    assert lat > 0 and node.latency_samples == lat
    ch = voice_and_reverb()
    l16, l48 = ch.latency_for(16000), ch.latency_for(48000)
    assert l16 != l48
    ch.prepare(16000, 1, 256)
    assert ch.latency_samples == l16
    # an impulse comes out at latency_for's answer
    imp = np.zeros((1, 4 * l48 + 4096), np.float32)
    imp[0, 0] = 1.0
    node.prepare(48000, 1, 512)
    s = node.stream(48000, 1)
    raw = node(imp, 48000, reset=False)
    assert abs(int(np.argmax(np.abs(raw[0]))) - lat) <= 8
    assert s.latency_samples == lat


def test_pedalboard_cannot_hold_aural_nodes_but_aural_chain_holds_both():
    node = PedalboardNode(pb.Gain(gain_db=-6))
    with pytest.raises(TypeError):
        pb.Pedalboard([node])  # pedalboard's own C++ type check: cannot be hooked
    pb.Pedalboard([node.plugin])  # the wrapped plugin itself can go back into a Pedalboard
    x = noise(2, 4800)
    ch = Chain([Delay(samples=0), pb.Reverb()])
    np.testing.assert_allclose(ch(x, 48000), pb.Reverb()(x, 48000), atol=1e-5)


# ---------------------------------------------------------------------- rewind on un-bypass
def test_unbypass_rewinds_hosted_plugin_without_priming():
    node = PedalboardNode(pb.Reverb())
    ch = Chain([node], name="fx")
    ch.prepare(48000, 2, 128)
    x = noise(2, 128)
    calls = []
    proc = node._proc
    node._proc = lambda a, *k: (calls.append(a.shape[1]), proc(a, *k))[1]
    for _ in range(5):
        ch.process(x)
    ch.bypass = True
    for _ in range(100):
        ch.process(x)
    calls.clear()
    ch.bypass = False
    y = ch.process(x)
    assert sum(calls) <= 2 * 128  # a pin call and the block, not 2 x 8192 frames of priming
    # the wet path restarted clean: the same as a fresh node's first block, faded in from dry
    fresh = PedalboardNode(pb.Reverb())
    fresh.prepare(48000, 2, 128)
    w = fresh.process(x)
    g = np.array([0.0])
    from aural.engine.kernels import mix_dry_wet, smooth_coef
    ref = np.empty_like(x)
    mix_dry_wet(w, x, ref, g, 1.0, smooth_coef(10.0, 48000.0))
    np.testing.assert_allclose(y, ref, atol=1e-5)
