"""Streaming analysis of a signal for the web page: waveform peaks, a spectrogram and level figures.

One :class:`Analyzer` is fed the consecutive blocks of a signal (float32 ``(channels, n)``) and
keeps only small summaries, so a file of any length is analysed with constant memory, in the
same pass that processes it:

- ``peaks()``: interleaved max/min per bucket (WaveSurfer's ``peaks`` format), ~3000 buckets;
- ``spectrogram()``: at most ~1500 frames of ``bands`` mel-spaced bands as 0..255 integers, in
  the layout of WaveSurfer's spectrogram plugin ``frequenciesDataUrl`` (frames x bands, low
  band first; -100 dB -> 0, -20 dB -> 255 as in the plugin's defaults);
- ``figures()``: sample peak (dBFS), RMS (dBFS), integrated loudness (ITU-R BS.1770-4, LUFS)
  and the blind SNR estimate of :class:`aural.engine.metrics.LevelMeter` (the figures
  ``aural info`` reports), plus the noise floor (mean power of the quietest 10 % of 20 ms
  frames, digital silence ignored).

The SNR estimate needs no clean reference: it compares a recording with its processed
version, it is not a measurement against ground truth.
"""
from __future__ import annotations

import math

import numpy as np
from aural.engine.metrics import LevelMeter

__all__ = ["Analyzer", "mel_band_matrix"]

PEAK_BUCKETS = 3000
SPEC_FRAMES = 1500
SPEC_BANDS = 160
WHITE_DB = -20.0   # plugin default gainDB=20: -20 dB amplitude shows white
RANGE_DB = 80.0    # plugin default rangeDB


def _mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _imel(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_band_matrix(n_fft: int, sample_rate: float, bands: int) -> np.ndarray:
    """(bands, n_fft//2) weights: each mel band is the mean of the FFT bins inside it, or the
    linear interpolation of its two neighbours where the band is narrower than a bin."""
    nb = n_fft // 2
    bin_hz = sample_rate / n_fft
    edges = _imel(np.linspace(0.0, float(_mel(sample_rate / 2.0)), bands + 1))
    w = np.zeros((bands, nb))
    for i in range(bands):
        lo, hi = edges[i] / bin_hz, edges[i + 1] / bin_hz
        a, b = math.ceil(lo), math.floor(hi)
        if b >= a and a < nb:
            b = min(b, nb - 1)
            w[i, a:b + 1] = 1.0 / (b - a + 1)
        else:
            c = 0.5 * (lo + hi)
            j = min(int(c), nb - 2)
            t = c - j
            w[i, j] = 1.0 - t
            w[i, j + 1] = t
    return w


class Analyzer:
    """Feed consecutive blocks with :meth:`feed`; read the summaries when done."""

    def __init__(self, sample_rate: int, channels: int, expected_frames: int,
                 peak_buckets: int = PEAK_BUCKETS, spec_frames: int = SPEC_FRAMES,
                 bands: int = SPEC_BANDS) -> None:
        self.sr = int(sample_rate)
        self.channels = int(channels)
        n = max(1, int(expected_frames))
        self.frames = 0
        # peaks
        self._bucket = max(1, math.ceil(n / peak_buckets))
        self._pmax: list[float] = []
        self._pmin: list[float] = []
        self._cur_max = -math.inf
        self._cur_min = math.inf
        self._in_bucket = 0
        # spectrogram (mono mix)
        n_fft = 512
        while n_fft < self.sr * 0.042:  # ~40 ms windows: 1024 at 22.05 kHz, 2048 at 48 kHz
            n_fft *= 2
        self.n_fft = n_fft
        self.hop = max(n_fft // 4, math.ceil(n / spec_frames))
        self._win = (0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(n_fft) / (n_fft - 1))))
        self._bands = mel_band_matrix(n_fft, self.sr, bands)
        self._spec: list[np.ndarray] = []
        self._pending = np.zeros(0, dtype=np.float64)  # mono samples from position _pend_pos
        self._pend_pos = 0
        self._next_frame = 0  # start sample of the next spectrogram frame
        # level: peak, RMS, blind SNR
        self._meter = LevelMeter(self.sr, self.channels, loudness=True)
        # noise floor: mean power per 20 ms frame
        self._fr = max(1, round(self.sr * 0.02))
        self._fr_acc = 0.0
        self._fr_n = 0
        self._frame_pow: list[float] = []

    # ------------------------------------------------------------------ feeding
    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float32)
        if x.ndim == 1:
            x = x[np.newaxis]
        n = x.shape[1]
        if n == 0:
            return
        x64 = x.astype(np.float64)
        self.frames += n
        self._feed_peaks(x)
        mono = x64.mean(axis=0)
        self._feed_spec(mono)
        self._meter.add(x64)
        self._feed_frames((x64 * x64).mean(axis=0))

    def _feed_peaks(self, x: np.ndarray) -> None:
        hi = x.max(axis=0)
        lo = x.min(axis=0)
        pos, n, b = 0, hi.shape[0], self._bucket
        while pos < n:
            take = min(b - self._in_bucket, n - pos)
            self._cur_max = max(self._cur_max, float(hi[pos:pos + take].max()))
            self._cur_min = min(self._cur_min, float(lo[pos:pos + take].min()))
            self._in_bucket += take
            pos += take
            if self._in_bucket == b:
                self._flush_bucket()

    def _flush_bucket(self) -> None:
        if self._in_bucket:
            self._pmax.append(self._cur_max)
            self._pmin.append(self._cur_min)
        self._cur_max, self._cur_min, self._in_bucket = -math.inf, math.inf, 0

    def _feed_spec(self, mono: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, mono])
        end = self._pend_pos + self._pending.shape[0]
        while self._next_frame + self.n_fft <= end:
            a = self._next_frame - self._pend_pos
            self._spec.append(self._spec_frame(self._pending[a:a + self.n_fft]))
            self._next_frame += self.hop
        drop = min(self._next_frame - self._pend_pos, self._pending.shape[0])
        if drop > 0:
            self._pending = self._pending[drop:]
            self._pend_pos += drop

    def _spec_frame(self, seg: np.ndarray) -> np.ndarray:
        if seg.shape[0] < self.n_fft:
            seg = np.concatenate([seg, np.zeros(self.n_fft - seg.shape[0])])
        mag = np.abs(np.fft.rfft(seg * self._win))[: self.n_fft // 2] * (2.0 / self.n_fft)
        band = self._bands @ mag
        db = 20.0 * np.log10(np.maximum(band, 1e-12))
        lo = WHITE_DB - RANGE_DB
        return np.clip(np.round((db - lo) / RANGE_DB * 255.0), 0, 255).astype(np.uint8)

    def _feed_frames(self, p: np.ndarray) -> None:
        pos, n = 0, p.shape[0]
        while pos < n:
            take = min(self._fr - self._fr_n, n - pos)
            self._fr_acc += float(p[pos:pos + take].sum())
            self._fr_n += take
            pos += take
            if self._fr_n == self._fr:
                self._frame_pow.append(self._fr_acc / self._fr)
                self._fr_acc, self._fr_n = 0.0, 0

    # ------------------------------------------------------------------ results
    def peaks(self) -> list[float]:
        """Interleaved [max, min, max, min, ...] per bucket, rounded to 4 decimals."""
        self._flush_bucket()
        out = np.empty(2 * len(self._pmax))
        out[0::2] = self._pmax
        out[1::2] = self._pmin
        return [round(float(v), 4) for v in np.clip(out, -1.0, 1.0)]

    def spectrogram(self) -> list[list[int]]:
        """Frames x bands (0..255); a signal shorter than one window still gives one frame."""
        frames = list(self._spec)
        if not frames and self._pending.shape[0]:
            frames.append(self._spec_frame(self._pending))
        return [f.tolist() for f in frames]

    @property
    def duration(self) -> float:
        return self.frames / self.sr if self.sr else 0.0

    def noise_floor_dbfs(self) -> float | None:
        """Mean power of the quietest 10 % of 20 ms frames (digital silence ignored), dBFS."""
        p = np.array(self._frame_pow)
        p = p[p > 1e-14]
        if p.shape[0] < 5:
            return None
        p = np.sort(p)
        return float(10.0 * math.log10(np.mean(p[:max(1, p.shape[0] // 10)])))

    def figures(self) -> dict:
        """Level figures as JSON-friendly floats (None where undefined)."""
        m = self._meter

        def fin(v: float | None) -> float | None:
            return round(float(v), 2) if v is not None and math.isfinite(v) else None

        return {
            "peak_dbfs": fin(m.peak_dbfs),
            "rms_dbfs": fin(m.rms_dbfs),
            "loudness_lufs": fin(m.lufs),
            "noise_floor_dbfs": fin(self.noise_floor_dbfs()),
            "snr_db": fin(m.snr_db),
            "duration_s": round(self.duration, 3),
        }
