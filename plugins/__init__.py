"""aural.plugins: the pedalboard bridge.

Any pedalboard object - a built-in (``pedalboard.Compressor()``), a whole
``pedalboard.Pedalboard([...])`` or a VST3 from ``pedalboard.load_plugin(path)`` - can be a node
of an aural :class:`~aural.engine.Chain` or :class:`~aural.engine.Mix`: the graph wraps it in a
:class:`PedalboardNode` (through :func:`wrap`), which streams it block by block with its latency
measured and aligned, and exposes its parameters as aural parameters::

    import pedalboard
    from aural.engine import Chain
    chain = Chain([pedalboard.HighpassFilter(80), Wiener(), pedalboard.Compressor(-20, 4)])
    chain.set("compressor.threshold_db", -24)
    y = chain(audio, 48000)                       # pedalboard's call convention

VST3s by path or name: :func:`load_vst3` (a node) and :func:`load_plugin` (the pedalboard object).
"""
from .pedalboard_node import (
    BUFFER_SIZE,
    DEFAULTS,
    ERRORS,
    PedalboardNode,
    PluginError,
    build_plugin,
    describe_plugin,
    errors,
    raise_errors,
    wrap,
)
from .vst3 import (
    PROJECT_VST3_DIR,
    find_vst3,
    list_vst3,
    load_plugin,
    load_vst3,
    search_dirs,
)

__all__ = [
    "BUFFER_SIZE",
    "DEFAULTS",
    "ERRORS",
    "PROJECT_VST3_DIR",
    "PedalboardNode",
    "PluginError",
    "as_node",
    "build_plugin",
    "describe_plugin",
    "errors",
    "find_vst3",
    "list_vst3",
    "load_plugin",
    "load_vst3",
    "raise_errors",
    "search_dirs",
    "wrap",
]


def as_node(obj):
    """``obj`` as an aural node (aural processors pass through, pedalboard objects are wrapped)."""
    from aural.engine.graph import as_node as _as_node
    return _as_node(obj)
