"""The audio path allocates nothing: after prepare() and a warm-up, process() of every registered
node type creates no array, on a signal that drives each one through its expensive paths
(dropouts a Repair node fills with its model, clicks, clipping, hum, a thump, loud and quiet
passages).  tracemalloc sees every numpy array; 1024-frame blocks make any block-sized
temporary (4 KiB for one float32 channel) stand out above the few hundred bytes of Python
scalars a call creates.

Not covered: PedalboardNode (pedalboard returns a new array from each call; docs/bridge.md)."""
from __future__ import annotations

import importlib
import tracemalloc

import numpy as np
import pytest
from aural.engine.presets import OPTIONAL_TYPES, _registry

BLOCK = 1024
WARM = 40          # blocks before measuring (Numba compiled, detectors settled)
BLOCKS = 200       # 4.3 s at 48 kHz (the long dropout ends at 3.4 s)


def node_types() -> list[str]:
    reg = _registry()
    for kind, (module, _dep) in OPTIONAL_TYPES.items():
        if kind.startswith("Pedalboard"):
            continue
        importlib.import_module(module)
    return sorted(k for k, cls in reg.items() if not k.startswith("Pedalboard")
                  and cls.__module__.startswith("aural."))


def torture(sr: int, channels: int, n: int, t0: int) -> np.ndarray:
    """Noise + harmonics + 50 Hz hum; after sample t0: dropouts of 20 and 240 ms, clicks, a
    clipped burst and a low thump."""
    rng = np.random.default_rng(3)
    t = np.arange(n) / sr
    x = 0.05 * rng.standard_normal((channels, n))
    x += 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    x += 0.02 * np.sin(2 * np.pi * 50 * t) + 0.01 * np.sin(2 * np.pi * 150 * t)
    a = t0 + sr // 5
    for k in range(12):  # clicks
        i = a + k * sr // 13
        x[:, i:i + 3] += 0.8 * (-1) ** k
    b = t0 + sr
    x[:, b:b + sr // 4] = np.clip(3 * x[:, b:b + sr // 4], -0.5, 0.5)  # clipped burst
    c = t0 + int(1.5 * sr)  # thump: a decaying 40 Hz pulse
    m = sr // 5
    x[:, c:c + m] += 0.6 * np.sin(2 * np.pi * 40 * np.arange(m) / sr) * np.exp(-np.arange(m) / (0.03 * sr))
    d = t0 + int(1.9 * sr)
    x[:, d:d + int(0.02 * sr)] = 0.0  # dropouts (exact zeros)
    f = t0 + int(2.3 * sr)
    x[:, f:f + int(0.24 * sr)] = 0.0
    return x.astype(np.float32)


@pytest.mark.parametrize("kind", node_types())
def test_process_allocates_no_array(kind):
    sr, ch = 48000, 2
    node = _registry()[kind]()
    node.prepare(sr, ch, BLOCK)
    x = torture(sr, ch, BLOCKS * BLOCK, WARM * BLOCK)
    for i in range(WARM):
        node.process(x[:, i * BLOCK:(i + 1) * BLOCK])
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for i in range(WARM, BLOCKS):
            y = node.process(x[:, i * BLOCK:(i + 1) * BLOCK])
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(y).all()
    assert cur - base < 1024, f"{kind}: {cur - base} bytes kept"
    assert peak - base < 4096, f"{kind}: peak {peak - base} bytes above the start: an array was allocated"
    if kind == "Repair":  # the long dropout went through the model's spectral fill
        assert node.model_loaded and node.gaps_repaired == 4


@pytest.mark.parametrize("sr", [16000, 44100])
@pytest.mark.parametrize("method", ["auto", "ar"])
def test_repair_fills_without_allocating(sr, method):
    """Repair at other rates (44.1 kHz: a 706-point FFT) and with LSAR on every gap."""
    from aural.engine.processors.repair import Repair

    node = Repair(method=method)
    node.prepare(sr, 1, BLOCK)
    n = 4 * sr // BLOCK * BLOCK
    x = torture(sr, 1, n, sr // 2)
    w = sr // 2 // BLOCK
    for i in range(w):
        node.process(x[:, i * BLOCK:(i + 1) * BLOCK])
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for i in range(w, n // BLOCK):
            node.process(x[:, i * BLOCK:(i + 1) * BLOCK])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert node.gaps_repaired == 2
    assert peak - base < 4096, f"peak {peak - base} bytes: an array was allocated"
