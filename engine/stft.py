"""Streaming STFT / ISTFT with windowed overlap-add, all loops in Numba, no allocation per hop.

:class:`Stft` is the typed state object spectral processors share::

    st = Stft(channels=2, n_fft=1024, hop=512)
    spec = st.analyze(x_hop)      # (channels, n_fft//2+1) complex128, valid until the next call
    ...modify spec in place...
    st.synthesize(out_hop)        # overlap-added output hop

With an unmodified spectrum the output equals the input delayed by ``st.latency`` =
``n_fft - hop`` samples (exact up to float rounding).  Analysis and synthesis windows are
periodic sqrt-Hann (Hann for hop <= n_fft/4), scaled so their product overlap-adds to one.

The FFT is an iterative radix-2 transform written for Numba (a real FFT of size N through a
complex FFT of size N/2; first two stages fused without multiplications, per-stage contiguous
twiddles), so a hop costs two transforms and no Python-level temporaries.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["Stft", "rfft_into", "irfft_into", "fft_tables", "default_fft_size"]

#: fast-math flags of the transform kernels: reassociation and FMA contraction (results move by
#: ~1e-16 relative), but no NaN/inf assumptions
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}


def default_fft_size(sample_rate: float, frame_ms: float = 16.0) -> int:
    """Smallest power of two covering ``frame_ms`` at ``sample_rate`` (48 kHz -> 1024)."""
    n = int(math.ceil(sample_rate * frame_ms / 1000.0))
    return max(64, 1 << (n - 1).bit_length())


def fft_tables(n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bit-reversal permutation, per-stage twiddles, real-FFT twiddles) for n_fft.

    The complex FFT has size m = n_fft/2; ``tw`` is (2, m): row 0 the forward, row 1 the inverse
    twiddles, stored per stage contiguously (the stage of half-size h uses tw[:, h:2h],
    tw[0, h + k] = exp(-2j pi k / (2h))).  ``tw2[k] = exp(-2j pi k / n_fft)``, k = 0..m."""
    if n_fft < 4 or n_fft & (n_fft - 1):
        raise ValueError(f"n_fft must be a power of two >= 4, got {n_fft}")
    m = n_fft // 2
    bits = m.bit_length() - 1
    rev = np.array([int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(m)], np.int64)
    tw = np.zeros((2, max(m, 2)), np.complex128)
    h = 1
    while h < m:
        w = np.exp(-2j * np.pi * np.arange(h) / (2 * h))
        tw[0, h:2 * h] = w
        tw[1, h:2 * h] = w.conj()
        h *= 2
    tw2 = np.exp(-2j * np.pi * np.arange(m + 1) / n_fft)
    return rev, tw, tw2


@njit(cache=True, nogil=True, fastmath=_FM)
def _fft_inplace(a, rev, tw, inverse: bool) -> None:
    """Unnormalised radix-2 FFT of a (complex128, power-of-two length m) in place.

    Bit-reversal, then the first two stages without multiplications (twiddles 1 and -+j), then
    the remaining stages with per-stage contiguous twiddles (tw from :func:`fft_tables`)."""
    m = a.shape[0]
    for i in range(m):
        j = rev[i]
        if j > i:
            t = a[i]
            a[i] = a[j]
            a[j] = t
    if m < 2:
        return
    if m == 2:
        u = a[0]
        a[0] = u + a[1]
        a[1] = u - a[1]
        return
    # stages 1 and 2 fused: a radix-4 butterfly on each group of four
    sgn = 1.0 if inverse else -1.0  # the twiddle of stage 2 is sgn * j
    for s in range(0, m, 4):
        x0 = a[s]
        x1 = a[s + 1]
        x2 = a[s + 2]
        x3 = a[s + 3]
        b0r = x0.real + x1.real
        b0i = x0.imag + x1.imag
        b1r = x0.real - x1.real
        b1i = x0.imag - x1.imag
        b2r = x2.real + x3.real
        b2i = x2.imag + x3.imag
        b3r = x2.real - x3.real
        b3i = x2.imag - x3.imag
        # t = sgn * j * b3
        tr = -sgn * b3i
        ti = sgn * b3r
        a[s] = complex(b0r + b2r, b0i + b2i)
        a[s + 2] = complex(b0r - b2r, b0i - b2i)
        a[s + 1] = complex(b1r + tr, b1i + ti)
        a[s + 3] = complex(b1r - tr, b1i - ti)
    row = 1 if inverse else 0
    half = 4
    while half < m:
        size = 2 * half
        for s in range(0, m, size):
            for k in range(half):
                w = tw[row, half + k]
                v = a[s + half + k]
                tr = w.real * v.real - w.imag * v.imag
                ti = w.real * v.imag + w.imag * v.real
                u = a[s + k]
                a[s + k] = complex(u.real + tr, u.imag + ti)
                a[s + half + k] = complex(u.real - tr, u.imag - ti)
        half = size


@njit(cache=True, nogil=True, fastmath=_FM)
def _rfft_post(z, spec, tw2) -> None:
    """Split the half-size complex FFT z of the even/odd-packed real signal into its spectrum."""
    m = z.shape[0]
    z0 = z[0]
    spec[0] = complex(z0.real + z0.imag, 0.0)
    spec[m] = complex(z0.real - z0.imag, 0.0)
    for k in range(1, m // 2 + 1):
        a = z[k]
        b = z[m - k]
        # fe = (a + conj b) / 2, fo = -j (a - conj b) / 2
        fer = 0.5 * (a.real + b.real)
        fei = 0.5 * (a.imag - b.imag)
        for_ = 0.5 * (a.imag + b.imag)
        foi = -0.5 * (a.real - b.real)
        w = tw2[k]
        spec[k] = complex(fer + w.real * for_ - w.imag * foi, fei + w.real * foi + w.imag * for_)
        if k != m - k:
            # bin m-k: conj(fe) + tw2[m-k] * conj(fo)
            w = tw2[m - k]
            spec[m - k] = complex(fer + w.real * for_ + w.imag * foi, -fei - w.real * foi + w.imag * for_)


@njit(cache=True, nogil=True, fastmath=_FM)
def _irfft_pre(spec, z, tw2) -> None:
    """Pack the half spectrum into the half-size complex array whose inverse FFT interleaves
    the even and odd samples."""
    m = z.shape[0]
    for k in range(m):
        a = spec[k]
        b = spec[m - k]
        # fe = (a + conj b)/2, fo = (a - conj b)/2 * conj(tw2[k]), z = fe + j fo
        fer = 0.5 * (a.real + b.real)
        fei = 0.5 * (a.imag - b.imag)
        dr = 0.5 * (a.real - b.real)
        di = 0.5 * (a.imag + b.imag)
        w = tw2[k]
        for_ = dr * w.real + di * w.imag
        foi = di * w.real - dr * w.imag
        z[k] = complex(fer - foi, fei + for_)


@njit(cache=True, nogil=True, fastmath=_FM)
def rfft_into(x, spec, z, rev, tw, tw2) -> None:
    """spec[:N/2+1] = rfft(x) for real x of length N; z is complex work space of N/2."""
    m = z.shape[0]
    for i in range(m):
        z[i] = complex(x[2 * i], x[2 * i + 1])
    _fft_inplace(z, rev, tw, False)
    _rfft_post(z, spec, tw2)


@njit(cache=True, nogil=True, fastmath=_FM)
def irfft_into(spec, x, z, rev, tw, tw2) -> None:
    """x = irfft(spec) (length N = 2*(len(spec)-1)); z is complex work space of N/2."""
    m = z.shape[0]
    _irfft_pre(spec, z, tw2)
    _fft_inplace(z, rev, tw, True)
    inv = 1.0 / m
    for i in range(m):
        x[2 * i] = z[i].real * inv
        x[2 * i + 1] = z[i].imag * inv


@njit(cache=True, nogil=True, fastmath=_FM)
def _analyze(inbuf, x, window, frame, spec, z, rev, tw, tw2) -> None:
    c, n = inbuf.shape
    h = x.shape[1]
    m = n // 2
    for ch in range(c):
        for i in range(n - h):
            inbuf[ch, i] = inbuf[ch, i + h]
        for i in range(h):
            inbuf[ch, n - h + i] = x[ch, i]
        # window and pack even/odd samples straight into the complex work array
        for i in range(m):
            z[i] = complex(inbuf[ch, 2 * i] * window[2 * i], inbuf[ch, 2 * i + 1] * window[2 * i + 1])
        _fft_inplace(z, rev, tw, False)
        _rfft_post(z, spec[ch], tw2)


@njit(cache=True, nogil=True, fastmath=_FM)
def _synthesize(spec, window, ola, out, frame, z, rev, tw, tw2) -> None:
    c, n = ola.shape
    h = out.shape[1]
    m = n // 2
    inv = 1.0 / m
    for ch in range(c):
        _irfft_pre(spec[ch], z, tw2)
        _fft_inplace(z, rev, tw, True)
        for i in range(m):
            v = z[i]
            ola[ch, 2 * i] += v.real * inv * window[2 * i]
            ola[ch, 2 * i + 1] += v.imag * inv * window[2 * i + 1]
        for i in range(h):
            out[ch, i] = ola[ch, i]
        for i in range(n - h):
            ola[ch, i] = ola[ch, i + h]
        for i in range(n - h, n):
            ola[ch, i] = 0.0


class Stft:
    """Streaming STFT state for ``channels`` channels (see module doc)."""

    def __init__(self, channels: int, n_fft: int, hop: int) -> None:
        if n_fft % hop:
            raise ValueError("hop must divide n_fft")
        self.channels, self.n_fft, self.hop = int(channels), int(n_fft), int(hop)
        self.n_bins = n_fft // 2 + 1
        self.rev, self.tw, self.tw2 = fft_tables(n_fft)
        t = np.arange(n_fft)
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * t / n_fft)
        if hop * 4 <= n_fft:
            wa = hann
        else:
            wa = np.sqrt(hann)
        ws = wa.copy()
        # normalise so that sum_k wa*ws shifted by k*hop == 1
        ola = np.zeros(n_fft)
        for s in range(0, n_fft, hop):
            ola += np.roll(wa * ws, s)
        ws = ws / ola.mean()
        self.win_a = wa.astype(np.float64)
        self.win_s = ws.astype(np.float64)
        self.inbuf = np.zeros((channels, n_fft))
        self.ola = np.zeros((channels, n_fft))
        self.spec = np.zeros((channels, self.n_bins), np.complex128)
        self._frame = np.zeros(n_fft)
        self._z = np.zeros(n_fft // 2, np.complex128)
        self.freqs_hz_per_bin = None

    @property
    def latency(self) -> int:
        """Delay in samples between a hop in and the reconstructed hop out."""
        return self.n_fft - self.hop

    def analyze(self, x: np.ndarray) -> np.ndarray:
        """Push one hop (channels, hop) and return the spectrum of the newest frame."""
        _analyze(self.inbuf, x, self.win_a, self._frame, self.spec, self._z, self.rev, self.tw, self.tw2)
        return self.spec

    def synthesize(self, out: np.ndarray) -> None:
        """Overlap-add the (possibly modified) ``self.spec`` and write one finished hop to out."""
        _synthesize(self.spec, self.win_s, self.ola, out, self._frame, self._z, self.rev, self.tw, self.tw2)

    def reset(self) -> None:
        self.inbuf[:] = 0.0
        self.ola[:] = 0.0
        self.spec[:] = 0.0
