"""Shared test helpers: signals, streaming in blocks, measurements."""
from __future__ import annotations

import numpy as np

from aural.engine import Param, Processor
from aural.engine.kernels import DelayLine


def stream(proc, x: np.ndarray, sample_rate: int, blocks, max_block: int | None = None) -> np.ndarray:
    """Prepare ``proc`` and feed x (channels, n) in blocks of the given size(s); concatenate output.

    blocks: an int, or a list of sizes cycled through (varying block sizes)."""
    sizes = [blocks] if isinstance(blocks, int) else list(blocks)
    proc.prepare(sample_rate, x.shape[0], max_block or max(sizes))
    out = np.zeros_like(x, dtype=np.float32)
    pos, i = 0, 0
    while pos < x.shape[1]:
        m = min(sizes[i % len(sizes)], x.shape[1] - pos)
        out[:, pos:pos + m] = proc.process(np.ascontiguousarray(x[:, pos:pos + m], dtype=np.float32))
        pos += m
        i += 1
    return out


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (1-D signals)."""
    ref = ref.astype(np.float64) - ref.mean()
    est = est.astype(np.float64) - est.mean()
    a = np.dot(est, ref) / (np.dot(ref, ref) + 1e-12)
    t = a * ref
    return float(10 * np.log10(np.dot(t, t) / (np.dot(est - t, est - t) + 1e-12)))


def tone(freq: float, sr: int, seconds: float, amp: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return np.tile((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), (channels, 1))


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-30))


class Delay(Processor):
    """Pure integer delay with a declared latency (a test processor)."""

    params = (Param("samples", 10, kind="int", range=(0, 10000)),)

    def _prepare(self) -> None:
        self.dl = DelayLine(self.channels, int(self.v("samples")), self.max_block)

    def _process(self, x, out) -> None:
        out[:] = self.dl.process(x)

    def _reset(self) -> None:
        self.dl.reset()

    def _latency(self) -> int:
        return int(self.v("samples"))
