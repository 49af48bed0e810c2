"""DeThump (issue 22): a scratch's low-frequency pulse is fitted (damped sinusoid) and subtracted,
so the music's own bass under it survives; gliding kick drums and clean speech are left alone.
Material from benchmarks/restoration_clicks.py (fixed seeds)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from aural.engine.processors import DeThump

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import restoration_clicks as rc  # noqa: E402


def _lowband_reduction(x, xd, y, sr, spans):
    spans_w = [(a, b + int(0.02 * sr)) for a, b in spans]
    return rc.lowband_db(xd - x, sr, spans_w) - rc.lowband_db(y - x, sr, spans_w)


@pytest.mark.parametrize("clip,sr", [("c", 22050), ("d", 48000)])
def test_thumps_under_speech_are_subtracted(clip, sr):
    """Three click+thump events (25-90 Hz, 20-100 ms) under speech: the low-band error inside
    them drops by >= 15 dB and SI-SDR rises by >= 10 dB (the former low-band gain managed
    ~3 dB / ~2.5 dB)."""
    x = rc.speech(clip, sr, 4.0)
    xd, spans = rc.add_thumps(x, sr, np.random.default_rng(5))
    p = DeThump()
    y = rc.run(p, xd, sr)
    assert p.thumps_removed == 3
    assert _lowband_reduction(x, xd, y, sr, spans) >= 15.0
    assert rc.si_sdr(x, y) - rc.si_sdr(x, xd) >= 10.0


def test_thumps_under_music_keep_the_bass():
    """A stereo loop with thumps: the pulse is subtracted in both channels (amplitude per
    channel) and the music's bass in the span is kept (the error there is far below the
    thump, not just scaled down to the music's level)."""
    sr = 44100
    x = rc.music("loop_electric", sr, 4.0)
    xd, spans = rc.add_thumps(x, sr, np.random.default_rng(8))
    y = rc.run(DeThump(), xd, sr)
    assert _lowband_reduction(x, xd, y, sr, spans) >= 15.0
    assert rc.si_sdr(x, y) >= rc.si_sdr(x, xd) + 10.0


def test_gliding_kick_is_not_a_thump():
    """A kick drum (sine gliding 140 -> 50 Hz, 60 ms decay) after quiet speech is the music's
    own: left alone, output equals input bit for bit."""
    sr = 22050
    x = rc.speech("e", sr, 3.0).copy()
    t = np.arange(int(0.3 * sr)) / sr
    f = 50.0 + 90.0 * np.exp(-t / 0.03)
    kick = 0.5 * np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.06)
    for pos in (int(1.2 * sr), int(2.3 * sr)):
        x[0, pos:pos + kick.size] += kick[: x.shape[1] - pos]
    xf = x.astype(np.float32)
    p = DeThump()
    y = p(xf, sr)
    assert p.thumps_removed == 0
    assert np.array_equal(y, xf)


@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("phase", [0.0, 0.5 * np.pi])
def test_sine_kick_after_silence_is_not_a_thump(sr, phase):
    """An 808-style kick (a pure 55 Hz sine, steady pitch, 70 ms decay, 1 ms attack) struck
    alone after silence rings exactly like a tonearm resonance; what it lacks is the scratch's
    click.  Left alone by default (bit for bit); with ``need_click`` off it is taken for a
    thump, which is what this test guards against."""
    # silence as recorded: a -90 dBFS noise floor (digital zeros are not counted as the music's
    # level at all: test_music_starting_after_digital_silence_is_not_a_thump)
    x = 3e-5 * np.random.default_rng(1).standard_normal((1, int(2.0 * sr)))
    t = np.arange(int(0.4 * sr)) / sr
    kick = 0.6 * np.sin(2 * np.pi * 55.0 * t + phase) * np.exp(-t / 0.07) * np.minimum(1.0, t / 0.001)
    for pos in (int(0.6 * sr), int(1.3 * sr)):
        x[0, pos:pos + kick.size] += kick
    xf = x.astype(np.float32)
    p = DeThump()
    y = p(xf, sr)
    assert p.thumps_removed == 0 and p.thumps_rejected >= 1
    assert np.array_equal(y, xf)
    q = DeThump(need_click=False)
    q(xf, sr)
    assert q.thumps_removed >= 1


def test_kick_body_swelling_again_is_not_a_new_thump():
    """The drum-hit sequence of the clean material (eight sonic-pi hits every 230 ms): the house
    kick's 59 Hz body dips and swells again 50 ms after its attack, a 1.25x rise from one hop
    to the next with a steady pitch, which the former detector fitted as a thump (SI-SDR 12.9
    dB).  A candidate must also stand 6 dB over the least level of the last 30 ms: left alone,
    output equals input bit for bit."""
    sr = 44100
    hits = [rc.sonic(h, sr) for h in rc.CLEAN_HITS]
    seq = np.zeros((2, 4 * sr))
    for i in range(17):
        h = hits[i % len(hits)]
        h = np.vstack([h, h]) if h.shape[0] == 1 else h
        pos = int(i * 0.23 * sr)
        m = min(h.shape[1], seq.shape[1] - pos)
        seq[:, pos:pos + m] += h[:, :m]
    x = (0.5 * seq / np.max(np.abs(seq))).astype(np.float32)
    p = DeThump()
    y = p(x, sr)
    assert p.thumps_rejected >= 1          # the kicks were looked at ...
    assert p.thumps_removed == 0           # ... and none was taken for a thump
    assert np.array_equal(y, x)


def test_latency_and_clean_passthrough_at_many_rates():
    """Declared latency ~55-65 ms at every rate; clean speech passes bit for bit."""
    for sr in (8000, 16000, 44100, 96000):
        p = DeThump()
        p.prepare(sr, 2, 512)
        assert 0.050 * sr <= p.latency_samples <= 0.065 * sr
        x = np.vstack([rc.speech("c", sr, 1.0)[0]] * 2).astype(np.float32)
        assert np.array_equal(DeThump()(x, sr), x)


@pytest.mark.parametrize("name,draw", [("loop_perc1", 0), ("ambi_piano", 1)])
def test_music_starting_after_digital_silence_is_not_a_thump(name, draw):
    """Digital silence (a stream's start, the zeros of a delay line upstream: the `vinyl` chain's
    look-ahead is 267 ms) is not the music's level: counted, it made the first note of a clean
    loop and of a piano (bench_restoration's do-no-harm clips) a thump, 23 and 20 dB SI-SDR."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import benchmarks.bench_restoration as br
    sr = br.RATE
    clip = next(x for _c, n, d, x in br.clean_set(sr, 3.0, draw + 1) if n == name and d == draw)
    x = np.concatenate([np.zeros((clip.shape[0], int(0.3 * sr)), np.float32), clip], axis=1)
    p = DeThump()
    y = p(x, sr)
    assert p.thumps_removed == 0
    assert np.array_equal(y, x)
