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
cache: the one-pass form left-pads with zeros, the streaming form prepends the cache.  A
:class:`CausalGRU` keeps its hidden vector (zeros at the start, as in the one-pass form).
"""
from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

__all__ = ["MODEL_KINDS", "CausalConv1d", "CausalConv2d", "CausalGRU", "StreamingModel", "build_model"]


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
                        if isinstance(m, (CausalConv1d, CausalConv2d, CausalGRU)) and m.cache_len > 0]
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


class CausalGRU(nn.Module):
    """A GRU over time on (batch, ch, time, freq) features, each frame flattened (ch * freq).

    ``inp`` projects a frame to ``hidden`` units (leaky ReLU), the GRU runs over time and ``out``
    projects back to (ch, freq).  ``out`` starts at zero, so a GRU added as a residual branch to a
    trained network starts as the identity (the network grows without forgetting).  Its streaming
    state is the hidden vector (``cache_shape = (hidden,)``); ``step`` is the GRU cell written out
    with the same weights, so the exported graph is plain matrix products.
    """

    def __init__(self, ch: int, freq: int, hidden: int) -> None:
        super().__init__()
        self.ch, self.freq, self.hidden = int(ch), int(freq), int(hidden)
        self.inp = nn.Linear(self.ch * self.freq, self.hidden)
        self.gru = nn.GRU(self.hidden, self.hidden, batch_first=True)
        self.out = nn.Linear(self.hidden, self.ch * self.freq)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.cache_len = 1  # a state to carry (not a frame count)
        self.cache_shape = (self.hidden,)

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, f = x.shape
        return nn.functional.leaky_relu(self.inp(x.permute(0, 2, 1, 3).reshape(b, t, c * f)), 0.2)

    def _unflat(self, h: torch.Tensor) -> torch.Tensor:
        b, t, _ = h.shape
        return self.out(h).reshape(b, t, self.ch, self.freq).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self._flat(x))
        return self._unflat(h)

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self._flat(x)[:, 0]  # (B, hidden): one frame
        g = self.gru
        gi = u @ g.weight_ih_l0.t() + g.bias_ih_l0
        gh = state @ g.weight_hh_l0.t() + g.bias_hh_l0
        n_h = self.hidden
        r = torch.sigmoid(gi[:, :n_h] + gh[:, :n_h])
        z = torch.sigmoid(gi[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
        n = torch.tanh(gi[:, 2 * n_h:] + r * gh[:, 2 * n_h:])
        h = (1 - z) * n + z * state
        return self._unflat(h[:, None]), h


MODEL_KINDS = ("wavenet", "dsunet", "fullband")


def build_model(kind: str, **config: Any) -> StreamingModel:
    """Construct a model by kind name with its config (as stored in checkpoints and ONNX)."""
    if kind == "wavenet":
        from .wavenet import WaveNet
        return WaveNet(**config)
    if kind == "dsunet":
        from .dsunet import DualStepUNet
        return DualStepUNet(**config)
    if kind == "fullband":
        from .fullband import FullBandUNet
        return FullBandUNet(**config)
    raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(MODEL_KINDS)})")
