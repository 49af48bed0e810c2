"""The pedalboard bridge with pedalboard's built-in plugins: streaming, latency, parameters,
presets, errors, and pedalboard's calling convention on aural graphs."""
from __future__ import annotations

import numpy as np
import pedalboard as pb
import pytest
from aural.engine import Chain, Mix
from aural.engine.params import ParamError
from aural.engine.processors import Gain
from aural.plugins import PedalboardNode, PluginError, errors, raise_errors, wrap
from helpers import rms_db, stream, tone
from pedalboard.io import AudioFile

BLOCKS = (1, [7, 64, 333, 100], [512, 3, 500, 128, 1, 77], 512)


def noise(channels: int, n: int, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal((channels, n))).astype(np.float32)


def speechlike(channels: int, sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Noise with a syllable-rate envelope: level changes that dynamics plugins react to."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    env = 0.05 + 0.6 * np.abs(np.sin(2 * np.pi * 3.0 * t)) ** 3
    return noise(channels, n, 1.0, seed) * env.astype(np.float32)


FACTORIES = {
    "Compressor": lambda: pb.Compressor(threshold_db=-24, ratio=4, attack_ms=2, release_ms=80),
    "Reverb": lambda: pb.Reverb(room_size=0.6),
    "Chorus": lambda: pb.Chorus(),
    "LadderFilter": lambda: pb.LadderFilter(mode=pb.LadderFilter.Mode.HPF24, cutoff_hz=300),
    "Resample": lambda: pb.Resample(target_sample_rate=11025),
    "BrickwallLimiter": lambda: pb.BrickwallLimiter(ceiling_db=-6),
    "GSMFullRateCompressor": lambda: pb.GSMFullRateCompressor(),
    "Pedalboard": lambda: pb.Pedalboard([pb.HighpassFilter(100), pb.Resample(16000),
                                         pb.Compressor(-20, 4)]),
}


# ---------------------------------------------------------------------- streaming & latency
@pytest.mark.parametrize("sr", [22050, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("kind", list(FACTORIES))
def test_block_invariance(kind, channels, sr):
    """Streaming in any block sizes (1 frame up, irregular) equals one-shot processing shifted
    by the declared latency; the one-shot output has the input's length."""
    node = PedalboardNode(FACTORIES[kind]())
    node.prepare(sr, channels, 512)
    lat = node.latency_samples
    x = speechlike(channels, sr, 0.3 + lat / sr)
    one = node(x, sr)
    assert one.shape == x.shape and np.isfinite(one).all()
    assert node.latency_samples == lat
    assert rms_db(one) > -60  # not silence
    for blocks in BLOCKS:
        y = stream(node, x, sr, blocks, max_block=512)
        assert node.underruns == 0 and node.overruns == 0
        np.testing.assert_allclose(y[:, lat:], one[:, :x.shape[1] - lat], atol=1e-5, rtol=0,
                                   err_msg=f"{kind} blocks={blocks}")


@pytest.mark.parametrize("kind", ["Compressor", "Reverb", "LadderFilter", "Resample",
                                  "BrickwallLimiter"])
def test_one_shot_equals_pedalboard(kind):
    """For time-invariant plugins the aural node's latency-compensated output is pedalboard's
    own one-shot output: the measured latency is the plugin's true one."""
    x = speechlike(2, 44100, 0.5, seed=3)
    ours = PedalboardNode(FACTORIES[kind]())(x, 44100)
    theirs = FACTORIES[kind]()(x, 44100)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


def test_measured_latency_and_modes():
    """Withheld samples are measured; chunked plugins run through a fixed hop."""
    cases = {
        "Compressor": ("direct", 0),
        "Resample": ("direct", None),  # + a margin for per-call rounding
        "BrickwallLimiter": ("hop", None),
        "GSMFullRateCompressor": ("hop", None),
    }
    for kind, (mode, lat) in cases.items():
        node = PedalboardNode(FACTORIES[kind]())
        node.prepare(48000, 2, 256)
        assert node.mode == mode, kind
        if lat is not None:
            assert node.latency_samples == lat
        if mode == "hop":
            assert node.latency_samples >= node.hop - 1 + node.withheld
        else:
            assert node.withheld <= node.latency_samples <= node.withheld + 64
    # a forced hop adds exactly hop - 1
    a = PedalboardNode(pb.Resample(11025))
    b = PedalboardNode(pb.Resample(11025), hop=128)
    a.prepare(48000, 1, 64)
    b.prepare(48000, 1, 64)
    assert a.mode == "direct" and b.mode == "hop"
    assert b.latency_samples == b.withheld + 127 and b.withheld == a.withheld


def test_pitchshift_that_cannot_stream_says_why():
    """pedalboard 0.9's PitchShift returns silence under reset=False (its issue #415): the node
    refuses it with the reason instead of streaming silence."""
    node = PedalboardNode(pb.PitchShift(semitones=3))
    with pytest.raises(PluginError, match="PitchShift.*#415"):
        node.prepare(44100, 1, 256)


@pytest.mark.parametrize("kind", ["Resample", "BrickwallLimiter"])
@pytest.mark.parametrize("block", [1, 64, 500])
def test_impulse_at_declared_latency(kind, block):
    node = PedalboardNode(FACTORIES[kind]())
    node.prepare(48000, 2, 512)
    lat = node.latency_samples
    assert lat > 0
    x = np.zeros((2, lat + 2048), np.float32)
    x[:, 0] = 1.0
    y = stream(node, x, 48000, block, max_block=512)
    assert int(np.argmax(np.abs(y[0]))) == lat
    assert np.abs(y[:, :lat - 200]).max() < 1e-4  # nothing before the filter's pre-ringing


def test_mixed_graph_latency_alignment():
    """aural processors + pedalboard built-ins with latency in a Chain and a Mix: declared
    latency adds up, the impulse lands on it, and parallel branches stay aligned."""
    chain = Chain([Gain(gain_db=-3), pb.Resample(16000), pb.BrickwallLimiter(ceiling_db=-1),
                   pb.HighpassFilter(20), Gain(gain_db=3)])
    mix = Mix([chain, Gain(gain_db=-6)], name="mix")
    sr = 48000
    mix.prepare(sr, 2, 256)
    parts = [c.latency_samples for c in chain]
    assert chain.latency_samples == sum(parts) and parts[1] > 0 and parts[2] > 0
    lat = mix.latency_samples
    assert lat == chain.latency_samples
    x = np.zeros((2, lat + 4000), np.float32)
    x[:, 0] = 0.5
    y = stream(mix, x, sr, [37, 256, 5])
    assert int(np.argmax(np.abs(y[0]))) == lat
    # the two branches add up coherently at the latency (0.25 dry + ~0.17 through the resampler)
    dry_only = 0.5 * 10 ** (-6 / 20)
    assert y[0, lat] > dry_only + 0.12
    # block invariance of the whole mixed graph
    z = speechlike(2, sr, 0.3)
    one = mix(z, sr)
    s = stream(mix, z, sr, [1, 100, 256])
    np.testing.assert_allclose(s[:, lat:], one[:, :z.shape[1] - lat], atol=1e-5, rtol=0)


def test_nonfinite_input_does_not_poison_plugin():
    node = PedalboardNode(pb.LowpassFilter(2000))
    node.prepare(48000, 2, 128)
    x = noise(2, 128)
    bad = x.copy()
    bad[0, 5] = np.nan
    bad[1, 9] = np.inf
    y = node.process(bad)
    assert np.isfinite(y).all() and node.nonfinite_in == 2
    for _ in range(10):
        assert np.isfinite(node.process(x)).all()


# ---------------------------------------------------------------------- parameters
def test_params_listed_with_ranges_units_values():
    node = PedalboardNode(pb.Compressor(threshold_db=-18, ratio=3))
    specs = {p.name: p for p in node.param_specs()}
    assert set(specs) == {"threshold_db", "ratio", "attack_ms", "release_ms"}
    assert specs["threshold_db"].unit == "dB" and specs["attack_ms"].unit == "ms"
    assert specs["ratio"].range == (1.0, 100.0)
    d = node.describe()
    assert d["threshold_db"]["value"] == -18 and d["ratio"]["value"] == 3
    # reserved names are renamed, enums become choices, bools bools
    chorus = {p.name for p in PedalboardNode(pb.Chorus()).param_specs()}
    assert "plugin_mix" in chorus and "mix" not in chorus
    lad = {p.name: p for p in PedalboardNode(pb.LadderFilter()).param_specs()}
    assert lad["mode"].kind == "choice" and "HPF24" in lad["mode"].choices
    bw = {p.name: p for p in PedalboardNode(pb.BrickwallLimiter()).param_specs()}
    assert bw["true_peak"].kind == "bool"


def test_set_applies_at_block_boundary_and_is_heard():
    comp = pb.Compressor(threshold_db=0, ratio=8, attack_ms=1, release_ms=50)
    chain = Chain([Gain(), comp])
    sr = 48000
    x = tone(1000, sr, 0.5, amp=0.5, channels=2)
    chain.prepare(sr, 2, 480)
    loud = stream(chain, x, sr, 480)
    assert chain.set("compressor.threshold_db", -30) == -30.0
    assert comp.threshold_db == 0.0  # queued, not yet applied
    assert chain.get("compressor.threshold_db") == -30.0
    chain.process(x[:, :480])
    assert comp.threshold_db == -30.0  # applied at the block boundary
    quiet = stream(chain, x, sr, 480)
    assert rms_db(loud[:, 4800:]) - rms_db(quiet[:, 4800:]) > 10  # heard
    # clipped to range, unknown names refused with the known ones listed
    assert chain.set("compressor.ratio", 1e6) == 100.0
    with pytest.raises(ParamError, match="threshold_db"):
        chain.set("compressor.knee_db", 3)


def test_choice_and_container_params():
    lad = pb.LadderFilter(cutoff_hz=1000)
    board = pb.Pedalboard([pb.Gain(0), pb.Compressor(), pb.Gain(0)])
    chain = Chain([lad, board])
    chain.set("ladderfilter.mode", "HPF24")
    assert lad.mode == pb.LadderFilter.Mode.HPF24 and chain.get("ladderfilter.mode") == "HPF24"
    names = {p.name for p in chain.node("pedalboard").param_specs()}
    assert {"gain_gain_db", "compressor_threshold_db", "gain_2_gain_db"} <= names
    chain.prepare(48000, 1, 64)
    chain.set("pedalboard.gain_2_gain_db", -12)
    x = tone(440, 48000, 0.1, amp=0.2)
    y = stream(chain, x, 48000, 64)
    assert board[2].gain_db == -12.0
    assert rms_db(y[:, 1000:]) < rms_db(x[:, 1000:]) - 8


def test_cutoff_clamped_below_nyquist():
    node = PedalboardNode(pb.HighpassFilter(100))
    node.set("cutoff_frequency_hz", 30000)
    y = node(noise(1, 8000), 16000)
    assert np.isfinite(y).all()
    assert node.plugin.cutoff_frequency_hz <= 0.49 * 16000 + 1e-3
    assert node.get("cutoff_frequency_hz") <= 8000


def test_latency_param_applies_at_next_prepare():
    node = PedalboardNode(pb.Resample(16000))
    node.prepare(48000, 1, 128)
    lat = node.latency_samples
    node.set("target_sample_rate", 8000)
    node.process(np.zeros((1, 128), np.float32))
    assert node.plugin.target_sample_rate == 16000  # deferred: latency must not change mid-stream
    assert node.get("target_sample_rate") == 8000
    assert node.latency_samples == lat
    node.prepare(48000, 1, 128)
    assert node.plugin.target_sample_rate == 8000 and node.latency_samples != lat


def test_bypass_and_mix_stay_aligned():
    node = PedalboardNode(pb.Resample(8000), mix=0.5)
    sr = 48000
    x = tone(200, sr, 0.3, amp=0.5)
    y = node(x, sr)
    np.testing.assert_allclose(y[:, 2000:-2000], x[:, 2000:-2000], atol=0.02)
    node.bypass = True
    np.testing.assert_allclose(node(x, sr), x, atol=1e-6)


# ---------------------------------------------------------------------- presets
def test_to_dict_from_dict_round_trip():
    ir = (np.random.default_rng(2).standard_normal(64) * np.exp(-np.arange(64) / 8)).astype(np.float32)
    chain = Chain([pb.Compressor(threshold_db=-21, ratio=5), Gain(gain_db=-2),
                   pb.Pedalboard([pb.HighpassFilter(120), pb.LadderFilter(mode=pb.LadderFilter.Mode.BPF12)]),
                   pb.Convolution(ir, 0.7, 48000)])
    chain.node("compressor").bypass = True
    d = chain.to_dict()
    comp = d["nodes"][0]
    assert comp["type"] == "Pedalboard" and comp["plugin"] == "Compressor"
    assert comp["params"]["threshold_db"] == -21 and comp["bypass"] is True
    board = d["nodes"][2]
    assert [p["plugin"] for p in board["plugins"]] == ["HighpassFilter", "LadderFilter"]
    assert board["plugins"][1]["params"]["mode"] == "BPF12"
    nodes = [PedalboardNode.from_dict(n) if n["type"] == "Pedalboard" else Gain(**n["params"])
             for n in d["nodes"]]
    again = Chain(nodes)
    assert again.to_dict() == d
    x = speechlike(2, 48000, 0.3)
    np.testing.assert_allclose(again(x, 48000), chain(x, 48000), atol=1e-6)


def test_presets_loader_builds_pedalboard_nodes():
    """engine.presets.from_dict rebuilds a graph that mixes aural and pedalboard nodes."""
    from aural.engine.presets import from_dict
    chain = Chain([Gain(gain_db=-1), pb.Compressor(threshold_db=-20, ratio=3), pb.Resample(16000)])
    d = chain.to_dict()
    again = from_dict(d)
    assert again.to_dict() == d
    assert isinstance(again.node("compressor"), PedalboardNode)
    x = speechlike(1, 48000, 0.2)
    np.testing.assert_allclose(again(x, 48000), chain(x, 48000), atol=1e-6)


def test_from_dict_errors_name_the_node():
    with pytest.raises(PluginError, match="NoSuchPlugin"):
        PedalboardNode.from_dict({"type": "Pedalboard", "name": "x", "plugin": "NoSuchPlugin"})
    with pytest.raises(PluginError, match="knee"):
        PedalboardNode.from_dict({"type": "Pedalboard", "plugin": "Compressor",
                                  "params": {"knee": 1}})


# ---------------------------------------------------------------------- errors
def _break_after(node: PedalboardNode, calls: int) -> None:
    """Make the hosted plugin raise from its ``calls``-th process call on (a crash stand-in)."""
    real = node._proc
    count = [0]

    def proc(*a):
        count[0] += 1
        if count[0] > calls:
            raise RuntimeError("simulated plugin crash")
        return real(*a)
    node._proc = proc


def test_plugin_raising_is_bypassed_aligned_and_reported():
    sr = 48000
    res = PedalboardNode(pb.Resample(16000))
    chain = Chain([Gain(), res, pb.Gain(0)])
    chain.prepare(sr, 1, 128)
    lat = chain.latency_samples
    _break_after(res, 10)
    x = tone(300, sr, 0.2, amp=0.4)
    y = stream_prepared(chain, x, 128)
    assert res.failed and "Resample" in res.error and "simulated plugin crash" in res.error
    assert errors(chain) == [("chain.resample", res.error)]
    with pytest.raises(PluginError, match="Resample"):
        raise_errors(chain)
    # after the failure the node passes the dry signal, delayed by the same latency
    np.testing.assert_allclose(y[:, 4000:], x[:, 4000 - lat:-lat], atol=1e-6)
    assert chain.latency_samples == lat
    # reset() retries the plugin (here: still broken, so it stays bypassed)
    chain.reset()
    assert res.failed


def stream_prepared(proc, x, block):
    out = np.zeros_like(x)
    for s in range(0, x.shape[1], block):
        out[:, s:s + block] = proc.process(np.ascontiguousarray(x[:, s:s + block]))
    return out


def test_on_error_raise_and_whole_signal_call():
    node = PedalboardNode(pb.Gain(0), on_error="raise")
    node.prepare(48000, 1, 64)
    _break_after(node, 2)
    node.process(np.zeros((1, 64), np.float32))
    node.process(np.zeros((1, 64), np.float32))
    with pytest.raises(PluginError, match="Gain raised RuntimeError"):
        node.process(np.zeros((1, 64), np.float32))
    node2 = PedalboardNode(pb.Gain(0))
    node2.prepare(48000, 1, 64)
    _break_after(node2, 3)
    with pytest.raises(PluginError, match="simulated plugin crash"):
        node2(np.zeros((1, 1000), np.float32), 48000, buffer_size=64)


def test_plugin_that_cannot_prepare_names_itself():
    node = PedalboardNode(pb.MP3Compressor())
    with pytest.raises(PluginError, match="MP3Compressor"):
        node.prepare(96000, 2, 256)  # LAME stops at 48 kHz


def test_wrap_and_chain_accept_pedalboard_objects():
    assert wrap(object()) is None
    assert isinstance(wrap(pb.Gain()), PedalboardNode)
    chain = Chain([pb.Gain(), Gain(), pb.Compressor()])
    assert [p for p, _ in chain.nodes()] == ["gain", "gain_2", "compressor"]
    with pytest.raises(TypeError):
        PedalboardNode("not a plugin")


# ---------------------------------------------------------------------- pedalboard's idiom
def _render(board, audio, sr):
    """Code written for a pedalboard.Pedalboard."""
    board.append(pb.Gain(gain_db=-3))
    assert len(board) == 5 and isinstance(board[0], object)
    list(iter(board))
    a = board(audio, sr)
    b = board.process(audio, sr, buffer_size=1024)
    c = board(audio, sample_rate=sr, buffer_size=333, reset=True)
    return a, b, c


def _plugins():
    return [pb.HighpassFilter(80), pb.Compressor(-20, 4), pb.Reverb(room_size=0.3), pb.Limiter(-3)]


@pytest.mark.parametrize("layout", ["channels_first", "channels_last", "mono_1d"])
def test_pedalboard_code_runs_on_an_aural_chain(layout):
    sr = 44100
    x = speechlike(2, sr, 0.5)
    if layout == "channels_last":
        x = np.ascontiguousarray(x.T)
    elif layout == "mono_1d":
        x = x[0].copy()
    theirs = _render(pb.Pedalboard(_plugins()), x, sr)
    ours = _render(Chain(_plugins()), x, sr)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape == x.shape and a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_audiofile_chunked_stream_with_reset_false(tmp_path):
    """pedalboard.io.AudioFile read/write in chunks with reset=False, as pedalboard's README
    does it, on an aural graph with latency: the file is the stream delayed by the latency."""
    sr = 48000
    x = speechlike(2, sr, 1.0)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    with AudioFile(str(src), "w", sr, 2, bit_depth=32) as f:
        f.write(x)
    graph = Chain([pb.HighpassFilter(60), Gain(gain_db=-2), pb.Resample(22050),
                   pb.Compressor(-18, 3)])
    with AudioFile(str(src)) as f, AudioFile(str(dst), "w", f.samplerate, f.num_channels,
                                             bit_depth=32) as o:
        while f.tell() < f.frames:
            chunk = f.read(int(f.samplerate * 0.3))
            o.write(graph(chunk, f.samplerate, reset=False))
    with AudioFile(str(dst)) as f:
        y = f.read(f.frames)
    lat = graph.latency_samples
    assert lat > 0 and y.shape == x.shape
    one = graph(x, sr)  # reset=True: latency-compensated
    np.testing.assert_allclose(y[:, lat:], one[:, :x.shape[1] - lat], atol=1e-5, rtol=0)
