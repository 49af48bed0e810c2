"""BandwidthExtender: regenerate the missing top band of band-limited audio (phone to studio).

    from aural.models.bwe import BandwidthExtender
    bwe = BandwidthExtender()                  # mode "model": the shipped bwe.onnx envelope net
    y = bwe(x, 48000)                          # latency-compensated, same length
    bwe.cutoff_hz                              # the detected input bandwidth (0: full band)

Per hop of ``n_fft/4`` (n_fft ~21 ms: 1024 at 48 kHz) the running power spectrum's upper edge is
tracked (:func:`aural.models.bwe_core.detect_cutoff`); when there is one between
``min_cutoff_hz`` and ``max_cutoff_hz``, the envelope of the missing band (32 ERB bands up to
24 kHz) is predicted from the known band's levels, by a small causal GRU run through onnxruntime
(mode ``model``) or by extrapolating the top octave's slope (mode ``folding``, the DSP
baseline), and the band is synthesised by spectral translation of the known band's top, shaped to
that envelope, starting ``GUARD_BINS`` bins above the cutoff.  The output is the input delayed by
``latency_samples`` (= n_fft - 1) plus that generated band: below the cutoff it is the input,
sample for sample (leakage of the generated band below the cutoff < -97 dB); with no cutoff
detected nothing is added and the output is exactly the delayed input.

Rates 8-192 kHz (the layout scales with the rate; nothing is generated above 24 kHz or Nyquist),
any channel count (one cutoff for all channels, detected on their mean spectrum), any host block.
Never imports torch.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from aural.engine.hop import HopProcessor
from aural.engine.params import Param
from aural.engine.processor import register
from numba import njit

from . import bwe_core as core

__all__ = ["BandwidthExtender", "DEFAULT_BWE_MODEL", "BweModel"]

DEFAULT_BWE_MODEL = Path(__file__).resolve().parent / "weights" / "bwe.onnx"


@njit(cache=True, nogil=True)
def _finite_or_zero(a) -> bool:
    """True if every value of the 2-D float32 array a is finite; else zero it, return False."""
    ok = True
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            if not math.isfinite(a[i, j]):
                ok = False
    if not ok:
        a[:, :] = 0.0
    return ok


class BweModel:
    """The envelope net (ONNX: feat (C, N_FEAT), h (C, H) -> env (C, N_BANDS), h_out), bound
    with IOBinding to preallocated arrays (two state sets, ping-pong): ``run()`` allocates
    nothing on the Python side.  Never imports torch."""

    def __init__(self, path: str | os.PathLike, channels: int, threads: int = 1) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        ins = {i.name: i.shape for i in self.session.get_inputs()}
        outs = [o.name for o in self.session.get_outputs()]
        if set(ins) != {"feat", "h"} or outs != ["env", "h_out"]:
            raise ValueError(f"{path}: not a bandwidth-extension envelope model")
        hidden = int(ins["h"][1])
        self.feat = np.zeros((channels, core.N_FEAT), np.float32)
        self.env = np.zeros((channels, core.N_BANDS), np.float32)
        self.h = [np.zeros((channels, hidden), np.float32) for _ in range(2)]
        fv = ort.OrtValue.ortvalue_from_numpy(self.feat)
        ev = ort.OrtValue.ortvalue_from_numpy(self.env)
        hv = [ort.OrtValue.ortvalue_from_numpy(a) for a in self.h]
        self._bind = []
        for k in (0, 1):
            b = self.session.io_binding()
            b.bind_ortvalue_input("feat", fv)
            b.bind_ortvalue_input("h", hv[k])
            b.bind_ortvalue_output("env", ev)
            b.bind_ortvalue_output("h_out", hv[1 - k])
            self._bind.append(b)
        self._ro = ort.RunOptions()
        self._cur = 0
        self.recoveries = 0

    def reset(self) -> None:
        self.h[0][:] = 0.0
        self.h[1][:] = 0.0
        self.env[:] = 0.0
        self._cur = 0

    def run(self) -> np.ndarray:
        """One frame: reads ``feat``, returns ``env`` (relative dB / 20, valid until next run)."""
        self.session.run_with_iobinding(self._bind[self._cur], self._ro)
        self._cur ^= 1
        if not (_finite_or_zero(self.env) and _finite_or_zero(self.h[self._cur])):
            self.reset()
            self.env[:] = -5.0  # silence for this frame
            self.recoveries += 1
        return self.env


RELEASE_S = 1.5  # s without an edge before a detected cutoff is released


@register
class BandwidthExtender(HopProcessor):
    """Detect the input's upper band edge and regenerate the band above it (see module doc).

    ``cutoff_hz``: the cutoff in use (0.0 when none: the input passes untouched)."""

    params = (
        Param("mode", "model", kind="choice", choices=("model", "folding"),
              doc="envelope of the new band: the trained net, or the top octave's slope (DSP)"),
        Param("gain_db", 0.0, unit="dB", range=(-24.0, 12.0),
              doc="level of the generated band relative to the predicted envelope"),
        Param("min_cutoff_hz", 3000.0, unit="Hz", range=(1000.0, 20000.0), scale="log",
              doc="lowest band edge that counts as a cutoff (below: untouched)"),
        Param("max_cutoff_hz", 12000.0, unit="Hz", range=(2000.0, 22000.0), scale="log",
              doc="highest band edge that counts as a cutoff (above: full band, untouched)"),
        Param("drop_db", 24.0, unit="dB", range=(10.0, 80.0),
              doc="how far everything above the edge must lie below the band under it"),
        Param("detect_ms", 800.0, unit="ms", range=(50.0, 10000.0), scale="log",
              doc="time constant of the running spectrum the edge is read from"),
        Param("noise", 0.3, unit="", range=(0.0, 1.0),
              doc="share of random phase in the translated fine structure"),
        Param("harmonic", True, kind="bool",
              doc="translate by the spectrum's own period (harmonics continue on harmonics)"),
        Param("fold_offset_db", 6.0, unit="dB", range=(0.0, 40.0),
              doc="folding mode: level drop at the cutoff beyond the top octave's slope"),
    )

    def __init__(self, name: str | None = None, *, model: str | os.PathLike | None = None,
                 **kw) -> None:
        self.model_path = str(model or DEFAULT_BWE_MODEL)
        self._net: BweModel | None = None
        super().__init__(name, **kw)

    # ------------------------------------------------------------------ setup
    def _prepare_hop(self) -> None:
        sr, c = self.sample_rate, self.channels
        lay = self.layout = core.BweLayout(sr)
        self.hop = lay.hop
        n, kb = lay.n_fft, lay.n_bins
        self._inbuf = np.zeros((c, n))
        self._ola = np.zeros((c, n))
        self._spec = np.zeros((c, kb), np.complex128)
        self._z = np.zeros(n // 2, np.complex128)
        self._frame = np.zeros(n)
        self._ybuf = np.zeros(kb, np.complex128)
        self._gain = np.zeros(core.N_BANDS)
        self._pavg = np.zeros(kb)
        self._work = np.zeros(kb)
        self._sdb = np.zeros(kb)
        self._bdb = np.zeros((c, core.N_BANDS))
        self._ref = np.zeros(c)
        self._feat = np.zeros((c, core.N_FEAT), np.float32)
        self._env = np.zeros((c, core.N_BANDS), np.float32)
        self._seed = np.array([12345, 0], np.int64)  # noise state, hop count
        self._k_top = min(lay.top_bin, kb - 1)
        if self._net is None or self._net.feat.shape[0] != c:
            self._net = BweModel(self.model_path, c) if os.path.isfile(self.model_path) else None
        self._on_param("", 0.0)
        self._reset_hop()

    def _on_param(self, name: str, value: float) -> None:
        if not hasattr(self, "layout"):
            return
        lay = self.layout
        nyq_bin = lay.n_bins - 1
        self._k_min = max(4, int(round(self.v("min_cutoff_hz") / lay.bin_hz)))
        self._k_max = min(nyq_bin - 8, int(round(self.v("max_cutoff_hz") / lay.bin_hz)))
        self._width = max(2, int(round(300.0 / lay.bin_hz)))
        hops = self.v("detect_ms") * 1e-3 * self.sample_rate / lay.hop
        self._a_avg = math.exp(-1.0 / max(1.0, hops))
        self._hold = max(1, int(round(0.1 * self.sample_rate / lay.hop)))  # ~100 ms to switch
        self._release = max(1, int(round(RELEASE_S * self.sample_rate / lay.hop)))

    def _reset_hop(self) -> None:
        self._inbuf[:] = 0.0
        self._ola[:] = 0.0
        self._pavg[:] = 0.0
        self._seed[0] = 12345
        self._seed[1] = 0
        self._k_cut = -1
        self._hops = 0
        self._cand = -1
        self._cand_n = 0
        if self._net is not None:
            self._net.reset()

    def _hop_latency(self) -> int:
        return self.layout.latency

    @property
    def cutoff_hz(self) -> float:
        """The cutoff in use in Hz (0.0: none detected, the input passes untouched)."""
        if not self.prepared or self._k_cut < 0:
            return 0.0
        return self._k_cut * self.layout.bin_hz

    # ------------------------------------------------------------------ audio
    def _track(self, k: int) -> None:
        """Switch to a new cutoff bin only after it held for ~100 ms (within 2 %), to none
        (the input passes) after RELEASE_S without an edge.  Estimates up
        to ~8 % above the cutoff in use keep it: generating from a little below the edge only
        adds to the input's own roll-off, while a wobbling start would leave the band between
        two estimates alternately generated and empty."""
        cur = self._k_cut
        if k == cur or (k > 0 and cur > 0 and (abs(k - cur) <= max(1, cur // 50)
                                                or 0 < k - cur <= cur // 12)):
            self._cand_n = 0
            return
        same = k == self._cand or (k > 0 and self._cand > 0
                                   and abs(k - self._cand) <= max(1, self._cand // 50))
        if self._cand_n > 0 and same:
            self._cand_n += 1
        else:
            self._cand = k
            self._cand_n = 1
        # no edge any more (the source became full band): released after ~1.5 s, so a pause or
        # a dull passage does not switch the generated band off and on
        if self._cand_n >= (self._hold if k > 0 else self._release):
            self._k_cut = k if k > 0 else -1
            self._cand_n = 0

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        lay = self.layout
        # the running spectrum starts with the first frame wholly inside the stream: earlier
        # frames cut the signal off at its first sample, a step whose broadband splatter would
        # hold the detector back for seconds (1.0: no update)
        fill = lay.n_fft // lay.hop - 1
        a_avg = self._a_avg if self._hops >= fill else 1.0
        self._hops = min(self._hops + 1, fill)
        core.analyze_hop(self._inbuf, x, lay.win_a, self._spec, self._z, lay.rev, lay.tw, lay.tw2,
                         self._pavg, a_avg, lay.pnorm)
        k = -1
        if self._k_min < self._k_max:
            k = core.detect_cutoff(self._pavg, self._k_min, self._k_max, self._width,
                                   self.v("drop_db"), 8.0, -100.0, self._work, self._sdb)
        self._track(k)
        kc = self._k_cut
        if kc > 0:
            core.band_db(self._spec, lay.band_lo, lay.band_hi, lay.pnorm, self._bdb)
            net = self._net if int(self.v("mode")) == 0 else None
            feat = net.feat if net is not None else self._feat
            core.features(self._bdb, lay.band_hi, kc, kc * lay.bin_hz, feat, self._ref)
            if net is not None:
                env = net.run()
            else:
                env = self._env
                core.fold_envelope(self._bdb, self._ref, lay.band_lo, lay.band_hi,
                                   lay.band_centre, kc, lay.bin_hz, self.v("fold_offset_db"), env)
            _add_db(env, self.v("gain_db") / 20.0)
        else:
            env = self._env
        core.synth_hop(self._spec, env, self._ref, self._inbuf, self._ola, out, kc, self._k_top,
                       lay.band_lo, lay.band_hi, lay.band_centre, lay.win_s, self._z, self._frame,
                       self._ybuf, self._gain, lay.rev, lay.tw, lay.tw2, lay.pnorm,
                       self.v("noise"), self._seed, bool(self.v("harmonic")))


@njit(cache=True, nogil=True)
def _add_db(env, d: float) -> None:
    if d != 0.0:
        for i in range(env.shape[0]):
            for j in range(env.shape[1]):
                env[i, j] += d
