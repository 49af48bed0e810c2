"""Programme loudness after ITU-R BS.1770-4 (LUFS / LKFS), and offline loudness normalisation.

``integrated_loudness(x, sample_rate)``:

1. K-weighting per channel: the spec's high-shelf pre-filter (+4 dB above ~1.7 kHz) and RLB
   high-pass (~38 Hz).  BS.1770 tabulates the coefficients at 48 kHz only; at other rates the same
   analog-matched designs are recomputed (the formulas libebur128 uses), which reproduce the
   48 kHz table to ~1e-14.
2. Mean square per channel over 400 ms gating blocks with 75 % overlap (100 ms step).
3. Block loudness ``-0.691 + 10 log10(sum_i G_i z_ij)`` with channel weights G (1.0 for L, R, C;
   1.41 for the surrounds; 0 for LFE).
4. Absolute gate at -70 LUFS, then a relative gate 10 LU below the loudness of the blocks that
   passed the absolute gate; the integrated loudness is that of the blocks passing both.

Calibration (from the spec): a 0 dBFS 1 kHz sine in one front channel reads -3.01 LKFS, so the
same sine on both channels of a stereo signal reads 0.0 LUFS (EBU Tech 3341 case 1: a stereo
1 kHz sine at -23 dBFS reads -23.0 LUFS).  Signals shorter than one block, or silent, give -inf.

``normalize_loudness(x, sample_rate, target_lufs=-16, peak_dbfs=-1)`` returns the signal scaled to
the target and never lets a sample peak exceed ``peak_dbfs`` (see its docstring).

These are offline (whole-signal) functions: they allocate and use scipy freely.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.signal as ss

__all__ = ["integrated_loudness", "normalize_loudness", "k_weighting_sos", "block_loudness"]

BLOCK_S = 0.400
STEP_S = 0.100
ABS_GATE = -70.0
REL_GATE = -10.0
OFFSET = -0.691


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """The two K-weighting biquads (pre-filter shelf, RLB high-pass) as scipy sos (2, 6)."""
    fs = float(sample_rate)
    # stage 1: high shelf
    f0 = 1681.974450955533
    g = 3.999843853973347
    q = 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10.0 ** (g / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    s1 = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
          1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    # stage 2: RLB high-pass
    f0 = 38.13547087602444
    q = 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    a0 = 1.0 + k / q + k * k
    s2 = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([s1, s2], dtype=np.float64)


def _channels_first(x: np.ndarray) -> tuple[np.ndarray, str]:
    a = np.asarray(x)
    if a.ndim == 1:
        return a[np.newaxis, :].astype(np.float64), "1d"
    if a.ndim != 2:
        raise ValueError(f"audio must be 1-D or 2-D, got shape {a.shape}")
    if a.shape[0] > a.shape[1]:  # (frames, channels), pedalboard's rule
        return a.T.astype(np.float64), "cl"
    return a.astype(np.float64), "cf"


def _weights(channels: int, channel_weights) -> np.ndarray:
    if channel_weights is not None:
        w = np.asarray(channel_weights, dtype=np.float64)
        if w.shape != (channels,):
            raise ValueError(f"channel_weights needs {channels} values, got {w.shape}")
        return w
    if channels == 5:  # L R C Ls Rs
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41])
    if channels == 6:  # 5.1: L R C LFE Ls Rs
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    return np.ones(channels)


def block_loudness(x: np.ndarray, sample_rate: float, channel_weights=None) -> np.ndarray:
    """Loudness (LUFS) of every 400 ms gating block (75 % overlap), before gating."""
    a, _ = _channels_first(x)
    a = np.where(np.isfinite(a), a, 0.0)
    fs = float(sample_rate)
    w = _weights(a.shape[0], channel_weights)
    n = a.shape[1]
    if n < int(round(BLOCK_S * fs)):
        return np.zeros(0)
    y = ss.sosfilt(k_weighting_sos(fs), a, axis=-1)
    blk = int(round(BLOCK_S * fs))
    step = int(round(STEP_S * fs))
    nb = (n - blk) // step + 1
    cs = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(y * y, axis=-1)], axis=-1)
    starts = np.arange(nb) * step
    z = (cs[:, starts + blk] - cs[:, starts]) / blk  # (channels, blocks) mean squares
    p = np.maximum(w @ np.maximum(z, 0.0), 0.0)
    with np.errstate(divide="ignore"):
        return OFFSET + 10.0 * np.log10(p)


def integrated_loudness(x: np.ndarray, sample_rate: float, channel_weights=None) -> float:
    """Gated integrated loudness of a whole signal in LUFS (BS.1770-4).

    x: 1-D, (channels, frames) or (frames, channels) (a 2-D array whose first dimension is the
    larger is read as channels-last).  channel_weights: per-channel G (default 1.0; 5 channels
    L R C Ls Rs and 6 channels L R C LFE Ls Rs get the spec's weights).  Returns -inf for
    silence or a signal shorter than 400 ms."""
    lj = block_loudness(x, sample_rate, channel_weights)
    if lj.size == 0:
        return float("-inf")
    # mean of the weighted block powers = power of the mean (the spec averages z per channel)
    pj = 10.0 ** ((lj - OFFSET) / 10.0)
    gate = lj > ABS_GATE
    if not gate.any():
        return float("-inf")
    rel = OFFSET + 10.0 * math.log10(pj[gate].mean()) + REL_GATE
    gate &= lj > rel
    if not gate.any():
        return float("-inf")
    return float(OFFSET + 10.0 * math.log10(pj[gate].mean()))


def normalize_loudness(x: np.ndarray, sample_rate: float, target_lufs: float = -16.0,
                       peak_dbfs: float = -1.0, limit: bool = False) -> tuple[np.ndarray, float]:
    """Scale x to ``target_lufs`` integrated loudness without any sample peak above ``peak_dbfs``.

    Returns ``(y, gain_db)`` with y in x's layout and dtype (float32 for integer input).

    limit=False (default): one static gain.  If reaching the target would push the sample peak
    over ``peak_dbfs``, the gain is lowered until the peak sits at ``peak_dbfs`` (the result is
    then quieter than the target; ``gain_db`` says by how much was applied).
    limit=True: the full gain is applied and the peaks are caught by the look-ahead
    :class:`~aural.engine.processors.Limiter` (ceiling ``peak_dbfs``, 5 ms look-ahead, 100 ms
    release); the gain is searched so the *limited* signal lands on the target (within 0.02 LU
    when reachable); ``gain_db`` is the static gain before the limiter.

    Silent or too-short input comes back unchanged with gain 0 dB."""
    a = np.asarray(x)
    out_dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float32
    src = np.where(np.isfinite(a), a, 0.0).astype(np.float64)
    lufs = integrated_loudness(src, sample_rate)
    if not math.isfinite(lufs):
        return src.astype(out_dtype), 0.0
    gain_db = float(target_lufs) - lufs
    peak = float(np.max(np.abs(src))) if src.size else 0.0
    ceiling = 10.0 ** (peak_dbfs / 20.0)
    if not limit:
        if peak > 0.0:
            gain_db = min(gain_db, 20.0 * math.log10(ceiling / peak))
        # largest value of the output type that is still <= the ceiling, so rounding to the
        # output type cannot cross it
        top = np.asarray(ceiling, dtype=out_dtype)
        if float(top) > ceiling:
            top = np.nextafter(top, np.asarray(0, dtype=out_dtype))
        y = np.clip(src * 10.0 ** (gain_db / 20.0), -float(top), float(top)).astype(out_dtype)
        return y, gain_db

    from .processors.dynamics import Limiter

    def limited(g_db: float) -> np.ndarray:
        lim = Limiter(ceiling_db=peak_dbfs, lookahead_ms=5.0, release_ms=100.0)
        return lim((src * 10.0 ** (g_db / 20.0)).astype(np.float32), sample_rate).astype(np.float64)

    # limiting lowers the loudness: search the static gain (secant steps on a monotonic curve)
    y = limited(gain_db)
    err = integrated_loudness(y, sample_rate) - target_lufs
    g_prev, e_prev = None, None
    for _ in range(12):
        if not math.isfinite(err) or abs(err) <= 0.02:
            break
        if g_prev is None or err == e_prev:
            step = -err
        else:
            step = -err * (gain_db - g_prev) / (err - e_prev)
        step = max(-12.0, min(12.0, step))
        g_prev, e_prev = gain_db, err
        gain_db += step
        y = limited(gain_db)
        err = integrated_loudness(y, sample_rate) - target_lufs
    return y.astype(out_dtype), gain_db
