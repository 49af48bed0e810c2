"""``aural live``: enhance a microphone in real time, controlled over OSC; ``aural devices``."""
from __future__ import annotations

import sys
import time

from .common import CliError


def _device(v: str | None):
    if v is None:
        return None
    v = v.strip()
    return int(v) if v.isdigit() else v


def register(sub) -> None:
    p = sub.add_parser(
        "live", help="enhance an audio input live (duplex stream) with OSC control",
        description="Run a preset on a duplex audio stream (input -> aural -> output) until Ctrl-C. "
                    "Prints the total latency (device + aural's algorithmic latency), then a "
                    "one-line status: input/output peak level, callback CPU load, xruns, dropped "
                    "blocks.  The chain is controlled over OSC at /aural/<node>/<param> "
                    "(send /aural/dump for the namespace).")
    p.add_argument("--preset", default="voice", help="shipped preset name or .json file (default voice)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a parameter (repeatable)")
    p.add_argument("--input", help="input device (id or part of the name; see 'aural devices')")
    p.add_argument("--output", help="output device (id or part of the name)")
    p.add_argument("--samplerate", type=int, default=48000, help="Hz (default 48000)")
    p.add_argument("--blocksize", type=int, default=128, help="frames per callback (default 128)")
    p.add_argument("--channels", type=int, default=1, help="channels processed (default 1)")
    p.add_argument("--output-channels", type=int, default=None,
                   help="device output channels (default: --channels; a mono chain fans out)")
    p.add_argument("--latency", default="low", help="PortAudio latency hint: low, high or seconds")
    p.add_argument("--osc-port", type=int, default=9000, help="UDP port (default 9000; 0 = any free)")
    p.add_argument("--osc-host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 opens it to the network)")
    p.add_argument("--no-osc", action="store_true", help="no OSC server")
    p.add_argument("--conceal", action="store_true",
                   help="packet-loss concealment first in the chain: dropouts (runs of zeros) of "
                        "the input are bridged from the audio before them (Conceal node, +1 ms)")
    p.add_argument("--osc-allow-other-ports", action="store_true",
                   help="let /aural/subscribe name another port of the sender's host (default: "
                        "replies and meters go only to the sender's own address and port)")
    p.add_argument("--osc-max-subscribers", type=int, default=8, metavar="N",
                   help="most OSC subscribers at once (default 8)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--switch-interval", type=float, default=0.0002,
                   help="Python thread switch interval while live, seconds (default 0.0002)")
    p.add_argument("--model-worker", choices=("on", "off"), default="on",
                   help="run each neural model on its own thread, one model hop (8 ms) behind: the "
                        "callback then only copies samples (default on; off: lowest latency, "
                        "but give it --blocksize 256 on a small CPU)")
    p.add_argument("--no-overload-bypass", action="store_true",
                   help="never bypass a node that cannot keep up (count xruns only)")
    p.add_argument("--quiet", action="store_true", help="no status line")
    p.set_defaults(func=run_live)

    d = sub.add_parser("devices", help="list audio devices (for aural live --input/--output)",
                       description="List the input and output devices PortAudio sees, with their "
                                   "host API, channel counts and default rate.")
    d.set_defaults(func=run_devices)


def run_devices(args) -> int:
    from aural.realtime.stream import list_devices
    try:
        print(list_devices())
    except RuntimeError as e:
        raise CliError(str(e)) from None
    return 0


def _model_worker(chain, on: bool):
    """``--model-worker``: neural nodes on their own threads (only when the preset has one, so a
    DSP preset never imports the model runtime)."""
    if "aural.models.enhancer" in sys.modules:  # a preset with a model has imported it
        from aural.models.enhancer import use_model_worker
        use_model_worker(chain, on)
    return chain


def run_live(args) -> int:
    from aural.engine.presets import apply_settings, load_preset
    from aural.realtime import LiveStream, StatusThread

    latency = args.latency
    try:
        latency = float(latency)
    except ValueError:
        if latency not in ("low", "high"):
            raise CliError("--latency is low, high or a number of seconds") from None
    worker = args.model_worker == "on"
    chain = load_preset(args.preset)
    if args.set:
        apply_settings(chain, args.set)
    if args.conceal:  # packet-loss concealment first; the preset's node addresses are kept
        from aural.engine.graph import Chain
        from aural.engine.processors import Conceal
        chain = Chain([Conceal(name="conceal"), *chain.children], name=chain.name)
    _model_worker(chain, worker)
    live = LiveStream(chain, args.samplerate, args.blocksize, input=_device(args.input),
                      output=_device(args.output), channels=args.channels,
                      output_channels=args.output_channels, latency=latency,
                      switch_interval=args.switch_interval or None,
                      overload=not args.no_overload_bypass)
    osc = None
    try:
        live.start()
    except RuntimeError as e:
        raise CliError(str(e)) from None
    except Exception as e:  # sounddevice.PortAudioError and friends: one line
        raise CliError(f"cannot open the audio stream: {e} (see 'aural devices')") from None
    try:
        if not args.no_osc:
            from aural.realtime.osc import Limits, Namespace, OscServer
            if args.osc_max_subscribers < 0:
                raise CliError(f"--osc-max-subscribers must be >= 0, got {args.osc_max_subscribers}")
            limits = Limits(other_ports=args.osc_allow_other_ports,
                            max_subscribers=args.osc_max_subscribers)
            try:
                from aural.realtime.osc import default_loader

                def loader(name: str):
                    return _model_worker(default_loader(name), worker)

                osc = OscServer(Namespace(live, loader=loader, limits=limits), host=args.osc_host,
                                port=args.osc_port).start()
            except OSError as e:
                raise CliError(f"cannot open OSC port {args.osc_host}:{args.osc_port}: {e}") from None
        st = live.stream
        dev = st.device if st is not None else ("?", "?")
        print(f"aural live: preset {args.preset}, {args.samplerate} Hz, {args.blocksize} frames, "
              f"devices in {dev[0]} / out {dev[1]}", file=sys.stderr)
        print(live.latency, file=sys.stderr)
        if osc is not None:
            print(f"OSC on udp://{args.osc_host}:{osc.port} (send /aural/dump for the namespace)",
                  file=sys.stderr)
        status = StatusThread(live, osc, line=not args.quiet).start()
        try:
            end = None if args.duration is None else time.monotonic() + args.duration
            while end is None or time.monotonic() < end:
                time.sleep(0.2 if end is None else max(0.0, min(0.2, end - time.monotonic())))
        except KeyboardInterrupt:
            pass
        finally:
            status.stop()
    finally:
        if osc is not None:
            osc.stop()
        live.stop()
    print(f"stopped: {live.blocks} blocks, {live.xruns} xruns, {live.dropped} dropped, "
          f"{live.errors} callback errors", file=sys.stderr)
    return 0
