"""Streaming rational resampler (polyphase FIR, Numba), for running a model at its own rate.

``Resampler(channels, L, M)`` converts a stream by L/M (output rate = input rate * L / M).  It is
causal and sample-by-sample exact: output m is computed as soon as the input sample it needs has
arrived, so the output sequence does not depend on how the input is cut into blocks.

The prototype low-pass (Kaiser, ~70 dB stop band, pass band to 80 % of the lower Nyquist) has
``K = 2*a*L + 1`` taps for a delay of exactly ``a`` input samples, or ``K = 2*b*M + 1`` for an
exact delay of ``b`` output samples: the length is rounded up so that the filter's group delay is
a whole number of samples on the side that needs it (or, with ``offset``, a chosen fraction less,
to cancel a fractional delay elsewhere in a chain).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import signal

__all__ = ["Resampler", "design"]


def design(L: int, M: int, fs_in: float, exact_side: str, offset: int = 0) -> tuple[np.ndarray, float]:
    """Polyphase table (L, T) and the delay (in input samples for exact_side='in', output
    samples for 'out'): whole, or ``offset`` steps of 1/unit less (unit = L or M), which lets a
    caller make a fractional delay elsewhere add up to a whole one."""
    fs_up = fs_in * L
    ny = 0.5 * min(fs_in, fs_in * L / M)
    trans = 0.2 * ny  # pass band to 80 % of the lower Nyquist, ~70 dB beyond it
    need = int(math.ceil((70.0 - 8.0) / (2.285 * 2 * math.pi * trans / fs_up))) + 1
    unit = L if exact_side == "in" else M
    offset = int(offset) % unit
    d = max(1, int(math.ceil((need / 2 + offset) / unit)))
    half = d * unit - offset
    K = 2 * half + 1
    if L == 1 and M == 1:
        return np.ones((1, 1)), 0.0
    h = signal.firwin(K, 0.9 * ny, window=("kaiser", 6.76), fs=fs_up) * L
    T = -(-K // L)
    hp = np.zeros((L, T))
    for p in range(L):
        taps = h[p::L]
        hp[p, :len(taps)] = taps
    return hp, half / unit


@njit(cache=True, nogil=True)
def _push(x, start, n, hist, state, hp, L, M, out, out_start):
    """Feed x[:, start:start+n]; write outputs to out[:, out_start:]; return how many."""
    C = x.shape[0]
    T = hist.shape[1]
    w = state[0]
    pos = state[1]
    k = out_start
    for i in range(start, start + n):
        w += 1
        if w == T:
            w = 0
        for c in range(C):
            hist[c, w] = x[c, i]
        while pos < L:
            for c in range(C):
                acc = 0.0
                idx = w
                for t in range(T):
                    acc += hp[pos, t] * hist[c, idx]
                    idx -= 1
                    if idx < 0:
                        idx = T - 1
                out[c, k] = acc
            k += 1
            pos += M
        pos -= L
    state[0] = w
    state[1] = pos
    return k - out_start


class Resampler:
    """Stream resampler by L/M for ``channels`` channels (state preallocated)."""

    def __init__(self, channels: int, L: int, M: int, fs_in: float, exact_side: str = "in",
                 offset: int = 0) -> None:
        g = math.gcd(int(L), int(M))
        self.L, self.M = int(L) // g, int(M) // g
        self.hp, self.delay = design(self.L, self.M, fs_in, exact_side, offset)
        self.hist = np.zeros((channels, self.hp.shape[1]), np.float64)
        self.state = np.zeros(2, np.int64)

    def max_out(self, n_in: int) -> int:
        return (n_in * self.L) // self.M + 2

    def push(self, x: np.ndarray, out: np.ndarray, start: int = 0, n: int | None = None,
             out_start: int = 0) -> int:
        n = x.shape[1] - start if n is None else n
        return int(_push(x, start, n, self.hist, self.state, self.hp, self.L, self.M, out, out_start))

    def reset(self) -> None:
        self.hist[:] = 0.0
        self.state[:] = 0

    @staticmethod
    def count(L: int, M: int, pos: int) -> tuple[int, int]:
        """(outputs produced by one input sample, new pos) — the counting part of ``_push``."""
        k = 0
        while pos < L:
            k += 1
            pos += M
        return k, pos - L
