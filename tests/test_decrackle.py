"""The learned de-crackle node (issue 22): streaming contract, alignment of the subtracted
estimate, the net's level blindness, and its training command (tiny, a few steps).

The session-23 weights were not shipped (models/weights/RECIPE.md, "Session 23"), so the node is
tested with a small net of the same architecture built here (random weights, a visible output):
what is tested is the node and the net's form, not a trained model's quality."""
from __future__ import annotations

import sys
from math import gcd
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from aural.models import decrackle_data as dd
from aural.models.decrackle import (DEFAULT_DECRACKLE_MODEL, CrackleNet, DeCrackle, receptive_field,
                                    resampling_filter)
from aural.models.data import Source
from helpers import stream

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import restoration_clicks as rc  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


def _speech(sr: int, seconds: float = 1.5, name: str = "c") -> np.ndarray:
    x, s = sf.read(DATA / f"speech_{name}.flac", dtype="float64")
    x = x[int(0.3 * s):int((0.3 + seconds) * s)]
    g = gcd(sr, s)
    x = resample_poly(x, sr // g, s // g)
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)[None, :]


def _delayed(x: np.ndarray, d: int) -> np.ndarray:
    return np.concatenate([np.zeros((x.shape[0], d), np.float32), x[:, :x.shape[1] - d]], 1)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A de-crackle net of the shipped architecture (8 channels), random weights with an output
    layer large enough that its estimate is visible, exported by the training module."""
    import torch

    from aural.models import decrackle_train
    torch.manual_seed(0)
    net = decrackle_train.build_net(8)
    with torch.no_grad():
        net.out2.weight.normal_(0.0, 0.05)
    path = tmp_path_factory.mktemp("dc") / "dc.onnx"
    decrackle_train.export(net, path)
    return path


def test_model_file_is_a_decrackle_net(model) -> None:
    net = CrackleNet(model, 2, 1024)
    assert net.receptive_field == receptive_field()
    assert net.session.get_providers() == ["CPUExecutionProvider"]


@pytest.mark.parametrize("sr", [8000, 48000, 96000])
def test_without_a_model_file_the_input_passes_delayed(tmp_path, sr: int) -> None:
    x = _speech(sr, 0.3)
    d = DeCrackle(model=tmp_path / "missing.onnx")
    y = stream(d, x, sr, 256)
    assert not d.active
    assert np.array_equal(y, _delayed(x, d.latency_samples))
    assert DeCrackle().model_path == str(DEFAULT_DECRACKLE_MODEL)


def test_output_is_the_input_minus_the_estimate_after_latency(model) -> None:
    """Streamed output, shifted back by the declared latency, equals input - net estimate of the
    whole signal (centred): the estimate lands on the samples it was made for."""
    sr = 44100
    x, _ = rc.add_crackle(_speech(sr, 1.0).astype(np.float64), sr, np.random.default_rng(4))
    x = x.astype(np.float32)
    d = DeCrackle(model=model)
    y = stream(d, x, sr, 300)
    est = CrackleNet(model, 1, 1024).estimate(x)
    lat = d.latency_samples
    ref = x - est
    n = x.shape[1] - lat
    assert np.max(np.abs(est)) > 1e-3
    np.testing.assert_allclose(y[:, lat:], ref[:, :n], atol=2e-5)


@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_blockwise_equals_one_shot_and_latency(model, sr: int, channels: int) -> None:
    rng = np.random.default_rng(sr + channels)
    x = (0.2 * rng.standard_normal((channels, int(0.4 * sr)))).astype(np.float32)
    d = DeCrackle(model=model)
    whole = stream(d, x, sr, x.shape[1])
    assert d.active
    hop = 1024 if sr >= 32000 else 512
    assert d.latency_samples == hop - 1 + (receptive_field() - 1) // 2
    for blocks in (1, 37, [5, 300, 64]):
        assert np.array_equal(stream(DeCrackle(model=model), x, sr, blocks, max_block=512), whole)


@pytest.fixture(scope="module")
def identity_model(tmp_path_factory) -> Path:
    """A "net" whose estimate is its centre input (an ONNX Slice): the node then removes
    everything the net's band holds, which shows where and how the estimate lands."""
    import json

    import onnx
    from onnx import TensorProto, helper

    half = (receptive_field() - 1) // 2
    consts = [helper.make_tensor(n, TensorProto.INT64, [1], [v])
              for n, v in (("s", half), ("e", -half), ("a", 2))]
    graph = helper.make_graph([helper.make_node("Slice", ["x", "s", "e", "a"], ["crackle"])], "id",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 1, "t"])],
                              [helper.make_tensor_value_info("crackle", TensorProto.FLOAT,
                                                             ["b", 1, "t_out"])], consts)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    meta = m.metadata_props.add()
    meta.key, meta.value = "aural", json.dumps({"kind": "decrackle",
                                                 "receptive_field": receptive_field()})
    path = tmp_path_factory.mktemp("dcid") / "identity.onnx"
    onnx.save(m, path)
    return path


def _db(v: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(v, dtype=np.float64)) + 1e-30))


@pytest.mark.parametrize("sr,factor", [(88200, 2), (96000, 2), (176400, 4), (192000, 4)])
def test_above_48k_the_net_runs_decimated_and_only_its_band_is_touched(identity_model, sr: int,
                                                                        factor: int) -> None:
    """88.2-192 kHz: the net runs at sr / factor, its estimate comes back through the
    interpolator aligned to the sample (identity net: a 1 kHz tone is taken out by >= 60 dB),
    and nothing above the net's band is touched (a 30 kHz tone comes out within -60 dB)."""
    t = np.arange(int(0.5 * sr)) / sr
    lo = 0.3 * np.sin(2 * np.pi * 1000.0 * t)
    hi = 0.3 * np.sin(2 * np.pi * 30000.0 * t)
    x = np.stack([lo + hi, lo]).astype(np.float32)
    d = DeCrackle(model=identity_model)
    y = d(x, sr)
    assert d.active and d.factor == factor
    k = (resampling_filter(factor).size - 1) // 2
    assert d.latency_samples == d.hop - 1 + 2 * k + factor * ((receptive_field() - 1) // 2)
    s = slice(int(0.1 * sr), int(0.4 * sr))
    assert _db(y[1, s]) - _db(x[1, s]) < -60.0
    assert _db(y[0, s] - hi[s]) - _db(hi[s]) < -60.0
    # at 48 kHz the same net takes all of it, exactly
    y48 = DeCrackle(model=identity_model)(x[1:, :24000], 48000)
    assert np.max(np.abs(y48)) == 0.0


@pytest.mark.parametrize("sr", [8000, 11025, 12000])
def test_below_16k_the_net_runs_on_the_interpolated_hop(identity_model, sr: int) -> None:
    """8-12 kHz: the net runs at twice the rate; its estimate, decimated back with a phase that
    keeps the delay whole, lands on the sample (identity net: 1 and 3 kHz tones out by >= 60 dB)."""
    t = np.arange(int(0.5 * sr)) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * 1000.0 * t),
                  0.3 * np.sin(2 * np.pi * 3000.0 * t)]).astype(np.float32)
    d = DeCrackle(model=identity_model)
    y = d(x, sr)
    assert d.active and d.up == 2 and d.hop == 256
    s = slice(int(0.1 * sr), int(0.4 * sr))
    for ch in range(2):
        assert _db(y[ch, s]) - _db(x[ch, s]) < -60.0


@pytest.mark.parametrize("sr", [8000, 96000, 192000])
def test_resampled_paths_blockwise_equal_one_shot(model, sr: int) -> None:
    rng = np.random.default_rng(sr)
    x = (0.2 * rng.standard_normal((2, int(0.2 * sr)))).astype(np.float32)
    whole = stream(DeCrackle(model=model), x, sr, 4096)
    for blocks in (37, [5, 3000, 64]):
        assert np.array_equal(stream(DeCrackle(model=model), x, sr, blocks, max_block=4096), whole)
    d = DeCrackle(model=model, amount=0.0)
    y = stream(d, x, sr, 1000)
    assert d.active and d.samples_changed == 0
    assert np.array_equal(y, _delayed(x, d.latency_samples))


def test_amount_zero_is_the_delayed_input_bit_for_bit(model) -> None:
    x, _ = rc.add_crackle(_speech(44100).astype(np.float64), 44100, np.random.default_rng(2))
    x = x.astype(np.float32)
    d = DeCrackle(model=model, amount=0.0)
    y = stream(d, x, 44100, 512)
    assert d.active and d.samples_changed == 0
    assert np.array_equal(y, _delayed(x, d.latency_samples))


def test_the_net_is_blind_to_level(model) -> None:
    """Bias-free convolutions and leaky ReLUs: net(a x) = a net(x) for a > 0."""
    net = CrackleNet(model, 1, 1024)
    x, _ = rc.add_crackle(_speech(44100, 0.5), 44100, np.random.default_rng(3))
    e1 = net.estimate(x)
    e2 = net.estimate(8.0 * x)
    assert np.max(np.abs(e1)) > 1e-4
    np.testing.assert_allclose(e2, 8.0 * e1, rtol=1e-3, atol=1e-5)


def test_nonfinite_input_never_reaches_the_output(model) -> None:
    x = _speech(48000, 0.5)
    x[0, 3000:3100] = np.nan
    x[0, 9000] = np.inf
    y = DeCrackle(model=model)(x, 48000)
    assert np.all(np.isfinite(y))


def test_example_is_target_plus_crackle_and_clean_share() -> None:
    rng = np.random.default_rng(0)
    s = np.sin(np.arange(8000) * 0.05).astype(np.float32)
    for _ in range(20):
        x, c = dd.make_example(s, 44100, rng, clean_share=0.0)
        assert np.any(c != 0.0)
        t = x - c
        assert np.corrcoef(t, s)[0, 1] ** 2 > 0.95     # the target is the (scaled) clean signal
    x, c = dd.make_example(s, 44100, rng, clean_share=1.0)
    assert not np.any(c)


def test_dense_crackle_range_reaches_the_click_track(monkeypatch) -> None:
    calls = []
    real = dd.add_clicks

    def spy(n, sr, rng, rate, level, db, max_ms):
        calls.append((rate, tuple(db), max_ms))
        return real(n, sr, rng, rate, level, db, max_ms)

    monkeypatch.setattr(dd, "add_clicks", spy)
    rng = np.random.default_rng(1)
    s = np.sin(np.arange(8000) * 0.05).astype(np.float32)
    for _ in range(30):
        dd.make_example(s, 44100, rng, clean_share=0.0, dense_db=(-45.0, -40.0),
                        dense_rate=(2000.0, 3000.0))
    dense = [c for c in calls if c[2] == 1.0]
    assert dense and all(c[1] == (-45.0, -40.0) and 2000.0 <= c[0] <= 3000.0 for c in dense)
    # the defaults are sessions 23-24's data
    calls.clear()
    for _ in range(30):
        dd.make_example(s, 44100, rng, clean_share=0.0)
    assert all(c[1] == (-30.0, -4.0) and 100.0 <= c[0] <= 1500.0 for c in calls if c[2] == 1.0)
    # and the level is what was asked: a dense-only example's crackle peak sits under -40 dB re RMS
    calls.clear()
    monkeypatch.setattr(dd, "add_clicks", lambda n, sr, rng, rate, level, db, max_ms: (
        real(n, sr, rng, rate, level, db, max_ms) if max_ms == 1.0 else np.zeros(n, np.float32)))
    x, c = dd.make_example(s, 44100, rng, clean_share=0.0, dense_db=(-45.0, -40.0),
                           dense_rate=(100.0, 100.0))
    rms = np.sqrt(np.mean((x - c) ** 2))       # (two overlapping clicks may add: 6 dB of room)
    assert 0 < np.max(np.abs(c)) < rms * 10 ** (-34.0 / 20)
    x, c = dd.make_example(s, 44100, rng, clean_share=0.0, dense_db=(-10.0, -9.0),
                           dense_rate=(100.0, 100.0))
    assert np.max(np.abs(c)) > np.sqrt(np.mean((x - c) ** 2)) * 10 ** (-20.0 / 20)


def test_training_music_excludes_the_benchmark_clips(monkeypatch) -> None:
    names = ["loop_amen", "loop_industrial", "vinyl_rewind", "bd_haus", "bass_hit_c"]
    reg = {"sonic-pi-samples/music": Source(
        id="sonic-pi-samples/music", package="sonic-pi-samples", kind="music", split="train",
        files=[f"/fake/{n}.flac" for n in names])}
    monkeypatch.setattr(dd, "registry", lambda: reg)
    assert [Path(f).stem for f in dd.music_files()] == ["bass_hit_c", "loop_industrial"]
    assert dd.BENCH_CLIPS >= set(rc.MUSIC_TUNE) | set(rc.MUSIC_HELD) | set(rc.CLEAN_HITS) | set(rc.VINYL)


def test_training_command_runs_resumes_and_exports(tmp_path, monkeypatch) -> None:
    from aural.models import decrackle_train

    monkeypatch.setattr(dd, "speech_groups", lambda: [["a"], ["b"]])
    monkeypatch.setattr(dd, "music_files", lambda: ["m"])
    monkeypatch.setattr(dd, "draw_segment", lambda files, seconds, rng: (
        0.3 * np.sin(np.arange(int(seconds * 48000)) * rng.uniform(0.01, 0.2))).astype(np.float32))
    out = tmp_path / "dc.onnx"
    args = ["--work", str(tmp_path / "w"), "--out", str(out), "--pool", "4", "--pool-seconds", "0.2",
            "--samples", "512", "--batch", "2", "--steps", "3", "--channels", "4"]
    meta = decrackle_train.main(args)
    assert meta["steps"] == 3 and out.is_file()
    meta = decrackle_train.main(args[:-3] + ["5", "--channels", "4", "--lr", "1e-4", "--dense-db",
                                             "-45", "-4", "--dense-rate", "100", "3000",
                                             "--floor", "1e-4"])
    assert meta["steps"] == 5                                  # resumed from step 3
    assert meta["args"]["dense_db"] == [-45.0, -4.0] and meta["args"]["floor"] == 1e-4
    import torch
    ck = torch.load(tmp_path / "w" / "ckpt.pt")
    assert [g["lr"] for g in ck["opt"]["param_groups"]] == [1e-4]  # the resumed leg's --lr
    x = _speech(48000, 0.3)
    d = DeCrackle(model=out)
    y = stream(d, x, 48000, 128)
    assert d.active and np.all(np.isfinite(y))


def test_grown_net_starts_as_the_net_it_grew_from_and_keeps_its_context(tmp_path, monkeypatch) -> None:
    """--extra appends long-dilation blocks whose output starts at zero: from --init the grown
    net computes what the trained net computes (on the centre of its longer input); the run
    resumes with the same architecture and the export declares the longer receptive field."""
    import torch

    from aural.models import decrackle_train

    monkeypatch.setattr(dd, "speech_groups", lambda: [["a"], ["b"]])
    monkeypatch.setattr(dd, "music_files", lambda: ["m"])
    monkeypatch.setattr(dd, "draw_segment", lambda files, seconds, rng: (
        0.3 * np.sin(np.arange(int(seconds * 48000)) * rng.uniform(0.01, 0.2))).astype(np.float32))
    base = ["--pool", "4", "--pool-seconds", "0.3", "--samples", "512", "--batch", "2",
            "--channels", "4"]
    decrackle_train.main(base + ["--work", str(tmp_path / "a"), "--out", str(tmp_path / "a.onnx"),
                                 "--steps", "2"])
    grown = base + ["--work", str(tmp_path / "b"), "--out", str(tmp_path / "b.onnx"),
                    "--extra", "128", "256", "--init", str(tmp_path / "a" / "ckpt.pt")]
    meta = decrackle_train.main(grown + ["--steps", "0", "--minutes", "0"])
    assert meta["steps"] == 0 and meta["receptive_field"] == receptive_field() + 2 * (128 + 256)
    small = decrackle_train.build_net(4)
    small.load_state_dict(torch.load(tmp_path / "a" / "ckpt.pt")["net"])
    big = decrackle_train.build_net(4, extra=(128, 256))
    big.load_state_dict(torch.load(tmp_path / "b" / "ckpt.pt")["net"])
    x = torch.randn(1, 1, 600 + big.receptive_field - 1)
    off = (big.receptive_field - small.receptive_field) // 2
    with torch.no_grad():
        assert torch.allclose(big(x), small(x[:, :, off:off + 600 + small.receptive_field - 1]),
                              atol=1e-7)
        assert small(x).abs().max() > 1e-6                    # a net that outputs something
    meta = decrackle_train.main(grown[:-5] + ["--steps", "2"])  # resumed: no --extra given
    assert meta["steps"] == 2 and meta["receptive_field"] == big.receptive_field
    assert torch.load(tmp_path / "b" / "ckpt.pt")["extra"] == [128, 256]
    d = DeCrackle(model=tmp_path / "b.onnx")
    d.prepare(48000, 1, 256)
    assert d.latency_samples == d.hop - 1 + (big.receptive_field - 1) // 2
    with pytest.raises(SystemExit, match="does not fit"):
        decrackle_train.main(base[:-1] + ["8", "--work", str(tmp_path / "c"), "--out",
                                          str(tmp_path / "c.onnx"), "--init",
                                          str(tmp_path / "a" / "ckpt.pt")])


@pytest.mark.parametrize("sr", [22050, 48000])
def test_shipped_net_runs_on_long_hops_removes_crackle_and_leaves_clean_speech(sr: int) -> None:
    """The shipped weights (receptive field 4,355) run on 4x hops; the streamed output is the
    input minus the net's whole-signal estimate after the declared latency; on speech with
    crackle it gains SI-SDR, clean speech comes out within -30 dB of itself."""
    d = DeCrackle()
    clean = _speech(sr, 1.5).astype(np.float64)
    y = stream(d, clean.astype(np.float32), sr, 300)
    r = CrackleNet(DEFAULT_DECRACKLE_MODEL, 1, 1024).receptive_field
    assert d.active and r > 2048
    assert d.hop == (4096 if sr >= 32000 else 2048)
    lat = d.latency_samples
    assert lat == d.hop - 1 + (r - 1) // 2
    n = clean.shape[1] - lat
    assert rc.si_sdr(clean[0, :n], y[0, lat:]) >= 30.0
    for add, least in ((rc.add_crackle, 0.2), (lambda c, s, g: rc.add_clicks(c, s, g, 20.0), 0.5)):
        x = add(clean, sr, np.random.default_rng(7))[0].astype(np.float32)
        y = stream(DeCrackle(), x, sr, 300)
        est = CrackleNet(DEFAULT_DECRACKLE_MODEL, 1, 1024).estimate(x)
        np.testing.assert_allclose(y[:, lat:], (x - est)[:, :n], atol=2e-5)
        gain = rc.si_sdr(clean[0, :n], y[0, lat:]) - rc.si_sdr(clean[0, :n], x[0, :n])
        assert gain > least
