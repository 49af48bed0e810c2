"""Export a trained model's streaming step to ONNX, every streaming state as a named input/output.

The graph exported is ``model.step``: inputs ``audio`` (batch, hop) and one input per state
(``<name>``, shape (batch, ...)); outputs ``audio_out`` (batch, hop) and ``<name>_out`` for each
state, in the same order.  The batch axis is dynamic (the runtime runs one batch row per audio
channel).  Metadata (``metadata_props``) tells the runtime everything it needs without torch::

    aural_format = 1, kind, sample_rate, hop, latency, states (JSON [[name, shape], ...]),
    config (JSON constructor arguments), receptive_field (WaveNet)

Usage: ``export_onnx(model, "model.onnx")`` or ``aural export CHECKPOINT -o model.onnx``.
"""
from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn

from .streaming import StreamingModel, build_model

__all__ = ["FORMAT_VERSION", "checkpoint_from_onnx", "export_onnx", "load_checkpoint_model"]

FORMAT_VERSION = 1
OPSET = 17


class _Step(nn.Module):
    def __init__(self, model: StreamingModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, *states):
        return self.model.step(x, *states)


def load_checkpoint_model(path: str | os.PathLike, use_ema: bool = True) -> StreamingModel:
    """Rebuild a model from an ``aural train`` checkpoint (weights of the EMA copy if present)."""
    ck = torch.load(os.fspath(path), map_location="cpu", weights_only=False)
    cfg = dict(ck["model_config"])
    kind = cfg.pop("kind")
    model = build_model(kind, **cfg)
    state = ck.get("ema") if use_ema and ck.get("ema") is not None else ck["model"]
    model.load_state_dict(state)
    model.eval()
    return model


def export_onnx(model: StreamingModel, path: str | os.PathLike, batch: int = 1,
                extra_meta: dict[str, Any] | None = None, check: bool = True) -> str:
    """Write ``model.step`` as ONNX at ``path`` and return the path.

    check: run the exported graph once in onnxruntime against torch (max abs diff < 1e-4)."""
    path = os.fspath(path)
    model = model.eval()
    specs = model.state_specs()
    names = [n for n, _ in specs]
    x = torch.zeros(batch, model.hop)
    states = tuple(model.initial_states(batch))
    in_names = ["audio"] + names
    out_names = ["audio_out"] + [n + "_out" for n in names]
    dyn = {n: {0: "batch"} for n in in_names + out_names}
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation/shape chatter
        torch.onnx.export(_Step(model), (x, *states), path, input_names=in_names,
                          output_names=out_names, dynamic_axes=dyn, opset_version=OPSET,
                          dynamo=False, do_constant_folding=True)
    import onnx

    m = onnx.load(path)
    meta = {"aural_format": str(FORMAT_VERSION), "kind": model.kind,
            "sample_rate": str(model.sample_rate), "hop": str(model.hop),
            "latency": str(model.latency),
            "states": json.dumps([[n, list(s)] for n, s in specs]),
            "config": json.dumps(model.config, sort_keys=True),
            "parameters": str(sum(p.numel() for p in model.parameters()))}
    if hasattr(model, "receptive_field"):
        meta["receptive_field"] = str(model.receptive_field)
    for k, v in (extra_meta or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, path)
    if check:
        _check(model, path, batch)
    return path


def _check(model: StreamingModel, path: str, batch: int) -> None:
    import numpy as np
    import onnxruntime as ort

    g = torch.Generator().manual_seed(0)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    states = model.initial_states(batch)
    feeds_states = [s.numpy() for s in states]
    names = [n for n, _ in model.state_specs()]
    worst = 0.0
    with torch.no_grad():
        for _ in range(3):
            x = 0.3 * torch.randn(batch, model.hop, generator=g)
            ref = model.step(x, *states)
            states = list(ref[1:])
            out = sess.run(None, {"audio": x.numpy(), **dict(zip(names, feeds_states))})
            feeds_states = out[1:]
            worst = max(worst, float(np.abs(out[0] - ref[0].numpy()).max()))
    if worst > 1e-4:
        raise RuntimeError(f"exported ONNX differs from torch by {worst:.3g} (> 1e-4): {path}")


def checkpoint_from_onnx(onnx_path: str | os.PathLike, out: str | os.PathLike) -> str:
    """Rebuild a training checkpoint (``aural train --init`` reads it) from an exported model, so
    a shipped .onnx whose .pt is gone can be fine-tuned.  Named initializers map to parameters by
    name; the few the exporter stored unnamed (the GRU branches' MatMul weights, transposed) are
    matched by shape in graph order and the assignment is verified: the rebuilt model must
    reproduce the ONNX graph's output (max abs difference < 1e-4), or this raises."""
    import itertools

    import numpy as np
    import onnx
    from onnx import numpy_helper

    m = onnx.load(os.fspath(onnx_path))
    meta = {p.key: p.value for p in m.metadata_props}
    if meta.get("aural_format") != str(FORMAT_VERSION):
        raise ValueError(f"{onnx_path}: not an aural model export (format {meta.get('aural_format')})")
    cfg = json.loads(meta["config"])
    kind = meta["kind"]
    model = build_model(kind, **cfg).eval()
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    state = model.state_dict()
    new = {}
    missing = []
    for k, v in state.items():
        a = inits.get("model." + k)
        if a is not None and tuple(a.shape) == tuple(v.shape):
            new[k] = torch.from_numpy(np.array(a))
        else:
            missing.append(k)
    unnamed = [(n, a) for n, a in inits.items() if not n.startswith("model.")]
    # each missing weight takes an unnamed transposed matrix of its shape, in order; where
    # several have one shape (a GRU's input and hidden weights), try the orders until it matches
    groups: dict[tuple, list[str]] = {}
    for k in missing:
        groups.setdefault(tuple(state[k].shape[::-1]), []).append(k)
    cand = {s: [a for _, a in unnamed if tuple(a.shape) == s] for s in groups}
    for s, ks in groups.items():
        if len(cand[s]) != len(ks):
            raise ValueError(f"{onnx_path}: cannot map {ks} (shape {s[::-1]}) onto its initializers")
    shapes = list(groups)
    options = [list(itertools.permutations(range(len(groups[s])))) for s in shapes]
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(os.fspath(onnx_path), so, providers=["CPUExecutionProvider"])
    names = [n for n, _ in model.state_specs()]
    g = torch.Generator().manual_seed(0)
    xs = [0.3 * torch.randn(1, model.hop, generator=g) for _ in range(4)]
    ref_states = [s.numpy() for s in model.initial_states(1)]
    refs = []
    for x in xs:
        o = sess.run(None, {"audio": x.numpy(), **dict(zip(names, ref_states))})
        ref_states = o[1:]
        refs.append(o[0])
    for choice in itertools.product(*options):
        trial = dict(new)
        for s, perm in zip(shapes, choice):
            for k, j in zip(groups[s], perm):
                trial[k] = torch.from_numpy(np.ascontiguousarray(cand[s][j].T))
        model.load_state_dict(trial)
        states = model.initial_states(1)
        worst = 0.0
        with torch.no_grad():
            for x, r in zip(xs, refs):
                y, *states = model.step(x, *states)
                worst = max(worst, float(np.abs(y.numpy() - r).max()))
        if worst < 1e-4:
            ck = {"model": trial, "ema": trial, "model_config": {"kind": kind, **cfg}, "step": 0,
                  "source_onnx": os.fspath(onnx_path)}
            os.makedirs(os.path.dirname(os.path.abspath(os.fspath(out))) or ".", exist_ok=True)
            torch.save(ck, os.fspath(out))
            return os.fspath(out)
    raise ValueError(f"{onnx_path}: no assignment of its unnamed weights reproduces the graph")
