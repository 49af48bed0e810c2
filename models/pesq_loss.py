"""A differentiable stand-in for PESQ-wb (ITU-T P.862.2), for training only (torch).

PESQ compares the reference and the degraded signal in a model of hearing: both are
level-aligned (325-3250 Hz band at a fixed power), high-passed (P.862.2's 100 Hz input
filter), turned into 32 ms / 16 ms Bark power spectra at 16 kHz, equalised (the degraded
signal's per-band and per-frame gains follow the reference's), mapped to Zwicker loudness,
and their difference, centre-clipped by a masking dead zone, is summed over bands as a
symmetric (L2) and an asymmetric disturbance (L1, counting only what the degraded signal
*adds*: residual noise, musical noise).  Frames are pooled by an L6 norm over 320 ms and an
L2 norm over the file; MOS = 4.5 - 0.1 d_sym - 0.0309 d_asym, mapped by P.862.2's curve.

This follows ``torch-pesq`` 0.1.2 (MIT licence, https://github.com/audiolabs/torch-pesq),
ported without torchaudio (there is none for this torch): the IIR level and input filters
are applied through their frequency responses.  Like torch-pesq it does no time alignment
(the trainer aligns output and target by the model's latency) and scores per item.  It is
a loss, not a metric: ``aural eval`` and the benchmarks use the reference ``pesq`` package.
"""
from __future__ import annotations

from functools import lru_cache

import torch
from scipy.signal import butter, freqz

__all__ = ["PesqProxy", "pesq_loss"]

SAMPLE_RATE = 16000
N_FFT, HOP = 512, 256

# P.862 tables for 16 kHz (49 Bark bands), as in the reference C code and torch-pesq
_BANDS_PER_BARK = [1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                   3, 3, 3, 3, 4, 3, 4, 5, 4, 5, 6, 6, 7, 8, 9, 9, 12, 12, 15, 16, 18, 21, 25, 20]
_CENTRE_BARK = [0.078672, 0.316341, 0.636559, 0.961246, 1.290450, 1.624217, 1.962597, 2.305636,
                2.653383, 3.005889, 3.363201, 3.725371, 4.092449, 4.464486, 4.841533, 5.223642,
                5.610866, 6.003256, 6.400869, 6.803755, 7.211971, 7.625571, 8.044611, 8.469146,
                8.899232, 9.334927, 9.776288, 10.223374, 10.676242, 11.134952, 11.599563,
                12.070135, 12.546731, 13.029408, 13.518232, 14.013264, 14.514566, 15.022202,
                15.536238, 16.056736, 16.583761, 17.117382, 17.657663, 18.204674, 18.758478,
                19.319147, 19.886751, 20.461355, 21.043034]
_WIDTH_BARK = [0.157344, 0.317994, 0.322441, 0.326934, 0.331474, 0.336061, 0.340697, 0.345381,
               0.350114, 0.354897, 0.359729, 0.364611, 0.369544, 0.374529, 0.379565, 0.384653,
               0.389794, 0.394989, 0.400236, 0.405538, 0.410894, 0.416306, 0.421773, 0.427297,
               0.432877, 0.438514, 0.444209, 0.449962, 0.455774, 0.461645, 0.467577, 0.473569,
               0.479621, 0.485736, 0.491912, 0.498151, 0.504454, 0.510819, 0.517250, 0.523745,
               0.530308, 0.536934, 0.543629, 0.550390, 0.557220, 0.564119, 0.571085, 0.578125,
               0.585232]
_POW_DENS_CORRECTION = [100.0, 99.999992, 100.0, 100.000008, 100.000008, 100.000015, 99.999992,
                        99.999969, 50.000027, 100.0, 99.999969, 100.000015, 99.999947,
                        100.000061, 53.047077, 110.000046, 117.991989, 65.0, 68.760147,
                        69.999931, 71.428818, 75.000038, 76.843384, 80.968781, 88.646126,
                        63.864388, 68.155350, 72.547775, 75.584831, 58.379192, 80.950836,
                        64.135651, 54.384785, 73.821884, 64.437073, 59.176456, 65.521278,
                        61.399822, 58.144047, 57.004543, 64.126297, 54.311001, 61.114979,
                        55.077751, 56.849335, 55.628868, 53.137054, 54.985844, 79.546974]
_ABS_THRESH_POWER = [51286152.0, 2454709.5, 70794.59375, 4897.788574, 1174.897705, 389.045166,
                     104.71286, 45.70882, 17.782795, 9.772372, 4.897789, 3.090296, 1.905461,
                     1.258925, 0.977237, 0.724436, 0.562341, 0.457088, 0.389045, 0.331131,
                     0.295121, 0.269153, 0.25704, 0.251189, 0.251189, 0.251189, 0.251189,
                     0.263027, 0.288403, 0.30903, 0.338844, 0.371535, 0.398107, 0.436516,
                     0.467735, 0.489779, 0.501187, 0.501187, 0.512861, 0.524807, 0.524807,
                     0.524807, 0.512861, 0.47863, 0.42658, 0.371535, 0.363078, 0.416869,
                     0.537032]
_SP, _SL, _ZWICKER = 6.910853e-6, 1.866055e-1, 0.23
_EPS = 1e-24  # smooths the norms at exactly 0, where their gradient is undefined
# P.862.2's wideband input filter (a 100 Hz high-pass), b then a
_INPUT_FILTER = ((2.740826, -5.4816519, 2.740826), (1.0, -1.9444777, 0.94597794))


_LEVEL_FILTER = tuple(tuple(c) for c in butter(5, [325, 3250], fs=SAMPLE_RATE, btype="band"))


@lru_cache(maxsize=32)
def _response(b: tuple, a: tuple, n: int) -> torch.Tensor:
    """Complex frequency response of an IIR filter on the n // 2 + 1 bins of an n-point rfft
    (cached: training calls it with the same few lengths every step)."""
    h = freqz(b, a, worN=n // 2 + 1, whole=False, include_nyquist=True)[1]
    return torch.from_numpy(h).to(torch.complex64)


class PesqProxy(torch.nn.Module):
    """PESQ-wb's disturbance model on 16 kHz signals: ``mos(ref, deg)`` and ``forward`` -> loss.

    Inputs are (batch, samples) at 16 kHz, already time-aligned, at any level (both are
    level-aligned as PESQ does).  ``forward`` returns 0.1 d_sym + 0.0309 d_asym per item,
    the part of the MOS the model can lower (lower is better).
    """

    def __init__(self) -> None:
        super().__init__()
        fbank = torch.zeros(49, N_FFT // 2)
        start = 0
        for i, n in enumerate(_BANDS_PER_BARK):
            fbank[i, start:start + n] = 1.0
            start += n
        self.register_buffer("fbank", fbank)
        self.register_buffer("pow_corr", torch.tensor(_POW_DENS_CORRECTION) * _SP)
        self.register_buffer("width", torch.tensor(_WIDTH_BARK))
        thr = torch.tensor(_ABS_THRESH_POWER)
        self.register_buffer("thresh", thr)
        exp = (6.0 / (torch.tensor(_CENTRE_BARK) + 2.0)).clamp(1.0, 2.0) ** 0.15 * _ZWICKER
        self.register_buffer("exp", exp)
        self.register_buffer("window", torch.hann_window(N_FFT))
        self.total_width = float(self.width[1:].sum())

    # -- signal conditioning -------------------------------------------------------------------
    @staticmethod
    def _filtered(x: torch.Tensor, b, a, pad: int) -> torch.Tensor:
        """x through the IIR (b, a), by its frequency response on a zero-padded FFT."""
        n = x.shape[-1] + pad
        return torch.fft.irfft(torch.fft.rfft(x, n=n) * _response(b, a, n).to(x.device), n=n)[..., :x.shape[-1]]

    def _align_level(self, x: torch.Tensor) -> torch.Tensor:
        """Scale so the 325-3250 Hz band's power is 1e7, as P.862 does."""
        n = x.shape[-1]
        h2 = _response(*_LEVEL_FILTER, n).to(x.device).abs().pow(2)
        w = torch.full_like(h2, 2.0)  # one-sided spectrum: DC (and Nyquist) once, the rest twice
        w[0] = 1.0
        if n % 2 == 0:
            w[-1] = 1.0
        spec = torch.fft.rfft(x)
        energy = ((spec.real.pow(2) + spec.imag.pow(2)) * h2 * w).sum(-1, keepdim=True) / n
        power = energy / (n + 5120) / 1.04684
        return x * torch.sqrt(1e7 / power.clamp_min(1e-12))

    def _bark(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, frames, 49) Bark power densities of a level-aligned signal."""
        ramp = torch.arange(1, 16, dtype=x.dtype, device=x.device) / 16.0
        fade = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)
        fade[:15] = ramp
        fade[-15:] = ramp.flip(0)
        x = self._filtered(x * fade, *_INPUT_FILTER, pad=1024)
        x = torch.nn.functional.pad(x, (0, (-x.shape[-1]) % HOP))
        spec = torch.stft(x, N_FFT, HOP, N_FFT, self.window, center=False,
                          return_complex=True)
        p = spec.real.pow(2) + spec.imag.pow(2)  # (batch, bins, frames); no abs(): finite grad
        p = p[:, :-1].transpose(1, 2)  # drop the Nyquist bin
        p = torch.cat([torch.zeros_like(p[..., :1]), p[..., 1:]], dim=-1)  # no DC
        return torch.einsum("bn,tfn->tfb", self.fbank, p) * self.pow_corr

    def _audible(self, p: torch.Tensor, factor: float) -> torch.Tensor:
        return (p * (p > self.thresh * factor)).sum(-1)

    def _loudness(self, p: torch.Tensor) -> torch.Tensor:
        loud = (2.0 * self.thresh) ** self.exp * ((0.5 + 0.5 * p / self.thresh) ** self.exp - 1)
        return torch.where(p > self.thresh, loud, torch.zeros_like(loud)) * _SL

    def _norm(self, d: torch.Tensor, p: int) -> torch.Tensor:
        """Bark-width weighted Lp norm over bands 1..48 (smoothed at 0 for a finite gradient)."""
        w = (self.width * d / self.total_width ** (1.0 / p))[..., 1:]
        if p == 1:
            return self.total_width * w.abs().sum(-1)
        return self.total_width * (w.pow(2).sum(-1) + _EPS).sqrt()

    # -- the model -------------------------------------------------------------------------------
    def disturbances(self, ref: torch.Tensor, deg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(d_sym, d_asym) per item, for (batch, samples) 16 kHz ref and deg."""
        ref, deg = torch.atleast_2d(ref), torch.atleast_2d(deg)
        peak = torch.maximum(deg.abs().amax(-1, keepdim=True), ref.abs().amax(-1, keepdim=True))
        peak = peak.clamp_min(1e-9)
        ref = self._bark(self._align_level(ref / peak))
        deg = self._bark(self._align_level(deg / peak))

        silent = self._audible(ref, 1e2) < 1e7
        keep = (~silent).unsqueeze(-1)
        mean_ref = (ref * ((ref > self.thresh * 100.0) & keep)).mean(1)
        mean_deg = (deg * ((deg > self.thresh * 100.0) & keep)).mean(1)
        band_ratio = ((mean_deg + 1000) / (mean_ref + 1000)).unsqueeze(1).clamp(0.01, 100.0)
        equ_ref = band_ratio * ref
        frame_ratio = (self._audible(equ_ref, 1.0) + 5e3) / (self._audible(deg, 1.0) + 5e3)
        frame_ratio = torch.cat([frame_ratio[:, :1],
                                 0.8 * frame_ratio[:, 1:] + 0.2 * frame_ratio[:, :-1]], dim=1)
        equ_deg = frame_ratio.clamp(3e-4, 5.0).unsqueeze(-1) * deg

        deg_loud, ref_loud = self._loudness(equ_deg), self._loudness(equ_ref)
        dead = 0.25 * torch.minimum(deg_loud, ref_loud)
        diff = deg_loud - ref_loud
        dist = diff.sign() * (diff.abs() - dead).clamp_min(0.0)
        asym = ((equ_deg + 50.0) / (equ_ref + 50.0)) ** 1.2
        asym = torch.where(asym < 3.0, torch.zeros_like(asym), asym.clamp_max(12.0))
        h = ((self._audible(equ_ref, 1.0) + 1e5) / 1e7) ** 0.04
        d_sym = (self._norm(dist, 2).clamp_min(1e-20) / h).clamp_max(45.0)
        d_asym = (self._norm(dist * asym, 1).clamp_min(1e-20) / h).clamp_max(45.0)

        def pool(d: torch.Tensor) -> torch.Tensor:  # L6 over 20-frame (320 ms) halves, then L2
            if d.shape[1] < 20:
                d = torch.nn.functional.pad(d, (0, 20 - d.shape[1]))
            seg = d.unfold(1, 20, 10) / 45.0  # in (0, 1]: no underflow in the 6th power
            l6 = (seg.pow(6).mean(-1) + _EPS).pow(1.0 / 6)  # + eps: finite gradient at 0
            return 45.0 * (l6.pow(2).mean(-1) + _EPS).sqrt()

        return pool(d_sym), pool(d_asym)

    def mos(self, ref: torch.Tensor, deg: torch.Tensor) -> torch.Tensor:
        """The proxy's MOS-LQO per item (P.862.2 mapping, 1.04..4.64)."""
        d_sym, d_asym = self.disturbances(ref, deg)
        raw = 4.5 - 0.1 * d_sym - 0.0309 * d_asym
        return 0.999 + 4.0 / (1.0 + torch.exp(-1.3669 * raw + 3.8224))

    def forward(self, ref: torch.Tensor, deg: torch.Tensor) -> torch.Tensor:
        d_sym, d_asym = self.disturbances(ref, deg)
        return 0.1 * d_sym + 0.0309 * d_asym


_PROXY: PesqProxy | None = None


def pesq_loss(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean PESQ-wb disturbance of ``est`` against ``ref`` (16 kHz, aligned); lower is better."""
    global _PROXY
    if _PROXY is None:
        _PROXY = PesqProxy()
    return _PROXY.to(est.device)(ref, est).mean()
