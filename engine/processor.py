"""The processor contract every node of an aural graph follows.

Lifecycle (pedalboard-style, nothing more)::

    p = Wiener(floor_db=-25)
    p.prepare(sample_rate=48000, channels=2, max_block=512)   # allocates every buffer
    out = p.process(block)          # float32 (channels, frames<=max_block) -> same shape
    p.process(block, out=mine)      # ... or written into a caller-owned array
    p.reset()                       # clear state, keep parameters (control thread: may prime)
    p.rewind()                      # the same, audio-thread cheap (no allocation, no priming)
    p.latency_samples               # output is the input delayed by this many samples

**``process(block)`` returns an internal buffer that the next call overwrites**: appending the
results of successive calls to a list keeps N references to the same memory.  Pass ``out=`` (or
copy) to keep them; ``p(audio, sr)`` and ``p.stream(sr, ch).feed`` return fresh arrays.
``process`` never writes into ``block``.  NaN/inf in the input are replaced by silence, denormals
flushed, and a non-finite value produced inside a processor never reaches the output: the node
is rewound at the end of that block (``p.recoveries`` counts it).

Parameter changes (``p.set(name, value)``) may come from any thread: they go through a bounded
queue and take effect at the start of the next block.  ``bypass`` and ``mix`` are on every
processor; the dry path is delayed by the processor's latency so a dry/wet mix stays aligned,
and both glide over ~10 ms so switching makes no click.

A processor is also callable on a whole signal with pedalboard's convention::

    y = p(audio, sample_rate, buffer_size=8192, reset=True)

which returns a latency-compensated signal of the input's length and layout; ``reset=False``
streams (raw output delayed by ``latency_samples``, ``p.flush()`` returns the tail), and
``p.stream(sample_rate, channels)`` gives a stream whose ``feed``/``flush`` are already aligned.
``latency_samples`` is 0 until ``prepare``; ``p.latency_for(sample_rate)`` prepares if needed.
"""
from __future__ import annotations

from typing import Any, ClassVar, Iterator

import numpy as np

from .kernels import (mix_dry_wet, ring_read_delayed, sanitize_copy_ring, sanitize_inplace,
                      smooth_coef)
from .params import Param, ParamError, ParamQueue

__all__ = ["Processor", "Stream", "REGISTRY", "register", "MIN_RATE", "MAX_RATE", "MAX_BLOCK"]

MIN_RATE = 8000
MAX_RATE = 192000
MAX_BLOCK = 65536
MIX_SMOOTH_MS = 10.0

#: processor type name -> class, for presets.
REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make a processor type loadable from presets by its class name."""
    REGISTRY[cls.__name__] = cls
    return cls


def _as_float32(a: np.ndarray) -> np.ndarray:
    """float32 samples; integer PCM is scaled to [-1, 1) like soundfile does (int16 / 2^15,
    int32 / 2^31, int8 / 2^7, uint8 (x - 128) / 2^7); other dtypes are refused."""
    k = a.dtype.kind
    if k == "f":
        return a.astype(np.float32, copy=False)
    if k == "i" and a.dtype.itemsize in (1, 2, 4):
        return (a.astype(np.float32) * np.float32(2.0 ** (1 - 8 * a.dtype.itemsize)))
    if a.dtype == np.uint8:
        return (a.astype(np.float32) - np.float32(128.0)) * np.float32(1.0 / 128.0)
    raise TypeError(f"audio must be float or int8/int16/int32/uint8 PCM, got dtype {a.dtype}")


def _as_channels_first(audio: np.ndarray, channels: int | None = None) -> tuple[np.ndarray, str]:
    """Return (channels, frames) float32 and the layout tag to undo it ('1d', 'cf', 'cl').

    Like pedalboard, a 2-D array whose first dimension is larger than its second is taken as
    channels-last (frames, channels), unless ``channels`` says which dimension holds them.
    Integer PCM is scaled to float (see :func:`_as_float32`); the input is never written into."""
    a = np.asarray(audio)
    if a.ndim == 1:
        return _as_float32(a)[np.newaxis, :], "1d"
    if a.ndim != 2:
        raise ValueError(f"audio must be 1-D or 2-D, got shape {a.shape}")
    last = a.shape[0] > a.shape[1]
    if channels is not None and channels in a.shape:
        last = a.shape[0] != channels
    if last:
        return np.ascontiguousarray(_as_float32(a).T), "cl"
    return _as_float32(a), "cf"


def _restore_layout(x: np.ndarray, layout: str) -> np.ndarray:
    if layout == "1d":
        return x[0]
    if layout == "cl":
        return np.ascontiguousarray(x.T)
    return x


class Processor:
    """Base class of every aural node.  Subclasses implement the underscore hooks:

    - ``_prepare()``: allocate state for ``self.sample_rate``, ``self.channels``, ``self.max_block``.
    - ``_process(x, out)``: x is a sanitised float32 (channels, n) block, n <= max_block; write the
      wet output into ``out`` (same shape).  No allocation, no locks, no I/O.
    - ``_reset()``: clear state (control thread; may allocate or prime).
    - ``_rewind()``: clear state on the audio thread, O(state), no allocation (default:
      ``_reset()``); called when the wet path restarts after a bypass and after a block in which
      the node produced NaN/inf.
    - ``_process_wet(x, wet)``: instead of ``_process``, for nodes that return their own buffer
      (no copy) or None when they failed (graphs, the plugin bridge).  ``process()`` itself is
      the one implementation of sanitising, bypass, mix and dry alignment: do not override it.
    - ``_on_param(name, value)``: react to a parameter change (audio thread, block boundary).
    - ``_latency()``: algorithmic latency in samples for the prepared configuration.
    """

    params: ClassVar[tuple[Param, ...]] = ()
    #: True while the node's wet path is out of order (a hosted plugin raised): the node then
    #: passes the dry signal, delayed by its latency
    failed: bool = False
    #: ``_process_wet`` may be given the caller's unsanitised block when the node is fully wet
    #: and has no latency (a graph whose children sanitise their own input); never write into it
    _raw_input_ok: ClassVar[bool] = False
    #: ``_process_wet`` returns finite audio already (a graph of sanitising children)
    _wet_sanitised: ClassVar[bool] = False
    #: a subclass's own share of wet signal, multiplied into ``mix`` (e.g. an attenuation limit:
    #: NeuralEnhancer's ``atten_limit``); glides with the same smoothing
    _wet_scale: float = 1.0

    def __init__(self, name: str | None = None, *, bypass: bool = False, mix: float = 1.0,
                 **values: Any) -> None:
        self.name = name or type(self).__name__.lower()
        self._specs = {p.name: p for p in self.params}
        self._values: dict[str, float] = {p.name: p.coerce(p.default) for p in self.params}
        self._targets: dict[str, float] = dict(self._values)  # latest requested, for get()
        for k, v in values.items():
            self._set_now(k, v)
        self._bypass = bool(bypass)
        self._mix = float(np.clip(mix, 0.0, 1.0))
        self._queue = ParamQueue()
        self.prepared = False
        self.sample_rate = 0
        self.channels = 0
        self.max_block = 0
        # input samples replaced or limited since prepare (NaN/inf -> 0, |x| > 64 -> +-64)
        self.nonfinite_in = 0
        # output samples the node produced that were replaced or limited (NaN/inf, beyond +-64):
        # any such block makes the node rewind itself at its end
        self.nonfinite_out = 0
        self.recoveries = 0  # blocks after which the node rewound itself (NaN/inf/beyond +36 dBFS)

    # ------------------------------------------------------------------ parameters
    def param_specs(self) -> tuple[Param, ...]:
        """The typed parameters of this node (instance-level, so graphs may add their own)."""
        return tuple(self._specs.values())

    def spec(self, name: str) -> Param:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs) or "none"
            raise ParamError(f"{self.name}: no parameter {name!r} (known: {known})") from None

    def get(self, name: str) -> Any:
        """Current value in user form (the latest one set, even if not yet applied)."""
        if name == "bypass":
            return self._bypass
        if name == "mix":
            return self._mix
        return self.spec(name).display(self._targets[name])

    def _set_now(self, name: str, value: Any) -> None:
        v = self.spec(name).coerce(value)
        self._values[name] = v
        self._targets[name] = v

    def set(self, name: str, value: Any) -> Any:
        """Request a parameter change from any thread.  Returns the clipped value in user form.

        Applied at the next block boundary (immediately if the node is not prepared)."""
        if name == "bypass":
            v = 1.0 if Param("bypass", False, kind="bool").coerce(value) else 0.0
            self._bypass = bool(v)
            return self._bypass
        if name == "mix":
            v = Param("mix", 1.0, range=(0.0, 1.0)).coerce(value)
            self._mix = v
            return v
        v = self.spec(name).coerce(value)
        self._targets[name] = v
        if not self.prepared:
            self._values[name] = v
            self._on_param(name, v)
        elif not self._queue.put(name, v):
            raise ParamError(f"{self.name}: parameter queue full, {name} change refused")
        return self.spec(name).display(v)

    @property
    def bypass(self) -> bool:
        return self._bypass

    @bypass.setter
    def bypass(self, on: bool) -> None:
        self._bypass = bool(on)

    @property
    def mix(self) -> float:
        return self._mix

    @mix.setter
    def mix(self, value: float) -> None:
        self.set("mix", value)

    def values(self) -> dict[str, Any]:
        """All parameters in user form."""
        return {k: self.get(k) for k in self._specs}

    def _drain(self) -> None:
        q = self._queue
        if not q._q:
            return
        while True:
            item = q.pop()
            if item is None:
                return
            name, v = item
            self._values[name] = v
            self._on_param(name, v)

    # ------------------------------------------------------------------ lifecycle
    def prepare(self, sample_rate: float, channels: int, max_block: int) -> None:
        """Allocate every buffer for this configuration.  Must precede ``process``."""
        sr = int(round(sample_rate))
        if not MIN_RATE <= sr <= MAX_RATE:
            raise ValueError(f"{self.name}: sample rate {sample_rate} Hz outside {MIN_RATE}-{MAX_RATE} Hz")
        if int(channels) < 1:
            raise ValueError(f"{self.name}: channels must be >= 1, got {channels}")
        if not 1 <= int(max_block) <= MAX_BLOCK:
            raise ValueError(f"{self.name}: max_block must be 1..{MAX_BLOCK}, got {max_block}")
        self.sample_rate, self.channels, self.max_block = sr, int(channels), int(max_block)
        # pending changes become current values before allocation
        self._drain()
        size = self.channels * self.max_block  # flat, so every (channels, n) view is contiguous
        self._in_flat, self._wet_flat, self._out_flat, self._dry_flat = (
            np.zeros(size, np.float32) for _ in range(4))
        self._in = self._in_flat.reshape(self.channels, self.max_block)
        self._wet = self._wet_flat.reshape(self.channels, self.max_block)
        self._out = self._out_flat.reshape(self.channels, self.max_block)
        self._vn = -1
        self._prepare()
        # the dry path: every sanitised input frame goes into this ring; reading it `latency`
        # frames back gives the dry signal aligned with the wet one (for mix and bypass)
        self._dry_delay = int(self._latency())
        self._dry_ring = np.zeros((self.channels, self._dry_delay + self.max_block), np.float32)
        self._dry_pos = np.zeros(1, np.int64)
        g = 0.0 if self._bypass else self._mix * self._wet_scale
        self._wetgain = np.array([g], np.float64)
        self._wetcoef = smooth_coef(MIX_SMOOTH_MS, float(sr))
        self._wet_running = g > 0.0
        self.nonfinite_in = 0
        self.nonfinite_out = 0
        self.recoveries = 0
        self.prepared = True

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency in samples (0 before prepare for processors that need the rate)."""
        return int(self._latency()) if self.prepared else 0

    def reset(self) -> None:
        """Clear all audio state (filters, buffers, trackers); parameters are kept.

        Control thread: may allocate, wait or prime hosted plugins.  On the audio thread use
        :meth:`rewind`."""
        if not self.prepared:
            return
        self._drain()
        self._reset()
        self._clear_paths()

    def rewind(self) -> None:
        """Clear all audio state like :meth:`reset`, cheaply enough for the audio thread:
        O(state), no allocation, no lock, no plugin priming (hooks: ``_rewind()``)."""
        if not self.prepared:
            return
        self._drain()
        self._rewind()
        self._clear_paths()

    def _clear_paths(self) -> None:
        self._dry_ring[:] = 0.0
        self._dry_pos[0] = 0
        self._wetgain[0] = 0.0 if (self._bypass or self.failed) else self._mix * self._wet_scale
        self._wet_running = self._wetgain[0] > 0.0

    def process(self, block: np.ndarray, sample_rate: float | None = None,
                buffer_size: int = 8192, reset: bool = True, *,
                out: np.ndarray | None = None) -> np.ndarray:
        """Process one (channels, frames) float32 block, frames <= max_block.

        **The returned array is an internal buffer that the next call overwrites** (no
        allocation: the real-time way).  To keep outputs, pass ``out=`` (a caller-owned float32
        (channels, frames) array, written and returned; no allocation either) or copy the result;
        whole signals are simplest with ``p(audio, sample_rate)`` (fresh arrays).  ``block`` is
        never written into.

        Called pedalboard-style, ``process(audio, sample_rate, buffer_size, reset)``, it works on
        a whole signal like ``__call__``.

        This is the one implementation of sanitising, bypass, dry/wet mix and dry alignment for
        every node; nodes customise it only through the hooks (``_process`` or ``_process_wet``)."""
        if sample_rate is not None:
            return self(block, sample_rate, buffer_size=buffer_size, reset=reset)
        n = block.shape[1]
        if block.shape[0] != self.channels or n > self.max_block:
            self._check_block(block)
        if self._queue._q:
            self._drain()
        if n != self._vn:
            self._views(n)
        target = 0.0 if (self._bypass or self.failed) else self._mix * self._wet_scale
        g0 = self._wetgain[0]
        if target == 1.0 and g0 == 1.0 and self._wet_running:  # fully wet: the common case
            if self._dry_delay or not self._raw_input_ok:
                # sanitised input, and the aligned dry path kept current, in one pass
                self.nonfinite_in += sanitize_copy_ring(block, self._vx, self._dry_ring, self._dry_pos)
                y = self._run_wet(self._vx)
            else:  # no dry path to keep, and the node sanitises its own input
                y = self._run_wet(block)
            if y is None:
                y = self._dry_after_failure(block)
        else:
            x = self._vx
            self.nonfinite_in += sanitize_copy_ring(block, x, self._dry_ring, self._dry_pos)
            if target == 0.0 and g0 == 0.0:
                # fully dry: skip the wet path, keep timing with the dry delay
                self._wet_running = False
                y = self._vout
                ring_read_delayed(self._dry_ring, self._dry_pos, self._dry_delay, y)
            else:
                if not self._wet_running:
                    self._rewind()  # the wet path restarts from clean state after a bypass (cheap)
                    self._wet_running = True
                wet = self._run_wet(x)
                if wet is None:
                    y = self._dry_after_failure(None)
                else:
                    dry = self._vdry
                    ring_read_delayed(self._dry_ring, self._dry_pos, self._dry_delay, dry)
                    y = self._vout
                    mix_dry_wet(wet, dry, y, self._wetgain, target, self._wetcoef)
        if out is not None:
            out[:, :] = y
            return out
        return y

    def _views(self, n: int) -> None:
        """Contiguous (channels, n) views of the work buffers, cached for the last block length."""
        c = self.channels
        self._vn = n
        self._vx = self._in_flat[:c * n].reshape(c, n)
        self._vwet = self._wet_flat[:c * n].reshape(c, n)
        self._vout = self._out_flat[:c * n].reshape(c, n)
        self._vdry = self._dry_flat[:c * n].reshape(c, n)

    def _run_wet(self, x: np.ndarray) -> np.ndarray | None:
        """The wet output for x (sanitised; a node that produced NaN/inf is rewound), or None
        if the node's wet path failed."""
        y = self._process_wet(x, self._vwet)
        if y is None or self._wet_sanitised:
            return y
        bad = sanitize_inplace(y)
        if bad:  # the node produced NaN/inf: its state is suspect, start it clean next block
            self.nonfinite_out += bad
            self.recoveries += 1
            self._rewind()
        return y

    def _dry_after_failure(self, block: np.ndarray | None) -> np.ndarray:
        """The wet path failed this block: output the aligned dry signal from now on."""
        if block is not None and not self._dry_delay and self._raw_input_ok:
            self.nonfinite_in += sanitize_copy_ring(block, self._vx, self._dry_ring, self._dry_pos)
        self._wetgain[0] = 0.0
        self._wet_running = False
        y = self._vout
        ring_read_delayed(self._dry_ring, self._dry_pos, self._dry_delay, y)
        return y

    def _check_block(self, block: np.ndarray) -> None:
        if not self.prepared:
            raise RuntimeError(f"{self.name}: process() before prepare()")
        if block.ndim != 2:
            raise ValueError(f"{self.name}: block must be (channels, frames), got shape {block.shape}")
        if block.shape[0] != self.channels:
            raise ValueError(f"{self.name}: block has {block.shape[0]} channels, prepared for {self.channels}")
        raise ValueError(f"{self.name}: block of {block.shape[1]} frames exceeds max_block {self.max_block}")

    # ------------------------------------------------------------------ whole signals
    def __call__(self, audio: np.ndarray, sample_rate: float, buffer_size: int = 8192,
                 reset: bool = True) -> np.ndarray:
        """Process a whole signal, pedalboard style; returns a fresh array.

        audio: 1-D, (channels, frames) or (frames, channels) (a 2-D array whose first dimension
        is the larger is read as channels-last, like pedalboard); float, or integer PCM (scaled
        to [-1, 1) like soundfile).  With ``reset=True`` the state is cleared first and the output
        is latency-compensated: same length, time-aligned with the input.  With ``reset=False``
        the call streams: state carries over from the previous call and the output is the raw
        stream, delayed by ``latency_samples``; :meth:`flush` returns its tail (or use
        :meth:`stream`, which compensates the delay for you).

        Like pedalboard, a call with another sample rate or channel count, or a larger
        ``buffer_size`` than the node is prepared for, re-prepares the node silently: the state
        is lost and, with ``reset=False``, a fresh stream starts (its output again begins with
        ``latency_samples`` of delay).  A smaller ``buffer_size`` keeps streaming."""
        x, layout = _as_channels_first(audio)
        y = self._whole(x, sample_rate, buffer_size, reset)
        self._stream_layout = layout
        return _restore_layout(y, layout)

    def _whole(self, x: np.ndarray, sample_rate: float, buffer_size: int, reset: bool) -> np.ndarray:
        c, n = x.shape
        buffer_size = int(max(1, min(buffer_size, MAX_BLOCK)))
        if (not self.prepared or self.sample_rate != int(round(sample_rate)) or self.channels != c
                or self.max_block < buffer_size):
            self.prepare(sample_rate, c, buffer_size)  # a new format: fresh state, as pedalboard
        elif reset:
            self.reset()
        lat = self.latency_samples if reset else 0
        y = np.empty((c, n + lat), np.float32)
        pos = 0
        for start in range(0, n, buffer_size):
            blk = x[:, start:start + buffer_size]
            self.process(np.ascontiguousarray(blk), out=y[:, pos:pos + blk.shape[1]])
            pos += blk.shape[1]
        if lat:
            self._feed_zeros(y, pos, n + lat, buffer_size)
            y = y[:, lat:]
        return y

    def _feed_zeros(self, y: np.ndarray, pos: int, end: int, buffer_size: int) -> None:
        """Write the output for zeros fed in into y[:, pos:end], in blocks of <= buffer_size."""
        zeros = np.zeros((self.channels, max(1, min(buffer_size, self.max_block, end - pos))),
                         np.float32)
        while pos < end:
            m = min(zeros.shape[1], end - pos)
            self.process(zeros[:, :m], out=y[:, pos:pos + m])
            pos += m

    def flush(self) -> np.ndarray:
        """End a ``reset=False`` stream: the last ``latency_samples`` frames of output (what comes
        out for that many zeros fed in), in the layout of the last call, then reset.

        Streamed outputs, less their first ``latency_samples`` frames, followed by ``flush()``
        equal the one-shot ``node(audio, sample_rate)``."""
        if not self.prepared:
            raise RuntimeError(f"{self.name}: flush() before any call or prepare()")
        y = self._flush_cf()
        return _restore_layout(y, getattr(self, "_stream_layout", "cf"))

    def _flush_cf(self) -> np.ndarray:
        lat = self.latency_samples
        y = np.empty((self.channels, lat), np.float32)
        self._feed_zeros(y, 0, lat, self.max_block)
        self.reset()
        return y

    def stream(self, sample_rate: float, channels: int, buffer_size: int = 8192) -> "Stream":
        """A latency-compensated stream (DemucsStreamer style): ``s.feed(chunk)`` returns the
        output that is ready, time-aligned with the input; ``s.flush()`` the rest.  The node is
        prepared (if needed) and reset; control thread (allocates)."""
        return Stream(self, sample_rate, channels, buffer_size)

    def latency_for(self, sample_rate: float, channels: int | None = None) -> int:
        """Latency in samples at ``sample_rate``.  ``latency_samples`` is 0 until the node is
        prepared (most latencies depend on the rate, a hosted plugin's is measured); this
        prepares the node if it is not prepared for that rate and channel count (control thread;
        like any change of format, that clears its state)."""
        sr = int(round(sample_rate))
        ch = int(channels) if channels is not None else (self.channels or 1)
        if not (self.prepared and self.sample_rate == sr and self.channels == ch):
            self.prepare(sr, ch, self.max_block or 8192)
        return self.latency_samples

    # ------------------------------------------------------------------ graph helpers
    def walk(self, prefix: str = "") -> Iterator[tuple[str, "Processor"]]:
        """Yield (path, node) for this node and every node below it."""
        path = f"{prefix}{self.name}"
        yield path, self

    def to_dict(self) -> dict:
        """JSON-serialisable description (type, name, parameters, bypass, mix)."""
        d: dict[str, Any] = {"type": type(self).__name__, "name": self.name,
                             "params": self.values()}
        if self._bypass:
            d["bypass"] = True
        if self._mix != 1.0:
            d["mix"] = self._mix
        return d

    def describe(self) -> dict:
        """Parameters with their specs and current values (for listings and OSC dumps)."""
        out = {}
        for p in self.param_specs():
            d = p.describe()
            d["value"] = self.get(p.name)
            out[p.name] = d
        return out

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v!r}" for k, v in self.values().items())
        return f"{type(self).__name__}(name={self.name!r}{', ' if vals else ''}{vals})"

    # ------------------------------------------------------------------ hooks
    def _prepare(self) -> None:
        pass

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        out[:] = x

    def _reset(self) -> None:
        pass

    def _process_wet(self, x: np.ndarray, wet: np.ndarray) -> np.ndarray | None:
        """Wet output for the block x: by default ``_process(x, wet)``, returning ``wet``.  A node
        may instead return its own buffer (no copy) or None when its wet path failed (then the
        base outputs the dry signal and the node should set ``failed``)."""
        self._process(x, wet)
        return wet

    def _rewind(self) -> None:
        """Audio-thread reset: clear state in O(state), no allocation, no I/O, no priming.
        Called when the wet path restarts after a bypass and after a block in which the node
        produced NaN/inf (counted in ``recoveries``).  Default: ``_reset()``."""
        self._reset()

    def _on_param(self, name: str, value: float) -> None:
        pass

    def _latency(self) -> int:
        return 0

    def v(self, name: str) -> float:
        """Current applied (stored float) value of a parameter, for subclasses."""
        return self._values[name]


class Stream:
    """Latency-compensated streaming over a node (see :meth:`Processor.stream`).

    ``feed(chunk)`` takes any number of frames (1-D, (channels, n) or (n, channels)) and returns
    the output that is ready, in the chunk's layout: the first ``latency_samples`` frames of
    raw output are dropped, so the concatenated results plus ``flush()`` equal the one-shot
    ``node(audio, sample_rate)``.  Every result is a fresh array."""

    def __init__(self, node: Processor, sample_rate: float, channels: int, buffer_size: int = 8192) -> None:
        self.node = node
        self.sample_rate = int(round(sample_rate))
        self.channels = int(channels)
        self.buffer_size = int(max(1, min(buffer_size, MAX_BLOCK)))
        if (not node.prepared or node.sample_rate != self.sample_rate or node.channels != self.channels
                or node.max_block < self.buffer_size):
            node.prepare(self.sample_rate, self.channels, self.buffer_size)
        else:
            node.reset()
        self.latency_samples = node.latency_samples
        self._skip = self.latency_samples
        self._layout = "1d" if self.channels == 1 else "cf"

    def feed(self, audio: np.ndarray) -> np.ndarray:
        """Process a chunk; returns the aligned output ready so far (may be shorter at first)."""
        x, self._layout = _as_channels_first(audio, self.channels)
        if x.shape[0] != self.channels:
            raise ValueError(f"{self.node.name}: stream of {self.channels} channel(s) fed shape "
                             f"{np.shape(audio)}")
        y = self.node._whole(x, self.sample_rate, self.buffer_size, reset=False)
        return _restore_layout(self._drop(y), self._layout)

    def flush(self) -> np.ndarray:
        """The remaining output (what the latency held back); the node is reset afterwards."""
        return _restore_layout(self._drop(self.node._flush_cf()), self._layout)

    def _drop(self, y: np.ndarray) -> np.ndarray:
        k = min(self._skip, y.shape[1])
        self._skip -= k
        return y[:, k:] if k else y
