"""Restoration processors: DeHum, DeClick, DeClip.

Physical facts: each is block-size invariant (host blocks 1..4096, any rate, mono/stereo); on
material it has nothing to do for, its output is the input delayed by exactly
``latency_samples``; DeHum finds 50 or 60 Hz hum (also drifted), removes it by >= 30 dB and leaves
the speech spectrum above the notches untouched; DeClick lowers the error energy at injected
clicks by >= 20 dB on speech and music; DeClip brings a clipped signal measurably closer to the
original; all are safe on NaN/inf/denormal/silent/full-scale input."""
from __future__ import annotations

from functools import cache
from math import gcd
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from aural.engine.processor import REGISTRY
from aural.engine.processors import DeClick, DeClip, DeHum
from helpers import si_sdr, stream
from scipy.signal import butter, resample_poly, sosfiltfilt

BLOCKS = [1, 7, 64, 333, 4096]
RATES = [16000, 44100, 48000, 96000]
DATA = Path(__file__).resolve().parent / "data"


# ----------------------------------------------------------------------------- signals
@cache
def speech(name: str, sr: int, seconds: float, start: float = 0.5) -> np.ndarray:
    """Clean speech (peak 0.5), resampled to sr."""
    x, s = sf.read(DATA / f"speech_{name}.flac", dtype="float64")
    x = x[int(start * s):int((start + seconds) * s)]
    g = gcd(sr, s)
    y = resample_poly(x, sr // g, s // g)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


@cache
def music(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Music-like: notes of harmonic partials with attacks, decays and vibrato, a little noise."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    y = np.zeros(n)
    for _ in range(6):
        f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
        on, dur = rng.uniform(0, seconds * 0.6), rng.uniform(0.4, 1.2)
        env = np.clip((t - on) / 0.01, 0, 1) * np.exp(-np.clip(t - on, 0, None) / dur) * (t >= on)
        ph = 2 * np.pi * np.cumsum(f0 * (1 + 0.003 * np.sin(2 * np.pi * 5 * t))) / sr
        for h in range(1, 12):
            if h * f0 > 0.45 * sr:
                break
            y += env * 0.3 / h ** 1.2 * np.sin(h * ph + rng.uniform(0, 6.28))
    y += 1e-3 * rng.standard_normal(n)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def hum(sr: int, n: int, f0: float, amp: float = 0.1, harmonics: int = 8,
        seed: int = 0) -> np.ndarray:
    """Mains hum: harmonics k*f0 with amplitude amp/k and random phases."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    h = np.zeros(n)
    for k in range(1, harmonics + 1):
        if k * f0 < 0.45 * sr:
            h += amp / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    return h.astype(np.float32)


def add_clicks(x: np.ndarray, sr: int, count: int, seed: int = 1, amp=(0.3, 0.9),
               max_ms: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Vinyl-like clicks: short random bursts (1 sample .. max_ms) with a decaying envelope, at
    least 10 ms apart.  Returns the clicked signal and the mask of corrupted samples."""
    rng = np.random.default_rng(seed)
    xc = x.copy()
    mask = np.zeros(x.shape[-1], bool)
    lmax = max(1, round(sr * max_ms * 1e-3))
    slots = np.arange(int(0.015 * sr), x.shape[-1] - int(0.015 * sr), int(0.01 * sr))
    for pos in np.sort(rng.choice(slots, count, replace=False)):
        ln = int(rng.integers(1, lmax + 1))
        b = rng.standard_normal(ln)
        b[0] = np.sign(b[0]) * max(abs(b[0]), 1.0)
        c = rng.uniform(*amp) * np.exp(-np.arange(ln) / max(1.0, ln / 2)) * b / np.max(np.abs(b))
        xc[..., pos:pos + ln] += c.astype(np.float32)
        mask[pos:pos + ln] = True
    return xc, mask


def clean_tonal(sr: int, seconds: float, channels: int = 1) -> np.ndarray:
    """A signal no restorer should touch: steady partials plus faint noise, no hum, no clipping."""
    rng = np.random.default_rng(3)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    y = sum(0.1 / k * np.sin(2 * np.pi * 331.0 * k * t + k) for k in range(1, 6))
    y = y + 3e-4 * rng.standard_normal(n)
    return np.tile(y.astype(np.float32), (channels, 1))


def energy_db(v: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(np.square(v, dtype=np.float64)) + 1e-30))


def two_ch(x: np.ndarray, channels: int) -> np.ndarray:
    """(channels, n): the second channel is the first delayed by 37 samples."""
    if channels == 1:
        return x[np.newaxis, :].copy()
    return np.stack([x, np.roll(x, 37)]).astype(np.float32)


# ----------------------------------------------------------------------------- generic facts
def make(kind: str):
    if kind == "dehum":
        return DeHum(freq_hz=50.0)          # engaged from the first sample
    if kind == "declick":
        return DeClick()
    return DeClip(headroom_db=0.0)


def workload(kind: str, sr: int, channels: int, seconds: float) -> np.ndarray:
    x = speech("b", sr, seconds)
    if kind == "dehum":
        x = x + hum(sr, x.size, 50.2)
    elif kind == "declick":
        x, _ = add_clicks(x, sr, max(3, int(seconds * 40)), amp=(0.2, 0.6))
    else:
        lv = 0.4 * np.max(np.abs(x))
        x = np.clip(x, -lv, lv)
    return two_ch(x, channels)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("kind", ["dehum", "declick", "declip"])
def test_block_invariance(kind, sr, channels, block):
    seconds = 0.12 if block == 1 else 0.3
    x = workload(kind, sr, channels, seconds)
    ref = stream(make(kind), x, sr, x.shape[1])
    p = make(kind)
    y = stream(p, x, sr, block if block > 1 else [1, 1, 2])
    assert np.max(np.abs(y - ref)) <= 1e-5
    assert np.all(np.isfinite(y))
    if kind != "dehum":
        # the stretch compared was really worked on
        lat = p.latency_samples
        assert np.max(np.abs(y[:, lat:] - x[:, :x.shape[1] - lat])) > 1e-3


@pytest.mark.parametrize("sr", [16000, 48000])
def test_block_invariance_dehum_auto_detection(sr):
    """Detection and tracking decide at window boundaries counted in samples."""
    x = speech("c", sr, 1.2) + hum(sr, int(sr * 1.2), 59.8)
    x = two_ch(x, 2)
    ref = stream(DeHum(), x, sr, x.shape[1])
    for blocks in (64, 333, [5, 1000, 17, 4096]):
        p = DeHum()
        y = stream(p, x, sr, blocks, max_block=4096)
        assert p.detected_hz > 0
        assert np.max(np.abs(y - ref)) <= 1e-5


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("kind", ["dehum", "declick", "declip"])
def test_clean_input_is_delayed_by_latency(kind, sr, channels):
    """Nothing to restore: the output is the input, exactly latency_samples late."""
    x = clean_tonal(sr, 0.25, channels)
    p = DeHum() if kind == "dehum" else make(kind)
    y = stream(p, x, sr, 256)
    lat = p.latency_samples
    if kind == "dehum":
        assert lat == 0
    assert lat < x.shape[1] // 2
    np.testing.assert_allclose(y[:, lat:], x[:, :x.shape[1] - lat], atol=1e-7, rtol=0)
    if kind == "declick":
        assert p.clicks_repaired == 0
    if kind == "declip":
        assert p.runs_repaired == 0


@pytest.mark.parametrize("kind", ["dehum", "declick", "declip"])
def test_impulse_delay_equals_latency(kind):
    """A lone impulse: DeHum (auto, no hum found) passes it at once; DeClick takes it for a click
    but has no context to rebuild it from; the impulse sits exactly latency_samples late."""
    sr = 48000
    p = DeHum() if kind == "dehum" else make(kind)
    x = np.zeros((1, 4096), np.float32)
    x[0, 100] = 0.5
    y = stream(p, x, sr, 64)
    lat = p.latency_samples
    if kind == "declick":
        # an isolated impulse in digital silence: the interpolation from silence is silence
        assert np.max(np.abs(y)) < 1e-6
        return
    assert np.argmax(np.abs(y[0])) == 100 + lat
    assert abs(y[0, 100 + lat] - 0.5) < 1e-6
    assert np.sum(np.abs(y)) == pytest.approx(0.5, abs=1e-6)


def test_latencies_are_declared():
    for cls in (DeHum, DeClick, DeClip):
        assert REGISTRY[cls.__name__] is cls
    for sr in RATES:
        h = DeHum()
        h.prepare(sr, 2, 128)
        assert h.latency_samples == 0
        c = DeClick()
        c.prepare(sr, 2, 128)
        d = DeClip()
        d.prepare(sr, 2, 128)
        # hop (4 ms) plus look-ahead; both in the 5..25 ms range at every rate
        assert 0.005 * sr < c.latency_samples < 0.013 * sr
        assert 0.005 * sr < d.latency_samples < 0.025 * sr


# ----------------------------------------------------------------------------- DeHum
def drifting_hum(sr, n, f0, snr_db, ref, harmonics=12, seed=0):
    """Mains hum with ``harmonics`` harmonics (odd ones stronger), an offset within +-0.05 Hz
    and a slow wander of the fundamental, scaled to ``snr_db`` below ``ref``'s power."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    f = f0 + rng.uniform(-0.05, 0.05) + 0.01 * np.sin(2 * np.pi * t / 30.0 + rng.uniform(0, 6))
    ph = 2 * np.pi * np.cumsum(f) / sr
    h = np.zeros(n)
    for k in range(1, harmonics + 1):
        h += (1.0 if k % 2 else 0.35) * rng.uniform(0.5, 1.0) / k ** 0.7 * np.sin(
            k * ph + rng.uniform(0, 6.28))
    h *= np.sqrt(np.mean(np.square(ref, dtype=np.float64)) / np.mean(h * h) / 10 ** (snr_db / 10))
    return h.astype(np.float32), f


@pytest.mark.parametrize("snr", [5.0, 10.0])
@pytest.mark.parametrize("f0", [50.0, 60.0])
@pytest.mark.parametrize("material", ["speech", "music"])
def test_dehum_removes_drifting_hum(material, f0, snr):
    """12 harmonics, odd ones stronger, drifting fundamental, 5 and 10 dB SNR: detected,
    tracked and removed with >= 13 / 9 dB SI-SDR gain on these 8-10 s clips (scored after the
    2 s the detector and the estimates need; 14.8-16.1 / 10.2-13.2 dB measured; the longer
    clips of benchmarks/bench_restoration.py reach +14 to +16 dB on speech)."""
    sr = 16000
    x = (speech("b", sr, 10.0) if material == "speech" else
         np.concatenate([music(sr, 4.0, seed=s) for s in (1, 2, 3)])[:10 * sr])
    h, f = drifting_hum(sr, x.size, f0, snr, x, seed=int(f0))
    p = DeHum()
    y = p(x + h, sr)
    st = 2 * sr
    before = si_sdr(x[st:], (x + h)[st:])
    after = si_sdr(x[st:], y[st:])
    assert p.detected_hz == pytest.approx(f[-1], abs=0.06)
    assert after - before >= (13.0 if snr == 5.0 else 9.0), f"SI-SDR {before:.1f} -> {after:.1f} dB"
    # what is left is the hum's neighbourhood: above 2 kHz the signal is untouched
    sos = butter(8, 2000.0, "highpass", fs=sr, output="sos")
    hi_err = sosfiltfilt(sos, (y - x)[st:].astype(np.float64))
    hi_sig = sosfiltfilt(sos, x[st:].astype(np.float64))
    assert energy_db(hi_err) - energy_db(hi_sig) < -20.0


def test_dehum_stereo_and_manual_frequency():
    """A given fundamental: the canceller runs from the first sample, tracks the drift and
    removes the hum from both channels."""
    sr = 16000
    x = speech("d", sr, 8.0)
    h, f = drifting_hum(sr, x.size, 50.0, 5.0, x, seed=3)
    mix = two_ch(x + h, 2)
    p = DeHum(freq_hz=50.0)
    y = p(mix, sr)
    assert p.detected_hz == pytest.approx(f[-1], abs=0.05)
    ref = two_ch(x, 2)
    for ch in range(2):
        assert si_sdr(ref[ch, 2 * sr:], y[ch, 2 * sr:]) > si_sdr(ref[ch, 2 * sr:],
                                                                 mix[ch, 2 * sr:]) + 6.0


def test_dehum_no_hum_no_detection():
    """Clean speech and music: nothing is detected and the signal passes unchanged."""
    for x in (speech("a", 48000, 2.5), music(48000, 2.5)):
        p = DeHum()
        y = p(x, 48000)
        assert p.detected_hz == 0.0
        assert np.array_equal(y, x)


@pytest.mark.parametrize("f0", [49.0, 61.5, 98.0])
def test_dehum_ignores_steady_tones_off_mains(f0):
    """A drone of harmonic partials as steady as hum, but 2-3 % off 50/60 Hz (a bass note of
    49 Hz, 61.5 Hz, a 98 Hz synth): as coherent as hum, yet its phase advance shows it is not
    mains hum, so nothing is notched."""
    sr = 16000
    x = hum(sr, 4 * sr, f0, amp=0.2)
    p = DeHum()
    y = p(x, sr)
    assert p.detected_hz == 0.0
    assert np.array_equal(y, x)


def test_dehum_releases_when_hum_stops():
    """Hum for 3 s, then 6 s of speech alone: detected, then dropped (about a second to notice,
    3 s to be sure), so the later speech passes unchanged."""
    sr = 16000
    x = np.concatenate([speech("b", sr, 3.0), speech("a", sr, 3.0, start=0.2), speech("c", sr, 3.0)])
    h = hum(sr, 3 * sr, 50.0)
    mix = x.copy()
    mix[:h.size] += h
    p = DeHum()
    p.prepare(sr, 1, 160)
    det = []
    out = np.empty_like(mix)
    for i in range(0, mix.size, 160):
        out[i:i + 160] = p.process(mix[None, i:i + 160])[0]
        det.append(p.detected_hz)
    det = np.array(det)
    t = np.arange(det.size) * 160 / sr
    assert np.all(np.abs(det[(t > 1.5) & (t < 3.0)] - 50.0) < 0.3)   # found while it lasts
    assert np.all(det[t > 6.5] == 0.0)                                # released within 3.5 s
    tail = slice(int(7.6 * sr), None)           # + the fade (50 ms time constant, to 1e-9)
    assert np.array_equal(out[tail], mix[tail])


def test_dehum_holds_hum_under_music():
    """Hum under notes of music that come and go: once found it stays found (no release, no
    flapping), and it is removed."""
    sr = 16000
    x = np.concatenate([music(sr, 4.0, seed=s) for s in (1, 2, 3)])
    h = hum(sr, x.size, 50.3, amp=0.1)
    p = DeHum()
    p.prepare(sr, 1, 400)
    det = []
    out = np.empty_like(x)
    for i in range(0, x.size, 400):
        out[i:i + 400] = p.process((x + h)[None, i:i + 400])[0]
        det.append(p.detected_hz)
    det = np.array(det)
    t = np.arange(det.size) * 400 / sr
    assert np.all(np.abs(det[t > 2.0] - 50.3) < 0.2)
    st = 3 * sr
    assert si_sdr(x[st:], out[st:]) > si_sdr(x[st:], (x + h)[st:]) + 10.0


def test_dehum_harmonics_capped_below_nyquist():
    p = DeHum(freq_hz=400.0, harmonics=40)
    p.prepare(8000, 1, 64)
    assert p.notches == int(0.45 * 8000 / (400 * 1.01))
    p = DeHum(freq_hz=60.0, harmonics=12)
    p.prepare(48000, 1, 64)
    assert p.notches == 12
    p.set("harmonics", 3)
    p.process(np.zeros((1, 8), np.float32))
    assert p.notches == 3


def test_dehum_depth_limits_attenuation():
    """depth_db is the attenuation at the hum: 12 dB leaves a quarter of the hum amplitude."""
    sr = 16000
    h = hum(sr, 3 * sr, 50.0)
    y = DeHum(freq_hz=50.0, depth_db=12.0, track=False)(h, sr)
    ratio = energy_db(y[2 * sr:]) - energy_db(h[2 * sr:])
    assert ratio == pytest.approx(-12.0, abs=0.3)
    y0 = DeHum(freq_hz=50.0, depth_db=0.0)(h, sr)
    assert np.array_equal(y0, h)


# ----------------------------------------------------------------------------- DeClick
@pytest.mark.parametrize("material", ["speech", "music"])
@pytest.mark.parametrize("sr", RATES)
def test_declick_removes_clicks(sr, material):
    x = speech("a", sr, 2.0) if material == "speech" else music(sr, 2.0)
    xc, mask = add_clicks(x, sr, 30)
    p = DeClick()
    y = p(xc, sr)
    before = energy_db((xc - x)[mask])
    after = energy_db((y - x)[mask])
    assert before - after >= 20.0, f"click error down by {before - after:.1f} dB"
    assert 30 <= p.clicks_repaired <= 36
    # away from the clicks the signal is kept
    keep = ~np.convolve(mask, np.ones(2 * int(0.002 * sr) + 1), "same").astype(bool)
    assert energy_db((y - x)[keep]) - energy_db(x[keep]) < -35.0


def test_declick_stereo_channels_independent():
    sr = 44100
    x = speech("c", sr, 1.5)
    xc, mask = add_clicks(x, sr, 20)
    st = np.stack([xc, x])          # clicks only on the left
    y = DeClick()(st, sr)
    assert energy_db((xc - x)[mask]) - energy_db((y[0] - x)[mask]) >= 20.0
    assert energy_db(y[1] - x) - energy_db(x) < -35.0


def test_declick_clean_speech_almost_unchanged():
    for name in "abcde":
        x = speech(name, 48000, 2.0)
        p = DeClick()
        y = p(x, 48000)
        assert energy_db(y - x) - energy_db(x) < -30.0
        assert p.clicks_repaired <= 3


def test_declick_leaves_long_events_alone():
    """A 6 ms burst is not a click (max_click_ms 1.5): it is left as it is."""
    sr = 48000
    x = music(sr, 1.0)
    rng = np.random.default_rng(5)
    xb = x.copy()
    burst = slice(int(0.5 * sr), int(0.506 * sr))
    xb[burst] += 0.4 * rng.standard_normal(burst.stop - burst.start).astype(np.float32)
    p = DeClick()
    y = p(xb, sr)
    assert np.max(np.abs(y[burst] - xb[burst])) < 1e-6
    assert p.runs_skipped >= 1
    # with a longer limit part of it is treated (the parameter acts)
    p2 = DeClick(max_click_ms=4.0, threshold=4.0)
    p2(xb, sr)
    assert p2.clicks_repaired + p2.runs_skipped >= 1


def test_declick_threshold_sensitivity():
    """Small clicks over a noise floor: a low threshold finds them, a high one leaves them."""
    sr = 48000
    x = music(sr, 1.5)                       # has a -66 dBFS noise floor
    xc, mask = add_clicks(x, sr, 20, amp=(0.004, 0.012))
    lo = DeClick(threshold=4.0)
    hi = DeClick(threshold=30.0)
    ylo, yhi = lo(xc, sr), hi(xc, sr)
    assert lo.clicks_repaired >= 15 and hi.clicks_repaired <= 2
    assert energy_db((ylo - x)[mask]) < energy_db((yhi - x)[mask]) - 10.0


# ----------------------------------------------------------------------------- DeClip
@pytest.mark.parametrize("level", [0.3, 0.5])
@pytest.mark.parametrize("sr", [16000, 44100, 48000, 96000])
def test_declip_reconstructs_peaks(sr, level):
    x = speech("b", sr, 2.0)
    lv = level * np.max(np.abs(x))
    xc = np.clip(x, -lv, lv)
    p = DeClip(headroom_db=0.0)
    y = p(xc, sr)
    gain = energy_db(xc - x) - energy_db(y - x)
    print(f"declip sr={sr} clip at {level:.1f} of peak: error {gain:.1f} dB lower")
    assert gain >= 2.0
    assert p.runs_repaired > 50
    clipped = np.abs(xc) >= lv * (1 - 1e-6)
    # rebuilt samples lie beyond the rail, on the side of the clipped run
    assert np.all(np.abs(y[clipped]) >= lv * (1 - 1e-4))
    at_rail = np.abs(xc) >= lv * 10 ** (-DeClip().get("tolerance_db") / 20)
    assert np.all(np.sign(y[clipped]) == np.sign(xc[clipped]))
    assert np.max(np.abs(y)) > 1.3 * lv
    assert np.max(np.abs(y)) <= 4.0 * lv + 1e-6
    # samples below the rail's tolerance band are never touched
    np.testing.assert_allclose(y[~at_rail], xc[~at_rail], atol=1e-7)


def test_declip_music_and_stereo():
    sr = 48000
    x = two_ch(music(sr, 2.0), 2)
    lv = 0.5 * np.max(np.abs(x))
    xc = np.clip(x, -lv, lv)
    y = DeClip(headroom_db=0.0)(xc, sr)
    for ch in range(2):
        assert energy_db(xc[ch] - x[ch]) - energy_db(y[ch] - x[ch]) >= 3.0


def test_declip_manual_level_and_asymmetric_rails():
    sr = 44100
    x = speech("e", sr, 1.5)
    pk = np.max(np.abs(x))
    xc = np.clip(x, -0.8 * pk, 0.4 * pk)     # only the positive side really clips
    p = DeClip(headroom_db=0.0)
    y = p(xc, sr)
    lv = p.clip_levels[0]
    assert lv[0] == pytest.approx(0.4 * pk, rel=1e-4)
    assert energy_db(xc - x) - energy_db(y - x) >= 2.0
    # a manual level below the true rail: samples above it are taken as clipped runs too
    q = DeClip(clip_level=0.4 * pk, headroom_db=0.0)
    yq = q(xc, sr)
    assert q.runs_repaired >= p.runs_repaired
    assert np.all(np.isfinite(yq))


def test_declip_headroom_gain():
    sr = 48000
    x = speech("a", sr, 1.0)
    lv = 0.5 * np.max(np.abs(x))
    xc = np.clip(x, -lv, lv)
    y0 = DeClip(headroom_db=0.0)(xc, sr)
    y6 = DeClip(headroom_db=-6.0)(xc, sr)
    np.testing.assert_allclose(y6, y0 * 10 ** (-6 / 20), atol=1e-6)
    assert DeClip().get("headroom_db") == -3.0


def test_declip_long_runs_left_flat():
    """Runs longer than max_run_ms stay flat (a square wave is not clipping to repair)."""
    sr = 16000
    n = sr
    sq = np.where((np.arange(n) // 400) % 2 == 0, 0.5, -0.5).astype(np.float32)
    p = DeClip(headroom_db=0.0)
    y = p(sq, sr)
    np.testing.assert_allclose(y, sq, atol=1e-7)
    assert p.runs_repaired == 0 and p.runs_skipped > 0


# ----------------------------------------------------------------------------- robustness
@pytest.mark.parametrize("kind", ["dehum_auto", "dehum", "declick", "declip"])
def test_nan_inf_denormal_silence_full_scale(kind):
    sr = 48000

    def fresh():
        return DeHum() if kind == "dehum_auto" else make(kind)

    n = sr // 2
    rng = np.random.default_rng(9)
    # non-finite and denormal input
    x = workload("declick" if kind == "declick" else kind.split("_")[0], sr, 2, 0.5)
    x[0, 1000:1010] = np.nan
    x[1, 2000] = np.inf
    x[0, 3000] = -np.inf
    x[:, 5000:5100] = 1e-39
    p = fresh()
    y = stream(p, x, sr, 128)
    assert np.all(np.isfinite(y))
    assert p.nonfinite_in == 12 and p.nonfinite_out == 0
    # silence stays silence (no denormals creep out)
    p = fresh()
    y = stream(p, np.zeros((2, n), np.float32), sr, 128)
    assert np.all(y == 0.0)
    # full scale: a square-ish wave and full-scale noise stay finite and bounded
    for sig in (np.sign(np.sin(2 * np.pi * 50 * np.arange(n) / sr)),
                np.clip(rng.standard_normal(n), -1, 1)):
        z = np.tile(sig.astype(np.float32), (2, 1))
        p = fresh()
        y = stream(p, z, sr, 512)
        assert np.all(np.isfinite(y))
        assert np.max(np.abs(y)) <= 4.5


def test_reset_reproduces_output():
    sr = 44100
    for kind in ("dehum", "declick", "declip"):
        x = workload(kind, sr, 2, 0.4)
        p = make(kind)
        a = p(x, sr)
        b = p(x, sr)          # reset=True: state cleared, same result
        assert np.array_equal(a, b)
