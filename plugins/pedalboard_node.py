"""Any pedalboard object (a built-in, a whole ``Pedalboard``, a VST3) as an aural graph node.

How a hosted plugin is streamed
-------------------------------
pedalboard processes ``(channels, frames)`` float32 and, called with ``reset=False``, keeps its
state between calls.  Three of its habits matter to a block-invariant graph:

1. *Re-prepare on growth.*  A call whose block is larger than every earlier one since ``reset()``
   re-prepares the plugin, which clears its state.  The node therefore always calls with one
   fixed ``buffer_size`` (:data:`BUFFER_SIZE`) and *primes* the plugin after each reset with one
   full buffer of silence, so no later call can grow the block.
2. *Withheld samples.*  Plugins with latency (Resample, PitchShift, GSMFullRateCompressor,
   MP3Compressor, BrickwallLimiter, VST3s reporting latency) return fewer samples than they are
   given until their pipeline is full.  Priming continues until the plugin returns whole
   buffers; the number of samples it then holds back (``withheld``) is measured, not taken from
   ``reported_latency_samples``.
3. *Call-size dependence.*  Some of those (GSM, BrickwallLimiter, PitchShift) hold back a number of
   samples that depends on how the stream is cut into calls.  At prepare the node probes the
   plugin with irregular calls (1, 2, 3, ... frames) of a test signal: if every call returns
   as many frames as it was given and the output equals a single-call run, the plugin is
   called directly with each host block (``mode == "direct"``); otherwise it is fed through a
   fixed internal hop of ``hop`` frames (``mode == "hop"``, the fixed-hop adapter pattern of
   :mod:`aural.engine.hop`), so it sees the same calls whatever the host does.

Output goes through a FIFO pre-filled so that it never runs dry; ``latency_samples`` is exact:
an impulse at input sample 0 comes out at output sample ``latency_samples`` (plus whatever delay
the plugin puts in its own sound and does not report, see ``extra_latency``).

Parameters
----------
The plugin's parameters become the node's (instance-level) typed parameters; ``node.set`` and
``chain.set("compressor.threshold_db", -20)`` queue a change that is applied to the plugin at the
next block boundary.  A whole ``Pedalboard``'s parameters are its plugins', prefixed by their
names (``compressor_threshold_db``).  Parameters that change a built-in's latency
(``Resample.target_sample_rate`` ...) take effect at the next ``prepare()``.

Errors
------
An exception raised by the plugin while processing never reaches the stream: the node records it
(``node.error``, ``node.failed``, :func:`aural.plugins.errors`) and from that block on passes the
dry signal delayed by its latency, so the graph stays aligned.  ``reset()`` tries the plugin again.
With ``on_error="raise"`` (or :data:`DEFAULTS` ``["on_error"]``) the error is raised instead, as
:class:`PluginError`, which is what offline processing wants; calling a node on a whole signal
(``node(audio, sr)``) raises after the call when the plugin failed during it.
"""
from __future__ import annotations

import base64
import collections
import os
import time
from typing import Any

import numpy as np
from aural.engine.hop import HopFifo
from aural.engine.params import ParamError
from aural.engine.processor import REGISTRY, Processor
from numba import njit

from .pb_params import Binding, bindings_for, leaf_names, leaves, snake

__all__ = [
    "BUFFER_SIZE",
    "DEFAULTS",
    "ERRORS",
    "PedalboardNode",
    "PluginError",
    "errors",
    "raise_errors",
    "wrap",
]

#: the fixed buffer_size every hosted plugin is called with (pedalboard's own default).
BUFFER_SIZE = 8192

#: node defaults: ``hop`` of the fixed-hop mode, what to do when a plugin raises.
DEFAULTS: dict[str, Any] = {"hop": 256, "on_error": "bypass"}

#: the most recent plugin failures, newest last: (unix time, node name, message).
ERRORS: collections.deque = collections.deque(maxlen=64)

# Built-ins known to be sample-accurate, zero-latency and call-size independent (checked against
# pedalboard 0.9 with irregular calls down to 1 frame): they skip the probe at prepare.
_SAMPLE_ACCURATE = frozenset({
    "Bitcrush", "Chorus", "Clipping", "Compressor", "Delay", "Distortion", "Gain",
    "HighShelfFilter", "HighpassFilter", "Invert", "LadderFilter", "Limiter", "LowShelfFilter",
    "LowpassFilter", "NoiseGate", "PeakFilter", "Phaser", "Reverb"})

# Built-ins whose output or withheld count depends on how the stream is cut into calls (their
# encoders, resamplers and look-ahead buffers work in chunks): always fed through a fixed hop.
_CHUNKED = frozenset({"MP3Compressor", "GSMFullRateCompressor", "PitchShift", "BrickwallLimiter"})

# Fixed hops for built-ins that need more than DEFAULTS["hop"]: pedalboard 0.9's GSM codec
# returns (near) silence when streamed in calls shorter than ~4096 frames at 48 kHz.
_CLASS_HOP = {"GSMFullRateCompressor": BUFFER_SIZE}

# Built-ins that pedalboard cannot stream at all (checked at prepare: if the plugin does pass
# sound, it is used; if it only returns silence, preparing it raises PluginError with this reason).
_DEAD_WHEN_STREAMED = {
    "PitchShift": "pedalboard's PitchShift returns only silence when streamed with reset=False "
                  "(spotify/pedalboard issue #415; fixed upstream after pedalboard 0.9.26)",
}

_PROBE_PATTERN = (1, 2, 3, 5, 1, 8, 13, 64, 1, 127, 256, 31, 600, 7, 1000, 2, 333, 512)


class PluginError(RuntimeError):
    """A hosted plugin failed to load, to prepare, or raised while processing."""


@njit(cache=True, nogil=True)
def _upmix(x, out) -> None:
    """Copy mono x (1, n) into every row of out (c, n)."""
    c, n = out.shape
    for ch in range(c):
        for i in range(n):
            out[ch, i] = x[0, i]


@njit(cache=True, nogil=True)
def _downmix(y, out) -> None:
    """out (1, n) = mean of y's rows."""
    c, n = y.shape
    inv = 1.0 / c
    for i in range(n):
        acc = 0.0
        for ch in range(c):
            acc += y[ch, i]
        out[0, i] = acc * inv


def _frames(y: np.ndarray, channels: int) -> int:
    """Frames in a pedalboard result (an empty result can come back as (0, 1))."""
    if y.size == 0:
        return 0
    if y.ndim == 2 and y.shape[0] == channels:
        return y.shape[1]
    raise PluginError(f"plugin returned an array of shape {y.shape} for {channels} channels")


def _plugin_label(plugin: Any) -> str:
    name = getattr(plugin, "name", None) if hasattr(plugin, "raw_state") else None
    cls = type(plugin).__name__
    return f"{cls} {name!r}" if name else cls


class PedalboardNode(Processor):
    """Host a pedalboard plugin (built-in, ``Pedalboard``, or ``load_plugin`` VST3) in a graph.

    plugin: the pedalboard object (kept, not copied: changing it changes the node).
    name: node name in the graph (default: snake-case class or VST3 name, e.g. ``compressor``,
        ``dragonfly_plate_reverb``).
    hop: ``None`` (default) chooses by probing; an int > 0 forces a fixed internal buffer of that
        many frames (adds ``hop - 1`` samples of latency, makes any plugin call-size independent);
        0 forces direct calls with each host block.
    extra_latency: samples of delay the plugin puts into its sound without reporting it; added to
        ``latency_samples`` so graphs align it.  ``"impulse"`` measures it at prepare as the onset
        of the impulse response (only right for plugins that pass the direct sound).
    on_error: ``"bypass"`` (default, live-safe) or ``"raise"``.
    path: where a VST3 was loaded from (for presets); :func:`aural.plugins.load_vst3` fills it.
    **values: initial parameter values (``threshold_db=-20``).
    """

    def __init__(self, plugin: Any, name: str | None = None, *, hop: int | None = None,
                 extra_latency: int | str = 0, on_error: str | None = None,
                 path: str | None = None, bypass: bool = False, mix: float = 1.0,
                 **values: Any) -> None:
        import pedalboard
        if not isinstance(plugin, pedalboard.Plugin):
            raise TypeError(f"PedalboardNode needs a pedalboard plugin, got {type(plugin).__name__}")
        self.plugin = plugin
        self.path = os.fspath(path) if path is not None else None
        self.label = _plugin_label(plugin)
        self._bindings: dict[str, Binding] = {b.param.name: b for b in bindings_for(plugin)}
        self.params = tuple(b.param for b in self._bindings.values())
        if hop is not None and int(hop) < 0:
            raise ValueError("hop must be None, 0 (direct) or a positive frame count")
        self.hop_request = None if hop is None else int(hop)
        if extra_latency != "impulse" and int(extra_latency) < 0:
            raise ValueError("extra_latency must be >= 0 or 'impulse'")
        self.extra_latency = extra_latency
        self.on_error = on_error
        if name is None:
            name = snake(plugin.name) if hasattr(plugin, "raw_state") else type(plugin).__name__.lower()
        super().__init__(name=name, bypass=bypass, mix=mix, **values)
        for k in values:  # push constructor values into the plugin
            self._apply(k, self._values[k])
        self._deferred: dict[str, float] = {}
        self._probe_cache: dict[tuple, tuple] = {}
        self.mode = "direct"
        self.hop = 0
        self.withheld = 0
        self.measured_extra = 0
        self.deterministic: bool | None = None
        self.error: str | None = None
        self.failed = False
        self.error_count = 0
        self.underruns = 0
        self.overruns = 0

    # ------------------------------------------------------------------ parameters
    def _apply(self, name: str, stored: float) -> None:
        b = self._bindings[name]
        try:
            b.apply(stored, self.sample_rate)
        except Exception as e:
            live = None
            try:
                live = b.read()
            except Exception:  # noqa: BLE001
                pass
            if live is not None:
                self._values[name] = live
                self._targets[name] = live
            msg = f"{self.name}: {self.label} refused {name}={b.param.display(stored)!r}: {e}"
            if self.prepared:  # audio thread: record, never raise
                self.error = msg
                ERRORS.append((time.time(), self.name, msg))
            else:
                raise ParamError(msg) from e

    def _on_param(self, name: str, value: float) -> None:
        b = self._bindings.get(name)
        if b is None:
            return
        if self.prepared and b.affects_latency:
            self._deferred[name] = value  # changes latency: applied at the next prepare()
            return
        self._apply(name, value)

    def get(self, name: str) -> Any:
        """Current value in user form: a pending change if there is one, else the plugin's own."""
        b = self._bindings.get(name)
        if b is None or self._targets[name] != self._values[name] or name in self._deferred:
            return super().get(name)
        try:
            return b.param.display(b.read())
        except Exception:  # noqa: BLE001
            return super().get(name)

    # ------------------------------------------------------------------ plugin calls
    def _call(self, x: np.ndarray) -> np.ndarray:
        return self._proc(x, self._srf, BUFFER_SIZE, False)

    def _prime(self) -> int:
        """Reset the plugin and feed silence until it returns whole buffers; return the number of
        samples it then withholds."""
        self.plugin.reset()
        z = self._zeros
        fed = got = full = 0
        cap = max(4 * BUFFER_SIZE, 8 * self.sample_rate)
        while True:
            m = _frames(self._call(z), self._pch)
            fed += BUFFER_SIZE
            got += m
            full = full + 1 if m == BUFFER_SIZE else 0
            if full >= 2:
                return fed - got
            if fed >= cap:
                raise PluginError(f"{self.name}: {self.label} still withholds audio after "
                                  f"{fed} samples of priming")

    def _run_calls(self, x: np.ndarray, pattern) -> tuple[np.ndarray, bool, int]:
        """Feed x (plugin channels, n) in calls of the cycled sizes.  Returns the output, whether
        every call returned as many frames as given, and the most frames held back at any point
        beyond what was held back before."""
        outs, pos, i, exact, got, most = [], 0, 0, True, 0, 0
        n = x.shape[1]
        while pos < n:
            m = min(pattern[i % len(pattern)], n - pos)
            y = self._call(np.ascontiguousarray(x[:, pos:pos + m]))
            k = _frames(y, self._pch)
            exact &= k == m
            if k:
                outs.append(np.array(y, copy=True))
            pos += m
            got += k
            most = max(most, pos - got)
            i += 1
        out = np.concatenate(outs, axis=1) if outs else np.zeros((self._pch, 0), np.float32)
        return out, exact, most

    def _probe(self) -> tuple:
        """(mode, hop, withheld after priming, largest withheld in hop mode, deterministic,
        impulse onset)."""
        pch, sr = self._pch, self.sample_rate
        w0 = self._prime()
        onset = 0
        if self.extra_latency == "impulse":
            imp = np.zeros((pch, 4096), np.float32)
            imp[:, 0] = 1.0
            y, _, _ = self._run_calls(imp, (4096,))
            y = y[:, w0:] if y.shape[1] > w0 else y[:, :0]
            a = np.abs(y).max(axis=0) if y.size else np.zeros(1)
            peak = float(a.max()) if a.size else 0.0
            onset = int(np.argmax(a > 0.1 * peak)) if peak > 0 else 0
            w0 = self._prime()
        hop = self.hop_request
        deterministic = None
        wrel = 0  # the most the plugin withholds beyond w0 when called directly
        kinds = {type(p).__name__ for p in leaves(self.plugin)}
        if hop is None:
            if kinds <= _SAMPLE_ACCURATE and w0 == 0:
                hop, deterministic = 0, True
            elif kinds & _CHUNKED:
                hop = max([int(DEFAULTS["hop"])] + [_CLASS_HOP.get(k, 0) for k in kinds])
            else:
                rng = np.random.default_rng(1234)
                sig = (0.1 * rng.standard_normal((pch, w0 + 12000))).astype(np.float32)
                ref, _, _ = self._run_calls(sig, (sig.shape[1],))
                self._prime()
                var, exact, wrel = self._run_calls(sig, _PROBE_PATTERN)
                k = min(ref.shape[1], var.shape[1])
                same = k > sig.shape[1] // 2 and np.allclose(ref[:, :k], var[:, :k], rtol=0, atol=1e-6)
                if same:
                    deterministic, direct = True, True
                else:
                    self._prime()
                    ref2, _, _ = self._run_calls(sig, (sig.shape[1],))
                    deterministic = ref2.shape == ref.shape and np.allclose(ref, ref2, rtol=0, atol=1e-6)
                    direct = not deterministic  # deterministic yet call-size dependent: hop mode
                if direct and not (exact and w0 == 0):
                    # how much more does it hold back at the finest cut (1-frame calls)?
                    self._prime()
                    _, _, w1 = self._run_calls(np.zeros((pch, 4096), np.float32), (1,))
                    wrel = max(wrel, w1)
                    if wrel > 2048:  # not a bounded look-ahead: use the fixed hop
                        direct = False
                hop = 0 if direct else int(DEFAULTS["hop"])
                w0 = self._prime()
        elif hop == 0:
            self._prime()
            _, _, wrel = self._run_calls(np.zeros((pch, 4096), np.float32), (1,))
            w0 = self._prime()
        if not hop and w0 > 0:
            # a pipelined plugin called with arbitrary blocks may hold back a little more than any
            # probe showed (a resampler rounds per call to whole samples at its inner rate):
            # keep a margin so the FIFO never runs dry
            wrel += 16
            for leaf in leaves(self.plugin):
                tsr = getattr(leaf, "target_sample_rate", None)
                if tsr:
                    wrel += 2 * int(np.ceil(sr / max(1.0, float(tsr))))
        wmax = w0 + (0 if hop else wrel)
        dead = sorted(kinds & set(_DEAD_WHEN_STREAMED))
        if dead:  # does sound come out at all when streamed?
            rng = np.random.default_rng(99)
            sig = (0.3 * rng.standard_normal((pch, w0 + 8192))).astype(np.float32)
            y, _, _ = self._run_calls(sig, (hop or 512,))
            if not (y.size and np.abs(y[:, min(w0, y.shape[1]):]).max() > 1e-4):
                raise PluginError(f"{self.name}: {self.label} cannot be streamed: "
                                  f"{_DEAD_WHEN_STREAMED[dead[0]]}")
            w0 = self._prime()
        if hop:
            zh = np.zeros((pch, hop), np.float32)
            fed = got = 0
            for _ in range(max(64, -(-2 * sr // hop))):
                got += _frames(self._call(zh), pch)
                fed += hop
                wmax = max(wmax, w0 + fed - got)
            w0 = self._prime()
        return ("hop" if hop else "direct", hop, w0, wmax, deterministic, onset)

    # ------------------------------------------------------------------ lifecycle
    def _prepare(self) -> None:
        for k, v in self._deferred.items():
            self._apply(k, v)
        self._deferred.clear()
        c, sr = self.channels, self.sample_rate
        self._srf = float(sr)
        self._proc = self.plugin.process
        self._pch = c
        self._zeros = np.zeros((c, BUFFER_SIZE), np.float32)
        try:
            self._prime_checked()
        except PluginError:
            raise
        except Exception as e:
            msg = str(e)
            if c == 1 and "channel" in msg:
                self._pch = 2  # a stereo-only plugin in a mono graph: feed both sides, average back
                self._zeros = np.zeros((2, BUFFER_SIZE), np.float32)
                try:
                    self._prime_checked()
                except Exception as e2:
                    raise PluginError(f"{self.name}: {self.label} cannot process {c} channel(s) "
                                      f"at {sr} Hz: {e2}") from e2
            else:
                raise PluginError(f"{self.name}: {self.label} cannot process {c} channel(s) at "
                                  f"{sr} Hz: {e}") from e
        for name, b in self._bindings.items():  # clamp frequencies to the new Nyquist
            if b.attr in ("cutoff_frequency_hz", "cutoff_hz", "centre_frequency_hz"):
                self._apply(name, self._values[name])
        key = (sr, c, self.hop_request, self.extra_latency,
               tuple(self._values[n] for n, b in self._bindings.items() if b.affects_latency))
        probe = self._probe_cache.get(key)
        if probe is None:
            try:
                probe = self._probe()
            except PluginError:
                raise
            except Exception as e:
                raise PluginError(f"{self.name}: {self.label} failed while being measured: "
                                  f"{type(e).__name__}: {e}") from e
            self._probe_cache[key] = probe
        else:
            w0 = self._prime()
            probe = probe[:2] + (w0,) + probe[3:]
        self.mode, self.hop, self.withheld, wmax, self.deterministic, onset = probe
        self.measured_extra = onset
        self._lat = (self.hop - 1 + wmax) if self.hop else wmax
        mb = self.max_block
        self._prefill = self._lat - self.withheld
        cap = self._prefill + mb + 2 * max(self.hop, BUFFER_SIZE) + (wmax - self.withheld) + 64
        self._fifo = HopFifo(self._pch, cap)
        self._fifo.clear(self._prefill)
        self._direct_fast = self.mode == "direct" and self._prefill == 0 and self._pch == c
        # rewind() (audio thread) pins pedalboard's prepared block size with one call this long
        self._pin = np.zeros((self._pch, min(BUFFER_SIZE, max(mb, self.hop))), np.float32)
        self._pflat = np.zeros(self._pch * mb, np.float32) if self._pch != c else None
        self._pviews: dict[int, np.ndarray] = {}
        self._wbuf = np.zeros((self._pch, mb), np.float32)
        self._obuf = np.zeros((c, mb), np.float32)
        if self.hop:
            self._hbuf = np.zeros((self._pch, self.hop), np.float32)
            self._hfill = 0
        self.failed = False
        self.error = None
        self.underruns = self.overruns = 0

    def _prime_checked(self) -> None:
        self.withheld = self._prime()

    def _reset(self) -> None:
        try:
            w0 = self._prime()
        except Exception as e:  # noqa: BLE001 - still broken: stay bypassed
            self._fail(e)
            return
        if w0 != self.withheld:  # keep the declared latency: move the difference into the FIFO
            self.withheld = w0
            self._prefill = max(0, self._lat - w0)
        self._fifo.clear(self._prefill)
        if self.hop:
            self._hfill = 0
            self._hbuf[:] = 0.0
        self.failed = False

    def _rewind(self) -> None:
        """Audio-thread reset (un-bypass, recovery after NaN/inf): clear the plugin without the
        2 x 8192 frames of priming that :meth:`reset` pushes through it.

        For a plugin that withholds nothing (the zero-latency built-ins, most effects) this is
        ``plugin.reset()`` plus one call of ``min(max_block, 8192)`` frames of silence, which pins
        pedalboard's prepared block size (after ``reset()`` pedalboard re-prepares, losing the
        state, on the first call larger than every earlier one).  A plugin with latency, or fed
        through a fixed hop, must refill its pipeline: it is primed fully, as by ``reset()``.
        A failed plugin stays failed (``reset()`` retries it)."""
        if self.failed:
            return
        if self.withheld or self.hop or self._prefill:
            self._reset()
            return
        try:
            self.plugin.reset()
            self._proc(self._pin, self._srf, BUFFER_SIZE, False)
        except Exception as e:  # noqa: BLE001 - a plugin error must not reach the stream
            self._fail(e)
            return
        self._fifo.clear(self._prefill)

    def _latency(self) -> int:
        extra = self.measured_extra if self.extra_latency == "impulse" else int(self.extra_latency)
        return int(self._lat) + extra

    # ------------------------------------------------------------------ processing
    def _pview(self, n: int) -> np.ndarray:
        v = self._pviews.get(n)
        if v is None:
            v = self._pviews[n] = self._pflat[:self._pch * n].reshape(self._pch, n)
        return v

    def _fail(self, e: BaseException) -> None:
        self.failed = True
        self.error_count += 1
        self.error = f"{self.name}: {self.label} raised {type(e).__name__}: {e}"
        ERRORS.append((time.time(), self.name, self.error))
        policy = self.on_error or DEFAULTS["on_error"]
        if policy == "raise":
            raise PluginError(self.error) from e

    def _push(self, y: np.ndarray) -> None:
        m = _frames(y, self._pch)
        if m == 0:
            return
        f = self._fifo
        room = f.ring.shape[1] - f.count
        if m > room:  # never expected: drop the oldest audio rather than corrupt the ring
            self.overruns += 1
            drop = m - room
            tmp = self._wbuf[:, :min(drop, self._wbuf.shape[1])]
            while drop > 0:
                k = min(drop, tmp.shape[1])
                f.read(tmp[:, :k])
                drop -= k
        f.write(y)

    def _pull(self, n: int) -> np.ndarray:
        out = self._wbuf[:, :n]
        f = self._fifo
        have = f.count
        if have >= n:
            f.read(out)
        else:  # never expected: a plugin withheld more than measured
            self.underruns += 1
            out[:, :n - have] = 0.0
            if have:
                f.read(out, n - have, have)
        return out

    def _process_wet(self, x: np.ndarray, wet: np.ndarray) -> np.ndarray | None:
        """The plugin's aligned output for x (channels, n), or None if it raised.

        The common case - a zero-latency plugin called directly - returns pedalboard's own
        result array: no copy (Processor.process sanitises it)."""
        n = x.shape[1]
        try:
            if self._direct_fast and self._fifo.count == 0:
                y = self._proc(x, self._srf, BUFFER_SIZE, False)
                if y.shape[0] == self._pch and y.shape[1] == n:
                    return y
                self._push(y)  # the plugin returned fewer/more frames than given: use the FIFO
                wet = self._pull(n)
            else:
                xin = x
                if self._pch != self.channels:
                    xin = self._pview(n)
                    _upmix(x, xin)
                if self.hop:
                    h, pos = self.hop, 0
                    while pos < n:
                        m = min(h - self._hfill, n - pos)
                        self._hbuf[:, self._hfill:self._hfill + m] = xin[:, pos:pos + m]
                        self._hfill += m
                        pos += m
                        if self._hfill == h:
                            self._push(self._proc(self._hbuf, self._srf, BUFFER_SIZE, False))
                            self._hfill = 0
                else:
                    self._push(self._proc(xin, self._srf, BUFFER_SIZE, False))
                wet = self._pull(n)
        except Exception as e:  # noqa: BLE001 - a plugin error must not reach the stream
            self._fail(e)
            return None
        if self._pch != self.channels:
            out = self._obuf[:, :n]
            _downmix(wet, out)
            wet = out
        return wet

    def _whole(self, x: np.ndarray, sample_rate: float, buffer_size: int, reset: bool) -> np.ndarray:
        """Whole signal (``node(audio, sr)``, ``node.stream(...).feed``): raises
        :class:`PluginError` if the plugin failed during the call."""
        before = self.error_count
        y = super()._whole(x, sample_rate, buffer_size, reset)
        if self.error_count != before:
            raise PluginError(self.error)
        return y

    # ------------------------------------------------------------------ presets
    def to_dict(self) -> dict:
        """``{"type": "Pedalboard", "plugin": <class>, "params": {...}, ...}``; a VST3 adds its
        ``path`` and ``raw_state`` (base64), a container its ``plugins`` (one dict each)."""
        d = super().to_dict()
        d["type"] = "Pedalboard"
        d.update(describe_plugin(self.plugin, self.path, self.sample_rate or None))
        if "plugins" in d:
            d.pop("params", None)  # a container's parameters live in its plugins' dicts
        if self.hop_request is not None:
            d["hop"] = self.hop_request
        if self.extra_latency:
            d["extra_latency"] = self.extra_latency
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PedalboardNode:
        """Rebuild a node from :meth:`to_dict` output (the preset loader's hook).

        Raises ValueError for a malformed dict, :class:`PluginError` for a plugin that cannot be
        created, loaded or given its state/parameters; both name the node."""
        if not isinstance(d, dict):
            raise ValueError(f"a Pedalboard node must be a JSON object, got {type(d).__name__}")
        label = d.get("name") or d.get("plugin") or "Pedalboard"
        extra = sorted(set(d) - _DICT_KEYS)
        if extra:
            raise ValueError(f"{label}: unknown key {extra[0]!r} for a Pedalboard node "
                             f"(allowed: {', '.join(sorted(_DICT_KEYS - {'description'}))})")
        name = d.get("name")
        if name is not None and (not isinstance(name, str) or not name or "." in name or "/" in name):
            raise ValueError(f"{label}: name must be a non-empty string without '.' or '/'")
        if not isinstance(d.get("params", {}), dict):
            raise ValueError(f"{label}: params must be an object")
        plugin, path = build_plugin(d)
        kw: dict[str, Any] = {}
        for k in ("hop", "extra_latency", "bypass", "mix", "on_error"):
            if k in d:
                kw[k] = d[k]
        return cls(plugin, name=d.get("name"), path=path, **kw)

    def __repr__(self) -> str:
        lat = f", latency={self.latency_samples}" if self.prepared else ""
        return f"PedalboardNode({self.label}, name={self.name!r}, mode={self.mode!r}{lat})"


# ---------------------------------------------------------------------- (de)serialising plugins
_DICT_KEYS = frozenset({"type", "name", "description", "bypass", "mix", "plugin", "params",
                        "plugins", "path", "plugin_name", "raw_state", "impulse_response",
                        "impulse_response_filename", "hop", "extra_latency", "on_error"})

def _leaf_params(plugin: Any) -> dict:
    from .pb_params import bindings_for_leaf
    out = {}
    for b in bindings_for_leaf(plugin):
        try:
            out[b.param.name] = b.param.display(b.read())
        except Exception:  # noqa: BLE001
            continue
    return out


def describe_plugin(plugin: Any, path: str | None = None, sample_rate: int | None = None) -> dict:
    """JSON-serialisable description of a pedalboard object (without the aural node fields).

    A ``Convolution`` built from an array is saved with that array; pedalboard does not say at
    which rate the array was given, so ``sample_rate`` (the node's, else 48 kHz) is recorded."""
    import pedalboard
    cls = type(plugin).__name__
    if isinstance(plugin, pedalboard.PluginContainer):
        kids = list(plugin)
        return {"plugin": cls,
                "plugins": [dict(describe_plugin(p, None, sample_rate), name=n)
                            for n, p in zip(leaf_names(kids), kids)]}
    d: dict[str, Any] = {"plugin": cls, "params": _leaf_params(plugin)}
    if hasattr(plugin, "raw_state"):  # VST3
        from .vst3 import path_of
        d["plugin"] = "VST3Plugin"
        d["path"] = path or path_of(plugin)
        d["plugin_name"] = plugin.name
        d["raw_state"] = base64.b64encode(bytes(plugin.raw_state)).decode("ascii")
    elif cls == "Convolution":
        fn = getattr(plugin, "impulse_response_filename", None)
        if fn:
            d["impulse_response_filename"] = fn
        else:
            ir = np.asarray(plugin.impulse_response, np.float32)
            d["impulse_response"] = {"shape": list(ir.shape), "sample_rate": sample_rate or 48000,
                                     "float32": base64.b64encode(ir.tobytes()).decode("ascii")}
    return d


def build_plugin(d: dict) -> tuple[Any, str | None]:
    """A pedalboard object from :func:`describe_plugin` output; returns (plugin, VST3 path)."""
    import pedalboard
    cls_name = d.get("plugin")
    if not cls_name:
        raise PluginError(f"preset node {d.get('name', '?')!r}: no 'plugin' class given")
    params = dict(d.get("params") or {})
    path = None
    if cls_name in ("VST3Plugin", "ExternalPlugin", "AudioUnitPlugin"):
        from .vst3 import load_plugin
        path = d.get("path")
        if not path:
            raise PluginError(f"preset node {d.get('name', '?')!r}: a VST3 needs a 'path'")
        plugin, path = load_plugin(path, plugin_name=d.get("plugin_name"), with_path=True)
        if d.get("raw_state"):
            try:
                plugin.raw_state = base64.b64decode(d["raw_state"])
            except Exception as e:
                raise PluginError(f"{plugin.name}: cannot restore its saved state: {e}") from e
    else:
        cls = getattr(pedalboard, cls_name, None)
        if not (isinstance(cls, type) and issubclass(cls, pedalboard.Plugin)):
            raise PluginError(f"preset node {d.get('name', '?')!r}: pedalboard has no plugin "
                              f"{cls_name!r}")
        if issubclass(cls, pedalboard.PluginContainer):
            kids = [build_plugin(k)[0] for k in d.get("plugins", [])]
            return cls(kids), None
        try:
            if cls_name == "Convolution":
                if "impulse_response_filename" in d:
                    plugin = cls(d["impulse_response_filename"])
                else:
                    ir = d["impulse_response"]
                    arr = np.frombuffer(base64.b64decode(ir["float32"]), np.float32)
                    plugin = cls(arr.reshape(ir["shape"]).copy(), 1.0,
                                 float(ir.get("sample_rate") or 48000))
            else:
                plugin = cls()
        except Exception as e:
            raise PluginError(f"cannot create pedalboard.{cls_name}: {e}") from e
    from .pb_params import bindings_for_leaf
    binds = {b.param.name: b for b in bindings_for_leaf(plugin)}
    for k, v in params.items():
        b = binds.get(k)
        if b is None:
            raise PluginError(f"{_plugin_label(plugin)} has no parameter {k!r} "
                              f"(known: {', '.join(binds) or 'none'})")
        stored = b.param.coerce(v)
        try:
            if d.get("raw_state") and abs(b.read() - stored) <= 1e-6 * max(1.0, abs(stored)):
                continue  # already restored by the state
            b.apply(stored)
        except Exception as e:
            if d.get("raw_state"):
                continue  # the state is authoritative; read-only parameters refuse writes
            raise PluginError(f"{_plugin_label(plugin)}: cannot set {k}={v!r}: {e}") from e
    return plugin, path


# ---------------------------------------------------------------------- graph helpers
def wrap(obj: Any) -> Processor | None:
    """An aural node for a pedalboard object, or None for anything else (graph.as_node's hook)."""
    try:
        import pedalboard
    except ImportError:  # pragma: no cover - pedalboard is a dependency
        return None
    if isinstance(obj, pedalboard.Plugin):
        return PedalboardNode(obj)
    return None


def errors(graph: Processor) -> list[tuple[str, str]]:
    """(path, message) of every hosted plugin in ``graph`` that has failed."""
    return [(path, node.error) for path, node in graph.walk()
            if isinstance(node, PedalboardNode) and node.failed and node.error]


def raise_errors(graph: Processor) -> None:
    """Raise :class:`PluginError` if a hosted plugin in ``graph`` failed (after offline runs)."""
    errs = errors(graph)
    if errs:
        raise PluginError("; ".join(msg for _, msg in errs))


REGISTRY["Pedalboard"] = PedalboardNode
REGISTRY["PedalboardNode"] = PedalboardNode
