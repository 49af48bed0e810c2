"""OSC control of a running graph: the ``/aural`` namespace and a UDP server (python-osc codec).

Addresses (node paths use ``/`` where the graph uses ``.``; names are the graph's node names):

    /aural/<node>/<param> <value>    set, natural units; validated against the declared range
    /aural/<node>/bypass <0|1>       bypass (latency-compensated dry path)
    /aural/<node>/mix <0..1>         dry/wet
    /aural/bypass, /aural/mix        the same for the whole graph
    /aural/*/bypass 1                OSC wildcards (* ? [..] {a,b}) over the namespace
    /aural/<node>/<param>            no argument: query, replies "<address> <value>"
    /aural/dump                      replies "/aural/dump <address> <kind> <min> <max> <unit> <value>"
                                     per parameter, then "/aural/dump/end <count>"
    /aural/subscribe [rate_hz [port]]  every change is echoed to the subscriber, and
                                     "/aural/meters" arrives at rate_hz (default 10)
    /aural/unsubscribe
    /aural/preset/load <name>        replies "/aural/preset/loaded <name> <latency_samples>"
    /aural/preset/save <name>        replies "/aural/preset/saved <name> <path>"
    /aural/latency                   replies "/aural/latency <samples> <ms>"
    /aural/meters                    replies one meters message (see below)

Meters: ``/aural/meters in_peak_db in_rms_db out_peak_db out_rms_db load xruns dropped latency_ms``.
Anything wrong (unparseable packet, unknown address, wrong argument type or count, a value out of
the declared range, a full parameter queue) gets ``/aural/error <address> <message>`` and changes
nothing; a wildcard set is checked on every match before any is applied.

Threading: the server thread only parses, validates and calls ``Processor.set`` (which pushes
into the node's bounded lock-free queue; the audio thread applies it at the next block).  Timed
bundles are applied on arrival and never wait (python-osc's ``strict_timing=False`` behaviour).
"""
from __future__ import annotations

import math
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from aural.engine import Processor
from aural.engine.params import Param, ParamError

__all__ = ["Namespace", "OscServer", "Entry", "osc_pattern", "PREFIX"]

PREFIX = "/aural"
_RESERVED = {"dump", "subscribe", "unsubscribe", "preset", "latency", "meters", "error", "bypass", "mix"}
_BYPASS = Param("bypass", False, kind="bool", doc="latency-compensated bypass")
_MIX = Param("mix", 1.0, range=(0.0, 1.0), doc="dry/wet")
_WILD = re.compile(r"[*?\[{]")


def osc_pattern(pattern: str) -> re.Pattern:
    """Compile an OSC 1.0 address pattern (* ? [abc] [!a-z] {foo,bar}) to a regex."""
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                raise ValueError("unclosed [ in address pattern")
            body = pattern[i + 1:j]
            neg = body.startswith("!")
            if neg:
                body = body[1:]
            body = "".join("\\" + ch if ch in "\\^[]" else ch for ch in body)
            out.append("[" + ("^" if neg else "") + body + "]")
            i = j
        elif c == "{":
            j = pattern.find("}", i + 1)
            if j < 0:
                raise ValueError("unclosed { in address pattern")
            out.append("(?:" + "|".join(re.escape(a) for a in pattern[i + 1:j].split(",")) + ")")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    out.append("$")
    return re.compile("".join(out))


@dataclass
class Entry:
    """One settable address: a parameter (or bypass/mix) of one node."""

    address: str
    node: Processor
    param: str
    spec: Param

    def value(self) -> Any:
        return _osc_value(self.spec, self.node.get(self.param))

    def describe(self) -> list:
        lo, hi = self.spec.range
        kind = self.spec.kind
        return [self.address, kind, float(lo) if math.isfinite(lo) else -math.inf,
                float(hi) if math.isfinite(hi) else math.inf, self.spec.unit, self.value()]


def _osc_value(spec: Param, v: Any) -> Any:
    """User value -> OSC argument (bools as int 0/1, choices as their name)."""
    if spec.kind == "bool":
        return int(bool(v))
    if spec.kind == "int":
        return int(v)
    if spec.kind == "choice":
        return str(v)
    return float(v)


class OscError(Exception):
    """A message that is refused (becomes an /aural/error reply)."""


def check_value(spec: Param, args: tuple) -> Any:
    """Validate one OSC argument list for ``spec``; return the value to set or raise OscError."""
    if len(args) != 1:
        raise OscError(f"expects one argument, got {len(args)}")
    a = args[0]
    if spec.kind == "choice":
        if isinstance(a, str):
            names = [c.lower() for c in spec.choices]
            if a.strip().lower() not in names:
                raise OscError(f"{a!r} is not one of {', '.join(spec.choices)}")
            return a
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            raise OscError(f"wrong type {type(a).__name__}: expects a choice name or index")
        if not (math.isfinite(a) and a == int(a) and 0 <= a < len(spec.choices)):
            raise OscError(f"index {a!r} out of range 0..{len(spec.choices) - 1}")
        return spec.choices[int(a)]
    if spec.kind == "bool":
        if isinstance(a, bool):
            return a
        if isinstance(a, (int, float)):
            if not (math.isfinite(a) and 0 <= a <= 1):
                raise OscError(f"value {a!r} out of range [0, 1]")
            return a >= 0.5
        if isinstance(a, str) and a.strip().lower() in ("on", "off", "true", "false", "yes", "no", "0", "1"):
            return spec.coerce(a) == 1.0
        raise OscError(f"wrong type {type(a).__name__}: expects 0/1")
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        raise OscError(f"wrong type {type(a).__name__}: expects a number ({spec.unit or 'no unit'})")
    x = float(a)
    if not math.isfinite(x):
        raise OscError(f"value {a!r} is not finite")
    lo, hi = spec.range
    if x < lo or x > hi:
        unit = f" {spec.unit}" if spec.unit else ""
        raise OscError(f"value {x:g} out of range [{lo:g}, {hi:g}]{unit}")
    return x


class Namespace:
    """The ``/aural`` address space of a graph, with the special addresses.

    target: a :class:`~aural.realtime.LiveStream` (its graph is followed across preset loads) or
    a bare Processor.  loader(name) -> Processor and saver(name, graph) -> path implement the
    preset addresses (defaults: aural's preset store).  ``handle(address, args, sender)`` returns
    the replies for the sender; changes are echoed to subscribers through ``send``.
    """

    def __init__(self, target: Any, *, loader: Callable[[str], Processor] | None = None,
                 saver: Callable[[str, Processor], str] | None = None,
                 send: Callable[[tuple, str, list], None] | None = None) -> None:
        self.target = target
        self.loader = loader or default_loader
        self.saver = saver or default_saver
        self.send = send or (lambda addr, address, args: None)
        self.subscribers: dict[tuple, list] = {}  # (host, port) -> [rate_hz, next_due]
        self._graph: Processor | None = None
        self.entries: dict[str, Entry] = {}
        self.rebuild()

    # ------------------------------------------------------------------ graph
    @property
    def graph(self) -> Processor:
        return getattr(self.target, "chain", self.target)

    def rebuild(self) -> None:
        """Recompute the addresses from the current graph (after a preset load)."""
        g = self.graph
        entries: dict[str, Entry] = {}
        for addr_suffix, node in self._nodes(g):
            base = f"{PREFIX}/{addr_suffix}" if addr_suffix else PREFIX
            for spec in node.param_specs():
                if not addr_suffix and spec.name in _RESERVED:
                    continue
                entries[f"{base}/{spec.name}"] = Entry(f"{base}/{spec.name}", node, spec.name, spec)
            entries[f"{base}/bypass"] = Entry(f"{base}/bypass", node, "bypass", _BYPASS)
            entries[f"{base}/mix"] = Entry(f"{base}/mix", node, "mix", _MIX)
        self.entries = entries
        self._graph = g

    @staticmethod
    def _nodes(g: Processor):
        yield "", g
        if hasattr(g, "nodes"):
            for path, node in g.nodes():
                first = path.split(".", 1)[0]
                if first in _RESERVED:
                    continue  # a node named like a special address stays reachable by wildcard only
                yield path.replace(".", "/"), node

    def _sync(self) -> None:
        if self.graph is not self._graph:
            self.rebuild()

    def match(self, address: str) -> list[Entry]:
        self._sync()
        e = self.entries.get(address)
        if e is not None:
            return [e]
        if _WILD.search(address):
            try:
                rx = osc_pattern(address)
            except (ValueError, re.error) as exc:
                raise OscError(f"bad address pattern: {exc}") from None
            return [e for a, e in self.entries.items() if rx.match(a)]
        return []

    # ------------------------------------------------------------------ dispatch
    def handle(self, address: str, args: tuple | list, sender: tuple = ("", 0)) -> list[tuple[str, list]]:
        """Act on one message; return replies [(address, args)] for the sender."""
        args = tuple(args)
        try:
            if not address.startswith(PREFIX + "/") and address != PREFIX:
                raise OscError("unknown address (the namespace is /aural/...)")
            special = self._special.get(address)
            if special is not None:
                return special(self, args, sender)
            entries = self.match(address)
            if not entries:
                raise OscError("unknown address")
            if not args:  # query
                return [(e.address, [e.value()]) for e in entries]
            values = [check_value(e.spec, args) for e in entries]  # all-or-nothing
            replies: list[tuple[str, list]] = []
            for e, v in zip(entries, values):
                try:
                    e.node.set(e.param, v)
                except ParamError as exc:  # a full queue
                    replies.append(("/aural/error", [e.address, str(exc)]))
                    continue
                if self.subscribers:
                    val = e.value()
                    for sub in list(self.subscribers):
                        self.send(sub, e.address, [val])
            return replies
        except OscError as exc:
            return [("/aural/error", [address, str(exc)])]
        except Exception as exc:  # noqa: BLE001 - a bad message never takes the server down
            return [("/aural/error", [address, f"{type(exc).__name__}: {exc}"])]

    def _dump(self, args, sender):
        self._sync()
        out = [("/aural/dump", e.describe()) for e in self.entries.values()]
        out.append(("/aural/dump/end", [len(self.entries)]))
        return out

    def _subscribe(self, args, sender):
        rate = 10.0
        port = sender[1] if len(sender) > 1 else 0
        if len(args) > 2:
            raise OscError("expects [rate_hz [port]]")
        if args:
            if isinstance(args[0], bool) or not isinstance(args[0], (int, float)) or not 0 < args[0] <= 1000:
                raise OscError("rate_hz must be a number in (0, 1000]")
            rate = float(args[0])
        if len(args) == 2:
            if isinstance(args[1], bool) or not isinstance(args[1], int) or not 0 < args[1] < 65536:
                raise OscError("port must be an int 1..65535")
            port = args[1]
        key = (sender[0], port)
        self.subscribers[key] = [rate, 0.0]
        if key != tuple(sender[:2]):
            self.send(key, "/aural/subscribed", [rate])
            return []
        return [("/aural/subscribed", [rate])]

    def _unsubscribe(self, args, sender):
        gone = [k for k in self.subscribers if k[0] == sender[0] and (k[1] == sender[1] or
                (args and k[1] == args[0]))]
        for k in gone:
            del self.subscribers[k]
        return [("/aural/unsubscribed", [len(gone)])]

    def _preset_load(self, args, sender):
        if len(args) != 1 or not isinstance(args[0], str):
            raise OscError("expects a preset name (string)")
        name = args[0]
        try:
            graph = self.loader(name)
        except Exception as exc:  # noqa: BLE001
            raise OscError(f"cannot load preset {name!r}: {exc}") from None
        if hasattr(self.target, "swap_chain"):
            self.target.swap_chain(graph)
        else:
            self.target = graph
        self.rebuild()
        lat = self._latency_samples()
        for sub in list(self.subscribers):
            self.send(sub, "/aural/preset/loaded", [name, lat])
        return [("/aural/preset/loaded", [name, lat])]

    def _preset_save(self, args, sender):
        if len(args) != 1 or not isinstance(args[0], str):
            raise OscError("expects a preset name (string)")
        try:
            path = self.saver(args[0], self.graph)
        except Exception as exc:  # noqa: BLE001
            raise OscError(f"cannot save preset {args[0]!r}: {exc}") from None
        return [("/aural/preset/saved", [args[0], str(path)])]

    def _latency_samples(self) -> int:
        lat = getattr(self.target, "latency", None)
        if lat is not None and hasattr(lat, "total"):
            return int(lat.total)
        return int(self.graph.latency_samples)

    def _latency(self, args, sender):
        if args:
            raise OscError("read-only (send no argument)")
        lat = getattr(self.target, "latency", None)
        if lat is not None and hasattr(lat, "total"):
            return [("/aural/latency", [int(lat.total), float(lat.ms())])]
        g = self.graph
        ms = 1000.0 * g.latency_samples / g.sample_rate if g.prepared else 0.0
        return [("/aural/latency", [int(g.latency_samples), ms])]

    def _meters(self, args, sender):
        if args:
            raise OscError("read-only (send no argument)")
        m = self.meters()
        if m is None:
            raise OscError("no live stream")
        return [("/aural/meters", m)]

    def meters(self, snapshot=None) -> list | None:
        """The meters message arguments from a LiveStream snapshot (None without a stream)."""
        if snapshot is None:
            peek = getattr(self.target, "peek", None)
            if peek is None:
                return None
            snapshot = peek()
        s = snapshot
        return [float(s.in_peak_db), float(s.in_rms_db), float(s.out_peak_db), float(s.out_rms_db),
                float(s.load), int(s.xruns), int(s.dropped), float(s.latency_ms)]

    _special = {
        "/aural/dump": _dump,
        "/aural/subscribe": _subscribe,
        "/aural/unsubscribe": _unsubscribe,
        "/aural/preset/load": _preset_load,
        "/aural/preset/save": _preset_save,
        "/aural/latency": _latency,
        "/aural/meters": _meters,
    }


# ---------------------------------------------------------------------------- presets
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def user_preset_dir() -> str:
    return os.environ.get("AURAL_PRESET_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "aural", "presets")


def default_loader(name: str) -> Processor:
    """A shipped preset name, a .json path, or a preset saved with /aural/preset/save."""
    from aural.engine import presets
    user = os.path.join(user_preset_dir(), f"{name}.json")
    if _NAME.match(name) and not name.startswith(".") and os.path.isfile(user):
        try:
            return presets.load_preset(name)
        except presets.PresetError:
            return presets.load_preset(user)
    return presets.load_preset(name)


def default_saver(name: str, graph: Processor) -> str:
    """Save to ``user_preset_dir()/<name>.json`` (the engine's preset store, where it has one)."""
    if not _NAME.match(name) or name.startswith("."):
        raise ValueError("a preset name is 1-64 of A-Z a-z 0-9 _ . -")
    from aural.engine import presets
    save = getattr(presets, "save_preset", None)
    if save is not None:
        return str(save(graph, name))
    d = user_preset_dir()
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{name}.json")
    graph.save(path)
    return path


# ---------------------------------------------------------------------------- server
def raise_priority(priority: int | None) -> bool:
    """Put the calling thread in SCHED_FIFO at ``priority`` (Linux; needs root or an rtprio
    limit).  A thread that shares the GIL with the audio callback must not be preempted by
    ordinary processes while it holds the GIL: the callback would wait for it (priority
    inversion).  Returns False, changing nothing, where it is not allowed."""
    if priority is None or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(priority)))
        return True
    except (OSError, AttributeError):
        return False


class OscServer:
    """UDP OSC server on its own thread (python-osc for the wire format).

    host: 127.0.0.1 by default (pass 0.0.0.0 to open it); port 0 picks a free port (``.port``).
    rcvbuf: socket receive buffer in bytes (16 MiB asked; as root SO_RCVBUFFORCE gets it, otherwise
    the kernel caps it at net.core.rmem_max).  The kernel default loses about 10% of a 10k-message
    burst on loopback; each small datagram costs ~1 KiB of buffer, and the server only works in
    the gaps between audio callbacks, so a burst must fit while it waits.
    gate: called before each piece of work; by default the LiveStream's ``yield_to_audio``, so the
    server runs only in the gaps between audio callbacks and never holds the GIL when the audio
    thread wants it.
    """

    def __init__(self, namespace: Namespace, host: str = "127.0.0.1", port: int = 9000,
                 rcvbuf: int = 16 << 20, gate: Callable[[], None] | None = None,
                 priority: int | None = 1) -> None:
        self.namespace = namespace
        if gate is None:
            gate = getattr(namespace.target, "yield_to_audio", None)
        self.gate = gate or (lambda: None)
        self.priority = priority
        self.rt = False
        namespace.send = self.send
        self.host = host
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.rcvbuf = self._enlarge(rcvbuf)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.1)
        self._thread: threading.Thread | None = None
        self._running = False
        self.received = 0      # datagrams
        self.messages = 0      # messages handled (bundles count each message)
        self.errors = 0        # /aural/error replies sent
        self.send_failures = 0

    def _enlarge(self, size: int) -> int:
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if opt is None:
                continue
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, size)
            except OSError:
                continue
            break
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "OscServer":
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="aural-osc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        self.sock.close()

    def __enter__(self) -> "OscServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _loop(self) -> None:
        self.rt = raise_priority(self.priority)
        recv = self.sock.recvfrom
        while self._running:
            try:
                data, addr = recv(65536)
            except socket.timeout:
                continue
            except OSError:
                if not self._running:
                    return
                continue
            self.handle_datagram(data, addr)

    # ------------------------------------------------------------------ messages
    def handle_datagram(self, data: bytes, addr: tuple) -> None:
        from pythonosc.osc_packet import OscPacket, ParseError
        self.received += 1
        self.gate()
        try:
            packet = OscPacket(data)
        except (ParseError, Exception) as exc:  # noqa: BLE001
            self.errors += 1
            self.send(addr, "/aural/error", ["", f"malformed OSC packet: {exc}"])
            return
        ns = self.namespace
        gate = self.gate
        for timed in packet.messages:  # timetags are not waited for (strict_timing=False)
            msg = timed.message
            gate()
            self.messages += 1
            for address, args in ns.handle(msg.address, msg.params, addr):
                if address == "/aural/error":
                    self.errors += 1
                self.send(addr, address, args)

    def send(self, addr: tuple, address: str, args: list) -> None:
        from pythonosc.osc_message_builder import OscMessageBuilder
        b = OscMessageBuilder(address)
        for a in args:
            if isinstance(a, float) and not math.isfinite(a):
                b.add_arg(a, "d")
            else:
                b.add_arg(a)
        try:
            self.sock.sendto(b.build().dgram, addr[:2])
        except OSError:
            self.send_failures += 1

    def send_meters(self, snapshot) -> None:
        """Send a meters message to every subscriber whose rate is due (status thread)."""
        ns = self.namespace
        if not ns.subscribers:
            return
        now = time.monotonic()
        m = None
        for key, st in list(ns.subscribers.items()):
            rate, due = st
            if now < due:
                continue
            st[1] = now + 1.0 / rate
            if m is None:
                m = ns.meters(snapshot)
                if m is None:
                    return
            self.send(key, "/aural/meters", m)
