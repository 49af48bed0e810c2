"""Spectrogram inpainting: a small Res-U-Net V2 (seed 002) that fills time gaps of a
log-magnitude STFT patch, and the numpy/onnxruntime side that uses it (no torch at inference).

Patch geometry (the seed's): 16 kHz, n_fft 256, hop 64, 128 frames x 128 bins (0-8 kHz),
512 ms.  At other rates the frame is scaled (n_fft = 256 * sr / 16 k, same 62.5 Hz bins and
4 ms hop), so the model always sees bins 0..127 (0-8 kHz); bins above use log-linear
interpolation across the gap.

Model input (batch, 2, 128, 128): [normalised log-magnitude with the gap columns filled by
linear interpolation in time between the gap's edge frames, mask (1 = unknown)]; output
(batch, 1, 128, 128): the normalised log-magnitude, equal to the input outside the mask (global
residual: the network predicts a correction of the interpolation).  Normalisation: dB / 20
relative to the loudest known bin of the patch, floored at -100 dB.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["N_FFT", "HOP", "FRAMES", "BINS", "FLOOR_DB", "frame_geometry", "stft", "istft",
           "normalise", "interp_gap", "InpaintModel", "default_model_path", "patch_metrics"]

N_FFT = 256
HOP = 64
FRAMES = 128
BINS = 128
FLOOR_DB = -100.0
WEIGHTS = Path(__file__).resolve().parent / "weights"


def default_model_path() -> Path:
    """The shipped ONNX model (models/weights/inpaint-resunet.onnx)."""
    return WEIGHTS / "inpaint-resunet.onnx"


def frame_geometry(sample_rate: int) -> tuple[int, int]:
    """(n_fft, hop) in samples at ``sample_rate``: 16 ms frames, 4 ms hop (62.5 Hz bins)."""
    n_fft = max(16, int(round(N_FFT * sample_rate / 16000.0)))
    n_fft += n_fft % 2
    hop = max(4, n_fft // 4)
    return n_fft, hop


def _window(n_fft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float64)


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Complex STFT (frames, n_fft//2+1) of a 1-D signal; frame t starts at t*hop (no padding)."""
    x = np.asarray(x, np.float64)
    n = 1 + max(0, (len(x) - n_fft) // hop)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    return np.fft.rfft(x[idx] * _window(n_fft), axis=1)


def istft(X: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Least-squares inverse of :func:`stft` (weighted overlap-add) of ``length`` samples."""
    w = _window(n_fft)
    frames = np.fft.irfft(X, n=n_fft, axis=1) * w
    y = np.zeros(length)
    wsum = np.zeros(length)
    for t in range(X.shape[0]):
        s = t * hop
        e = min(length, s + n_fft)
        y[s:e] += frames[t, :e - s]
        wsum[s:e] += w[:e - s] ** 2
    return y / np.maximum(wsum, 1e-8)


def normalise(logmag_db: np.ndarray, known_cols: np.ndarray) -> tuple[np.ndarray, float]:
    """(dB - ref) / 20 floored at FLOOR_DB/20, ref = loudest known bin; returns (patch, ref)."""
    sel = logmag_db[:, known_cols] if known_cols.any() else logmag_db
    ref = float(sel.max()) if sel.size else 0.0
    return np.maximum(logmag_db - ref, FLOOR_DB) / 20.0, ref


def interp_gap(p: np.ndarray, gap_cols: np.ndarray) -> np.ndarray:
    """Fill the columns marked in gap_cols (bool, per frame) of p (bins, frames) by linear
    interpolation in time between the nearest known columns (constant beyond an edge)."""
    out = p.copy()
    known = np.flatnonzero(~gap_cols)
    if known.size == 0:
        out[:] = FLOOR_DB / 20.0
        return out
    miss = np.flatnonzero(gap_cols)
    for b in range(p.shape[0]):
        out[b, miss] = np.interp(miss, known, p[b, known])
    return out


class InpaintModel:
    """The ONNX Res-U-Net through onnxruntime (one thread; never imports torch)."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        import onnxruntime as ort

        p = Path(path) if path is not None else default_model_path()
        if not p.is_file():
            raise FileNotFoundError(f"inpainting model not found: {p}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def fill(self, patch: np.ndarray, gap_cols: np.ndarray) -> np.ndarray:
        """patch: normalised log-magnitude (BINS, FRAMES) (any values in the gap); gap_cols:
        bool (FRAMES,).  Returns the patch with the gap columns predicted."""
        return self.fill_batch(patch[None], gap_cols[None])[0]

    def fill_batch(self, patches: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        """Batched :meth:`fill`: patches (n, BINS, FRAMES), gaps (n, FRAMES) bool."""
        n = patches.shape[0]
        x = np.zeros((n, 2, BINS, FRAMES), np.float32)
        for i in range(n):
            x[i, 0] = interp_gap(patches[i], gaps[i])
            x[i, 1] = gaps[i][None, :]
        y = self.session.run(None, {self.input: x})[0][:, 0]
        out = patches.astype(np.float32).copy()
        for i in range(n):
            out[i][:, gaps[i]] = np.clip(y[i][:, gaps[i]], FLOOR_DB / 20.0, 1.0)
        return out


def patch_metrics(est: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(PSNR dB with MAX = 1, NRMSE = rmse / (ref.max - ref.min)) as in the seed (eq. 1-3)."""
    mse = float(np.mean((np.asarray(est, np.float64) - ref) ** 2))
    rng = float(ref.max() - ref.min()) or 1.0
    psnr = 10.0 * math.log10(1.0 / max(mse, 1e-20))
    return psnr, math.sqrt(mse) / rng
