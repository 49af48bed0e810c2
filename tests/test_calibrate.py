"""Output-level calibration (models/calibrate.py): a model that passes clean speech quieter than
it came in is scaled back before NeuralEnhancer's limits mix it with the dry input.

Needs torch and onnx (the ``train`` extra) to build the model under test."""
from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from aural.engine.metrics import si_sdr
from aural.models import calibrate
from aural.models.enhancer import NeuralEnhancer
from aural.models.export import export_onnx
from aural.models.fullband import FullBandUNet
from aural.models.runtime import ModelInfo, read_info

SR = 48000
SMALL = dict(channels=(8, 8, 8), channels2=(8, 8), dilations=(1, 2), gru=8, gru2=8)
GAIN = 0.4   # the test model passes everything at 0.4 x (-8 dB), as fullband-voice did (0.38 x)


def _speech_like(seconds: float, seed: int) -> np.ndarray:
    """A voiced, syllable-modulated 48 kHz signal with pauses (tests/data is 22 kHz)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / SR
    v = sum(np.sin(k * ph + rng.uniform(0, 6.28)) / k for k in range(1, 30))
    env = np.clip(np.sin(2 * np.pi * 2.5 * t + rng.uniform(0, 6.28)), 0, None) ** 2
    return (0.2 * v * env + 3e-4 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def quiet_model(tmp_path_factory):
    """A full-band model whose stage 1 applies GAIN in every band (stage 2: identity)."""
    torch.set_num_threads(1)
    m = FullBandUNet(**SMALL)
    with torch.no_grad():
        m.unet1.up[-1].weight.zero_()
        m.unet1.up[-1].bias.fill_(float(np.log(GAIN / (1 - GAIN))))
    return export_onnx(m.eval(), tmp_path_factory.mktemp("cal") / "quiet.onnx")


def test_measured_gain_is_the_inverse_of_the_models_level_drop(quiet_model):
    g = calibrate.measure_output_gain(quiet_model, [_speech_like(2.0, s) for s in (0, 1)])
    assert g == pytest.approx(1 / GAIN, rel=1e-3)


def test_calibrated_copy_passes_clean_speech_at_its_level_through_the_limits(quiet_model, tmp_path):
    """Uncalibrated, the 15 dB limit and the adaptive limit mix a -8 dB model output with the
    dry input: the level moves as the adaptive share glides (SI-SDR ~20 dB against the input
    here).  Calibrated, every mix is of two equal signals: the input comes back."""
    out = calibrate.set_output_gain(quiet_model, 1 / GAIN, tmp_path / "cal.onnx")
    assert read_info(out).output_gain == pytest.approx(1 / GAIN)
    assert read_info(quiet_model).output_gain == 1.0          # the original is left alone
    x = _speech_like(6.0, 3)[None]
    raw = NeuralEnhancer(model=quiet_model)(x, SR)
    cal = NeuralEnhancer(model=out)(x, SR)
    alone = NeuralEnhancer(model=out, atten_limit=100.0, adaptive_limit=False)(x, SR)
    assert si_sdr(x[0], raw[0]) < 30.0
    assert si_sdr(x[0], cal[0]) > 60.0
    assert 20 * np.log10(np.std(alone) / np.std(x)) == pytest.approx(0.0, abs=0.05)
    # the calibration restores the level, it never lifts it: a model that passes everything at
    # 0.4 x, calibrated, passes white noise at the noise's own level (the limit then mixes two
    # equal signals), not louder
    n = (0.01 * np.random.default_rng(0).standard_normal((1, SR))).astype(np.float32)
    y = NeuralEnhancer(model=out, adaptive_limit=False)(n, SR)
    assert np.std(y[:, SR // 4:]) <= np.std(n) * 1.02


def test_out_of_range_gains_are_refused(quiet_model, tmp_path):
    with pytest.raises(ValueError, match="outside"):
        calibrate.set_output_gain(quiet_model, 50.0, tmp_path / "bad.onnx")
    assert not os.path.exists(tmp_path / "bad.onnx")
    meta = dict(read_info(quiet_model).meta, output_gain="0.01")
    with pytest.raises(ValueError, match="output_gain"):
        ModelInfo(meta)
    with pytest.raises(ValueError, match="silent"):
        calibrate.measure_output_gain(quiet_model, [np.zeros(SR, np.float32)])
    with pytest.raises(ValueError, match="too short"):
        calibrate.measure_output_gain(quiet_model, [np.ones(100, np.float32)])


def test_cli_calibrate_writes_the_copy(quiet_model, tmp_path, monkeypatch, capsys):
    from aural.cli.main import main

    monkeypatch.setattr(calibrate, "calibration_speech",
                        lambda sr, clips, seconds: [_speech_like(seconds, i) for i in range(clips)])
    out = tmp_path / "cli.onnx"
    assert main(["calibrate", str(quiet_model), "-o", str(out), "--clips", "2", "--seconds", "1.5"]) == 0
    assert read_info(out).output_gain == pytest.approx(1 / GAIN, rel=1e-3)
    assert "output_gain 2.5000 (+7.96 dB" in capsys.readouterr().out


def test_cli_calibrate_on_the_users_own_speech_files(quiet_model, tmp_path, capsys):
    import soundfile as sf

    from aural.cli.main import main

    files = []
    for i, rate in enumerate((48000, 44100)):  # any rate: resampled to the model's
        f = tmp_path / f"voice{i}.wav"
        x = _speech_like(2.0, 10 + i)
        if rate != SR:
            from scipy.signal import resample_poly
            x = resample_poly(x, 147, 160).astype(np.float32)
        sf.write(f, x, rate)
        files.append(str(f))
    out = tmp_path / "own.onnx"
    assert main(["calibrate", str(quiet_model), "--speech", *files, "-o", str(out)]) == 0
    assert read_info(out).output_gain == pytest.approx(1 / GAIN, rel=2e-3)
    assert "over 2 clips, 4.0 s" in capsys.readouterr().out
    assert main(["calibrate", str(quiet_model), "--speech", str(tmp_path / "none.wav"),
                 "-o", str(tmp_path / "x.onnx")]) != 0
    assert not (tmp_path / "x.onnx").exists()
