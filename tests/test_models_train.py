"""Training: a tiny run lowers the loss, writes checkpoints, and resumes exactly; CLI export.

Needs torch (the ``train`` extra)."""
from __future__ import annotations

import math

import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from aural.models import degrade as D
from aural.models.train import (TrainConfig, compressed_loss, enhancement_loss, mrstft_loss, si_sdr,
                                train)

SR = 16000
DATA = Path(__file__).resolve().parent / "data"


class TinyData:
    """Speech from tests/data + white/pink noise at 0..10 dB; deterministic by example index."""

    def __init__(self, seconds=0.5):
        import soundfile as sf
        from scipy.signal import resample_poly

        self.clips = []
        for c in "abc":
            x, sr = sf.read(DATA / f"speech_{c}.flac", dtype="float32")
            self.clips.append(resample_poly(x, 160, 221).astype(np.float32))
        self.n = int(seconds * SR)

    def example(self, split, i):
        rng = np.random.default_rng([7, split == "dev", i])
        c = self.clips[int(rng.integers(0, 2 if split == "train" else 3))]
        s = int(rng.integers(0, len(c) - self.n))
        clean = c[s:s + self.n] / (np.abs(c).max() + 1e-9) * 0.5
        noise = D.colored_noise(self.n, float(rng.integers(0, 2)), rng, SR)
        noisy, _ = D.add_noise(clean, noise, float(rng.uniform(0, 10)), rng)
        return noisy, clean.astype(np.float32)

    def batch(self, split, start, size):
        ex = [self.example(split, start + k) for k in range(size)]
        return np.stack([e[0] for e in ex]), np.stack([e[1] for e in ex])

    def dev_set(self):
        return self.batch("dev", 0, 6)


@pytest.fixture(scope="module")
def data():
    return TinyData()


def test_losses_are_sane():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 4000, generator=g)
    assert float(mrstft_loss(s, s)) < 1e-4
    assert float(si_sdr(3.0 * s, s).min()) > 60  # scale invariant
    n = torch.randn(2, 4000, generator=g)
    assert abs(float(si_sdr(s + 0.1 * n, s).mean()) - 20.0) < 1.0


def test_compressed_loss_weighs_magnitude_and_phase_and_ignores_level():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(2, 4000, generator=g)
    n = torch.randn(2, 4000, generator=g)
    assert float(compressed_loss(s, s)) < 1e-6
    # silence in place of the reference: both terms are the reference's whole energy, 1
    assert float(compressed_loss(torch.zeros_like(s), s)) == pytest.approx(1.0, abs=0.02)
    # the polarity flipped: magnitudes equal, the complex term is |2 S_c|^2 = 4, weighted 0.3
    assert float(compressed_loss(-s, s)) == pytest.approx(1.2, abs=1e-3)
    # more residual noise, more loss; the same at any level (both compressed by the same power)
    losses = [float(compressed_loss(s + a * n, s)) for a in (0.01, 0.1, 0.3)]
    assert losses[0] < losses[1] < losses[2]
    assert float(compressed_loss(8 * (s + 0.1 * n), 8 * s)) == pytest.approx(losses[1], rel=1e-3)
    # the spectral term and SI-SDR add up as the three kinds say
    e = s + 0.1 * n
    sis = float(si_sdr(e, s).mean()) / 10.0
    assert float(enhancement_loss(e, s, 0.5, "compressed")) == pytest.approx(losses[1] - 0.5 * sis,
                                                                               abs=1e-5)
    assert float(enhancement_loss(e, s, 0.0, "both")) == pytest.approx(
        float(mrstft_loss(e, s)) + losses[1], abs=1e-5)
    with pytest.raises(ValueError, match="unknown loss 'l2'"):
        enhancement_loss(e, s, 0.5, "l2")


def test_tiny_training_with_compressed_loss_lowers_it(tmp_path, data):
    cfg = TrainConfig(kind="dsunet", model={"channels": [8, 8, 16], "dilations": [1, 2]},
                      out=str(tmp_path / "c"), batch=4, seconds=0.5, epochs=1, steps_per_epoch=20,
                      lr=3e-3, lr_min=3e-3, log_every=0, ema=0.5, loss="compressed")
    hist = train(cfg, data=data, log=lambda m: None)
    assert hist[-1]["dev_loss"] < hist[0]["dev_loss"] - 0.05
    saved = torch.load(tmp_path / "c" / "last.pt", weights_only=False)
    assert saved["train_config"]["loss"] == "compressed"


TINY = {"wavenet": {"channels": 8, "skip_channels": 8, "layers": 6},
        "dsunet": {"channels": [8, 8, 16], "dilations": [1, 2]},
        "fullband": {"sample_rate": 16000, "n_fft": 320, "hop": 160, "erb_bands": 16, "df_bins": 32,
                     "channels": [8, 8], "channels2": [8, 8], "dilations": [1], "gru": 8, "gru2": 8}}


@pytest.mark.parametrize("kind", ["wavenet", "dsunet", "fullband"])
def test_tiny_training_lowers_loss_and_resumes_exactly(tmp_path, data, kind):
    cfg = TrainConfig(kind=kind, model=TINY[kind], out=str(tmp_path / "a"), batch=4, seconds=0.5,
                      epochs=2, steps_per_epoch=15, lr=3e-3, lr_min=3e-3, log_every=0, ema=0.5)
    hist = train(cfg, data=data, log=lambda m: None)
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    assert hist[-1]["dev_loss"] < 0.97 * hist[0]["dev_loss"]  # it learned something
    for f in ("last.pt", "best.pt", "history.json"):
        assert os.path.isfile(tmp_path / "a" / f)
    assert len(json.load(open(tmp_path / "a" / "history.json"))) == 3
    # the same run in two halves (stop after epoch 1, resume) ends with the same weights
    cfg_b = TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "b"), "epochs": 1})
    train(cfg_b, data=data, log=lambda m: None)
    cfg_b.epochs = 2
    hist_b = train(cfg_b, resume=True, data=data, log=lambda m: None)
    assert [h["epoch"] for h in hist_b] == [0, 1, 2]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert a["step"] == b["step"] == 30
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k
    assert hist_b[-1]["dev_loss"] == pytest.approx(hist[-1]["dev_loss"], abs=1e-5)


def test_resume_without_checkpoint_is_an_error(tmp_path, data):
    cfg = TrainConfig(kind="wavenet", model=TINY["wavenet"], out=str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(cfg, resume=True, data=data, log=lambda m: None)


def test_cli_export_round_trip(tmp_path, data, capsys):
    from aural.models.runtime import OnnxStreamer

    from aural.cli.main import main

    cfg = TrainConfig(kind="dsunet", model=TINY["dsunet"], out=str(tmp_path / "r"), batch=2,
                      seconds=0.5, epochs=1, steps_per_epoch=2, log_every=0)
    train(cfg, data=data, log=lambda m: None)
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "r" / "best.pt"), "-o", str(out)]) == 0
    assert "model latency 128 samples" in capsys.readouterr().out
    s = OnnxStreamer(out)
    x, _ = data.batch("dev", 0, 1)
    from aural.models.export import load_checkpoint_model

    m = load_checkpoint_model(tmp_path / "r" / "best.pt")
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    assert np.abs(s.process(x) - ref).max() < 1e-4
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(out)]) == 1


def test_recipe_on_installed_packages_excludes_reserved():
    """The real recipe (packages from scripts/setup.d/50-data.sh): no reserved file, by path or
    by content, on either side; train and dev disjoint by content."""
    from aural.models import data as R

    r = R.Recipe(max_files=100000)
    summary = r.summary()
    assert summary["speech"]["train"] > 1000 and summary["speech"]["dev"] > 50
    assert summary["music"]["train"] > 50 and summary["noise"]["train"] >= 8
    files = {s: [f for k in ("speech", "music", "noise") for f in r.files(k, s)] for s in R.SPLITS}
    reserved = R.reserved_files()
    assert len(reserved) >= 30
    hashes = {s: {R.content_hash(f) for f in fs} for s, fs in files.items()}
    for s, fs in files.items():
        assert not set(fs) & reserved
        assert not hashes[s] & R.reserved_hashes()
    assert not hashes["train"] & hashes["dev"]
    # every reserved file present here was hashed (the set-up installs fillets-ng-data-cs and
    # sonic-pi-samples, which hold 19 of them; other reserved packages may or may not be here)
    present = [f for f in reserved if os.path.isfile(f)]
    assert len(present) >= 19
    assert R.reserved_hashes() == {R.content_hash(f) for f in present}


@pytest.mark.parametrize("n", [1, 2, 4])
def test_stationary_category_examples_share_white_pink_brown(n):
    """The per-category tables' "noise-stationary" row: n examples split over white, pink and
    brown noise, also when n < 3 (a share of 0 is skipped, not an empty stack)."""
    from aural.models.data import Recipe

    x, t = Recipe(seconds=0.25).category_examples("noise", n, noise_kind="stationary")
    assert x.shape == t.shape == (n, 4000)
    assert np.all(np.abs(x - t).max(axis=1) > 1e-3)  # every example carries noise


def test_cli_train_on_the_recipe(tmp_path, capsys):
    from aural.cli.main import main

    out = tmp_path / "run"
    rc = main(["train", "dsunet", "--out", str(out), "--epochs", "1", "--steps-per-epoch", "2",
               "--batch", "2", "--seconds", "0.5", "--dev-examples", "2", "--max-files", "6",
               "--model-arg", "channels=[4,8]", "--model-arg", "dilations=[1]",
               "--export", str(tmp_path / "m.onnx")])
    assert rc == 0
    text = capsys.readouterr()
    assert "epoch 1: dev SI-SDR" in text.out and "epoch 1: train" in text.err
    assert (out / "best.pt").is_file() and (tmp_path / "m.onnx").is_file()
    assert main(["train", "dsunet", "--out", str(tmp_path / "x"), "--resume"]) == 1


ASTERISK_EN = "/usr/share/asterisk/sounds/en_US_f_Allison"


@pytest.mark.skipif(not os.path.isdir(ASTERISK_EN), reason="scripts/setup.d/50-data.sh installs asterisk-core-sounds-en-g722")
def test_dry_speech_recipe_decodes_g722_and_keeps_reserved_prompts_out():
    """The dry studio prompts: G.722 decodes to the same speech as the 8 kHz WAV of the same
    prompt; the reserved prompt (demo-congrats) is out in every voice; examples are joined prompts."""
    import soundfile as sf
    from scipy.signal import resample_poly

    from aural.models import data as R

    x16 = R.load_audio(f"{ASTERISK_EN}/activated.g722", 16000)
    wav = f"{ASTERISK_EN}/activated.wav"
    if os.path.isfile(wav):  # asterisk-core-sounds-en-wav: the same prompt at 8 kHz
        w, sr = sf.read(wav, dtype="float32")
        a = resample_poly(x16, 1, 2)[: len(w)]
        c = np.correlate(a, w[: len(a)], "full")
        lag = int(np.argmax(np.abs(c))) - (len(a) - 1)
        a, b = (a[lag:], w[: len(a) - lag]) if lag >= 0 else (a[: len(a) + lag], w[-lag:len(a)])
        # (the two encodings differ in polarity)
        assert abs(lag) < 40 and abs(np.corrcoef(a, b)[0, 1]) > 0.8
    spec = np.abs(np.fft.rfft(x16)) ** 2
    f = np.fft.rfftfreq(len(x16), 1 / 16000)
    assert spec[(f > 4000) & (f < 7000)].sum() > 1e-4 * spec.sum()  # wide-band (above 8 kHz rate)

    r = R.Recipe(sample_rate=16000, seconds=2.0, dry_speech=1.0, music_fraction=0.0, max_files=50)
    files = r.files("dry_speech", "train") + r.files("dry_speech", "dev")
    assert len(files) >= 50 and not any("demo-congrats" in p for p in files)
    assert R.is_reserved(f"{ASTERISK_EN}/demo-congrats.g722")
    assert R.is_reserved("/usr/share/asterisk/sounds/es_MX_f_Allison/demo-congrats.g722")
    assert not R.is_reserved(f"{ASTERISK_EN}/activated.g722")
    assert not set(r.files("dry_speech", "train")) & set(r.files("dry_speech", "dev"))
    y, t, meta = r.example("train", 0)
    assert t.shape == (32000,) and meta["source"] == "speech" and np.max(np.abs(t)) > 1e-3
    # dry_speech=0 (the default) leaves the examples exactly as before it existed
    a0 = R.Recipe(sample_rate=16000, seconds=0.5, max_files=20).example("train", 4)[0]
    b0 = R.Recipe(sample_rate=16000, seconds=0.5, max_files=20, dry_speech=0.0).example("train", 4)[0]
    assert np.array_equal(a0, b0)


def test_clean_fraction_adds_identity_pairs_to_train_only():
    """clean_fraction: that share of train examples has input == target; the others, and every
    dev example, are exactly the examples of a recipe without it."""
    from aural.models import data as R

    a = R.Recipe(sample_rate=16000, seconds=0.25, max_files=20)
    b = R.Recipe(sample_rate=16000, seconds=0.25, max_files=20, clean_fraction=0.5)
    clean = 0
    for i in range(40):
        ya, ta, _ = a.example("train", i)
        yb, tb, mb = b.example("train", i)
        assert np.array_equal(ta, tb)
        if mb.get("clean"):
            clean += 1
            assert np.array_equal(yb, tb) and not np.array_equal(ya, ta)
        else:
            assert np.array_equal(ya, yb)
    assert 10 <= clean <= 30
    for i in range(8):
        assert np.array_equal(a.example("dev", i)[0], b.example("dev", i)[0])


def test_music_safe_noise_keeps_musical_ambiences_away_from_music():
    """music_safe_noise: train music is degraded with a noise list without sonic-pi's ambi_*
    (music themselves); speech examples and the dev split are exactly those of a recipe without."""
    import fnmatch

    from aural.models import data as R

    a = R.Recipe(sample_rate=16000, seconds=0.25, max_files=60)
    b = R.Recipe(sample_rate=16000, seconds=0.25, max_files=60, music_safe_noise=True)
    names = [os.path.basename(f) for f in a.files("noise", "train")]
    musical = sum(fnmatch.fnmatch(n, R.MUSICAL_NOISE) for n in names)
    assert musical >= 3  # sonic-pi's ambi_* are in the list (scripts/setup.d/50-data.sh)
    full, safe = b.degrader("train"), b.degrader("train", music_safe=True)
    assert len(full.noises) - len(safe.noises) == musical
    assert len(safe.noises) > 0
    music = 0
    for i in range(30):
        ya, ta, ma = a.example("train", i)
        yb, tb, mb = b.example("train", i)
        assert np.array_equal(ta, tb) and ma["source"] == mb["source"]
        if ma["source"] == "speech":
            assert np.array_equal(ya, yb)
        else:
            music += 1
    assert music >= 1
    for i in range(8):
        assert np.array_equal(a.example("dev", i)[0], b.example("dev", i)[0])


def test_init_starts_a_new_run_from_another_checkpoint(tmp_path, data):
    """--init: a fine-tuning run starts from the EMA weights of another run, with its own
    schedule and history; a checkpoint of a different architecture is refused."""
    kw = dict(kind="dsunet", model=TINY["dsunet"], batch=2, seconds=0.5, steps_per_epoch=2, log_every=0)
    train(TrainConfig(out=str(tmp_path / "a"), epochs=1, **kw), data=data, log=lambda m: None)
    src = torch.load(tmp_path / "a" / "best.pt", weights_only=False)
    logs = []
    hist = train(TrainConfig(out=str(tmp_path / "b"), epochs=1, init=str(tmp_path / "a" / "best.pt"), **kw),
                 data=data, log=logs.append)
    assert any("initialised from" in m for m in logs)
    # epoch 0 of the new run scores the source's EMA weights: the same dev SI-SDR as its best
    assert hist[0]["epoch"] == 0 and abs(hist[0]["dev_sisdr"] - src["history"][-1]["dev_sisdr"]) < 1e-4
    other = dict(kw, model={**TINY["dsunet"], "channels": [4]})
    with pytest.raises(ValueError, match="differs"):
        train(TrainConfig(out=str(tmp_path / "c"), epochs=1, init=str(tmp_path / "a" / "best.pt"), **other),
              data=data, log=lambda m: None)


def test_init_grows_a_bottleneck_gru_onto_a_trained_model(tmp_path, data):
    """--init with gru=N from a checkpoint without one: the new GRU branches start at zero, so
    epoch 0 scores exactly the source; then they train (their output layers leave zero)."""
    kw = dict(kind="dsunet", batch=2, seconds=0.5, steps_per_epoch=3, log_every=0)
    train(TrainConfig(out=str(tmp_path / "a"), epochs=1, model=TINY["dsunet"], **kw), data=data,
          log=lambda m: None)
    src = torch.load(tmp_path / "a" / "best.pt", weights_only=False)
    logs = []
    grown = {**TINY["dsunet"], "gru": 8}
    hist = train(TrainConfig(out=str(tmp_path / "b"), epochs=1, model=grown, lr=3e-3,
                             init=str(tmp_path / "a" / "best.pt"), **kw), data=data, log=logs.append)
    assert any("8-unit GRU branches" in m for m in logs)
    assert abs(hist[0]["dev_sisdr"] - src["history"][-1]["dev_sisdr"]) < 1e-4
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ck["model_config"]["gru"] == 8
    assert float(ck["model"]["unet1.gru.out.weight"].abs().max()) > 0
    # growing is the only mismatch allowed: a GRU checkpoint does not shrink back, nor change size
    for model in (TINY["dsunet"], {**TINY["dsunet"], "gru": 4}):
        with pytest.raises(ValueError, match="differs"):
            train(TrainConfig(out=str(tmp_path / "c"), epochs=1, model=model,
                              init=str(tmp_path / "b" / "last.pt"), **kw), data=data, log=lambda m: None)


def test_init_grows_deep_filter_taps_onto_a_trained_model(tmp_path, data):
    """--init with df=3 from a one-tap model (with GRUs, as the shipped voice model): the new
    taps start at zero, so epoch 0 scores exactly the source; then they train.  Fewer taps than
    the source, or a GRU change beside it, is refused."""
    kw = dict(kind="dsunet", batch=2, seconds=0.5, steps_per_epoch=3, log_every=0)
    base = {**TINY["dsunet"], "gru": 4}
    train(TrainConfig(out=str(tmp_path / "a"), epochs=1, model=base, **kw), data=data, log=lambda m: None)
    src = torch.load(tmp_path / "a" / "best.pt", weights_only=False)
    logs = []
    hist = train(TrainConfig(out=str(tmp_path / "b"), epochs=1, model={**base, "df": 3}, lr=3e-3,
                             init=str(tmp_path / "a" / "best.pt"), **kw), data=data, log=logs.append)
    assert any("deep-filter taps 1 -> 3" in m for m in logs)
    assert abs(hist[0]["dev_sisdr"] - src["history"][-1]["dev_sisdr"]) < 1e-4
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    w = ck["model"]["unet2.up.2.weight"]  # (in, 2 * taps, 1, 3): taps 1 and 2 have trained
    assert w.shape[1] == 6 and float(w[:, 2:].abs().max()) > 0
    for model in (base, {**base, "df": 2}, {**base, "df": 4, "gru": 8}):
        with pytest.raises(ValueError, match="differs"):
            train(TrainConfig(out=str(tmp_path / "c"), epochs=1, model=model,
                              init=str(tmp_path / "b" / "last.pt"), **kw), data=data, log=lambda m: None)


def test_init_grows_the_noise_floor_feature_onto_a_trained_model(tmp_path, data):
    """--init with noise_floor from a model without it: the feature's input weights start at
    zero (epoch 0 scores exactly the source), then they train; a different window, or dropping
    the feature, is refused."""
    kw = dict(kind="dsunet", batch=2, seconds=0.5, steps_per_epoch=3, log_every=0)
    base = {**TINY["dsunet"], "gru": 4}
    train(TrainConfig(out=str(tmp_path / "a"), epochs=1, model=base, **kw), data=data, log=lambda m: None)
    src = torch.load(tmp_path / "a" / "best.pt", weights_only=False)
    logs = []
    grown = {**base, "noise_floor": 30}
    hist = train(TrainConfig(out=str(tmp_path / "b"), epochs=1, model=grown, lr=3e-3,
                             init=str(tmp_path / "a" / "best.pt"), **kw), data=data, log=logs.append)
    assert any("noise-floor feature (30 frames)" in m for m in logs)
    assert abs(hist[0]["dev_sisdr"] - src["history"][-1]["dev_sisdr"]) < 1e-4
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    for key, cin in (("unet1.enc.0.conv.weight", 4), ("unet2.enc.0.conv.weight", 7)):
        w = ck["model"][key]  # (out, in, kt, kf): input channel 3 is the feature, trained
        assert w.shape[1] == cin and float(w[:, 3].abs().max()) > 0
    for model in (base, {**base, "noise_floor": 40}):
        with pytest.raises(ValueError, match="differs"):
            train(TrainConfig(out=str(tmp_path / "c"), epochs=1, model=model,
                              init=str(tmp_path / "b" / "last.pt"), **kw), data=data, log=lambda m: None)


def test_compressed_loss_has_a_finite_gradient_where_output_and_target_are_silent():
    """A target with a digitally silent stretch longer than the STFT frames, and an output
    silent there too: spectra exactly 0 on both sides (the complex term's abs() gave NaN
    gradients there, which poisoned a 3 s training run at step 1,090)."""
    from aural.models.train import compressed_loss
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 8000, generator=g)
    ref[:, 2000:6000] = 0.0
    est = (0.8 * ref).clone().requires_grad_(True)
    loss = compressed_loss(est, ref)
    loss.backward()
    assert torch.isfinite(loss) and float(loss) > 0
    assert bool(torch.isfinite(est.grad).all()) and float(est.grad.abs().max()) > 0


def test_a_non_finite_step_is_skipped_and_training_goes_on(tmp_path, data, monkeypatch):
    """A batch whose loss is NaN: that update is skipped (and said), the weights stay finite and
    the run scores finite dev figures after it."""
    import aural.models.train as tr
    real = tr._forward_loss
    calls = {"n": 0}

    def flaky(model, x, s, cfg):
        loss, ya, sa = real(model, x, s, cfg)
        if not model.training:  # the dev evaluation
            return loss, ya, sa
        calls["n"] += 1
        return (loss * float("nan"), ya, sa) if calls["n"] == 2 else (loss, ya, sa)

    monkeypatch.setattr(tr, "_forward_loss", flaky)
    logs = []
    hist = train(TrainConfig(kind="dsunet", model=TINY["dsunet"], out=str(tmp_path / "a"), batch=2,
                             seconds=0.5, epochs=1, steps_per_epoch=4, log_every=1), data=data,
                 log=logs.append)
    assert any("step 2: non-finite loss or gradient, update skipped (1 so far)" in m for m in logs)
    ck = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    assert all(bool(torch.isfinite(v).all()) for v in ck["model"].values())
    assert math.isfinite(hist[-1]["dev_sisdr"]) and math.isfinite(hist[-1]["train_loss"])


def test_discriminator_learns_to_tell_clean_from_noisy():
    """The GAN critic on its own: a few steps on clean vs noisy speech and its LSGAN loss falls,
    scoring clean above noisy; the enhancer's adversarial loss is then larger for noisy input."""
    from aural.models.adversarial import SpectrogramDiscriminator, discriminator_loss, generator_loss
    torch.manual_seed(0)
    d = TinyData()
    noisy, clean = (torch.from_numpy(a) for a in d.batch("train", 0, 4))
    disc = SpectrogramDiscriminator(channels=8)
    opt = torch.optim.Adam(disc.parameters(), lr=2e-3)
    with torch.no_grad():
        first = float(discriminator_loss(disc, clean, noisy))
    for _ in range(30):
        loss = discriminator_loss(disc, clean, noisy)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = float(discriminator_loss(disc, clean, noisy))
    assert last < 0.5 * first
    with torch.no_grad():
        adv_noisy, fm_noisy = generator_loss(disc, clean, noisy)
        adv_clean, fm_clean = generator_loss(disc, clean, clean)
    assert float(adv_noisy) > float(adv_clean) + 0.1
    assert float(fm_clean) == pytest.approx(0.0, abs=1e-6) and float(fm_noisy) > 0.1


def test_adversarial_fine_tuning_trains_saves_and_resumes_its_discriminator(tmp_path, data):
    kw = dict(kind="dsunet", model=TINY["dsunet"], batch=2, seconds=0.5, steps_per_epoch=6,
              lr=1e-3, lr_min=1e-3, log_every=3, adversarial=0.5)  # constant lr: halves = whole
    logs = []
    hist = train(TrainConfig(out=str(tmp_path / "a"), epochs=2, **kw), data=data, log=logs.append)
    assert all(np.isfinite(h["dev_loss"]) for h in hist)
    assert any(" D " in m and "G-adv" in m for m in logs)  # progress shows the GAN terms
    ck = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    assert "disc" in ck and "d_opt" in ck and ck["train_config"]["adversarial"] == 0.5
    # resumed in two halves: the same discriminator and enhancer weights at the end
    cfg = TrainConfig(out=str(tmp_path / "b"), epochs=1, **kw)
    train(cfg, data=data, log=lambda m: None)
    cfg.epochs = 2
    train(cfg, resume=True, data=data, log=lambda m: None)
    cb = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    for k in ck["disc"]:
        assert torch.allclose(ck["disc"][k], cb["disc"][k], atol=1e-6), k
    for k in ck["model"]:
        assert torch.allclose(ck["model"][k], cb["model"][k], atol=1e-6), k
    # without --adversarial nothing of it is there
    train(TrainConfig(out=str(tmp_path / "c"), epochs=1, **{**kw, "adversarial": 0.0}), data=data,
          log=lambda m: None)
    assert "disc" not in torch.load(tmp_path / "c" / "last.pt", weights_only=False)


@pytest.mark.parametrize("kind,gru", [("dsunet", 0), ("dsunet", 8), ("fullband", 8)])
def test_checkpoint_read_back_from_onnx_reproduces_the_model(tmp_path, kind, gru):
    """A shipped .onnx whose .pt is gone can be fine-tuned: its weights read back (the GRU
    branches' unnamed MatMul weights matched and verified) give the same model, and
    ``--init model.onnx`` starts a run from them."""
    from aural.models.export import checkpoint_from_onnx, export_onnx, load_checkpoint_model
    from aural.models.streaming import build_model
    from aural.models.train import _init_checkpoint

    torch.manual_seed(3)
    cfg = {**TINY[kind], **({"gru": gru} if gru else {})}
    m = build_model(kind, **cfg).eval()
    with torch.no_grad():  # nonzero everywhere, so a swapped weight would show
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    onnx_path = export_onnx(m, tmp_path / "m.onnx")
    ck = checkpoint_from_onnx(onnx_path, tmp_path / "back.pt")
    back = load_checkpoint_model(ck)
    for (k, a), (k2, b) in zip(m.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    assert _init_checkpoint(str(onnx_path), str(tmp_path / "run")) == str(tmp_path / "run" / "init.pt")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        _init_checkpoint(str(tmp_path / "nothing.onnx"), str(tmp_path / "run"))


def test_train_sources_reach_the_recipe():
    from aural.models.train import _make_data

    cfg = TrainConfig(kind="dsunet", model=TINY["dsunet"], out="unused", sources="recipe")
    assert _make_data(cfg).sources == "recipe"
    with pytest.raises(ValueError, match="unknown sources"):
        _make_data(TrainConfig(kind="dsunet", model=TINY["dsunet"], out="unused", sources="web"))


def test_batch_workers_give_the_same_weights_as_the_loop(tmp_path, data):
    """--workers N makes the training batches in forked processes ahead of the loop: examples
    depend on their index only, so the run ends with exactly the weights of an in-loop run."""
    base = dict(kind="dsunet", model=TINY["dsunet"], batch=3, seconds=0.5, epochs=1,
                steps_per_epoch=6, log_every=0)
    train(TrainConfig(**base, out=str(tmp_path / "a")), data=data, log=lambda m: None)
    train(TrainConfig(**base, out=str(tmp_path / "b"), workers=2), data=data, log=lambda m: None)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    if not torch.cuda.is_available():  # the CPU wheel: a cuda run is refused up front
        with pytest.raises(ValueError, match="no CUDA device"):
            train(TrainConfig(**base, out=str(tmp_path / "c"), device="cuda"), data=data, log=lambda m: None)
