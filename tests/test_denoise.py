"""Noise reduction: Wiener (IMCRA + OM-LSA) and SpectralGate on the streaming STFT.

Physical facts checked: block-size invariance, exact latency, speech quality gain (SI-SDR) on
white noise and babble, noise tracking accuracy and adaptation, musical-noise level, robustness
(NaN/inf/denormals, silence, full scale), any rate and channel count.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import firwin2, lfilter, resample_poly, welch
from scipy.special import exp1
from scipy.stats import kurtosis

from aural.engine.noise_psd import NoiseTracker
from aural.engine.processors.denoise import SpectralGate, Wiener, lsa_factor
from aural.engine.stft import Stft, default_fft_size

from helpers import rms_db, si_sdr, stream

DATA = Path(__file__).resolve().parent / "data"
BLOCKS = (1, 7, 64, 333, 4096)


@lru_cache(maxsize=None)
def _clip(name: str, sr: int) -> np.ndarray:
    x, r = sf.read(DATA / f"speech_{name}.flac", dtype="float64")
    if sr != r:
        g = math.gcd(sr, r)
        x = resample_poly(x, sr // g, r // g)
    return x


def speech(sr: int, seconds: float | None = None, name: str = "a") -> np.ndarray:
    x = _clip(name, sr)
    return x if seconds is None else x[: int(seconds * sr)]


def white(n: int, seed: int = 0, channels: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n if channels is None else (channels, n))


def babble(sr: int, n: int, seed: int = 0, talkers: int = 4) -> np.ndarray:
    """``talkers`` voices from the four other talkers (speech_b..e, cycled), each at equal level
    and randomly time-shifted (12 talkers: each clip three times at different offsets)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    for i in range(talkers):
        t = _clip("bcde"[i % 4], sr)
        t = np.roll(t / np.sqrt(np.mean(t ** 2)), int(rng.integers(len(t))))
        out += np.resize(t, n)
    return out


def speech_shaped(sr: int, n: int, seed: int = 0) -> np.ndarray:
    """Stationary noise with the long-term average spectrum of the four other talkers."""
    x = np.concatenate([_clip(k, sr) for k in "bcde"])
    f, p = welch(x, fs=sr, nperseg=1024)
    h = firwin2(513, f / (sr / 2), np.sqrt(p / p.max()))
    return lfilter(h, 1.0, np.random.default_rng(seed).standard_normal(n + 600))[600:]


def at_snr(s: np.ndarray, n: np.ndarray, snr_db: float) -> np.ndarray:
    return (s + n * np.sqrt(np.mean(s ** 2) / np.mean(n ** 2)) * 10 ** (-snr_db / 20)).astype(np.float32)


def noisy_speech(sr: int, seconds: float, channels: int) -> np.ndarray:
    s = speech(sr, seconds)
    return np.stack([at_snr(s, white(len(s), seed=c), 5.0 + 3 * c) for c in range(channels)])


PROCS = {
    "wiener": lambda: Wiener(),
    "wiener_wiener_minstats": lambda: Wiener(rule="wiener", tracker="minstats", floor_db=-30),
    "wiener_lsa_link": lambda: Wiener(rule="lsa", link=True, strength=1.5),
    "gate": lambda: SpectralGate(),
    "gate_minstats": lambda: SpectralGate(tracker="minstats", n_std=1.0, smooth_hz=0, smooth_ms=0),
}


# ---------------------------------------------------------------------------- streaming contract
@pytest.mark.parametrize("name", list(PROCS))
@pytest.mark.parametrize("sr,channels", [(16000, 1), (44100, 2), (48000, 1), (96000, 2)])
def test_block_invariance(name, sr, channels):
    x = noisy_speech(sr, 0.4, channels)
    ref = stream(PROCS[name](), x, sr, x.shape[1])
    assert np.max(np.abs(ref)) > 0.01
    for b in BLOCKS + ((1, 7, 64, 333, 4096),):
        y = stream(PROCS[name](), x, sr, list(b) if isinstance(b, tuple) else b, max_block=4096)
        np.testing.assert_allclose(y, ref, atol=1e-5, err_msg=f"block {b}")


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000, 96000, 192000])
@pytest.mark.parametrize("cls,kw", [(Wiener, {"floor_db": 0.0}), (SpectralGate, {"reduction_db": 0.0})])
def test_transparent_setting_is_a_pure_delay(sr, cls, kw):
    """At 0 dB floor / 0 dB reduction the gain is exactly 1: an impulse comes out delayed by
    exactly latency_samples, and the whole-signal call returns the input."""
    p = cls(**kw)
    p.prepare(sr, 2, 512)
    n_fft = default_fft_size(sr, 32.0 if sr <= 24000 else 16.0)  # 32 ms frames up to 24 kHz
    assert p.n_fft == n_fft
    assert p.latency_samples == n_fft - 1
    n = 3 * n_fft + 777
    x = np.zeros((2, n), np.float32)
    x[0, 300] = 1.0
    x[1, 301] = -0.5
    x[:, 600:] += 0.05 * white(n - 600, seed=3, channels=2).astype(np.float32)  # tracker busy
    y = np.concatenate([p.process(x[:, i:i + 512]).copy() for i in range(0, n, 512)], axis=1)
    lat = p.latency_samples
    np.testing.assert_allclose(y[:, lat:], x[:, :n - lat], atol=2e-6)
    assert np.all(np.abs(y[:, :lat]) < 1e-6)
    z = cls(**kw)(x, sr)
    np.testing.assert_allclose(z, x, atol=2e-6)


# ---------------------------------------------------------------------------- quality
def _improvement(proc, sr, kind):
    s = speech(sr).astype(np.float64)
    if kind == "white":
        n = white(len(s), seed=1)
    elif kind == "ssn":
        n = speech_shaped(sr, len(s), seed=3)
    else:
        n = babble(sr, len(s), seed=2, talkers=int(kind[3:]))
    y = at_snr(s, n, 5.0)
    out = proc(y, sr)
    return si_sdr(s, y), si_sdr(s, out)


@pytest.mark.parametrize("sr", [16000, 48000])
def test_wiener_si_sdr_white(sr):
    before, after = _improvement(Wiener(), sr, "white")
    print(f"Wiener white {sr} Hz: SI-SDR {before:.2f} -> {after:.2f} dB (+{after - before:.2f})")
    assert abs(before - 5.0) < 0.2
    assert after - before >= (6.5 if sr == 16000 else 8.8)


#: least SI-SDR gain at 5 dB SNR per babble-like noise and rate.  The +5 dB of the foundation
#: issue is out of reach of any blind single-channel estimator of this family.  Offline bounds
#: (16 kHz / 48 kHz, frames of 16 and 32 ms, decision-directed LSA fed the TRUE noise PSD):
#: speech-shaped noise +3.2..3.9 / +3.4..3.6 dB, 12-talker babble +2.4..2.7 / +2.6..2.7 dB,
#: 4-talker babble +1.3..1.6 / +1.5..1.6 dB (true PSD smoothed over 70 ms, i.e. an oracle
#: tracker of non-stationary noise: 12 talkers +3.4..4.1, 4 talkers +3.2..4.0); the oracle ratio
#: mask, which needs the clean speech, gives +5.9..7.9 dB.
BABBLE_BARS = {
    ("ssn", 16000): 3.2, ("ssn", 48000): 2.6,      # speech-shaped stationary noise (LTAS of b..e)
    ("bab12", 16000): 1.5, ("bab12", 48000): 1.2,  # 12 talkers: b..e, each at 3 time offsets
    ("bab4", 16000): 0.7, ("bab4", 48000): 0.7,    # 4 talkers: speech, barely removable
}


@pytest.mark.parametrize("sr", [16000, 48000])
@pytest.mark.parametrize("kind", ["ssn", "bab12", "bab4"])
def test_wiener_si_sdr_babble(kind, sr):
    """Babble-like noise at 5 dB SNR: speech-shaped noise, 12-talker and 4-talker babble."""
    before, after = _improvement(Wiener(), sr, kind)
    print(f"Wiener {kind} {sr} Hz: SI-SDR {before:.2f} -> {after:.2f} dB (+{after - before:.2f})")
    assert abs(before - 5.0) < 0.3
    assert after - before >= BABBLE_BARS[kind, sr]


@pytest.mark.parametrize("sr", [16000, 48000])
def test_spectral_gate_si_sdr_white(sr):
    before, after = _improvement(SpectralGate(), sr, "white")
    print(f"SpectralGate white {sr} Hz: SI-SDR {before:.2f} -> {after:.2f} dB (+{after - before:.2f})")
    assert after - before >= (4.5 if sr == 16000 else 6.5)


def _log_kurtosis_ratio(x, y, sr):
    """Musical-noise measure (Uemura et al.): log of the kurtosis ratio of the power spectra of
    processed and unprocessed noise; 0 = the noise keeps its texture, large = isolated tones."""
    n = 512
    def spec(v):
        fr = np.lib.stride_tricks.sliding_window_view(v, n)[::n // 2] * np.hanning(n)
        p = np.abs(np.fft.rfft(fr, axis=1)) ** 2
        f = np.fft.rfftfreq(n, 1 / sr)
        return p[:, (f > 100) & (f < min(8000, sr / 2 - 200))]
    return math.log(kurtosis(spec(y), axis=None, fisher=False) / kurtosis(spec(x), axis=None, fisher=False))


@pytest.mark.parametrize("sr", [16000, 48000])
def test_wiener_residual_noise_level_and_no_musical_noise(sr):
    x = (0.05 * white(4 * sr, seed=4)).astype(np.float32)
    y = Wiener(floor_db=-20.0)(x, sr)
    att = rms_db(y[sr:]) - rms_db(x[sr:])
    lkr = _log_kurtosis_ratio(x[sr:], y[sr:], sr)
    print(f"Wiener on noise {sr} Hz: {att:.1f} dB, log kurtosis ratio {lkr:.2f}")
    assert -23.0 < att < -17.0  # the noise goes down to the floor, not below, not less
    assert lkr < 0.8
    # without the Esch-Vary smoothing the residual is much spikier: the measure can fail
    w = Wiener(floor_db=-20.0)
    w._ZTHR = 0.0
    assert _log_kurtosis_ratio(x[sr:], w(x, sr)[sr:], sr) > lkr + 0.5


def test_gate_attenuates_noise_by_about_reduction():
    sr = 16000
    x = (0.05 * white(3 * sr, seed=5)).astype(np.float32)
    for red in (12.0, 24.0):
        y = SpectralGate(reduction_db=red)(x, sr)
        att = rms_db(y[sr:]) - rms_db(x[sr:])
        assert -red - 1.0 < att < -red + 7.0, (red, att)


def test_strength_and_floor_order_the_suppression():
    sr = 16000
    s = speech(sr, 3.0)
    y = at_snr(s, white(len(s), seed=6), 5.0)
    lv = [rms_db(Wiener(floor_db=f)(y, sr)) for f in (-6.0, -15.0, -30.0)]
    assert lv[0] > lv[1] > lv[2]
    ls = [rms_db(Wiener(strength=k)(y, sr)) for k in (0.5, 1.0, 2.0)]
    assert ls[0] > ls[1] > ls[2]
    for rule in ("omlsa", "lsa", "wiener"):
        before, after = si_sdr(s, y), si_sdr(s, Wiener(rule=rule)(y, sr))
        assert after - before > 4.0, rule


# ---------------------------------------------------------------------------- noise tracking
@pytest.mark.parametrize("method", ["mcra", "minstats"])
@pytest.mark.parametrize("sr", [8000, 48000])
def test_tracker_converges_to_true_noise_psd(method, sr):
    """Stationary coloured noise: after 2 s the tracked PSD is the true PSD within a few dB."""
    n_fft = default_fft_size(sr)
    hop = n_fft // 2
    st = Stft(1, n_fft, hop)
    tr = NoiseTracker(1, n_fft // 2 + 1, hop, sr, method)
    rng = np.random.default_rng(7)
    w = rng.standard_normal(3 * sr)
    x = 0.1 * (w + 0.9 * np.concatenate([[0.0], w[:-1]]))  # 1 + 0.9 z^-1: 25 dB tilt
    true = 0.01 * np.abs(1 + 0.9 * np.exp(-1j * np.pi * np.arange(n_fft // 2 + 1) / (n_fft // 2))) ** 2
    true = true * np.sum(st.win_a ** 2)
    for i in range(0, len(x) - hop + 1, hop):
        tr.update_spectrum(st.analyze(x[None, i:i + hop].astype(np.float32)))
    err = 10 * np.log10(tr.noise[0, 2:-8] / true[2:-8])
    print(f"{method} {sr} Hz: mean error {err.mean():+.2f} dB, 90% of bins within "
          f"{np.percentile(np.abs(err), 90):.2f} dB")
    assert abs(err.mean()) < 1.0
    assert np.percentile(np.abs(err), 90) < 3.0


@pytest.mark.parametrize("method", ["mcra", "minstats"])
def test_tracker_follows_level_changes_during_speech(method):
    """The estimate is blind: speech on top does not lift it much, and a 10 dB step of the noise
    is followed up (within ~3 s: the minimum-search window is ~1 s) and down (within ~1 s).
    Median over bins: bins where speech dominates keep their estimate until the speech pauses."""
    sr = 16000
    s = speech(sr, 8.0)
    n = white(len(s), seed=8) * 0.02
    n[3 * sr:6 * sr] *= 10 ** (10 / 20)
    p = Wiener(tracker=method)
    p.prepare(sr, 1, 1600)
    y = (s + n).astype(np.float32)
    lv = {}
    for i in range(0, len(y), 1600):
        p.process(y[None, i:i + 1600])
        lv[(i + 1600) / sr] = np.median(10 * np.log10(p.noise_psd_per_sample()[0, 3:-3] / 0.02 ** 2))
    assert abs(lv[3.0]) < 2.0, lv[3.0]
    assert abs(lv[6.0] - 10.0) < 2.5, lv[6.0]
    assert abs(lv[7.0]) < 2.0, lv[7.0]


# ---------------------------------------------------------------------------- robustness
@pytest.mark.parametrize("cls", [Wiener, SpectralGate])
def test_nan_inf_denormal_input(cls):
    sr = 48000
    x = noisy_speech(sr, 1.0, 2)
    bad = x.copy()
    bad[0, 1000:1100] = np.nan
    bad[1, 5000] = np.inf
    bad[0, 20000:20050] = -np.inf
    bad[1, 30000:31000] = 1e-40
    clean = np.where(np.isfinite(bad) & (np.abs(bad) >= 1e-30), bad, 0.0).astype(np.float32)
    y = stream(cls(), bad, sr, 333)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, stream(cls(), clean, sr, 333), atol=1e-6)


@pytest.mark.parametrize("cls", [Wiener, SpectralGate])
@pytest.mark.parametrize("sr", [8000, 48000, 192000])
def test_silence_in_silence_out(cls, sr):
    z = np.zeros((2, sr // 2), np.float32)
    assert np.all(stream(cls(), z, sr, 256) == 0.0)
    # noise then digital silence: the output decays to exact zero; silence then noise: the
    # tracker starts on the first non-silent frame and suppresses within a second
    x = np.zeros((1, 3 * sr), np.float32)
    x[0, :sr // 2] = 0.05 * white(sr // 2, seed=9)
    x[0, 3 * sr // 2:] = 0.05 * white(3 * sr - 3 * sr // 2, seed=10)
    p = cls()
    y = stream(p, x, sr, 512)
    assert np.all(y[0, sr // 2 + 2 * p.n_fft: sr + sr // 2] == 0.0)
    assert rms_db(y[0, 2 * sr + sr // 2:]) - rms_db(x[0, 2 * sr + sr // 2:]) < -12.0


@pytest.mark.parametrize("cls", [Wiener, SpectralGate])
def test_full_scale_and_hot_input(cls):
    """Level-independent: noisy speech peaking at 1.0 (and at 8.0, a hot bus) gives the same
    output, scaled, as at -40 dBFS; a full-scale noisy square wave stays finite and bounded."""
    sr = 44100
    s = speech(sr, 2.0)
    x = at_snr(s, white(len(s), seed=11), 5.0)
    x = (x / np.max(np.abs(x)))[None]
    ref = cls()(0.01 * x, sr) / 0.01
    for amp in (1.0, 8.0):
        y = cls()(amp * x, sr) / amp
        assert np.all(np.isfinite(y))
        np.testing.assert_allclose(y, ref, atol=2e-4)
    assert np.max(np.abs(ref)) < 1.3
    t = np.arange(sr) / sr
    sq = np.clip(np.sign(np.sin(2 * np.pi * 220 * t)) + 0.3 * white(sr, seed=12), -1, 1)
    y = cls()(sq.astype(np.float32), sr)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) < 1.6


@pytest.mark.parametrize("sr,channels", [(8000, 1), (22050, 3), (192000, 2)])
def test_any_rate_and_channel_count(sr, channels):
    x = (0.05 * white(3 * sr, seed=13, channels=channels)).astype(np.float32)
    for p in (Wiener(), SpectralGate()):
        y = p(x, sr)
        assert y.shape == x.shape
        for c in range(channels):
            assert rms_db(y[c, sr:]) - rms_db(x[c, sr:]) < -12.0


def test_link_gives_equal_gains_and_runtime_changes():
    sr = 16000
    s = speech(sr, 2.0)
    x = np.stack([at_snr(s, white(len(s), seed=13), 5.0), at_snr(s, white(len(s), seed=14), 15.0)])
    p = Wiener(link=True)
    stream(p, x, sr, 256)
    np.testing.assert_array_equal(p._gs[0, 1], p._gs[1, 1])
    # parameters changed while running: floor glides, tracker switches and re-converges
    p = Wiener()
    y = np.zeros_like(x)
    p.prepare(sr, 2, 256)
    for i in range(0, x.shape[1], 256):
        if i == 256 * 40:
            p.set("floor_db", -40.0)
            p.set("tracker", "minstats")
            p.set("rule", "wiener")
        y[:, i:i + 256] = p.process(x[:, i:i + 256])
    assert np.all(np.isfinite(y))
    lat = p.latency_samples
    assert si_sdr(s[8000:-lat], y[0, 8000 + lat:]) > si_sdr(s[8000:], x[0, 8000:]) + 3.0
    d = np.abs(np.diff(y[0]))
    assert d.max() < 0.5  # no click at the switch


def test_lsa_factor_matches_exponential_integral():
    v = np.concatenate([np.logspace(-8, 0, 200), np.linspace(1.0, 8.0, 200)])
    ref = np.exp(0.5 * exp1(v))
    got = np.array([lsa_factor(float(a)) for a in v])
    np.testing.assert_allclose(got, ref, rtol=1e-3)
