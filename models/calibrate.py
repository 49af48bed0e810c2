"""Output-level calibration of an exported model: the gain that makes it pass clean speech at
the level it came in.

A mask model trained with level-sensitive and scale-invariant loss terms together can learn a
constant level drop (the shipped ``fullband-voice`` passed clean speech at 0.380 x, -8.4 dB, at
every input level and SNR).  Alone that is harmless (SI-SDR and PESQ ignore it), but
``NeuralEnhancer`` mixes the model's output with the dry input (the attenuation limit, the
adaptive limit): mixed with a signal 8.4 dB louder, a "15 dB" limit lets the noise through at
about 9 dB under the speech, and the adaptive limit's glide becomes a level ramp on clean speech.
The runtime multiplies each hop's output by the ``output_gain`` of the ONNX metadata (default
1), measured here on clean speech the model was trained on (the source registry's TRAIN split,
never tune or score):

    aural calibrate models/weights/fullband-voice.onnx -o calibrated.onnx

``measure_output_gain`` is the least-squares scale of the model's aligned output onto its
clean input, the first 0.5 s of each clip left out (the model's states settle).
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile

import numpy as np

from .runtime import OUTPUT_GAIN_RANGE as GAIN_RANGE
from .runtime import OnnxStreamer, read_info, resolve_model

__all__ = ["measure_output_gain", "set_output_gain", "calibration_speech", "GAIN_RANGE"]

SETTLE_S = 0.5


def measure_output_gain(model: str | os.PathLike, speech: list[np.ndarray]) -> float:
    """Least-squares gain g with g * x ~ model(x) over clean ``speech`` clips (1-D float arrays
    at the model's sample rate), the metadata's own ``output_gain`` ignored; returns 1 / g, the
    gain that restores the input level."""
    path = resolve_model(model)
    info = read_info(path)
    st = OnnxStreamer(path, channels=1)
    h, lat = info.hop, info.latency
    num = den = 0.0
    for x in speech:
        x = np.asarray(x, np.float32).reshape(-1)
        n = (len(x) // h) * h
        if n <= lat + int(SETTLE_S * info.sample_rate):
            raise ValueError(f"a calibration clip of {len(x)} samples is too short "
                             f"(> {SETTLE_S} s + the model's latency needed)")
        st.reset()
        y = np.empty(n, np.float32)
        for i in range(0, n, h):
            y[i:i + h] = st.run(x[None, i:i + h])[0]
        a = int(SETTLE_S * info.sample_rate)
        xs, ys = x[a:n - lat].astype(np.float64), y[a + lat:n].astype(np.float64)
        num += float(np.dot(ys, xs))
        den += float(np.dot(xs, xs))
    if not speech or den <= 0.0 or num <= 0.0:
        raise ValueError("the calibration speech is silent, or the model inverts or deletes it")
    g = num / den
    inv = 1.0 / g
    if not (GAIN_RANGE[0] <= inv <= GAIN_RANGE[1]) or not math.isfinite(inv):
        raise ValueError(f"model passes clean speech at {g:.4g} x: outside what a level "
                         f"calibration should fix")
    return inv


def set_output_gain(model: str | os.PathLike, gain: float, out: str | os.PathLike) -> str:
    """Copy ``model`` to ``out`` with ``output_gain`` = gain in its metadata (needs ``onnx``,
    the training extra); written atomically."""
    import onnx

    if not (GAIN_RANGE[0] <= gain <= GAIN_RANGE[1]):
        raise ValueError(f"output_gain {gain} outside {GAIN_RANGE}")
    path = resolve_model(model)
    m = onnx.load(path)
    props = {p.key: p.value for p in m.metadata_props}
    if "aural_format" not in props:
        raise ValueError(f"{path}: not an aural model export")
    props["output_gain"] = repr(float(gain))
    del m.metadata_props[:]
    for k, v in props.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    out = os.fspath(out)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=os.path.dirname(os.path.abspath(out)) or ".")
    os.close(fd)
    try:
        onnx.save(m, tmp)
        shutil.move(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def calibration_speech(sample_rate: int, clips: int = 12, seconds: float = 4.0,
                       seed: int = 0) -> list[np.ndarray]:
    """Clean speech of the source registry's TRAIN split (a voice drawn first, then a stretch
    of its clips joined), peak-normalised: what the model was trained on, never held-out audio."""
    from .data import load_audio, split_sources

    voices = [s for s in split_sources("train", "speech") if s.files]
    if not voices:
        raise ValueError("no train-split speech on this machine "
                         "(AURAL_DATA=full bash scripts/setup.d/50-data.sh)")
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    out = []
    for _ in range(clips):
        v = voices[int(rng.integers(len(voices)))]
        parts, have = [], 0
        while have < n:
            a = load_audio(v.files[int(rng.integers(len(v.files)))], sample_rate)
            a = a / (np.max(np.abs(a)) + 1e-9)
            parts.append(a.astype(np.float32))
            have += len(a)
        x = np.concatenate(parts)[:n]
        out.append((0.3 * x).astype(np.float32))
    return out
