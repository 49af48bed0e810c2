"""The presets the page offers and the controls each one exposes.

Only the shipped presets (``aural.engine.presets.list_presets()``) can be named by a request:
:func:`build_chain` refuses any other string before the preset loader sees it, because the
loader also accepts file paths, and no path from a user may touch the file system.

Controls are the typed parameters of the preset's nodes, addressed ``node.param`` (the same
addresses as ``aural enhance --set``), plus each node's ``bypass``.  Every control is offered;
the ``main`` ones are shown first on the page (the rest behind "all settings"): a preset's
top-level ``"controls"`` list of addresses when it has one, else the parameters in :data:`MAIN`
for the node's type, else the first two numeric parameters of an unknown type.
"""
from __future__ import annotations

import math
import threading
from typing import Any

from aural.engine import Chain, ParamError, Processor

__all__ = ["FALLBACK", "CatalogError", "build_chain", "describe_presets", "preset_names"]

#: processor type -> the parameters a person most often adjusts
MAIN = {
    "Butterworth": ("cutoff_hz",),
    "Compressor": ("threshold_db", "ratio", "makeup_db"),
    "DeClick": ("threshold",),
    "Gain": ("gain_db",),
    "Limiter": ("ceiling_db",),
    "ParametricEQ": ("freq_hz", "gain_db"),
    "SpectralGate": ("reduction_db", "threshold_db"),
    "Wiener": ("floor_db", "strength"),
}

#: used only while no preset ships (development): a plain level change.
FALLBACK = "level"


class CatalogError(ValueError):
    """A preset name or parameter the page cannot use (message is shown to the user)."""


def _presets_module():
    try:
        from aural.engine import presets
    except ImportError:  # pragma: no cover - the presets module ships with aural
        return None
    return presets


def preset_names() -> list[str]:
    mod = _presets_module()
    names = list(mod.list_presets()) if mod is not None else []
    return names or [FALLBACK]


def _load(name: str) -> tuple[Chain, str, list[str] | None]:
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


def _controls(chain: Chain, wanted: list[str] | None) -> list[dict]:
    out = []
    for path, node in chain.nodes():
        if isinstance(node, Chain):
            continue
        bypass = f"{path}.bypass"
        out.append({"name": "bypass", "kind": "bool", "unit": "", "min": 0.0, "max": 1.0,
                    "default": False, "doc": f"skip {path}", "address": bypass,
                    "node": path, "type": type(node).__name__, "scale": "linear",
                    "value": node.bypass, "main": True})
        specs = node.param_specs()
        main = MAIN.get(type(node).__name__)
        if main is None:
            main = tuple(p.name for p in specs if p.kind in ("float", "int"))[:2]
        for p in specs:
            addr = f"{path}.{p.name}"
            d = p.describe()
            d.update(address=addr, node=path, type=type(node).__name__, scale=p.scale,
                     value=node.get(p.name), min=_num(d["min"]), max=_num(d["max"]),
                     main=(addr in wanted) if wanted is not None else p.name in main)
            out.append(d)
    return out


_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


def describe_presets() -> list[dict]:
    """[{name, description, controls: [...]}] for every offered preset (cached per name list)."""
    names = preset_names()
    key = "\0".join(names)
    with _cache_lock:
        if _cache.get("key") == key:
            return _cache["value"]
    out = []
    for n in names:
        try:
            chain, desc, wanted = _load(n)
        except Exception as e:  # noqa: BLE001 - a broken preset is listed, not a crashed page
            out.append({"name": n, "description": f"(cannot load: {e})", "controls": [],
                        "error": str(e)})
            continue
        out.append({"name": n, "description": desc, "controls": _controls(chain, wanted)})
    with _cache_lock:
        _cache["key"], _cache["value"] = key, out
    return out


def build_chain(name: Any, params: Any = None) -> Processor:
    """A fresh chain of the shipped preset ``name`` with ``params`` ({address: value}) applied.

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
            raise CatalogError(f"Parameter {addr}: {value!r} is not a value.")
        if isinstance(value, float) and not math.isfinite(value):
            raise CatalogError(f"Parameter {addr}: {value!r} is not a finite number.")
        try:
            chain.set(addr, value)
        except ParamError as e:
            raise CatalogError(f"Parameter {addr}: {e}") from None
    return chain
