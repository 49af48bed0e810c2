"""NeuralEnhancer: an aural processor that streams an exported model through ONNX Runtime.

    from aural.models import NeuralEnhancer
    ne = NeuralEnhancer(model="dsunet-small")            # shipped name or path to an .onnx
    ne = NeuralEnhancer(model="my.onnx", provider="cuda")  # onnxruntime-gpu, or a clear error
    y = ne(noisy, 16000)                                   # whole signal, latency-compensated

In a preset: ``{"type": "NeuralEnhancer", "params": {"model": "dsunet-small", "provider": "cpu"}}``.

The model runs on fixed hops of ``model hop`` samples whatever the host block size
(:class:`aural.engine.HopProcessor`), one batch row per channel, state carried between calls in
preallocated arrays.  Latency = ``hop - 1`` (host adapter) + the model's own latency
(0 for WaveNet, ``n_fft - hop`` for the Dual-Step U-Net).  Never imports torch.

The host sample rate must equal the model's (the shipped models are 16 kHz); resample around it
otherwise.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from aural.engine.hop import HopProcessor
from aural.engine.processor import register

from .runtime import OnnxStreamer, _providers_for, read_info, resolve_model

__all__ = ["NeuralEnhancer", "DEFAULT_MODEL"]

DEFAULT_MODEL = "dsunet-small"


@register
class NeuralEnhancer(HopProcessor):
    """Streams a trained aural model (WaveNet or Dual-Step U-Net ONNX export).

    model: shipped model name (see ``aural.models.shipped_models()``) or path to an .onnx file.
    provider: ``"cpu"`` (default) or ``"cuda"`` (needs onnxruntime-gpu; an error otherwise).
    threads: onnxruntime intra-op threads (1 keeps real-time behaviour predictable).
    """

    params = ()

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

    def _prepare_hop(self) -> None:
        if self.sample_rate != self.info.sample_rate:
            raise ValueError(f"{self.name}: model {self.model!r} runs at {self.info.sample_rate} Hz, "
                             f"host is {self.sample_rate} Hz (resample to the model rate)")
        s = self._streamer
        if s is None or s.channels != self.channels:
            s = OnnxStreamer(self.model_path, channels=self.channels, provider=self.provider,
                             threads=self.threads)
            self._streamer = s
        s.reset()
        self.hop = s.hop
        self._hbuf = s.audio_in

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        self._hbuf[...] = x
        out[...] = self._streamer.run()

    def _reset_hop(self) -> None:
        if self._streamer is not None:
            self._streamer.reset()

    def _hop_latency(self) -> int:
        return self.info.latency

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["params"] = {"model": self.model, "provider": self.provider, **d["params"]}
        if self.threads != 1:
            d["params"]["threads"] = self.threads
        return d
