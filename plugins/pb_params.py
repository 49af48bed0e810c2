"""Parameters of hosted pedalboard plugins as aural :class:`~aural.engine.params.Param`\\ s.

A :class:`Binding` ties one aural parameter to one attribute of one pedalboard object: a
built-in's property (``Compressor.threshold_db``) or a VST3 parameter (``plugin.decay_s``).
Built-ins do not publish ranges or units, so :data:`BUILTIN_SPECS` gives them (the ranges are
those pedalboard/JUCE accept); a built-in missing from the table is introspected (floats,
bools and enums become float, bool and choice parameters with an open range).  VST3 parameters
come from ``plugin.parameters`` (name, range, unit label, valid values).
"""
from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aural.engine.params import Param

__all__ = ["BUILTIN_SPECS", "LATENCY_PARAMS", "Binding", "bindings_for", "snake"]

INF = math.inf

# (unit, (lo, hi), scale, doc) per built-in attribute; kind is taken from the live value.
_S = dict
BUILTIN_SPECS: dict[str, dict[str, tuple]] = {
    "Bitcrush": _S(bit_depth=("bits", (0.0, 32.0), "linear", "bit depth of the quantiser")),
    "BrickwallLimiter": _S(
        ceiling_db=("dB", (-60.0, 0.0), "linear", "output ceiling"),
        lookahead_ms=("ms", (0.0, 50.0), "linear", "look-ahead (latency; applied at prepare)"),
        release_ms=("ms", (1.0, 5000.0), "log", "release time"),
        true_peak=("", (0.0, 1.0), "linear", "limit inter-sample peaks")),
    "Chorus": _S(
        rate_hz=("Hz", (0.0, 99.0), "linear", "LFO rate"),
        depth=("", (0.0, 1.0), "linear", "modulation depth"),
        centre_delay_ms=("ms", (1.0, 99.0), "linear", "centre delay"),
        feedback=("", (-0.95, 0.95), "linear", "feedback"),
        mix=("", (0.0, 1.0), "linear", "the plugin's own dry/wet")),
    "Clipping": _S(threshold_db=("dB", (-96.0, 24.0), "linear", "clipping threshold")),
    "Compressor": _S(
        threshold_db=("dB", (-96.0, 24.0), "linear", "threshold"),
        ratio=("", (1.0, 100.0), "log", "compression ratio"),
        attack_ms=("ms", (0.01, 1000.0), "log", "attack time"),
        release_ms=("ms", (1.0, 5000.0), "log", "release time")),
    "Convolution": _S(mix=("", (0.0, 1.0), "linear", "the plugin's own dry/wet")),
    "Delay": _S(
        delay_seconds=("s", (0.0, 30.0), "linear", "delay time"),
        feedback=("", (0.0, 1.0), "linear", "feedback"),
        mix=("", (0.0, 1.0), "linear", "the plugin's own dry/wet")),
    "Distortion": _S(drive_db=("dB", (0.0, 100.0), "linear", "drive")),
    "Gain": _S(gain_db=("dB", (-96.0, 48.0), "linear", "gain")),
    "GSMFullRateCompressor": _S(quality=("", None, "linear", "resampler quality (applied at prepare)")),
    "HighShelfFilter": _S(
        cutoff_frequency_hz=("Hz", (10.0, 96000.0), "log", "shelf frequency"),
        gain_db=("dB", (-48.0, 48.0), "linear", "shelf gain"),
        q=("", (0.05, 40.0), "log", "Q")),
    "HighpassFilter": _S(cutoff_frequency_hz=("Hz", (1.0, 96000.0), "log", "cutoff")),
    "LadderFilter": _S(
        mode=("", None, "linear", "filter type"),
        cutoff_hz=("Hz", (10.0, 96000.0), "log", "cutoff"),
        resonance=("", (0.0, 1.0), "linear", "resonance"),
        drive=("", (1.0, 100.0), "log", "drive")),
    "Limiter": _S(
        threshold_db=("dB", (-96.0, 0.0), "linear", "threshold"),
        release_ms=("ms", (1.0, 5000.0), "log", "release time")),
    "LowShelfFilter": _S(
        cutoff_frequency_hz=("Hz", (10.0, 96000.0), "log", "shelf frequency"),
        gain_db=("dB", (-48.0, 48.0), "linear", "shelf gain"),
        q=("", (0.05, 40.0), "log", "Q")),
    "LowpassFilter": _S(cutoff_frequency_hz=("Hz", (1.0, 96000.0), "log", "cutoff")),
    "MP3Compressor": _S(vbr_quality=("", (0.0, 10.0), "linear", "LAME VBR quality (0 best)")),
    "NoiseGate": _S(
        threshold_db=("dB", (-100.0, 0.0), "linear", "threshold"),
        ratio=("", (1.0, 100.0), "log", "expansion ratio"),
        attack_ms=("ms", (0.01, 1000.0), "log", "attack time"),
        release_ms=("ms", (1.0, 5000.0), "log", "release time")),
    "PeakFilter": _S(
        cutoff_frequency_hz=("Hz", (10.0, 96000.0), "log", "centre frequency"),
        gain_db=("dB", (-48.0, 48.0), "linear", "peak gain"),
        q=("", (0.05, 40.0), "log", "Q")),
    "Phaser": _S(
        rate_hz=("Hz", (0.0, 99.0), "linear", "LFO rate"),
        depth=("", (0.0, 1.0), "linear", "modulation depth"),
        centre_frequency_hz=("Hz", (20.0, 20000.0), "log", "centre frequency"),
        feedback=("", (-0.95, 0.95), "linear", "feedback"),
        mix=("", (0.0, 1.0), "linear", "the plugin's own dry/wet")),
    "PitchShift": _S(semitones=("st", (-72.0, 72.0), "linear", "pitch shift")),
    "Resample": _S(
        target_sample_rate=("Hz", (1000.0, 192000.0), "log", "intermediate rate (applied at prepare)"),
        quality=("", None, "linear", "resampler quality (applied at prepare)")),
    "Reverb": _S(
        room_size=("", (0.0, 1.0), "linear", "room size"),
        damping=("", (0.0, 1.0), "linear", "damping"),
        wet_level=("", (0.0, 1.0), "linear", "wet level"),
        dry_level=("", (0.0, 1.0), "linear", "dry level"),
        width=("", (0.0, 1.0), "linear", "stereo width"),
        freeze_mode=("", (0.0, 1.0), "linear", "freeze")),
}

#: attributes that change a built-in's latency: a change made while prepared takes effect at the
#: next prepare(), so the graph's latency compensation never goes stale mid-stream.
LATENCY_PARAMS: dict[str, frozenset] = {
    "Resample": frozenset({"target_sample_rate", "quality"}),
    "BrickwallLimiter": frozenset({"lookahead_ms"}),
    "GSMFullRateCompressor": frozenset({"quality"}),
}

#: frequency attributes clipped below Nyquist when applied (JUCE filters misbehave above it).
_NYQUIST_CLAMPED = frozenset({"cutoff_frequency_hz", "cutoff_hz", "centre_frequency_hz"})

#: names that aural's own bypass/mix use: a plugin attribute of that name is renamed.
_RESERVED = {"bypass": "plugin_bypass", "mix": "plugin_mix"}

_SKIP = frozenset({"is_effect", "is_instrument", "impulse_response", "impulse_response_filename"})


def snake(text: str) -> str:
    """'Dragonfly Plate Reverb' -> 'dragonfly_plate_reverb'."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(text)).strip("_").lower()
    return s or "plugin"


@dataclass
class Binding:
    """One aural parameter bound to ``setattr(target, attr, ...)`` on a pedalboard object."""

    param: Param
    target: Any
    attr: str
    owner: str  # class name of the target (for messages and LATENCY_PARAMS)
    enum: Any = None  # Enum class of a built-in choice parameter
    vst: bool = False

    @property
    def affects_latency(self) -> bool:
        return self.attr in LATENCY_PARAMS.get(self.owner, ())

    def to_plugin(self, stored: float, sample_rate: int = 0) -> Any:
        p = self.param
        if p.kind == "choice":
            name = p.choices[int(stored)]
            return self.enum.__members__[name] if self.enum is not None else name
        if p.kind == "bool":
            return bool(stored)
        if p.kind == "int":
            return int(stored)
        v = float(stored)
        if sample_rate and self.attr in _NYQUIST_CLAMPED and not self.vst:
            v = min(v, 0.49 * sample_rate)
        return v

    def apply(self, stored: float, sample_rate: int = 0) -> None:
        setattr(self.target, self.attr, self.to_plugin(stored, sample_rate))

    def read(self) -> float:
        """The plugin's live value as a stored float."""
        v = getattr(self.target, self.attr)
        if _is_enum(v):
            v = v.name
        if self.param.kind == "choice" and isinstance(v, str) and v not in self.param.choices:
            low = [c.lower() for c in self.param.choices]
            if v.lower() in low:
                return float(low.index(v.lower()))
        return self.param.coerce(v)


def _is_enum(value: Any) -> bool:
    """Python Enum members and pybind11 enum values (``LadderFilter.Mode.LPF24``)."""
    return isinstance(value, Enum) or (hasattr(type(value), "__members__") and hasattr(value, "name")
                                       and not isinstance(value, (int, float, str)))


def _builtin_bindings(plugin: Any, prefix: str = "") -> list[Binding]:
    cls = type(plugin)
    owner = cls.__name__
    table = BUILTIN_SPECS.get(owner, {})
    props = [k for k, v in inspect.getmembers(cls) if isinstance(v, property) and k not in _SKIP
             and not k.startswith("_")]
    out = []
    for attr in props:
        try:
            value = getattr(plugin, attr)
        except Exception:  # noqa: BLE001 - a property that cannot be read is not a parameter
            continue
        unit, rng, scale, doc = table.get(attr, ("", None, "linear", ""))
        name = prefix + _RESERVED.get(attr, attr)
        enum = None
        if _is_enum(value):
            enum = type(value)
            p = Param(name, value.name, kind="choice", choices=tuple(enum.__members__), doc=doc)
        elif isinstance(value, bool):
            p = Param(name, value, kind="bool", doc=doc)
        elif isinstance(value, (int, float)):
            lo, hi = rng if rng else (-INF, INF)
            v = float(value)
            if math.isfinite(lo) and v < lo:
                lo = v
            if math.isfinite(hi) and v > hi:
                hi = v
            p = Param(name, v, unit=unit, range=(lo, hi), doc=doc or f"{owner}.{attr}",
                      scale=scale)
        else:
            continue
        out.append(Binding(p, plugin, attr, owner, enum=enum))
    return out


def _vst_bindings(plugin: Any, prefix: str = "") -> list[Binding]:
    owner = type(plugin).__name__
    out = []
    for key, ap in plugin.parameters.items():
        try:
            value = getattr(plugin, key)
        except Exception:  # noqa: BLE001
            continue
        name = prefix + _RESERVED.get(key, key)
        unit = (getattr(ap, "label", None) or getattr(ap, "units", None) or "") or ""
        doc = str(getattr(ap, "name", key))
        t = getattr(ap, "type", float)
        if t is bool or isinstance(value, bool):
            p = Param(name, bool(value), kind="bool", doc=doc)
        elif t is str:
            choices = tuple(str(c) for c in (getattr(ap, "valid_values", None) or ()))
            if not choices:
                continue
            default = str(value) if str(value) in choices else choices[0]
            p = Param(name, default, kind="choice", choices=choices, doc=doc)
        else:
            lo, hi = (getattr(ap, "range", None) or (None, None, None))[:2]
            lo = -INF if lo is None else float(lo)
            hi = INF if hi is None else float(hi)
            v = float(value)
            lo, hi = min(lo, v), max(hi, v)
            p = Param(name, v, unit=str(unit), range=(lo, hi), doc=doc)
        out.append(Binding(p, plugin, key, owner, vst=True))
    return out


def _is_container(plugin: Any) -> bool:
    import pedalboard
    return isinstance(plugin, pedalboard.PluginContainer)


def leaf_names(plugins) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for p in plugins:
        base = snake(getattr(p, "name", None) if _is_vst(p) else type(p).__name__)
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return names


def _is_vst(plugin: Any) -> bool:
    return hasattr(plugin, "parameters") and hasattr(plugin, "raw_state")


def leaves(plugin: Any) -> list[Any]:
    """The non-container plugins inside a (possibly nested) pedalboard container, in order."""
    if _is_container(plugin):
        out = []
        for p in list(plugin):
            out.extend(leaves(p))
        return out
    return [plugin]


def bindings_for(plugin: Any) -> list[Binding]:
    """All parameters of a pedalboard object.  A container's are its leaves', prefixed with the
    leaf's snake-case name: ``compressor_threshold_db``, ``gain_2_gain_db``."""
    if _is_container(plugin):
        ls = leaves(plugin)
        out = []
        for name, leaf in zip(leaf_names(ls), ls):
            out.extend(bindings_for_leaf(leaf, name + "_"))
        return out
    return bindings_for_leaf(plugin)


def bindings_for_leaf(plugin: Any, prefix: str = "") -> list[Binding]:
    if _is_vst(plugin):
        return _vst_bindings(plugin, prefix)
    return _builtin_bindings(plugin, prefix)
