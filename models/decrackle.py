"""DeCrackle: learned removal of clicks and crackle (issue 22; seed 004's "noise first" stage).

    from aural.models.decrackle import DeCrackle
    y = DeCrackle(model="runs/decrackle.onnx")(x, 44100)   # latency-compensated, same length

The shipped weights (``models/weights/decrackle.onnx``, session 26: the fifth training leg,
the first to pass its rule; models/weights/RECIPE.md) follow DeClick in the ``vinyl``, ``music``
and ``auto`` chains.  Train others with ``python -m aural.models.decrackle_train``; without a
model file the node passes its input through, delayed (``active`` False).

A small non-causal convolutional net (:mod:`aural.models.decrackle_train`; bias-free, so blind
to level) estimates the clicks and crackle in each channel's waveform; the node subtracts
``amount`` times that estimate from the input, delayed by the net's look-ahead.  The music never
passes through the net, so what it does not recognise as crackle comes out sample for sample.

Streaming: fixed hops (``hop`` = 1024 samples at 32-48 kHz, 512 below; 4 x that for a net
whose receptive field is over 2,048 samples, as the shipped one's 4,355), each run on the last
``R - 1 + hop`` samples (``R``: the net's receptive field; the shipped net looks 2,177 samples,
45 ms at 48 kHz, ahead), one onnxruntime call for all channels, bound to preallocated arrays (no
allocation on the audio path).  Latency ``hop - 1 + (R - 1) / 2`` samples: 6,272 (131 ms) at
48 kHz with the shipped net.  Cost: RTF ~0.4 for stereo 48 kHz on one thread (a file chain, or
live on a free core).

The net was trained at 16-48 kHz.  Above 48 kHz (88.2-192 kHz transfers) it runs at the rate
divided by ``factor`` = 2 or 4: each hop is low-passed and decimated (a causal Kaiser FIR,
60 dB, pass band to 0.45 of the net's rate), the net's estimate is interpolated back by the same
filter, and subtracted from the input delayed by the whole path (``K + factor (R - 1) / 2 + K``
samples, K the filter's delay): the input is still never resampled, only the estimate, which
holds nothing above the net's band (a click's content above ~22 kHz stays).  Below 16 kHz
(8-12 kHz) the hop is interpolated by 2 for the net and the estimate decimated back, with a
decimation phase that makes the delay a whole number of samples.  Without a model file the node
passes the input through (delayed) and ``active`` is False.  Never imports torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from aural.engine.hop import HopProcessor
from aural.engine.params import Param
from aural.engine.processor import register
from numba import njit

__all__ = ["DeCrackle", "DEFAULT_DECRACKLE_MODEL", "CrackleNet", "MIN_RATE", "MAX_RATE",
           "receptive_field", "resampling_filter"]

DEFAULT_DECRACKLE_MODEL = Path(__file__).resolve().parent / "weights" / "decrackle.onnx"
MIN_RATE, MAX_RATE = 16000, 48000
CHANNELS = 32
DILATIONS = (1, 2, 4, 8, 16, 32, 64) * 2
IN_KERNEL = 7
LONG_CONTEXT = 2048  # a net with a longer receptive field runs on 4x longer hops in the node


def receptive_field(dilations=DILATIONS, in_kernel: int = IN_KERNEL) -> int:
    """Samples of input one output sample of the net depends on (odd: centred on it)."""
    return in_kernel + sum(2 * d for d in dilations)


@njit(cache=True, nogil=True)
def _push(ctx, x) -> None:
    """Shift each channel's context left by hop and append the new hop (float32)."""
    c, _, t = ctx.shape
    h = x.shape[1]
    for ch in range(c):
        for i in range(t - h):
            ctx[ch, 0, i] = ctx[ch, 0, i + h]
        for i in range(h):
            ctx[ch, 0, t - h + i] = x[ch, i]


@njit(cache=True, nogil=True)
def _subtract(ctx, est, half: int, a0: float, a1: float, ok: bool, out) -> int:
    """out = delayed input - amount * estimate (amount ramps a0 -> a1 over the hop); a non-finite
    or absurd estimate (beyond 4x the input's peak in the hop) is dropped.  Returns samples
    changed by more than 1e-6."""
    c = out.shape[0]
    h = out.shape[1]
    changed = 0
    for ch in range(c):
        peak = 0.0
        for i in range(h):
            v = abs(ctx[ch, 0, half + i])
            if v > peak:
                peak = v
        good = ok
        if good:
            for i in range(h):
                e = est[ch, 0, i]
                if not np.isfinite(e) or abs(e) > 4.0 * peak + 1e-6:
                    good = False
                    break
        for i in range(h):
            x = ctx[ch, 0, half + i]
            if good:
                a = a0 + (a1 - a0) * (i + 1) / h
                d = a * est[ch, 0, i]
                out[ch, i] = x - d
                if abs(d) > 1e-6:
                    changed += 1
            else:
                out[ch, i] = x
    return changed


@njit(cache=True, nogil=True)
def _shift_in(buf, src) -> None:
    """Shift the 1-D history ``buf`` left by len(src) and append ``src``."""
    n = src.shape[0]
    t = buf.shape[0]
    for i in range(t - n):
        buf[i] = buf[i + n]
    for i in range(n):
        buf[t - n + i] = src[i]


@njit(cache=True, nogil=True)
def _fir_decimate(buf, h, f: int, phase: int, out) -> None:
    """out[m] = sum_j h[j] buf[L - 1 + f m + phase - j]: the causal FIR h (length L) at every
    f-th sample of the newest f * len(out) samples of ``buf`` (which holds L - 1 before them)."""
    L = h.shape[0]
    for m in range(out.shape[0]):
        q = L - 1 + f * m + phase
        acc = 0.0
        for j in range(L):
            acc += h[j] * buf[q - j]
        out[m] = acc


@njit(cache=True, nogil=True)
def _fir_interpolate(buf, g, f: int, out) -> None:
    """out[i] = f sum_m g[i - f m] u[m] for the newest len(out) / f samples u of ``buf``
    (zero-stuffed by f, causal FIR g; the older samples of ``buf`` are its history)."""
    L = g.shape[0]
    q0 = buf.shape[0] - out.shape[0] // f
    for i in range(out.shape[0]):
        acc = 0.0
        mm = i // f
        k = i - f * mm
        while k < L and q0 + mm >= 0:
            acc += g[k] * buf[q0 + mm]
            mm -= 1
            k += f
        out[i] = f * acc


@njit(cache=True, nogil=True)
def _decimate(xh, x, h, f: int, z) -> None:
    """Above 48 kHz: append the hop x (C, f*H) to the history xh (C, L - 1 + f*H) and write its
    H decimated samples z (C, H) (causal FIR h)."""
    for ch in range(x.shape[0]):
        _shift_in(xh[ch], x[ch])
        _fir_decimate(xh[ch], h, f, 0, z[ch])


@njit(cache=True, nogil=True)
def _interpolate(eb, est, g, f: int, out) -> None:
    """Above 48 kHz: append the net's estimate est (C, 1, H) to the history eb (C, Q + H) and
    write it interpolated by f into out (C, 1, f*H)."""
    for ch in range(est.shape[0]):
        _shift_in(eb[ch], est[ch, 0])
        _fir_interpolate(eb[ch], g, f, out[ch, 0])


@njit(cache=True, nogil=True)
def _up_push(xb, x, g, f: int, ctx) -> None:
    """Below 16 kHz: append the hop x (C, H) to the history xb (C, Q + H), interpolate it by f
    and push the f*H samples into the net's context ctx (C, 1, T)."""
    n = f * x.shape[1]
    t = ctx.shape[2]
    for ch in range(x.shape[0]):
        _shift_in(xb[ch], x[ch])
        row = ctx[ch, 0]
        for i in range(t - n):
            row[i] = row[i + n]
        _fir_interpolate(xb[ch], g, f, row[t - n:])


@njit(cache=True, nogil=True)
def _down(eh, est, h, f: int, phase: int, out) -> None:
    """Below 16 kHz: append the net's estimate est (C, 1, f*H) to the history eh
    (C, L - 1 + f*H) and write out[c, 0, m] = sum_j h[j] e[f m + phase - j] (m < H)."""
    for ch in range(est.shape[0]):
        _shift_in(eh[ch], est[ch, 0])
        _fir_decimate(eh[ch], h, f, phase, out[ch, 0])


def resampling_filter(factor: int) -> np.ndarray:
    """Causal low-pass for decimating / interpolating by ``factor``: Kaiser FIR (60 dB), pass
    band to 0.9 of the low rate's Nyquist, stop band from it; odd length (delay (L - 1) / 2)."""
    from scipy.signal import firwin, kaiserord

    n, beta = kaiserord(60.0, 0.1 / factor)
    n += 1 - n % 2
    return firwin(n, 0.95 / factor, window=("kaiser", beta)).astype(np.float64)


class CrackleNet:
    """The ONNX net bound to preallocated arrays: ``ctx`` (C, 1, R - 1 + hop) in, ``est``
    (C, 1, hop) out; ``run()`` allocates nothing on the Python side."""

    def __init__(self, path: str | os.PathLike, channels: int, hop: int, threads: int = 1,
                 long_hop: bool = False) -> None:
        """``hop``: samples per run; with ``long_hop`` a net whose receptive field is over
        LONG_CONTEXT samples runs on 4 x ``hop`` (each run recomputes R - 1 samples of context:
        with R = 4,355 a 1024 hop costs 2.4 x a 4096 hop)."""
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        meta = json.loads(self.session.get_modelmeta().custom_metadata_map.get("aural", "{}"))
        if meta.get("kind") != "decrackle":
            raise ValueError(f"{path}: not a de-crackle model")
        self.receptive_field = int(meta["receptive_field"])
        if long_hop and self.receptive_field > LONG_CONTEXT:
            hop *= 4
        self.hop = hop
        self.ctx = np.zeros((channels, 1, self.receptive_field - 1 + hop), np.float32)
        self.est = np.zeros((channels, 1, hop), np.float32)
        self._bind = self.session.io_binding()
        self._bind.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(self.ctx))
        self._bind.bind_ortvalue_output("crackle", ort.OrtValue.ortvalue_from_numpy(self.est))
        self._ro = ort.RunOptions()

    def run(self) -> np.ndarray:
        self.session.run_with_iobinding(self._bind, self._ro)
        return self.est

    def estimate(self, x: np.ndarray) -> np.ndarray:
        """Whole-signal estimate (control thread, allocates): x (C, n) -> (C, n), centred."""
        r = self.receptive_field
        half = (r - 1) // 2
        xp = np.pad(np.asarray(x, np.float32), ((0, 0), (half, half)))[:, None, :]
        return self.session.run(None, {"x": xp})[0][:, 0, :]


@register
class DeCrackle(HopProcessor):
    """Learned de-click / de-crackle (see module doc).  ``samples_changed`` counts output
    samples that differ from the input by more than 1e-6; ``active`` is False where the model
    does not run (no model file); the net runs at the rate divided by ``factor`` (2 up to 96
    kHz, 4 above) or multiplied by ``up`` (2 below 16 kHz)."""

    params = (
        Param("amount", 1.0, unit="", range=(0.0, 1.0), smoothing_ms=0.0,
              doc="share of the estimated crackle removed (ramped over one hop on a change)"),
    )

    def __init__(self, name: str | None = None, *, model: str | os.PathLike | None = None,
                 **kw) -> None:
        self.model_path = str(model or DEFAULT_DECRACKLE_MODEL)
        self._net: CrackleNet | None = None
        self.samples_changed = 0
        self.factor = 1
        self.up = 1
        super().__init__(name, **kw)

    @property
    def active(self) -> bool:
        return self.prepared and self._net is not None

    def _prepare_hop(self) -> None:
        sr, c = self.sample_rate, self.channels
        # the net's rate: sr / factor above 48 kHz, sr * up below 16 kHz
        f = 1 if sr <= MAX_RATE else (2 if sr <= 2 * MAX_RATE else 4)
        up = 2 if sr < MIN_RATE else 1
        self.factor, self.up = f, up
        lo = sr * up / f
        hop_lo = 1024 if lo >= 32000 else 512
        self._net = None
        if MIN_RATE <= lo <= MAX_RATE and os.path.isfile(self.model_path):
            self._net = CrackleNet(self.model_path, c, hop_lo, long_hop=True)
            r, hop_lo = self._net.receptive_field, self._net.hop
        else:
            r = receptive_field()
        self.hop = f * hop_lo // up
        half = (r - 1) // 2
        self._ctx = self._net.ctx if self._net is not None else np.zeros((c, 1, r - 1 + hop_lo), np.float32)
        self._zero = np.zeros((c, 1, self.hop), np.float32)
        if f == 1 and up == 1:
            self._half = half
            self._xd = self._ctx
        else:
            self._h = resampling_filter(max(f, up))
            k = (self._h.size - 1) // 2
            if f > 1:
                self._half = k + f * half + k  # decimator, the net's centring, interpolator
                self._xh = np.zeros((c, self._h.size - 1 + self.hop), np.float64)
                self._z = np.zeros((c, hop_lo), np.float64)
                self._eb = np.zeros((c, -(-self._h.size // f) + hop_lo), np.float64)
            else:
                # interpolator, the net's centring and decimator, at the net's rate; the
                # decimator's phase makes the whole delay a whole number of input samples
                self._phase = (2 * k + half) % up
                self._half = (2 * k + half - self._phase) // up
                self._xh = np.zeros((c, -(-self._h.size // up) + self.hop), np.float64)
                self._eb = np.zeros((c, self._h.size - 1 + hop_lo), np.float64)
            self._ehi = np.zeros((c, 1, self.hop), np.float32)
            self._xd = np.zeros((c, 1, self._half + self.hop), np.float32)
        self._reset_hop()

    def _reset_hop(self) -> None:
        self._ctx[:] = 0.0
        if self.factor > 1 or self.up > 1:
            self._xh[:] = 0.0
            self._eb[:] = 0.0
            self._xd[:] = 0.0
        self._amount = float(self.v("amount"))
        self.samples_changed = 0

    def _hop_latency(self) -> int:
        return self._half

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        a1 = float(self.v("amount"))
        a0 = self._amount
        self._amount = a1
        net = self._net
        f = self.factor
        if f == 1 and self.up == 1:
            _push(self._ctx, x)
            if net is None or (a0 == 0.0 and a1 == 0.0):
                est, ok = self._zero, False
            else:
                est, ok = net.run(), True
            self.samples_changed += _subtract(self._ctx, est, self._half, a0, a1, ok, out)
            return
        # above 48 kHz the net runs on the decimated hop, below 16 kHz on the interpolated
        # one; only its estimate comes back to the input's rate
        _push(self._xd, x)
        if net is None:
            self.samples_changed += _subtract(self._xd, self._zero, 0, a0, a1, False, out)
            return
        if f > 1:
            _decimate(self._xh, x, self._h, f, self._z)
            _push(self._ctx, self._z)
            _interpolate(self._eb, net.run(), self._h, f, self._ehi)
        else:
            _up_push(self._xh, x, self._h, self.up, self._ctx)
            _down(self._eb, net.run(), self._h, self.up, self._phase, self._ehi)
        ok = not (a0 == 0.0 and a1 == 0.0)
        self.samples_changed += _subtract(self._xd, self._ehi, 0, a0, a1, ok, out)
