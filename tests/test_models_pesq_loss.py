"""The differentiable PESQ-wb stand-in (models/pesq_loss.py) against the reference ``pesq``.

Needs torch (the ``train`` extra)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import speech

from aural.engine.quality import pesq_wb
from aural.models import degrade as D
from aural.models.pesq_loss import PesqProxy, pesq_loss
from aural.models.train import TrainConfig, train

SR = 16000


@pytest.fixture(scope="module")
def proxy():
    return PesqProxy()


def _mos(proxy, ref: np.ndarray, deg: np.ndarray) -> float:
    with torch.no_grad():
        return float(proxy.mos(torch.from_numpy(ref)[None], torch.from_numpy(deg)[None])[0])


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """(clean, degraded) pairs from real speech: noise of three colours at 0-25 dB SNR."""
    out = []
    for k, clip in enumerate("abd"):
        s = speech(SR, 3.0, clip) * 0.5
        rng = np.random.default_rng(k)
        for colour, snr in ((0.0, 0.0), (1.0, 8.0), (2.0, 15.0), (0.0, 25.0)):
            noise = D.colored_noise(s.size, colour, rng, SR)
            y, _ = D.add_noise(s, noise, snr, rng)
            out.append((s, y.astype(np.float32)))
    return out


def test_proxy_gives_the_p862_2_maximum_for_identical_signals_at_any_level(proxy):
    s = speech(SR, 3.0, "a")
    assert _mos(proxy, s, s) == pytest.approx(4.64, abs=0.01)
    assert _mos(proxy, s, 0.1 * s) == pytest.approx(4.64, abs=0.01)  # PESQ aligns levels


def test_proxy_mos_follows_reference_pesq_wb(proxy):
    ref, mine = [], []
    for s, y in _cases():
        ref.append(pesq_wb(s, y, SR))
        mine.append(_mos(proxy, s, y))
    ref, mine = np.array(ref), np.array(mine)
    assert np.ptp(ref) > 1.5  # the cases span the scale
    assert np.corrcoef(ref, mine)[0, 1] > 0.97
    assert np.max(np.abs(ref - mine)) < 0.35


def test_added_noise_costs_more_than_the_same_energy_removed(proxy):
    """PESQ's asymmetric disturbance: what the output adds is worse than what it leaves out."""
    rng = np.random.default_rng(3)
    s = speech(SR, 3.0, "b") * 0.5
    noisy, _ = D.add_noise(s, D.colored_noise(s.size, 0.0, rng, SR), 10.0, rng)
    noisy = noisy.astype(np.float32)
    added = _mos(proxy, s, noisy)       # output = clean + noise
    removed = _mos(proxy, noisy, s)     # output = reference minus the noise
    assert pesq_wb(s, noisy, SR) < pesq_wb(noisy, s, SR)  # the reference agrees
    assert added < removed - 0.3


def test_gradient_is_finite_where_output_equals_target_or_is_silent():
    s = torch.from_numpy(speech(SR, 1.0, "c"))[None].repeat(4, 1)
    ref = s.clone()
    ref[1, 4000:12000] = 0.0          # a silent stretch in the target
    ref[2] = 0.0                      # an all-silent target
    y = s.clone()
    y[3] = 0.0                        # an all-silent output
    y.requires_grad_()
    loss = pesq_loss(y, ref)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(y.grad).all()
    assert float(PesqProxy()(s[:1], s[:1])[0]) < 1e-2  # no disturbance


def test_descending_the_proxy_raises_reference_pesq():
    """Gradient steps on a spectral gain under the proxy alone raise the reference PESQ-wb."""
    rng = np.random.default_rng(5)
    s = speech(SR, 2.0, "a") * 0.5
    noisy, _ = D.add_noise(s, D.colored_noise(s.size, 1.0, rng, SR), 5.0, rng)
    x = torch.from_numpy(noisy.astype(np.float32))[None]
    win = torch.hann_window(512)
    spec = torch.stft(x, 512, 128, window=win, return_complex=True)
    logit = torch.zeros(spec.shape, requires_grad=True)
    opt = torch.optim.Adam([logit], lr=0.1)
    ref = torch.from_numpy(s)[None]

    def out() -> torch.Tensor:
        return torch.istft(spec * torch.sigmoid(logit + 3.0), 512, 128, window=win,
                           length=x.shape[-1])

    for _ in range(30):
        opt.zero_grad()
        pesq_loss(out(), ref).backward()
        opt.step()
    before = pesq_wb(s, noisy.astype(np.float32), SR)
    after = pesq_wb(s, out().detach()[0].numpy(), SR)
    assert after > before + 0.3


def test_training_with_the_pesq_term(tmp_path):
    from test_models_train import TINY, TinyData

    kw = dict(kind="dsunet", model=TINY["dsunet"], batch=2, seconds=0.5, epochs=1,
              steps_per_epoch=4, log_every=0, loss="compressed")
    logs: list[str] = []
    hist = train(TrainConfig(out=str(tmp_path / "a"), w_pesq=0.5, **kw), data=TinyData(),
                 log=logs.append)
    assert np.isfinite(hist[-1]["dev_loss"])
    assert not any("skipped" in m for m in logs)
    saved = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    assert saved["train_config"]["w_pesq"] == 0.5
    with pytest.raises(ValueError, match="16000 Hz or more"):
        train(TrainConfig(out=str(tmp_path / "b"), w_pesq=0.5, sample_rate=8000, **kw),
              data=TinyData(), log=logs.append)


def test_to_16k_keeps_the_speech_band_and_drops_the_rest():
    from aural.models.train import to_16k

    t = torch.arange(48000) / 48000.0
    x = torch.stack([torch.sin(2 * np.pi * 1000 * t), torch.sin(2 * np.pi * 12000 * t)])
    y = to_16k(x, 48000)
    assert y.shape == (2, 16000)
    ref = torch.sin(2 * np.pi * 1000 * torch.arange(16000) / 16000.0)
    assert torch.abs(y[0] - ref).max() < 1e-3  # the tone, same level
    assert torch.abs(y[1]).max() < 5e-3        # above 8 kHz: gone (-46 dB: float32 FFT noise)
    assert torch.equal(to_16k(ref[None], 16000), ref[None])


def test_a_full_band_model_trains_with_the_band_and_pesq_terms(tmp_path):
    """A 48 kHz model: the 0-8 kHz loss and the PESQ proxy on its output taken to 16 kHz."""
    from test_models_train import TinyData

    class Data48(TinyData):  # the tiny speech set at 48 kHz
        def batch(self, split, start, size):
            from scipy.signal import resample_poly
            x, s = super().batch(split, start, size)
            return (resample_poly(x, 3, 1, axis=1).astype(np.float32),
                    resample_poly(s, 3, 1, axis=1).astype(np.float32))

    model = {"erb_bands": 16, "df_bins": 32, "channels": [8, 8], "channels2": [8, 8],
             "dilations": [1], "gru": 8, "gru2": 8}
    logs: list[str] = []
    hist = train(TrainConfig(kind="fullband", model=model, out=str(tmp_path / "fb"), sample_rate=48000,
                             batch=2, seconds=0.5, epochs=1, steps_per_epoch=3, log_every=0,
                             loss="compressed", w_pesq=0.3, w_band=1.0),
                 data=Data48(), log=logs.append)
    assert np.isfinite(hist[-1]["dev_loss"]) and not any("skipped" in m for m in logs)
