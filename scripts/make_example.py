#!/usr/bin/env python3
"""Build the bundled example: aural/examples/speech_noisy.flac and speech_clean.flac.

Recipe (deterministic, seed 2024):

1. Clean speech: a Czech dialogue line of the game "Fish Fillets NG" from the Debian package
   fillets-ng-data-cs (GPL-2), /usr/share/games/fillets-ng/sound/cannons/cs/del-v-dve.ogg
   (22.05 kHz mono Ogg Vorbis, 10.7 s; listed neither in shared/data/RESERVED.txt nor in
   tests/data).  Resampled to 48 kHz (scipy resample_poly 320/147) and scaled to -6 dBFS peak.
2. Room noise: synthetic, stationary: pink noise (1/f, the hiss and air of a room) plus brown
   noise below ~200 Hz (a fan / traffic rumble), -44 dBFS RMS together.
3. Mains hum: 50 Hz with harmonics 100-350 Hz (amplitudes 1, 0.6, 0.45, 0.25, 0.15, 0.1, 0.05 of
   -36 dBFS), frequency drifting +-0.05 Hz, as a ground loop on a mic cable sounds.
4. Clicks: 14 impulsive clicks (a 1-4 sample spike with a 0.3 ms decaying ring, 0.2-0.6 peak,
   random sign) at random places, as from a bad cable or a mouse click picked up by the mic.

The noisy file is clean + noise + hum + clicks, written as 16-bit FLAC; the clean file is the
reference for before/after SI-SDR.  Needs: apt-get install fillets-ng-data-cs.

    python scripts/make_example.py            # rewrite both files
"""
from __future__ import annotations

import os
import sys

import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt

SOURCE = "/usr/share/games/fillets-ng/sound/cannons/cs/del-v-dve.ogg"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "aural", "examples")
SR = 48000
SEED = 2024


def db(x: float) -> float:
    return 10.0 ** (x / 20.0)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(x * x))


def brown_low(n: int, rng: np.random.Generator) -> np.ndarray:
    x = np.cumsum(rng.standard_normal(n))
    x = sosfilt(butter(2, [20.0, 200.0], "bandpass", fs=SR, output="sos"), x)
    return x / np.sqrt(np.mean(x * x))


def make() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    src, sr = sf.read(SOURCE, dtype="float64")
    if src.ndim > 1:
        src = src.mean(axis=1)
    assert sr == 22050, sr
    clean = resample_poly(src, 320, 147)
    clean *= db(-6.0) / np.max(np.abs(clean))
    n = clean.size
    t = np.arange(n) / SR

    noise = 0.8 * pink(n, rng) + 0.6 * brown_low(n, rng)
    noise *= db(-44.0) / np.sqrt(np.mean(noise * noise))

    drift = 0.05 * np.sin(2 * np.pi * 0.07 * t)
    phase = 2 * np.pi * np.cumsum(50.0 + drift) / SR
    hum = np.zeros(n)
    for k, a in enumerate((1.0, 0.6, 0.45, 0.25, 0.15, 0.1, 0.05), start=1):
        hum += a * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    hum *= db(-36.0)

    clicks = np.zeros(n)
    ring = np.exp(-np.arange(int(0.0003 * SR)) / (0.00008 * SR))
    for pos in np.sort(rng.choice(np.arange(SR // 4, n - SR // 4), 14, replace=False)):
        width = int(rng.integers(1, 5))
        amp = rng.uniform(0.2, 0.6) * rng.choice((-1.0, 1.0))
        clicks[pos:pos + width] += amp
        clicks[pos + width:pos + width + ring.size] += -0.5 * amp * ring * np.cos(
            np.arange(ring.size) * 2 * np.pi * 3000 / SR)

    noisy = clean + noise + hum + clicks
    return clean.astype(np.float32), noisy.astype(np.float32)


def main() -> int:
    if not os.path.exists(SOURCE):
        print(f"{SOURCE} is missing: apt-get install fillets-ng-data-cs", file=sys.stderr)
        return 1
    clean, noisy = make()
    os.makedirs(OUT, exist_ok=True)
    sf.write(os.path.join(OUT, "speech_clean.flac"), clean, SR, subtype="PCM_16")
    sf.write(os.path.join(OUT, "speech_noisy.flac"), noisy, SR, subtype="PCM_16")
    for name in ("speech_noisy.flac", "speech_clean.flac"):
        p = os.path.join(OUT, name)
        print(f"{p}: {os.path.getsize(p) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
