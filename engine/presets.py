"""Presets: processor graphs described in JSON.

A preset is the ``to_dict()`` form of a graph, with an optional one-line ``description``::

    {"description": "live microphone voice",
     "type": "Chain", "name": "voice",
     "nodes": [
        {"type": "Butterworth", "name": "highpass", "params": {"mode": "highpass", "cutoff_hz": 80}},
        {"type": "Wiener", "params": {"floor_db": -22}, "mix": 0.9},
        {"type": "Mix", "gains_db": [0, -6], "branches": [{"type": "Gain"}, {"type": "Gain"}]}
     ]}

Node keys: ``type`` (a class registered with :func:`aural.engine.register`), ``name``,
``params``, ``bypass``, ``mix``; a ``Chain`` has ``nodes``, a ``Mix`` has ``branches`` and
``gains_db``.  Anything else is an error that names the key and the node.

The user preset store is one directory, :func:`user_preset_dir` (``$AURAL_PRESET_DIR``, else
``$XDG_CONFIG_HOME/aural/presets``, else ``~/.config/aural/presets``): what OSC's
``/aural/preset/save`` writes loads by name everywhere (``aural enhance -p``, ``aural live
--preset``, the web page, :func:`load_preset`).  A name is looked up in the shipped presets first,
then in the store.

Optional node types (the ONNX neural enhancer, hosted pedalboard plugins) live outside the engine
core: :data:`OPTIONAL_TYPES` maps each to the module that registers it, imported only when a
preset names that type.  When that import fails the preset's error names the node, the missing
dependency and the import error (raised ``from`` it).

    chain = load_preset("voice")             # shipped name, user preset name, or a .json path
    save_user_preset(chain, "mine")          # -> user_preset_dir()/mine.json, atomically
    list_presets()                           # shipped names, then the user store's
    chain = from_dict(json.load(f))
    chain.save("mine.json")                  # the reverse (Chain.save / Mix.save)
    apply_settings(chain, ["presence.gain_db=3", "limiter.bypass=on"])
"""
from __future__ import annotations

import importlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .graph import Chain, Mix
from .params import ParamError
from .processor import REGISTRY, Processor

__all__ = [
    "OPTIONAL_TYPES",
    "PRESET_DIR",
    "SHAPING",
    "PresetError",
    "apply_settings",
    "from_dict",
    "list_presets",
    "load_preset",
    "load_named_preset",
    "parse_setting",
    "preset_description",
    "read_preset",
    "repair_only",
    "save_user_preset",
    "shaping_only",
    "user_preset_dir",
    "valid_preset_name",
]

PRESET_DIR = Path(__file__).resolve().parent / "presets"

_COMMON_KEYS = {"type", "name", "bypass", "mix", "description", "controls"}
_KEYS = {"Chain": _COMMON_KEYS | {"nodes"}, "Mix": _COMMON_KEYS | {"branches", "gains_db"}}


#: node types that shape the sound (EQ, dynamics, gain, hosted pedalboard plugins) rather than
#: repair it; containers (Chain, Mix) are neither
SHAPING = frozenset({"Butterworth", "ParametricEQ", "Compressor", "Limiter", "Gain", "PedalboardNode"})


class PresetError(ValueError):
    """A preset that cannot be found, parsed or built.  The message is one line."""


#: optional node type -> (module that registers it, the dependency it needs); imported lazily by
#: :func:`from_dict` when a preset names the type, so ``aural.engine`` never imports
#: ``aural.models`` or ``aural.plugins`` by itself
OPTIONAL_TYPES: dict[str, tuple[str, str]] = {
    "NeuralEnhancer": ("aural.models.enhancer", "onnxruntime"),
    "BandwidthExtender": ("aural.models.bwe", "onnxruntime"),
    "DeCrackle": ("aural.models.decrackle", "onnxruntime"),
    "Pedalboard": ("aural.plugins.pedalboard_node", "pedalboard"),
    "PedalboardNode": ("aural.plugins.pedalboard_node", "pedalboard"),
}


def _registry() -> dict[str, type]:
    import aural.engine.processors  # noqa: F401 - the engine's own node types register here
    return REGISTRY


def _optional_type(kind: str, label: str) -> type | None:
    """Import the module of an optional node type; None if ``kind`` is not one.

    Raises PresetError naming the node and the dependency, ``from`` the import error."""
    spec = OPTIONAL_TYPES.get(kind)
    if spec is None:
        return None
    module, dep = spec
    try:
        importlib.import_module(module)
    except Exception as e:  # ImportError, or a broken native library raising anything else
        raise PresetError(f"node {label!r}: {kind} needs {dep}, which failed to import: "
                          f"{type(e).__name__}: {e}") from e
    return REGISTRY.get(kind)


def from_dict(d: dict, where: str = "preset") -> Processor:
    """Build a processor (usually a Chain) from its ``to_dict()`` form.

    Raises :class:`PresetError` naming the node for an unknown type, key or parameter."""
    if not isinstance(d, dict):
        raise PresetError(f"{where}: a node must be a JSON object, got {type(d).__name__}")
    reg = _registry()
    kind = d.get("type")
    if kind is None:
        raise PresetError(f"{where}: node has no \"type\"")
    name = d.get("name")
    label = f"{where} > {name or kind}"
    cls = reg.get(kind)
    if cls is None and isinstance(kind, str):
        cls = _optional_type(kind, label)
    if cls is None:
        known = ", ".join(sorted(set(reg) | set(OPTIONAL_TYPES)))
        raise PresetError(f"{where}: unknown processor type {kind!r} (known: {known})")
    hook = getattr(cls, "from_dict", None)
    if hook is not None and kind not in ("Chain", "Mix"):
        # node types with their own serialisation (hosted pedalboard plugins and VST3s)
        try:
            return hook(d)
        except (ValueError, TypeError, RuntimeError) as e:  # PluginError is a RuntimeError
            raise PresetError(f"{label}: {e}") from None
    allowed = _KEYS.get(kind, _COMMON_KEYS | {"params"})
    extra = sorted(set(d) - allowed)
    if extra:
        raise PresetError(f"{label}: unknown key {extra[0]!r} for a {kind} node "
                          f"(allowed: {', '.join(sorted(allowed - {'description'}))})")
    kw: dict[str, Any] = {}
    if name is not None:
        if not isinstance(name, str) or not name or "." in name or "/" in name:
            raise PresetError(f"{label}: name must be a non-empty string without '.' or '/'")
        kw["name"] = name
    if "bypass" in d:
        if not isinstance(d["bypass"], bool):
            raise PresetError(f"{label}: bypass must be true or false")
        kw["bypass"] = d["bypass"]
    if "mix" in d:
        if isinstance(d["mix"], bool) or not isinstance(d["mix"], (int, float)) or not 0 <= d["mix"] <= 1:
            raise PresetError(f"{label}: mix must be a number from 0 to 1")
        kw["mix"] = float(d["mix"])
    try:
        if kind == "Chain":
            nodes = d.get("nodes", [])
            if not isinstance(nodes, list):
                raise PresetError(f"{label}: nodes must be a list")
            children = [from_dict(n, label) for n in nodes]
            return Chain(children, **kw)
        if kind == "Mix":
            branches = d.get("branches", [])
            if not isinstance(branches, list):
                raise PresetError(f"{label}: branches must be a list")
            children = [from_dict(b, label) for b in branches]
            gains = d.get("gains_db")
            if gains is not None and (not isinstance(gains, list) or len(gains) != len(children)):
                raise PresetError(f"{label}: gains_db must be a list with one gain per branch")
            return Mix(children, gains_db=gains, **kw)
        params = d.get("params", {})
        if not isinstance(params, dict):
            raise PresetError(f"{label}: params must be an object")
        return cls(**kw, **params)
    except PresetError:
        raise
    except ParamError as e:
        raise PresetError(f"{label}: {e}") from None
    except (TypeError, ValueError) as e:
        raise PresetError(f"{label}: {e}") from None


_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_preset_name(name: object) -> bool:
    """True for a store name: 1-64 of ``A-Z a-z 0-9 _ -`` (no dot, no slash: never a path)."""
    return isinstance(name, str) and _NAME.match(name) is not None


def user_preset_dir() -> Path:
    """The user preset store: ``$AURAL_PRESET_DIR``, else ``$XDG_CONFIG_HOME/aural/presets``,
    else ``~/.config/aural/presets`` (read from the environment at each call; may not exist)."""
    d = os.environ.get("AURAL_PRESET_DIR")
    if d:
        return Path(d).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "aural" / "presets"


def _shipped() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def _user() -> list[str]:
    try:
        return sorted(p.stem for p in user_preset_dir().glob("*.json")
                      if valid_preset_name(p.stem) and p.is_file())
    except OSError:
        return []


def list_presets() -> list[str]:
    """Names of the shipped presets, then those of the user store (a user preset named like a
    shipped one is shadowed and not listed twice)."""
    shipped = _shipped()
    seen = set(shipped)
    return shipped + [n for n in _user() if n not in seen]


def save_user_preset(graph: Processor, name: str) -> Path:
    """Write ``graph.to_dict()`` to ``user_preset_dir()/<name>.json`` atomically (temp file in the
    same directory, then ``os.replace``); returns the path.  A shipped name is refused."""
    if not valid_preset_name(name):
        raise PresetError(f"bad preset name {name!r}: use 1-64 of A-Z a-z 0-9 _ -")
    if (PRESET_DIR / f"{name}.json").is_file():
        raise PresetError(f"{name!r} is a shipped preset: save under another name")
    d = user_preset_dir()
    d.mkdir(parents=True, exist_ok=True)
    text = json.dumps(graph.to_dict(), indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        path = d / f"{name}.json"
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _find_named(name: str) -> Path | None:
    for p in (PRESET_DIR / f"{name}.json", user_preset_dir() / f"{name}.json"):
        if p.is_file():
            return p
    return None


def _locate(name_or_path: str | os.PathLike) -> Path:
    s = os.fspath(name_or_path)
    p = Path(s)
    is_path = s.endswith(".json") or os.sep in s or bool(os.altsep and os.altsep in s)
    if not is_path and valid_preset_name(s):
        found = _find_named(s)
        if found is not None:
            return found
    if p.is_file():
        return p
    if is_path:
        raise PresetError(f"{s}: no such preset file")
    raise PresetError(f"unknown preset {s!r} (presets: {', '.join(list_presets()) or 'none'}; "
                      f"or give the path of a .json file)")


def read_preset(name_or_path: str | os.PathLike) -> dict:
    """The JSON object of a shipped preset name or a preset file."""
    p = _locate(name_or_path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PresetError(f"{p}: cannot read ({e})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise PresetError(f"{p}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(d, dict):
        raise PresetError(f"{p}: a preset must be a JSON object")
    return d


def preset_description(name_or_path: str | os.PathLike) -> str:
    """The preset's one-line description ('' if it has none)."""
    return str(read_preset(name_or_path).get("description", ""))


def load_named_preset(name: str) -> Chain:
    """Build a preset by NAME only (shipped, then the user store), never a path: for remote
    requests (OSC).  Errors name the preset, never a path or the file's text."""
    if not valid_preset_name(name):
        raise PresetError(f"bad preset name {name!r}: use 1-64 of A-Z a-z 0-9 _ -")
    p = _find_named(name)
    if p is None:
        raise PresetError(f"unknown preset {name!r}")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        raise PresetError(f"preset {name!r}: cannot read it") from None
    except json.JSONDecodeError as e:
        raise PresetError(f"preset {name!r}: invalid JSON at line {e.lineno} column {e.colno}") from None
    if not isinstance(d, dict):
        raise PresetError(f"preset {name!r}: a preset must be a JSON object")
    node = from_dict(d, name)
    return node if isinstance(node, Chain) else Chain([node], name=name)


def load_preset(name_or_path: str | os.PathLike) -> Chain:
    """Build the graph of a preset: a shipped name (``"voice"``, ``"music"``, ``"vinyl"``), a name
    in the user store (:func:`user_preset_dir`), or the path of a .json file.

    A preset whose top node is not a Chain is wrapped in one, so the result is always a Chain."""
    d = read_preset(name_or_path)
    where = Path(os.fspath(name_or_path)).stem
    node = from_dict(d, where)
    if not isinstance(node, Chain):
        node = Chain([node], name=where)
    return node


def parse_setting(item: str) -> tuple[str, str]:
    """Split ``"node.param=value"`` into (address, value)."""
    addr, sep, value = item.partition("=")
    addr, value = addr.strip(), value.strip()
    if not sep or not addr or not value:
        raise PresetError(f"bad setting {item!r}: expected node.param=value")
    return addr, value


def apply_settings(graph: Processor, items: Iterable[str]) -> list[tuple[str, str, Any]]:
    """Apply ``node.param=value`` settings; returns (address, given, applied) per item.

    ``applied`` differs from ``given`` when the value was clipped to the parameter's range.
    Raises :class:`PresetError` for an unknown node or parameter or a value that means nothing."""
    done = []
    for item in items:
        addr, value = parse_setting(item)
        if "." not in addr and isinstance(graph, (Chain, Mix)):
            raise PresetError(f"bad setting {item!r}: name the node, e.g. "
                              f"{next((p for p, _ in graph.nodes()), 'node')}.{addr}={value}")
        try:
            applied = graph.set(addr, value)
        except ParamError as e:
            raise PresetError(f"bad setting {item!r}: {e}") from None
        done.append((addr, value, applied))
    return done


def _bypassing(graph: Processor, shaping: bool) -> Processor:
    """A copy of ``graph`` with its shaping leaf nodes (``shaping=True``) or its repairing leaf
    nodes bypassed.  Containers (Chain, Mix) are never bypassed: their children decide."""
    copy = from_dict(graph.to_dict())
    for _, node in copy.walk():
        if not isinstance(node, (Chain, Mix)) and (type(node).__name__ in SHAPING) == shaping:
            node.bypass = True
    return copy


def shaping_only(graph: Processor) -> Processor:
    """A copy of ``graph`` with every repairing node (denoisers, de-hum, de-click, ...: any type
    not in :data:`SHAPING`) bypassed.  Bypassed nodes keep their latency, so the copy stays
    aligned with the full graph.

    Use: score a preset against a clean reference passed through ``shaping_only(chain)``, so
    that the preset's EQ and dynamics (which change the waveform on purpose) do not count as
    damage, only what the repair left or broke."""
    return _bypassing(graph, shaping=False)


def repair_only(graph: Processor) -> Processor:
    """A copy of ``graph`` with its shaping nodes (EQ, filters, dynamics: the types in
    :data:`SHAPING`) bypassed, the mirror of :func:`shaping_only`: what a preset repairs,
    scored without the waveform changes its EQ and dynamics make on purpose."""
    return _bypassing(graph, shaping=True)
