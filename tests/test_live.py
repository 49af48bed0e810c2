"""The live stream against a real audio server: a private JACK2 server with the dummy driver.

A second JACK client (tests/jack_fixture.py) plays a known signal into aural's input and records
aural's output in the same cycles.  Xruns are reported, not asserted (shared machines).
"""
from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from aural.engine import Processor
from aural.engine.presets import load_preset
from aural.engine.processors import Gain
from aural.realtime import LiveStream, StatusThread
from aural.realtime.osc import Namespace, OscServer

pytest_plugins = ["jack_fixture"]

RATE = 48000
BLOCK = 128
HERE = os.path.dirname(os.path.abspath(__file__))


def speech(seconds: float, seed: int = 0) -> np.ndarray:
    import soundfile as sf
    from scipy.signal import resample_poly
    s, r = sf.read(os.path.join(HERE, "data", "speech_b.flac"), dtype="float32", always_2d=True)
    s = resample_poly(s[:, 0], RATE, r)
    n = int(seconds * RATE)
    s = np.resize(s, n) * (0.3 / (np.abs(s).max() + 1e-9))
    rng = np.random.default_rng(seed)
    return (s + 0.02 * rng.standard_normal(n)).astype(np.float32)[None, :]


def voice_chain(preset: str = "voice_dsp", worker: bool = False):
    """The DSP voice chain (the engine's mechanics; the neural one has its own tests below);
    worker: neural nodes on their model thread (what ``aural live`` does by default)."""
    c = load_preset(preset)
    c.append(Gain(name="out_gain"))
    if worker:
        from aural.models.enhancer import use_model_worker
        assert use_model_worker(c) == 1
    return c


def osc_msg(address, *args) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


class Run:
    """One live run: LiveStream + OSC server + status thread, the tester playing ``signal``."""

    def __init__(self, server, tester, chain, signal, during=None, tail: int = 4096) -> None:
        self.live = LiveStream(chain, RATE, server.period)
        self.live.record(signal.shape[1] / RATE + 2.0)
        self.live.start()
        self.latency = self.live.latency  # read while the stream is open
        self.osc = OscServer(Namespace(self.live), port=0).start()
        self.status = StatusThread(self.live, self.osc, line=False).start()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2.0)
        try:
            tester.connect_portaudio()
            tester.play(signal, signal.shape[1] + self.latency.total + tail)
            if during is not None:
                during(self)
            self.rec = tester.wait(60)
        finally:
            self.status.stop()
            self.osc.stop()
            self.live.stop()
            self.sock.close()
        self.xruns = tester.xruns_during_play
        # model hops a worker did not finish within the callback's deadline (the aligned input
        # replaced them: degraded, so not equal to offline processing)
        self.missed = sum(p.missed for p in self.live._g.pipes)
        self.lin, self.lout = self.live.recorded
        nz = np.flatnonzero(np.abs(self.lin[0]) > 0)
        self.k = int(nz[0]) if nz.size else -1  # where the signal entered aural, in its input stream

    def send(self, address, *args) -> None:
        self.sock.sendto(osc_msg(address, *args), ("127.0.0.1", self.osc.port))


def clean_run(*args, attempts: int = 5, **kw) -> Run:
    """A Run whose playback saw no xrun (on a loaded machine an xrun can drop or slip a block of
    the JACK recording; aural's own input/output taps are checked either way).  Xruns are
    reported, never asserted to be zero: after ``attempts`` runs with xruns the test fails.
    (On the 2-core CI machine the neural chain at 128 frames sometimes needs a retry.)"""
    seen = []
    for _ in range(attempts):
        gc.collect()  # ONNX Runtime sessions left over by earlier tests keep their threads alive
        r = Run(*args, **kw)
        if r.xruns == 0 and r.missed == 0:
            if seen:
                print(f"\n(retried: (xruns, missed model hops) in earlier runs {seen})")
            return r
        seen.append((r.xruns, r.missed))
    pytest.fail(f"every run had JACK xruns or missed model hops ({seen}): the machine is too "
                "loaded to check the recording")


def offline(chain_factory, lin: np.ndarray) -> np.ndarray:
    """The graph run offline (whole-signal call) on the input stream aural saw."""
    return chain_factory()(lin, RATE)


def check_live_equals_offline(server, tester, preset: str, worker: bool = False,
                              attempts: int = 5) -> Run:
    """The tester's recording equals the chain run offline on what aural saw, at exactly the
    reported latency.  A run with JACK xruns may lose or slip a block of the recording: only such
    a run may be retried when it does not match; a mismatch without xruns fails at once."""
    sig = speech(1.5)
    n = sig.shape[1]
    block = server.period
    seen = []
    for _ in range(attempts):
        gc.collect()
        r = Run(server, tester, voice_chain(preset, worker), sig)
        assert r.k >= 0
        # the signal reached aural intact (the JACK path is bit-exact), unless an xrun slipped a
        # block of it: such a run is retried like any other spoiled by xruns
        if not np.array_equal(r.lin[:, r.k:r.k + n], sig):
            assert r.xruns > 0, "no xrun, yet aural's input is not the signal sent"
            seen.append((r.xruns, r.missed))
            continue
        ref = offline(lambda: voice_chain(preset, worker), r.lin)[:, r.k:r.k + n]
        # aural's own output tap equals offline processing whatever the server did
        lat = r.latency.algorithmic
        np.testing.assert_array_equal(r.lout[:, r.k + lat:r.k + lat + n], ref)
        # find the lag where the tester's recording equals the offline result
        errs = np.array([np.abs(r.rec[:, lag:lag + n] - ref).max()
                         for lag in range(0, r.rec.shape[1] - n + 1)])
        measured = int(np.argmin(errs))
        print(f"\n{preset} at {block} frames: reported latency {r.latency.total} samples "
              f"({r.latency}); measured {measured}; max |error| {errs[measured]:.3g}; "
              f"xruns {r.xruns}, missed model hops {r.missed}")
        ok = errs[measured] <= 1e-6 and measured == r.latency.total and r.missed == 0
        if ok:
            break
        assert r.xruns > 0, "no xrun, yet the recording is not the offline output at the latency"
        seen.append((r.xruns, r.missed))
    else:
        pytest.fail(f"every run had JACK xruns that spoiled the recording ({seen}): the machine "
                    "is too loaded to check it")
    if seen:
        print(f"(retried: (xruns, missed model hops) in earlier runs {seen})")
    c = voice_chain(preset, worker)
    c.prepare(RATE, sig.shape[0], block)
    assert r.latency.algorithmic == c.latency_samples
    assert r.latency.algorithmic > 0 and r.latency.device == 2 * block
    return r


def test_dsp_voice_output_equals_offline_and_latency_is_measured(jack_server, jack_tester):
    r = check_live_equals_offline(jack_server, jack_tester, "voice_dsp")
    snap = r.live.snapshot()
    assert snap.model_late == -1 and "model late" not in snap.line()  # no model worker here


@pytest.mark.parametrize("jack_server", [256], indirect=True)
def test_neural_voice_output_equals_offline_and_latency_is_measured(jack_server, jack_tester):
    """The neural voice chain at 256 frames (5.3 ms).  At 128 the ONNX model runs on every third
    block, and on the 2-core CI machine its cold-cache runs (1-3 ms against offline 0.2-0.4 ms)
    in a 2.67 ms period made JACK xruns in 5 runs out of 5; see docs/realtime.md."""
    check_live_equals_offline(jack_server, jack_tester, "voice")


def test_neural_voice_with_model_worker_at_128_frames(jack_server, jack_tester):
    """``aural live``'s default: the model on its worker thread, one 8 ms model hop behind, so
    the callback only copies samples and holds 128 frames; still equal to offline processing
    (the pipeline's samples do not depend on the thread's timing), latency + 384 samples."""
    r = check_live_equals_offline(jack_server, jack_tester, "voice", worker=True)
    assert r.latency.algorithmic == 945 + 384  # 19.69 ms inline + one 16 kHz hop of 128
    assert r.latency.worker == 384  # of which the worker's hop, declared by its pipeline
    neural = r.live.chain.node("neural")
    snap = r.live.snapshot()
    assert snap.model_late == neural.late_hops >= 0 and f"model late {neural.late_hops}" in snap.line()
    print(f"model worker: {neural._streamer.submitted} hops, {neural.late_hops} late; "
          f"callback p99 {np.percentile(r.live.block_times(), 99) * 1e3:.2f} ms")


def test_osc_change_audible_within_two_blocks(jack_server, jack_tester):
    sig = speech(1.0, seed=1)
    marks = {}

    def during(run):
        ns = run.osc.namespace
        handle = ns.handle

        def timed_handle(address, args, sender=("", 0)):
            if args and "handled" not in marks:
                marks["handled"] = run.live.blocks  # the OSC thread has the message
            return handle(address, args, sender)

        ns.handle = timed_handle
        time.sleep(0.5)
        marks["block"] = run.live.blocks
        run.send("/aural/out_gain/gain_db", -20.0)
        time.sleep(0.05)
        run.send("/aural/out_gain/gain_db")  # query
        marks["reply"] = run.sock.recvfrom(65536)[0]

    r = Run(jack_server, jack_tester, voice_chain(), sig, during=during)
    ref = offline(voice_chain, r.lin)
    m = min(ref.shape[1], r.lout.shape[1])
    lat = r.latency.algorithmic
    # live output at stream index t corresponds to offline output at t - latency
    live_, ref_ = r.lout[0, lat:m].astype(np.float64), ref[0, :m - lat].astype(np.float64)
    # relative: the 20 ms glide changes the first samples by ~0.1%, whatever the level
    changed = np.flatnonzero(np.abs(live_ - ref_) > 1e-5 * np.abs(ref_) + 1e-9)
    assert changed.size, "the gain change never reached the output"
    first_block = (int(changed[0]) + lat) // BLOCK
    print(f"\nchange sent before block {marks['block']}, handled by the OSC thread before block "
          f"{marks['handled']}, first changed output block {first_block}")
    # applied at the next block boundary after the OSC thread queued it (the thread itself may
    # wake a few blocks after the send on a loaded 2-core machine: that part is bounded loosely)
    assert marks["handled"] <= first_block <= marks["handled"] + 2
    assert first_block - marks["block"] <= 8
    # audible: after the 20 ms glide the output is 20 dB down
    t = (first_block + 40) * BLOCK
    seg_live = r.lout[0, t:t + RATE // 4].astype(np.float64)
    seg_ref = ref[0, t - lat:t - lat + RATE // 4].astype(np.float64)
    ratio = 10 * np.log10(np.sum(seg_live ** 2) / np.sum(seg_ref ** 2))
    assert ratio == pytest.approx(-20.0, abs=0.1)
    from pythonosc.osc_message import OscMessage
    rep = OscMessage(marks["reply"])
    assert rep.address == "/aural/out_gain/gain_db" and rep.params[0] == pytest.approx(-20.0)


def test_bypass_gives_the_delayed_input(jack_server, jack_tester):
    sig = speech(1.5, seed=2)
    marks = {}

    def during(run):
        time.sleep(0.3)
        marks["block"] = run.live.blocks
        run.send("/aural/*/bypass", 1)
        time.sleep(0.05)
        run.send("/aural/limiter/bypass")
        marks["reply"] = run.sock.recvfrom(65536)[0]

    r = Run(jack_server, jack_tester, voice_chain(), sig, during=during)
    lat = r.latency.algorithmic
    # from 250 ms after the switch (the bypass glide is over) the output is the input, delayed by the
    # graph's latency, sample for sample
    t0 = (marks["block"] + 3) * BLOCK + RATE // 4  # the one-pole glide (10 ms) settles in ~140 ms
    t1 = min(r.lout.shape[1], r.k + sig.shape[1])
    assert t1 - t0 > RATE // 4
    np.testing.assert_array_equal(r.lout[:, t0:t1], r.lin[:, t0 - lat:t1 - lat])
    # and before the switch it was processed (not equal to the input)
    assert np.abs(r.lout[0, r.k + lat:r.k + lat + RATE // 10] - r.lin[0, r.k:r.k + RATE // 10]).max() > 1e-3
    from pythonosc.osc_message import OscMessage
    assert OscMessage(marks["reply"]).params == [1]


def test_osc_flood_leaves_output_correct(jack_server, jack_tester):
    """10,000 messages during playback (sets to current values, queries, errors, garbage,
    subscriptions with meters): the output stays bit-identical to offline processing."""
    sig = speech(1.5, seed=3)
    stats = {}
    chain = voice_chain()
    thr = chain.get("compressor.threshold_db")

    def during(run):
        time.sleep(0.2)
        sub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sub.bind(("127.0.0.1", 0))
        sub.settimeout(1.0)
        sub.sendto(osc_msg("/aural/subscribe", 50.0), ("127.0.0.1", run.osc.port))
        from pythonosc.osc_message import OscMessage
        assert OscMessage(sub.recvfrom(65536)[0]).address == "/aural/subscribed"
        before = run.osc.received
        # the flood comes from another process, as it would from a real controller
        flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(run.osc.port), repr(thr)])
        assert flood.wait(60) == 0
        deadline = time.monotonic() + 20
        while run.osc.received - before < 10000 and time.monotonic() < deadline:
            time.sleep(0.01)
        stats["received"] = run.osc.received - before
        stats["blocks_at_end"] = run.live.blocks
        meters = []
        t = time.monotonic()
        while time.monotonic() - t < 1.0 and len(meters) < 3:
            try:
                m = OscMessage(sub.recvfrom(65536)[0])
            except socket.timeout:
                break
            if m.address == "/aural/meters":
                meters.append(m.params)
        stats["meters"] = meters
        sub.close()

    r = clean_run(jack_server, jack_tester, chain, sig, during=during)
    assert stats["received"] == 10000, stats
    assert r.live.errors == 0
    ref = offline(voice_chain, r.lin)
    lat = r.latency.algorithmic
    m = min(ref.shape[1] + lat, r.lout.shape[1])
    assert np.abs(r.lout[:, lat:m] - ref[:, :m - lat]).max() <= 1e-6
    n = sig.shape[1]
    np.testing.assert_allclose(r.rec[:, r.latency.total:r.latency.total + n],
                               ref[:, r.k:r.k + n], atol=1e-6, rtol=0)
    # meters reached the subscriber: in_peak, in_rms, out_peak, out_rms, load, xruns, dropped, latency
    assert stats["meters"], "no /aural/meters message"
    assert all(len(m) == 8 and m[7] == pytest.approx(r.latency.ms(), rel=1e-6) for m in stats["meters"])
    # the last meter message may fall after the signal ended (input silent): one during the
    # playback must show its level
    mt = max(stats["meters"], key=lambda m: m[0])
    assert -40 < mt[0] <= 0.0, stats["meters"]
    print(f"\nflood: {stats['received']} datagrams handled, xruns {r.live.xruns}, meters {mt}")


FLOOD = """
import socket, sys
from pythonosc.osc_message_builder import OscMessageBuilder
def m(a, *args):
    b = OscMessageBuilder(a)
    for x in args:
        b.add_arg(x)
    return b.build().dgram
port, thr = int(sys.argv[1]), float(sys.argv[2])
msgs = [m("/aural/compressor/threshold_db", thr), m("/aural/out_gain/gain_db", 0.0),
        m("/aural/wiener/floor_db"), m("/aural/nosuch/param", 1.0),
        m("/aural/compressor/threshold_db", 99.0), b"\\x00\\x01garbage",
        m("/aural/*/mix"), m("/aural/latency")]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
for i in range(10000):
    s.sendto(msgs[i % len(msgs)], ("127.0.0.1", port))
"""


class Slow(Processor):
    """A node that cannot keep up: busy for 1.2 block periods per block."""

    def _process(self, x, out):
        end = time.perf_counter() + 1.2 * BLOCK / self.sample_rate
        while time.perf_counter() < end:
            pass
        out[:] = x


def test_overload_bypasses_the_slow_node(jack_server, jack_tester):
    from aural.engine import Chain
    chain = Chain([Gain(name="pre", gain_db=-6.0), Slow(name="slow"), Gain(name="post")])
    sig = speech(1.5, seed=4)
    r = Run(jack_server, jack_tester, chain, sig)
    assert chain.node("slow").bypass
    assert not chain.node("pre").bypass and not chain.node("post").bypass
    assert any("'slow' bypassed" in e for e in r.status.events), r.status.events
    # audio kept flowing: the stream ran all along, and after the bypass the callback is fast again
    times = r.live.block_times()
    assert r.live.blocks * BLOCK >= sig.shape[1]
    # every block that took longer than the period is a dropped block (plus any underflow)
    late = int((times > BLOCK / RATE).sum())
    assert late >= 10 and r.live.dropped >= late and r.status.last.dropped >= late - 2
    assert np.percentile(times[-200:], 90) < 0.5 * BLOCK / RATE
    # and the output is the input at -6 dB once the bypass glide is over
    tail = slice(-RATE // 4, None)
    np.testing.assert_allclose(r.lout[0, tail], r.lin[0, tail] * 10 ** (-6 / 20), atol=1e-6)
    print(f"\noverload: {r.status.events}; xruns {r.live.xruns}")


def test_cli_live_and_devices(jack_server):
    env = dict(os.environ)
    p = subprocess.run([sys.executable, "-m", "aural.cli", "live", "--duration", "1", "--osc-port", "0",
                        "--quiet"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "latency" in p.stderr and "device 5.33 ms" in p.stderr and "OSC on udp://127.0.0.1:" in p.stderr
    assert "aural 27.69 ms (1329)" in p.stderr  # the voice preset, its model on the worker thread
    p = subprocess.run([sys.executable, "-m", "aural.cli", "live", "--duration", "0.5", "--no-osc",
                        "--quiet", "--model-worker", "off"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "aural 19.69 ms (945)" in p.stderr
    d = subprocess.run([sys.executable, "-m", "aural.cli", "devices"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert d.returncode == 0 and "JACK" in d.stdout


@pytest.mark.parametrize("preset,worker", [("voice_dsp", False), ("voice", True)])
def test_callback_allocates_no_arrays(preset, worker):
    """After warm-up the callback path (copy in, voice chain, copy out, meters) creates no array:
    with 2048-frame blocks any block-sized temporary (8 KiB) would show in tracemalloc's peak,
    while the callback's own Python scalars stay under ~1 KiB.  With the model worker, the
    hand-over to its thread (copies, a counter, one byte down a pipe) allocates nothing either."""
    import tracemalloc
    block = 2048
    live = LiveStream(voice_chain(preset, worker), RATE, block, overload=True)
    live.prepare()
    rng = np.random.default_rng(5)
    ind = (0.1 * rng.standard_normal((block, 1))).astype(np.float32)
    outd = np.zeros((block, 1), np.float32)
    for _ in range(50):
        live._callback(ind, outd, block, None, 0)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(300):
            live._callback(ind, outd, block, None, 0)
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert live.errors == 0, live.last_error
    assert cur - base < 1024, f"{cur - base} bytes kept"
    assert peak - base < 4096, f"peak {peak - base} bytes above the start: an array was allocated"
