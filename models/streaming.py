"""Streaming building blocks shared by the torch models (training/export only: imports torch).

Every model in aural.models is a :class:`StreamingModel`:

- ``forward(x)``: one pass over a whole (batch, samples) waveform, the way training sees it;
  the output is the enhanced waveform delayed by ``model.latency`` samples (zeros first),
  same length as the input.
- ``step(x, *states)``: one streaming call on exactly ``model.hop`` new samples, taking and
  returning every layer's streaming state (conv caches).  Feeding a signal hop by hop through
  ``step`` starting from :meth:`initial_states` (zeros) gives exactly ``forward``'s output.
- ``state_specs()``: ``[(name, shape_without_batch), ...]`` in the order ``step`` uses; these
  become the named ONNX inputs ``<name>`` and outputs ``<name>_out``.

A causal convolution keeps the last ``(kernel - 1) * dilation`` input frames of its layer as its
cache: the one-pass form left-pads with zeros, the streaming form prepends the cache.
"""
from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

__all__ = ["MODEL_KINDS", "CausalConv1d", "CausalConv2d", "StreamingModel", "build_model"]


class StreamingModel(nn.Module):
    """Base class: hop, latency, sample rate, config and the state bookkeeping."""

    kind: str = ""

    def __init__(self, sample_rate: int, hop: int) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.hop = int(hop)
        self._cached: list[tuple[str, nn.Module]] = []

    # subclasses fill self.config (a JSON-able dict of constructor arguments)
    config: dict[str, Any]

    @property
    def latency(self) -> int:
        """Algorithmic latency inside the model, in samples (0 for a causal waveform model)."""
        return 0

    def state_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(name, tuple(m.cache_shape)) for name, m in self._cached]

    def initial_states(self, batch: int = 1) -> list[torch.Tensor]:
        return [torch.zeros((batch, *shape)) for _, shape in self.state_specs()]

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "config": self.config, "sample_rate": self.sample_rate,
                "hop": self.hop, "latency": self.latency,
                "parameters": sum(p.numel() for p in self.parameters())}

    def config_json(self) -> str:
        return json.dumps({"kind": self.kind, **self.config}, sort_keys=True)

    def _register_cached(self) -> None:
        """Collect the causal convs (module order = state order)."""
        self._cached = [(n.replace(".", "_"), m) for n, m in self.named_modules()
                        if isinstance(m, (CausalConv1d, CausalConv2d)) and m.cache_len > 0]
        for name, m in self._cached:
            m.state_name = name

    def conv_state_names(self) -> list[str]:
        return [n for n, _ in self._cached]

    def step_context(self, states: list[torch.Tensor]) -> StepContext:
        """Context for the causal convs of one ``step`` (states: the conv caches, in order)."""
        return StepContext(self.kind, self.conv_state_names(), states)


class StepContext:
    """Hands each causal conv its cache during ``step`` and collects the new caches."""

    def __init__(self, kind: str, names: list[str], states: list[torch.Tensor]) -> None:
        if len(states) != len(names):
            raise ValueError(f"{kind}: step() needs {len(names)} conv caches, got {len(states)}")
        self.names = names
        self.old = dict(zip(names, states))
        self.new: dict[str, torch.Tensor] = {}

    def __call__(self, conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if conv.cache_len == 0:
            return conv(x)
        y, c = conv.step(x, self.old[conv.state_name])
        self.new[conv.state_name] = c
        return y

    def states(self) -> list[torch.Tensor]:
        return [self.new[n] for n in self.names]


class CausalConv1d(nn.Module):
    """Conv1d over time, causal (left zero padding); streaming form carries a cache."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int = 1, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, dilation=dilation, bias=bias)
        self.cache_len = (kernel - 1) * dilation
        self.cache_shape = (cin, self.cache_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cache_len:
            x = nn.functional.pad(x, (self.cache_len, 0))
        return self.conv(x)

    def step(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.cache_len:
            return self.conv(x), cache
        xc = torch.cat([cache, x], dim=2)
        return self.conv(xc), xc[:, :, xc.shape[2] - self.cache_len:]


class CausalConv2d(nn.Module):
    """Conv2d on (batch, ch, time, freq): causal in time, 'same'-padded (or strided) in freq."""

    def __init__(self, cin: int, cout: int, kt: int, kf: int, freq_in: int, stride_f: int = 1,
                 dilation_t: int = 1, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, (kt, kf), stride=(1, stride_f), dilation=(dilation_t, 1),
                              padding=(0, kf // 2), bias=bias)
        self.cache_len = (kt - 1) * dilation_t
        self.cache_shape = (cin, self.cache_len, freq_in)
        self.freq_out = (freq_in + 2 * (kf // 2) - kf) // stride_f + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cache_len:
            x = nn.functional.pad(x, (0, 0, self.cache_len, 0))
        return self.conv(x)

    def step(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.cache_len:
            return self.conv(x), cache
        xc = torch.cat([cache, x], dim=2)
        return self.conv(xc), xc[:, :, xc.shape[2] - self.cache_len:]


MODEL_KINDS = ("wavenet", "dsunet")


def build_model(kind: str, **config: Any) -> StreamingModel:
    """Construct a model by kind name with its config (as stored in checkpoints and ONNX)."""
    if kind == "wavenet":
        from .wavenet import WaveNet
        return WaveNet(**config)
    if kind == "dsunet":
        from .dsunet import DualStepUNet
        return DualStepUNet(**config)
    raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(MODEL_KINDS)})")
