"""aural: real-time audio enhancement and restoration.

    import aural
    chain = aural.load_preset("voice")
    clean = chain(noisy, 48000)          # float32, channels-first, latency-compensated
    chain.set("presence.gain_db", 3)

Every processor class (``aural.Wiener``, ``aural.Limiter``, ``aural.NeuralEnhancer``,
``aural.PedalboardNode``, ...; the list is ``aural.PROCESSORS``) and the graphs ``aural.Chain`` /
``aural.Mix`` are importable from here; ``aural.read_audio`` / ``aural.write_audio`` read and
write files.  The sub-packages are ``aural.engine``, ``aural.models``, ``aural.plugins``,
``aural.realtime`` and ``aural.web``.

Everything is imported on first use (PEP 562), so ``import aural`` (and the ``aural`` command's
start-up) costs neither Numba, SciPy, onnxruntime nor pedalboard.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "Chain": "aural.engine.graph",
    "Mix": "aural.engine.graph",
    "Param": "aural.engine.params",
    "ParamError": "aural.engine.params",
    "Processor": "aural.engine.processor",
    "register": "aural.engine.processor",
    "Stream": "aural.engine.processor",
    "AudioFileError": "aural.engine.io",
    "read_audio": "aural.engine.io",
    "write_audio": "aural.engine.io",
    "PresetError": "aural.engine.presets",
    "from_dict": "aural.engine.presets",
    "list_presets": "aural.engine.presets",
    "load_preset": "aural.engine.presets",
}

#: processors outside the DSP engine (optional dependencies: onnxruntime, pedalboard)
_OPTIONAL_PROCESSORS: dict[str, str] = {
    "NeuralEnhancer": "aural.models.enhancer",
    "PedalboardNode": "aural.plugins.pedalboard_node",
}

#: sub-packages reachable as attributes after a plain ``import aural``
_SUBPACKAGES = ("cli", "engine", "models", "plugins", "realtime", "web")

_BASE_ALL = ["Chain", "Mix", "Param", "ParamError", "Processor", "register", "Stream", "AudioFileError",
             "read_audio", "write_audio", "PresetError", "from_dict", "list_presets",
             "load_preset", "PROCESSORS", "__version__"]


def _dsp_processors() -> dict[str, str]:
    """Every Processor class of :mod:`aural.engine.processors`: name -> its module."""
    from aural.engine import processors
    from aural.engine.processor import Processor

    return {n: getattr(processors, n).__module__ for n in processors.__all__
            if isinstance(getattr(processors, n), type)
            and issubclass(getattr(processors, n), Processor)}


def _processor_names() -> list[str]:
    return sorted(set(_dsp_processors()) | set(_OPTIONAL_PROCESSORS))


def __getattr__(name: str):
    if name == "PROCESSORS":
        value = _processor_names()
    elif name == "__all__":
        value = _BASE_ALL + _processor_names()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _OPTIONAL_PROCESSORS:
        value = getattr(importlib.import_module(_OPTIONAL_PROCESSORS[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    elif not name.startswith("_") and name in _dsp_processors():
        value = getattr(importlib.import_module("aural.engine.processors"), name)
    else:
        raise AttributeError(f"module 'aural' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_BASE_ALL) | set(_SUBPACKAGES) | set(_processor_names()))
