"""Presets: JSON <-> graph round trips, clear errors, --set, block invariance and what each shipped
preset does to a degraded signal."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from aural.engine import Chain, Mix
from aural.engine.metrics import estimate_snr_db, si_sdr
from aural.engine.presets import (
    PresetError,
    apply_settings,
    from_dict,
    list_presets,
    load_named_preset,
    load_preset,
    preset_description,
    read_preset,
    repair_only,
    save_user_preset,
    shaping_only,
    user_preset_dir,
)
from aural.engine.processors import Gain
from conftest import degraded, music, speech
from helpers import stream
from scipy.signal import welch

import aural

SHIPPED = ["music", "music_denoise", "vinyl", "voice_dsp"]
NEURAL = ["music_neural", "repair", "restore_band", "voice", "voice_restore"]  # the NeuralEnhancer's own tests cover block invariance
BLOCKS = [1, 7, 64, 333, 4096]
EXACT = ["repair"]  # presets that promise every sample outside a repair unchanged


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty user preset store (never the home directory's)."""
    d = tmp_path / "store"
    monkeypatch.setenv("AURAL_PRESET_DIR", str(d))
    return d


def test_shipped_presets_listed_and_described(store):
    assert list_presets() == sorted(SHIPPED + NEURAL)
    for name in SHIPPED + NEURAL:
        d = preset_description(name)
        assert d and "\n" not in d
        chain = aural.load_preset(name)
        assert isinstance(chain, Chain) and len(chain) >= 1
        if name in EXACT:  # bit-exact outside what it repairs: no limiter may touch the rest
            assert "Limiter" not in {type(n).__name__ for _, n in chain.walk()}
        else:
            assert len(chain) >= 2 and type(chain[-1]).__name__ == "Limiter"  # ends safe


@pytest.mark.parametrize("name", SHIPPED)
def test_round_trip_dict_and_file(tmp_path, name):
    chain = load_preset(name)
    d = chain.to_dict()
    assert from_dict(d).to_dict() == d
    json.dumps(d)  # serialisable
    # the file form: Chain.save -> load_preset(path)
    chain.set("limiter.ceiling_db", -3.0)
    chain.set("limiter.bypass", True)
    p = tmp_path / f"{name}.json"
    chain.save(p)
    again = load_preset(p)
    assert again.to_dict() == chain.to_dict()
    assert again.get("limiter.ceiling_db") == -3.0 and again.node("limiter").bypass
    # the shipped JSON itself describes the same graph (only the description is extra)
    shipped = read_preset(name)
    shipped.pop("description")
    assert from_dict(shipped).to_dict() == load_preset(name).to_dict()


def test_nested_graphs_round_trip():
    d = {"type": "Chain", "name": "outer", "nodes": [
        {"type": "Gain", "name": "pre", "params": {"gain_db": -3.0}, "mix": 0.5},
        {"type": "Mix", "name": "par", "gains_db": [0.0, -6.0], "branches": [
            {"type": "Gain", "name": "a", "params": {"gain_db": 1.0}},
            {"type": "Chain", "name": "b", "nodes": [{"type": "Gain", "name": "c", "bypass": True}]}]}]}
    g = from_dict(d)
    assert isinstance(g.node("par"), Mix) and g.get("par.b.c.bypass") is True
    assert g.get("pre.mix") == 0.5 and g.get("par.gain1_db") == -6.0
    assert from_dict(g.to_dict()).to_dict() == g.to_dict()
    x = np.random.default_rng(0).standard_normal((1, 1000)).astype(np.float32)
    y = g(x, 16000)
    expect = x * (0.5 + 0.5 * 10 ** (-3 / 20))
    np.testing.assert_allclose(y, expect * 10 ** (1 / 20) + expect * 10 ** (-6 / 20), atol=1e-5)


@pytest.mark.parametrize("d,words", [
    ({"type": "Nope"}, ["'Nope'", "unknown processor type", "Gain"]),
    ({"nodes": []}, ["no \"type\""]),
    ({"type": "Chain", "nodes": [{"type": "Gain", "name": "g", "params": {"gian_db": 1}}]},
     ["g", "gian_db", "gain_db"]),
    ({"type": "Chain", "nodes": [{"type": "Gain", "prams": {}}]}, ["'prams'", "Gain"]),
    ({"type": "Chain", "nodes": [{"type": "Gain", "mix": 2}]}, ["mix"]),
    ({"type": "Chain", "nodes": [{"type": "Gain", "bypass": "yes"}]}, ["bypass"]),
    ({"type": "Chain", "nodes": [{"type": "Gain", "name": "a.b"}]}, ["name"]),
    ({"type": "Chain", "nodes": {"type": "Gain"}}, ["nodes must be a list"]),
    ({"type": "Mix", "branches": [{"type": "Gain"}], "gains_db": [0, 1]}, ["gains_db"]),
    ({"type": "Chain", "nodes": [{"type": "Gain", "params": {"gain_db": "loud"}}]}, ["'loud'"]),
    ([1, 2], ["JSON object"]),
])
def test_bad_dicts_name_the_problem(d, words):
    with pytest.raises(PresetError) as e:
        from_dict(d)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_load_errors(tmp_path):
    with pytest.raises(PresetError, match="unknown preset 'loud'.*voice"):
        load_preset("loud")
    with pytest.raises(PresetError, match="no such preset file"):
        load_preset(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "Chain", "nodes": [\n  {"type": "Gain",}]}')
    with pytest.raises(PresetError, match="invalid JSON at line 2"):
        load_preset(bad)
    single = tmp_path / "single.json"
    single.write_text('{"type": "Gain", "name": "g", "params": {"gain_db": -6}}')
    c = load_preset(single)  # a single node is wrapped in a Chain
    assert isinstance(c, Chain) and c.get("g.gain_db") == -6.0


def test_apply_settings():
    chain = load_preset("voice_dsp")
    done = apply_settings(chain, ["wiener.floor_db=-12", "limiter.bypass=on",
                                  "limiter.ceiling_db = -200"])
    assert chain.get("wiener.floor_db") == -12.0 and chain.node("limiter").bypass
    assert done[2][2] == -60.0  # clipped to the range, and reported as applied
    for bad, word in [("wiener.floor_db", "node.param=value"), ("nowhere.x=1", "no node 'nowhere'"),
                      ("wiener.nothing=1", "nothing"), ("wiener.floor_db=abc", "abc"),
                      ("floor_db=-3", "name the node"), ("=3", "node.param=value")]:
        with pytest.raises(PresetError, match=word):
            apply_settings(chain, [bad])


def test_shaping_only_bypasses_repair_and_keeps_alignment():
    chain = load_preset("vinyl")
    ref = shaping_only(chain)
    kept = {type(n).__name__ for _, n in ref.nodes() if not n.bypass}
    assert kept <= {"Butterworth", "ParametricEQ", "Compressor", "Limiter", "Gain"} and kept
    assert any(n.bypass for _, n in ref.nodes()) and not any(n.bypass for _, n in chain.nodes())
    ref.prepare(48000, 1, 512)
    chain.prepare(48000, 1, 512)
    assert ref.latency_samples == chain.latency_samples


def test_repair_only_bypasses_the_shaping_nodes_and_keeps_alignment():
    chain = load_preset("vinyl")
    rep = repair_only(chain)
    kept = {type(n).__name__ for _, n in rep.nodes() if not n.bypass}
    assert kept == {"DeClip", "DeClick", "DeCrackle", "DeHum", "Rumble", "Wiener", "DeThump"}
    assert not any(n.bypass for _, n in chain.nodes())  # the original is left alone
    rep.prepare(48000, 1, 512)
    chain.prepare(48000, 1, 512)
    assert rep.latency_samples == chain.latency_samples


def test_repair_and_shaping_views_reach_into_nested_graphs():
    """Containers are never bypassed: a DeClick inside a nested Chain still runs in repair_only,
    a Limiter inside a Mix branch still runs in shaping_only."""
    g = from_dict({"type": "Chain", "name": "top", "nodes": [
        {"type": "Chain", "name": "inner", "nodes": [{"type": "DeClick", "name": "dc"},
                                                     {"type": "Gain", "name": "g"}]},
        {"type": "Mix", "name": "par", "branches": [{"type": "Limiter", "name": "lim"},
                                                    {"type": "Wiener", "name": "w"}]}]})
    on = lambda view: {p for p, n in view.nodes() if not n.bypass}  # noqa: E731
    assert on(repair_only(g)) == {"inner", "inner.dc", "par", "par.w"}
    assert on(shaping_only(g)) == {"inner", "inner.g", "par", "par.lim"}


def _invariance_cases():
    cases = []
    for name in SHIPPED:
        for ch in (1, 2):
            cases += [(name, 48000, ch, b) for b in BLOCKS]
            cases += [(name, sr, ch, b) for sr in (16000, 44100, 96000) for b in (1, 333)]
    return cases


@pytest.mark.parametrize("name,sr,channels,block", _invariance_cases())
def test_block_invariance(name, sr, channels, block):
    """Block-wise output equals one-shot output (1e-5) at every block size, rate and layout."""
    seconds = 0.3 if block == 1 else 0.6
    x = degraded(sr, seconds, channels, seed=3)
    chain = load_preset(name)
    one = stream(chain, x, sr, x.shape[1]).copy()
    got = stream(chain, x, sr, block)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, one, atol=1e-5, rtol=0)
    # varying block sizes in one stream
    got = stream(chain, x, sr, [block, 3 * block + 1, 1], max_block=3 * block + 1)
    np.testing.assert_allclose(got, one, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", SHIPPED)
def test_whole_signal_call_keeps_shape_and_ceiling(name):
    sr = 48000
    x = degraded(sr, 1.0, 2, seed=5) * 2.0  # hot: the limiter must work
    chain = load_preset(name)
    y = chain(x, sr)
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert np.max(np.abs(y)) <= 10 ** (chain.get("limiter.ceiling_db") / 20) + 1e-4


def _score(name, x, clean, sr):
    chain = load_preset(name)
    y = chain(x, sr)
    ref_chain = shaping_only(chain)
    ref = ref_chain(clean, sr)
    base = ref_chain(x, sr)
    return (si_sdr(ref, base), si_sdr(ref, y), estimate_snr_db(base, sr), estimate_snr_db(y, sr))


@pytest.mark.parametrize("name", ["voice", "voice_dsp"])
def test_voice_preset_cleans_noisy_speech(name):
    sr = 48000
    # a recording starts with a pause (the noise trackers learn the noise there)
    clean = np.concatenate([np.zeros(sr // 2, np.float32), speech(sr, 4.0, "a")])[None] * 0.5
    rng = np.random.default_rng(11)
    t = np.arange(clean.shape[1]) / sr
    noise = rng.standard_normal(clean.shape)
    noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2)) * 10 ** (-8 / 20)  # 8 dB SNR
    noisy = (clean + noise + 0.01 * np.sin(2 * np.pi * 60 * t)).astype(np.float32)
    before, after, snr0, snr1 = _score(name, noisy, clean, sr)
    assert after > before + 3.0, (before, after)
    assert snr1 > snr0 + 6.0, (snr0, snr1)


def test_voice_restore_repairs_the_clicks_and_clipping_that_voice_passes():
    """Clicks, then clipping at 30 % of the peak, on clean speech: `voice_restore`'s output of the
    damaged speech is 6+ dB closer to its output of the clean speech than the damage was, and 5+
    dB closer than `voice` (no DeClick/DeClip: its model alone) gets to its own."""
    sr = 48000
    clean = (speech(sr, 4.0, "b") * 0.5)[None].astype(np.float32)
    rng = np.random.default_rng(5)
    clicked = clean.copy()
    for p in rng.integers(sr // 4, clean.shape[1] - sr // 4, 40):
        clicked[:, p:p + 4] += rng.choice((-0.5, 0.5))
    peak = float(np.abs(clean).max())
    clipped = np.clip(clean, -0.3 * peak, 0.3 * peak)
    got = {}
    for name in ("voice_restore", "voice"):
        chain = repair_only(load_preset(name))
        ref = chain(clean, sr)
        got[name] = [si_sdr(ref, chain(bad, sr)) for bad in (clicked, clipped)]
    for bad, restored, voice in zip((clicked, clipped), got["voice_restore"], got["voice"]):
        assert restored > si_sdr(clean, bad) + 6.0, (restored, si_sdr(clean, bad))
        assert restored > voice + 5.0, (restored, voice)


def _band_db(x, sr, lo, hi):
    f, p = welch(x, sr, nperseg=4096, axis=-1)
    return 10 * np.log10(p[..., (f >= lo) & (f < hi)].sum())


def test_music_denoise_preset_removes_hiss_and_keeps_the_music():
    name = "music_denoise"
    sr = 44100
    rng = np.random.default_rng(12)
    clean = music(sr, 4.0)  # harmonics below ~4 kHz: above 8 kHz there is only the hiss
    noise = rng.standard_normal(clean.shape)
    noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2)) * 0.1  # 20 dB SNR hiss
    noisy = (clean + noise).astype(np.float32)
    chain = load_preset(name)
    y = chain(noisy, sr)
    base = shaping_only(chain)(noisy, sr)
    assert _band_db(y, sr, 8000, 20000) < _band_db(base, sr, 8000, 20000) - 5.0  # hiss down
    assert abs(_band_db(y, sr, 100, 4000) - _band_db(base, sr, 100, 4000)) < 1.0  # music kept
    # gentle on clean material (the noise trackers take decaying notes partly for noise)
    ref = shaping_only(chain)(clean, sr)
    assert si_sdr(ref, chain(clean, sr)) > 12.0


@pytest.mark.parametrize("name", ["music", "music_denoise", "music_neural"])
def test_music_presets_repair_clicks_and_clipping(name):
    """Clicks, then clipping, on clean music: each music preset's output of the damaged music is
    close to its output of the clean music (its noise reduction alone caps SI-SDR on this
    synthetic music near 13 dB, so that is the reference), 6+ dB closer than the damage was."""
    sr = 48000
    clean = music(sr, 4.0, seed=3)
    rng = np.random.default_rng(5)
    clicked = clean.copy()
    for p in rng.integers(sr // 4, clean.shape[1] - sr // 4, 40):
        clicked[:, p:p + 4] += rng.choice((-0.8, 0.8))
    clipped = np.clip(clean * 4.0, -0.3, 0.3) / 4.0   # 4x gain into a rail, then back down
    chain = load_preset(name)
    ref = chain(clean, sr)
    for bad in (clicked, clipped):
        assert si_sdr(ref, chain(bad, sr)) > si_sdr(clean, bad) + 6.0


def test_music_preset_leaves_clean_music_alone():
    """The default music preset has no broadband noise reduction: clean music (stereo) comes
    out within -30 dB of itself (DeHum finds no hum; what DeClick takes for clicks at the
    plucked attacks it interpolates over a few samples, well under that)."""
    sr = 44100
    clean = music(sr, 4.0, seed=7)
    chain = load_preset("music")
    y = chain(clean, sr)
    assert si_sdr(clean, y) > 30.0
    assert chain.node("dehum").detected_hz == 0.0


def test_vinyl_preset_repairs_clicks_and_hiss():
    sr = 44100
    clean = np.concatenate([np.zeros(sr // 2, np.float32), speech(sr, 3.0, "d")])[None] * 0.6
    rng = np.random.default_rng(13)
    x = clean + 10 ** (-45 / 20) * rng.standard_normal(clean.shape)
    pos = rng.integers(sr // 2, clean.shape[1] - sr // 4, 20)
    for p in pos:
        x[0, p:p + 3] += rng.choice((-0.5, 0.5))
    x = x.astype(np.float32)
    chain = load_preset("vinyl")
    y = chain(x, sr)
    ref_chain = shaping_only(chain)
    ref, base = ref_chain(clean, sr), ref_chain(x, sr)
    assert si_sdr(ref, y) > si_sdr(ref, base) + 6.0
    assert chain.node("declick").clicks_repaired >= 18

    def worst(z):
        return max(np.abs(z[0, p - 5:p + 10] - ref[0, p - 5:p + 10]).max() for p in pos)
    assert worst(y) < 0.05 * worst(base)  # every click at least 26 dB down


def test_gain_and_processors_are_exported():
    assert aural.Gain is Gain and aural.Chain is Chain and aural.Mix is Mix
    for n in aural.PROCESSORS:
        assert issubclass(getattr(aural, n), aural.Processor)
    assert {"Gain", "Butterworth", "ParametricEQ", "Wiener", "Compressor", "Limiter"} <= set(aural.PROCESSORS)


def test_user_preset_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("AURAL_PRESET_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_preset_dir() == tmp_path / "xdg" / "aural" / "presets"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_preset_dir() == tmp_path / "home" / ".config" / "aural" / "presets"
    monkeypatch.setenv("AURAL_PRESET_DIR", str(tmp_path / "mine"))
    assert user_preset_dir() == tmp_path / "mine"


def test_user_store_save_list_load_by_name(store):
    chain = load_preset("music")
    chain.set("limiter.ceiling_db", -4.5)
    path = save_user_preset(chain, "my_music-2")
    assert path == store / "my_music-2.json" and path.is_file()
    assert sorted(os.listdir(store)) == ["my_music-2.json"]  # no temp file left behind
    assert list_presets() == sorted(SHIPPED + NEURAL) + ["my_music-2"]
    for load in (load_preset, load_named_preset, aural.load_preset):
        again = load("my_music-2")
        assert again.to_dict() == chain.to_dict() and again.get("limiter.ceiling_db") == -4.5
    # saving again replaces it whole
    chain.set("limiter.ceiling_db", -2.0)
    save_user_preset(chain, "my_music-2")
    assert load_preset("my_music-2").get("limiter.ceiling_db") == -2.0
    assert sorted(os.listdir(store)) == ["my_music-2.json"]
    # a shipped name is never shadowed; names are names, never paths
    with pytest.raises(PresetError, match="shipped preset"):
        save_user_preset(chain, "voice")
    for bad in ("../escape", "a.b", "", "x" * 65, "/tmp/x", "sp ace"):
        with pytest.raises(PresetError, match="bad preset name"):
            save_user_preset(chain, bad)
    assert sorted(os.listdir(store)) == ["my_music-2.json"]


def test_load_named_preset_never_reads_a_path(store, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"type": "Chain", "nodes": [], "description": "TOPSECRET"}')
    for name in (str(secret), "/etc/passwd", "../secret", "secret.json"):
        with pytest.raises(PresetError) as e:
            load_named_preset(name)
        assert "bad preset name" in str(e.value) and "TOPSECRET" not in str(e.value)
    store.mkdir()
    (store / "broken.json").write_text('{"type": "Chain",\n "nodes": [TOPSECRET]}')
    with pytest.raises(PresetError) as e:
        load_named_preset("broken")
    msg = str(e.value)
    assert "'broken'" in msg and "line 2" in msg
    assert "TOPSECRET" not in msg and str(store) not in msg
    with pytest.raises(PresetError, match="unknown preset 'nothing'"):
        load_named_preset("nothing")


_FAILING_IMPORT = """
import sys
sys.modules["onnxruntime"] = None  # any import of it fails with ImportError
from aural.engine.presets import PresetError, from_dict
try:
    from_dict({"type": "Chain", "nodes": [{"type": "NeuralEnhancer", "name": "neural"}]}, "p")
except PresetError as e:
    print(e)
    print(type(e.__cause__).__name__, e.__cause__)
"""


def test_optional_type_import_error_is_kept():
    r = subprocess.run([sys.executable, "-c", _FAILING_IMPORT], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    msg, cause = r.stdout.strip().splitlines()
    assert "node 'p > Chain > neural': NeuralEnhancer needs onnxruntime, which failed to import" in msg
    assert "onnxruntime" in msg.split("failed to import:", 1)[1]
    assert cause.split()[0] in ("ImportError", "ModuleNotFoundError") and "onnxruntime" in cause


_NO_OPTIONAL = """
import sys
import aural.engine
from aural.engine.presets import load_preset
chain = load_preset("voice_dsp")
y = chain.process  # built, DSP only
print(sorted(m for m in sys.modules if m.startswith(("aural.models", "aural.plugins"))))
"""


def test_engine_imports_neither_models_nor_plugins():
    r = subprocess.run([sys.executable, "-c", _NO_OPTIONAL], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_voice_presets_use_the_neural_default_attenuation_limit():
    """bench_unseen.py limits DeepFilterNet3 to NeuralEnhancer's default attenuation limit to
    compare it with `voice` at equal settings: the voice presets must use that default (15 dB,
    chosen on the tune split, docs/models.md)."""
    from aural.models.enhancer import NeuralEnhancer
    default = next(p.default for p in NeuralEnhancer.params if p.name == "atten_limit")
    assert default == 15.0
    for name in ("voice", "voice_restore"):
        assert load_preset(name).node("neural").v("atten_limit") == default
