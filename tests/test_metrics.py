"""engine.metrics: reference metrics on known cases, the blind SNR estimate, the streaming meter,
the hum detector."""
from __future__ import annotations

import math

import numpy as np
import pytest
from aural.engine.loudness import integrated_loudness
from aural.engine.metrics import (
    LevelMeter,
    detect_hum,
    estimate_snr_db,
    log_spectral_distance,
    nrmse,
    peak_dbfs,
    psnr,
    rms_dbfs,
    si_sdr,
    snr_db,
)
from conftest import speech

RNG = np.random.default_rng(7)


def test_reference_metrics_known_values():
    ref = np.sin(np.linspace(0, 200, 8000))
    noise = RNG.standard_normal(8000)
    noise *= np.sqrt(np.mean(ref ** 2) / np.mean(noise ** 2)) / 10.0  # exactly 20 dB below
    est = ref + noise
    assert snr_db(ref, est) == pytest.approx(20.0, abs=1e-9)
    assert si_sdr(ref, est) == pytest.approx(20.0, abs=0.3)
    assert si_sdr(ref, 3.0 * est) == pytest.approx(si_sdr(ref, est), abs=1e-9)  # scale-invariant
    assert snr_db(ref, 3.0 * est) < 0  # SNR is not
    mse = np.mean(noise ** 2)
    # PSNR (Serra et al. eq. 1): MAX is the largest possible value (full scale 1.0), not the peak
    assert psnr(ref, est) == pytest.approx(10 * np.log10(1.0 / mse))
    assert psnr(ref, est, max_value=2.0) == pytest.approx(10 * np.log10(4.0 / mse))
    # NRMSE (eq. 3): sqrt(MSE) over the reference's range
    assert nrmse(ref, est) == pytest.approx(np.sqrt(mse) / (ref.max() - ref.min()))
    assert nrmse(ref, ref) == 0.0 and snr_db(ref, ref) > 150
    assert log_spectral_distance(ref, ref) == 0.0
    white = RNG.standard_normal(8000)
    assert log_spectral_distance(white, 0.5 * white) == pytest.approx(20 * np.log10(2), abs=0.01)
    assert log_spectral_distance(white, white + 0.3 * noise) > 0.1
    # channels: per-channel SI-SDR is averaged
    two = np.stack([ref, ref])
    assert si_sdr(two, np.stack([est, ref])) > si_sdr(ref, est)
    with pytest.raises(ValueError):
        snr_db(ref, ref[:-1])


def test_levels():
    x = np.full((2, 1000), 0.5, np.float32)
    assert peak_dbfs(x) == pytest.approx(-6.0206, abs=1e-3)
    assert rms_dbfs(x) == pytest.approx(-6.0206, abs=1e-3)
    assert peak_dbfs(np.zeros(10)) == -math.inf and rms_dbfs(np.zeros(10)) == -math.inf


@pytest.mark.parametrize("sr", [16000, 48000])
def test_blind_snr_tracks_the_true_snr(sr):
    s = speech(sr, 6.0, "a")
    est = []
    for snr in (0, 10, 20, 30):
        n = RNG.standard_normal(s.size)
        n *= np.sqrt(np.mean(s ** 2) / np.mean(n ** 2) / 10 ** (snr / 10))
        est.append(estimate_snr_db(s + n, sr))
    assert all(b > a + 3 for a, b in zip(est, est[1:])), est  # monotonic, clearly
    assert abs(est[1] - 10) < 6 and abs(est[2] - 20) < 6, est  # and roughly right
    assert math.isnan(estimate_snr_db(np.zeros(sr), sr))  # digital silence: no estimate


@pytest.mark.parametrize("sr", [16000, 44100, 48000])
@pytest.mark.parametrize("block", [1000, 4096, 333])
def test_level_meter_is_block_invariant_and_matches_loudness(sr, block):
    x = RNG.standard_normal((2, sr * 2)) * np.linspace(0.001, 0.3, sr * 2)
    x[:, : sr // 3] = 0.0
    m = LevelMeter(sr, 2, loudness=True)
    for i in range(0, x.shape[1], block):
        m.add(x[:, i:i + block])
    assert m.frames == x.shape[1]
    assert m.lufs == pytest.approx(integrated_loudness(x, sr), abs=1e-6)
    assert m.peak_dbfs == pytest.approx(peak_dbfs(x)) and m.rms_dbfs == pytest.approx(rms_dbfs(x))
    assert m.snr_db == pytest.approx(estimate_snr_db(x, sr), abs=1e-9)
    assert LevelMeter(sr, 2).lufs is None


@pytest.mark.parametrize("mains", [50.0, 60.0])
@pytest.mark.parametrize("sr", [16000, 48000])
def test_detect_hum(mains, sr):
    s = speech(sr, 5.0, "b")
    t = np.arange(s.size) / sr
    hum = 0.004 * np.sin(2 * np.pi * mains * t) + 0.003 * np.sin(2 * np.pi * 3 * mains * t + 1)
    noise = 0.003 * RNG.standard_normal(s.size)
    found = detect_hum(s + hum + noise, sr)
    assert found is not None and found["f0"] == mains and 1 in found["harmonics"]
    assert detect_hum(s + noise, sr) is None
    for _ in range(5):
        assert detect_hum(RNG.standard_normal(sr * 3) * 0.1, sr) is None
