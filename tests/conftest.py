"""Shared fixtures: the bundled example, test speech at any rate, files of every kind."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "aural" / "examples"


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def speech(sample_rate: int, seconds: float, clip: str = "a", offset_s: float = 0.5) -> np.ndarray:
    """Real speech from tests/data (22.05 kHz) resampled to ``sample_rate``, float32 1-D."""
    x, sr = sf.read(DATA / f"speech_{clip}.flac", dtype="float64")
    x = x[int(offset_s * sr): int((offset_s + seconds) * sr) + 64]
    if sample_rate != sr:
        g = np.gcd(int(sample_rate), int(sr))
        x = resample_poly(x, sample_rate // g, sr // g)
    return x[: int(round(seconds * sample_rate))].astype(np.float32)


def degraded(sample_rate: int, seconds: float, channels: int = 1, seed: int = 0,
             clip: str = "a") -> np.ndarray:
    """Speech + white/pink-ish noise + 50 Hz hum + a few clicks + one clipped burst,
    (channels, frames) float32: every processor of the shipped presets has work to do."""
    rng = np.random.default_rng(seed)
    s = speech(sample_rate, seconds, clip)
    n = s.size
    t = np.arange(n) / sample_rate
    out = np.empty((channels, n), np.float32)
    for c in range(channels):
        x = s * (1.0 - 0.2 * c) * 0.8
        x = x + 0.01 * rng.standard_normal(n)
        x = x + 0.01 * np.sin(2 * np.pi * 50 * t) + 0.005 * np.sin(2 * np.pi * 150 * t)
        for pos in rng.integers(n // 10, n - n // 10, 4):
            x[pos] += rng.choice((-0.5, 0.5))
        out[c] = np.clip(x * 1.6, -0.7, 0.7)  # some peaks clipped
    return out


def music(sample_rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Synthetic plucked-string music, stereo (2, frames) float32 near -12 dBFS peak: notes of an
    A-minor scale, 4 a second, each a decaying harmonic series, panned; a bass note every bar."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    out = np.zeros((2, n))
    scale = 220.0 * 2 ** (np.array([0, 2, 3, 5, 7, 8, 10, 12, 14, 15]) / 12)
    step = int(0.25 * sample_rate)
    for i, start in enumerate(range(0, n, step)):
        for f0, amp, dur in ((rng.choice(scale), 0.25, 0.8), ) + (
                ((scale[0] / 2, 0.3, 1.6),) if i % 4 == 0 else ()):
            m = min(int(dur * sample_rate), n - start)
            t = np.arange(m) / sample_rate
            note = sum((0.7 ** k) * np.sin(2 * np.pi * f0 * k * t) * np.exp(-t * (2.5 + k))
                       for k in range(1, 7) if f0 * k < 0.45 * sample_rate)
            note *= np.minimum(1.0, t / 0.003)
            pan = rng.uniform(0.2, 0.8)
            out[0, start:start + m] += amp * (1 - pan) * note
            out[1, start:start + m] += amp * pan * note
    out *= 0.25 / np.max(np.abs(out))
    return out.astype(np.float32)


@pytest.fixture(scope="session")
def example() -> dict[str, Path]:
    """Paths of the bundled example (noisy) and its clean reference."""
    return {"noisy": EXAMPLES / "speech_noisy.flac", "clean": EXAMPLES / "speech_clean.flac"}


# ---------------------------------------------------------------------------- no silent skips
# scripts/test.sh (the README's test command, run by CI) installs everything first and sets
# AURAL_NO_SKIPS=1: a skipped test there means a missing set-up step hid a feature, so the run
# fails and names it.  Run pytest directly (without it) to allow skips on a partial machine.
_SKIPPED: list[str] = []


def _note_skip(report) -> None:
    if report.skipped and os.environ.get("AURAL_NO_SKIPS") == "1":
        _SKIPPED.append(report.nodeid or str(getattr(report, "fspath", "?")))


def pytest_runtest_logreport(report):
    _note_skip(report)


def pytest_collectreport(report):
    _note_skip(report)


def pytest_sessionfinish(session, exitstatus):
    if _SKIPPED:
        print(f"\nAURAL_NO_SKIPS=1: {len(_SKIPPED)} test(s) skipped, which the set-up should have "
              f"made runnable: {', '.join(_SKIPPED[:10])}")
        session.exitstatus = 1
