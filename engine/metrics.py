"""Objective measures for before/after figures.

With a clean reference (``ref``) and a processed or degraded signal (``est``), both float arrays,
1-D or ``(channels, frames)`` of equal shape:

- :func:`snr_db`: 10 log10(|ref|^2 / |ref - est|^2)
- :func:`si_sdr`: scale-invariant SDR (Le Roux et al. 2019), mean over channels
- :func:`psnr`: 10 log10(MAX^2 / MSE), MAX the largest possible sample value (1.0 full scale
  for float audio), as in Serra et al., "Quality Enhancement of Highly Degraded Music Using
  Deep Learning-Based Prediction Models for Lost Frequencies", eq. 1-2
- :func:`nrmse`: sqrt(MSE) / (max(ref) - min(ref)), the same paper's eq. 3 (range of the
  reference data)
- :func:`log_spectral_distance`: RMS over frequency of the dB difference of the power spectra,
  averaged over frames

Without a reference: :func:`peak_dbfs`, :func:`rms_dbfs`, and :func:`estimate_snr_db`, a blind
estimate from the distribution of short-frame energies (the quietest frames are taken as the noise
floor, the frames clearly above it as signal plus noise).  It suits speech and other material
with pauses; on dense music it reads low, because quiet passages look like noise.
:class:`LevelMeter` gathers the same figures block by block for files of any length.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "LevelMeter",
    "detect_hum",
    "estimate_snr_db",
    "gated_loudness",
    "log_spectral_distance",
    "nrmse",
    "peak_dbfs",
    "psnr",
    "rms_dbfs",
    "si_sdr",
    "snr_db",
    "snr_from_frame_powers",
]

_EPS = 1e-20
FRAME_MS = 20.0
HOP_MS = 10.0


def _pair(ref: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.atleast_2d(np.asarray(ref, dtype=np.float64))
    e = np.atleast_2d(np.asarray(est, dtype=np.float64))
    if r.shape != e.shape:
        raise ValueError(f"reference {r.shape} and estimate {e.shape} differ in shape")
    return r, e


def _db(num: float, den: float) -> float:
    return float(10.0 * math.log10(max(num, _EPS) / max(den, _EPS)))


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    """Signal-to-noise ratio of ``est`` against ``ref`` in dB (the error is ``est - ref``)."""
    r, e = _pair(ref, est)
    return _db(float(np.sum(r * r)), float(np.sum((e - r) ** 2)))


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (means removed), mean over channels."""
    r, e = _pair(ref, est)
    out = []
    for rc, ec in zip(r, e):
        rc = rc - rc.mean()
        ec = ec - ec.mean()
        a = float(np.dot(ec, rc)) / (float(np.dot(rc, rc)) + _EPS)
        t = a * rc
        out.append(_db(float(np.dot(t, t)), float(np.dot(ec - t, ec - t))))
    return float(np.mean(out))


def psnr(ref: np.ndarray, est: np.ndarray, max_value: float = 1.0) -> float:
    """Peak signal-to-noise ratio: 10 log10(MAX^2 / MSE) with MAX = ``max_value``.

    MAX is the largest possible sample value (1.0 for float audio at full scale), not the
    signal's own peak."""
    r, e = _pair(ref, est)
    mse = float(np.mean((r - e) ** 2))
    return _db(float(max_value) ** 2, mse)


def nrmse(ref: np.ndarray, est: np.ndarray) -> float:
    """Root mean square error normalised by the range of the reference, max(ref) - min(ref)."""
    r, e = _pair(ref, est)
    rng = float(r.max() - r.min())
    return float(math.sqrt(float(np.mean((r - e) ** 2))) / max(rng, _EPS))


def log_spectral_distance(ref: np.ndarray, est: np.ndarray, n_fft: int = 2048,
                          hop: int | None = None) -> float:
    """Log-spectral distance in dB: per frame, the RMS over frequency of
    10 log10(P_ref / P_est); then the mean over frames (and channels).

    Hann-windowed frames of ``n_fft`` samples every ``hop`` (default n_fft/4)."""
    r, e = _pair(ref, est)
    hop = int(hop or n_fft // 4)
    n = r.shape[1]
    if n < n_fft:
        pad = n_fft - n
        r = np.pad(r, ((0, 0), (0, pad)))
        e = np.pad(e, ((0, 0), (0, pad)))
        n = n_fft
    win = np.hanning(n_fft)
    starts = np.arange(0, n - n_fft + 1, hop)
    idx = starts[:, None] + np.arange(n_fft)[None, :]
    vals = []
    for rc, ec in zip(r, e):
        pr = np.abs(np.fft.rfft(rc[idx] * win, axis=1)) ** 2
        pe = np.abs(np.fft.rfft(ec[idx] * win, axis=1)) ** 2
        floor = 1e-10  # -100 dB: keeps silent bins from dominating
        d = 10.0 * np.log10((pr + floor) / (pe + floor))
        vals.append(np.mean(np.sqrt(np.mean(d * d, axis=1))))
    return float(np.mean(vals))


def peak_dbfs(x: np.ndarray) -> float:
    """Sample peak in dBFS (-inf for silence)."""
    p = float(np.max(np.abs(x))) if np.size(x) else 0.0
    return 20.0 * math.log10(p) if p > 0 else -math.inf


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level in dBFS over all samples (-inf for silence)."""
    m = float(np.mean(np.square(np.asarray(x, dtype=np.float64)))) if np.size(x) else 0.0
    return 10.0 * math.log10(m) if m > 0 else -math.inf


def snr_from_frame_powers(p: np.ndarray) -> float:
    """Blind SNR in dB from the mean-square powers of 20 ms frames taken every 10 ms: noise = mean of the quietest 10 % of frames; signal =
    mean of the frames more than 6 dB above that floor, less the noise.  NaN for silence.

    Frames of digital silence (exact zeros, e.g. padding) are ignored.  Clamped to [-10, 100]."""
    p = np.asarray(p, dtype=np.float64)
    p = p[p > 1e-14]  # below -140 dBFS: digital silence, not a noise floor
    if p.size < 4:
        return math.nan
    q = np.sort(p)
    k = max(1, int(round(0.10 * q.size)))
    noise = float(q[:k].mean())
    active = q[q > 4.0 * noise]
    if active.size < max(1, int(0.02 * q.size)):
        return float(np.clip(_db(max(float(q[-max(1, q.size // 10):].mean()) - noise, 0.0), noise),
                             -10.0, 100.0))
    return float(np.clip(_db(float(active.mean()) - noise, noise), -10.0, 100.0))


def estimate_snr_db(x: np.ndarray, sample_rate: float) -> float:
    """Blind SNR estimate in dB of a signal with pauses (speech), no reference needed.

    See :func:`snr_from_frame_powers`; comparable between a recording and its processed
    version (before/after), not an absolute measurement."""
    a = np.atleast_2d(np.asarray(x))
    m = LevelMeter(sample_rate, a.shape[0])
    m.add(a)
    return m.snr_db


def gated_loudness(block_lufs: np.ndarray) -> float:
    """Integrated loudness (LUFS) from the loudness of the 400 ms blocks: BS.1770-4's absolute
    (-70 LUFS) and relative (-10 LU) gates, as in :func:`aural.engine.loudness.integrated_loudness`."""
    from .loudness import ABS_GATE, OFFSET, REL_GATE

    lj = np.asarray(block_lufs, dtype=np.float64)
    gate = lj > ABS_GATE
    if not gate.any():
        return -math.inf
    pj = 10.0 ** ((lj - OFFSET) / 10.0)
    rel = OFFSET + 10.0 * math.log10(pj[gate].mean()) + REL_GATE
    gate &= lj > rel
    if not gate.any():
        return -math.inf
    return float(OFFSET + 10.0 * math.log10(pj[gate].mean()))


class LevelMeter:
    """Peak, RMS, blind SNR and (``loudness=True``) BS.1770 integrated loudness, gathered block
    by block in constant memory (but for a float per 10 ms), so figures of a long file need not
    hold the file.

        m = LevelMeter(sr, channels, loudness=True)
        for block in blocks: m.add(block)
        m.peak_dbfs, m.rms_dbfs, m.snr_db, m.lufs

    The loudness equals :func:`aural.engine.loudness.integrated_loudness` of the whole signal
    where 100 ms is a whole number of samples (every common rate)."""

    def __init__(self, sample_rate: float, channels: int, loudness: bool = False) -> None:
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.loudness = bool(loudness)
        if self.loudness:
            from .loudness import BLOCK_S, STEP_S, _weights, k_weighting_sos

            self._ksos = k_weighting_sos(sample_rate)
            self._kzi = np.zeros((self.channels, self._ksos.shape[0], 2))
            self._kw = _weights(self.channels, None)
            self._kstep = max(1, int(round(STEP_S * sample_rate)))
            self._kper = int(round(BLOCK_S / STEP_S))
            self._kacc = np.zeros(self.channels)  # energy of the step being filled
            self._kfill = 0
            self._ksteps: list[np.ndarray] = []   # per-step channel energies
        self.flen = max(1, int(round(sample_rate * FRAME_MS / 1000.0)))
        self.hop = max(1, int(round(sample_rate * HOP_MS / 1000.0)))
        self.frames = 0
        self._peak = 0.0
        self._sumsq = 0.0
        self._tail = np.zeros((self.channels, 0))
        self._powers: list[np.ndarray] = []

    def add(self, block: np.ndarray) -> None:
        b = np.atleast_2d(np.asarray(block, dtype=np.float64))
        if b.shape[1] == 0:
            return
        self.frames += b.shape[1]
        self._peak = max(self._peak, float(np.max(np.abs(b))))
        self._sumsq += float(np.sum(b * b))
        buf = np.concatenate((self._tail, b), axis=1)
        # frames starting every hop; keep what the next frame still needs
        nf = 0 if buf.shape[1] < self.flen else (buf.shape[1] - self.flen) // self.hop + 1
        if nf:
            sq = np.mean(buf * buf, axis=0)
            c = np.concatenate(([0.0], np.cumsum(sq)))
            starts = np.arange(nf) * self.hop
            self._powers.append((c[starts + self.flen] - c[starts]) / self.flen)
        self._tail = buf[:, nf * self.hop:]
        if self.loudness:
            self._add_loudness(b)

    def _add_loudness(self, b: np.ndarray) -> None:
        from scipy.signal import sosfilt

        y, self._kzi = sosfilt(self._ksos, b, axis=-1, zi=self._kzi.transpose(1, 0, 2))
        self._kzi = self._kzi.transpose(1, 0, 2)
        e = y * y
        pos, n = 0, e.shape[1]
        while pos < n:
            m = min(self._kstep - self._kfill, n - pos)
            self._kacc += e[:, pos:pos + m].sum(axis=1)
            self._kfill += m
            pos += m
            if self._kfill == self._kstep:
                self._ksteps.append(self._kacc.copy())
                self._kacc[:] = 0.0
                self._kfill = 0

    @property
    def lufs(self) -> float | None:
        """Integrated loudness so far (LUFS; -inf if silent or shorter than 400 ms; None if the
        meter was made without ``loudness``)."""
        if not self.loudness:
            return None
        from .loudness import OFFSET

        k = self._kper
        if len(self._ksteps) < k:
            return -math.inf
        steps = np.array(self._ksteps)                      # (n_steps, channels)
        c = np.concatenate((np.zeros((1, self.channels)), np.cumsum(steps, axis=0)))
        z = (c[k:] - c[:-k]) / (k * self._kstep)           # (blocks, channels) mean squares
        p = np.maximum(z @ self._kw, 0.0)
        with np.errstate(divide="ignore"):
            return gated_loudness(OFFSET + 10.0 * np.log10(p))

    @property
    def peak_dbfs(self) -> float:
        return 20.0 * math.log10(self._peak) if self._peak > 0 else -math.inf

    @property
    def rms_dbfs(self) -> float:
        n = self.frames * self.channels
        m = self._sumsq / n if n else 0.0
        return 10.0 * math.log10(m) if m > 0 else -math.inf

    @property
    def snr_db(self) -> float:
        if not self._powers:
            return snr_from_frame_powers(np.zeros(0))
        return snr_from_frame_powers(np.concatenate(self._powers))


def detect_hum(x: np.ndarray, sample_rate: float, mains: tuple[float, ...] = (50.0, 60.0),
               harmonics: int = 6, threshold_db: float = 10.0) -> dict | None:
    """Look for mains hum: narrow, steady peaks at ``f0`` and its harmonics.

    Averages the power spectrum (Welch, <= 1 Hz resolution) and, for each mains frequency,
    measures how far the strongest bin within +-1.5 Hz of each harmonic rises above the median of
    the bins 4-12 Hz away.  Hum is reported when at least two of the first ``harmonics`` harmonics
    rise more than ``threshold_db``, or the fundamental or second harmonic alone rises 10 dB more
    (the threshold is 6 dB higher when fewer than 4 spectra could be averaged).  Returns ``None`` or a dict: ``f0`` (Hz), ``harmonics`` (the
    numbers that stand out), ``prominence_db`` (of the strongest), ``level_dbfs`` (their summed
    power).  Speech and music pitches move, so they average out; a held bass note may not."""
    from scipy.signal import welch

    a = np.atleast_2d(np.asarray(x, dtype=np.float64)).mean(axis=0)
    nper = 1 << int(math.ceil(math.log2(max(sample_rate, 16.0))))  # <= 1 Hz resolution
    if a.size < nper // 2:
        return None
    nper = min(nper, 1 << int(math.floor(math.log2(a.size))))
    f, p = welch(a, fs=sample_rate, window="hann", nperseg=nper, noverlap=nper // 2,
                 scaling="spectrum")
    df = f[1] - f[0]
    if df > 2.0:
        return None
    if 1 + (a.size - nper) // (nper // 2) < 4:  # few averages: noise peaks are taller
        threshold_db += 6.0
    best = None
    for f0 in mains:
        found, proms, power = [], [], 0.0
        for k in range(1, harmonics + 1):
            fk = k * f0
            if fk + 12.0 >= sample_rate / 2:
                break
            near = (f >= fk - 1.5) & (f <= fk + 1.5)
            side = ((f >= fk - 12.0) & (f <= fk - 4.0)) | ((f >= fk + 4.0) & (f <= fk + 12.0))
            peak = float(p[near].max())
            bg = float(np.median(p[side]))
            prom = 10.0 * math.log10(max(peak, _EPS) / max(bg, _EPS))
            if prom > threshold_db:
                found.append(k)
                proms.append(prom)
                power += float(p[near].sum())  # the peak's energy spread by the window
        strong = any(k <= 2 and pr > threshold_db + 10.0 for k, pr in zip(found, proms))
        if len(found) >= 2 or strong:
            score = sum(proms)
            if best is None or score > best[0]:
                best = (score, {"f0": f0, "harmonics": found, "prominence_db": max(proms),
                                "level_dbfs": 10.0 * math.log10(max(power, _EPS))})
    return None if best is None else best[1]
