"""aural.engine: the block-streaming core (processors, graphs, STFT, Numba kernels, DSP).

Names are imported on first use (PEP 562): ``import aural.engine.io`` or
``aural.engine.params`` does not compile or even import Numba; ``from aural.engine import
Chain`` imports the graph (and its kernels) then.
"""
from __future__ import annotations

import importlib

#: public name -> submodule that defines it
_LAZY: dict[str, str] = {
    "Chain": "graph", "Mix": "graph", "as_node": "graph",
    "HopProcessor": "hop",
    "Param": "params", "ParamError": "params", "ParamQueue": "params",
    "REGISTRY": "processor", "Processor": "processor", "register": "processor",
    "Stream": "processor",
    "Stft": "stft",
}

__all__ = ["Chain", "Mix", "as_node", "HopProcessor", "Param", "ParamError", "ParamQueue",
           "REGISTRY", "Processor", "register", "Stream", "Stft"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
