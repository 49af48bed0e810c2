"""The presets the page offers and the controls each one exposes, in words for the people
who pick them (titles, plain descriptions, order of use, labels, "auto" values, safe ranges).

Only preset names (shipped or saved in the user store: ``aural.engine.presets.list_presets()``)
can be named by a request:
:func:`build_chain` refuses any other string before the preset loader sees it, because the
loader also accepts file paths, and no path from a user may touch the file system.

Controls are the typed parameters of the preset's nodes, addressed ``node.param`` (the same
addresses as ``aural enhance --set``), plus each node's ``bypass``.  Every control is offered;
the ``main`` ones are shown on the page, the rest under "Expert settings": a preset's
top-level ``"controls"`` list of addresses when it has one, else the parameters in :data:`MAIN`
for the node's type, else the first two numeric parameters of an unknown type.

Each numeric control has a *guard* (:data:`GUARDS`): the range and step the page's slider
offers, so a few nudges cannot wreck a result.  The server clamps every submitted value to the
same guard (:func:`build_chain`); a value outside the processor's own range is refused.  A
parameter in :data:`AUTO` treats 0 as "find it automatically": the page shows an "auto" box.
"""
from __future__ import annotations

import math
import threading
from typing import Any

from aural.engine import Chain, ParamError, Processor

__all__ = ["AUTO_PRESET", "FALLBACK", "CatalogError", "build_chain", "describe_presets", "effective_params",
           "guard", "preset_info", "preset_names"]

#: processor type -> the parameters a person most often adjusts (the rest are "expert")
MAIN = {
    "Butterworth": ("cutoff_hz",),
    "Compressor": ("ratio",),
    "DeClick": ("threshold",),
    "DeClip": ("clip_level",),
    "DeHum": ("freq_hz",),
    "Gain": ("gain_db",),
    "Limiter": ("ceiling_db",),
    "NeuralEnhancer": ("atten_limit",),
    "ParametricEQ": ("gain_db",),
    "BandwidthExtender": ("gain_db",),
    "Repair": ("max_ms",),
    "SpectralGate": ("reduction_db",),
    "Wiener": ("floor_db",),
}

#: shipped preset -> (title, what it is for, in plain words).  The order is the order of use:
#: the most common first.  Presets not listed follow, titled from their names.
PRESET_INFO: dict[str, tuple[str, str]] = {
    "voice": ("Voice", "Podcast / live voice: removes background noise and hum, keeps the "
              "voice natural."),
    "auto": ("Automatic", "Not sure? Analyses your recording and repairs only what it finds "
             "(hum, clicks, clipping, noise). Clean recordings come out unchanged."),
    "voice_dsp": ("Voice (light)", "Voice on a slow computer: gentler noise and hum removal, "
                  "quick to process."),
    "voice_restore": ("Damaged speech", "Old interviews or a distorted take: repairs crackle, "
                      "clicks and overloaded peaks, then cleans the voice."),
    "music": ("Music", "Songs and concerts: repairs overloaded peaks, clicks and hum, and "
              "leaves the sound of the music alone."),
    "vinyl": ("Old vinyl record", "Records, shellac and tape transfers: removes clicks, "
              "crackle, hum, rumble and hiss."),
    "music_denoise": ("Music with hiss", "Music with tape hiss or background noise: removes "
                      "the hiss; may soften the sound a little."),
    "restore_band": ("Restore treble", "Muffled or telephone-like recording? Rebuilds the "
                     "missing treble above the cut-off (old transfers, phone calls, "
                     "low-bitrate MP3)."),
    "repair": ("Dropouts and gaps", "Digital dropouts (short silences cut into the sound) are "
               "filled in; everything else stays exactly as it was."),
    "music_neural": ("Music, strong clean-up", "Noisy music: repairs, then AI noise removal; "
                     "the strongest clean-up for music, and the slowest."),
    "level": ("Louder", "Raises the level by 6 dB."),
}

#: processor type -> what the node does, for the heading of its controls
NODE_TITLES = {
    "Butterworth": "Rumble filter", "Compressor": "Level evening", "DeClick": "Click removal",
    "DeClip": "Overload repair", "DeHum": "Hum removal", "Gain": "Level",
    "Limiter": "Peak limiter", "NeuralEnhancer": "AI noise removal",
    "ParametricEQ": "Voice clarity", "SpectralGate": "Noise gate", "Wiener": "Noise reduction",
    "BandwidthExtender": "Treble restoration", "Repair": "Dropout repair",
}

#: (type, param) -> (label, help in plain words)
LABELS: dict[tuple[str, str], tuple[str, str]] = {
    ("Butterworth", "cutoff_hz"): ("Cut rumble below", "low sounds under this pitch are removed"),
    ("Repair", "max_ms"): ("Longest gap filled", "longer silences are kept (pauses, track gaps)"),
    ("Repair", "min_ms"): ("Shortest gap", ""),
    ("Repair", "short_ms"): ("Simple repair up to", ""),
    ("Repair", "method"): ("Method", ""),
    ("Repair", "silence_db"): ("Silence level", ""),
    ("Butterworth", "high_hz"): ("Upper edge", "only for band filters"),
    ("Butterworth", "order"): ("Steepness", "higher cuts more sharply"),
    ("Butterworth", "mode"): ("Filter type", ""),
    ("Compressor", "ratio"): ("Evening out", "1 leaves the level alone; higher makes loud and "
                              "quiet parts closer"),
    ("Compressor", "threshold_db"): ("Starts at", "level where evening out begins"),
    ("Compressor", "makeup_db"): ("Make-up gain", "level added after evening out"),
    ("Compressor", "knee_db"): ("Softness", ""),
    ("Compressor", "attack_ms"): ("Attack", ""),
    ("Compressor", "release_ms"): ("Release", ""),
    ("DeClick", "threshold"): ("Click threshold", "lower finds more clicks, but may dull "
                               "consonants"),
    ("DeClick", "max_click_ms"): ("Longest click", ""),
    ("DeClip", "clip_level"): ("Overload level", "auto finds it; set it only when you know "
                               "where the recording was cut off (1.0 = full scale)"),
    ("DeClip", "tolerance_db"): ("Tolerance", "how far below that level still counts"),
    ("DeClip", "max_run_ms"): ("Longest repair", ""),
    ("DeClip", "headroom_db"): ("Headroom", "level lowered so repaired peaks fit"),
    ("DeHum", "freq_hz"): ("Hum pitch", "auto finds 50 or 60 Hz mains hum"),
    ("DeHum", "harmonics"): ("Overtones removed", ""),
    ("DeHum", "bandwidth_hz"): ("Removal width", "narrower averages longer and spares music more"),
    ("DeHum", "depth_db"): ("Depth", ""),
    ("DeHum", "track"): ("Follow drift", "follow the hum as it drifts"),
    ("Gain", "gain_db"): ("Level change", ""),
    ("Limiter", "ceiling_db"): ("Loudest peak", "no sample goes above this"),
    ("Limiter", "lookahead_ms"): ("Look-ahead", ""),
    ("Limiter", "release_ms"): ("Release", ""),
    ("NeuralEnhancer", "atten_limit"): ("Noise removed, at most", "more removes more noise; "
                                        "less keeps more of the room"),
    ("NeuralEnhancer", "high_band_floor"): ("Treble noise floor", ""),
    ("NeuralEnhancer", "adaptive_limit"): ("Spare clean recordings", "a recording with hardly "
                                           "any noise passes almost untouched"),
    ("ParametricEQ", "gain_db"): ("Clarity boost", "lifts the part of the voice that carries "
                                  "words"),
    ("ParametricEQ", "freq_hz"): ("Clarity pitch", ""),
    ("ParametricEQ", "q"): ("Width", ""),
    ("ParametricEQ", "type"): ("Shape", ""),
    ("SpectralGate", "reduction_db"): ("Noise reduction", ""),
    ("BandwidthExtender", "gain_db"): ("Treble amount", "how loud the rebuilt treble is; "
                                       "0 matches the band below the cut-off"),
    ("BandwidthExtender", "mode"): ("Method", "model: the trained network; folding: a simple "
                                    "copy of the band below, shaped to fit"),
    ("BandwidthExtender", "min_cutoff_hz"): ("Lowest cut-off", "a cut-off found below this "
                                             "is ignored"),
    ("BandwidthExtender", "max_cutoff_hz"): ("Highest cut-off", "above this the recording "
                                             "counts as full band and passes unchanged"),
    ("BandwidthExtender", "drop_db"): ("Cut-off depth", "how far the level must fall to "
                                       "count as a cut-off"),
    ("BandwidthExtender", "detect_ms"): ("Detection time", "audio listened to before the "
                                         "cut-off is decided"),
    ("BandwidthExtender", "noise"): ("Noise share", "how much of the rebuilt treble is noise "
                                     "rather than copied harmonics"),
    ("BandwidthExtender", "harmonic"): ("Keep overtones in tune", "the rebuilt treble "
                                        "continues a voice's or an instrument's overtones"),
    ("BandwidthExtender", "fold_offset_db"): ("Folding level drop", "only for folding"),
    ("Wiener", "floor_db"): ("Noise reduction", "lower removes more noise, but too low can "
                             "sound watery"),
    ("Wiener", "strength"): ("Strength", ""),
}

#: (type, param) -> (low, high, step): the slider's range and step, and the server's clamp.
#: Chosen so that any value in it gives a usable result.
GUARDS: dict[tuple[str, str], tuple[float, float, float]] = {
    ("Repair", "max_ms"): (5.0, 250.0, 5.0),
    ("Butterworth", "cutoff_hz"): (20.0, 300.0, 5.0),
    ("Butterworth", "high_hz"): (1000.0, 20000.0, 100.0),
    ("Butterworth", "order"): (1, 8, 1),
    ("Compressor", "ratio"): (1.0, 8.0, 0.1),
    ("Compressor", "threshold_db"): (-40.0, 0.0, 0.5),
    ("Compressor", "makeup_db"): (-6.0, 12.0, 0.5),
    ("Compressor", "knee_db"): (0.0, 12.0, 0.5),
    ("Compressor", "attack_ms"): (0.5, 100.0, 0.5),
    ("Compressor", "release_ms"): (20.0, 1000.0, 10.0),
    ("DeClick", "threshold"): (4.0, 20.0, 0.5),
    ("DeClick", "max_click_ms"): (0.2, 3.0, 0.1),
    ("DeClip", "clip_level"): (0.25, 1.0, 0.01),
    ("DeClip", "tolerance_db"): (0.0, 1.0, 0.01),
    ("DeClip", "max_run_ms"): (0.5, 8.0, 0.1),
    ("DeClip", "headroom_db"): (-12.0, 0.0, 0.5),
    ("DeHum", "freq_hz"): (40.0, 70.0, 0.1),
    ("DeHum", "harmonics"): (1, 160, 1),
    ("DeHum", "bandwidth_hz"): (0.02, 1.0, 0.01),
    ("DeHum", "depth_db"): (0.0, 60.0, 1.0),
    ("Gain", "gain_db"): (-24.0, 24.0, 0.5),
    ("Limiter", "ceiling_db"): (-12.0, 0.0, 0.1),
    ("Limiter", "lookahead_ms"): (0.5, 10.0, 0.1),
    ("Limiter", "release_ms"): (10.0, 1000.0, 5.0),
    ("NeuralEnhancer", "atten_limit"): (3.0, 40.0, 1.0),
    ("NeuralEnhancer", "high_band_floor"): (-40.0, 0.0, 1.0),
    ("ParametricEQ", "gain_db"): (-6.0, 6.0, 0.5),
    ("ParametricEQ", "freq_hz"): (1000.0, 10000.0, 100.0),
    ("ParametricEQ", "q"): (0.3, 4.0, 0.05),
    ("SpectralGate", "reduction_db"): (0.0, 40.0, 1.0),
    ("Wiener", "floor_db"): (-40.0, -3.0, 0.5),
    ("Wiener", "strength"): (0.25, 2.0, 0.05),
    ("Wiener", "dd_alpha"): (0.8, 0.99, 0.005),
    ("BandwidthExtender", "gain_db"): (-12.0, 6.0, 0.5),
    ("BandwidthExtender", "min_cutoff_hz"): (1000.0, 20000.0, 100.0),
    ("BandwidthExtender", "max_cutoff_hz"): (2000.0, 22000.0, 100.0),
    ("BandwidthExtender", "drop_db"): (10.0, 80.0, 1.0),
    ("BandwidthExtender", "detect_ms"): (50.0, 10000.0, 50.0),
    ("BandwidthExtender", "noise"): (0.0, 1.0, 0.05),
    ("BandwidthExtender", "fold_offset_db"): (0.0, 40.0, 1.0),
}

#: (type, param) whose 0 means "find it automatically" -> the value the page starts from when
#: a person switches "auto" off
AUTO = {("DeClip", "clip_level"): 1.0, ("DeHum", "freq_hz"): 50.0}

#: a number beyond this is refused before any processor sees it
MAX_ABS = 1e9


#: used only while no preset ships (development): a plain level change.
FALLBACK = "level"

#: the preset that analyses the input and builds its chain when the job runs
#: (``aural.engine.auto``); it has no controls of its own on the page
AUTO_PRESET = "auto"


class CatalogError(ValueError):
    """A preset name or parameter the page cannot use (message is shown to the user)."""


def _presets_module():
    try:
        from aural.engine import presets
    except ImportError:  # pragma: no cover - the presets module ships with aural
        return None
    return presets


def _auto_available() -> bool:
    try:
        from aural.engine import auto  # noqa: F401
    except ImportError:  # pragma: no cover - ships with aural
        return False
    return True


def preset_names() -> list[str]:
    """Shipped and saved presets, plus ``auto`` (analyse, then build)."""
    mod = _presets_module()
    names = list(mod.list_presets()) if mod is not None else []
    if not names:
        return [FALLBACK]
    return names + ([AUTO_PRESET] if AUTO_PRESET not in names and _auto_available() else [])


def _load(name: str) -> tuple[Chain, str, list[str] | None]:
    if name == AUTO_PRESET:  # built per file when the job runs; validated as an empty chain
        return Chain([], name=AUTO_PRESET), ("analyses the input (hum, clicks, clipping, noise, "
                                      "content) and builds the chain that repairs what it "
                                      "found; clean input passes unchanged"), None
    mod = _presets_module()
    if name == FALLBACK and (mod is None or not mod.list_presets()):
        from aural.engine.processors import Gain
        return Chain([Gain(name="level", gain_db=6.0)], name="level"), "Raise the level by 6 dB", None
    d = mod.read_preset(name)
    controls = d.get("controls")
    if controls is not None and not (isinstance(controls, list)
                                     and all(isinstance(c, str) for c in controls)):
        controls = None
    return mod.load_preset(name), str(d.get("description", "")), controls


def _num(v: float) -> float | None:
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def _words(name: str) -> str:
    """'high_band_floor' -> 'High band floor' (for parameters without a label)."""
    s = name.replace("_", " ").strip()
    for unit in (" db", " hz", " ms"):
        if s.endswith(unit):
            s = s[: -len(unit)]
    return s[:1].upper() + s[1:]


def preset_info(name: str, technical: str = "") -> tuple[str, str]:
    """(title, plain description) of a preset; unknown ones get words made from their name
    and the first clause of their own description, without its parenthesised details."""
    if name in PRESET_INFO:
        return PRESET_INFO[name]
    import re
    first = re.sub(r"\s*\([^)]*\)", "", technical.split(";")[0]).strip()
    return _words(name), (first[:1].upper() + first[1:]) if first else ""


def _order(name: str) -> tuple[int, str]:
    keys = list(PRESET_INFO)
    return (keys.index(name) if name in keys else len(keys), name)


def guard(type_name: str, param: str) -> tuple[float, float, float] | None:
    """The safe (low, high, step) of a parameter, or None."""
    return GUARDS.get((type_name, param))


def _controls(chain: Chain, wanted: list[str] | None) -> list[dict]:
    out = []
    for path, node in chain.nodes():
        if isinstance(node, Chain):
            continue
        tname = type(node).__name__
        bypass = f"{path}.bypass"
        out.append({"name": "bypass", "kind": "bool", "unit": "", "min": 0.0, "max": 1.0,
                    "default": False, "doc": f"skip {path}", "address": bypass,
                    "node": path, "type": tname, "scale": "linear",
                    "value": node.bypass, "main": True, "label": "On",
                    "node_title": NODE_TITLES.get(tname, _words(path))})
        specs = node.param_specs()
        main = MAIN.get(tname)
        if main is None:
            main = tuple(p.name for p in specs if p.kind in ("float", "int"))[:2]
        for p in specs:
            addr = f"{path}.{p.name}"
            d = p.describe()
            label, hint = LABELS.get((tname, p.name), (_words(p.name), ""))
            d.update(address=addr, node=path, type=tname, scale=p.scale,
                     value=node.get(p.name), min=_num(d["min"]), max=_num(d["max"]),
                     main=(addr in wanted) if wanted is not None else p.name in main,
                     label=label, help=hint, node_title=NODE_TITLES.get(tname, _words(path)),
                     auto=(tname, p.name) in AUTO, manual=AUTO.get((tname, p.name)),
                     display_unit="" if p.unit in ("sigma", "x") else p.unit)
            g = guard(tname, p.name)
            if g is not None and p.kind in ("float", "int"):
                lo, hi, step = g
                if d["min"] is not None:
                    lo = max(lo, d["min"])
                if d["max"] is not None:
                    hi = min(hi, d["max"])
                d.update(min=lo, max=hi, step=step, guarded=True)
            out.append(d)
    return out


_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


def describe_presets() -> list[dict]:
    """[{name, title, description, technical, controls: [...]}] for every offered preset, the
    most used first (cached per name list)."""
    names = sorted(preset_names(), key=_order)
    key = "\0".join(names)
    with _cache_lock:
        if _cache.get("key") == key:
            return _cache["value"]
    out = []
    for n in names:
        try:
            chain, desc, wanted = _load(n)
        except Exception as e:  # noqa: BLE001 - a broken preset is listed, not a crashed page
            title, plain = preset_info(n)
            out.append({"name": n, "title": title, "description": "This preset cannot be "
                        "loaded on this server.", "technical": "", "controls": [],
                        "error": str(e)})
            continue
        title, plain = preset_info(n, desc)
        out.append({"name": n, "title": title, "description": plain, "technical": desc,
                    "controls": _controls(chain, wanted)})
    with _cache_lock:
        _cache["key"], _cache["value"] = key, out
    return out


def build_chain(name: Any, params: Any = None) -> Processor:
    """A fresh chain of the shipped preset ``name`` with ``params`` ({address: value}) applied.
    For ``auto`` an empty Chain (the settings are only checked: it is built per file).

    Raises :class:`CatalogError` with a message for the page."""
    if not isinstance(name, str) or name not in preset_names():
        raise CatalogError(f"Unknown preset {str(name)[:60]!r}. Choose one of: "
                           f"{', '.join(preset_names())}.")
    try:
        chain = _load(name)[0]
    except Exception as e:  # noqa: BLE001 - any loader failure becomes a message
        raise CatalogError(f"Preset {name!r} cannot be loaded: {e}") from None
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise CatalogError("Parameters must be an object of {\"node.param\": value}.")
    if len(params) > 500:
        raise CatalogError("Too many parameters.")
    for addr, value in params.items():
        if not isinstance(addr, str) or "." not in addr or len(addr) > 200:
            raise CatalogError(f"Bad parameter name {str(addr)[:60]!r}: use node.param.")
        if isinstance(value, (dict, list)) or value is None:
            raise CatalogError(f"Parameter {addr}: {str(value)[:40]} is not a value.")
        if isinstance(value, float) and not math.isfinite(value):
            raise CatalogError(f"Parameter {addr}: {value!r} is not a finite number.")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ABS:
            raise CatalogError(f"Parameter {addr}: the number is out of range.")
        if isinstance(value, float) and abs(value) > MAX_ABS:
            raise CatalogError(f"Parameter {addr}: the number is out of range.")
        if name == AUTO_PRESET:
            continue  # applied to the nodes the analysis builds, when the job runs
        try:
            _set_guarded(chain, addr, value)
        except ParamError as e:
            raise CatalogError(f"Parameter {addr}: {e}") from None
        except (OverflowError, ValueError, TypeError) as e:
            raise CatalogError(f"Parameter {addr}: {str(e)[:80]}") from None
    return chain


def effective_params(chain: Processor, params: dict, preset: str | None = None) -> dict:
    """{address: the value the chain now holds} for the addresses in ``params`` (after the
    guards clamped them): what a job records and the page shows.  For ``auto`` the chain is
    built per file, so the settings are kept as sent (applied to the nodes it builds)."""
    if preset == AUTO_PRESET:
        return dict(params)
    out = {}
    for addr in params:
        v = chain.get(addr)
        out[addr] = v if isinstance(v, (bool, int, float, str)) else str(v)
    return out


def _set_guarded(chain: Processor, addr: str, value: Any) -> None:
    """Set one parameter; numbers must lie in the processor's range and are clamped to the
    guard range (0 stays 0 where it means auto)."""
    node_path, _, pname = addr.rpartition(".")
    node = _node(chain, node_path)
    spec = None
    if node is not None and pname != "bypass":
        spec = next((p for p in node.param_specs() if p.name == pname), None)
    if spec is not None and spec.kind in ("float", "int"):
        if isinstance(value, bool):
            raise ParamError(f"{value!r} is not a number")
        if isinstance(value, (int, float)):
            lo, hi = spec.range
            if not lo <= value <= hi:
                unit = f" {spec.unit}" if spec.unit else ""
                raise ParamError(f"{value:g} is out of range ({lo:g} to {hi:g}{unit})")
            key = (type(node).__name__, pname)
            g = GUARDS.get(key)
            if g is not None and not (key in AUTO and value == 0):
                value = min(max(value, g[0]), g[1])
    chain.set(addr, value)


def _node(chain: Processor, path: str) -> Processor | None:
    if not isinstance(chain, Chain):
        return chain if path == getattr(chain, "name", None) else None
    for p, node in chain.nodes():
        if p == path:
            return node
    return None
