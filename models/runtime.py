"""Streaming ONNX Runtime for aural's exported models.  Never imports torch.

:class:`OnnxStreamer` runs an exported model (see :mod:`aural.models.export`) one model hop at a
time for ``channels`` independent audio channels (one batch row each).  Every streaming state
(conv caches, STFT buffers) lives in preallocated arrays bound with IOBinding in two sets that swap
roles each hop (ping-pong): a call reads set A and writes set B, the next reads B and writes A, so
nothing is allocated or copied on the Python side per hop::

    s = OnnxStreamer("dsunet-small", channels=2)      # a shipped name or a path
    y = s.run(x)              # x: (2, s.hop) float32 -> view (2, s.hop), valid until next run
    s.reset()                 # zero every state
    s.latency                 # the model's own latency in samples (add hop - 1 for a host adapter)

Providers: ``provider="cpu"`` (default) or ``"cuda"``.  CUDA needs onnxruntime-gpu; when its
provider is not there, or fails to load, :class:`ProviderError` says so instead of falling back
silently.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numba import njit

__all__ = [
    "PROVIDERS",
    "WEIGHTS_DIR",
    "ModelInfo",
    "ModelNotFound",
    "OnnxStreamer",
    "ProviderError",
    "read_info",
    "resolve_model",
    "shipped_models",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: provider short name -> onnxruntime execution provider
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


_FLT_MAX = np.float32(3.4028235e38)


@njit(cache=True, nogil=True)
def _count_nonfinite(a) -> int:
    """Non-finite values in the flat float32 array ``a`` (an integer reduction: vectorises)."""
    k = 0
    for i in range(a.shape[0]):
        k += 0 if abs(a[i]) <= _FLT_MAX else 1  # NaN and inf fail the compare
    return k


class ProviderError(RuntimeError, ValueError):
    """The requested onnxruntime execution provider is missing or failed to load.

    (Also a ValueError, so preset loading reports it as a bad setting, in one line.)"""


class ModelNotFound(ValueError):
    """Neither a file nor the name of a shipped model."""


def shipped_models() -> list[str]:
    """Names of the ONNX models shipped in models/weights/ (usable as ``model=NAME``)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.onnx"))


def resolve_model(model: str | os.PathLike) -> str:
    """A path to an .onnx file, or the name of a shipped model -> an existing file path."""
    p = Path(os.fspath(model)).expanduser()
    if p.is_file():
        return str(p)
    q = WEIGHTS_DIR / f"{model}.onnx"
    if q.is_file():
        return str(q)
    names = ", ".join(shipped_models()) or "none"
    raise ModelNotFound(f"no model {os.fspath(model)!r}: not a file and not a shipped model "
                            f"(shipped: {names})")


#: the output_gain values a model's metadata may carry (a model more than 20 dB off is broken,
#: not quiet; models/calibrate.py measures and writes it)
OUTPUT_GAIN_RANGE = (0.1, 10.0)


class ModelInfo:
    """What the runtime needs to know about an exported model (from its ONNX metadata)."""

    def __init__(self, meta: dict[str, str]) -> None:
        if "aural_format" not in meta:
            raise ValueError("not an aural model export (no aural_format metadata)")
        self.meta = dict(meta)
        self.kind = meta["kind"]
        self.sample_rate = int(meta["sample_rate"])
        self.hop = int(meta["hop"])
        self.latency = int(meta["latency"])
        self.states = [(n, tuple(int(d) for d in s)) for n, s in json.loads(meta["states"])]
        self.config = json.loads(meta.get("config", "{}"))
        # level calibration (models/calibrate.py): the runtime scales each hop's output by it
        self.output_gain = float(meta.get("output_gain", "1"))
        lo, hi = OUTPUT_GAIN_RANGE
        if not (lo <= self.output_gain <= hi):
            raise ValueError(f"output_gain {self.output_gain} outside {lo}-{hi} in the model's metadata")

    def __repr__(self) -> str:
        return (f"ModelInfo(kind={self.kind!r}, sample_rate={self.sample_rate}, hop={self.hop}, "
                f"latency={self.latency}, states={len(self.states)})")


def read_info(model: str | os.PathLike) -> ModelInfo:
    """Metadata of an exported model, without creating an inference session."""
    path = resolve_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return ModelInfo(sess.get_modelmeta().custom_metadata_map)


def _providers_for(provider: str) -> list[str]:
    key = str(provider).strip().lower()
    if key not in PROVIDERS:
        raise ProviderError(f"unknown provider {provider!r}: use one of {', '.join(PROVIDERS)}")
    want = PROVIDERS[key]
    available = ort.get_available_providers()
    if want not in available:
        hint = ("install onnxruntime-gpu in place of onnxruntime (pip uninstall onnxruntime; "
                "pip install onnxruntime-gpu, i.e. aural's 'gpu' extra) and a matching CUDA/cuDNN"
                if key == "cuda" else "reinstall onnxruntime")
        raise ProviderError(f"provider {key!r} needs {want}, which this onnxruntime "
                            f"({ort.__version__}) does not have (available: {', '.join(available)}); "
                            f"{hint}, or use provider='cpu'")
    return [want] if key == "cpu" else [want, "CPUExecutionProvider"]


class OnnxStreamer:
    """Hop-by-hop inference of an exported aural model with carried, preallocated state.

    model: shipped name or path.  channels: independent channels (batch rows).
    provider: 'cpu' or 'cuda'.  threads: onnxruntime intra-op threads (1 for real time).
    """

    def __init__(self, model: str | os.PathLike, channels: int = 1, provider: str = "cpu",
                 threads: int = 1) -> None:
        self.path = resolve_model(model)
        self.provider = str(provider).strip().lower()
        providers = _providers_for(self.provider)
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(self.path, so, providers=providers)
        except Exception as e:  # a provider that is listed but cannot load its libraries
            raise ProviderError(f"could not create an onnxruntime session with {providers[0]} "
                                f"for {self.path}: {e}") from e
        got = self.session.get_providers()
        if not got or got[0] != providers[0]:
            raise ProviderError(f"onnxruntime did not enable {providers[0]} (session providers: "
                                f"{', '.join(got)}); check the CUDA/cuDNN libraries, or use "
                                f"provider='cpu'")
        self.info = ModelInfo(self.session.get_modelmeta().custom_metadata_map)
        self.channels = int(channels)
        if self.channels < 1:
            raise ValueError("channels must be >= 1")
        self._check_io()
        self._allocate()

    # ------------------------------------------------------------------ properties
    @property
    def hop(self) -> int:
        return self.info.hop

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def latency(self) -> int:
        """The model's own latency in samples (a host-block adapter adds ``hop - 1``)."""
        return self.info.latency

    @property
    def kind(self) -> str:
        return self.info.kind

    # ------------------------------------------------------------------ setup
    def _check_io(self) -> None:
        ins = [i.name for i in self.session.get_inputs()]
        outs = [o.name for o in self.session.get_outputs()]
        names = [n for n, _ in self.info.states]
        if ins != ["audio"] + names or outs != ["audio_out"] + [n + "_out" for n in names]:
            raise ValueError(f"{self.path}: inputs/outputs do not match its state metadata")

    def _allocate(self) -> None:
        c, h = self.channels, self.hop
        cuda = self.provider == "cuda"
        self.audio_in = np.zeros((c, h), np.float32)
        self.audio_out = np.zeros((c, h), np.float32)
        self._in_val = ort.OrtValue.ortvalue_from_numpy(self.audio_in)
        self._out_val = ort.OrtValue.ortvalue_from_numpy(self.audio_out)
        # two state sets; on CPU the OrtValues share memory with these numpy arrays, which are
        # views of one flat buffer per set (so one pass checks a whole set for NaN/inf)
        self._sets: list[list[ort.OrtValue]] = [[], []]
        self._arrays: list[list[np.ndarray]] = [[], []]
        total = sum(c * int(np.prod(shape)) for _, shape in self.info.states)
        self._flat = [np.zeros(total, np.float32), np.zeros(total, np.float32)]
        off = 0
        for _name, shape in self.info.states:
            size = c * int(np.prod(shape))
            for k in (0, 1):
                a = self._flat[k][off:off + size].reshape((c, *shape))
                self._arrays[k].append(a)
                if cuda:
                    v = ort.OrtValue.ortvalue_from_numpy(a, "cuda", 0)
                else:
                    v = ort.OrtValue.ortvalue_from_numpy(a)
                self._sets[k].append(v)
            off += size
        self._bindings = []
        for k in (0, 1):
            b = self.session.io_binding()
            b.bind_ortvalue_input("audio", self._in_val)
            b.bind_ortvalue_output("audio_out", self._out_val)
            for (name, _), vin, vout in zip(self.info.states, self._sets[k], self._sets[1 - k]):
                b.bind_ortvalue_input(name, vin)
                b.bind_ortvalue_output(name + "_out", vout)
            self._bindings.append(b)
        self._cur = 0
        self._ro = ort.RunOptions()
        self._audio_flat = self.audio_out.reshape(-1)
        self.recoveries = 0  # hops after which a NaN/inf state or output was found and cleared

    # ------------------------------------------------------------------ streaming
    def reset(self) -> None:
        """Zero every streaming state (the next hop starts like a fresh stream)."""
        for k in (0, 1):
            for a, v in zip(self._arrays[k], self._sets[k]):
                a[...] = 0.0
                if self.provider == "cuda":
                    v.update_inplace(a)
        self._cur = 0
        self.audio_out[...] = 0.0

    def run(self, x: np.ndarray | None = None) -> np.ndarray:
        """One model hop.  x: (channels, hop) float32, or None when ``audio_in`` was filled in
        place.  Returns ``audio_out`` (a view valid until the next call).

        A hop whose new state or output holds NaN/inf (a model driven out of its range: one
        huge input sample can do it, and a recurrent state keeps it for good) resets every
        state, outputs silence for that hop and counts one in ``recoveries``; the next hop
        starts like a fresh stream.  The check is one vectorised pass over the states (~15k
        floats per channel for the shipped models; the output alone on CUDA, whose states stay
        on the device)."""
        if x is not None:
            self.audio_in[...] = x
        b = self._bindings[self._cur]
        self.session.run_with_iobinding(b, self._ro)
        cuda = self.provider == "cuda"
        if cuda:
            b.synchronize_outputs()
        self._cur ^= 1
        if _count_nonfinite(self._audio_flat) or (not cuda and _count_nonfinite(self._flat[self._cur])):
            self.reset()  # zeroes the states and audio_out
            self.recoveries += 1
        return self.audio_out

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Whole signal (channels, n) through a fresh stream: output delayed by ``latency``,
        same length, zero-padded at the end to whole hops (for tests and offline use)."""
        audio = np.asarray(audio, np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        c, n = audio.shape
        if c != self.channels:
            raise ValueError(f"audio has {c} channels, streamer made for {self.channels}")
        self.reset()
        h = self.hop
        total = -(-n // h) * h
        xp = np.zeros((c, total), np.float32)
        xp[:, :n] = audio
        y = np.empty_like(xp)
        for s in range(0, total, h):
            y[:, s:s + h] = self.run(xp[:, s:s + h])
        return y[:, :n]


def bench(model: str | os.PathLike, block: int = 128, seconds: float = 3.0, channels: int = 1,
          provider: str = "cpu", sample_rate: int | None = None) -> dict:
    """Time the streaming processor on host blocks of ``block`` frames (one onnxruntime thread).

    Returns microseconds per block (median of 5 runs), the real-time factor and the latency."""
    import time

    from .enhancer import NeuralEnhancer

    ne = NeuralEnhancer(model=model, provider=provider)
    sr = int(sample_rate or ne.info.sample_rate)
    ne.prepare(sr, channels, block)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((channels, block))).astype(np.float32)
    n = max(1, int(seconds * sr / block))
    for _ in range(min(n, 200)):
        ne.process(x)
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n // 5 + 1):
            ne.process(x)
        runs.append((time.perf_counter() - t) / (n // 5 + 1))
    us = float(np.median(runs)) * 1e6
    block_us = block / sr * 1e6
    name = os.path.basename(ne.model_path) if ne.model_path else str(model)  # DFN3: no file
    return {"model": name, "kind": ne.info.kind, "block": block,
            "channels": channels, "us_per_block": us, "rtf": us / block_us,
            "latency_samples": ne.latency_samples,
            "latency_ms": 1000.0 * ne.latency_samples / sr, "sample_rate": sr,
            "parameters": int(getattr(ne.info, "meta", {}).get("parameters", 0))}


if __name__ == "__main__":  # python -m aural.models.runtime [--rate HZ] [MODEL ...]
    import argparse

    ap = argparse.ArgumentParser(description="time models on 128-frame host blocks, one thread")
    ap.add_argument("models", nargs="*")
    ap.add_argument("--rate", type=int, default=None, help="host rate (default: the model's)")
    ap.add_argument("--channels", type=int, default=1)
    a = ap.parse_args()
    for m in a.models or shipped_models():
        r = bench(m, sample_rate=a.rate, channels=a.channels)
        print(f"{r['model']}: {r['kind']}, {r['parameters']} params, {r['sample_rate']} Hz x "
              f"{r['channels']} ch: {r['us_per_block']:.1f} us per {r['block']}-frame block "
              f"(RTF {r['rtf']:.3f}), latency {r['latency_samples']} samples ({r['latency_ms']:.1f} ms)")
