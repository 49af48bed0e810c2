"""The duplex runner: an aural graph on a live sounddevice (PortAudio) stream.

    from aural.realtime import LiveStream
    live = LiveStream(chain, samplerate=48000, blocksize=128)
    live.start()             # prepares and warms the graph, then opens the stream
    live.latency             # Latency(device=..., algorithmic=..., total=...) in samples
    live.snapshot()          # levels, callback load, xruns, dropped blocks (any thread)
    live.stop()

The audio callback is real-time safe: everything it touches is allocated and compiled before the
stream opens (``warm()``), it takes no lock, writes no log line and creates no numpy array; it
copies the device block into a preallocated channels-first buffer (Numba, metering on the way),
runs ``chain.process`` on it, and writes the result back (metering again).  Per-block figures
(levels, callback time, per-node times) go into preallocated rings that the status thread reads.

Time stalls from the GIL are handled by the process design (see docs/live.md for the numbers):
``sys.setswitchinterval`` is lowered while the stream runs so that a busy Python thread (OSC,
status) gives the GIL back within ``switch_interval`` seconds, the garbage collector's existing
objects are frozen after warm-up so a collection never walks the whole heap, and the OSC thread
only parses and enqueues into the processors' bounded parameter queues.

Overload degrades instead of breaking: when the callback runs past ``overload_ratio`` of the
block period for a sustained stretch, the top-level node with the largest average time is put in
bypass (the processor's own latency-compensated dry path: output keeps its timing), a status event
is posted, and audio keeps flowing.  Xruns reported by the host API are counted.
"""
from __future__ import annotations

import gc
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numba import njit

from aural.engine import Chain, Processor

__all__ = ["LiveStream", "Latency", "Snapshot", "warm_chain", "list_devices", "import_sounddevice"]

# ring of per-block figures: columns
_IN_PEAK, _IN_MS, _OUT_PEAK, _OUT_MS, _DSP, _WAKE, _T0 = range(7)
_NCOLS = 7
# counters (int64)
(_BLOCKS, _FRAMES, _XRUN_IN_OVER, _XRUN_IN_UNDER, _XRUN_OUT_OVER, _XRUN_OUT_UNDER, _DROPPED,
 _ERRORS, _EVENTS, _NONFULL) = range(10)
_NCOUNT = 10
EVENT_OVERLOAD_BYPASS = 1
EVENT_CALLBACK_ERROR = 2


def import_sounddevice():
    """Import sounddevice with a useful message when PortAudio is missing."""
    try:
        import sounddevice as sd
    except OSError as e:  # libportaudio2 not installed
        raise RuntimeError("sounddevice cannot load PortAudio: install libportaudio2 "
                           "(scripts/setup.d/20-jack.sh does)") from e
    except ImportError as e:
        raise RuntimeError("live audio needs the 'live' extra: pip install 'aural[live]'") from e
    return sd


# ---------------------------------------------------------------------------- kernels
@njit(cache=True, nogil=False)
def _from_device(src, dst, n: int, ring, row: int) -> None:
    """dst[ch, i] = src[i, ch % cin] for i < n (interleaved device block -> channels-first),
    and the block's peak and mean square into ring[row]."""
    cin = src.shape[1]
    c = dst.shape[0]
    peak = 0.0
    acc = 0.0
    for ch in range(c):
        sc = ch % cin
        for i in range(n):
            v = src[i, sc]
            dst[ch, i] = v
            a = abs(v)
            if a > peak:
                peak = a
            acc += v * v
    ring[row, 0] = peak
    ring[row, 1] = acc / max(1, n * c)


@njit(cache=True, nogil=False)
def _to_device(src, dst, n: int, ring, row: int) -> None:
    """dst[i, ch] = src[ch % c, i] (channels-first -> interleaved device block, mono fans out),
    non-finite values replaced by silence, peak and mean square into ring[row, 2:4]."""
    c = src.shape[0]
    cout = dst.shape[1]
    peak = 0.0
    acc = 0.0
    for i in range(n):
        for ch in range(cout):
            v = src[ch % c, i]
            if not np.isfinite(v):
                v = 0.0
            dst[i, ch] = v
            a = abs(v)
            if a > peak:
                peak = a
            acc += v * v
    ring[row, 2] = peak
    ring[row, 3] = acc / max(1, n * cout)


@njit(cache=True, nogil=False)
def _silence(dst) -> None:
    for i in range(dst.shape[0]):
        for ch in range(dst.shape[1]):
            dst[i, ch] = 0.0


@njit(cache=True, nogil=False)
def _tap_write(tap, pos, src, n: int) -> None:
    """Append src[:, :n] to tap (channels, size) at pos[0] while room is left."""
    p = pos[0]
    m = min(n, tap.shape[1] - p)
    for ch in range(tap.shape[0]):
        for i in range(m):
            tap[ch, p + i] = src[ch, i]
    pos[0] = p + max(m, 0)


# ---------------------------------------------------------------------------- public records
@dataclass(frozen=True)
class Latency:
    """Latencies in samples at ``samplerate``.  ``worker`` is the part of ``algorithmic`` that
    model worker threads add (one model hop each, declared by their pipelines): it is already
    counted in ``algorithmic`` (the graph's declared latency, which offline processing also
    compensates) and shown separately."""

    samplerate: int
    device_in: int
    device_out: int
    algorithmic: int
    worker: int = 0

    @property
    def device(self) -> int:
        return self.device_in + self.device_out

    @property
    def total(self) -> int:
        return self.device + self.algorithmic

    def ms(self, samples: int | None = None) -> float:
        return 1000.0 * (self.total if samples is None else samples) / self.samplerate

    def __str__(self) -> str:
        s = (f"latency {self.ms():.2f} ms ({self.total} samples): device {self.ms(self.device):.2f} ms "
             f"(in {self.device_in} + out {self.device_out}) + aural {self.ms(self.algorithmic):.2f} ms "
             f"({self.algorithmic})")
        if self.worker:
            s += f", of which the model worker's hop {self.ms(self.worker):.2f} ms ({self.worker})"
        return s


@dataclass
class Snapshot:
    """What the status line shows, over the interval since the previous snapshot."""

    blocks: int
    in_peak_db: float
    in_rms_db: float
    out_peak_db: float
    out_rms_db: float
    load: float          # mean callback time / block period (0..1+)
    load_max: float      # worst callback time / block period in the interval
    wake_ms: float       # worst lateness of the callback after the cycle start (needs a clock)
    xruns: int
    dropped: int
    errors: int
    latency_ms: float
    model_late: int = -1  # hops a model worker had not finished in time (-1: no model worker)
    recoveries: int = 0   # times a node of the chain produced NaN/inf (or > +36 dBFS) and rewound

    def line(self) -> str:
        def db(v: float) -> str:
            return "  -inf" if v <= -120 else f"{v:6.1f}"
        return (f"in {db(self.in_peak_db)} dB  out {db(self.out_peak_db)} dB  "
                f"cpu {100 * self.load:5.1f}% (max {100 * self.load_max:5.1f}%)  "
                f"xruns {self.xruns}  dropped {self.dropped}  latency {self.latency_ms:.1f} ms"
                + (f"  model late {self.model_late}" if self.model_late >= 0 else "")
                + (f"  recovered {self.recoveries}" if self.recoveries else ""))


def _db(power: float) -> float:
    return 10.0 * math.log10(power) if power > 1e-12 else -120.0


# ---------------------------------------------------------------------------- warm-up
def warm_chain(chain: Processor, sample_rate: int, channels: int, blocksize: int,
               seconds: float = 0.25) -> float:
    """Prepare ``chain`` and exercise every code path the audio thread can reach: processing
    (noise, silence, a short block), every parameter change hook, bypass and mix glides.  Then
    reset it, so the stream starts from the state a fresh ``prepare`` gives.  Returns seconds."""
    from aural.engine.kernels import warm_kernels

    t = time.perf_counter()
    warm_kernels()
    chain.prepare(sample_rate, channels, blocksize)
    rng = np.random.default_rng(1234)
    nblk = max(4, int(seconds * sample_rate / blocksize))
    x = (0.1 * rng.standard_normal((channels, blocksize))).astype(np.float32)
    z = np.zeros_like(x)
    for i in range(nblk):
        chain.process(x if i % 3 else z)
    chain.process(np.ascontiguousarray(x[:, :1]))  # a short block
    nodes = list(chain.walk())
    for _, node in nodes:
        saved = {p.name: node.get(p.name) for p in node.param_specs()}
        for p in node.param_specs():
            lo, hi = p.range
            if p.kind == "choice":
                alts = [c for c in p.choices if c != saved[p.name]]
            elif p.kind == "bool":
                alts = [not saved[p.name]]
            else:
                lo = lo if math.isfinite(lo) else -1.0
                hi = hi if math.isfinite(hi) else 1.0
                alts = [lo + 0.37 * (hi - lo)]
            for a in alts[:2]:
                try:
                    node.set(p.name, a)
                except Exception:  # noqa: BLE001 - a node may refuse odd values; warm what we can
                    continue
                chain.process(x)
                chain.process(x)
        for k, v in saved.items():
            node.set(k, v)
        for _b in (True, False):
            was = node.bypass
            node.set("bypass", not was)
            for _ in range(3):
                chain.process(x)
            node.set("bypass", was)
            for _ in range(3):
                chain.process(x)
        if node.mix != 0.5:
            m = node.mix
            node.set("mix", 0.5)
            chain.process(x)
            node.set("mix", m)
            chain.process(x)
    for _ in range(4):
        chain.process(x)
    chain.reset()
    return time.perf_counter() - t


# ---------------------------------------------------------------------------- node timing
def _model_workers(chain: Processor) -> list:
    """Nodes whose model runs on a worker thread (NeuralEnhancer(worker=True)), for the status."""
    return [n for _, n in chain.walk() if getattr(n, "worker", False) is True and hasattr(n, "late_hops")]


def _pipeline(node):
    """The node's PipelinedStreamer (duck-typed: a ``deadline`` and ``missed`` count), or None."""
    s = getattr(node, "_streamer", None)
    return s if s is not None and hasattr(s, "deadline") and hasattr(s, "missed") else None


def _worker_delay(node) -> int:
    """The delay a node's model worker adds, in host samples (its pipeline's declared hop)."""
    lat = getattr(node, "worker_latency", None)  # a node may declare it itself
    if lat is not None:
        return int(lat)
    s = _pipeline(node)
    if s is None or not node.prepared:
        return 0
    d = int(getattr(s, "worker_delay", 0))
    info = getattr(node, "info", None)
    msr = getattr(info, "sample_rate", None) or node.sample_rate
    return int(round(d * node.sample_rate / msr))


class _Graph:
    """What the callback needs of the running graph, published as one object: the chain, its
    top-level nodes, their per-block times and running averages, and its model pipelines.
    Never mutated after publication except the two time arrays (audio thread only)."""

    __slots__ = ("chain", "kids", "names", "times", "avg", "workers", "pipes", "seen")

    def __init__(self, chain: Processor) -> None:
        kids = list(chain.children) if isinstance(chain, Chain) else [chain]
        self.chain = chain
        self.kids = tuple(kids)
        self.names = tuple(k.name for k in kids)
        self.times = np.zeros(max(1, len(kids)), np.float64)
        self.avg = np.zeros(max(1, len(kids)), np.float64)
        self.workers = tuple(_model_workers(chain))
        self.pipes = tuple(p for p in (_pipeline(w) for w in self.workers) if p is not None)
        self.seen = np.zeros(1, np.int64)  # the pipelines' missed hops already counted as dropped


class _TimedChain:
    """Replaces a Chain instance's ``_process`` while live: the same serial loop, timing each
    top-level node into a preallocated array (two perf_counter calls per node)."""

    def __init__(self, chain: Chain, times: np.ndarray) -> None:
        self.children = list(chain.children)
        self.times = times

    def __call__(self, x, out):
        pc = time.perf_counter
        times = self.times
        y = x
        i = 0
        for c in self.children:
            t = pc()
            y = c.process(y)
            times[i] = pc() - t
            i += 1
        out[:] = y


# ---------------------------------------------------------------------------- the runner
class LiveStream:
    """Run ``chain`` on a duplex sounddevice stream.

    chain: any aural Processor (usually a Chain); it is prepared for ``channels`` channels.
    samplerate, blocksize: stream rate and fixed block size (frames per callback).
    input, output: sounddevice device ids or name substrings (None: defaults).
    channels: channels processed by the chain (default 1; a mono input fans out to it).
    input_channels, output_channels: device channels (default: ``channels``); a mono chain output
    fans out to every output channel.
    switch_interval: ``sys.setswitchinterval`` while live (None keeps Python's, 5 ms).
    freeze_gc: ``gc.freeze()`` after warm-up so collections skip everything built so far.
    overload: bypass the most expensive top-level node on sustained overload.
    overload_ratio, overload_blocks: the callback is 'late' above ratio x block period; the
    leaky count of late blocks (+1 late, -0.25 on time) triggering a bypass.
    clock: optional function returning seconds since the current audio cycle began (e.g. a JACK
    client's ``frames_since_cycle_start / rate``), recorded per block as the wake-up lateness.
    ring_blocks: per-block history kept for the status thread and benchmarks (a power of two).
    gate: make ``yield_to_audio`` (called by the OSC and status threads before each piece of
    work) wait for the gap after a callback; False turns the gate off (for measurements).
    """

    def __init__(self, chain: Processor, samplerate: int = 48000, blocksize: int = 128, *,
                 input: Any = None, output: Any = None, channels: int = 1,
                 input_channels: int | None = None, output_channels: int | None = None,
                 latency: str | float = "low", switch_interval: float | None = 0.0002,
                 freeze_gc: bool = True, overload: bool = True, overload_ratio: float = 0.9,
                 overload_blocks: float = 24.0, clock: Callable[[], float] | None = None,
                 ring_blocks: int = 1 << 16, gate: bool = True) -> None:
        if not isinstance(chain, Processor):
            raise TypeError("LiveStream needs an aural Processor (e.g. a Chain)")
        self.samplerate = int(samplerate)
        self.blocksize = int(blocksize)
        if self.blocksize < 1:
            raise ValueError("blocksize must be >= 1 (a fixed block size is required)")
        self.channels = int(channels)
        self.input_channels = int(input_channels or channels)
        self.output_channels = int(output_channels or channels)
        self.device = (input, output)
        self.latency_setting = latency
        self.switch_interval = switch_interval
        self.freeze_gc = freeze_gc
        self.overload = overload
        self.overload_ratio = float(overload_ratio)
        self.overload_blocks = float(overload_blocks)
        self.clock = clock
        self.period = self.blocksize / self.samplerate
        rb = 1 << max(4, int(ring_blocks - 1).bit_length())
        self._mask = rb - 1
        self.ring = np.zeros((rb, _NCOLS), np.float64)
        self.counters = np.zeros(_NCOUNT, np.int64)
        # events: (block, code, node index, value) posted by the callback, read by status
        self.events = np.zeros((256, 4), np.float64)
        self._x = np.zeros((self.channels, self.blocksize), np.float32)
        self._tap_in: np.ndarray | None = None
        self._tap_out: np.ndarray | None = None
        self._tap_pos = np.zeros(2, np.int64)
        self._tap_pos_out = self._tap_pos[1:]
        self._tap_pos_in = self._tap_pos[:1]
        self._stream = None
        self._old_switch = None
        self._last_error: BaseException | None = None
        self._status_last = 0
        self._status_counts = np.zeros(_NCOUNT, np.int64)
        self._events_read = 0
        self.warm_seconds = 0.0
        self.gate = gate
        self._busy = False
        self._t_cb = 0.0
        self.deadline = 0.5 * self.period  # longest wait for a model worker's late hop
        self._over = 0.0
        self._cooldown = 0
        self._g = _Graph(chain)

    # ------------------------------------------------------------------ graph
    # the running graph is self._g, replaced by one reference store; these read it
    @property
    def chain(self) -> Processor:
        return self._g.chain

    @property
    def node_names(self) -> list[str]:
        return list(self._g.names)

    @property
    def node_times(self) -> np.ndarray:
        return self._g.times

    @property
    def node_avg(self) -> np.ndarray:
        return self._g.avg

    @property
    def _workers(self) -> tuple:
        return self._g.workers

    def prepare(self) -> None:
        """Prepare and warm the graph and every callback kernel (done by ``start``)."""
        g = self._g
        self.warm_seconds = warm_chain(g.chain, self.samplerate, self.channels, self.blocksize)
        self._g = g = _Graph(g.chain)  # prepared now: its model pipelines exist
        self._arm(g)
        self._warm_callback()

    def _arm(self, g: _Graph) -> None:
        """Per-node timing into g.times, and the model workers' deadline (control thread)."""
        if isinstance(g.chain, Chain):
            g.chain._process = _TimedChain(g.chain, g.times)  # instance override while live
        for p in g.pipes:
            p.deadline = self.deadline

    @staticmethod
    def _disarm(g: _Graph) -> None:
        if isinstance(g.chain, Chain) and isinstance(g.chain.__dict__.get("_process"), _TimedChain):
            del g.chain._process
        for p in g.pipes:
            p.deadline = None

    def _warm_callback(self) -> None:
        """Run the callback on dummy buffers so its kernels are compiled; then clear figures."""
        cin = np.zeros((self.blocksize, self.input_channels), np.float32)
        cout = np.zeros((self.blocksize, self.output_channels), np.float32)
        tap_in, tap_out = self._tap_in, self._tap_out
        self._tap_in = np.zeros((self.channels, 8), np.float32)
        self._tap_out = np.zeros((self.channels, 8), np.float32)
        for _ in range(8):
            self._callback(cin, cout, self.blocksize, None, 0)
        self._callback(cin[:1], cout[:1], 1, None, 0)
        self._tap_in, self._tap_out = tap_in, tap_out
        self._tap_pos[:] = 0
        self.chain.reset()
        self.ring[:] = 0.0
        self.counters[:] = 0
        self._g.seen[0] = 0
        self.node_avg[:] = 0.0
        self._over = 0.0

    def swap_chain(self, chain: Processor) -> None:
        """Replace the running graph (e.g. a preset load): prepared and warmed here, off the audio
        thread, then switched in at a block boundary: the graph and its bookkeeping are one
        object published by a single reference store, which the callback reads once per block.
        The reported latency changes with it."""
        warm_chain(chain, self.samplerate, self.channels, self.blocksize)
        g = _Graph(chain)
        self._arm(g)
        old = self._g
        self._g = g  # the publication
        if self._stream is not None:  # a callback may still be inside the old graph: let it end
            end = time.perf_counter() + 4 * self.period
            while self._busy and self._g is g and time.perf_counter() < end:
                time.sleep(0.0002)
        self._disarm(old)

    def record(self, seconds: float) -> None:
        """Keep the first ``seconds`` of the chain's input and output (tests, benchmarks)."""
        n = int(seconds * self.samplerate)
        self._tap_in = np.zeros((self.channels, n), np.float32)
        self._tap_out = np.zeros((self.channels, n), np.float32)
        self._tap_pos[:] = 0

    @property
    def recorded(self) -> tuple[np.ndarray, np.ndarray]:
        """(input, output) recorded since ``record`` (channels, frames)."""
        if self._tap_in is None:
            raise RuntimeError("call record(seconds) before starting")
        return self._tap_in[:, :self._tap_pos[0]], self._tap_out[:, :self._tap_pos[1]]

    # ------------------------------------------------------------------ the callback
    def _callback(self, indata, outdata, frames, time_info, status) -> None:
        t0 = time.perf_counter()
        self._busy = True
        self._t_cb = t0
        counters = self.counters
        g = self._g  # read once: the graph and its bookkeeping for this whole block
        try:
            wake = self.clock() if self.clock is not None else 0.0
            if status:
                self._count_status(status)
            blk = counters[_BLOCKS]
            row = blk & self._mask
            ring = self.ring
            chain = g.chain
            if frames == self.blocksize:
                x = self._x
            else:
                x = self._x[:, :frames]
                counters[_NONFULL] += 1
            _from_device(indata, x, frames, ring, row)
            y = chain.process(x)
            _to_device(y, outdata, frames, ring, row)
            if self._tap_in is not None:
                _tap_write(self._tap_in, self._tap_pos_in, x, frames)
                _tap_write(self._tap_out, self._tap_pos_out, y, frames)
            if g.pipes:
                self._count_missed(g)
            dsp = time.perf_counter() - t0
            ring[row, _DSP] = dsp
            ring[row, _WAKE] = wake
            ring[row, _T0] = t0
            if wake + dsp > self.period:  # this block reached the device too late
                counters[_DROPPED] += 1
            if self.overload:
                self._watch(g, dsp, blk)
            counters[_FRAMES] += frames
            counters[_BLOCKS] = blk + 1
        except BaseException as e:  # noqa: BLE001 - never let the stream abort
            _silence(outdata)
            counters[_ERRORS] += 1
            counters[_DROPPED] += 1
            if self._last_error is None:
                self._last_error = e
                self._post(EVENT_CALLBACK_ERROR, -1, 0.0)
        self._busy = False

    def yield_to_audio(self, work: float = 0.0003, poll: float = 0.0001) -> None:
        """Called by other Python threads (OSC, status) before a short piece of work: returns when
        the callback is not running and the next one is not due within ``work`` seconds, so that
        the work never holds the GIL when the audio thread needs it.  Without a running stream,
        or with a stalled one, it returns at once."""
        if not self.gate or self._stream is None:
            return
        period = self.period
        pc = time.perf_counter
        sleep = time.sleep
        while True:
            since = pc() - self._t_cb
            if since > 2.0 * period:  # no callback for a while: stream stopped or stalled
                return
            if not self._busy and period - since > work:
                return
            sleep(poll)

    def _count_status(self, status) -> None:
        c = self.counters
        if status.input_overflow:
            c[_XRUN_IN_OVER] += 1
        if status.input_underflow:
            c[_XRUN_IN_UNDER] += 1
        if status.output_overflow:
            c[_XRUN_OUT_OVER] += 1
        if status.output_underflow:  # the device played a block we had not delivered
            c[_XRUN_OUT_UNDER] += 1
            c[_DROPPED] += 1

    def _count_missed(self, g: _Graph) -> None:
        """Model hops replaced by the dry signal since the last block count as dropped blocks."""
        m = 0
        for p in g.pipes:
            m += p.missed
        seen = g.seen[0]
        if m != seen:  # a pipeline reset restarts its count from 0
            self.counters[_DROPPED] += m - seen if m > seen else m
            g.seen[0] = m

    def _post(self, code: int, node: int, value: float) -> None:
        k = self.counters[_EVENTS]
        ev = self.events[k & 255]
        ev[0] = self.counters[_BLOCKS]
        ev[1] = code
        ev[2] = node
        ev[3] = value
        self.counters[_EVENTS] = k + 1

    def _watch(self, g: _Graph, dsp: float, blk: int) -> None:
        """Overload detector (audio thread, a handful of float operations)."""
        avg = g.avg
        times = g.times
        kids = g.kids
        for i in range(len(kids)):
            avg[i] += 0.02 * (times[i] - avg[i])
        if dsp > self.overload_ratio * self.period:
            self._over += 1.0
        elif self._over > 0.0:
            self._over -= 0.25
        if self._cooldown:
            self._cooldown -= 1
            return
        if self._over < self.overload_blocks:
            return
        # bypass the most expensive running node
        best, worst = -1, 0.0
        for i in range(len(kids)):
            if not kids[i].bypass and avg[i] > worst:
                best, worst = i, avg[i]
        self._over = 0.0
        self._cooldown = int(0.5 / self.period)
        if best >= 0:
            kids[best].bypass = True
            self._post(EVENT_OVERLOAD_BYPASS, best, max(worst, times[best]))

    # ------------------------------------------------------------------ stream control
    def start(self) -> "LiveStream":
        """Warm everything, then open and start the duplex stream."""
        sd = import_sounddevice()
        if self._stream is not None:
            raise RuntimeError("stream already running")
        self.prepare()
        stream = sd.Stream(samplerate=self.samplerate, blocksize=self.blocksize,
                           device=self.device, channels=(self.input_channels, self.output_channels),
                           dtype="float32", latency=self.latency_setting, callback=self._callback)
        if self.freeze_gc:
            gc.collect()
            gc.freeze()
        if self.switch_interval is not None:
            self._old_switch = sys.getswitchinterval()
            sys.setswitchinterval(self.switch_interval)
        self._stream = stream
        stream.start()
        return self

    def stop(self) -> None:
        """Stop and close the stream; restores the switch interval and the graph's methods."""
        s, self._stream = self._stream, None
        if s is not None:
            try:
                s.stop()
            finally:
                s.close()
        if self._old_switch is not None:
            sys.setswitchinterval(self._old_switch)
            self._old_switch = None
        if self.freeze_gc:
            gc.unfreeze()
        self._disarm(self._g)

    def __enter__(self) -> "LiveStream":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def active(self) -> bool:
        return self._stream is not None and self._stream.active

    @property
    def stream(self):
        return self._stream

    @property
    def latency(self) -> Latency:
        """Device latency (as PortAudio reports it for the open stream) plus the graph's declared
        algorithmic latency, in samples."""
        din = dout = 0
        if self._stream is not None:
            lin, lout = self._stream.latency
            din, dout = int(round(lin * self.samplerate)), int(round(lout * self.samplerate))
        g = self._g
        alg = g.chain.latency_samples if g.chain.prepared else 0
        return Latency(self.samplerate, din, dout, alg, sum(_worker_delay(w) for w in g.workers))

    # ------------------------------------------------------------------ figures (any thread)
    @property
    def blocks(self) -> int:
        return int(self.counters[_BLOCKS])

    @property
    def xruns(self) -> int:
        c = self.counters
        return int(c[_XRUN_IN_OVER] + c[_XRUN_IN_UNDER] + c[_XRUN_OUT_OVER] + c[_XRUN_OUT_UNDER])

    @property
    def dropped(self) -> int:
        return int(self.counters[_DROPPED])

    @property
    def errors(self) -> int:
        return int(self.counters[_ERRORS])

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error

    def block_times(self, last: int | None = None) -> np.ndarray:
        """Callback times (seconds) of the last ``last`` blocks kept in the ring (oldest first)."""
        return self._column(_DSP, last)

    def wake_times(self, last: int | None = None) -> np.ndarray:
        return self._column(_WAKE, last)

    def _column(self, col: int, last: int | None) -> np.ndarray:
        n = self.blocks
        size = self._mask + 1
        k = min(n, size) if last is None else min(last, n, size)
        idx = (np.arange(n - k, n) & self._mask)
        return self.ring[idx, col].copy()

    def events_since(self) -> list[str]:
        """Human-readable events posted by the callback since the previous call."""
        out = []
        k = int(self.counters[_EVENTS])
        for j in range(max(self._events_read, k - 256), k):
            blk, code, node, value = self.events[j & 255]
            if code == EVENT_OVERLOAD_BYPASS:
                name = self.node_names[int(node)] if 0 <= node < len(self.node_names) else "?"
                out.append(f"overload: node '{name}' bypassed (it took {1e3 * value:.2f} ms of the "
                           f"{1e3 * self.period:.2f} ms block period); audio continues")
            elif code == EVENT_CALLBACK_ERROR:
                out.append(f"error in the audio callback, block silenced: {self._last_error!r}")
        self._events_read = k
        return out

    def snapshot(self) -> Snapshot:
        """Figures over the blocks since the previous snapshot (called by the status thread)."""
        n = self.blocks
        lo = max(self._status_last, n - self._mask)
        self._status_last = n
        return self._figures(lo, n)

    def peek(self, seconds: float = 0.1) -> Snapshot:
        """Figures over the last ``seconds`` without moving the status thread's interval."""
        n = self.blocks
        return self._figures(max(0, n - max(1, int(seconds / self.period)), n - self._mask), n)

    def _figures(self, lo: int, n: int) -> Snapshot:
        if n > lo:
            idx = np.arange(lo, n) & self._mask
            r = self.ring[idx]
            in_peak, in_ms = r[:, _IN_PEAK].max(), r[:, _IN_MS].mean()
            out_peak, out_ms = r[:, _OUT_PEAK].max(), r[:, _OUT_MS].mean()
            load = r[:, _DSP].mean() / self.period
            load_max = r[:, _DSP].max() / self.period
            wake = 1e3 * r[:, _WAKE].max()
        else:
            in_peak = in_ms = out_peak = out_ms = load = load_max = wake = 0.0
        return Snapshot(blocks=n, in_peak_db=_db(in_peak ** 2), in_rms_db=_db(in_ms),
                        out_peak_db=_db(out_peak ** 2), out_rms_db=_db(out_ms), load=float(load),
                        load_max=float(load_max), wake_ms=float(wake), xruns=self.xruns,
                        dropped=self.dropped, errors=self.errors, latency_ms=self.latency.ms(),
                        model_late=sum(w.late_hops for w in self._workers) if self._workers else -1,
                        recoveries=sum(getattr(p, "recoveries", 0) for _, p in self._g.chain.walk()))


def list_devices() -> str:
    """A table of the audio devices PortAudio sees (``aural devices``)."""
    sd = import_sounddevice()
    devs = sd.query_devices()
    apis = sd.query_hostapis()
    try:
        din, dout = sd.default.device
    except Exception:  # noqa: BLE001
        din = dout = -1
    lines = [f"{'id':>3}  {'name':<40} {'host API':<22} {'in':>3} {'out':>3} {'rate':>7}  default"]
    for i, d in enumerate(devs):
        mark = ("in" if i == din else "") + ("/out" if i == dout and i == din else ("out" if i == dout else ""))
        lines.append(f"{i:>3}  {d['name'][:40]:<40} {apis[d['hostapi']]['name'][:22]:<22} "
                     f"{d['max_input_channels']:>3} {d['max_output_channels']:>3} "
                     f"{int(d['default_samplerate']):>7}  {mark}")
    if not devs:
        lines.append("     (no audio devices: no sound card, and no JACK or PulseAudio server running)")
    return "\n".join(lines)
