"""Typed parameters and the bounded queue that carries their changes to the audio thread.

A :class:`Param` declares one knob of a processor: its name, default, unit, range and how a
change is smoothed.  Values are floats (a ``choice`` parameter stores the index of its choice,
a ``bool`` stores 0.0/1.0), so the audio thread never sees anything but numbers.

Changes from other threads go through :class:`ParamQueue`: ``put`` never blocks (a full queue
refuses the change and says so), and the audio thread drains it at the start of each block.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Param", "ParamQueue", "ParamError"]


class ParamError(ValueError):
    """An unknown parameter or a value that cannot be used."""


@dataclass(frozen=True)
class Param:
    """One typed parameter.

    name: identifier used in presets, ``--set node.name=value`` and OSC addresses.
    default: value after construction (in ``unit``; for ``choice`` the choice string).
    unit: physical unit, e.g. ``"Hz"``, ``"dB"``, ``"ms"``, ``""``.
    range: inclusive (low, high); values outside are clipped.
    kind: ``"float"``, ``"int"``, ``"bool"`` or ``"choice"``.
    choices: names for a ``choice`` parameter.
    smoothing_ms: time constant used by the processor to glide to a new value (0: instant).
    doc: one line for listings.
    """

    name: str
    default: Any
    unit: str = ""
    range: tuple[float, float] = (-math.inf, math.inf)
    kind: str = "float"
    choices: tuple[str, ...] = ()
    smoothing_ms: float = 0.0
    doc: str = ""
    scale: str = field(default="linear")  # "linear" or "log": how a 0..1 control maps onto range

    def __post_init__(self) -> None:
        if self.kind not in ("float", "int", "bool", "choice"):
            raise ValueError(f"Param {self.name}: unknown kind {self.kind!r}")
        if self.kind == "choice":
            if not self.choices:
                raise ValueError(f"Param {self.name}: a choice parameter needs choices")
            object.__setattr__(self, "range", (0.0, float(len(self.choices) - 1)))
        if self.kind == "bool":
            object.__setattr__(self, "range", (0.0, 1.0))

    def coerce(self, value: Any) -> float:
        """Turn a user value (number, bool, numeric string or choice name) into the stored float,
        clipped to the range.  Raises :class:`ParamError` for values that mean nothing."""
        if self.kind == "choice":
            if isinstance(value, str):
                v = value.strip().lower()
                for i, c in enumerate(self.choices):
                    if c.lower() == v:
                        return float(i)
                try:
                    value = float(v)
                except ValueError:
                    raise ParamError(
                        f"{self.name}: {value!r} is not one of {', '.join(self.choices)}"
                    ) from None
            x = float(value)
            if not math.isfinite(x) or x != int(x) or not 0 <= x < len(self.choices):
                raise ParamError(f"{self.name}: {value!r} is not one of {', '.join(self.choices)}")
            return x
        if self.kind == "bool":
            if isinstance(value, str):
                v = value.strip().lower()
                if v in ("1", "true", "on", "yes"):
                    return 1.0
                if v in ("0", "false", "off", "no"):
                    return 0.0
                raise ParamError(f"{self.name}: {value!r} is not a boolean")
            x = float(value)
            if not math.isfinite(x):
                raise ParamError(f"{self.name}: {value!r} is not a boolean")
            return 1.0 if x >= 0.5 else 0.0
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ParamError(f"{self.name}: {value!r} is not a number") from None
        if math.isnan(x):
            raise ParamError(f"{self.name}: NaN is not a value")
        lo, hi = self.range
        x = min(max(x, lo), hi)
        if self.kind == "int":
            x = float(round(x))
        return x

    def display(self, stored: float) -> Any:
        """The user-facing form of a stored value (choice name, bool, int or float)."""
        if self.kind == "choice":
            return self.choices[int(stored)]
        if self.kind == "bool":
            return bool(stored)
        if self.kind == "int":
            return int(stored)
        return float(stored)

    def describe(self) -> dict:
        """JSON-friendly description (for listings, OSC dumps and the web page)."""
        lo, hi = self.range
        d = {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "min": lo if math.isfinite(lo) else None,
            "max": hi if math.isfinite(hi) else None,
            "default": self.default,
            "doc": self.doc,
        }
        if self.choices:
            d["choices"] = list(self.choices)
        return d


class ParamQueue:
    """Bounded single-consumer queue of ``(name, value)`` changes.

    ``put`` may be called from any thread and never blocks: it returns False when the queue is
    full (the change is refused, nothing else is lost).  ``deque.append``/``popleft`` are atomic
    in CPython, so no lock is taken on either side.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = int(capacity)
        self._q: deque = deque()
        self.refused = 0

    def put(self, name: str, value: float) -> bool:
        if len(self._q) >= self.capacity:
            self.refused += 1
            return False
        self._q.append((name, value))
        return True

    def pop(self):
        """Next change or None (audio thread)."""
        try:
            return self._q.popleft()
        except IndexError:
            return None

    def __len__(self) -> int:
        return len(self._q)

    def clear(self) -> None:
        self._q.clear()
