"""Live-stream benchmark: callback time, wake-up lateness and xruns, with and without an OSC flood.

    python benchmarks/bench_live.py [--seconds 60] [--preset voice] [--block 128] [--rate 48000]
                                    [--switch-interval 0.0002 ...] [--no-flood] [--json out.json]
                                    [--model-worker on|off|both]
    python benchmarks/bench_live.py --bypass-toggle [--block 128] [--rate 48000]
    python benchmarks/bench_live.py --worker-handover

Runs aural's LiveStream on a private JACK2 server with the dummy driver (a clocked, bit-exact
device; no sound card needed), fed by a separate JACK client process that loops noisy speech into
aural's input.  The OSC flood is a separate process sending set and query messages to aural's OSC
server as fast as it can for the whole run.  Per block it records:

- callback time: from entering aural's callback to leaving it (the DSP chain and the copies);
- wake-up lateness: time from the JACK cycle start to entering aural's callback (read from a JACK
  client's ``frames_since_cycle_start``): PortAudio's work plus any wait for the GIL;
- finish time: wake-up + callback, the figure that must stay inside the block period.

Then it measures the end-to-end latency: a second JACK client plays noise into aural and records
its output; the lag at which the recording equals the offline processing of the same input is the
measured latency, printed next to the one aural reports.  Each ``--switch-interval`` value is one
design point (``sys.setswitchinterval`` while live; Python's default is 0.005).

``--bypass-toggle`` needs no server: it drives the live callback directly with a stereo sub-chain
of eight pedalboard built-ins (reverb, compressor, phaser, chorus, ladder filter, limiter, a
second reverb, a second phaser) put in and out of bypass every 64 blocks (the bypass glide ends within 53, so
each un-bypass restarts the plugins), and prints max / p99 / mean block time (CPU and wall).
``--worker-handover`` times ``PipelinedStreamer.run()`` on the audio side (hand a hop to an
instant model on its worker thread, hops 0.5 ms apart): the per-hop cost of waking the worker.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def test_signal(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Noisy speech (tests/data/speech_a.flac resampled) or, without it, a speech-like signal."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    x = None
    path = os.path.join(HERE, "..", "tests", "data", "speech_a.flac")
    try:
        import soundfile as sf
        from scipy.signal import resample_poly
        s, r = sf.read(path, dtype="float32", always_2d=True)
        s = resample_poly(s[:, 0], sr, r).astype(np.float32)
        x = np.resize(s, n) * (0.3 / (np.abs(s).max() + 1e-9))
    except Exception:  # noqa: BLE001
        t = np.arange(n) / sr
        x = 0.3 * (np.sin(2 * np.pi * 3 * t) > 0) * np.sin(2 * np.pi * 180 * t)
    return (x + 0.02 * rng.standard_normal(n)).astype(np.float32)[None, :]


# ---------------------------------------------------------------------------- helper processes
def feeder(server: str, sr: int) -> None:
    """Loop noisy speech into every PortAudio input port that appears (separate process)."""
    import jack
    sig = test_signal(sr, 10.0, seed=1)[0]
    c = jack.Client("aural-feeder", servername=server, no_start_server=True)
    out = c.outports.register("out")
    pos = [0]

    @c.set_process_callback
    def _process(frames):
        p = pos[0]
        o = out.get_array()
        m = min(frames, sig.size - p)
        o[:m] = sig[p:p + m]
        if m < frames:
            o[m:] = sig[:frames - m]
        pos[0] = (p + frames) % sig.size

    c.activate()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        for p in c.get_ports("PortAudio:in", is_audio=True, is_input=True):
            if out.name not in [q.name for q in c.get_all_connections(p)]:
                try:
                    c.connect(out, p)
                except jack.JackError:
                    pass
        time.sleep(0.05)


def flooder(port: int, seconds: float) -> None:
    """Send OSC set/query messages as fast as possible for ``seconds`` (separate process)."""
    import socket
    from pythonosc.osc_message_builder import OscMessageBuilder
    msgs = []
    for v in np.linspace(-40.0, -10.0, 64):
        b = OscMessageBuilder("/aural/compressor/threshold_db")
        b.add_arg(float(v))
        msgs.append(b.build().dgram)
    msgs.append(OscMessageBuilder("/aural/compressor/threshold_db").build().dgram)  # query
    b = OscMessageBuilder("/aural/nonexistent/param")
    b.add_arg(1.0)
    msgs.append(b.build().dgram)  # error reply
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    end = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < end:
        for m in msgs:
            try:
                s.sendto(m, ("127.0.0.1", port))
                sent += 1
            except BlockingIOError:
                pass
        try:
            while True:
                s.recv(65536)  # drain replies
        except (BlockingIOError, OSError):
            pass
    print(sent, flush=True)


# ---------------------------------------------------------------------------- measurements
def stats(a: np.ndarray) -> dict:
    a = np.asarray(a) * 1e3
    if a.size == 0:
        return {"p50": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0}
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "p999": float(np.percentile(a, 99.9)), "max": float(a.max())}


def build(preset: str, worker: bool):
    """The preset's graph; with ``worker`` its neural nodes run on their model threads (as in
    ``aural live``, whose default that is)."""
    from aural.engine.presets import load_preset
    g = load_preset(preset)
    if "aural.models.enhancer" in sys.modules:
        from aural.models.enhancer import use_model_worker
        use_model_worker(g, worker)
    return g


def run_case(srv, preset: str, sr: int, block: int, seconds: float, flood: bool,
             switch_interval: float | None, freeze_gc: bool, gate: bool, priority,
             worker: bool = False) -> dict:
    import jack
    from aural.realtime import LiveStream, StatusThread
    from aural.realtime.osc import Namespace, OscServer

    clk = jack.Client("aural-clock", servername=srv.name, no_start_server=True)
    clock = lambda: clk.frames_since_cycle_start / sr  # noqa: E731
    live = LiveStream(build(preset, worker), sr, block, clock=clock, switch_interval=switch_interval,
                      freeze_gc=freeze_gc, overload=False, gate=gate)
    ns = Namespace(live)
    osc = OscServer(ns, port=0, priority=priority)
    live.start()
    osc.start()
    status = StatusThread(live, osc, out=open(os.devnull, "w"), priority=priority)
    status.start()
    time.sleep(0.5)  # feeder connects
    b0 = live.blocks
    x0 = live.xruns
    fl = None
    if flood:
        fl = subprocess.Popen([sys.executable, __file__, "--flooder", str(osc.port), str(seconds)],
                              stdout=subprocess.PIPE)
    time.sleep(seconds)
    n = live.blocks - b0
    dsp = live.block_times(n)
    wake = live.wake_times(n)
    xruns = live.xruns - x0
    sent = 0
    if fl is not None:
        out, _ = fl.communicate(timeout=30)
        sent = int(out.strip() or 0)
    handled = osc.messages
    status.stop()
    osc.stop()
    live.stop()
    clk.close()
    period = block / sr
    fin = dsp + wake
    return {"flood": flood, "switch_interval": switch_interval, "freeze_gc": freeze_gc, "gate": gate,
            "model_worker": worker,
            "rt_threads": bool(osc.rt),
            "blocks": int(n), "period_ms": 1e3 * period, "callback_ms": stats(dsp),
            "wake_ms": stats(wake), "finish_ms": stats(fin),
            "late_blocks": int((fin > period).sum()), "xruns": int(xruns),
            "osc_sent": sent, "osc_handled": int(handled),
            "osc_rate": handled / seconds}


def measure_latency(srv, preset: str, sr: int, block: int, worker: bool = False) -> dict:
    """Play noise through the live preset; find the lag where the output equals offline processing."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    from jack_fixture import Tester
    from aural.realtime import LiveStream

    live = LiveStream(build(preset, worker), sr, block)
    live.record(4.0)
    live.start()
    rep = live.latency
    t = Tester(srv, name="aural-latency")
    try:
        t.connect_portaudio()
        sig = test_signal(sr, 1.5, seed=7)
        t.play(sig, sig.shape[1] + rep.total + 4 * block)
        rec = t.wait()
    finally:
        live.stop()
        t.close()
    lin, _ = live.recorded
    k = int(np.argmax(np.abs(lin[0]) > 0))
    ref = build(preset, worker)(np.concatenate([np.zeros((1, k), np.float32), lin[:, k:]], 1), sr,
                              buffer_size=block)
    # ref is latency-compensated; the live output lags the input tap by the algorithmic latency
    n = sig.shape[1] - 1
    best = (np.inf, -1)
    for lag in range(0, rec.shape[1] - n):
        e = float(np.abs(rec[0, lag:lag + n] - ref[0, k:k + n]).max())
        if e < best[0]:
            best = (e, lag)
        if e == 0.0:
            break
    return {"model_worker": worker, "reported_samples": rep.total, "reported_ms": rep.ms(), "device_samples": rep.device,
            "algorithmic_samples": rep.algorithmic, "measured_samples": best[1],
            "measured_ms": 1e3 * best[1] / sr, "max_abs_error": best[0]}


def bypass_toggle(sr: int, block: int, blocks: int = 64 * 40, every: int = 64) -> dict:
    """Per-block callback time while a hosted-plugin sub-chain toggles bypass (no server)."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    from test_live_rt import _drive, _fx_chain
    from aural.realtime import LiveStream
    chain, sub = _fx_chain(2)
    live = LiveStream(chain, sr, block, channels=2, overload=False)
    live.prepare()

    def each(b):
        if b and b % every == 0:
            sub.set("bypass", not sub.bypass)

    cpu = np.zeros(blocks)
    wall, _, _ = _drive(live, blocks, each=each, cpu=cpu)
    un = np.arange(2 * every, blocks, 2 * every)  # the blocks that came out of bypass
    cpu, wall = cpu[16:] * 1e3, wall[16:] * 1e3
    out = {"period_ms": 1e3 * block / sr, "blocks": blocks - 16,
           "cpu": {"max": float(cpu.max()), "p99": float(np.percentile(cpu, 99)), "mean": float(cpu.mean())},
           "wall": {"max": float(wall.max()), "p99": float(np.percentile(wall, 99)), "mean": float(wall.mean())},
           "unbypass_cpu_max": float(cpu[un - 16].max())}
    print(f"bypass toggle every {every} blocks, {block} frames at {sr} Hz (period "
          f"{out['period_ms']:.3f} ms, limit {0.5 * out['period_ms']:.3f} ms): block CPU max / p99 / mean "
          f"{out['cpu']['max']:.3f} / {out['cpu']['p99']:.3f} / {out['cpu']['mean']:.3f} ms; wall "
          f"{out['wall']['max']:.3f} / {out['wall']['p99']:.3f} / {out['wall']['mean']:.3f} ms; "
          f"un-bypass blocks CPU max {out['unbypass_cpu_max']:.3f} ms")
    return out


def worker_handover(hops: int = 3000) -> dict:
    """Audio-side cost of one hop handed to a model worker (instant model, worker asleep)."""
    from aural.models.pipeline import PipelinedStreamer

    class Instant:
        channels, hop, latency = 1, 128, 0

        def __init__(self) -> None:
            self.audio_in = np.zeros((1, 128), np.float32)
            self.audio_out = np.zeros((1, 128), np.float32)

        def run(self) -> None:
            self.audio_out[...] = self.audio_in

        def reset(self) -> None:
            pass

    p = PipelinedStreamer(Instant(), deadline=0.00133)
    x = np.ones((1, 128), np.float32)
    ts = np.zeros(hops)
    for i in range(hops):
        t = time.perf_counter()
        p.run(x)
        ts[i] = time.perf_counter() - t
        time.sleep(0.0005)
    ts = ts[200:] * 1e6
    p.close()
    out = {"median_us": float(np.median(ts)), "p90_us": float(np.percentile(ts, 90)),
           "p99_us": float(np.percentile(ts, 99)), "late": p.late, "missed": p.missed}
    print(f"worker hand-over per hop: median {out['median_us']:.1f} us, p90 {out['p90_us']:.1f} us, "
          f"p99 {out['p99_us']:.1f} us; late {p.late}, missed {p.missed}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="per case (default 60)")
    ap.add_argument("--preset", default="voice")
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--switch-interval", type=float, nargs="+", default=[0.0002],
                    help="design points: sys.setswitchinterval values (0 = keep Python's 5 ms)")
    ap.add_argument("--no-freeze", action="store_true", help="do not gc.freeze() after warm-up")
    ap.add_argument("--no-flood", action="store_true", help="skip the OSC flood cases")
    ap.add_argument("--gate", choices=["on", "off", "both"], default="on",
                    help="OSC/status threads wait for the gap after each callback (default on)")
    ap.add_argument("--no-rt", action="store_true",
                    help="leave the OSC and status threads at normal priority")
    ap.add_argument("--model-worker", choices=["on", "off", "both"], default="both",
                    help="neural nodes on their model thread (aural live's default) or inline")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--bypass-toggle", action="store_true",
                    help="only: block times while a pedalboard sub-chain toggles bypass (no server)")
    ap.add_argument("--worker-handover", action="store_true",
                    help="only: the audio side's cost of handing a hop to the model worker")
    ap.add_argument("--feeder", help=argparse.SUPPRESS)
    ap.add_argument("--flooder", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.feeder:
        feeder(a.feeder, a.rate)
        return 0
    if a.flooder:
        flooder(int(a.flooder[0]), float(a.flooder[1]))
        return 0
    if a.bypass_toggle or a.worker_handover:
        sys.path.insert(0, os.path.join(HERE, ".."))
        res = {}
        if a.bypass_toggle:
            res["bypass_toggle"] = bypass_toggle(a.rate, a.block)
        if a.worker_handover:
            res["worker_handover"] = worker_handover()
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=2)
        return 0

    sys.path.insert(0, os.path.join(HERE, ".."))
    from aural.realtime.jackserver import JackServer

    results = {"preset": a.preset, "rate": a.rate, "block": a.block, "cases": []}
    workers = {"on": [True], "off": [False], "both": [False, True]}[a.model_worker]
    with JackServer(a.rate, a.block) as srv:
        lats = [measure_latency(srv, a.preset, a.rate, a.block, w) for w in workers]
        results["latency"] = lats
        fd = subprocess.Popen([sys.executable, __file__, "--feeder", srv.name, "--rate", str(a.rate)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            gates = {"on": [True], "off": [False], "both": [False, True]}[a.gate]
            for worker in workers:
                for gate in gates:
                    for si in a.switch_interval:
                        for flood in ([False] if a.no_flood else [False, True]):
                            r = run_case(srv, a.preset, a.rate, a.block, a.seconds, flood,
                                         si if si > 0 else None, not a.no_freeze, gate,
                                         None if a.no_rt else 1, worker)
                            results["cases"].append(r)
                            print(json.dumps(r), file=sys.stderr, flush=True)
        finally:
            fd.terminate()
            fd.wait(5)
    period = 1e3 * a.block / a.rate
    print(f"\n## bench_live: preset {a.preset}, {a.block} frames at {a.rate} Hz "
          f"(period {period:.3f} ms, target p99 < {0.25 * period:.3f} ms), {a.seconds:g} s per case\n")
    print("| model worker | RT OSC/status | gate | switch interval | OSC flood | callback p50 / p99 / max ms | "
          "wake-up p99 / max ms | finish p99 / max ms | late blocks | xruns | OSC msgs/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results["cases"]:
        c, w, f = r["callback_ms"], r["wake_ms"], r["finish_ms"]
        si = "5 ms (default)" if r["switch_interval"] is None else f"{1e3 * r['switch_interval']:g} ms"
        print(f"| {'on' if r['model_worker'] else 'off'} | {'yes' if r['rt_threads'] else 'no'} | {'on' if r['gate'] else 'off'} | {si} | {'yes' if r['flood'] else 'no'} | {c['p50']:.3f} / {c['p99']:.3f} / {c['max']:.3f} "
              f"| {w['p99']:.3f} / {w['max']:.3f} | {f['p99']:.3f} / {f['max']:.3f} | {r['late_blocks']} "
              f"| {r['xruns']} | {r['osc_rate']:.0f} |")
    for lat in lats:
        print(f"\nend-to-end latency, model worker {'on' if lat['model_worker'] else 'off'}: reported "
              f"{lat['reported_samples']} samples ({lat['reported_ms']:.2f} ms: device "
              f"{lat['device_samples']} + aural {lat['algorithmic_samples']}), measured "
              f"{lat['measured_samples']} samples ({lat['measured_ms']:.2f} ms), max |error| "
              f"{lat['max_abs_error']:.2g}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
