"""Numba kernels shared by the engine: sanitising copies, smoothed gains/mixes and delay lines.

All kernels work on preallocated arrays and allocate nothing.  Audio blocks are float32 arrays of
shape (channels, frames); state is float64.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# Values below this magnitude are flushed to zero (denormals cost 100x on x86 FPUs).
DENORMAL = 1e-30
# Finite values beyond this magnitude (+36 dBFS, far above any real float audio) are limited to
# it before any state sees them: one 1e19 sample would otherwise overflow filter and model state.
LIMIT = 64.0


@njit(cache=True, nogil=True)
def _dirty(x, ch: int) -> int:
    """Samples of row ``ch`` that need sanitising (non-finite, beyond +-LIMIT, denormal).

    Branch-free so it vectorises: a clean block costs one read pass, then a plain copy."""
    k = 0
    for i in range(x.shape[1]):
        a = abs(x[ch, i])
        k += 0 if (a <= LIMIT and (a >= DENORMAL or a == 0.0)) else 1
    return k


@njit(cache=True, nogil=True)
def _clean_row(src, dst, ch, n) -> int:
    """dst[ch, :n] = src[ch, :n] with NaN/inf -> 0, |x| > LIMIT -> +-LIMIT, denormals -> 0;
    returns how many samples were replaced or limited (denormals are not counted)."""
    bad = 0
    for i in range(n):
        v = src[ch, i]
        a = abs(v)
        if not (a >= DENORMAL and a <= LIMIT):
            if a < DENORMAL:
                v = 0.0
            elif np.isfinite(v):
                v = LIMIT if v > 0.0 else -LIMIT
                bad += 1
            else:
                v = 0.0
                bad += 1
        dst[ch, i] = v
    return bad


@njit(cache=True, nogil=True)
def sanitize_copy(src, dst) -> int:
    """Copy ``src`` into ``dst`` replacing NaN/inf by 0, limiting finite values to +-LIMIT and
    flushing denormals.

    Returns the number of samples replaced or limited (non-finite or beyond +-LIMIT)."""
    bad = 0
    c, n = src.shape
    for ch in range(c):
        if _dirty(src, ch) == 0:
            for i in range(n):
                dst[ch, i] = src[ch, i]
            continue
        bad += _clean_row(src, dst, ch, n)
    return bad


@njit(cache=True, nogil=True)
def sanitize_copy_ring(src, dst, ring, pos_state) -> int:
    """``sanitize_copy`` that also appends the sanitised frames to a ring (the dry path).

    ring: (channels, size >= frames); pos_state[0]: write position, advanced by the block length.
    Channel-outer loops over at most two contiguous ring segments, so they vectorise."""
    bad = 0
    c, n = src.shape
    size = ring.shape[1]
    w = pos_state[0]
    first = min(n, size - w)
    for ch in range(c):
        if _dirty(src, ch) == 0:
            for i in range(n):
                dst[ch, i] = src[ch, i]
        else:
            bad += _clean_row(src, dst, ch, n)
        for i in range(first):
            ring[ch, w + i] = dst[ch, i]
        for i in range(first, n):
            ring[ch, i - first] = dst[ch, i]
    w += n
    if w >= size:
        w -= size
    pos_state[0] = w
    return bad


@njit(cache=True, nogil=True)
def ring_read_delayed(ring, pos_state, delay: int, out) -> None:
    """out = the last ``out.shape[1]`` frames written to ring, delayed by ``delay`` frames."""
    c, n = out.shape
    size = ring.shape[1]
    r = (pos_state[0] - n - delay) % size
    for i in range(n):
        for ch in range(c):
            out[ch, i] = ring[ch, r]
        r += 1
        if r == size:
            r = 0


@njit(cache=True, nogil=True)
def sanitize_inplace(x) -> int:
    """Replace NaN/inf in ``x`` (an internal buffer) by 0, limit finite values to +-LIMIT and
    flush denormals; count the replaced and limited samples (a node whose output leaves
    +-LIMIT, fed input within it, is as broken as one that outputs NaN)."""
    bad = 0
    c, n = x.shape
    for ch in range(c):
        if _dirty(x, ch) == 0:
            continue
        for i in range(n):
            v = x[ch, i]
            a = abs(v)
            if not (a >= DENORMAL and a <= LIMIT):
                if a < DENORMAL:
                    if v != 0.0:
                        x[ch, i] = 0.0
                elif np.isfinite(v):
                    x[ch, i] = LIMIT if v > 0.0 else -LIMIT
                    bad += 1
                else:
                    x[ch, i] = 0.0
                    bad += 1
    return bad


@njit(cache=True, nogil=True)
def smooth_coef(time_ms: float, sample_rate: float) -> float:
    """One-pole smoothing coefficient for a time constant in ms (0 -> instant)."""
    if time_ms <= 0.0:
        return 0.0
    return np.exp(-1000.0 / (time_ms * sample_rate))


@njit(cache=True, nogil=True)
def mix_dry_wet(wet, dry, out, state, target: float, coef: float) -> float:
    """out = g*wet + (1-g)*dry with g gliding per sample from ``state[0]`` to ``target``.

    Returns the final g (also stored in state[0]).  wet/dry/out: (channels, n)."""
    c, n = wet.shape
    g = state[0]
    if g == target:
        for ch in range(c):
            for i in range(n):
                out[ch, i] = g * wet[ch, i] + (1.0 - g) * dry[ch, i]
        return g
    for i in range(n):
        g = target + coef * (g - target)
        if abs(g - target) < 1e-6:
            g = target
        for ch in range(c):
            out[ch, i] = g * wet[ch, i] + (1.0 - g) * dry[ch, i]
    state[0] = g
    return g


@njit(cache=True, nogil=True)
def smoothed_gain(x, out, state, target: float, coef: float) -> None:
    """out = g*x with a per-sample glide of the linear gain g (state[0]) towards target."""
    c, n = x.shape
    g = state[0]
    if g == target:
        for ch in range(c):
            for i in range(n):
                out[ch, i] = g * x[ch, i]
        return
    for i in range(n):
        g = target + coef * (g - target)
        if abs(g - target) < 1e-9:
            g = target
        for ch in range(c):
            out[ch, i] = g * x[ch, i]
    state[0] = g


@njit(cache=True, nogil=True)
def delay_process(x, out, ring, pos_state, delay: int) -> None:
    """Delay x by ``delay`` samples through ring (channels, size >= delay+1); pos_state[0] = write pos.

    Works for any block length, also longer than the ring."""
    c, n = x.shape
    size = ring.shape[1]
    if delay == 0:
        for ch in range(c):
            for i in range(n):
                out[ch, i] = x[ch, i]
        return
    w = pos_state[0]
    for i in range(n):
        r = w - delay
        if r < 0:
            r += size
        for ch in range(c):
            v = x[ch, i]
            ring[ch, w] = v if np.isfinite(v) else 0.0  # a delayed dry path never carries NaN/inf
            out[ch, i] = ring[ch, r]
        w += 1
        if w == size:
            w = 0
    pos_state[0] = w


@njit(cache=True, nogil=True)
def add_into(acc, x, gain: float) -> None:
    """acc += gain * x (both (channels, n))."""
    c, n = x.shape
    for ch in range(c):
        for i in range(n):
            acc[ch, i] += gain * x[ch, i]


class DelayLine:
    """A multichannel integer delay with preallocated ring (for latency compensation)."""

    def __init__(self, channels: int, delay: int, max_block: int) -> None:
        self.delay = int(delay)
        self.ring = np.zeros((channels, self.delay + 1), dtype=np.float32)
        self.pos = np.zeros(1, dtype=np.int64)
        self.out = np.zeros((channels, max_block), dtype=np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[1]
        out = self.out[:, :n]
        delay_process(x, out, self.ring, self.pos, self.delay)
        return out

    def reset(self) -> None:
        self.ring[:] = 0.0
        self.pos[0] = 0


def warm_kernels() -> None:
    """Compile the shared kernels (call before a real-time stream opens)."""
    a = np.zeros((1, 4), np.float32)
    b = np.zeros((1, 4), np.float32)
    sanitize_copy(a, b)
    sanitize_inplace(a)
    ring = np.zeros((1, 8), np.float32)
    pos = np.zeros(1, np.int64)
    sanitize_copy_ring(a, b, ring, pos)
    ring_read_delayed(ring, pos, 2, b)
    st = np.ones(1)
    mix_dry_wet(a, a, b, st, 0.5, smooth_coef(10.0, 48000.0))
    smoothed_gain(a, b, st, 0.5, 0.9)
    DelayLine(1, 3, 4).process(a)
    add_into(b, a, 1.0)


@njit(cache=True, nogil=True)
def matches_at(a, b, at: int, tol: float) -> bool:
    """a (channels, n) equals b[:, at:at + n] within tol, sample by sample (no allocation):
    the file-mode check that a stream is the head a node learned (engine/learn.py)."""
    c, n = a.shape
    for ch in range(c):
        for i in range(n):
            if abs(a[ch, i] - b[ch, at + i]) > tol:
                return False
    return True
