"""Dual-Step U-Net enhancer on the STFT (seeds 001 and 004), causal in time.

The STFT lives inside the model (DFT as matrix products), so the exported ONNX graph maps
``hop`` waveform samples to ``hop`` samples and carries its own analysis buffer and overlap-add
tail as streaming state.  Per frame (n_fft samples, periodic sqrt-Hann, hop = n_fft/2 or /4):

- features: power-law compressed spectrum, ``|X|^0.3`` and ``|X|^0.3 * X/|X|`` (3 channels).
- stage 1 (denoise: hiss, hum, clicks, crackle): a U-Net predicts a real mask in [0, 1]:
  ``Y1 = sigmoid(m) * X``.
- stage 2 (detail restoration): a second U-Net sees the features of X and of Y1 and predicts a
  bounded complex correction ``c`` (tanh): ``Y = Y1 + c * X``, so detail that stage 1 removed can
  come back, with phase.  Its last layer starts at zero (stage 2 starts as identity).
  With ``df = K > 1`` the correction is a causal deep filter (DeepFilterNet's, here on every bin):
  ``Y[t] = Y1[t] + sum_k c_k[t] * X[t-k]`` over the current and K-1 past frames, which resolves
  harmonics finer than one bin (62.5 Hz at n_fft 256 / 16 kHz) can; the past spectra are a
  streaming state (``df_re``, ``df_im``: K-1 frames each).  The taps past the first start at
  zero, so a model with ``df`` grows from one without it exactly (``aural train --init``).
- with ``noise_floor = W > 0`` frames, a fourth input feature per bin: the frame's a-posteriori
  SNR against a minimum-statistics noise floor (Martin's idea, simplified): the minimum, over the
  last W frames, of the log power smoothed over 4 frames.  It gives every bin the long-term
  context (is this level the steady floor?) that the 2-frame kernels and the band-pooled GRU
  cannot see, the information stationary coloured noise (white, pink, brown) is removed with.
  ``(log10 |X|^2 - floor) / 2`` (bels / 2, clipped to [-1, 3]; 0 until a floor exists); the
  smoothing and minimum windows are streaming states (``nf_pow``, ``nf_min``, ``nf_count``).
  Its input weights start at zero, so it grows onto a trained model exactly.

U-Net: encoder convs stride 2 in frequency only (129 -> 65 -> 33 -> 17 -> 9 bins for n_fft 256),
a bottleneck of dilated causal time convs (residual) and, with ``gru > 0``, a residual GRU over
the flattened bottleneck frame (unbounded memory: noise statistics over seconds, as RNNoise and
DeepFilterNet keep; its output layer starts at zero, so it can be grown onto a trained model),
decoder with skip concatenation and transposed convs in frequency.  Every time kernel is causal (left padding; its cache is a streaming
state); any frequency context is allowed.  Model latency = n_fft - hop samples (the synthesis
overlap); no look-ahead.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .streaming import CausalConv2d, CausalGRU, StreamingModel

__all__ = ["DualStepUNet", "deep_filter", "overlap_add"]

_SMOOTH = 4  # frames the noise-floor tracker averages power over before its minimum
_OFFSET = 30.0  # bels subtracted from the stored log powers: a zero state is "no frame yet"


def overlap_add(frames: torch.Tensor, hop: int, length: int) -> torch.Tensor:
    """Synthesis frames (B, T, n) laid ``hop`` apart and summed -> (B, length) samples."""
    b, t, n = frames.shape
    y = F.fold(frames.transpose(1, 2), output_size=(1, (t - 1) * hop + n),
               kernel_size=(1, n), stride=(1, hop))
    return y.reshape(b, -1)[:, :length]


def deep_filter(base_re: torch.Tensor, base_im: torch.Tensor, x_re: torch.Tensor,
                x_im: torch.Tensor, c: torch.Tensor, taps: int, past=None):
    """``base + sum_k c_k[t] * X[t-k]`` over the current and ``taps - 1`` past frames.

    base_*, x_*: (B, T, F) spectra; c: (B, 2 taps, T, F) complex coefficients (re, im per tap).
    past: the last ``taps - 1`` frames of X before these ``(re, im)``, (B, taps-1, F) each;
    None: zeros (a fresh stream).  -> (re, im, new past or None when taps == 1)."""
    rp, ip, new_past = x_re, x_im, None
    if taps > 1:
        if past is None:
            past = (x_re.new_zeros(x_re.shape[0], taps - 1, x_re.shape[2]),) * 2
        rp, ip = torch.cat([past[0], x_re], dim=1), torch.cat([past[1], x_im], dim=1)
        new_past = (rp[:, -(taps - 1):], ip[:, -(taps - 1):])
    re, im, t = base_re, base_im, x_re.shape[1]
    for k in range(taps):  # tap k multiplies the spectrum k frames back
        a = taps - 1 - k
        xr, xi = rp[:, a:a + t], ip[:, a:a + t]
        cr, ci = c[:, 2 * k], c[:, 2 * k + 1]
        re = re + cr * xr - ci * xi
        im = im + cr * xi + ci * xr
    return re, im, new_past


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class _UNet(nn.Module):
    def __init__(self, cin: int, cout: int, freq: int, channels: tuple[int, ...], kt: int,
                 dilations: tuple[int, ...], gru: int = 0) -> None:
        super().__init__()
        self.enc = nn.ModuleList()
        self.freqs = [freq]
        c_prev, f = cin, freq
        for c in channels:
            conv = CausalConv2d(c_prev, c, kt, 3, f, stride_f=2)
            self.enc.append(conv)
            f = conv.freq_out
            self.freqs.append(f)
            c_prev = c
        self.mid = nn.ModuleList(CausalConv2d(c_prev, c_prev, kt, 3, f, dilation_t=d) for d in dilations)
        self.gru = CausalGRU(c_prev, f, gru) if gru > 0 else None
        self.dec = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in reversed(range(len(channels))):
            c = channels[i]
            c_out = channels[i - 1] if i > 0 else cout
            self.dec.append(CausalConv2d(2 * c, c, 1, 3, self.freqs[i + 1]))
            f_in, f_out = self.freqs[i + 1], self.freqs[i]
            up = nn.ConvTranspose2d(c, c_out, (1, 3), stride=(1, 2), padding=(0, 1),
                                    output_padding=(0, f_out - (2 * f_in - 1)))
            self.up.append(up)
        self.n_levels = len(channels)

    def forward(self, x: torch.Tensor, conv) -> torch.Tensor:
        skips = []
        h = x
        for m in self.enc:
            h = _lrelu(conv(m, h))
            skips.append(h)
        for m in self.mid:
            h = h + _lrelu(conv(m, h))
        if self.gru is not None:
            h = h + conv(self.gru, h)
        for j, (d, u) in enumerate(zip(self.dec, self.up)):
            h = _lrelu(conv(d, torch.cat([h, skips[self.n_levels - 1 - j]], dim=1)))
            h = u(h)
            if j < self.n_levels - 1:
                h = _lrelu(h)
        return h


class DualStepUNet(StreamingModel):
    """Two-stage causal U-Net on the STFT.

    sample_rate: model rate (Hz).  n_fft: frame size (power of two).  hop: n_fft/2 or n_fft/4.
    channels: encoder channels per level (each level halves the bins).  kt: time kernel.
    dilations: bottleneck time dilations.  stages: 1 (denoise only) or 2 (denoise + restore).
    channels2: encoder channels of stage 2 (default: channels).  gru: hidden units of the
    residual bottleneck GRU in each U-Net (0: none).  df: taps of stage 2's complex filter over
    frames (1: the current frame only; needs stages=2).  noise_floor: minimum-statistics window
    in frames for the noise-floor SNR feature (0: none; 125 frames = 1 s at 16 kHz / hop 128).
    """

    kind = "dsunet"

    def __init__(self, sample_rate: int = 16000, n_fft: int = 256, hop: int = 128,
                 channels: tuple[int, ...] = (16, 16, 32, 32), kt: int = 2,
                 dilations: tuple[int, ...] = (1, 2, 4, 8), stages: int = 2,
                 channels2: tuple[int, ...] | None = None, gru: int = 0, df: int = 1,
                 noise_floor: int = 0) -> None:
        super().__init__(sample_rate, hop)
        if n_fft & (n_fft - 1) or n_fft < 16:
            raise ValueError(f"n_fft must be a power of two >= 16, got {n_fft}")
        if hop not in (n_fft // 2, n_fft // 4):
            raise ValueError(f"hop must be n_fft/2 or n_fft/4, got {hop} for n_fft {n_fft}")
        if stages not in (1, 2):
            raise ValueError("stages must be 1 or 2")
        if df < 1 or (df > 1 and stages != 2):
            raise ValueError(f"df (deep-filter taps) must be >= 1 and needs stages=2, got df={df}")
        channels = tuple(int(c) for c in channels)
        channels2 = tuple(int(c) for c in (channels2 or channels))
        self.config = dict(sample_rate=int(sample_rate), n_fft=int(n_fft), hop=int(hop),
                           channels=list(channels), kt=int(kt), dilations=[int(d) for d in dilations],
                           stages=int(stages), channels2=list(channels2))
        if gru:  # only when used: configs of models without it stay as they were
            self.config["gru"] = int(gru)
        if df > 1:
            self.config["df"] = int(df)
        if noise_floor < 0 or noise_floor == 1:
            raise ValueError(f"noise_floor (window in frames) must be 0 or >= 2, got {noise_floor}")
        if noise_floor:
            self.config["noise_floor"] = int(noise_floor)
        self.df = int(df)
        self.noise_floor = int(noise_floor)
        nfeat = 4 if noise_floor else 3
        self.n_fft = n_fft
        self.stages = stages
        nb = n_fft // 2 + 1
        self.n_bins = nb
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(nb, dtype=torch.float64)
        ang = 2 * math.pi * n[:, None] * k[None, :] / n_fft
        win = torch.sqrt(0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft))  # periodic sqrt-Hann
        ck = torch.full((nb,), 2.0, dtype=torch.float64)
        ck[0] = 1.0
        ck[-1] = 1.0
        scale = hop / (n_fft / 2)  # sqrt-Hann^2 overlap-adds to n_fft/(2 hop)
        # analysis: window folded into the DFT matrices; synthesis: window and 1/N folded in
        self.register_buffer("dft_re", (win[:, None] * torch.cos(ang)).float(), persistent=False)
        self.register_buffer("dft_im", (-win[:, None] * torch.sin(ang)).float(), persistent=False)
        self.register_buffer("idft_re", (ck[:, None] * torch.cos(ang.T) * win[None, :] * scale / n_fft).float(),
                             persistent=False)
        self.register_buffer("idft_im", (-ck[:, None] * torch.sin(ang.T) * win[None, :] * scale / n_fft).float(),
                             persistent=False)
        self.unet1 = _UNet(nfeat, 1, nb, channels, kt, tuple(dilations), int(gru))
        # mask logits start around 0 (mask ~0.5, where the sigmoid learns fastest: a start near
        # 1 trained 3x slower in short CPU runs)
        nn.init.zeros_(self.unet1.up[-1].bias)
        if stages == 2:
            self.unet2 = _UNet(nfeat + 3, 2 * self.df, nb, channels2, kt, tuple(dilations), int(gru))
            nn.init.zeros_(self.unet2.up[-1].weight)
            nn.init.zeros_(self.unet2.up[-1].bias)
        self._register_cached()

    @property
    def latency(self) -> int:
        return self.n_fft - self.hop

    def state_specs(self):
        tail = self.n_fft - self.hop
        df = [("df_re", (self.df - 1, self.n_bins)), ("df_im", (self.df - 1, self.n_bins))] if self.df > 1 else []
        nf = ([("nf_pow", (_SMOOTH - 1, self.n_bins)), ("nf_min", (self.noise_floor - 1, self.n_bins)),
               ("nf_count", (1,))] if self.noise_floor else [])
        return [("stft_in", (tail,)), ("ola", (tail,))] + df + nf + super().state_specs()

    def initial_states(self, batch: int = 1):
        return [torch.zeros((batch, *shape)) for _, shape in self.state_specs()]

    # ------------------------------------------------------------------ spectral core
    @staticmethod
    def _features(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
        mag = torch.sqrt(re * re + im * im + 1e-10)
        c = mag ** 0.3
        g = c / mag
        return torch.stack([c, re * g, im * g], dim=1)  # (B, 3, T, F)

    def _floor_feature(self, power: torch.Tensor, nf=None):
        """power |X|^2 (B, T, F) -> (SNR feature (B, T, F), new noise-floor states or None).

        nf: ``(nf_pow, nf_min, nf_count)`` when streaming (T = 1); None: one pass from a fresh
        stream.  ``nf_pow`` holds the last 3 power frames; ``nf_min`` the last W-1 smoothed log
        powers minus 30 bels (so its zero start means "no frame yet" and never wins the minimum);
        ``nf_count`` the frames seen (saturating at 3): the smoothing needs 3 past frames before
        a frame enters the minimum (zero-padded frames before the start would drag the floor
        down)."""
        k, w = _SMOOTH, self.noise_floor
        if nf is None:
            b, t, f = power.shape
            ps = F.pad(power, (0, 0, k - 1, 0)).unfold(1, k, 1).mean(-1)  # (B, T, F)
            valid = (torch.arange(t, device=power.device) >= k - 1)[None, :, None]
            q = torch.where(valid, torch.log10(ps + 1e-10) - _OFFSET, torch.zeros_like(ps))
            qp = F.pad(q, (0, 0, w - 1, 0)).permute(0, 2, 1).reshape(b * f, 1, t + w - 1)
            m = -F.max_pool1d(-qp, w, 1).reshape(b, f, t).permute(0, 2, 1)
            new = None
        else:
            pw_cache, q_cache, count = nf
            pw = torch.cat([pw_cache, power], dim=1)  # (B, K, F)
            ps = pw.mean(1, keepdim=True)
            valid = (count >= k - 1)[:, :, None]  # (B, 1, 1)
            q = torch.where(valid, torch.log10(ps + 1e-10) - _OFFSET, torch.zeros_like(ps))
            qw = torch.cat([q_cache, q], dim=1)  # (B, W, F)
            m = qw.min(dim=1, keepdim=True).values
            new = (pw[:, 1:], qw[:, 1:], torch.clamp(count + 1, max=float(k - 1)))
        snr = torch.clamp(0.5 * (torch.log10(power + 1e-10) - (m + _OFFSET)), -1.0, 3.0)
        return torch.where(m < -1.0, snr, torch.zeros_like(snr)), new

    def _spectral(self, frames: torch.Tensor, conv, both: bool = False, past=None, nf=None):
        """frames (B, T, n_fft) -> (enhanced frames, stage-1 frames or None, new past or None,
        new noise-floor states or None).

        Frames are time frames (B, T, n_fft) for overlap-add.  past: the deep filter's previous
        spectra ``(re, im)``, each (B, df-1, F) (streaming); None: zeros before the first frame
        (one pass).  The new past is returned when df > 1.  nf: the noise-floor states
        (streaming, see :meth:`_floor_feature`)."""
        re = frames @ self.dft_re
        im = frames @ self.dft_im
        fx = self._features(re, im)
        new_nf = None
        if self.noise_floor:
            with torch.no_grad():  # a function of the input only: nothing to learn through
                snr, new_nf = self._floor_feature(re * re + im * im, nf)
            fx = torch.cat([fx, snr[:, None]], dim=1)
        m1 = torch.sigmoid(self.unet1(fx, conv)[:, 0])
        re1, im1 = m1 * re, m1 * im
        new_past = None
        if self.stages == 2:
            c = torch.tanh(self.unet2(torch.cat([fx, self._features(re1, im1)], dim=1), conv))
            re2, im2, new_past = deep_filter(re1, im1, re, im, c, self.df, past)
        else:
            re2, im2 = re1, im1
        out = re2 @ self.idft_re + im2 @ self.idft_im
        return out, (re1 @ self.idft_re + im1 @ self.idft_im) if both else None, new_past, new_nf

    def _ola(self, frames: torch.Tensor, length: int) -> torch.Tensor:
        return overlap_add(frames, self.hop, length)

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        """x: (batch, samples) -> (batch, samples), delayed by ``latency`` samples.

        return_stages: also return the stage-1 (denoise only) waveform, for the dual-step loss."""
        b, n = x.shape
        h = self.hop
        pad_end = (-n) % h
        xp = F.pad(x, (self.n_fft - h, pad_end))
        frames = xp.unfold(1, self.n_fft, h)  # (B, T, n_fft), T = ceil(n / hop)
        conv = lambda m, t: m(t)
        if return_stages:
            res = self._spectral(frames, conv, both=True)
            return self._ola(res[0], n), self._ola(res[1], n)
        return self._ola(self._spectral(frames, conv)[0], n)

    def step(self, x: torch.Tensor, stft_in: torch.Tensor, ola: torch.Tensor, *states: torch.Tensor):
        """x: (batch, hop) -> (y (batch, hop), stft_in, ola, [df_re, df_im,]
        [nf_pow, nf_min, nf_count,] *conv caches)."""
        past, states = (states[:2], states[2:]) if self.df > 1 else (None, states)
        nf, states = (states[:3], states[3:]) if self.noise_floor else (None, states)
        ctx = self.step_context(list(states))
        frame = torch.cat([stft_in, x], dim=1)
        out, _, new_past, new_nf = self._spectral(frame.unsqueeze(1), ctx, past=past, nf=nf)
        acc = out[:, 0] + F.pad(ola, (0, self.hop))
        df = tuple(new_past) if self.df > 1 else ()
        nfs = tuple(new_nf) if self.noise_floor else ()
        return (acc[:, :self.hop], frame[:, self.hop:], acc[:, self.hop:], *df, *nfs, *ctx.states())
