"""Engine core: STFT reconstruction, hop adapter, Chain/Mix latency compensation, parameters,
bypass/mix alignment, whole-signal calls in pedalboard's convention."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from aural.engine import Chain, HopProcessor, Mix, Param, ParamError, Stft
from aural.engine.processors import Gain
from aural.engine.stft import default_fft_size, fft_tables, irfft_into, rfft_into
from helpers import Delay, stream

BLOCKS = [1, 7, 64, 333, 4096]
RATES = [16000, 44100, 48000, 96000]


class SpectralPass(HopProcessor):
    """STFT analysis + synthesis with an untouched spectrum (tests the shared STFT engine)."""

    def _prepare_hop(self) -> None:
        n = default_fft_size(self.sample_rate)
        self.hop = n // 4
        self.st = Stft(self.channels, n, self.hop)

    def _process_hop(self, x, out) -> None:
        self.st.analyze(x)
        self.st.synthesize(out)

    def _reset_hop(self) -> None:
        self.st.reset()

    def _hop_latency(self) -> int:
        return self.st.latency


def noise(channels: int, n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, n)) * 0.1).astype(np.float32)


@pytest.mark.parametrize("n_fft", [8, 64, 512, 4096])
def test_fft_matches_numpy(n_fft):
    rev, tw, tw2 = fft_tables(n_fft)
    x = np.random.default_rng(1).standard_normal(n_fft)
    spec = np.zeros(n_fft // 2 + 1, complex)
    z = np.zeros(n_fft // 2, complex)
    rfft_into(x, spec, z, rev, tw, tw2)
    np.testing.assert_allclose(spec, np.fft.rfft(x), atol=1e-9 * n_fft)
    y = np.zeros(n_fft)
    irfft_into(spec, y, z, rev, tw, tw2)
    np.testing.assert_allclose(y, x, atol=1e-12)


@pytest.mark.parametrize("n_fft,hop", [(256, 128), (1024, 512), (1024, 256), (2048, 512)])
def test_stft_reconstructs_input(n_fft, hop):
    st = Stft(2, n_fft, hop)
    x = noise(2, hop * 30)
    out = np.zeros_like(x)
    for i in range(30):
        st.analyze(x[:, i * hop:(i + 1) * hop])
        st.synthesize(out[:, i * hop:(i + 1) * hop])
    lat = st.latency
    np.testing.assert_allclose(out[:, lat:], x[:, :-lat], atol=1e-6)


def test_default_fft_size_scales_with_rate():
    assert default_fft_size(48000) == 1024
    assert default_fft_size(8000) == 128
    assert default_fft_size(192000) == 4096


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("block", BLOCKS)
def test_spectral_pass_is_delay_by_latency(sr, channels, block):
    p = SpectralPass()
    x = noise(channels, sr // 4)
    y = stream(p, x, sr, block)
    lat = p.latency_samples
    assert lat == default_fft_size(sr) - 1
    np.testing.assert_allclose(y[:, lat:], x[:, :-lat], atol=1e-6)


@pytest.mark.parametrize("block", BLOCKS + [[1, 500, 3, 77, 4096]])
def test_chain_block_invariance_and_latency_sum(block):
    chain = Chain([Gain(gain_db=-6.0), SpectralPass(), Delay(samples=37), Gain(gain_db=6.0)])
    x = noise(2, 20000)
    one = chain(x, 48000)
    assert one.shape == x.shape
    np.testing.assert_allclose(one, x * (10 ** (-6 / 20) * 10 ** (6 / 20)), atol=1e-6)
    y = stream(chain, x, 48000, block, max_block=4096)
    lat = chain.latency_samples
    assert lat == 1023 + 37
    np.testing.assert_allclose(y[:, lat:], one[:, :-lat], atol=1e-5)


def test_impulse_comes_out_at_reported_latency():
    chain = Chain([Delay(samples=5), SpectralPass(), Delay(samples=100)])
    x = np.zeros((1, 8000), np.float32)
    x[0, 10] = 1.0
    y = stream(chain, x, 48000, 64)
    assert int(np.argmax(np.abs(y[0]))) == 10 + chain.latency_samples
    assert y[0, 10 + chain.latency_samples] == pytest.approx(1.0, abs=1e-6)


def test_mix_aligns_branches():
    mix = Mix([Delay(samples=0), Delay(samples=200)], gains_db=[0.0, -6.0206])
    x = noise(1, 5000)
    y = stream(mix, x, 48000, 128)
    assert mix.latency_samples == 200
    np.testing.assert_allclose(y[:, 200:], 1.5 * x[:, :-200], atol=1e-5)
    # whole-signal call is compensated
    np.testing.assert_allclose(mix(x, 48000), 1.5 * x, atol=1e-5)


def test_nested_graph_addressing_and_unique_names():
    chain = Chain([Gain(), Mix([Chain([Gain(name="inner")], name="branch"), Gain()], name="m")])
    names = [p for p, _ in chain.nodes()]
    assert names == ["gain", "m", "m.branch", "m.branch.inner", "m.gain_2"]
    chain.set("inner.gain_db", -12)
    assert chain.get("m.branch.inner.gain_db") == -12.0
    chain.set("m.gain1_db", -3)
    assert chain.get("m.gain1_db") == -3.0
    with pytest.raises(ParamError, match="no node"):
        chain.set("nope.gain_db", 1)
    with pytest.raises(ParamError, match="no parameter"):
        chain.set("gain.nope", 1)


def test_param_coercion_and_clipping():
    g = Gain()
    assert g.set("gain_db", 1000) == 48.0  # clipped to range
    assert g.set("gain_db", "-3.5") == -3.5
    with pytest.raises(ParamError):
        g.set("gain_db", "loud")
    with pytest.raises(ParamError):
        g.set("gain_db", float("nan"))
    p = Param("mode", "highpass", kind="choice", choices=("highpass", "lowpass"))
    assert p.coerce("LOWPASS") == 1.0
    with pytest.raises(ParamError):
        p.coerce("bandpass")


def test_param_changes_apply_at_block_boundary_and_are_smoothed():
    g = Gain()
    g.prepare(48000, 1, 256)
    x = np.ones((1, 256), np.float32)
    assert np.all(g.process(x) == 1.0)
    g.set("gain_db", -20.0)
    assert g.get("gain_db") == -20.0
    y = g.process(x).copy()
    assert y[0, 0] < 1.0 and y[0, 0] > 0.99  # gliding, no step
    assert np.all(np.diff(y[0]) <= 0)
    for _ in range(40):
        y = g.process(x)
    assert y[0, -1] == pytest.approx(0.1, abs=1e-4)


def test_param_queue_is_bounded_and_threadsafe():
    g = Gain()
    g.prepare(48000, 1, 64)
    g._queue.capacity = 100
    errors = []

    def spam():
        for i in range(200):
            try:
                g.set("gain_db", -float(i % 10))
            except ParamError:
                errors.append(i)

    threads = [threading.Thread(target=spam) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(g._queue) <= 100
    assert errors  # the queue refused changes instead of growing
    g.process(np.zeros((1, 64), np.float32))
    assert len(g._queue) == 0


@pytest.mark.parametrize("block", [1, 64, 333])
def test_bypass_and_mix_stay_latency_aligned(block):
    p = Chain([Delay(samples=50), Gain(gain_db=-6.0)])
    p.set("gain.bypass", True)
    x = noise(2, 6000)
    np.testing.assert_allclose(p(x, 48000, buffer_size=block), x, atol=1e-6)
    p.set("gain.bypass", False)
    p.set("delay.mix", 0.5)  # 0.5*delayed + 0.5*dry-delayed-by-latency = delayed
    y = p(x, 48000, buffer_size=block)
    np.testing.assert_allclose(y, x * 10 ** (-6 / 20), atol=1e-6)


def test_bypass_switch_is_click_free():
    g = Gain(gain_db=-40.0)
    g.prepare(48000, 1, 128)
    x = np.full((1, 128), 0.5, np.float32)
    g.process(x)
    g.bypass = True
    y = g.process(x).copy()
    assert np.max(np.abs(np.diff(y[0]))) < 0.01  # glides, no jump from 0.005 to 0.5


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e-40])
def test_nonfinite_and_denormal_input(bad):
    chain = Chain([Gain(gain_db=3.0), SpectralPass()])
    x = noise(2, 4000)
    x[0, 100:120] = bad
    x[1, 3000] = bad
    y = chain(x, 48000)
    assert np.isfinite(y).all()
    assert np.isfinite(x[0, 101]) == np.isfinite(bad)  # input not modified


def test_whole_signal_layouts_like_pedalboard():
    g = Gain(gain_db=-6.0)
    k = 10 ** (-6 / 20)
    mono = noise(1, 3000)[0]
    assert g(mono, 44100).shape == mono.shape
    cf = noise(2, 3000)
    np.testing.assert_allclose(g(cf, 44100), cf * k, atol=1e-6)
    cl = np.ascontiguousarray(cf.T)
    out = g(cl, 44100)
    assert out.shape == cl.shape
    np.testing.assert_allclose(out, cl * k, atol=1e-6)
    assert np.allclose(g.process(cf, 44100), cf * k, atol=1e-6)


def test_streaming_call_with_reset_false_continues_state():
    p = Chain([SpectralPass()])
    x = noise(1, 9000)
    whole = p(x, 48000, buffer_size=512, reset=False)
    p.reset()
    a = p(x[:, :4000], 48000, buffer_size=512, reset=False)
    b = p(x[:, 4000:], 48000, buffer_size=512, reset=False)
    np.testing.assert_allclose(np.concatenate([a, b], axis=1), whole, atol=1e-6)


def test_prepare_validates_configuration():
    g = Gain()
    with pytest.raises(ValueError, match="sample rate"):
        g.prepare(4000, 1, 64)
    with pytest.raises(ValueError, match="max_block"):
        g.prepare(48000, 1, 0)
    g.prepare(192000, 8, 65536)
    with pytest.raises(ValueError, match="channels"):
        g.process(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="exceeds"):
        g.process(np.zeros((8, 70000), np.float32))


def test_process_never_writes_into_its_input():
    chain = Chain([Gain(gain_db=-10.0), SpectralPass()])
    chain.prepare(48000, 2, 256)
    x = noise(2, 256)
    keep = x.copy()
    for _ in range(10):
        chain.process(x)
    np.testing.assert_array_equal(x, keep)
