"""The ``auto`` preset: detection (hum, clipping, clicks, band limit, noise, content) and the chain
it builds; clean input must come out unchanged."""
from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
from conftest import music, speech
from scipy.signal import fftconvolve, resample_poly

from aural.engine.analysis import Collector, analyse, analyse_blocks, analyse_file
from aural.engine.auto import (AUTO, actions, apply_auto_settings, auto_chain_for,
                               auto_chain_for_audio, build_chain, describe_for_cli)
from aural.engine.io import AudioFileError
from aural.engine.metrics import si_sdr

SONIC = "/usr/share/sonic-pi/samples"
#: sonic-pi loops not in models/reserved.txt
LOOPS = ("breakbeat", "mehackit1", "perc1", "perc2", "weirdo")


def _loop(name: str, seconds: float = 5.0) -> tuple[np.ndarray, int]:
    x, sr = sf.read(f"{SONIC}/loop_{name}.flac", dtype="float32", always_2d=True)
    return x.T[:, : int(seconds * sr)], sr


def _reverberant(sr: int) -> np.ndarray:
    """speech_b in a synthetic room: exponentially decaying noise tail, RT60 0.4 s."""
    rng = np.random.default_rng(3)
    t = np.arange(int(0.5 * sr)) / sr
    rir = rng.standard_normal(t.size) * np.exp(-6.9 * t / 0.4) * 0.3
    rir[0] = 1.0
    y = fftconvolve(speech(sr, 5.0, "b"), rir)[: 5 * sr]
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _names(chain) -> list[str]:
    return [type(n).__name__ for n in chain.children]


# ------------------------------------------------------------------------- clean: no change
CLEAN = ([(f"speech_{c}", lambda c=c: (speech(22050, 5.0, c)[None], 22050)) for c in "abcd"]
         + [("speech_b_48k", lambda: (speech(48000, 4.0, "b")[None], 48000)),
            ("reverberant", lambda: (_reverberant(22050)[None], 22050)),
            ("plucked_0", lambda: (music(44100, 5.0, 0), 44100)),
            ("plucked_1", lambda: (music(48000, 5.0, 1), 48000))]
         + [(f"loop_{n}", lambda n=n: _loop(n)) for n in LOOPS])


@pytest.mark.parametrize("name,make", CLEAN, ids=[c[0] for c in CLEAN])
def test_clean_input_is_left_alone(name, make):
    x, sr = make()
    chain, a = auto_chain_for_audio(x, sr, neural=False)
    assert a.clean, a.findings()
    assert len(chain) == 0  # no repair node at all: the identity
    y = chain(x, sr)
    assert si_sdr(x, y) >= 30.0
    assert np.array_equal(y, x)
    assert actions(chain) == ["nothing to repair: the output is the input, unchanged"]
    assert "chain: (empty: identity)" in describe_for_cli(a, chain)


# ------------------------------------------------------------------------- detection
@pytest.mark.parametrize("f0,sr", [(50.0, 22050), (60.0, 48000), (50.0, 44100)])
def test_hum_found_with_its_fundamental(f0, sr):
    s = speech(sr, 5.0, "b")
    t = np.arange(s.size) / sr
    hum = sum(0.02 / k * np.sin(2 * np.pi * k * f0 * 1.002 * t + k) for k in range(1, 6))
    a = analyse((s + hum).astype(np.float32), sr)
    assert a.hum_hz == f0
    assert 2 <= a.hum_harmonics <= 8
    assert a.hum_above_floor_db > 15.0
    chain = build_chain(a, neural=False)
    assert _names(chain) == ["DeHum"]
    assert chain.node("dehum").v("freq_hz") == f0
    assert any(f"{f0:g} Hz hum" in line for line in a.findings())
    # the number is the highest harmonic standing out, and the finding says so
    from aural.engine.analysis import _ordinal
    assert any(f"lines up to the {_ordinal(a.hum_harmonics)} harmonic" in line
               for line in a.findings())
    assert [_ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd"]
    assert analyse(s, sr).hum_hz == 0.0


def test_low_note_near_mains_is_not_hum():
    """A held G1 (49 Hz) with harmonics is a note, not 50 Hz hum."""
    sr = 22050
    s = speech(sr, 5.0, "c")
    t = np.arange(s.size) / sr
    note = sum(0.03 / k * np.sin(2 * np.pi * k * 49.0 * t) for k in range(1, 5))
    assert analyse((s + note).astype(np.float32), sr).hum_hz == 0.0


@pytest.mark.parametrize("sr", [22050, 48000])
def test_clipping_ceiling(sr):
    s = speech(sr, 4.0, "a")
    s = s / np.abs(s).max()
    a = analyse(np.clip(s, -0.5, 0.5), sr)
    assert a.clipped
    assert a.clip_level == pytest.approx(0.5, rel=0.01)
    assert 0.001 < a.clip_fraction < 0.2
    assert "DeClip" in _names(build_chain(a, neural=False))
    assert not analyse(s * 0.9, sr).clipped


def _clicky(x: np.ndarray, sr: int, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = x.copy()
    for p in rng.integers(sr // 10, x.shape[-1] - sr // 10, n):
        w = int(rng.integers(1, max(2, sr // 8000)))
        y[..., p:p + w] += rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.4)
    return y


@pytest.mark.parametrize("kind", ["speech", "music"])
def test_clicks_found_on_clicky_material(kind):
    x, sr = (speech(22050, 5.0, "b"), 22050) if kind == "speech" else (music(44100, 5.0), 44100)
    a = analyse(_clicky(x, sr, 30), sr)
    assert a.clicky
    assert 15 <= a.clicks <= 40  # 30 clicks added
    assert "DeClick" in _names(build_chain(a, neural=False))
    assert "DeCrackle" not in _names(build_chain(a, neural=False))   # DSP only
    names = _names(build_chain(a))                   # the learned de-crackle follows DeClick
    assert names[names.index("DeClick") + 1] == "DeCrackle"


def _drums(sr: int = 44100, seconds: float = 5.0) -> np.ndarray:
    """A drum pattern from sonic-pi one-shots: kick, snare, closed hi-hat at 120 bpm."""
    out = np.zeros(int(seconds * sr))
    hits = {"bd_haus": (0, 4), "sn_dolf": (2, 4), "drum_cymbal_closed": (0, 1)}
    for name, (off, every) in hits.items():
        h, hsr = sf.read(f"{SONIC}/{name}.flac", dtype="float64", always_2d=True)
        h = h.mean(axis=1)
        step = int(0.125 * sr)
        for i in range(off, int(seconds / 0.125), every):
            p = i * step
            m = min(h.size, out.size - p)
            out[p:p + m] += 0.4 * h[:m]
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


@pytest.mark.parametrize("name", ["plucked", "drums"])
def test_no_clicks_on_transients(name):
    x, sr = (music(44100, 5.0, 2), 44100) if name == "plucked" else (_drums(), 44100)
    a = analyse(x, sr)
    assert not a.clicky, a.findings()


@pytest.mark.parametrize("edge,sr", [(4000.0, 44100), (8000.0, 48000), (4000.0, 22050)])
def test_band_limit(edge, sr):
    rng = np.random.default_rng(0)
    lo = int(2 * edge)  # the source ran at twice the edge, then was upsampled
    n = 4 * lo
    src = rng.standard_normal(n) * 0.1
    g = np.gcd(sr, lo)
    x = resample_poly(src, sr // g, lo // g).astype(np.float32)
    a = analyse(x, sr)
    assert a.band_limit_hz == pytest.approx(edge, rel=0.05)
    assert "band-limited" in " ".join(a.findings())
    if edge <= 4000.0:  # telephone speech (the test clips hold little above 7 kHz themselves)
        s = speech(sr, 4.0, "a")
        sl = resample_poly(resample_poly(s, lo // g, sr // g), sr // g, lo // g)
        assert analyse(sl.astype(np.float32), sr).band_limit_hz == pytest.approx(edge, rel=0.05)


def test_full_band_noise_has_no_band_limit():
    x = 0.1 * np.random.default_rng(1).standard_normal((2, 3 * 48000)).astype(np.float32)
    a = analyse(x, 48000)
    assert a.band_limit_hz is None
    assert a.noise_floor_dbfs == pytest.approx(-20.0, abs=1.0)


@pytest.mark.parametrize("clip", ["a", "b", "c"])
def test_noise_floor_and_snr(clip):
    sr = 22050
    s = speech(sr, 6.0, clip).astype(np.float64)
    w = np.random.default_rng(5).standard_normal(s.size) * np.sqrt(np.mean(s ** 2) / 10.0)
    a = analyse((s + w).astype(np.float32), sr)
    assert a.snr_db == pytest.approx(10.0, abs=3.0)
    assert a.noise_floor_dbfs == pytest.approx(10 * np.log10(np.mean(w ** 2)), abs=3.0)
    assert a.noisy and a.content in ("speech", "mixed")
    chain = build_chain(a, neural=False)
    assert _names(chain) == ["Wiener"]
    if a.content == "speech":
        assert build_chain(a, neural=True).node("neural").v("atten_limit") >= 12.0
    assert si_sdr(s, chain((s + w)[None], sr)[0]) > si_sdr(s, s + w) + 1.0


@pytest.mark.parametrize("name,make,want", [
    *[(f"speech_{c}", lambda c=c: (speech(22050, 5.0, c), 22050), "speech") for c in "abcde"],
    ("plucked", lambda: (music(44100, 5.0, 3), 44100), "music"),
    *[(f"loop_{n}", lambda n=n: _loop(n), "music") for n in ("breakbeat", "perc2", "weirdo", "mehackit1")],
])
def test_content(name, make, want):
    x, sr = make()
    assert analyse(x, sr).content == want


def test_music_denoise_is_gentle():
    x = music(44100, 5.0, 4)
    w = np.random.default_rng(2).standard_normal(x.shape) * np.sqrt(np.mean(x ** 2) / 10 ** 0.3)
    a = analyse((x + w).astype(np.float32), 44100)  # 3 dB SNR
    assert a.content in ("music", "mixed") and a.noisy
    wiener = build_chain(a, neural=False).node("wiener")
    assert wiener.v("floor_db") == -8.0 and wiener.v("link") == 1.0


# ------------------------------------------------------------------------- files, live, errors
def test_file_and_settings(tmp_path):
    sr = 22050
    s = speech(sr, 5.0, "d")
    t = np.arange(s.size) / sr
    path = tmp_path / "hum.flac"
    sf.write(path, s + 0.02 * np.sin(2 * np.pi * 60 * t) + 0.01 * np.sin(2 * np.pi * 180 * t), sr)
    chain, a = auto_chain_for(path, settings=["dehum.depth_db=45", "wiener.floor_db=-20"])
    assert chain.name == AUTO and a.hum_hz == 60.0
    assert chain.node("dehum").v("depth_db") == 45.0
    assert apply_auto_settings(chain, ["neural.atten_limit=10"]) == ["neural.atten_limit=10"]
    lines = describe_for_cli(a, chain)
    assert "found: content: speech (5.0 s analysed)" in lines
    assert any(line.startswith("does:  dehum: cancel the 60 Hz hum") for line in lines)
    assert analyse_file(path, max_seconds=2.0).seconds == pytest.approx(2.0)


def test_long_stream_samples_start_and_middle():
    sr = 8000
    blocks = [np.full((1, 1000), i, np.float32) for i in range(100)]  # 100 blocks, 12.5 s
    seen = []
    import aural.engine.analysis as an
    orig = an.analyse
    an.analyse = lambda x, rate: seen.append(x) or orig(x, rate)
    try:
        analyse_blocks(iter(blocks), sr, total_frames=100_000, max_seconds=3.0)
    finally:
        an.analyse = orig
    x = seen[0]
    assert x.shape == (1, 24000)
    assert x[0, 0] == 0 and x[0, 15999] == 15 and x[0, 16000] == 46  # 2 s start, 1 s middle


def test_live_collector():
    sr = 22050
    s = speech(sr, 5.0, "a")
    c = Collector(sr, seconds=4.0)
    done = [c.feed(s[None, i:i + 512]) for i in range(0, s.size, 512)]
    assert done[-1] and c.frames == 4 * sr
    assert c.analysis().content == "speech"


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="samples"):
        analyse(np.zeros(0, np.float32), 48000)
    with pytest.raises(ValueError, match="float"):
        analyse(np.zeros(48000, np.int16), 48000)
    with pytest.raises(ValueError, match="sample rate"):
        analyse(np.zeros(48000, np.float32), 1000)
    with pytest.raises(AudioFileError):
        analyse_file(tmp_path / "missing.wav")
    a = analyse(np.zeros((2, 48000), np.float32), 48000)
    assert a.content == "silence" and len(build_chain(a)) == 0


# ------------------------------------------------------------------ the commands that use auto
def test_cli_enhance_auto_on_clean_speech_is_the_input_and_says_so(tmp_path, capsys):
    import soundfile as sf

    from aural.cli.main import main

    src = tmp_path / "clean.wav"
    sf.write(src, speech(48000, 3.0), 48000, subtype="PCM_24")
    out = tmp_path / "out.wav"
    assert main(["enhance", str(src), "-o", str(out), "-p", "auto"]) == 0
    text = capsys.readouterr().out
    assert "auto    found: no mains hum" in text and "identity" in text
    a, _ = sf.read(src, dtype="int32")
    b, _ = sf.read(out, dtype="int32")
    assert np.array_equal(a, b)


def test_cli_info_and_batch_report_and_use_the_auto_analysis(tmp_path, capsys):
    import json

    import soundfile as sf

    from aural.cli.main import main

    sr = 48000
    x = speech(sr, 3.0)
    t = np.arange(x.size) / sr
    hum = sum((0.02 / k) * np.sin(2 * np.pi * 50 * k * t) for k in range(1, 6))
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "hum.wav", (x + hum).astype(np.float32), sr, subtype="FLOAT")
    sf.write(tmp_path / "in" / "clean.wav", x, sr, subtype="FLOAT")
    assert main(["info", str(tmp_path / "in" / "hum.wav")]) == 0
    text = capsys.readouterr().out
    assert re.search(r"analysis\s+50 Hz hum", text) and re.search(r"auto preset\s+.*dehum", text)
    assert main(["batch", str(tmp_path / "in"), str(tmp_path / "out"), "-p", "auto", "-q"]) == 0
    recs = {r["rel"]: r for r in map(json.loads, (tmp_path / "out" / ".aural-batch.jsonl")
                                     .read_text().splitlines())}
    assert "dehum" in recs["hum.wav"]["chain"] and recs["clean.wav"]["chain"] == []
    a, _ = sf.read(tmp_path / "in" / "clean.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "out" / "clean.wav", dtype="float32")
    assert np.array_equal(a, b)


# ------------------------------------------------------------------------- scratch thumps
def _thumped(x: np.ndarray, sr: int, count: int = 3, seed: int = 4) -> np.ndarray:
    """x with ``count`` scratch thumps: a click, then a decaying 30-80 Hz pulse (40-90 ms)."""
    rng = np.random.default_rng(seed)
    y = np.atleast_2d(x).astype(np.float64).copy()
    n = y.shape[1]
    for pos in np.linspace(0.15 * n, 0.85 * n, count).astype(int):
        f, tau = rng.uniform(30, 80), rng.uniform(0.04, 0.09) / 3
        t = np.arange(int(3.5 * tau * sr)) / sr
        w = 0.4 * np.sin(2 * np.pi * f * t) * np.exp(-t / tau) * np.minimum(1.0, t / 0.002)
        y[:, pos:pos + w.size] += w
        y[:, pos:pos + 8] += 0.3
    return y.astype(np.float32)


def test_thumps_found_and_removed_by_auto():
    sr = 22050
    x = speech(sr, 5.0, "c")[None]
    xd = _thumped(x, sr)
    a = analyse(xd, sr)
    assert a.thumps == 3 and a.thumpy
    assert any("thumps" in f for f in a.findings())
    chain = build_chain(a, neural=False)
    assert "DeThump" in _names(chain)
    assert any("scratch thumps" in line for line in actions(chain))
    y = chain(xd, sr)
    assert si_sdr(x[0], y[0]) >= si_sdr(x[0], xd[0]) + 10.0


def test_no_thumps_on_clean_drums_and_speech():
    for x, sr in ((_drums()[None], 44100), (speech(22050, 5.0, "b")[None], 22050)):
        a = analyse(x, sr)
        assert a.thumps == 0 and not a.thumpy, a.findings()
