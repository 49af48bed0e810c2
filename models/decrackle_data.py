"""Training examples for the learned de-crackle model (numpy only; never reads tests/).

Clean material (the registry's TRAIN split only; reserved files never reach it):

- speech: tuxpaint-stamps-default and klettres-data train voices (44.1 kHz, full band), the same
  groups as the bandwidth extender (:data:`aural.models.bwe_data.TRAIN`);
- music: sonic-pi-samples minus every clip that ``benchmarks/restoration_clicks.py`` scores or
  tunes on (:data:`BENCH_CLIPS`), plus synthetic plucked strings and sustained tones (a minority).

Each example is drawn at a random rate (16, 22.05, 32, 44.1 or 48 kHz) so one model serves them
all.  Degradations (the target is what was added, so the model learns to subtract it):

- dense crackle: 100-1500 small clicks per second (``dense_rate``), each 1 sample to 1 ms, peak
  30-4 dB under the signal's RMS (``dense_db``; both ranges are trainer options, session 25);
- sparse clicks: 1-30 per second, 0.05-3 ms, up to 15 dB over the signal's RMS;
- click shapes from one broad family (:func:`click`): a rise, an exponential decay, a ringing
  carrier between 1 kHz and 0.45 fs mixed with a plain pulse, optionally high-passed
  (200 Hz - 4 kHz): the benchmark's own generator is not used;
- a share of examples are left clean (the model must then output nothing), and a share carry a
  hiss floor that stays in the target too (hiss is not crackle).
"""
from __future__ import annotations

from math import gcd

import numpy as np
from scipy import signal

from .bwe_data import SR, TRAIN, draw_segment
from .data import registry

__all__ = ["RATES", "BENCH_CLIPS", "DENSE_DB", "DENSE_RATE", "music_files", "speech_groups",
           "click", "add_clicks", "make_example", "ExamplePool"]

RATES = (16000, 22050, 32000, 44100, 48000)
# every sonic-pi clip the click benchmark uses (tuning, held-out, clean hits, real vinyl crackle)
BENCH_CLIPS = frozenset({
    "loop_breakbeat", "loop_mehackit1", "loop_amen", "loop_electric", "loop_weirdo", "loop_perc2",
    "guit_e_slide", "drum_snare_hard", "drum_cymbal_closed", "drum_cymbal_pedal",
    "drum_tom_mid_hard", "bd_haus", "elec_tick", "perc_snap", "tabla_na", "vinyl_rewind",
    "vinyl_scratch", "vinyl_backspin", "vinyl_hiss"})


def speech_groups() -> list[list[str]]:
    """Train speech, one sorted file list per voice/language present on this machine."""
    reg = registry()
    out = []
    for key in ("speech", "speech_k"):
        for i in TRAIN[key]:
            s = reg.get(i)
            if s is not None and s.split == "train" and s.files:
                out.append(sorted(s.files))
    return out


def music_files() -> list[str]:
    """Train music (sonic-pi-samples) without the click benchmark's clips."""
    s = registry().get("sonic-pi-samples/music")
    if s is None or s.split != "train":
        return []
    return sorted(f for f in s.files if f.rsplit("/", 1)[-1].split(".")[0] not in BENCH_CLIPS)


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x
    g = gcd(SR, sr)
    return signal.resample_poly(x, sr // g, SR // g).astype(np.float32)


def synth_music(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Plucked strings (Karplus-Strong, random pitches and decay) or sustained tones with
    vibrato and harmonics: material with sharp onsets and with steady lines."""
    t = np.arange(n) / sr
    y = np.zeros(n)
    if rng.random() < 0.5:
        pos = 0
        while pos < n:
            f0 = 55.0 * 2 ** rng.uniform(0, 4)
            p = max(2, int(sr / f0))
            buf = rng.uniform(-1, 1, p)
            m = min(n - pos, int(rng.uniform(0.15, 0.8) * sr))
            out = np.empty(m)
            decay = rng.uniform(0.990, 0.999)
            for i in range(m):
                v = buf[i % p]
                out[i] = v
                buf[i % p] = decay * 0.5 * (v + buf[(i + 1) % p])
            y[pos:pos + m] += out
            pos += max(m // 2 + 1, int(m * rng.uniform(0.5, 1.0)))
    else:
        for _ in range(int(rng.integers(1, 4))):
            f0 = 80.0 * 2 ** rng.uniform(0, 4)
            vib = 1 + 0.005 * np.sin(2 * np.pi * rng.uniform(3, 7) * t)
            ph = 2 * np.pi * np.cumsum(f0 * vib) / sr
            for k in range(1, 12):
                if k * f0 < 0.45 * sr:
                    y += rng.uniform(0, 1) / k * np.sin(k * ph + rng.uniform(0, 6.28))
    return (y / (np.max(np.abs(y)) + 1e-9)).astype(np.float32)


def click(rng: np.random.Generator, sr: int, max_ms: float) -> np.ndarray:
    """One click of the broad training family (peak 1): 1 sample .. ``max_ms`` long."""
    m = max(1, int(round(np.exp(rng.uniform(np.log(0.5), np.log(max(0.6, max_ms * 1e-3 * sr)))))))
    if m == 1:
        return np.array([rng.choice((-1.0, 1.0))])
    t = np.arange(m) / sr
    rise = int(rng.uniform(0.0, 0.5) * m)
    decay = np.exp(-np.arange(m - rise) / max(0.5, rng.uniform(0.1, 1.0) * (m - rise)))
    env = np.concatenate([np.linspace(rng.uniform(0.0, 1.0), 1.0, rise), decay]) if rise else decay
    ring = np.cos(2 * np.pi * rng.uniform(1000.0, 0.45 * sr) * t + rng.uniform(0, 6.28))
    mix = rng.uniform(0.0, 1.0)
    w = env * (mix + (1.0 - mix) * ring)
    return w / (np.max(np.abs(w)) + 1e-12) * rng.choice((-1.0, 1.0))


def add_clicks(n: int, sr: int, rng: np.random.Generator, rate: float, level: float,
               db: tuple[float, float], max_ms: float) -> np.ndarray:
    """A click track: Poisson(rate) clicks per second, peak ``level`` x 10**(U(db)/20)."""
    y = np.zeros(n + int(0.01 * sr) + 2)
    for pos in rng.integers(0, n, rng.poisson(rate * n / sr)):
        w = click(rng, sr, max_ms) * level * 10 ** (rng.uniform(*db) / 20)
        y[pos:pos + w.size] += w
    y = y[:n]
    if rng.random() < 0.5:
        fc = np.exp(rng.uniform(np.log(200.0), np.log(4000.0)))
        sos = signal.butter(int(rng.integers(1, 3)), fc, "highpass", fs=sr, output="sos")
        y = signal.sosfilt(sos, y)
    return y.astype(np.float32)


DENSE_DB = (-30.0, -4.0)   # dense crackle peak, dB re the signal's RMS (sessions 23-24)
DENSE_RATE = (100.0, 1500.0)  # dense crackle, clicks per second


def make_example(clean: np.ndarray, sr: int, rng: np.random.Generator,
                 clean_share: float = 0.15, dense_db: tuple[float, float] = DENSE_DB,
                 dense_rate: tuple[float, float] = DENSE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(input, crackle) for one clean segment at ``sr``: input = target + crackle.
    ``dense_db``: the dense crackle's peak range in dB re the signal's RMS; ``dense_rate``: its
    range of clicks per second."""
    n = clean.size
    peak = 10 ** (rng.uniform(-20.0, -1.0) / 20)
    s = clean * np.float32(peak / (np.max(np.abs(clean)) + 1e-9)) * rng.choice((-1.0, 1.0))
    if rng.random() < 0.3:  # a hiss floor (white or pink) that is part of the target
        h = rng.standard_normal(n)
        if rng.random() < 0.5:
            h = signal.lfilter([0.049922, -0.095993, 0.050612, -0.004408],
                               [1, -2.494956, 2.017265, -0.522189], h)
        rms_s = float(np.sqrt(np.mean(s * s))) + 1e-9
        s = s + (h / (np.std(h) + 1e-9) * rms_s * 10 ** (-rng.uniform(20, 50) / 20)).astype(np.float32)
    c = np.zeros(n, np.float32)
    if rng.random() >= clean_share:
        rms = float(np.sqrt(np.mean(s * s))) + 1e-6
        kinds = rng.random(2) < (0.7, 0.5)
        if not kinds.any():
            kinds[0] = True
        if kinds[0]:  # dense crackle
            c += add_clicks(n, sr, rng, rng.uniform(*dense_rate), rms, dense_db, 1.0)
        if kinds[1]:  # sparse clicks
            c += add_clicks(n, sr, rng, rng.uniform(1, 30), rms, (-15.0, 15.0), 3.0)
    return (s + c).astype(np.float32), c


class ExamplePool:
    """Clean segments drawn once (48 kHz mono, ``seconds`` long), resampled per example."""

    def __init__(self, count: int, seconds: float, seed: int, music_share: float = 0.5,
                 synth_share: float = 0.15, progress: bool = True,
                 dense_db: tuple[float, float] = DENSE_DB,
                 dense_rate: tuple[float, float] = DENSE_RATE) -> None:
        rng = np.random.default_rng(seed)
        self.dense_db, self.dense_rate = tuple(dense_db), tuple(dense_rate)
        sp, mu = speech_groups(), music_files()
        self.segments: list[np.ndarray] = []
        n = int(seconds * SR)
        for i in range(count):
            r = rng.random()
            if r < synth_share or (not mu and r < music_share):
                x = synth_music(n, SR, rng)
            elif r < music_share and mu:
                x = draw_segment(mu, seconds, rng)
            else:
                x = draw_segment(sp[int(rng.integers(len(sp)))], seconds, rng)
            self.segments.append(x.astype(np.float32))
            if progress and i % 100 == 0:
                print(f"pool {i}/{count}", flush=True)

    def batch(self, rng: np.random.Generator, size: int, samples: int
              ) -> tuple[np.ndarray, np.ndarray, int]:
        """(inputs (size, samples), crackle (size, samples), rate) at one random rate."""
        sr = int(rng.choice(RATES))
        xs, cs = [], []
        for _ in range(size):
            seg = _resample(self.segments[int(rng.integers(len(self.segments)))], sr)
            if seg.size <= samples:
                seg = np.pad(seg, (0, samples + 1 - seg.size))
            st = int(rng.integers(0, seg.size - samples))
            x, c = make_example(seg[st:st + samples], sr, rng, dense_db=self.dense_db,
                                dense_rate=self.dense_rate)
            xs.append(x)
            cs.append(c)
        return np.stack(xs), np.stack(cs), sr
