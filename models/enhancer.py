"""NeuralEnhancer: an aural processor that streams an exported model through ONNX Runtime.

    from aural.models import NeuralEnhancer
    ne = NeuralEnhancer(model="dsunet-voice")            # shipped name or path to an .onnx
    ne = NeuralEnhancer(model="my.onnx", provider="cuda")  # onnxruntime-gpu, or a clear error
    y = ne(noisy, 16000)                                   # whole signal, latency-compensated

In a preset: ``{"type": "NeuralEnhancer", "params": {"model": "dsunet-voice", "provider": "cpu"}}``.

The model runs on fixed hops of ``model hop`` samples whatever the host block size
(:class:`aural.engine.HopProcessor`), one batch row per channel, state carried between calls in
preallocated arrays.  Latency = ``hop - 1`` (host adapter) + the model's own latency
(0 for WaveNet, ``n_fft - hop`` for the Dual-Step U-Net).  Never imports torch.

At another host rate (8-192 kHz) the stream is resampled to the model's rate and back inside the
processor (:mod:`aural.models.resample`, causal polyphase FIR, block-size independent); the
latency then adds both filters' delays and the buffering that keeps block size 1 from starving,
rounded to whole host samples (exact when host/model rate is an integer).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from aural.engine.hop import HopFifo, HopProcessor
from aural.engine.kernels import DelayLine
from aural.engine.params import Param
from aural.engine.processor import register
from numba import njit

from .resample import Resampler
from .runtime import OnnxStreamer, _providers_for, read_info, resolve_model

__all__ = ["DEFAULT_MODEL", "NeuralEnhancer"]

DEFAULT_MODEL = "dsunet-voice"  # see models/weights/RECIPE.md


@njit(cache=True, nogil=True)
def _add_high_band(out, xd, lowpassed):
    for c in range(out.shape[0]):
        for i in range(out.shape[1]):
            out[c, i] += xd[c, i] - lowpassed[c, i]


@register
class NeuralEnhancer(HopProcessor):
    """Streams a trained aural model (WaveNet or Dual-Step U-Net ONNX export).

    model: shipped model name (see ``aural.models.shipped_models()``) or path to an .onnx file.
    provider: ``"cpu"`` (default) or ``"cuda"`` (needs onnxruntime-gpu; an error otherwise).
    threads: onnxruntime intra-op threads (1 keeps real-time behaviour predictable).
    """

    params = (Param("high_band", True, kind="bool",
                    doc="when the host rate differs from the model's: add back, delayed, the band "
                        "the resampled model cannot see (above 80 % of its Nyquist), unprocessed; "
                        "off: that band is dropped"),)

    def __init__(self, model: str = DEFAULT_MODEL, provider: str = "cpu", threads: int = 1,
                 name: str | None = None, **kw: Any) -> None:
        super().__init__(name=name or "neural", **kw)
        self.model = str(model)
        self.provider = str(provider)
        self.threads = int(threads)
        _providers_for(self.provider)  # a missing provider is an error at construction, clearly
        self.model_path = resolve_model(self.model)
        self.info = read_info(self.model_path)
        self.hop = self.info.hop
        self._streamer: OnnxStreamer | None = None
        self._resampling = False

    def _prepare_hop(self) -> None:
        s = self._streamer
        if s is None or s.channels != self.channels:
            s = OnnxStreamer(self.model_path, channels=self.channels, provider=self.provider,
                             threads=self.threads)
            self._streamer = s
        s.reset()
        self.hop = s.hop
        self._hbuf = s.audio_in
        self._resampling = self.sample_rate != self.info.sample_rate
        if self._resampling:
            self._prepare_resampling()

    # ------------------------------------------------------------------ host rate != model rate
    def _prepare_resampling(self) -> None:
        sr, msr, c, h = self.sample_rate, self.info.sample_rate, self.channels, self.hop
        g = math.gcd(sr, msr)
        self._down = Resampler(c, msr // g, sr // g, sr, exact_side="in")
        # the model's latency in host samples, lat * sr/msr, may end in a fraction of a sample
        # (steps of g/msr); the up filter is made that fraction shorter so the total is whole
        frac_steps = (self.info.latency * (sr // g)) % (msr // g)
        self._up = Resampler(c, sr // g, msr // g, msr, exact_side="out", offset=frac_steps)
        self._mbuf = np.zeros((c, self._down.max_out(self.max_block)), np.float32)
        self._ubuf = np.zeros((c, self._up.max_out(h)), np.float32)
        self._mfill = 0
        self._prefill = self._min_prefill()
        self._rfifo = HopFifo(c, self._prefill + self.max_block + 2 * self._ubuf.shape[1] + 16)
        self._rfifo.clear(prefill=self._prefill)
        exact = self._prefill + self._down.delay + self._up.delay + self.info.latency * sr / msr
        self._rs_exact_latency = exact
        self._rs_latency = int(round(exact))
        # high band: x delayed by the latency minus x's own round trip through the same filters
        self._rt_down = Resampler(c, msr // g, sr // g, sr, exact_side="in")
        self._rt_up = Resampler(c, sr // g, msr // g, msr, exact_side="out")
        self._rt_m = np.zeros_like(self._mbuf)
        self._rt_u = np.zeros((c, self._rt_up.max_out(self._mbuf.shape[1])), np.float32)
        self._rt_prefill = int(round(self._rs_latency - self._rt_down.delay - self._rt_up.delay))
        self._rt_fifo = HopFifo(c, self._rt_prefill + self.max_block + self._rt_u.shape[1] + 16)
        self._rt_fifo.clear(prefill=self._rt_prefill)
        self._rt_out = np.zeros((c, self.max_block), np.float32)
        self._xdelay = DelayLine(c, self._rs_latency, self.max_block)

    def _min_prefill(self) -> int:
        """Least output FIFO prefill so that a stream fed 1 frame at a time never runs dry
        (larger blocks only deliver earlier)."""
        d, u, h = self._down, self._up, self.hop
        horizon = 64 * (h * self.sample_rate // self.info.sample_rate + 1) + 4 * d.M + 1000
        pos1 = pos2 = 0
        mcount = produced = 0
        need = 0
        for i in range(horizon):
            k, pos1 = Resampler.count(d.L, d.M, pos1)
            mcount += k
            while mcount >= h:
                mcount -= h
                for _ in range(h):
                    k2, pos2 = Resampler.count(u.L, u.M, pos2)
                    produced += k2
            need = max(need, i + 1 - produced)
        return need

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        if not self._resampling:
            super()._process(x, out)
            return
        n = x.shape[1]
        m = self._down.push(x, self._mbuf)
        h = self.hop
        pos = 0
        while pos < m:
            k = min(h - self._mfill, m - pos)
            self._hbuf[:, self._mfill:self._mfill + k] = self._mbuf[:, pos:pos + k]
            self._mfill += k
            pos += k
            if self._mfill == h:
                y = self._streamer.run()
                nu = self._up.push(y, self._ubuf)
                self._rfifo.write(self._ubuf, 0, nu)
                self._mfill = 0
        self._rfifo.read(out, 0, n)
        # the x round trip runs even while high_band is off, so switching it on is seamless
        mr = self._rt_down.push(x, self._rt_m)
        ur = self._rt_up.push(self._rt_m, self._rt_u, 0, mr)
        self._rt_fifo.write(self._rt_u, 0, ur)
        rt = self._rt_out[:, :n]
        self._rt_fifo.read(rt, 0, n)
        xd = self._xdelay.process(x)
        if self.v("high_band") > 0.5:
            _add_high_band(out, xd, rt)

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        self._hbuf[...] = x
        out[...] = self._streamer.run()

    def _reset_hop(self) -> None:
        if self._streamer is not None:
            self._streamer.reset()
        if getattr(self, "_resampling", False):
            self._down.reset()
            self._up.reset()
            self._mfill = 0
            self._rfifo.clear(prefill=self._prefill)
            self._rt_down.reset()
            self._rt_up.reset()
            self._rt_fifo.clear(prefill=self._rt_prefill)
            self._xdelay.reset()

    def _hop_latency(self) -> int:
        return self.info.latency

    def _latency(self) -> int:
        if getattr(self, "_resampling", False):
            return self._rs_latency
        return super()._latency()

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["params"] = {"model": self.model, "provider": self.provider, **d["params"]}
        if self.threads != 1:
            d["params"]["threads"] = self.threads
        return d
