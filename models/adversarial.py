"""Adversarial fine-tuning (seed 001's GAN framing), for ``aural train --adversarial W``.

A discriminator tells the clean target from the enhancer's output; the enhancer is trained to
fool it on top of its reconstruction loss.  The discriminator is the multi-resolution spectrogram
kind (UnivNet, DAC): one small 2-D conv stack per STFT resolution on the log magnitude, ending in
patch scores, so it judges spectral texture (residual noise, musical noise, smearing) rather
than the waveform's phase.  Losses are least squares (LSGAN) plus feature matching:

- discriminator: mean (D(clean) - 1)^2 + D(output)^2 over resolutions and patches;
- enhancer: W * [mean (D(output) - 1)^2 + w_fm * mean |features(output) - features(clean)|].

Training only: the exported model is the enhancer alone, so inference never sees any of this.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["SpectrogramDiscriminator", "discriminator_loss", "generator_loss"]


class _ResolutionD(nn.Module):
    def __init__(self, n_fft: int, channels: int = 16) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop = n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        act = nn.LeakyReLU(0.2)
        self.layers = nn.ModuleList([
            nn.Sequential(nn.Conv2d(1, c, (3, 9), padding=(1, 4)), act),
            nn.Sequential(nn.Conv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4)), act),
            nn.Sequential(nn.Conv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4)), act),
            nn.Sequential(nn.Conv2d(c, c, (3, 3), padding=(1, 1)), act),
        ])
        self.out = nn.Conv2d(c, 1, (3, 3), padding=(1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, return_complex=True)
        h = torch.log(spec.abs().clamp_min(1e-5)).transpose(1, 2).unsqueeze(1)  # (B, 1, T, F)
        feats = []
        for layer in self.layers:
            h = layer(h)
            feats.append(h)
        return self.out(h), feats


class SpectrogramDiscriminator(nn.Module):
    """Multi-resolution STFT discriminator; input (batch, samples) waveforms."""

    def __init__(self, resolutions: tuple[int, ...] = (512, 256, 128), channels: int = 16) -> None:
        super().__init__()
        self.discs = nn.ModuleList([_ResolutionD(n, channels) for n in resolutions])

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [d(x) for d in self.discs]


def discriminator_loss(disc: SpectrogramDiscriminator, real: torch.Tensor,
                       fake: torch.Tensor) -> torch.Tensor:
    """LSGAN loss of the discriminator (``fake`` is detached here)."""
    loss = real.new_zeros(())
    for (sr, _), (sf, _) in zip(disc(real), disc(fake.detach())):
        loss = loss + torch.mean((sr - 1.0) ** 2) + torch.mean(sf ** 2)
    return loss / len(disc.discs)


def generator_loss(disc: SpectrogramDiscriminator, real: torch.Tensor, fake: torch.Tensor,
                   w_fm: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial, feature-matching) losses of the enhancer, averaged over resolutions.  The
    discriminator's parameters get gradients too: zero them before its own step."""
    adv = fake.new_zeros(())
    fm = fake.new_zeros(())
    with torch.no_grad():
        real_out = [[f.detach() for f in feats] for _, feats in disc(real)]
    for (sf, ff), fr in zip(disc(fake), real_out):
        adv = adv + torch.mean((sf - 1.0) ** 2)
        for a, b in zip(ff, fr):
            fm = fm + torch.mean(torch.abs(a - b)) / (torch.mean(torch.abs(b)) + 1e-5)
    n = len(disc.discs)
    return adv / n, w_fm * fm / n
