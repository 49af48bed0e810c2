"""File mode: nodes that learn from the head of a file before the file streams through them.

A causal node meets a file's opening with no history: DeHum, for one, needs seconds to detect
and converge on the hum, so the first seconds keep it.  When the whole file is at hand (``aural
enhance``, ``aural batch``, the web page: all through :func:`engine.io.process_file`), a node
that has a ``learn(head)`` method is shown the first seconds of exactly what it will be fed,
before streaming starts; it may use them for the stream's opening (DeHum runs a backward pass).

:func:`learn_head` walks a Chain in order: a node's head is the head of the file run through the
nodes before it (each from a fresh state, then reset again), so the node sees what the stream
will feed it, sample for sample.  Only Chains are walked; a node inside another graph (Mix)
learns nothing.  A live stream never learns: nothing here runs on the audio thread.
"""
from __future__ import annotations

import numpy as np

from .kernels import sanitize_copy

__all__ = ["learners", "learn_seconds", "learn_head", "checked_head"]


def checked_head(node, head: np.ndarray, seconds: float) -> np.ndarray:
    """For a node's ``learn``: the first ``seconds`` of ``head`` as a fresh float32 (channels,
    frames) array, sanitised as the stream's input will be (NaN/inf -> 0, limited to +-64).
    Raises RuntimeError before ``prepare`` and ValueError for another channel count."""
    if not node.prepared:
        raise RuntimeError(f"{node.name}: learn() before prepare()")
    head = np.asarray(head)
    if head.ndim != 2 or head.shape[0] != node.channels:
        raise ValueError(f"{node.name}: learn() needs ({node.channels}, frames) audio, "
                         f"got shape {head.shape}")
    n = min(head.shape[1], int(round(seconds * node.sample_rate)))
    x = np.empty((node.channels, n), np.float32)
    sanitize_copy(np.ascontiguousarray(head[:, :n], dtype=np.float32), x)
    return x


def learners(proc) -> list:
    """The nodes of ``proc`` (itself included) that :func:`learn_head` would teach."""
    children = getattr(proc, "children", None)
    if type(proc).__name__ == "Chain" and children is not None:
        return [n for c in children for n in learners(c)]
    return [proc] if callable(getattr(proc, "learn", None)) else []


def learn_seconds(proc) -> float:
    """Seconds of head the learners of ``proc`` use (0.0: none, so nothing need be read)."""
    return max((float(getattr(n, "LEARN_S", 0.0)) for n in learners(proc)), default=0.0)


def _run_fresh(node, x: np.ndarray) -> np.ndarray:
    """``node``'s stream output for x from a fresh state (latency kept, as streaming delivers
    it), after which the node is reset again."""
    node.reset()
    y = np.empty_like(x)
    for s in range(0, x.shape[1], node.max_block):
        blk = np.ascontiguousarray(x[:, s:s + node.max_block])
        y[:, s:s + blk.shape[1]] = node.process(blk)
    node.reset()
    return y


def learn_head(proc, head: np.ndarray) -> int:
    """Teach the learners of the prepared ``proc`` from ``head``, (channels, frames) float32:
    the first frames of the stream ``proc`` is about to process from a reset.  Returns how
    many nodes hold a learned head."""
    if not getattr(proc, "prepared", False):
        raise RuntimeError("learn_head: prepare the processor first")
    head = np.ascontiguousarray(head, dtype=np.float32)
    if type(proc).__name__ == "Chain":
        nodes = list(proc.children)
        last = max((i for i, n in enumerate(nodes) if learners(n)), default=-1)
        held, cur = 0, head
        for i, node in enumerate(nodes[:last + 1]):
            if learners(node):
                held += learn_head(node, cur)
            if i < last:
                cur = _run_fresh(node, cur)
        return held
    if callable(getattr(proc, "learn", None)):
        return int(bool(proc.learn(head)))
    return 0
