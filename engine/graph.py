"""Graphs of processors: :class:`Chain` (serial) and :class:`Mix` (parallel, summed), nestable.

Both are processors themselves, so they have the same lifecycle, bypass/mix and whole-signal
call.  Latency adds up along a chain; in a mix every branch is delayed to the slowest one so the
sum stays aligned, and the mix reports that maximum.

Nodes are addressed by name: ``chain.set("wiener.floor_db", -20)`` or, for nested graphs,
``"mix.speech.wiener.floor_db"``.  Names are unique in a graph (duplicates get ``_2``, ``_3``).
Objects that are not aural processors (pedalboard plugins, whole Pedalboards, VST3s) are wrapped
by :func:`aural.plugins.as_node` when that bridge is installed.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Iterable, Iterator

import numpy as np

from .kernels import DelayLine, add_into, sanitize_copy, smooth_coef, smoothed_gain
from .params import Param, ParamError
from .processor import Processor, register

__all__ = ["Chain", "Mix", "as_node"]


def as_node(obj: Any) -> Processor:
    """Return ``obj`` as an aural node (pedalboard objects are wrapped by the plugin bridge)."""
    if isinstance(obj, Processor):
        return obj
    try:
        from aural.plugins import wrap  # the bridge (optional at this level)
    except ImportError:  # pragma: no cover - the bridge ships with aural
        wrap = None
    if wrap is not None:
        node = wrap(obj)
        if node is not None:
            return node
    raise TypeError(f"cannot use {type(obj).__name__} as an aural node")


class _Graph(Processor):
    """Shared addressing for Chain and Mix."""

    children: list[Processor]

    def _unique_names(self) -> None:
        seen: dict[str, int] = {}
        for _, node in self.walk():
            if node is self:
                continue
            base = node.name
            if base in seen:
                seen[base] += 1
                node.name = f"{base}_{seen[base]}"
            else:
                seen[base] = 1

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Processor]]:
        path = f"{prefix}{self.name}"
        yield path, self
        for c in self.children:
            yield from c.walk(path + ".")

    def nodes(self) -> Iterator[tuple[str, Processor]]:
        """(path relative to this graph, node) for every node below this graph."""
        n = len(self.name) + 1
        for path, node in self.walk():
            if node is not self:
                yield path[n:], node

    def node(self, path: str) -> Processor:
        """Find a node by its dotted path below this graph or by its (unique) name."""
        for p, node in self.nodes():
            if p == path:
                return node
        matches = [node for _, node in self.nodes() if node.name == path]
        if len(matches) == 1:
            return matches[0]
        names = ", ".join(p for p, _ in self.nodes())
        raise ParamError(f"no node {path!r} in {self.name} (nodes: {names})")

    def _split(self, address: str) -> tuple[Processor, str]:
        if "." not in address:
            return self, address
        path, param = address.rsplit(".", 1)
        return self.node(path), param

    def set(self, name: str, value: Any) -> Any:
        """Set ``param`` of this graph or ``node.param`` of a node below it (any thread)."""
        node, param = self._split(name)
        if node is self:
            return super().set(param, value)
        return node.set(param, value)

    def get(self, name: str) -> Any:
        node, param = self._split(name)
        if node is self:
            return super().get(param)
        return node.get(param)

    def save(self, path: str | os.PathLike) -> None:
        """Write the whole graph with its parameter values to a JSON preset (atomically)."""
        text = json.dumps(self.to_dict(), indent=2)
        path = os.fspath(path)
        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".aural-", suffix=".json", dir=d)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _reset(self) -> None:
        for c in self.children:
            c.reset()

    def _rewind(self) -> None:
        for c in self.children:
            c.rewind()


@register
class Chain(_Graph):
    """Serial graph: each node's output feeds the next.  Latency is the sum of the nodes'."""

    def __init__(self, nodes: Iterable[Any] = (), name: str | None = None, **kw: Any) -> None:
        super().__init__(name=name or "chain", **kw)
        self.children = [as_node(n) for n in nodes]
        self._unique_names()

    def __len__(self) -> int:
        return len(self.children)

    def __getitem__(self, i: int) -> Processor:
        return self.children[i]

    def __iter__(self):
        return iter(self.children)

    def append(self, node: Any) -> None:
        """Add a node at the end (prepare again before processing)."""
        self.children.append(as_node(node))
        self._unique_names()
        self.prepared = False

    def _prepare(self) -> None:
        for c in self.children:
            c.prepare(self.sample_rate, self.channels, self.max_block)

    # every child sanitises its own input and output, so a fully wet chain skips its own passes
    # and costs ~nothing (Processor.process honours these two flags)
    _raw_input_ok = True
    _wet_sanitised = True

    def _process_wet(self, x: np.ndarray, wet: np.ndarray) -> np.ndarray:
        """The last child's output buffer, without a copy.  An instance-level ``_process``
        override (the live runner's per-node timing) is honoured."""
        if "_process" in self.__dict__:
            self._process(x, wet)
            return wet
        if not self.children:
            sanitize_copy(x, wet)
            return wet
        y = x
        for c in self.children:
            y = c.process(y)
        return y

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        y = x
        for c in self.children:
            y = c.process(y)
        out[:] = y

    def _latency(self) -> int:
        return sum(c.latency_samples for c in self.children)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.pop("params", None)
        d["nodes"] = [c.to_dict() for c in self.children]
        return d


@register
class Mix(_Graph):
    """Parallel graph: every branch gets the same input; outputs are summed with per-branch gains.

    Branches are delayed to the largest branch latency, so the sum is aligned.  Gains are in dB
    (``gain0_db``, ``gain1_db``, ... ; -120 dB mutes) and glide over 20 ms."""

    def __init__(self, branches: Iterable[Any] = (), name: str | None = None,
                 gains_db: Iterable[float] | None = None, **kw: Any) -> None:
        branches = [as_node(b) for b in branches]
        gains = list(gains_db) if gains_db is not None else [0.0] * len(branches)
        if len(gains) != len(branches):
            raise ValueError("Mix: one gain per branch")
        self.params = tuple(
            Param(f"gain{i}_db", 0.0, unit="dB", range=(-120.0, 24.0), smoothing_ms=20.0,
                  doc=f"gain of branch {i} ({b.name})")
            for i, b in enumerate(branches))
        extra = {p.name: g for p, g in zip(self.params, gains)}
        extra.update({k: v for k, v in kw.items() if k.startswith("gain")})
        kw = {k: v for k, v in kw.items() if not k.startswith("gain")}
        super().__init__(name=name or "mix", **extra, **kw)
        self.children = branches
        self._unique_names()

    def _lin(self, i: int) -> float:
        db = self.v(f"gain{i}_db")
        return 0.0 if db <= -120.0 else float(10.0 ** (db / 20.0))

    def _prepare(self) -> None:
        for c in self.children:
            c.prepare(self.sample_rate, self.channels, self.max_block)
        lat = self._latency()
        self._align = [DelayLine(self.channels, lat - c.latency_samples, self.max_block)
                       for c in self.children]
        self._gstate = [np.array([self._lin(i)]) for i in range(len(self.children))]
        self._tmp = np.zeros((self.channels, self.max_block), np.float32)
        self._coef = smooth_coef(20.0, float(self.sample_rate))

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        n = x.shape[1]
        out[:] = 0.0
        tmp = self._tmp[:, :n]
        for i, c in enumerate(self.children):
            y = self._align[i].process(c.process(x))
            smoothed_gain(y, tmp, self._gstate[i], self._lin(i), self._coef)
            add_into(out, tmp, 1.0)

    def _reset(self) -> None:
        super()._reset()
        self._clear_align()

    def _rewind(self) -> None:
        super()._rewind()
        self._clear_align()

    def _clear_align(self) -> None:
        for i, d in enumerate(self._align):
            d.reset()
            self._gstate[i][0] = self._lin(i)

    def _latency(self) -> int:
        return max((c.latency_samples for c in self.children), default=0)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["gains_db"] = [d["params"].pop(f"gain{i}_db") for i in range(len(self.children))]
        d.pop("params")
        d["branches"] = [c.to_dict() for c in self.children]
        return d
