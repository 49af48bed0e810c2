"""OSC control of a running graph: the ``/aural`` namespace and a UDP server (python-osc codec).

Addresses (node paths use ``/`` where the graph uses ``.``; names are the graph's node names):

    /aural/<node>/<param> <value>    set, natural units; validated against the declared range
    /aural/<node>/bypass <0|1>       bypass (latency-compensated dry path)
    /aural/<node>/mix <0..1>         dry/wet
    /aural/bypass, /aural/mix        the same for the whole graph
    /aural/*/bypass 1                OSC 1.0 wildcards (* ? [abc] [!a-z] {a,b}) over the namespace
    /aural/<node>/<param>            no argument: query, replies "<address> <value>"
    /aural/dump [start]              replies ONE bundle: "/aural/dump <address> <kind> <min> <max>
                                     <unit> <value>" for up to 64 parameters from ``start``, then
                                     "/aural/dump/end <count>" or "/aural/dump/more <next> <count>"
    /aural/subscribe [rate_hz [port]]  every change is echoed to the subscriber, and
                                     "/aural/meters" arrives at rate_hz (default 10, max 100);
                                     replies "/aural/subscribed <rate_hz> <ttl_s>"
    /aural/unsubscribe [port]
    /aural/preset/load <name>        replies "/aural/preset/loaded <name> <latency_samples>"
    /aural/preset/save <name>        replies "/aural/preset/saved <name>" (the user store)
    /aural/latency                   replies "/aural/latency <samples> <ms>"
    /aural/meters                    replies one meters message (see below)

Meters: ``/aural/meters in_peak_db in_rms_db out_peak_db out_rms_db load xruns dropped latency_ms``.
Anything wrong (unparseable packet, unknown address, wrong argument type or count, a value out of
the declared range, a full parameter queue) gets ``/aural/error <address> <message>`` and changes
nothing; a wildcard set is checked on every match before any is applied.

Bounds (:class:`Limits`, set by the operator, never by a client): addresses and patterns are at
most 256 bytes and match in linear time (:class:`OscPattern`, no backtracking regex); at most 8
subscribers, each expiring 60 s after its last ``/aural/subscribe`` (send it again to renew),
each echoed at most 200 changes/s (token bucket; the rest dropped, counted in ``echo_dropped``);
replies and echoes go only to the sender's own (host, port) unless ``Limits.other_ports``; dumps
are one bundle each, at most 4 at once then 1/s per sender host; presets load by NAME only
(``[A-Za-z0-9_-]{1,64}``, shipped or the user store) and errors never quote a path or a file.

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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from aural.engine import Processor
from aural.engine.params import Param, ParamError

__all__ = ["Namespace", "OscServer", "Entry", "OscPattern", "PatternError", "osc_pattern", "PREFIX",
           "MAX_PATTERN", "Limits"]

PREFIX = "/aural"
_RESERVED = {"dump", "subscribe", "unsubscribe", "preset", "latency", "meters", "error", "bypass", "mix"}
_BYPASS = Param("bypass", False, kind="bool", doc="latency-compensated bypass")
_MIX = Param("mix", 1.0, range=(0.0, 1.0), doc="dry/wet")
_WILD = re.compile(r"[*?\[{]")


# ---------------------------------------------------------------------------- address patterns
MAX_PATTERN = 256  # bytes (UTF-8) of an address or address pattern; longer ones are refused


class PatternError(ValueError):
    """An address pattern that is malformed or too long."""


_LIT, _CLS, _STAR, _EPS = 0, 1, 2, 3
_CHUNK = 16  # bits per closure-table chunk


class OscPattern:
    """An OSC 1.0 address pattern, matched in time linear in the address (never backtracking).

    ``*`` any run of characters but ``/``; ``?`` one character but ``/``; ``[abc]``, ``[a-z]``,
    ``[!a-z]`` one character (never ``/``) in / not in the set; ``{foo,bar}`` one of the literal
    strings (not nested).  Anything else matches itself.

    The pattern compiles to a position automaton of at most ~2 slots per pattern byte: a bit per
    slot, a step per address character is a few big-integer operations plus one lookup per 16
    slots (epsilon closures tabulated lazily per 16-bit chunk).  So one match costs
    O(len(address) * len(pattern) / 16) whatever the pattern: 300 stars cost what 300 letters do.
    """

    __slots__ = ("pattern", "_kind", "_arg", "_closure", "_tabs", "_masks", "_stars", "_accept",
                 "_start")

    def __init__(self, pattern: str) -> None:
        if len(pattern.encode("utf-8", "surrogatepass")) > MAX_PATTERN:
            raise PatternError(f"address pattern longer than {MAX_PATTERN} bytes")
        self.pattern = pattern
        kind: list[int] = []
        arg: list[Any] = []
        i, n = 0, len(pattern)
        while i < n:
            c = pattern[i]
            if c == "*":
                if not kind or kind[-1] != _STAR:  # ** is *
                    kind.append(_STAR)
                    arg.append(None)
            elif c == "?":
                kind.append(_CLS)
                arg.append((True, frozenset(), ()))
            elif c == "[":
                j = pattern.find("]", i + 1)
                if j < 0:
                    raise PatternError("unclosed [ in address pattern")
                kind.append(_CLS)
                arg.append(_char_class(pattern[i + 1:j]))
                i = j
            elif c == "{":
                j = pattern.find("}", i + 1)
                if j < 0:
                    raise PatternError("unclosed { in address pattern")
                body = pattern[i + 1:j]
                if "{" in body:
                    raise PatternError("nested { } in address pattern")
                entry = len(kind)
                kind.append(_EPS)
                arg.append(None)
                starts, ends = [], []
                for alt in body.split(","):
                    starts.append(len(kind))
                    for ch in alt:
                        kind.append(_LIT)
                        arg.append(ch)
                    ends.append(len(kind))
                    kind.append(_EPS)
                    arg.append(None)
                arg[entry] = starts
                for e in ends:
                    arg[e] = [len(kind)]
                i = j
            elif c in "]}":
                raise PatternError(f"unmatched {c} in address pattern")
            else:
                kind.append(_LIT)
                arg.append(c)
            i += 1
        self._kind, self._arg = kind, arg
        self._accept = 1 << len(kind)
        closure = [0] * (len(kind) + 1)
        closure[len(kind)] = self._accept
        for j in range(len(kind) - 1, -1, -1):  # every epsilon edge goes forward
            m = 1 << j
            if kind[j] == _STAR:
                m |= closure[j + 1]
            elif kind[j] == _EPS:
                for t in arg[j]:
                    m |= closure[t]
            closure[j] = m
        self._closure = closure
        self._tabs: list[dict[int, int]] = [{} for _ in range(len(closure) // _CHUNK + 1)]
        self._masks: dict[str, int] = {}
        self._stars = sum(1 << j for j, k in enumerate(kind) if k == _STAR)
        self._start = closure[0]

    def _close(self, x: int) -> int:
        out, i, tabs, closure = 0, 0, self._tabs, self._closure
        while x:
            b = x & 0xFFFF
            if b:
                v = tabs[i].get(b)
                if v is None:
                    v, base, bb = 0, i * _CHUNK, b
                    while bb:
                        low = bb & -bb
                        v |= closure[base + low.bit_length() - 1]
                        bb ^= low
                    tabs[i][b] = v
                out |= v
            x >>= _CHUNK
            i += 1
        return out

    def _mask(self, c: str) -> int:
        """Bits of the one-character slots that accept ``c``."""
        m = self._masks.get(c)
        if m is None:
            m = 0
            for j, k in enumerate(self._kind):
                if k == _LIT:
                    hit = self._arg[j] == c
                elif k == _CLS:
                    neg, chars, ranges = self._arg[j]
                    hit = c != "/" and ((c in chars or any(lo <= c <= hi for lo, hi in ranges)) != neg)
                else:
                    continue
                if hit:
                    m |= 1 << j
            self._masks[c] = m
        return m

    def _step(self, d: int, c: str) -> int:
        x = (d & self._mask(c)) << 1
        if c != "/":
            x |= d & self._stars
        return self._close(x) if x else 0

    def match(self, address: str) -> bool:
        """True when the whole ``address`` matches."""
        d = self._start
        for c in address:
            d = self._step(d, c)
            if not d:
                return False
        return bool(d & self._accept)

    def filter(self, addresses: Sequence[str]) -> list[str]:
        """The matching addresses of a SORTED sequence; shared prefixes are walked once."""
        out: list[str] = []
        stack = [self._start]  # stack[k]: the state after the first k characters of ``prev``
        prev = ""
        accept = self._accept
        for a in addresses:
            k = min(len(os.path.commonprefix((prev, a))), len(stack) - 1)
            del stack[k + 1:]
            d = stack[k]
            for c in a[k:]:
                if not d:
                    break
                d = self._step(d, c)
                stack.append(d)
            if len(stack) == len(a) + 1 and d & accept:
                out.append(a)
            prev = a
        return out


def _char_class(body: str) -> tuple[bool, frozenset, tuple]:
    """``[...]`` body -> (negated, characters, ranges)."""
    neg = body.startswith("!")
    if neg:
        body = body[1:]
    if not body and not neg:
        raise PatternError("empty [] in address pattern")
    chars, ranges = set(), []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = body[i], body[i + 2]
            if lo > hi:
                raise PatternError(f"bad range {lo}-{hi} in address pattern")
            ranges.append((lo, hi))
            i += 3
        else:
            chars.add(body[i])  # a '-' first or last is itself
            i += 1
    return neg, frozenset(chars), tuple(ranges)


@lru_cache(maxsize=128)
def osc_pattern(pattern: str) -> OscPattern:
    """Compile an OSC 1.0 address pattern (``* ? [abc] [!a-z] {foo,bar}``); cached."""
    return OscPattern(pattern)


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


@dataclass(frozen=True)
class Limits:
    """What one remote client can make the server do; set by the operator, never over OSC."""

    max_subscribers: int = 8          # more are refused with an /aural/error
    subscription_ttl_s: float = 60.0  # a subscription ends unless renewed (/aural/subscribe again)
    max_meter_rate_hz: float = 100.0  # /aural/meters per second per subscriber
    echo_rate: float = 200.0          # change echoes per second per subscriber (token bucket) ...
    echo_burst: float = 200.0         # ... and its depth; echoes over it are dropped and counted
    dump_rate: float = 1.0            # /aural/dump requests per second per sender host ...
    dump_burst: float = 4.0           # ... and the bucket depth
    dump_page: int = 64               # /aural/dump messages in one reply (one bundle)
    other_ports: bool = False         # may /aural/subscribe name a port other than the sender's


class _Bucket:
    """Token bucket: ``rate`` tokens per second up to ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "t")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.t = rate, burst, burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Sub:
    """One subscriber: meters rate (Hz), next meters due and expiry (monotonic s), echo bucket."""

    __slots__ = ("rate_hz", "due", "expires", "echo")

    def __init__(self, rate_hz: float, expires: float, echo: _Bucket) -> None:
        self.rate_hz, self.due, self.expires, self.echo = rate_hz, 0.0, expires, echo


BUNDLE = "#bundle"  # a reply whose args are [(address, args), ...], sent as one OSC bundle
_MAX_HOSTS = 256    # dump buckets kept (oldest dropped first)


def _short(text: str, n: int = MAX_PATTERN) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 3] + "..."


class Namespace:
    """The ``/aural`` address space of a graph, with the special addresses.

    target: a :class:`~aural.realtime.LiveStream` (its graph is followed across preset loads) or
    a bare Processor.  loader(name) -> Processor and saver(name, graph) -> path implement the
    preset addresses (defaults: aural's preset store, by name only).  ``handle(address, args,
    sender)`` returns the replies for the sender; changes are echoed to subscribers through
    ``send``.  limits: :class:`Limits` (subscribers, expiry, echo and dump rates, reply ports).
    """

    def __init__(self, target: Any, *, loader: Callable[[str], Processor] | None = None,
                 saver: Callable[[str, Processor], str] | None = None,
                 send: Callable[[tuple, str, list], None] | None = None,
                 limits: Limits | None = None) -> None:
        self.target = target
        self.loader = loader or default_loader
        self.saver = saver or default_saver
        self.send = send or (lambda addr, address, args: None)
        self.limits = limits or Limits()
        self.subscribers: dict[tuple, _Sub] = {}  # (host, port) -> subscription
        self._dumps: dict[str, _Bucket] = {}       # sender host -> dump bucket
        self.echo_dropped = 0   # change echoes over a subscriber's rate, not sent
        self.dumps_refused = 0  # /aural/dump requests over a sender's rate
        self._graph: Processor | None = None
        self.entries: dict[str, Entry] = {}
        self._sorted: tuple[str, ...] = ()
        self._matches: dict[str, list[Entry]] = {}
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
        self._sorted = tuple(sorted(entries))
        self._matches = {}
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
        """The entries an address or OSC pattern names.  Pure Python in linear time over a
        snapshot of the address list (no lock held; the caller applies the result)."""
        self._sync()
        entries, addresses, cache = self.entries, self._sorted, self._matches
        e = entries.get(address)
        if e is not None:
            return [e]
        if not _WILD.search(address):
            return []
        hit = cache.get(address)
        if hit is None:
            try:
                pat = osc_pattern(address)
            except PatternError as exc:
                raise OscError(f"bad address pattern: {exc}") from None
            hit = [entries[a] for a in pat.filter(addresses)]
            if len(cache) >= 256:
                cache.clear()
            cache[address] = hit
        return list(hit)

    # ------------------------------------------------------------------ subscribers
    def _live_subscribers(self, now: float) -> list[tuple[tuple, _Sub]]:
        """Subscribers not expired (expired ones are dropped here)."""
        subs = self.subscribers
        for k in [k for k, s in subs.items() if s.expires < now]:
            subs.pop(k, None)
        return list(subs.items())

    def notify(self, address: str, args: list) -> None:
        """Send one message to every live subscriber within its echo rate."""
        now = time.monotonic()
        for key, sub in self._live_subscribers(now):
            if sub.echo.take(now):
                self.send(key, address, args)
            else:
                self.echo_dropped += 1

    # ------------------------------------------------------------------ dispatch
    def handle(self, address: str, args: tuple | list, sender: tuple = ("", 0)) -> list[tuple[str, list]]:
        """Act on one message; return replies [(address, args)] for the sender (a reply
        ``(BUNDLE, [(address, args), ...])`` goes out as one bundle)."""
        args = tuple(args)
        try:
            if len(address.encode("utf-8", "surrogatepass")) > MAX_PATTERN:
                raise OscError(f"address longer than {MAX_PATTERN} bytes")
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
                    self.notify(e.address, [e.value()])
            return replies
        except OscError as exc:
            return [("/aural/error", [_short(address), str(exc)])]
        except Exception as exc:  # noqa: BLE001 - a bad message never takes the server down
            return [("/aural/error", [_short(address), _short(f"{type(exc).__name__}: {exc}")])]

    def _dump(self, args, sender):
        lim = self.limits
        if len(args) > 1 or (args and (isinstance(args[0], bool) or not isinstance(args[0], int)
                                       or args[0] < 0)):
            raise OscError("expects [start] (an int >= 0)")
        now = time.monotonic()
        host = str(sender[0]) if sender else ""
        bucket = self._dumps.get(host)
        if bucket is None:
            if len(self._dumps) >= _MAX_HOSTS:
                self._dumps.pop(next(iter(self._dumps)))
            bucket = self._dumps[host] = _Bucket(lim.dump_rate, lim.dump_burst, now)
        if not bucket.take(now):
            self.dumps_refused += 1
            raise OscError(f"rate limited: at most {lim.dump_burst:g} dumps at once, "
                           f"then {lim.dump_rate:g} per second")
        self._sync()
        entries = list(self.entries.values())
        start = args[0] if args else 0
        page = entries[start:start + max(1, lim.dump_page)]
        out = [("/aural/dump", e.describe()) for e in page]
        nxt = start + len(page)
        if nxt < len(entries):
            out.append(("/aural/dump/more", [nxt, len(entries)]))
        else:
            out.append(("/aural/dump/end", [len(entries)]))
        return [(BUNDLE, out)]

    def _subscribe(self, args, sender):
        lim = self.limits
        rate = min(10.0, lim.max_meter_rate_hz)
        port = sender[1] if len(sender) > 1 else 0
        if len(args) > 2:
            raise OscError("expects [rate_hz [port]]")
        if args:
            if (isinstance(args[0], bool) or not isinstance(args[0], (int, float))
                    or not 0 < args[0] <= lim.max_meter_rate_hz):
                raise OscError(f"rate_hz must be a number in (0, {lim.max_meter_rate_hz:g}]")
            rate = float(args[0])
        if len(args) == 2:
            if isinstance(args[1], bool) or not isinstance(args[1], int) or not 0 < args[1] < 65536:
                raise OscError("port must be an int 1..65535")
            if args[1] != port and not lim.other_ports:
                raise OscError("replies go to the sender's own address; another port needs the "
                               "server's other_ports option")
            port = args[1]
        key = (sender[0], port)
        now = time.monotonic()
        self._live_subscribers(now)
        sub = self.subscribers.get(key)
        if sub is None:
            if len(self.subscribers) >= lim.max_subscribers:
                raise OscError(f"too many subscribers (max {lim.max_subscribers}): unsubscribe "
                               f"one or wait for one to expire ({lim.subscription_ttl_s:g} s)")
            sub = self.subscribers[key] = _Sub(rate, 0.0, _Bucket(lim.echo_rate, lim.echo_burst, now))
        sub.rate_hz = rate
        sub.expires = now + lim.subscription_ttl_s
        reply = [rate, float(lim.subscription_ttl_s)]
        if key != tuple(sender[:2]):
            self.send(key, "/aural/subscribed", reply)
            return []
        return [("/aural/subscribed", reply)]

    def _unsubscribe(self, args, sender):
        if len(args) > 1 or (args and (isinstance(args[0], bool) or not isinstance(args[0], int))):
            raise OscError("expects [port]")
        gone = [k for k in self.subscribers if k[0] == sender[0] and (k[1] == sender[1] or
                (args and k[1] == args[0]))]
        for k in gone:
            del self.subscribers[k]
        return [("/aural/unsubscribed", [len(gone)])]

    @staticmethod
    def _preset_name(args) -> str:
        from aural.engine.presets import valid_preset_name
        if len(args) != 1 or not isinstance(args[0], str):
            raise OscError("expects a preset name (string)")
        if not valid_preset_name(args[0]):
            raise OscError(f"bad preset name {_short(args[0], 80)!r}: a name is 1-64 of "
                           "A-Z a-z 0-9 _ - (presets load by name only, never by path)")
        return args[0]

    def _preset_load(self, args, sender):
        from aural.engine.presets import PresetError
        name = self._preset_name(args)
        try:
            graph = self.loader(name)
        except PresetError as exc:  # names the preset and the node, never a path (load_named_preset)
            raise OscError(_short(f"cannot load preset {name!r}: {exc}", 300)) from None
        except Exception as exc:  # noqa: BLE001 - a custom loader: its type only, never its text
            raise OscError(f"cannot load preset {name!r}: {type(exc).__name__}") from None
        if hasattr(self.target, "swap_chain"):
            self.target.swap_chain(graph)
        else:
            self.target = graph
        self.rebuild()
        lat = self._latency_samples()
        if self.subscribers:
            self.notify("/aural/preset/loaded", [name, lat])
        return [("/aural/preset/loaded", [name, lat])]

    def _preset_save(self, args, sender):
        from aural.engine.presets import PresetError
        name = self._preset_name(args)
        try:
            self.saver(name, self.graph)
        except PresetError as exc:
            raise OscError(_short(f"cannot save preset {name!r}: {exc}", 300)) from None
        except OSError as exc:
            raise OscError(f"cannot save preset {name!r}: {exc.strerror or type(exc).__name__}") from None
        except Exception as exc:  # noqa: BLE001
            raise OscError(f"cannot save preset {name!r}: {type(exc).__name__}") from None
        return [("/aural/preset/saved", [name])]

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
def default_loader(name: str) -> Processor:
    """A preset by name only (shipped, then the user store: ``aural.engine.presets``)."""
    from aural.engine import presets
    return presets.load_named_preset(name)


def default_saver(name: str, graph: Processor) -> str:
    """Save to the user store (``aural.engine.presets.user_preset_dir()/<name>.json``, atomic)."""
    from aural.engine import presets
    return str(presets.save_user_preset(graph, name))


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
                if address == BUNDLE:
                    self.send_bundle(addr, args)
                else:
                    self.send(addr, address, args)

    @staticmethod
    def _build(address: str, args: list):
        from pythonosc.osc_message_builder import OscMessageBuilder
        b = OscMessageBuilder(address)
        for a in args:
            if isinstance(a, float) and not math.isfinite(a):
                b.add_arg(a, "d")
            else:
                b.add_arg(a)
        return b.build()

    def _sendto(self, dgram: bytes, addr: tuple) -> None:
        try:
            self.sock.sendto(dgram, addr[:2])
        except OSError:
            self.send_failures += 1

    def send(self, addr: tuple, address: str, args: list) -> None:
        self._sendto(self._build(address, args).dgram, addr)

    def send_bundle(self, addr: tuple, items: list) -> None:
        """Send [(address, args), ...] as one OSC bundle (timetag: immediately)."""
        from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
        bb = OscBundleBuilder(IMMEDIATELY)
        for address, args in items:
            bb.add_content(self._build(address, args))
        self._sendto(bb.build().dgram, addr)

    def send_meters(self, snapshot) -> None:
        """Send a meters message to every live subscriber whose rate is due (status thread)."""
        ns = self.namespace
        if not ns.subscribers:
            return
        now = time.monotonic()
        m = None
        for key, sub in ns._live_subscribers(now):
            if now < sub.due:
                continue
            sub.due = now + 1.0 / sub.rate_hz
            if m is None:
                m = ns.meters(snapshot)
                if m is None:
                    return
            self.send(key, "/aural/meters", m)
