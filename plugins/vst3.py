"""Finding and loading external (VST3) plugins.

A plugin may be named by a path to its ``.vst3`` bundle, by the bundle's name
(``DragonflyPlateReverb`` or ``DragonflyPlateReverb.vst3``), or by its display name
(``Dragonfly Plate Reverb``).  Names are looked up in :func:`search_dirs`, in this order:

1. ``$AURAL_VST3_PATH`` (folders separated by ``os.pathsep``);
2. the project's own folder ``build/vst3/usr/lib/vst3`` (filled by
   ``scripts/setup.d/30-vst3.sh``, which installs a real VST3 for the tests);
3. ``$VST3_PATH``, ``~/.vst3``, ``/usr/local/lib/vst3``, ``/usr/lib/vst3`` (the Linux defaults).

Presets store the path a plugin was loaded from; if that path does not exist on another machine,
the bundle's name is looked up in the same folders, so presets move between machines.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .pedalboard_node import PedalboardNode, PluginError

__all__ = [
    "PROJECT_VST3_DIR",
    "find_vst3",
    "list_vst3",
    "load_plugin",
    "load_vst3",
    "path_of",
    "search_dirs",
]

#: where scripts/setup.d/30-vst3.sh extracts the test plugins.
PROJECT_VST3_DIR = Path(__file__).resolve().parent.parent / "build" / "vst3" / "usr" / "lib" / "vst3"


def search_dirs() -> list[Path]:
    """Folders searched for ``.vst3`` bundles, in order (existing ones only)."""
    dirs: list[Path] = []
    for var in ("AURAL_VST3_PATH",):
        dirs += [Path(p) for p in os.environ.get(var, "").split(os.pathsep) if p]
    dirs.append(PROJECT_VST3_DIR)
    dirs += [Path(p) for p in os.environ.get("VST3_PATH", "").split(os.pathsep) if p]
    dirs += [Path.home() / ".vst3", Path("/usr/local/lib/vst3"), Path("/usr/lib/vst3")]
    seen, out = set(), []
    for d in dirs:
        key = str(d)
        if key not in seen and d.is_dir():
            seen.add(key)
            out.append(d)
    return out


def list_vst3() -> list[Path]:
    """Every ``.vst3`` bundle in :func:`search_dirs`."""
    out = []
    for d in search_dirs():
        out += sorted(p for p in d.iterdir() if p.suffix == ".vst3")
    return out


def _norm(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


def find_vst3(name: str | os.PathLike) -> Path:
    """The bundle for a path, bundle name or display name; :class:`PluginError` if none."""
    p = Path(os.path.expanduser(os.fspath(name)))
    if p.exists():
        return p
    want = _norm(p.name.removesuffix(".vst3"))
    bundles = list_vst3()
    for b in bundles:  # bundle name
        if _norm(b.stem) == want:
            return b
    for b in bundles:  # display name(s) inside a bundle
        try:
            import pedalboard
            names = pedalboard.VST3Plugin.get_plugin_names_for_file(str(b))
        except Exception:  # noqa: BLE001 - an unreadable bundle is just not a match
            continue
        if any(_norm(n) == want for n in names):
            return b
    where = ", ".join(str(d) for d in search_dirs()) or "no VST3 folder exists"
    raise PluginError(f"VST3 plugin {os.fspath(name)!r} not found (looked in: {where}; "
                      f"set AURAL_VST3_PATH, or run scripts/setup.d/30-vst3.sh for the test plugin)")


def load_plugin(name: str | os.PathLike, plugin_name: str | None = None, *,
                with_path: bool = False) -> Any:
    """``pedalboard.load_plugin`` with lookup by name and an error that names the plugin.

    Returns the pedalboard plugin (and its resolved path when ``with_path``)."""
    import pedalboard
    path = find_vst3(name)
    try:
        plugin = pedalboard.load_plugin(str(path), plugin_name=plugin_name)
    except Exception as e:
        raise PluginError(f"cannot load plugin {os.fspath(name)!r} from {path}: "
                          f"{type(e).__name__}: {e}") from e
    return (plugin, str(path)) if with_path else plugin


def load_vst3(name: str | os.PathLike, plugin_name: str | None = None, *,
              node_name: str | None = None, **kw: Any) -> PedalboardNode:
    """Load a VST3 and return it as a graph node; ``kw`` go to :class:`PedalboardNode`
    (parameter values such as ``decay_s=2.0``, ``hop=``, ``on_error=`` ...)."""
    plugin, path = load_plugin(name, plugin_name, with_path=True)
    return PedalboardNode(plugin, name=node_name, path=path, **kw)


_PATH_CACHE: dict[str, str] = {}


def path_of(plugin: Any) -> str | None:
    """Best guess of the bundle a loaded VST3 came from (by its display name), for presets."""
    name = getattr(plugin, "name", None)
    if not name:
        return None
    if name in _PATH_CACHE:
        return _PATH_CACHE[name]
    try:
        p = str(find_vst3(name))
    except PluginError:
        return None
    _PATH_CACHE[name] = p
    return p
