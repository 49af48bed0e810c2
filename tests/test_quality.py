"""engine/quality.py: PESQ-wb, STOI and score() on cases whose answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
from aural.engine.metrics import si_sdr
from aural.engine.quality import HIGHER_IS_BETTER, METRICS, pesq_wb, score, stoi
from conftest import speech


def _noisy(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(len(x))
    n *= math.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(n ** 2) / 10 ** (snr_db / 10))
    return (x + n).astype(np.float32)


@pytest.fixture(scope="module")
def s16():
    return speech(16000, 3.0, "a")


def test_identical_signals_score_the_ceiling(s16):
    assert pesq_wb(s16, s16, 16000) == pytest.approx(4.64, abs=0.01)  # P.862.2 maximum
    assert stoi(s16, s16, 16000) == pytest.approx(1.0, abs=1e-6)
    r = score(s16, s16, 16000)
    assert set(r) == set(METRICS) == set(HIGHER_IS_BETTER)
    assert r["si_sdr"] > 100 and r["snr"] > 100 and r["nrmse"] < 1e-6 and r["lsd"] < 1e-3


@pytest.mark.parametrize("sr", [16000, 48000])
def test_more_noise_scores_lower_monotonically(sr):
    x = speech(sr, 2.5, "b")
    rows = [score(x, _noisy(x, snr), sr) for snr in (30, 15, 5, -5)]
    for key in METRICS:
        v = [r[key] for r in rows]
        assert all(np.isfinite(v)), (key, v)
        d = np.diff(v) if HIGHER_IS_BETTER[key] else -np.diff(v)
        assert np.all(d < 0), (key, v)
    # the waveform measures track the true SNR
    assert [round(r["snr"]) for r in rows] == [30, 15, 5, -5]
    assert rows[0]["pesq"] > 2.5 and rows[-1]["pesq"] < 1.3
    assert rows[0]["stoi"] > 0.95 and rows[-1]["stoi"] < 0.75


def test_pesq_wb_resamples_other_rates(s16):
    from scipy.signal import resample_poly
    y16 = _noisy(s16, 10)
    x48, y48 = resample_poly(s16, 3, 1), resample_poly(y16, 3, 1)
    # the same pair at 48 kHz scores as at 16 kHz (it is brought back to 16 kHz)
    assert pesq_wb(x48, y48, 48000) == pytest.approx(pesq_wb(s16, y16, 16000), abs=0.05)
    assert stoi(x48, y48, 48000) == pytest.approx(stoi(s16, y16, 16000), abs=0.02)


def test_si_sdr_is_scale_invariant_and_snr_is_not(s16):
    y = _noisy(s16, 10)
    base = score(s16, y, 16000, perceptual=False)
    for g in (0.1, 3.0):
        r = score(s16, g * y, 16000, perceptual=False)
        assert r["si_sdr"] == pytest.approx(base["si_sdr"], abs=1e-6)
        assert abs(r["snr"] - base["snr"]) > 1.0
    assert si_sdr(s16, -y) == pytest.approx(base["si_sdr"], abs=1e-6)  # any sign too


def test_multichannel_is_the_mean_of_channels(s16):
    a, b = _noisy(s16, 20, 1), _noisy(s16, 0, 2)
    ref = np.stack([s16, s16])
    r = score(ref, np.stack([a, b]), 16000)
    ra, rb = score(s16, a, 16000), score(s16, b, 16000)
    for k in ("pesq", "stoi", "si_sdr"):
        assert r[k] == pytest.approx((ra[k] + rb[k]) / 2, abs=1e-6)


def test_undefined_cases_are_nan_not_errors(s16):
    z = np.zeros(16000, np.float32)
    assert math.isnan(pesq_wb(z, z, 16000))           # no speech to align
    assert math.isnan(stoi(s16[:800], s16[:800], 16000))  # shorter than STOI's 30 frames
    assert math.isnan(pesq_wb(s16, np.full_like(s16, np.nan), 16000))
    assert not math.isnan(score(s16, s16, 16000, perceptual=False)["si_sdr"])
    assert math.isnan(score(s16, s16, 16000, perceptual=False)["pesq"])
    with pytest.raises(ValueError):
        score(s16, s16[:-1], 16000)
