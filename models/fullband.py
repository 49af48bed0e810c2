"""Full-band Dual-Step U-Net (48 kHz): ERB-band gains over the whole band, then a deep filter
on the low bins (the DeepFilterNet recipe, issue 21), causal, no 16 kHz bottleneck.

The STFT lives inside the model (DFT as matrix products, periodic sqrt-Hann, hop = n_fft/2), so
the exported ONNX graph maps ``hop`` samples to ``hop`` samples; algorithmic latency
``n_fft - hop`` (480 samples = 10 ms at 48 kHz with the defaults 960/480).  Per frame:

- stage 1 (noise): a U-Net over ``erb_bands`` ERB bands (rectangular, at least 2 bins wide,
  covering 0 Hz to Nyquist) sees each band's log power minus its running mean (dB / 40, the
  level-free feature DeepFilterNet uses) and predicts a gain in [0, 1] per band; every bin of a
  band takes its band's gain: ``Y1 = g * X`` over the whole band.
- stage 2 (detail): a U-Net over the low ``df_bins`` bins (96 = 0-4.8 kHz at 48 kHz / 960) sees
  the compressed complex spectra of X and of Y1 (``|X|^0.3`` with X's phase, 3 channels each),
  divided by X's running mean compressed magnitude per bin (level-free), and predicts a bounded
  (tanh) complex deep filter over the current and ``df - 1`` past frames:
  ``Y[t] = Y1[t] + sum_k c_k[t] X[t-k]`` on those bins; its last layer starts at zero, so stage 2
  starts as the identity.  Above ``df_bins`` the output is stage 1's.

The running means are exponential (time constant ``norm_tau`` s) with a cumulative start (the
first frame is its own mean, so 1 s training examples see what a long stream sees); they are
streaming states (``erb_mean``, ``spec_mean``, ``norm_count``) and take no gradient.

Both U-Nets are :class:`aural.models.dsunet._UNet`: frequency-strided causal convs, a dilated
bottleneck and a residual GRU over the flattened bottleneck frame (seconds of context).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from .dsunet import _UNet, deep_filter, overlap_add
from .streaming import StreamingModel

__all__ = ["FullBandUNet", "erb_band_widths"]

#: initial stage-1 gain logit: sigmoid(3.0) = 0.953, a fresh model passes its input at about -0.4 dB
GAIN_INIT_LOGIT = 3.0

_COUNT_MAX = 1.0e4  # frames; the count only decides when the exponential mean takes over


def _freq2erb(f: float) -> float:
    return 21.4 * math.log10(1.0 + 0.00437 * f)


def _erb2freq(e: float) -> float:
    return (10.0 ** (e / 21.4) - 1.0) / 0.00437


def erb_band_widths(sample_rate: int, n_fft: int, bands: int, min_bins: int = 2) -> list[int]:
    """Widths in bins of ``bands`` rectangular bands equally spaced on the ERB scale from 0 Hz to
    Nyquist, each at least ``min_bins`` wide (DeepFilterNet's rule); they sum to n_fft/2 + 1."""
    n_bins = n_fft // 2 + 1
    if bands * min_bins > n_bins:
        raise ValueError(f"{bands} ERB bands of >= {min_bins} bins do not fit {n_bins} bins")
    step = _freq2erb(sample_rate / 2) / bands
    bin_hz = sample_rate / n_fft
    widths, prev, over = [], 0, 0
    for i in range(1, bands + 1):
        fb = int(round(_erb2freq(i * step) / bin_hz))
        nb = fb - prev - over
        if nb < min_bins:
            over, nb = min_bins - nb, min_bins
        else:
            over = 0
        widths.append(nb)
        prev = fb
    widths[-1] += n_bins - sum(widths)
    if widths[-1] < min_bins:
        raise ValueError("ERB bands do not fit: use fewer bands or a longer FFT")
    return widths


class FullBandUNet(StreamingModel):
    """Two-stage causal enhancer at full band: ERB gains (stage 1), low-bin deep filter (stage 2).

    sample_rate: model rate (Hz).  n_fft: frame (any even size; 960 = 20 ms at 48 kHz).
    hop: n_fft/2.  erb_bands: stage-1 bands.  df_bins: bins stage 2 filters (from 0 Hz).
    df: deep-filter taps (current frame and df-1 past).  channels / channels2: encoder channels
    per level of stage 1 / 2.  kt: time kernel.  dilations: bottleneck dilations.  gru / gru2:
    bottleneck GRU units of stage 1 / 2 (0: none).  stages: 1 (ERB gains only) or 2.
    norm_tau: time constant of the feature normalisation (s).
    """

    kind = "fullband"

    def __init__(self, sample_rate: int = 48000, n_fft: int = 960, hop: int = 480,
                 erb_bands: int = 32, df_bins: int = 96, df: int = 3,
                 channels: tuple[int, ...] = (16, 32, 32, 32), channels2: tuple[int, ...] = (16, 16, 32, 32),
                 kt: int = 2, dilations: tuple[int, ...] = (1, 2, 4, 8), gru: int = 96, gru2: int = 128,
                 stages: int = 2, norm_tau: float = 1.0) -> None:
        super().__init__(sample_rate, hop)
        if n_fft % 2 or n_fft < 16:
            raise ValueError(f"n_fft must be even and >= 16, got {n_fft}")
        if hop != n_fft // 2:
            raise ValueError(f"hop must be n_fft/2, got {hop} for n_fft {n_fft}")
        n_bins = n_fft // 2 + 1
        if not 1 <= df_bins <= n_bins:
            raise ValueError(f"df_bins must be 1..{n_bins}, got {df_bins}")
        if stages not in (1, 2) or df < 1:
            raise ValueError("stages must be 1 or 2 and df >= 1")
        if norm_tau <= 0:
            raise ValueError("norm_tau must be > 0 s")
        channels = tuple(int(c) for c in channels)
        channels2 = tuple(int(c) for c in channels2)
        self.config = dict(sample_rate=int(sample_rate), n_fft=int(n_fft), hop=int(hop),
                           erb_bands=int(erb_bands), df_bins=int(df_bins), df=int(df),
                           channels=list(channels), channels2=list(channels2), kt=int(kt),
                           dilations=[int(d) for d in dilations], gru=int(gru), gru2=int(gru2),
                           stages=int(stages), norm_tau=float(norm_tau))
        self.n_fft, self.n_bins, self.stages = int(n_fft), n_bins, int(stages)
        self.erb_bands, self.df_bins, self.df = int(erb_bands), int(df_bins), int(df)
        self.alpha = math.exp(-hop / (sample_rate * norm_tau))
        self._make_dft(n_fft, hop)
        widths = erb_band_widths(sample_rate, n_fft, erb_bands)
        fb = np.zeros((n_bins, erb_bands), np.float32)
        start = 0
        for b, w in enumerate(widths):
            fb[start:start + w, b] = 1.0 / w
            start += w
        self.register_buffer("erb_fb", torch.from_numpy(fb), persistent=False)  # mean power per band
        self.register_buffer("erb_inv", torch.from_numpy((fb > 0).T.astype(np.float32)).contiguous(),
                             persistent=False)  # band gain -> its bins
        self.unet1 = _UNet(1, 1, erb_bands, channels, kt, tuple(dilations), int(gru))
        # start near the identity (gains sigmoid(3) = 0.95): from a bias of 0 (gains 0.5) the
        # compressed loss, next to scale-free SI-SDR and PESQ terms, lifted the level slowly, and
        # the session-18 legs still passed clean speech at 0.32-0.38 x (models/calibrate.py)
        torch.nn.init.constant_(self.unet1.up[-1].bias, GAIN_INIT_LOGIT)
        if stages == 2:
            self.unet2 = _UNet(6, 2 * self.df, self.df_bins, channels2, kt, tuple(dilations), int(gru2))
            torch.nn.init.zeros_(self.unet2.up[-1].weight)
            torch.nn.init.zeros_(self.unet2.up[-1].bias)
        self._register_cached()

    # ------------------------------------------------------------------ the STFT, factorised
    def _make_dft(self, n_fft: int, hop: int) -> None:
        """Constants of the windowed real DFT and its inverse as two small matrix stages
        (Cooley-Tukey with n_fft = N1 * N2; 960 = 32 * 30): about 1/7 of the multiplies of one
        n_fft x (n_fft/2 + 1) matrix product, and tiny constants in the exported graph."""
        n2 = max(d for d in range(1, int(math.isqrt(n_fft)) + 1) if n_fft % d == 0)
        n1 = n_fft // n2
        nb = n_fft // 2 + 1
        self._n1, self._n2 = n1, n2
        self._k2 = -(-nb // n1)  # output columns of the forward second stage
        self._a = -(-nb // n2)   # input rows of the inverse first stage
        f64 = torch.float64
        n = torch.arange(n_fft, dtype=f64)
        win = torch.sqrt(0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft))  # periodic sqrt-Hann
        tau = 2 * math.pi

        def reg(name, t):
            self.register_buffer(name, t.float().contiguous(), persistent=False)

        i1, i2 = torch.arange(n1, dtype=f64), torch.arange(n2, dtype=f64)
        reg("win", win.reshape(n1, n2))
        # forward: x[N2 n1 + n2] -> A[k1, n2] (over n1) -> twiddle -> X[k1 + N1 k2] (over n2)
        a1 = tau * i1[:, None] * i1[None, :] / n1
        reg("f1_re", torch.cos(a1))
        reg("f1_im", -torch.sin(a1))
        tw = tau * i1[:, None] * i2[None, :] / n_fft  # (k1, n2)
        reg("ft_re", torch.cos(tw))
        reg("ft_im", -torch.sin(tw))
        a2 = tau * i2[:, None] * torch.arange(self._k2, dtype=f64)[None, :] / n2  # (n2, k2)
        reg("f2_re", torch.cos(a2))
        reg("f2_im", -torch.sin(a2))
        # inverse: Z[N2 a + b] (bins above Nyquist zero, the rest weighted 2 or 1) -> over a ->
        # twiddle -> Re over b -> y[c + N1 d]; window and overlap-add scale folded into the end
        ia = torch.arange(self._a, dtype=f64)
        b1 = tau * i1[:, None] * ia[None, :] / n1  # (c, a)
        reg("g1_re", torch.cos(b1))
        reg("g1_im", torch.sin(b1))
        tw2 = tau * i1[:, None] * i2[None, :] / n_fft  # (c, b)
        reg("gt_re", torch.cos(tw2))
        reg("gt_im", torch.sin(tw2))
        b2 = tau * i2[:, None] * i2[None, :] / n2  # (b, d)
        reg("g2_re", torch.cos(b2))
        reg("g2_im", torch.sin(b2))
        ck = torch.full((self._a * n2,), 2.0, dtype=f64)
        ck[0] = 1.0
        ck[nb - 1] = 1.0
        ck[nb:] = 0.0
        reg("g_ck", ck / n_fft)
        scale = hop / (n_fft / 2)  # sqrt-Hann^2 overlap-adds to n_fft / (2 hop)
        reg("g_win", (win * scale).reshape(n2, n1))  # output laid out (d, c): n = c + N1 d

    def _rdft(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (..., n_fft) -> windowed spectrum (re, im), each (..., n_fft/2 + 1)."""
        lead = frames.shape[:-1]
        x = frames.reshape(*lead, self._n1, self._n2) * self.win
        ar, ai = self.f1_re @ x, self.f1_im @ x
        br = ar * self.ft_re - ai * self.ft_im
        bi = ar * self.ft_im + ai * self.ft_re
        xr = br @ self.f2_re - bi @ self.f2_im  # (..., k1, k2)
        xi = br @ self.f2_im + bi @ self.f2_re
        nb = self.n_bins
        re = xr.transpose(-1, -2).reshape(*lead, self._n1 * self._k2)[..., :nb]
        im = xi.transpose(-1, -2).reshape(*lead, self._n1 * self._k2)[..., :nb]
        return re, im

    def _irdft(self, re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
        """Spectrum (..., n_fft/2 + 1) -> windowed, scaled frame (..., n_fft) for overlap-add."""
        lead = re.shape[:-1]
        pad = self._a * self._n2 - self.n_bins
        zr = (F.pad(re, (0, pad)) * self.g_ck).reshape(*lead, self._a, self._n2)
        zi = (F.pad(im, (0, pad)) * self.g_ck).reshape(*lead, self._a, self._n2)
        ar = self.g1_re @ zr - self.g1_im @ zi  # (..., c, b)
        ai = self.g1_re @ zi + self.g1_im @ zr
        br = ar * self.gt_re - ai * self.gt_im
        bi = ar * self.gt_im + ai * self.gt_re
        y = br @ self.g2_re - bi @ self.g2_im  # real part, (..., c, d)
        return (y.transpose(-1, -2) * self.g_win).reshape(*lead, self.n_fft)

    @property
    def latency(self) -> int:
        return self.n_fft - self.hop

    def state_specs(self):
        tail = self.n_fft - self.hop
        df = ([("df_re", (self.df - 1, self.df_bins)), ("df_im", (self.df - 1, self.df_bins))]
              if self.stages == 2 and self.df > 1 else [])
        norm = [("erb_mean", (self.erb_bands,)), ("spec_mean", (self.df_bins,)), ("norm_count", (1,))]
        return [("stft_in", (tail,)), ("ola", (tail,))] + df + norm + super().state_specs()

    # ------------------------------------------------------------------ features
    def _running(self, e: torch.Tensor, s: torch.Tensor, state):
        """Running means of e (B, T, bands) and s (B, T, df_bins) from state ``(me, ms, n)``
        (zeros: a fresh stream); the frame-t mean includes frame t.  -> (means e, means s, state)."""
        me, ms, n = state
        out_e, out_s = [], []
        for t in range(e.shape[1]):
            a = torch.clamp(n / (n + 1.0), max=self.alpha)  # cumulative mean, then exponential
            me = a * me + (1.0 - a) * e[:, t]
            ms = a * ms + (1.0 - a) * s[:, t]
            n = torch.clamp(n + 1.0, max=_COUNT_MAX)
            out_e.append(me)
            out_s.append(ms)
        return torch.stack(out_e, 1), torch.stack(out_s, 1), (me, ms, n)

    @staticmethod
    def _cfeat(re: torch.Tensor, im: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        mag = torch.sqrt(re * re + im * im + 1e-10)
        c = mag ** 0.3
        g = c / (mag * norm)
        return torch.stack([c / norm, re * g, im * g], dim=1)  # (B, 3, T, F)

    def _spectral(self, frames: torch.Tensor, conv, both: bool = False, past=None, norm=None):
        """frames (B, T, n_fft) -> (enhanced frames, stage-1 frames or None, new past, new norm).

        past: the deep filter's previous spectra ``(re, im)`` (B, df-1, df_bins), None: zeros.
        norm: ``(erb_mean, spec_mean, norm_count)``, None: a fresh stream."""
        b = frames.shape[0]
        re, im = self._rdft(frames)
        d = self.df_bins
        with torch.no_grad():  # functions of the input only
            p = re * re + im * im
            e = 10.0 * torch.log10(p @ self.erb_fb + 1e-10)
            s = (p[..., :d] + 1e-10) ** 0.15  # |X|^0.3
            if norm is None:
                norm = (re.new_zeros(b, self.erb_bands), re.new_zeros(b, d), re.new_zeros(b, 1))
            me, ms, new_norm = self._running(e, s, norm)
            fe = ((e - me) / 40.0)[:, None]
            ms = ms + 1e-5
        gain = torch.sigmoid(self.unet1(fe, conv)[:, 0]) @ self.erb_inv
        re1, im1 = gain * re, gain * im
        new_past = None
        if self.stages == 2:
            xr, xi = re[..., :d], im[..., :d]
            c = torch.tanh(self.unet2(torch.cat([self._cfeat(xr, xi, ms),
                                                 self._cfeat(re1[..., :d], im1[..., :d], ms)], dim=1), conv))
            lr, li, new_past = deep_filter(re1[..., :d], im1[..., :d], xr, xi, c, self.df, past)
            re2 = torch.cat([lr, re1[..., d:]], dim=-1)
            im2 = torch.cat([li, im1[..., d:]], dim=-1)
        else:
            re2, im2 = re1, im1
        out = self._irdft(re2, im2)
        stage1 = self._irdft(re1, im1) if both else None
        return out, stage1, new_past, new_norm

    def _ola(self, frames: torch.Tensor, length: int) -> torch.Tensor:
        return overlap_add(frames, self.hop, length)

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        """x: (batch, samples) -> (batch, samples), delayed by ``latency`` samples.

        return_stages: also return the stage-1 (ERB gains only) waveform."""
        n = x.shape[1]
        h = self.hop
        xp = F.pad(x, (self.n_fft - h, (-n) % h))
        frames = xp.unfold(1, self.n_fft, h)
        conv = lambda m, t: m(t)  # noqa: E731
        if return_stages:
            res = self._spectral(frames, conv, both=True)
            return self._ola(res[0], n), self._ola(res[1], n)
        return self._ola(self._spectral(frames, conv)[0], n)

    def step(self, x: torch.Tensor, stft_in: torch.Tensor, ola: torch.Tensor, *states: torch.Tensor):
        """x: (batch, hop) -> (y (batch, hop), stft_in, ola, [df_re, df_im,] erb_mean, spec_mean,
        norm_count, *conv caches)."""
        has_past = self.stages == 2 and self.df > 1
        past, states = (states[:2], states[2:]) if has_past else (None, states)
        norm, states = states[:3], states[3:]
        ctx = self.step_context(list(states))
        frame = torch.cat([stft_in, x], dim=1)
        out, _, new_past, new_norm = self._spectral(frame.unsqueeze(1), ctx, past=past, norm=norm)
        acc = out[:, 0] + F.pad(ola, (0, self.hop))
        pst = tuple(new_past) if has_past else ()
        return (acc[:, :self.hop], frame[:, self.hop:], acc[:, self.hop:], *pst, *new_norm, *ctx.states())
