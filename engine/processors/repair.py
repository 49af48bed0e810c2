"""Gap repair: digital dropouts (runs of exact zeros), damaged spans given as a list, packet loss.

- :func:`detect_gaps`: runs of exact zeros >= ``min_ms`` and <= ``max_ms`` whose surroundings
  (``context_ms`` each side) are not silent; runs touching the file's start or end and digital
  silence between tracks (silent surroundings) are never gaps.
- :func:`read_gaps_csv`: spans from a CSV (``start_s,end_s`` or ``start_sample,end_sample``).
- :func:`repair`: fill gaps in a whole signal.  Methods: ``ar`` (Janssen/LSAR interpolation,
  Numba), ``extrap`` (forward/backward AR extrapolation, cross-faded), ``model`` (spectrogram
  inpainting Res-U-Net + phase from the surroundings + Griffin-Lim restricted to the gap),
  ``auto`` (AR up to ``short_ms``; longer: the model, with the AR solution blended in at the
  gap's edges).  Samples outside the gaps are never changed (bit-exact).
- :class:`Repair`: the same as a streaming node for file chains (declared look-ahead 250 ms +
  140 ms + one hop).
- :class:`Conceal`: causal packet-loss concealment for live chains (latency ``detect_ms``).
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
from numba import njit

from ..hop import HopProcessor
from ..params import Param
from ..processor import Processor, register
from ._repair_ar import ArScratch, fill_extrap, fill_lsar, gap_context, gap_order
from .declick import levinson, shift_in

__all__ = ["Repair", "Conceal", "detect_gaps", "read_gaps_csv", "repair", "fill_gap"]

METHODS = ("auto", "ar", "extrap", "model")
MAX_GAP_MS = 250.0        # the node's look-ahead is sized for this
POST_MS = 140.0           # context after a gap the node waits for
PRE_MS = 400.0            # context before a gap the node keeps
MAX_GIVEN_MS = 400.0      # longest span accepted from a list (the model's patch is 512 ms)
SHORT_MS = 15.0           # auto: AR (Janssen) up to this gap length, the model above (chosen
#                           on train-split excerpts: AR wins at 5 ms, the model from 20 ms on)
MAX_SHORT_MS = 50.0       # the node's LSAR scratch is sized for this
EDGE_MS = 8.0             # auto: AR blended in over this much at each edge of a long gap


# --------------------------------------------------------------------------- detection
def _rms_db(x: np.ndarray) -> float:
    if x.size == 0:
        return -math.inf
    m = float(np.mean(np.asarray(x, np.float64) ** 2))
    return 10.0 * math.log10(m) if m > 0 else -math.inf


def detect_gaps(audio: np.ndarray, sample_rate: int, min_ms: float = 2.0,
                max_ms: float = MAX_GAP_MS, context_ms: float = 20.0,
                silence_db: float = -60.0, constant: bool = False) -> list[list[tuple[int, int]]]:
    """Per channel, the [start, end) sample spans of dropouts: runs of exact zeros of
    ``min_ms``..``max_ms`` not touching the signal's ends, with the RMS of ``context_ms`` on
    *both* sides above ``silence_db`` dBFS.  audio: 1-D or (channels, frames).

    ``constant``: also runs of one repeated non-zero value (a player holding the last sample),
    except at the channel's peak magnitude (a clipped run: DeClip's job)."""
    x = np.atleast_2d(np.asarray(audio))
    n = x.shape[1]
    lo = max(1, int(round(min_ms * 1e-3 * sample_rate)))
    hi = int(round(max_ms * 1e-3 * sample_rate))
    cw = max(1, int(round(context_ms * 1e-3 * sample_rate)))
    out: list[list[tuple[int, int]]] = []
    for ch in range(x.shape[0]):
        z = np.concatenate(([0], (x[ch] == 0).astype(np.int8), [0]))
        d = np.diff(z)
        runs = list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))
        if constant and n > 1:
            peak = float(np.max(np.abs(x[ch])))
            same = np.concatenate(([False], x[ch, 1:] == x[ch, :-1]))  # sample equals previous
            same &= (x[ch] != 0) & (np.abs(x[ch]) < 0.999 * peak)
            c = np.diff(np.concatenate(([0], same.astype(np.int8), [0])))
            # a held run starts at the first repeat (after the last good value)
            runs += [(s, e) for s, e in zip(np.flatnonzero(c == 1).tolist(),
                                            np.flatnonzero(c == -1).tolist())]
            runs.sort()
        spans = []
        for s, e in runs:
            if s == 0 or e == n or not lo <= e - s <= hi:
                continue
            if (_rms_db(x[ch, max(0, s - cw):s]) > silence_db
                    and _rms_db(x[ch, e:e + cw]) > silence_db):
                spans.append((s, e))
        out.append(spans)
    return out


def read_gaps_csv(path: str | os.PathLike, sample_rate: int) -> list[tuple[int, int]]:
    """Spans from a CSV: two columns start,end; seconds unless the header names samples
    (``start_sample,end_sample``); ``#`` comments and blank lines ignored.  Sorted, merged."""
    spans: list[tuple[int, int]] = []
    samples = False
    with open(path, newline="") as f:
        for k, row in enumerate(csv.reader(f)):
            row = [c.strip() for c in row]
            if not row or not row[0] or row[0].startswith("#"):
                continue
            try:
                a, b = float(row[0]), float(row[1])
            except (ValueError, IndexError):
                if not spans and k == 0 or all(not c[:1].isdigit() for c in row):
                    samples = "sample" in ",".join(row).lower()
                    continue
                raise ValueError(f"{path}: line {k + 1}: expected start,end numbers, got {row}") from None
            if samples:
                s, e = int(round(a)), int(round(b))
            else:
                s, e = int(round(a * sample_rate)), int(round(b * sample_rate))
            if s < 0 or e <= s:
                raise ValueError(f"{path}: line {k + 1}: span {row[0]}..{row[1]} is empty or negative")
            spans.append((s, e))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


# --------------------------------------------------------------------------- filling
_MODEL_CACHE: dict[str, object] = {}


def load_model(path: str | os.PathLike | None = None):
    """The shipped inpainting model (cached per path), or None if it cannot be loaded."""
    from aural.models.inpaint import InpaintModel, default_model_path

    key = str(path or default_model_path())
    if key not in _MODEL_CACHE:
        try:
            _MODEL_CACHE[key] = InpaintModel(key)
        except (OSError, ImportError, RuntimeError, ValueError):
            _MODEL_CACHE[key] = None
    return _MODEL_CACHE[key]


def fill_gap(xb: np.ndarray, s: int, e: int, sample_rate: int, method: str = "auto",
             short_ms: float = SHORT_MS, model=None, scratch: ArScratch | None = None,
             mask: np.ndarray | None = None, filler=None, allocate: bool = True) -> str:
    """Fill xb[s:e] in place (xb: 1-D float64; the rest of xb is context and is not changed).
    Returns the method used ('ar', 'extrap', 'model', 'auto').

    ``scratch``/``mask``/``filler`` (a :class:`SpectralFiller` for ``model``): preallocated
    work arrays; with ``allocate=False`` (the node's audio path) none is made here, and a gap
    too long for the scratch's LSAR is filled by AR extrapolation instead."""
    n = e - s
    p = gap_order(n, sample_rate)
    ctx = gap_context(n, p, sample_rate)
    long_gap = n > short_ms * 1e-3 * sample_rate
    spectral = method == "model" or (method == "auto" and long_gap and model is not None)
    lsar = not spectral and method != "extrap"
    sc = scratch
    if sc is None or sc.r.shape[0] <= p or sc.fw.shape[0] < n or (lsar and sc.pos.shape[0] < n):
        if allocate or sc is None or sc.r.shape[0] <= p or sc.fw.shape[0] < n:
            sc = ArScratch(n, p)
        else:
            lsar = False  # the preallocated LSAR scratch is too short for this gap
    mk = mask if mask is not None and mask.shape[0] == xb.shape[0] else np.zeros(xb.shape[0], np.int8)
    if spectral:
        # forward/backward AR extrapolation: its phase starts the spectral iterations, and it
        # is the fill at the edges (exact continuations of the sides)
        fill_extrap(xb, s, e, p, ctx, sc.r, sc.a, sc.ab, sc.atmp, sc.fw, sc.bw)
        if filler is None or filler.sample_rate != sample_rate or filler.model is not model:
            from ._repair_spec import SpectralFiller

            filler = SpectralFiller(sample_rate, model)
        spec = filler.fill(xb, s, e)
        if method == "model":
            xb[s:e] = spec
            return "model"
        _blend_edges(xb, s, e, spec, max(1, min(int(EDGE_MS * 1e-3 * sample_rate), n // 4)))
        return "auto"
    if not lsar or not fill_lsar(xb, mk, s, e, p, ctx, 2, sc.r, sc.a, sc.atmp, sc.ra, sc.pos,
                                 sc.lb, sc.rhs, sc.sol):
        fill_extrap(xb, s, e, p, ctx, sc.r, sc.a, sc.ab, sc.atmp, sc.fw, sc.bw)
        return "extrap"
    return "ar"


@njit(cache=True, nogil=True)
def _blend_edges(xb, s, e, spec, m) -> None:
    """xb[s:e] = w * xb[s:e] + (1 - w) * spec, w a raised-cosine fade from 1 to 0 over the
    first m samples and from 0 to 1 over the last m (the AR fill kept at the gap's edges)."""
    n = e - s
    for i in range(n):
        w = 0.0
        if i < m:
            w = 0.5 + 0.5 * np.cos(np.pi * (i + 0.5) / m)
        if i >= n - m:
            w = max(w, 0.5 + 0.5 * np.cos(np.pi * (n - 1 - i + 0.5) / m))
        xb[s + i] = w * xb[s + i] + (1.0 - w) * spec[i]


def repair(audio: np.ndarray, sample_rate: int, gaps="auto", method: str = "auto",
           short_ms: float = SHORT_MS, model_path: str | os.PathLike | None = None,
           **detect_kw) -> tuple[np.ndarray, list[dict]]:
    """Repair a whole signal; returns (float32 array of the input's shape, report).

    gaps: ``"auto"`` (:func:`detect_gaps` with ``detect_kw``), a CSV path, or a list of
    (start, end) sample spans applied to every channel.  The report lists each filled span
    (channel, start/end in samples and seconds, method).  The input is never written into."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (one of {', '.join(METHODS)})")
    x = np.asarray(audio)
    one_d = x.ndim == 1
    x2 = np.atleast_2d(x).astype(np.float64)
    c, n = x2.shape
    if isinstance(gaps, str) and gaps == "auto":
        per_ch = detect_gaps(x2, sample_rate, **detect_kw)
    else:
        spans = read_gaps_csv(gaps, sample_rate) if isinstance(gaps, (str, Path)) else \
            [(int(s), int(e)) for s, e in gaps]
        longest = MAX_GIVEN_MS * 1e-3 * sample_rate
        for s, e in spans:
            if e <= s or s < 0 or e > n:
                raise ValueError(f"gap {s}..{e} is outside the signal (0..{n} samples)")
            if e - s > longest:
                raise ValueError(f"gap {s}..{e} ({(e - s) / sample_rate * 1e3:.0f} ms) is longer "
                                 f"than {MAX_GIVEN_MS:.0f} ms: too long to repair")
        per_ch = [list(spans) for _ in range(c)]
    need_model = method == "model" or (method == "auto" and any(
        e - s > short_ms * 1e-3 * sample_rate for sp in per_ch for s, e in sp))
    model = load_model(model_path) if need_model else None
    if method == "model" and model is None:
        raise ValueError("the inpainting model could not be loaded (models/weights/inpaint-resunet.onnx)")
    report = []
    mask = np.zeros(n, np.int8)
    filler = None
    if need_model:
        from ._repair_spec import SpectralFiller

        filler = SpectralFiller(sample_rate, model)
    for ch in range(c):
        for s, e in per_ch[ch]:
            used = fill_gap(x2[ch], s, e, sample_rate, method, short_ms, model, mask=mask,
                            filler=filler)
            report.append({"channel": ch, "start": s, "end": e, "start_s": s / sample_rate,
                           "end_s": e / sample_rate, "ms": (e - s) / sample_rate * 1e3,
                           "method": used})
    y = np.nan_to_num(x2, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    return (y[0] if one_d else y), report


# --------------------------------------------------------------------------- the file node
@njit(cache=True, nogil=True)
def _scan_runs(x, t0, in_run, run_start, lo, hi, q, qn) -> None:
    """Track runs of exact zeros; push finished runs of lo..hi samples as (ch, start, end)."""
    for ch in range(x.shape[0]):
        for i in range(x.shape[1]):
            u = t0 + i
            if x[ch, i] == 0.0:
                if in_run[ch] == 0:
                    in_run[ch] = 1
                    run_start[ch] = u
            elif in_run[ch] != 0:
                in_run[ch] = 0
                ln = u - run_start[ch]
                if lo <= ln <= hi and qn[0] < q.shape[0]:
                    q[qn[0], 0] = ch
                    q[qn[0], 1] = run_start[ch]
                    q[qn[0], 2] = u
                    qn[0] += 1


@njit(cache=True, nogil=True)
def _mean_sq(v, lo, hi) -> float:
    lo = max(lo, 0)
    hi = min(hi, v.shape[0])
    if hi <= lo:
        return 0.0
    s = 0.0
    for i in range(lo, hi):
        s += v[i] * v[i]
    return s / (hi - lo)


@register
class Repair(HopProcessor):
    """Dropout repair for file chains: finds runs of exact zeros (``min_ms``..250 ms, non-silent
    surroundings) and fills them (AR for short gaps, the inpainting model for long ones).
    Samples outside gaps pass bit-exact.  Latency: 390 ms + one 4 ms hop (look-ahead)."""

    params = (
        Param("min_ms", 2.0, unit="ms", range=(0.5, 50.0),
              doc="shortest run of exact zeros treated as a dropout"),
        Param("max_ms", MAX_GAP_MS, unit="ms", range=(5.0, MAX_GAP_MS),
              doc="longest run repaired (longer runs are left alone)"),
        Param("silence_db", -60.0, unit="dBFS", range=(-120.0, -20.0),
              doc="a run is repaired only if the 20 ms on both sides are louder than this"),
        Param("short_ms", SHORT_MS, unit="ms", range=(0.0, MAX_SHORT_MS),
              doc="gaps up to this long: AR (Janssen); longer: the model (method auto)"),
        Param("method", "auto", kind="choice", choices=METHODS,
              doc="auto (AR + model), ar, extrap or model"),
    )

    def _prepare_hop(self) -> None:
        sr = self.sample_rate
        self.hop = max(1, int(round(0.004 * sr)))
        self._maxlen = int(round(MAX_GAP_MS * 1e-3 * sr))
        self._post = int(round(POST_MS * 1e-3 * sr))
        self._dh = self._maxlen + self._post + self.hop
        self._size = int(round(PRE_MS * 1e-3 * sr)) + self._dh + self.hop
        self._buf = np.zeros((self.channels, self._size))
        self._in_run = np.ones(self.channels, np.int64)
        self._run_start = np.full(self.channels, -(1 << 40), np.int64)
        self._q = np.zeros((256, 3), np.int64)
        self._qn = np.zeros(1, np.int64)
        self._t = 0
        self._mask = np.zeros(self._size, np.int8)
        method = METHODS[int(self.v("method"))]
        self._model = load_model() if method in ("auto", "model") else None
        from ._repair_spec import SpectralFiller  # imports aural.models.inpaint (numpy only)

        self._filler = SpectralFiller(sr, self._model)
        # LSAR runs on every gap with method ar (or auto without the model): scratch for the
        # longest; otherwise for short gaps only (a later switch to ar extrapolates long ones)
        lsar_all = method == "ar" or (method == "auto" and self._model is None)
        self._scratch = ArScratch((self._maxlen if lsar_all else int(MAX_SHORT_MS * 1e-3 * sr)) + 1,
                                  96)
        self._scratch.fw = np.zeros(self._maxlen + 1)
        self._scratch.bw = np.zeros(self._maxlen + 1)
        self._warm()
        self.gaps_repaired = 0

    def _warm(self) -> None:
        """Fill one gap in noise with each method (ar, extrap, auto, model), so the first real
        dropout meets compiled Numba kernels and a warm model session (no JIT on the audio
        path)."""
        sr = self.sample_rate
        v = 0.1 * np.random.default_rng(0).standard_normal(self._size)
        mid = self._size // 2
        for method, ms in (("ar", 5.0), ("extrap", 5.0), ("auto", 60.0), ("model", 60.0)):
            n = max(2, int(ms * 1e-3 * sr))
            fill_gap(v, mid, mid + n, sr, method, SHORT_MS, self._model, self._scratch,
                     self._mask, self._filler, allocate=False)
        self._mask[:] = 0
        _mean_sq(self._buf[0], 0, 16)

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    def _reset_hop(self) -> None:
        self._buf[:] = 0.0
        self._in_run[:] = 1
        self._run_start[:] = -(1 << 40)
        self._qn[0] = 0
        self._t = 0
        self.gaps_repaired = 0

    def _hop_latency(self) -> int:
        return self._dh

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        h, size, t0 = self.hop, self._size, self._t
        shift_in(self._buf, x, h)
        sr = self.sample_rate
        lo = max(1, int(round(self.v("min_ms") * 1e-3 * sr)))
        hi = min(self._maxlen, int(round(self.v("max_ms") * 1e-3 * sr)))
        _scan_runs(x, t0, self._in_run, self._run_start, lo, hi, self._q, self._qn)
        self._t = t = t0 + h
        if self._qn[0]:
            self._repair_ready(t, size)
        o = size - self._dh - h
        out[:, :] = self._buf[:, o:o + h]

    def _repair_ready(self, t: int, size: int) -> None:
        q, qn = self._q, self._qn
        cw = int(round(0.02 * self.sample_rate))
        thr = 10.0 ** (self.v("silence_db") / 10.0)
        method = METHODS[int(self.v("method"))]
        k = 0
        while k < qn[0]:
            ch, s, e = int(q[k, 0]), int(q[k, 1]), int(q[k, 2])
            if t < e + self._post:
                k += 1
                continue
            bs, be = size - (t - s), size - (t - e)
            v = self._buf[ch]
            if _mean_sq(v, bs - cw, bs) > thr and _mean_sq(v, be, be + cw) > thr:
                fill_gap(v, bs, be, self.sample_rate, method, self.v("short_ms"), self._model,
                         self._scratch, self._mask, self._filler, allocate=False)
                self.gaps_repaired += 1
            q[k:qn[0] - 1] = q[k + 1:qn[0]]
            qn[0] -= 1


# --------------------------------------------------------------------------- live concealment
@njit(cache=True, nogil=True)
def _conceal(x, out, dl, dpos, zrun, mode, k, kx, env, hist, arh, hpos, a, period, r, atmp, lin,
             win, lk, p, nfit, tmin, tmax, dstep, hold, decay, fade, env_c, thr) -> None:
    """Per-sample concealment (see :class:`Conceal`); all state arrays per channel."""
    hn = hist.shape[1]
    for ch in range(x.shape[0]):
        for i in range(x.shape[1]):
            v = x[ch, i]
            zrun[ch] = zrun[ch] + 1 if v == 0.0 else 0
            src = dl[ch, dpos[ch]]  # the input lk samples ago
            dl[ch, dpos[ch]] = v
            dpos[ch] = (dpos[ch] + 1) % lk if lk > 0 else 0
            if lk == 0:
                src = v
            m = mode[ch]
            if m == 0 and src == 0.0 and zrun[ch] >= lk + 1 and env[ch] > thr:
                # a dropout starts: fit AR(p) on the last nfit samples of history
                for j in range(nfit):
                    lin[j] = hist[ch, (hpos[ch] - nfit + j) % hn]
                for j in range(nfit):
                    win[j] = 0.5 - 0.5 * math.cos(2.0 * math.pi * (j + 0.5) / nfit)
                for q in range(p + 1):
                    s = 0.0
                    for j in range(nfit - q):
                        s += lin[j] * win[j] * lin[j + q] * win[j + q]
                    r[q] = s
                _lev(r, p, a[ch], atmp)
                period[ch] = _pitch(hist[ch], hpos[ch], tmin, tmax, dstep)
                m = 1
                k[ch] = 0
            if m == 0:
                y = src
                hist[ch, hpos[ch]] = src
                arh[ch, hpos[ch]] = src
                env[ch] += env_c * (src * src - env[ch])
            else:
                pred = 0.0
                for q in range(1, p + 1):  # the AR recursion runs on its own ring
                    pred -= a[ch, q] * arh[ch, (hpos[ch] - q) % hn]
                if pred > 4.0:
                    pred = 4.0
                elif pred < -4.0:
                    pred = -4.0
                arh[ch, hpos[ch]] = pred
                tp = period[ch]
                if tp > 0:  # voiced / periodic: repeat the last period, blended in from the AR
                    per = hist[ch, (hpos[ch] - tp) % hn]
                    mb = tp // 2
                    if k[ch] < mb:
                        wb = (k[ch] + 0.5) / mb
                        pred = (1.0 - wb) * pred + wb * per
                    else:
                        pred = per
                if pred > 4.0:
                    pred = 4.0
                elif pred < -4.0:
                    pred = -4.0
                kk = k[ch]
                g = 1.0
                if kk >= hold:
                    g = 0.0 if kk >= hold + decay else 0.5 + 0.5 * math.cos(math.pi * (kk - hold) / decay)
                k[ch] = kk + 1
                if m == 1 and src != 0.0:
                    m = 2
                    kx[ch] = 0
                elif m == 2 and src == 0.0 and zrun[ch] >= lk + 1:
                    m = 1
                if m == 1:
                    y = g * pred
                    hist[ch, hpos[ch]] = pred
                else:
                    w = 0.5 + 0.5 * math.cos(math.pi * (kx[ch] + 0.5) / fade)
                    y = w * g * pred + (1.0 - w) * src
                    hist[ch, hpos[ch]] = y if g > 0.0 else src
                    kx[ch] += 1
                    if kx[ch] >= fade:
                        m = 0
            mode[ch] = m
            hpos[ch] = (hpos[ch] + 1) % hn
            out[ch, i] = y


@njit(cache=True, nogil=True)
def _ncorr(h, hpos, lag, tmax, d) -> float:
    hn = h.shape[0]
    c = 0.0
    e0 = 0.0
    e1 = 0.0
    for j in range(1, tmax + 1, d):
        u = h[(hpos - j) % hn]
        v = h[(hpos - j - lag) % hn]
        c += u * v
        e0 += u * u
        e1 += v * v
    if e0 > 0.0 and e1 > 0.0:
        return c / math.sqrt(e0 * e1)
    return 0.0


@njit(cache=True, nogil=True)
def _pitch(h, hpos, tmin, tmax, d) -> int:
    """The period (tmin..tmax samples) of the last tmax samples of the ring h ending before hpos
    if their normalised autocorrelation there exceeds 0.6, else 0.  Coarse search on every d-th
    lag and sample (d ~ rate / 16 kHz), then refined to the sample."""
    best = 0.0
    bt = 0
    for lag in range(tmin, tmax + 1, d):
        c = _ncorr(h, hpos, lag, tmax, d)
        if c > best:
            best = c
            bt = lag
    if bt == 0:
        return 0
    lo = max(tmin, bt - d + 1)
    hi = min(tmax, bt + d - 1)
    for lag in range(lo, hi + 1):
        c = _ncorr(h, hpos, lag, tmax, d)
        if c > best:
            best = c
            bt = lag
    return bt if best > 0.6 else 0


@njit(cache=True, nogil=True)
def _lev(r, p, a, atmp) -> None:
    levinson(r, p, a, atmp, 1e-5)


@register
class Conceal(Processor):
    """Causal packet-loss concealment for live chains: a run of exact zeros (>= ``detect_ms``,
    after non-silent audio) is replaced by AR extrapolation of the last good 20 ms (order 24-32),
    held ``hold_ms`` then faded out over ``decay_ms``; when audio resumes the extrapolation is
    cross-faded into it over ``fade_ms``.  Latency: ``detect_ms`` (the detection look-ahead)."""

    params = (
        Param("detect_ms", 1.0, unit="ms", range=(0.25, 5.0),
              doc="zeros must last this long to count as a loss (the node's latency)"),
        Param("hold_ms", 40.0, unit="ms", range=(0.0, 200.0),
              doc="extrapolate at full level this long"),
        Param("decay_ms", 30.0, unit="ms", range=(1.0, 200.0),
              doc="then fade the extrapolation to silence over this time"),
        Param("fade_ms", 5.0, unit="ms", range=(0.5, 20.0),
              doc="cross-fade back into the audio when it resumes"),
        Param("silence_db", -60.0, unit="dBFS", range=(-120.0, -20.0),
              doc="no concealment when the audio before the loss is quieter than this"),
    )

    def _prepare(self) -> None:
        sr, c = self.sample_rate, self.channels
        self._lk = max(1, int(round(self.v("detect_ms") * 1e-3 * sr)))
        self._p = int(min(32, max(16, round(sr / 1500.0))))
        self._nfit = max(4 * self._p, int(0.02 * sr))
        self._dl = np.zeros((c, self._lk))  # detect_ms applies at prepare (it is the latency)
        self._dpos = np.zeros(c, np.int64)
        self._zrun = np.zeros(c, np.int64)
        self._mode = np.zeros(c, np.int64)
        self._k = np.zeros(c, np.int64)
        self._kx = np.zeros(c, np.int64)
        self._env = np.zeros(c)
        self._tmin = max(2, int(0.0025 * sr))  # pitch 400 Hz ..
        self._tmax = max(self._tmin + 1, int(0.015 * sr))  # .. 67 Hz
        self._period = np.zeros(c, np.int64)
        self._hist = np.zeros((c, max(self._nfit, 2 * self._tmax + 1) + self._p + 1))
        self._arh = np.zeros_like(self._hist)
        self._hpos = np.zeros(c, np.int64)
        self._a = np.zeros((c, self._p + 1))
        self._r = np.zeros(self._p + 1)
        self._atmp = np.zeros(self._p + 1)
        self._lin = np.zeros(self._nfit)
        self._win = np.zeros(self._nfit)
        self._env_c = 1.0 - math.exp(-1.0 / (0.02 * sr))
        self._reset()

    def _reset(self) -> None:
        for a in (self._dl, self._dpos, self._zrun, self._mode, self._k, self._kx, self._env,
                  self._hist, self._arh, self._hpos, self._a, self._period):
            a[...] = 0

    def _latency(self) -> int:
        return self._lk

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        sr = self.sample_rate
        _conceal(x, out, self._dl, self._dpos, self._zrun, self._mode, self._k,
                 self._kx, self._env, self._hist, self._arh, self._hpos, self._a, self._period, self._r,
                 self._atmp, self._lin, self._win, self._lk, self._p, self._nfit, self._tmin,
                 self._tmax, max(1, sr // 16000),
                 int(self.v("hold_ms") * 1e-3 * sr), max(1, int(self.v("decay_ms") * 1e-3 * sr)),
                 max(1, int(self.v("fade_ms") * 1e-3 * sr)), self._env_c,
                 10.0 ** (self.v("silence_db") / 10.0))

    @property
    def concealing(self) -> bool:
        """True while any channel is being concealed (control-thread read)."""
        return bool(self._mode.any()) if self.prepared else False
