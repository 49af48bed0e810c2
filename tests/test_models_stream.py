"""Streaming ONNX Runtime vs the one-pass torch model: parity, latency, reset, providers.

Needs torch (the ``train`` extra) to build and export the models under test."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from aural.models.dsunet import DualStepUNet
from aural.models.enhancer import NeuralEnhancer
from aural.models.export import export_onnx
from aural.models.runtime import OnnxStreamer, ProviderError
from aural.models.wavenet import WaveNet
from helpers import stream

SR = 16000
DATA = Path(__file__).resolve().parent / "data"
BLOCKS = [1, 7, 128, 333, 4096]


def _perturbed(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.15 * torch.randn(p.shape, generator=g))
    return model.eval()


def _models():
    return {
        "wavenet": lambda: WaveNet(hop=128, channels=12, skip_channels=12, layers=7),
        "wavenet-hop96": lambda: WaveNet(hop=96, channels=8, skip_channels=8, kernel=3, layers=4, stacks=2),
        "dsunet": lambda: DualStepUNet(n_fft=256, hop=128, channels=(8, 8, 16, 16), dilations=(1, 2)),
        "dsunet-hop64": lambda: DualStepUNet(n_fft=256, hop=64, channels=(8, 8), kt=3, dilations=(1, 4),
                                             stages=2, channels2=(4, 8)),
        "dsunet-gru": lambda: DualStepUNet(n_fft=256, hop=128, channels=(8, 8), dilations=(1,), gru=12),
        "dsunet-df": lambda: DualStepUNet(n_fft=256, hop=128, channels=(8, 8), dilations=(1,), gru=8, df=3),
        # a 20-frame minimum window: it fills and slides within the 94-frame test signal
        "dsunet-floor": lambda: DualStepUNet(n_fft=256, hop=128, channels=(8, 8), dilations=(1,), gru=8,
                                             df=2, noise_floor=20),
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("onnx")
    out = {}
    for i, (name, make) in enumerate(_models().items()):
        m = _perturbed(make(), i)
        out[name] = (m, export_onnx(m, d / f"{name}.onnx"))
    return out


@pytest.fixture(scope="module")
def signal():
    import soundfile as sf
    from scipy.signal import resample_poly

    x, sr = sf.read(DATA / "speech_b.flac", dtype="float32")
    x = resample_poly(x[:sr], 160, 221).astype(np.float32)[:12000]
    rng = np.random.default_rng(0)
    x2 = (0.5 * x + 0.05 * rng.standard_normal(len(x))).astype(np.float32)
    return np.stack([x + 0.02 * rng.standard_normal(len(x)).astype(np.float32), x2[::-1].copy()])


def _torch_ref(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", list(_models()))
def test_streamed_onnx_equals_one_pass_torch(exported, signal, name):
    model, path = exported[name]
    ref = _torch_ref(model, signal)  # delayed by model.latency
    assert np.abs(ref).max() > 0.05  # not a trivial output
    ne = NeuralEnhancer(atten_limit=100.0, model=path)
    lat = model.hop - 1  # the host adapter's part; ref already holds the model's own delay
    for b in BLOCKS:
        y = stream(ne, signal, SR, b, max_block=4096)
        assert ne.latency_samples == lat + model.latency
        err = np.abs(y[:, lat:] - ref[:, :-lat]).max()
        assert err < 1e-4, f"host block {b}: max |onnx stream - torch| = {err:.2e}"
    # varying block sizes, and the whole-signal call (latency-compensated)
    y = stream(ne, signal, SR, [1, 333, 7, 4096, 128, 50], max_block=4096)
    assert np.abs(y[:, lat:] - ref[:, :-lat]).max() < 1e-4
    whole = ne(signal, SR, buffer_size=333)
    n = signal.shape[1] - model.latency
    assert np.abs(whole[:, :n] - ref[:, model.latency:]).max() < 1e-4


@pytest.mark.parametrize("name", list(_models()))
def test_impulse_latency_equals_declared(exported, name):
    """Models set to pass audio through: the impulse comes out exactly at the latency."""
    model = _models()[name]()
    if isinstance(model, DualStepUNet):  # stage-1 mask 1, stage 2 identity
        with torch.no_grad():
            model.unet1.up[-1].weight.zero_()
            model.unet1.up[-1].bias.fill_(40.0)
    else:
        model.identity_()
    path = export_onnx(model.eval(), exported[name][1].replace(".onnx", "-id.onnx"))
    for b in (1, 7, 333):
        ne = NeuralEnhancer(atten_limit=100.0, model=path)
        x = np.zeros((1, 4000), np.float32)
        x[0, 10] = 1.0
        y = stream(ne, x, SR, b)
        peak = int(np.argmax(np.abs(y[0])))
        assert peak - 10 == ne.latency_samples, (b, peak)
        assert y[0, peak] == pytest.approx(1.0, abs=1e-5)
        rest = np.delete(y[0], peak)
        assert np.abs(rest).max() < 1e-5


@pytest.mark.parametrize("name", ["wavenet", "dsunet", "dsunet-floor"])
def test_trained_like_model_is_causal(exported, name):
    """With random weights, an impulse at t0 changes no output emitted before t0 (the stream is
    causal).  The waveform model's effect starts exactly at the declared latency; an STFT
    model's mask change also reaches the earlier samples of the impulse's frame (its latency is
    the alignment delay, checked with the identity model above)."""
    model, path = exported[name]
    ne = NeuralEnhancer(atten_limit=100.0, model=path)
    rng = np.random.default_rng(3)
    base = (0.1 * rng.standard_normal((1, 3000))).astype(np.float32)
    imp = base.copy()
    t0 = 1000
    imp[0, t0] += 0.5
    yb = stream(ne, base, SR, 7)
    yi = stream(ne, imp, SR, 7)
    d = np.abs(yi[0] - yb[0])
    lat = ne.latency_samples
    assert d[:t0].max() == 0.0
    if name == "wavenet":
        assert d[: t0 + lat].max() == 0.0
        assert d[t0 + lat] > 1e-3
    else:
        first = t0 + lat - (model.n_fft - 1)  # the impulse frame's first emitted sample
        assert d[:max(first, 0)].max() == 0.0
        assert d[t0 + lat] > 1e-3


def _floor_snr(model, x):
    """The noise-floor feature (T frames, F bins) of a mono signal, one pass."""
    frames = torch.from_numpy(np.pad(x, (model.n_fft - model.hop, 0))).unfold(0, model.n_fft, model.hop)
    re, im = frames @ model.dft_re, frames @ model.dft_im
    with torch.no_grad():
        return model._floor_feature((re * re + im * im)[None])[0][0].numpy()


def test_noise_floor_feature_reads_snr_against_the_steady_floor():
    """White noise, a tone 20 dB above the noise's bin level for 0.24 s, then the noise 20 dB
    louder: in the tone's bin the feature rises by 20 dB / 20 over the noise-only value; right
    after the rise every bin reads 20 dB / 20 above it, and one window later the floor has
    followed the noise up (the minimum slid past the quiet frames).  Level-independent (log
    powers), 0 before the first minimum exists."""
    w = 40
    model = DualStepUNet(n_fft=256, hop=128, channels=(8, 8), dilations=(1,), noise_floor=w)
    rng = np.random.default_rng(0)
    n = 128 * 300
    x = 0.01 * rng.standard_normal(n)
    k = 20  # bin 20: 1250 Hz
    t = np.arange(n) / SR
    burst = slice(128 * 100, 128 * 130)  # 30 frames, shorter than the minimum's window
    # a bin's white-noise power is sigma^2 * sum(win^2); a tone A sin at the bin centre gives
    # (A/2 * sum(win))^2: 20 dB above the noise takes A = 2 sigma sqrt(100 sum(win^2)) / sum(win)
    win = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(256) / 256))
    a = 2 * 0.01 * np.sqrt(100 * np.sum(win ** 2)) / np.sum(win)
    x[burst] += a * np.sin(2 * np.pi * k * SR / 256 * t[burst])
    x[128 * 200:] *= 10.0
    f = _floor_snr(model, x.astype(np.float32))
    assert np.all(f[:3] == 0.0)  # the smoothing's first 3 frames: no floor yet
    quiet_bins = np.r_[5:15, 30:60]
    steady = np.median(f[60:95][:, quiet_bins])  # the noise-only value (the minimum's bias)
    assert 0.0 < steady < 0.6
    assert np.median(f[105:128][:, k]) - steady == pytest.approx(1.0, abs=0.15)
    assert np.median(f[105:128][:, quiet_bins]) == pytest.approx(steady, abs=0.15)  # other bins
    assert np.median(f[205:215][:, quiet_bins]) == pytest.approx(steady + 1.0, abs=0.15)
    assert np.median(f[200 + w + 5:][:, quiet_bins]) == pytest.approx(steady, abs=0.15)
    assert np.abs(_floor_snr(model, (0.05 * x).astype(np.float32)) - f).max() < 1e-3


@pytest.mark.parametrize("name", ["wavenet", "dsunet", "dsunet-floor"])
def test_reset_gives_identical_output(exported, signal, name):
    _, path = exported[name]
    ne = NeuralEnhancer(atten_limit=100.0, model=path)
    a = stream(ne, signal, SR, 333).copy()
    ne.reset()
    b = np.concatenate([ne.process(np.ascontiguousarray(signal[:, i:i + 333])).copy()
                        for i in range(0, signal.shape[1], 333)], axis=1)
    assert np.array_equal(a, b)
    s = OnnxStreamer(path, channels=2)
    y1 = s.process(signal).copy()
    s.run(np.ones((2, s.hop), np.float32))  # dirty the state
    y2 = s.process(signal)  # process() resets first
    assert np.array_equal(y1, y2)


def test_channels_are_independent(exported, signal):
    _, path = exported["dsunet"]
    ne = NeuralEnhancer(atten_limit=100.0, model=path)
    both = stream(ne, signal, SR, 128)
    one = stream(ne, signal[1:], SR, 128)
    assert np.abs(both[1:] - one).max() < 1e-6


def test_cuda_provider_missing_is_a_clear_error(exported, monkeypatch):
    import onnxruntime as ort

    _, path = exported["wavenet"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ProviderError, match=r"CUDAExecutionProvider.*onnxruntime-gpu"):
        NeuralEnhancer(model=path, provider="cuda")
    with pytest.raises(ProviderError, match="CUDAExecutionProvider"):
        OnnxStreamer(path, provider="cuda")
    with pytest.raises(ProviderError, match="unknown provider"):
        OnnxStreamer(path, provider="tpu")


def test_cuda_provider_that_falls_back_is_refused(exported, monkeypatch):
    """onnxruntime silently falls back to CPU when CUDA libraries fail to load: refuse that."""
    import onnxruntime as ort

    _, path = exported["wavenet"]
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    real = ort.InferenceSession

    def fake(p, so=None, providers=None):
        return real(p, so, providers=["CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", fake)
    with pytest.raises(ProviderError, match="did not enable CUDAExecutionProvider"):
        OnnxStreamer(path, provider="cuda")


def test_inference_never_imports_torch(exported):
    _, path = exported["dsunet"]
    code = ("import sys, numpy as np\n"
            "from aural.models import NeuralEnhancer\n"
            f"ne = NeuralEnhancer(model={path!r})\n"
            "y = ne(np.zeros((1, 1000), np.float32), 16000)\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_onnx_has_named_states_and_metadata(exported):
    import onnx

    model, path = exported["dsunet"]
    m = onnx.load(path)
    ins = [i.name for i in m.graph.input]
    outs = [o.name for o in m.graph.output]
    names = [n for n, _ in model.state_specs()]
    assert ins == ["audio"] + names and outs == ["audio_out"] + [n + "_out" for n in names]
    assert "stft_in" in names and "ola" in names and any(n.startswith("unet2_") for n in names)
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["latency"] == str(model.latency) and meta["hop"] == "128" and meta["kind"] == "dsunet"


def test_preset_round_trip(exported):
    from aural.engine.processor import REGISTRY

    _, path = exported["wavenet"]
    ne = NeuralEnhancer(atten_limit=100.0, model=path, name="nn")
    d = ne.to_dict()
    assert d["type"] == "NeuralEnhancer" and d["params"]["model"] == path
    again = REGISTRY[d["type"]](name=d["name"], **d["params"])
    assert again.model == path and again.provider == "cpu"


@pytest.fixture(scope="module")
def identity_models(exported):
    d = exported["wavenet"][1].rsplit("/", 1)[0]
    ds = DualStepUNet(channels=(8, 8), dilations=(1,))
    with torch.no_grad():
        ds.unet1.up[-1].weight.zero_()
        ds.unet1.up[-1].bias.fill_(40.0)
    return {"wavenet": export_onnx(WaveNet(channels=8, layers=4).identity_().eval(), f"{d}/wn-id.onnx"),
            "dsunet": export_onnx(ds.eval(), f"{d}/ds-id.onnx")}


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("name", ["wavenet", "dsunet"])
def test_other_host_rates_resample_around_the_model(identity_models, sr, name):
    """At a host rate other than the model's, the processor resamples in and out: output is
    independent of the host block size and a whole number of samples late (the declared
    latency, at every rate ratio); with high_band on (default), a pass-through model gives back
    the full-band input (its noise suppressor off: white noise is what it takes away); with it
    off, the band the model sees (a pass-band tone, an impulse's peak)."""
    ne = NeuralEnhancer(atten_limit=100.0, model=identity_models[name])
    ne.set("high_band_denoise", False)
    n = max(sr // 4, 6000)
    rng = np.random.default_rng(5)
    x = np.zeros((3, n), np.float32)
    x[0, 100] = 1.0
    x[1] = 0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(n) / sr)
    x[2] = 0.3 * rng.standard_normal(n)
    outs = [stream(ne, x, sr, b, max_block=4096) for b in (1, 7, 333, 4096)]
    for o in outs[1:]:
        assert np.abs(o - outs[0]).max() < 1e-6
    lat = ne.latency_samples
    assert lat < 0.022 * sr  # at most 22 ms at every rate (21.4 ms at 8 kHz, 18.7 at 44.1/48)
    y = outs[0]
    assert np.abs(y[:, lat:] - x[:, :n - lat]).max() < 2e-3  # full band back (high band on)
    assert np.abs(y[:, :lat]).max() < 2e-3
    ne.set("high_band", False)
    y = stream(ne, x, sr, 333, max_block=4096)
    assert int(np.argmax(np.abs(y[0]))) - 100 == lat
    assert np.abs(y[1, lat + 2000:] - x[1, 2000:n - lat]).max() < 5e-4  # pass-band ripple
    if sr > 16000:  # white noise loses what lies above 6.4 kHz
        drop = np.mean(y[2, lat:] ** 2) / np.mean(x[2] ** 2)
        assert 0.8 * 12800 / sr < drop < 1.05 * 14400 / sr
    ne.set("high_band", True)
    ne.reset()
    again = stream(ne, x, sr, 333, max_block=4096)
    assert np.array_equal(again, outs[0])


@pytest.fixture(scope="module")
def attenuating_model(exported):
    """A Dual-Step U-Net whose stage-1 mask is 0.1 everywhere (-20 dB), stage 2 identity."""
    d = exported["wavenet"][1].rsplit("/", 1)[0]
    ds = DualStepUNet(channels=(8, 8), dilations=(1,))
    with torch.no_grad():
        ds.unet1.up[-1].weight.zero_()
        ds.unet1.up[-1].bias.fill_(float(np.log(0.1 / 0.9)))
    return export_onnx(ds.eval(), f"{d}/ds-att.onnx")


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_high_band_follows_the_models_top_band_gain(attenuating_model, sr):
    """Above the model's band (6.4 kHz for 16 kHz models) the host-rate input is added back
    scaled by the model's own gain in its top band: a -20 dB model takes white noise's high band
    down 20 dB too; not following, it passes at 0 dB; the floor bounds it.  Block invariant."""
    from scipy.signal import butter, sosfilt

    n = sr  # 1 s
    x = (0.1 * np.random.default_rng(3).standard_normal((2, n))).astype(np.float32)
    ne = NeuralEnhancer(atten_limit=100.0, model=attenuating_model)
    ne.set("high_band_denoise", False)  # steady white noise: its own suppressor would take it
    outs = [stream(ne, x, sr, b, max_block=4096) for b in (1, 333, 4096)]
    for o in outs[1:]:
        assert np.abs(o - outs[0]).max() < 1e-6
    lat = ne.latency_samples
    hp = butter(8, 9000, "highpass", fs=sr, output="sos")

    def high_db(y):  # level of the band above 9 kHz, out against in, after the start-up
        a = sosfilt(hp, y[:, lat + sr // 10:], axis=1)
        b = sosfilt(hp, x[:, sr // 10:n - lat], axis=1)
        return 10 * np.log10(np.mean(a ** 2) / np.mean(b ** 2))

    assert -21.5 < high_db(outs[0]) < -18.5
    ne.set("high_band_follow", False)
    assert abs(high_db(stream(ne, x, sr, 333, max_block=4096))) < 0.5
    ne.set("high_band_follow", True)
    ne.set("high_band_floor", -10.0)
    ne.reset()
    assert -11.0 < high_db(stream(ne, x, sr, 333, max_block=4096)) < -9.0


@pytest.mark.parametrize("sr", [16000, 48000])
def test_atten_limit_mixes_the_aligned_input_back_and_glides(attenuating_model, sr):
    """atten_limit L dB: output = (1 - 10^(-L/20)) x model + 10^(-L/20) x input delayed by the
    latency, for any host block (DeepFilterNet's atten_lim_db); 100 dB is the model alone, 0 dB
    the input alone.  A change mid-stream glides (no step) and settles within 50 ms."""
    n = sr
    x = (0.1 * np.random.default_rng(5).standard_normal((2, n))).astype(np.float32)
    alone = NeuralEnhancer(model=attenuating_model, atten_limit=100.0)
    ref = stream(alone, x, sr, 333, max_block=4096)
    lat = alone.latency_samples
    xd = np.zeros_like(x)
    xd[:, lat:] = x[:, :n - lat]
    assert np.mean(ref[:, lat:] ** 2) < 0.1 * np.mean(x ** 2)  # the model does attenuate
    for limit in (6.0, 20.0):
        share = 10.0 ** (-limit / 20.0)
        ne = NeuralEnhancer(model=attenuating_model, atten_limit=limit)
        assert ne.get("atten_limit") == limit and ne.spec("atten_limit").unit == "dB"
        for b in (1, 333, 4096):
            y = stream(ne, x, sr, b, max_block=4096)
            assert ne.latency_samples == lat
            assert np.abs(y - ((1.0 - share) * ref + share * xd)).max() < 1e-5
    dry = stream(NeuralEnhancer(model=attenuating_model, atten_limit=0.0), x, sr, 333, max_block=4096)
    assert np.abs(dry - xd).max() < 1e-6
    # a change at a block boundary: the model's share glides from 1 to 0 (10 ms time constant)
    ne = NeuralEnhancer(model=attenuating_model, atten_limit=100.0)
    ne.prepare(sr, 2, 480)
    half = (n // 2) // 480 * 480
    ys = []
    for s in range(0, n - 479, 480):
        if s == half:
            ne.set("atten_limit", 0.0)
        ys.append(ne.process(x[:, s:s + 480]).copy())
    y = np.concatenate(ys, axis=1)
    seg = slice(half, half + sr // 20)
    g = (y[0, seg] - xd[0, seg]) / (ref[0, seg] - xd[0, seg])  # the model's share, per sample
    assert np.abs(y[:, :half] - ref[:, :half]).max() < 1e-5
    assert 0.8 < g[0] < 1.0 and np.all(np.diff(g) < 1e-3) and abs(g[-1]) < 0.01


def test_high_band_noise_suppressor_keeps_bursts_and_removes_the_floor(identity_models):
    """high_band_denoise, with a pass-through model (so only the one-band suppressor acts):
    above the model's band, 150 ms bursts 30 dB over a steady noise floor come through within
    2 dB while the floor between them goes down by more than 15 dB; block invariant; off, the
    band is untouched."""
    from scipy.signal import butter, sosfilt

    sr, n = 48000, 4 * 48000
    rng = np.random.default_rng(8)
    hp = butter(8, 9000, "highpass", fs=sr, output="sos")
    floor = sosfilt(hp, 0.003 * rng.standard_normal(n))
    bursts = sosfilt(hp, 0.1 * rng.standard_normal(n))
    on = (np.arange(n) % (sr // 2)) < int(0.15 * sr)
    x = np.stack([floor + bursts * on, floor]).astype(np.float32)
    ne = NeuralEnhancer(atten_limit=100.0, model=identity_models["dsunet"])
    outs = [stream(ne, x, sr, b, max_block=4096) for b in (1, 333, 4096)]
    for o in outs[1:]:
        assert np.abs(o - outs[0]).max() < 1e-6
    lat = ne.latency_samples
    y = outs[0][:, lat:]
    xs = x[:, : n - lat]
    late = np.arange(n - lat) > 2 * sr  # after the 1.5 s the noise floor tracker needs
    core = on[: n - lat] & (np.arange(n - lat) % (sr // 2) > int(0.02 * sr))  # burst bodies
    gaps = ~on[: n - lat] & (np.arange(n - lat) % (sr // 2) > int(0.25 * sr))  # 100 ms after

    def db(a, b, m):
        return 10 * np.log10(np.mean(a[m] ** 2) / np.mean(b[m] ** 2))

    assert abs(db(y[0], xs[0], late & core)) < 2.0
    assert db(y[0], xs[0], late & gaps) < -15.0
    assert db(y[1], xs[1], late) < -15.0  # a floor alone
    ne.set("high_band_denoise", False)
    ne.reset()
    y = stream(ne, x, sr, 333, max_block=4096)[:, lat:]
    assert abs(db(y[0], xs[0], late & gaps)) < 0.5


def test_chained_models_add_latency(exported, signal):
    """Seed 000's combined model: a Dual-Step U-Net then a WaveNet in one Chain."""
    from aural.engine import Chain

    (m1, p1), (m2, p2) = exported["dsunet"], exported["wavenet"]
    ch = Chain([NeuralEnhancer(atten_limit=100.0, model=p1, name="unet"), NeuralEnhancer(atten_limit=100.0, model=p2, name="wavenet")])
    y = stream(ch, signal, SR, 333, max_block=4096)
    l1, l2 = m1.hop - 1 + m1.latency, m2.hop - 1
    assert ch.latency_samples == l1 + l2
    # reference: torch one-pass of both, the second fed what the first processor emits
    # (its adapter's hop - 1 zeros, then the first model's output)
    r1 = _torch_ref(m1, signal)
    fed = np.concatenate([np.zeros((2, m1.hop - 1), np.float32), r1], axis=1)[:, :signal.shape[1]]
    r2 = _torch_ref(m2, np.ascontiguousarray(fed))
    a = m2.hop - 1
    assert np.abs(y[:, a:] - r2[:, :-a]).max() < 1e-4


def test_preset_node_builds_and_reports_errors_in_one_line(exported, monkeypatch):
    import onnxruntime as ort
    from aural.engine.presets import PresetError, from_dict

    _, path = exported["dsunet"]
    node = from_dict({"type": "Chain", "nodes": [
        {"type": "NeuralEnhancer", "name": "nn", "params": {"model": path}}]})
    y = node(np.zeros((1, 2000), np.float32), SR)
    assert y.shape == (1, 2000) and node.latency_samples == 255
    with pytest.raises(PresetError, match="no model 'nope'.*shipped"):
        from_dict({"type": "NeuralEnhancer", "params": {"model": "nope"}})
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(PresetError, match="CUDAExecutionProvider"):
        from_dict({"type": "NeuralEnhancer", "params": {"model": path, "provider": "cuda"}})


def test_enhance_cli_with_a_neural_preset(exported, tmp_path, monkeypatch, capsys):
    """`aural enhance -p preset.json` runs a NeuralEnhancer node on a file (at 22.05 kHz: the
    node resamples around its 16 kHz model); provider cuda without CUDA is a one-line error."""
    import json

    import onnxruntime as ort
    import soundfile as sf

    from aural.cli.main import main

    _, path = exported["dsunet"]
    wav = tmp_path / "in.wav"
    x, sr = sf.read(DATA / "speech_c.flac", dtype="float32")
    sf.write(wav, x[: sr // 2], sr)
    preset = tmp_path / "nn.json"
    node = {"type": "NeuralEnhancer", "name": "nn", "params": {"model": path}}
    preset.write_text(json.dumps({"type": "Chain", "nodes": [node]}))
    out = tmp_path / "out.wav"
    assert main(["enhance", str(wav), "-p", str(preset), "-o", str(out), "-q"]) == 0
    y, sr2 = sf.read(out, dtype="float32")
    assert sr2 == sr and len(y) == sr // 2 and np.abs(y).max() > 1e-3
    node["params"]["provider"] = "cuda"
    preset.write_text(json.dumps({"type": "Chain", "nodes": [node]}))
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    capsys.readouterr()
    assert main(["enhance", str(wav), "-p", str(preset), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "CUDAExecutionProvider" in err and "onnxruntime-gpu" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- worker thread
@pytest.mark.parametrize("name", ["wavenet", "dsunet"])
def test_worker_is_the_model_one_hop_later_at_every_block_size(exported, signal, name):
    """worker=True: the model on its own thread, one model hop behind.  Output = the inline
    processor's delayed by exactly that hop, whatever the host block size; latency + hop."""
    model, path = exported[name]
    ref_ne = NeuralEnhancer(atten_limit=100.0, model=path)
    ref = stream(ref_ne, signal, SR, 4096)
    ne = NeuralEnhancer(atten_limit=100.0, model=path, worker=True)
    h = model.hop
    for b in (1, 7, 333, 4096):
        y = stream(ne, signal, SR, b, max_block=4096)
        assert ne.latency_samples == ref_ne.latency_samples + h
        assert np.abs(y[:, :h]).max() == 0.0
        assert np.array_equal(y[:, h:], ref[:, :-h]), f"host block {b}"
    assert ne._streamer.threaded and ne._streamer.submitted > 0


@pytest.mark.parametrize("sr", [8000, 48000])
def test_worker_at_other_rates_declares_its_latency_and_is_timing_independent(identity_models, sr,
                                                                              monkeypatch):
    """Resampled around the model: a pass-through model puts the impulse at the declared latency
    (inline + 1 model hop in host samples), block sizes do not matter, and the threaded pipeline
    gives the same samples as the same pipeline run inline."""
    path = identity_models["dsunet"]
    inline = NeuralEnhancer(atten_limit=100.0, model=path)
    inline.prepare(sr, 1, 333)
    ne = NeuralEnhancer(atten_limit=100.0, model=path, worker=True)
    ne.set("high_band", False)
    x = np.zeros((2, sr // 2), np.float32)
    x[0, 100] = 1.0
    x[1] = 0.3 * np.random.default_rng(1).standard_normal(x.shape[1])
    outs = [stream(ne, x, sr, b, max_block=4096) for b in (1, 333, 4096)]
    lat = ne.latency_samples
    assert lat == inline.latency_samples + 128 * sr // SR
    assert int(np.argmax(np.abs(outs[0][0]))) - 100 == lat
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])
    ne.set("high_band", True)
    threaded = stream(ne, x, sr, 333, max_block=4096)
    monkeypatch.setattr(NeuralEnhancer, "worker_threaded", False)
    flat = NeuralEnhancer(atten_limit=100.0, model=path, worker=True)
    y = stream(flat, x, sr, 333, max_block=4096)
    assert not flat._streamer.threaded
    assert np.array_equal(threaded, y)


def _model_threads() -> int:
    import threading
    return sum(t.name == "aural-model" and t.is_alive() for t in threading.enumerate())


def test_worker_thread_ends_with_its_processor(exported):
    import gc
    import time
    before = _model_threads()
    ne = NeuralEnhancer(model=exported["wavenet"][1], worker=True)
    ne.prepare(SR, 1, 128)
    assert _model_threads() == before + 1
    ne.prepare(SR, 2, 128)  # other channel count: a new session, the old worker stops
    assert _model_threads() == before + 1
    del ne
    gc.collect()
    for _ in range(100):
        if _model_threads() == before:
            break
        time.sleep(0.01)
    assert _model_threads() == before


class _FakeModel:
    """Minimal OnnxStreamer stand-in: output = input + 1, optionally slow or failing."""
    channels, hop, latency = 1, 4, 0

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.audio_in = np.zeros((1, 4), np.float32)
        self.audio_out = np.zeros((1, 4), np.float32)
        self.delay, self.fail = delay, fail

    def run(self):
        import time
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise ValueError("bad model")
        self.audio_out[...] = self.audio_in + 1.0
        return self.audio_out

    def reset(self):
        self.audio_out[...] = 0.0


def test_pipeline_waits_for_a_late_model_and_counts_it():
    from aural.models.pipeline import PipelinedStreamer
    p = PipelinedStreamer(_FakeModel(delay=0.02))
    assert p.latency == 4
    outs = [p.run(np.full((1, 4), k, np.float32)).copy() for k in range(4)]
    assert [o[0, 0] for o in outs] == [0.0, 1.0, 2.0, 3.0]  # hop k - 1, plus one
    assert p.late == 3  # each call came before the 20 ms model had finished the hop before
    p.reset()
    assert p.late == 0 and np.abs(p.run(np.ones((1, 4), np.float32))).max() == 0.0
    t = p._thread
    p.close()
    assert not t.is_alive()


def test_pipeline_reports_a_model_error_on_the_next_hop():
    from aural.models.pipeline import PipelinedStreamer
    p = PipelinedStreamer(_FakeModel(fail=True))
    p.run(np.zeros((1, 4), np.float32))
    with pytest.raises(RuntimeError, match="worker thread.*bad model"):
        p.run(np.zeros((1, 4), np.float32))
    p.close()


def test_worker_round_trips_through_a_preset(exported):
    from aural.engine.presets import from_dict
    ne = NeuralEnhancer(atten_limit=100.0, model=exported["wavenet"][1], worker=True, name="nn")
    d = ne.to_dict()
    assert d["params"]["worker"] is True
    back = from_dict(d)
    assert back.worker and back.to_dict() == d
    assert "worker" not in NeuralEnhancer(atten_limit=100.0, model=exported["wavenet"][1]).to_dict()["params"]
    with pytest.raises(TypeError, match="worker"):
        NeuralEnhancer(model=exported["wavenet"][1], worker="yes")


def test_pipeline_without_a_thread_runs_inline_one_hop_later():
    """threaded=False: no worker thread, the same one-hop-later samples as the threaded path."""
    from aural.models.pipeline import PipelinedStreamer

    p = PipelinedStreamer(_FakeModel(), threaded=False)
    assert not p.threaded and p._thread is None
    outs = [p.run(np.full((1, 4), k, np.float32))[0, 0] for k in range(3)]
    assert outs == [0.0, 1.0, 2.0]
