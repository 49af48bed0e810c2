"""Perceptual quality measures and one call that gives every figure of a (clean, estimate) pair.

- :func:`pesq_wb`: wide-band PESQ (ITU-T P.862.2, MOS-LQO 1.04..4.64) through the PyPI ``pesq``
  package (the ITU reference C code).  The signals are resampled to 16 kHz first (P.862.2 is
  defined at 16 kHz only).
- :func:`stoi`: short-time objective intelligibility (Taal et al. 2011, 0..1) through PyPI
  ``pystoi`` (resamples to 10 kHz itself); ``extended=True`` gives ESTOI.
- :func:`score`: SNR, PSNR, NRMSE, SI-SDR, LSD (from :mod:`aural.engine.metrics`), PESQ-wb and
  STOI in one dict.

PESQ and STOI are speech measures: on music they are computed but mean little.  Multichannel
input (``(channels, frames)``) is scored per channel and averaged.  A measure that cannot be
computed (no speech found by PESQ, a signal shorter than STOI's 30 frames, the package missing)
is ``nan``, never an exception, so a long evaluation keeps going.

Install: ``pip install pesq pystoi`` (the ``quality`` extra).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .metrics import _pair, log_spectral_distance, nrmse, psnr, si_sdr, snr_db

__all__ = ["METRICS", "HIGHER_IS_BETTER", "pesq_wb", "score", "stoi"]

#: the keys of :func:`score`'s dict, in table order
METRICS = ("snr", "psnr", "nrmse", "si_sdr", "lsd", "pesq", "stoi")
#: direction of each measure (LSD and NRMSE are distances)
HIGHER_IS_BETTER = {"snr": True, "psnr": True, "nrmse": False, "si_sdr": True, "lsd": False,
                    "pesq": True, "stoi": True}

PESQ_RATE = 16000


def _resample(x: np.ndarray, sr: int, to: int) -> np.ndarray:
    if int(sr) == to:
        return x
    from scipy.signal import resample_poly
    g = math.gcd(int(sr), to)
    return resample_poly(x, to // g, int(sr) // g, axis=-1)


def pesq_wb(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> float:
    """Wide-band PESQ (MOS-LQO) of ``est`` against ``ref``; nan when it cannot be computed."""
    try:
        from pesq import pesq as _pesq
    except ImportError:  # pragma: no cover - the quality extra is missing
        return float("nan")
    r, e = _pair(ref, est)
    r = _resample(r, sample_rate, PESQ_RATE)
    e = _resample(e, sample_rate, PESQ_RATE)
    vals = []
    for rc, ec in zip(r, e):
        if not (np.all(np.isfinite(rc)) and np.all(np.isfinite(ec))) or not np.any(rc):
            return float("nan")
        try:
            vals.append(float(_pesq(PESQ_RATE, rc, ec, "wb")))
        except Exception:  # NoUtterancesError, buffer too short, ...
            return float("nan")
    return float(np.mean(vals))


def stoi(ref: np.ndarray, est: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """STOI (or ESTOI with ``extended``) of ``est`` against ``ref``, 0..1; nan when it cannot
    be computed (too short, no speech-level frames)."""
    try:
        from pystoi import stoi as _stoi
    except ImportError:  # pragma: no cover
        return float("nan")
    r, e = _pair(ref, est)
    vals = []
    for rc, ec in zip(r, e):
        if not (np.all(np.isfinite(rc)) and np.all(np.isfinite(ec))):
            return float("nan")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Not enough STFT frames" -> returns 1e-5
            try:
                v = float(_stoi(rc, ec, int(sample_rate), extended=extended))
            except Exception:
                return float("nan")
        vals.append(v)
    v = float(np.mean(vals))
    return v if v > 1e-4 else float("nan")  # pystoi's "too short" value


def score(clean: np.ndarray, est: np.ndarray, sr: int, perceptual: bool = True) -> dict[str, float]:
    """Every figure of ``est`` against ``clean`` (same shape, same rate ``sr``).

    Keys: ``snr``, ``psnr``, ``nrmse``, ``si_sdr``, ``lsd`` (dB; LSD with a ~43 ms window at any
    rate), ``pesq`` (wide-band MOS-LQO), ``stoi``.  ``perceptual=False`` skips PESQ and STOI
    (nan), which are the slow ones."""
    r, e = _pair(clean, est)
    n_fft = 1 << max(8, int(round(math.log2(0.0427 * sr))))  # 2048 at 48 kHz, 512 at 11-12 kHz
    out = {
        "snr": snr_db(r, e),
        "psnr": psnr(r, e),
        "nrmse": nrmse(r, e),
        "si_sdr": si_sdr(r, e),
        "lsd": log_spectral_distance(r, e, n_fft=n_fft),
        "pesq": pesq_wb(r, e, sr) if perceptual else float("nan"),
        "stoi": stoi(r, e, sr) if perceptual else float("nan"),
    }
    return {k: float(v) for k, v in out.items()}
