"""Causal WaveNet / TCN enhancer on the waveform (seed 000; the review's TCN).

Stacks of gated dilated causal convolutions with residual and skip paths::

    x --1x1--> h --[dilated causal conv (k, d) -> tanh * sigmoid -> z]--+--> h + res(z)
                                                                        +--> skip += skip(z)
    y = x + head(relu(skip))        (head: 1x1 -> relu -> 1x1, last layer starts near zero)

The output is a correction added to the input, so an untrained model nearly passes audio
through (exactly, with ``WaveNet.identity_()``).
Fully causal: the model's own latency is 0 samples; the streaming runtime adds ``hop - 1``.
Receptive field: ``1 + stacks * (kernel - 1) * sum(dilations)`` samples.
"""
from __future__ import annotations

import torch
from torch import nn

from .streaming import CausalConv1d, StreamingModel

__all__ = ["WaveNet"]


class _GatedLayer(nn.Module):
    def __init__(self, channels: int, skip: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.dil = CausalConv1d(channels, 2 * channels, kernel, dilation)
        self.res = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip, 1)
        self.channels = channels

    def gate(self, a: torch.Tensor) -> torch.Tensor:
        c = self.channels
        return torch.tanh(a[:, :c]) * torch.sigmoid(a[:, c:])


class WaveNet(StreamingModel):
    """Causal gated dilated WaveNet.

    sample_rate: rate the model is trained for (Hz).  hop: samples per streaming call.
    channels: residual channels.  skip_channels: skip-path channels.  kernel: dilated conv size.
    layers: layers per stack (dilations 1, 2, 4, ... 2**(layers-1)).  stacks: repetitions.
    io_gain: the network works on ``x * io_gain`` and its correction is divided by it (audio
    peaks near 0.1-1 would otherwise leave the gates nearly linear and training slow to start).
    """

    kind = "wavenet"

    def __init__(self, sample_rate: int = 16000, hop: int = 128, channels: int = 32,
                 skip_channels: int = 32, kernel: int = 2, layers: int = 10, stacks: int = 1,
                 io_gain: float = 10.0) -> None:
        super().__init__(sample_rate, hop)
        self.config = dict(sample_rate=int(sample_rate), hop=int(hop), channels=int(channels),
                           skip_channels=int(skip_channels), kernel=int(kernel), layers=int(layers),
                           stacks=int(stacks), io_gain=float(io_gain))
        self.io_gain = float(io_gain)
        self.inp = nn.Conv1d(1, channels, 1)
        self.layers = nn.ModuleList(
            _GatedLayer(channels, skip_channels, kernel, 2 ** i)
            for _ in range(stacks) for i in range(layers))
        self.head1 = nn.Conv1d(skip_channels, skip_channels, 1)
        self.head2 = nn.Conv1d(skip_channels, 1, 1)
        nn.init.normal_(self.head2.weight, std=1e-3)  # near pass-through, gradients flow
        nn.init.zeros_(self.head2.bias)
        self.receptive_field = 1 + stacks * (kernel - 1) * (2 ** layers - 1)
        self._register_cached()

    def identity_(self) -> WaveNet:
        """Zero the last layer: the model then passes audio through unchanged."""
        with torch.no_grad():
            self.head2.weight.zero_()
            self.head2.bias.zero_()
        return self

    def _run(self, x: torch.Tensor, conv) -> torch.Tensor:
        h = self.inp(x.unsqueeze(1) * self.io_gain)
        skip = None
        for layer in self.layers:
            z = layer.gate(conv(layer.dil, h))
            s = layer.skip(z)
            skip = s if skip is None else skip + s
            h = h + layer.res(z)
        out = self.head2(torch.relu(self.head1(torch.relu(skip))))
        return x + out.squeeze(1) / self.io_gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, samples) -> (batch, samples)."""
        return self._run(x, lambda m, t: m(t))

    def step(self, x: torch.Tensor, *states: torch.Tensor):
        """x: (batch, hop) new samples and the caches -> (y, *new caches)."""
        ctx = self.step_context(list(states))
        y = self._run(x, ctx)
        return (y, *ctx.states())
