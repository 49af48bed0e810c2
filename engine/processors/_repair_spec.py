"""Long-gap repair in the spectrogram: the inpainting model predicts the log-magnitude of the
STFT frames that touch the gap (bins 0-8 kHz; above: log-linear interpolation in time), the
phase starts from the last known frame advanced at each bin's centre frequency (phase-vocoder
propagation of the surrounding phase) and a few Griffin-Lim iterations restricted to the gap
make it consistent (the known samples are re-imposed after every iteration, so they never
change).  Control-thread / file code: numpy FFTs and onnxruntime allocate."""
from __future__ import annotations

import numpy as np

from aural.models.inpaint import (BINS, FLOOR_DB, FRAMES, frame_geometry, interp_gap, istft,
                                  normalise, stft)

__all__ = ["fill_spectral", "patch_span"]


def patch_span(s: int, e: int, sample_rate: int, size: int) -> tuple[int, int]:
    """The (start, end) samples of the model's 128-frame patch centred on the gap [s, e),
    clipped into [0, size) (shorter only when the signal is)."""
    n_fft, hop = frame_geometry(sample_rate)
    length = n_fft + hop * (FRAMES - 1)
    start = (s + e) // 2 - length // 2
    start = max(0, min(start, size - length))
    return start, min(size, start + length)


def fill_spectral(xb: np.ndarray, s: int, e: int, sample_rate: int, model, iters: int = 30,
                  init: np.ndarray | None = None) -> np.ndarray:
    """The model's estimate of xb[s:e] (float64 array of e - s samples); xb is not changed.

    ``model``: an :class:`aural.models.inpaint.InpaintModel` or None (then the log-magnitude is
    interpolated in time: the classical spectral baseline).  ``init``: a waveform guess for the
    gap (e.g. AR extrapolation) whose STFT phase starts the iterations; default: the phase of
    the last known frame advanced at each bin's centre frequency."""
    n_fft, hop = frame_geometry(sample_rate)
    length = n_fft + hop * (FRAMES - 1)
    r0, r1 = patch_span(s, e, sample_rate, xb.shape[0])
    seg = np.zeros(length)
    seg[:r1 - r0] = xb[r0:r1]
    gs, ge = s - r0, e - r0
    seg[gs:ge] = 0.0
    X = stft(seg, n_fft, hop)  # (FRAMES, n_fft//2+1)
    nb = X.shape[1]
    starts = hop * np.arange(FRAMES)
    gap = (starts < ge) & (starts + n_fft > gs)
    db = 20.0 * np.log10(np.abs(X).T + 1e-6)  # (bins, frames)
    pn, ref = normalise(db, ~gap)
    full = interp_gap(pn, gap)
    if model is not None:
        k = min(BINS, nb)
        low = np.full((BINS, FRAMES), FLOOR_DB / 20.0, np.float32)
        low[:k] = pn[:k]
        full[:k] = model.fill(low, gap)[:k]
    mag = 10.0 ** ((full * 20.0 + ref) / 20.0)
    mag[full <= FLOOR_DB / 20.0 + 1e-6] = 0.0
    mag = mag.T  # (frames, bins)
    # phase: advance from the last known frame at each bin's centre frequency
    phase = np.angle(X)
    adv = 2.0 * np.pi * np.arange(nb) * hop / n_fft
    idx = np.flatnonzero(gap)
    prev = idx[0] - 1
    if init is not None:
        g = seg.copy()
        g[gs:ge] = init
        phase[gap] = np.angle(stft(g, n_fft, hop)[gap])
    else:
        for t in idx:
            phase[t] = (phase[prev] if prev >= 0 else 0.0) + adv * (t - prev)
    known = np.ones(length, bool)
    known[gs:ge] = False
    Y = X.copy()
    y = seg
    for _ in range(max(1, iters)):
        Y[gap] = mag[gap] * np.exp(1j * phase[gap])
        y = istft(Y, n_fft, hop, length)
        y[known] = seg[known]
        Z = stft(y, n_fft, hop)
        phase[gap] = np.angle(Z[gap])
    return y[gs:ge].copy()
