"""Hostile input fuzz: every registered processor, the NeuralEnhancer with the shipped weights and
every shipped preset, fed single huge spikes (1e19, -1e30, 65504), NaN bursts, +-inf, long runs
of huge values, denormals, full-scale DC and silence, mono and stereo, at 16 and 48 kHz, in
blocks of 1, 128 and 1000 frames.  Always: the output is finite and within +-LIMIT (+36 dBFS),
the caller's array is untouched, and after the bad section the output on a clean signal returns
to what a fresh node gives (RMS of the last half second within 1 dB, per channel): no state is
poisoned for good."""
from __future__ import annotations

import numpy as np
import pedalboard as pb
import pytest

import aural
from aural.engine.kernels import LIMIT
from aural.models import NeuralEnhancer
from aural.models.runtime import OnnxStreamer

from helpers import stream

#: (rate, block, channels) of the full run with recovery check; the block-1 runs are shorter
FULL = [(16000, 128, 2), (48000, 1000, 1)]
TINY = [(16000, 1, 1), (48000, 1, 2)]
#: the bad section ends here (s); the tail compared with a fresh node is the last MEASURE s
BAD_END = 0.85
MEASURE = 0.5
#: clean time after the bad section before the measured tail: noise trackers, hum tracking and
#: loudness-like statistics re-learn the signal for longer than filters and envelopes
SETTLE = {"Wiener": 2.7, "SpectralGate": 4.5, "DeHum": 1.5}
#: vinyl: its chain looks 267 ms ahead at 48 kHz (DeCrackle 131 ms of it), so the noise tracker of
#: its Wiener meets the burst that much later in the output
SETTLE_PRESET = {"music_denoise": 4.0, "vinyl": 3.2}
#: tail level tolerance (dB): a spectral gate's binary per-bin mask, re-learnt from scratch after
#: the burst, converges in distribution, not sample for sample, so its level wanders a little
TOL = {"SpectralGate": 3.0}
#: how each registered type is made for the fuzz (a plugin host needs its plugin)
MAKERS = {"PedalboardNode": lambda: aural.PedalboardNode(pb.Compressor(threshold_db=-24, ratio=4)),
          "NeuralEnhancer": lambda: NeuralEnhancer(model="dsunet-voice")}


def clean(sr: int, channels: int, seconds: float, seed: int = 1) -> np.ndarray:
    """Speech-like test signal: a 220 Hz tone with 3 Hz amplitude modulation and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    out = np.empty((channels, t.size), np.float32)
    for c in range(channels):
        x = 0.2 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.03 * rng.standard_normal(t.size)
        out[c] = x * (1.0 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return out


def hostile(x: np.ndarray, sr: int) -> np.ndarray:
    """A copy of x with every kind of bad input in its first BAD_END seconds."""
    y = x.copy()
    c = y.shape[0]
    rng = np.random.default_rng(7)

    def sl(a: float, b: float) -> slice:
        return slice(int(a * sr), max(int(b * sr), int(a * sr) + 1))

    y[0, int(0.20 * sr)] = 1e19
    y[c - 1, int(0.21 * sr)] = -1e30
    y[:, int(0.25 * sr)] = 65504.0
    y[:, sl(0.30, 0.32)] = np.nan
    y[0, sl(0.35, 0.36)] = np.inf
    y[c - 1, sl(0.36, 0.37)] = -np.inf
    run = sl(0.40, 0.50)  # a long run of huge values of random sign
    y[:, run] = np.where(rng.random((c, run.stop - run.start)) < 0.5, -1e30, 1e19)
    y[:, sl(0.50, 0.55)] = 1e-40  # denormals
    y[:, sl(0.55, 0.75)] = 1.0    # DC at full scale
    y[:, sl(0.75, BAD_END)] = 0.0  # digital silence
    return y


def tail_db(y: np.ndarray, sr: int) -> np.ndarray:
    t = y[:, -int(MEASURE * sr):].astype(np.float64)
    return 10 * np.log10(np.mean(t * t, axis=1) + 1e-20)


def check(make, sr: int, block: int, channels: int, settle: float, recovery: bool = True,
          tol: float = 1.0) -> None:
    seconds = BAD_END + (settle + MEASURE if recovery else 0.05)
    x = clean(sr, channels, seconds)
    bad = hostile(x, sr)
    keep = bad.copy()
    node = make()
    y = stream(node, bad, sr, block)
    np.testing.assert_array_equal(bad, keep)  # the input is never written
    assert np.isfinite(y).all()
    assert np.abs(y).max() <= LIMIT
    if recovery:
        ref = stream(make(), x, sr, block)
        d = tail_db(y, sr) - tail_db(ref, sr)
        assert np.all(np.abs(d) < tol), f"tail level {d} dB off a fresh node's"
        # the recovered output is the same signal, not just the same level
        a, b = y[:, -int(MEASURE * sr):], ref[:, -int(MEASURE * sr):]
        corr = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1) + 1e-30)
        assert np.all(corr > 0.95), corr


@pytest.mark.parametrize("name", aural.PROCESSORS)
def test_processor_survives_hostile_input(name):
    make = MAKERS.get(name, getattr(aural, name))
    settle = SETTLE.get(name, 0.5)
    for sr, block, ch in FULL:
        check(make, sr, block, ch, settle, tol=TOL.get(name, 1.0))
    for sr, block, ch in TINY[:1] if name == "NeuralEnhancer" else TINY:  # the model: 1 is enough
        check(make, sr, block, ch, settle, recovery=False)


@pytest.mark.parametrize("preset", aural.list_presets())
def test_preset_survives_hostile_input(preset):
    def make():
        return aural.load_preset(preset)
    settle = SETTLE_PRESET.get(preset, 2.7)
    check(make, 48000, 128, 2, settle)
    check(make, 16000, 1000, 1, settle)


def test_neural_enhancer_recovers_from_a_1e19_spike():
    """One 1e19 sample at 1 s: the rest of the file comes out at the level it has without it."""
    sr = 48000
    x = clean(sr, 1, 3.0)
    ne = NeuralEnhancer(model="dsunet-voice")
    ref = ne(x, sr, buffer_size=512)
    bad = x.copy()
    bad[0, sr] = 1e19
    y = ne(bad, sr, buffer_size=512)
    assert np.isfinite(y).all() and np.abs(y).max() <= LIMIT
    later = slice(int(1.5 * sr), None)
    d = 10 * np.log10(np.mean(y[:, later] ** 2) / np.mean(ref[:, later] ** 2))
    assert abs(d) < 1.0, d


def test_model_state_gone_nan_is_reset_and_counted():
    """A model state that turns NaN (a recurrent state keeps it for good) is detected after the
    model's run: that hop is silence, the state restarts from zeros and the node counts it."""
    h = 128
    s = OnnxStreamer("dsunet-voice", channels=2)
    fresh = OnnxStreamer("dsunet-voice", channels=2)
    x = clean(16000, 2, 1.0)
    for k in range(40):
        s.run(x[:, k * h:(k + 1) * h])
    hop = x[:, 40 * h:41 * h].copy()
    hop[0, 5] = -1e30  # straight into the model (a node limits it first): its state overflows
    y = s.run(hop)
    assert s.recoveries == 1 and np.all(y == 0.0)
    for k in range(41, 80):  # from the next hop on, exactly a fresh stream
        np.testing.assert_array_equal(s.run(x[:, k * h:(k + 1) * h]), fresh.run(x[:, k * h:(k + 1) * h]))
    assert s.recoveries == 1

    # inside the node, a state poisoned behind its back (a model blowing up on its own)
    sr = 16000
    ne = NeuralEnhancer(model="dsunet-voice")
    ne.prepare(sr, 1, 256)
    x = clean(sr, 1, 3.0)
    ref = NeuralEnhancer(model="dsunet-voice")(x, sr, buffer_size=256, reset=True)
    out = np.zeros_like(x)
    for i in range(0, x.shape[1], 256):
        if i == 64 * 256:
            m = ne._model
            m._flat[m._cur][-10:] = np.nan  # the GRU's hidden state
        out[:, i:i + 256] = ne.process(x[:, i:i + 256])
    assert ne.recoveries >= 1
    assert np.isfinite(out).all()
    lat = ne.latency_samples
    later = slice(int(2.0 * sr), x.shape[1] - lat)
    d = 10 * np.log10(np.mean(out[:, later.start + lat:] ** 2) / np.mean(ref[:, later] ** 2))
    assert abs(d) < 1.0, d
