"""The DSP processors.  Each module holds one family; every name in a module's ``__all__`` is
re-exported here, so adding a module needs no edit of this file."""
from __future__ import annotations

import importlib
import pkgutil

__all__: list[str] = []
for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _m.name.startswith("_"):
        continue
    _mod = importlib.import_module(f"{__name__}.{_m.name}")
    for _name in getattr(_mod, "__all__", ()):
        globals()[_name] = getattr(_mod, _name)
        __all__.append(_name)
del _m, _mod, _name
