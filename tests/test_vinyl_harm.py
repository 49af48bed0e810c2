"""The ``vinyl`` preset's Wiener and Rumble nodes do no harm to clean material (issue 22).

Physical facts, on synthetic signals at 48 kHz:

- a sustained, bright organ chord with slow vibrato (steady partials up into the top band, as
  a drone's or an organ's mixture stops put there, over a faint room floor 45 dB down) and a
  soft, dark string pad pass the preset's Wiener with SI-SDR >= 30 dB and a level change under
  0.5 dB: a steady partial or a broadband sustain is no hiss floor;
- the same with white hiss at 20 dB SNR: the hiss gate opens and the error above 6 kHz (hiss
  left plus any harm to the top partials) is at least 4 dB under the hiss there;
- speech-like syllables with plosives (low-frequency bursts, 30-80 ms) and a DC offset do not
  engage Rumble: its output is the input, exactly delayed; persistent sub-20 Hz rumble (filtered
  noise) under the same syllables does, and goes down by at least 10 dB below 30 Hz.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from aural.engine.processors import Rumble, Wiener
from scipy.signal import butter, sosfilt, sosfiltfilt

SR = 48000
PRESET = Path(__file__).resolve().parent.parent / "engine" / "presets" / "vinyl.json"


def _node_params(kind: str) -> dict:
    nodes = json.loads(PRESET.read_text())["nodes"]
    return next(n["params"] for n in nodes if n["type"] == kind)


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR (dB) over all channels; no mean removal (a lost DC counts)."""
    ref = ref.astype(np.float64).ravel()
    est = est.astype(np.float64).ravel()
    a = np.dot(est, ref) / np.dot(ref, ref)
    e = est - a * ref
    return float(10 * np.log10(np.dot(a * ref, a * ref) / (np.dot(e, e) + 1e-30)))


def db(v: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(v, dtype=np.float64)) + 1e-30))


def organ(seconds: float, seed: int = 0) -> np.ndarray:
    """A bright organ chord (C-E-G-C, 16 partials each, rolling off 3 dB/octave, up to ~17 kHz)
    with a slow vibrato (0.4 Hz, +-8 cents), 0.3 s attack, over room air 45 dB down; stereo,
    peak -6 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    vib = 2 ** (8 / 1200 * np.sin(2 * np.pi * 0.4 * t))
    y = np.zeros(n)
    for f0 in (261.63, 329.63, 392.0, 523.25):
        ph = 2 * np.pi * f0 * np.cumsum(vib) / SR
        for h in range(1, 17):
            if h * f0 > 0.4 * SR:
                break
            y += np.sin(h * ph + rng.uniform(0, 2 * np.pi)) / np.sqrt(h)
    y *= np.clip(t / 0.3, 0, 1)
    y /= np.max(np.abs(y))
    air = rng.standard_normal((2, n)) * np.sqrt(np.mean(y * y)) * 10 ** (-45 / 20)
    return (0.5 * (y + air)).astype(np.float32)


def pad(seconds: float, seed: int = 1) -> np.ndarray:
    """A soft string pad: A minor, 5 detuned saw voices per note (+-10 cents), lowpassed at
    3 kHz, slow attack; stereo (voices split), peak -30 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = np.zeros((2, n))
    for semis in (0, 3, 7, 12):
        for i, d in enumerate(np.linspace(-10, 10, 5)):
            f0 = 220.0 * 2 ** ((semis + d / 100) / 12)
            for h in range(1, 40):
                if h * f0 > 0.4 * SR:
                    break
                y[i % 2] += np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)) / h
    y = sosfilt(butter(2, 3000.0, "lowpass", fs=SR, output="sos"), y, axis=-1)
    y *= np.clip(t / 0.8, 0, 1)
    return (10 ** (-30 / 20) * y / np.max(np.abs(y))).astype(np.float32)


def top(x: np.ndarray) -> np.ndarray:
    return sosfilt(butter(6, 6000.0, "highpass", fs=SR, output="sos"), x, axis=-1)


@pytest.mark.parametrize("make", [organ, pad], ids=["organ", "pad"])
def test_vinyl_wiener_keeps_sustained_material(make):
    x = make(5.0)
    p = Wiener(**_node_params("Wiener"))
    y = p(x, SR)
    s = si_sdr(x, y)
    change = db(y) - db(x)
    assert s >= 30.0, f"SI-SDR {s:.1f} dB"
    assert abs(change) < 0.5, f"level change {change:.2f} dB"
    assert p.hiss_presence < 0.1


@pytest.mark.parametrize("make", [organ, pad], ids=["organ", "pad"])
def test_vinyl_wiener_still_removes_hiss(make):
    x = make(5.0)
    rng = np.random.default_rng(7)
    h = (rng.standard_normal(x.shape) * np.sqrt(np.mean(np.square(x, dtype=np.float64)))
         * 0.1).astype(np.float32)  # 20 dB SNR
    noisy = x + h
    p = Wiener(**_node_params("Wiener"))
    y = p(noisy, SR)
    st = 2 * SR
    # what is left of the hiss above 6 kHz (the error against the clean signal, which holds
    # any harm done to the organ's top partials too) against the hiss there
    cut = db(top(h)[:, st:]) - db(top(y - x)[:, st:])
    assert p.hiss_presence > 0.9
    assert cut >= 4.0, f"hiss above 6 kHz down {cut:.1f} dB"


def syllables(seconds: float, seed: int = 3) -> np.ndarray:
    """Speech-like material: voiced syllables (a 110-140 Hz buzz through two formants, 150-300
    ms, gaps of 50-400 ms), each opened by a plosive: a low-frequency burst (noise below 60 Hz
    and a 20-40 Hz thump, 30-80 ms, 10 dB under the syllable); plus a DC offset of 5 % of the
    peak; mono, peak about -6 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = np.zeros(n)
    pos = int(0.1 * SR)
    lo = butter(4, 60.0, "lowpass", fs=SR, output="sos")
    while pos < n:
        m = int(rng.uniform(0.15, 0.3) * SR)
        t = np.arange(m) / SR
        f0 = rng.uniform(110, 140)
        buzz = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 30))
        for fc in (rng.uniform(400, 800), rng.uniform(1200, 2400)):
            b = butter(2, [fc / 1.3, fc * 1.3], "bandpass", fs=SR, output="sos")
            buzz = buzz + 2.0 * sosfilt(b, buzz)
        syl = buzz * np.sin(np.pi * t / t[-1]) ** 2
        k = int(rng.uniform(0.03, 0.08) * SR)
        tk = np.arange(k) / SR
        burst = sosfilt(lo, rng.standard_normal(k)) + np.sin(2 * np.pi * rng.uniform(20, 40) * tk)
        burst *= np.hanning(k)
        burst *= np.sqrt(0.1 * np.mean(syl * syl) / np.mean(burst * burst))
        seg = np.concatenate([burst, syl])
        e = min(n, pos + seg.size)
        y[pos:e] += seg[:e - pos]
        pos = e + int(rng.uniform(0.05, 0.4) * SR)
    y = 0.5 * y / np.max(np.abs(y))
    return (y + 0.025)[None].astype(np.float32)


def turntable_rumble(n: int, rms: float, seed: int = 5) -> np.ndarray:
    """Persistent rumble: Gaussian noise lowpassed at 15 Hz (4th order), highpassed at 3 Hz."""
    r = np.random.default_rng(seed).standard_normal(n)
    r = sosfilt(butter(4, 15.0, "lowpass", fs=SR, output="sos"), r)
    r = sosfilt(butter(2, 3.0, "highpass", fs=SR, output="sos"), r)
    return (rms * r / np.sqrt(np.mean(r * r)))[None].astype(np.float32)


def _run_watch(p: Rumble, x: np.ndarray, block: int = 4800) -> tuple[np.ndarray, list[bool]]:
    """Stream x through p; the output latency-compensated, and p.engaged after every block."""
    p.prepare(SR, x.shape[0], block)
    y = np.zeros_like(x)
    seen = []
    for i in range(0, x.shape[1], block):
        b = np.ascontiguousarray(x[:, i:i + block])
        p.process(b, out=y[:, i:i + b.shape[1]])
        seen.append(p.engaged)
    lat = p.latency_samples
    return y[:, lat:], seen


def test_rumble_ignores_plosives_and_dc():
    x = syllables(8.0)
    p = Rumble(**_node_params("Rumble"))
    y, seen = _run_watch(p, x)
    assert not any(seen), f"engaged in {sum(seen)} of {len(seen)} blocks"
    np.testing.assert_array_equal(y, x[:, :y.shape[1]])  # the input, exactly delayed


def test_rumble_removes_persistent_subsonic_rumble():
    x = syllables(8.0)
    r = turntable_rumble(x.shape[1], float(np.sqrt(np.mean(np.square(x - 0.025)))) * 10 ** (-20 / 20))
    p = Rumble(**_node_params("Rumble"))
    y, seen = _run_watch(p, x + r)
    assert all(seen[-20:]), "rumble not detected"
    n = y.shape[1]
    st = 3 * SR  # engaged from ~2 s on, the 200 ms glide long done
    # engaged, the filter is linear and time-invariant: the rumble left is the output less the
    # filtered syllables (the filter always on), which takes their own sub band (the plosives'
    # thumps, the DC offset) out of the count
    hx = Rumble(**dict(_node_params("Rumble"), detect=False))(x, SR)[:, :n]
    sub = butter(6, 30.0, "lowpass", fs=SR, output="sos")
    left = sosfiltfilt(sub, (y - hx).astype(np.float64), axis=-1)[:, st:]
    cut = db(sosfiltfilt(sub, r[:, :n].astype(np.float64), axis=-1)[:, st:]) - db(left)
    assert cut >= 10.0, f"rumble below 30 Hz down {cut:.1f} dB"
