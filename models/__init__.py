"""aural.models: neural enhancers (causal WaveNet, Dual-Step U-Net) and their streaming runtime.

Inference (:mod:`.runtime`, :mod:`.enhancer`) needs only numpy and onnxruntime; training and
export (:mod:`.wavenet`, :mod:`.dsunet`, :mod:`.train`, :mod:`.export`) need torch (the ``train``
extra).  Importing this package never imports torch.
"""
from __future__ import annotations

__all__ = ["NeuralEnhancer", "OnnxStreamer", "resolve_model", "shipped_models"]


def __getattr__(name):  # lazy: keep `import aural.models` light and torch-free
    if name == "NeuralEnhancer":
        from .enhancer import NeuralEnhancer
        return NeuralEnhancer
    if name in ("OnnxStreamer", "shipped_models", "resolve_model"):
        from . import runtime
        return getattr(runtime, name)
    raise AttributeError(name)
