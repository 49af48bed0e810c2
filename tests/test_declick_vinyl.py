"""Clicks, crackle and thumps on real material (issue 22): DeClick gains on vinyl-shaped clicks,
no false alarms on clean plucked strings and speech, DeThump block invariance and bit-exactness
on clean input.  Material from benchmarks/restoration_clicks.py (fixed seeds)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from aural.engine.processors import DeClick, DeThump
from helpers import stream

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import restoration_clicks as rc  # noqa: E402


def test_declick_gain_on_vinyl_clicks_speech():
    x = rc.speech("c", 22050, 2.0)
    xd, _ = rc.add_clicks(x, 22050, np.random.default_rng(11), 15.0)
    y = rc.run(DeClick(), xd, 22050)
    assert rc.si_sdr(x, y) - rc.si_sdr(x, xd) >= 2.0


@pytest.mark.parametrize("sr,stereo", [(44100, True), (16000, False)])
def test_declick_no_false_alarm_on_plucks(sr, stereo):
    """Karplus-Strong plucks: onsets are not clicks (SI-SDR vs input >= 30 dB, few detections)."""
    x = rc.karplus_strong(sr, 2.0, seed=3, stereo=stereo)
    p = DeClick()
    y = rc.run(p, x, sr)
    assert rc.si_sdr(x, y) >= 30.0
    assert p.clicks_repaired <= 4


@pytest.mark.parametrize("clip", ["c", "d", "e"])
def test_declick_clean_speech_30db(clip):
    x = rc.speech(clip, 22050, 3.0)
    y = rc.run(DeClick(), x, 22050)
    assert rc.si_sdr(x, y) >= 30.0


@pytest.mark.parametrize("block", [1, 37, 512])
def test_dethump_block_invariance(block):
    sr = 16000
    x = rc.speech("d", sr, 1.5)
    xd, _ = rc.add_thumps(np.vstack([x[0], 0.8 * x[0]]), sr, np.random.default_rng(2), count=2)
    xd = xd.astype(np.float32)
    one = DeThump()(xd, sr)
    p = DeThump()
    y = stream(p, xd, sr, block)
    lat = p.latency_samples
    np.testing.assert_allclose(y[:, lat:], one[:, :xd.shape[1] - lat], atol=1e-5)


def test_dethump_clean_bit_exact_and_thump_reduced():
    sr = 22050
    x = rc.speech("e", sr, 3.0).astype(np.float32)
    p = DeThump()
    y = p(x, sr)
    assert p.thump_frames == 0 and np.array_equal(y, x)
    xd, _ = rc.add_thumps(x.astype(np.float64), sr, np.random.default_rng(3))
    y = rc.run(DeThump(), xd, sr)
    assert rc.si_sdr(x, y) - rc.si_sdr(x, xd) >= 1.5
