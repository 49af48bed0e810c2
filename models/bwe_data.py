"""Training and development data for the bandwidth extender (numpy only; never reads tests/).

Full-band sources only (their long-term spectrum reaches >= 17 kHz at -50 dB, measured on this
machine), split by :mod:`aural.models.data`'s registry (reserved files and score/tune languages
never reach training):

- train speech: tuxpaint-stamps-default es fr ru ml sl sv lt en, klettres-data ar en it ml nds
  ru uk tn cs (44.1 kHz); train music: sonic-pi-samples (44.1 kHz).
- dev (held out of training; the registry's TUNE split, for choosing): speech tuxpaint bg nb
  de, klettres de pt; music ufoai-music.
- score (the registry's SCORE split, for publishing only): speech tuxpaint be da ro, klettres
  da he hu; music 0ad-data.

:func:`source_groups` keeps the files of each source apart, so a draw can pick the source
first: drawn file by file, one voice with 789 files (tuxpaint bg) made most of the dev speech.

A pair is (band-limited, full-band) at 48 kHz: a random cutoff (log-uniform 3.4-11 kHz), cut by
the project's zero-phase Butterworth (:func:`aural.models.degrade.bandlimit`, order 6-12) or by
polyphase resampling down to 2 x cutoff and back (a brickwall: telephone/codec-like).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import signal

from .data import load_audio, registry
from .degrade import bandlimit

__all__ = ["SR", "TRAIN", "DEV", "SCORE", "source_files", "source_groups", "cut",
           "draw_segment"]

SR = 48000
TRAIN = {"speech": tuple("tuxpaint-stamps-default/" + k
                         for k in ("es", "fr", "ru", "ml", "sl", "sv", "lt", "en")),
         "speech_k": tuple("klettres-data/" + k
                           for k in ("ar", "en", "it", "ml", "nds", "ru", "uk", "tn", "cs")),
         "music": ("sonic-pi-samples/music",)}
DEV = {"speech": ("tuxpaint-stamps-default/bg", "tuxpaint-stamps-default/nb",
                  "tuxpaint-stamps-default/de", "klettres-data/de", "klettres-data/pt"),
       "music": ("ufoai-music/music",)}
SCORE = {"speech": tuple("tuxpaint-stamps-default/" + k for k in ("be", "da", "ro"))
         + tuple("klettres-data/" + k for k in ("da", "he", "hu")),
         "music": ("0ad-data/music",)}
_TABLES = {"train": (TRAIN, "train"), "dev": (DEV, "tune"), "score": (SCORE, "score")}


def source_groups(split: str, kind: str) -> list[list[str]]:
    """The files of each full-band source of ``split`` ("train", "dev" = the registry's tune
    split, "score") and ``kind`` (speech/music), one sorted list per source present on this
    machine; checked against the registry's split so nothing held out can be trained on."""
    if split not in _TABLES:
        raise ValueError(f"split must be one of {sorted(_TABLES)}, not {split!r}")
    reg = registry()
    table, want = _TABLES[split]
    ids = [i for k, v in table.items() if k.startswith(kind) for i in v]
    out: list[list[str]] = []
    for i in ids:
        s = reg.get(i)
        if s is None:
            continue
        if s.split != want:
            raise RuntimeError(f"{i} is in split {s.split}, not {want}")
        if s.files:
            out.append(sorted(s.files))
    return out


def source_files(split: str, kind: str) -> list[str]:
    """All files of :func:`source_groups`, one sorted list."""
    return sorted(f for g in source_groups(split, kind) for f in g)


def cut(x: np.ndarray, cutoff_hz: float, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """Band-limit x (48 kHz) at cutoff_hz: Butterworth (zero phase, random order) or polyphase
    resampling through 2 x cutoff ("butter" / "resample"; random if kind is None)."""
    kind = kind or ("butter" if rng.random() < 0.5 else "resample")
    if kind == "butter":
        return bandlimit(x, SR, cutoff_hz, order=int(rng.integers(6, 13)))
    fs2 = int(round(2 * cutoff_hz / 100.0))  # in units of 100 Hz
    g = math.gcd(fs2, 480)
    y = signal.resample_poly(x, fs2 // g, 480 // g)
    y = signal.resample_poly(y, 480 // g, fs2 // g)[: len(x)]
    return np.pad(y, (0, len(x) - len(y))).astype(np.float32)


def draw_segment(files: list[str], seconds: float, rng: np.random.Generator,
                 min_rms: float = 1e-3, tries: int = 20) -> np.ndarray:
    """A random ``seconds`` long 48 kHz mono segment, concatenating short files, not silent."""
    n = int(seconds * SR)
    for _ in range(tries):
        parts, have = [], 0
        while have < n:
            a = load_audio(files[int(rng.integers(len(files)))], SR)
            if len(a) > n:
                s = int(rng.integers(0, len(a) - n))
                a = a[s:s + n]
            parts.append(a.astype(np.float32))
            have += len(a)
        x = np.concatenate(parts)[:n]
        if float(np.sqrt(np.mean(x * x))) > min_rms:
            return x
    return x
