"""OSC namespace and server: replies over real UDP on 127.0.0.1 (no audio device needed)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from aural.engine import Chain, Mix
from aural.engine.processors import Butterworth, Compressor, Gain
from aural.engine.presets import load_preset
from aural.realtime.osc import Limits, Namespace, OscServer, osc_pattern

pytest.importorskip("pythonosc")  # the 'live' extra; installed by scripts/setup.d/20-jack.sh
from pythonosc.osc_bundle import OscBundle  # noqa: E402
from pythonosc.osc_bundle_builder import OscBundleBuilder  # noqa: E402
from pythonosc.osc_message import OscMessage  # noqa: E402
from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: E402


def msg(address: str, *args, types: str | None = None) -> bytes:
    b = OscMessageBuilder(address)
    for i, a in enumerate(args):
        b.add_arg(a, types[i] if types else None)
    return b.build().dgram


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2.0)

    def send(self, address_or_dgram, *args, types=None) -> None:
        d = address_or_dgram if isinstance(address_or_dgram, bytes) else msg(address_or_dgram, *args, types=types)
        self.sock.sendto(d, ("127.0.0.1", self.port))

    def recv(self, timeout: float = 2.0):
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65536)
        assert not OscBundle.dgram_is_bundle(data), "a bundle where one message was expected"
        m = OscMessage(data)
        return m.address, list(m.params)

    def recv_bundle(self, timeout: float = 2.0) -> list:
        """One datagram that must be a bundle: its messages [(address, args)]."""
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65536)
        assert OscBundle.dgram_is_bundle(data), OscMessage(data).address
        return [(m.address, list(m.params)) for m in _messages(OscBundle(data))]

    def count_within(self, seconds: float) -> int:
        """Datagrams arriving until none comes for ``seconds``."""
        n = 0
        while not self.none_within(seconds):
            n += 1
        return n

    def ask(self, address, *args, types=None):
        self.send(address, *args, types=types)
        return self.recv()

    def none_within(self, seconds: float = 0.3) -> bool:
        try:
            self.recv(seconds)
        except socket.timeout:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def _messages(bundle: OscBundle) -> list:
    out = []
    for i in range(bundle.num_contents):
        c = bundle.content(i)
        out.extend(_messages(c) if isinstance(c, OscBundle) else [c])
    return out


def make_chain():
    return Chain([Butterworth(name="highpass", mode="highpass", cutoff_hz=80.0),
                  Compressor(name="comp"),
                  Mix([Gain(name="a"), Gain(name="b")], name="par"),
                  Gain(name="out")], name="test")


@pytest.fixture
def server():
    chain = make_chain()  # not prepared: a set applies at once (no audio thread drains queues here)
    srv = OscServer(Namespace(chain), port=0).start()
    cl = Client(srv.port)
    try:
        yield chain, srv, cl
    finally:
        cl.close()
        srv.stop()


def test_pattern_syntax():
    rx = osc_pattern("/aural/{comp,out}/*_db")
    assert rx.match("/aural/comp/threshold_db") and rx.match("/aural/out/gain_db")
    assert not rx.match("/aural/par/a/gain_db")  # * does not cross '/'
    assert osc_pattern("/aural/[!a-c]ut/gain_db").match("/aural/out/gain_db")
    assert osc_pattern("/aural/o?t/gain_db").match("/aural/out/gain_db")


def test_set_then_query(server):
    chain, srv, cl = server
    cl.send("/aural/comp/threshold_db", -30.5)
    assert cl.ask("/aural/comp/threshold_db") == ("/aural/comp/threshold_db", [pytest.approx(-30.5)])
    assert chain.get("comp.threshold_db") == pytest.approx(-30.5)
    # an int argument for a float parameter is a number too
    cl.send("/aural/out/gain_db", -6)
    assert cl.ask("/aural/out/gain_db")[1] == [pytest.approx(-6.0)]
    # nested node: the graph's dots become slashes
    cl.send("/aural/par/b/gain_db", 3.0)
    # the server handles messages in order: a query after the send proves the send was applied
    assert cl.ask("/aural/par/b/gain_db")[1] == [pytest.approx(3.0)]
    assert chain.get("par.b.gain_db") == pytest.approx(3.0)
    # graph-level parameter of the Mix, and the whole graph's mix
    cl.send("/aural/par/gain1_db", -12.0)
    assert cl.ask("/aural/par/gain1_db")[1] == [pytest.approx(-12.0)]
    assert chain.get("par.gain1_db") == pytest.approx(-12.0)
    assert cl.ask("/aural/mix") == ("/aural/mix", [pytest.approx(1.0)])


def test_choice_and_int_params(server):
    chain, srv, cl = server
    cl.send("/aural/highpass/mode", "lowpass")
    assert cl.ask("/aural/highpass/mode") == ("/aural/highpass/mode", ["lowpass"])
    cl.send("/aural/highpass/mode", 0)  # an index works too
    assert cl.ask("/aural/highpass/mode")[1] == ["highpass"]
    cl.send("/aural/highpass/order", 6)
    assert cl.ask("/aural/highpass/order")[1] == [6]
    addr, args = cl.ask("/aural/highpass/mode", "sideways")
    assert addr == "/aural/error" and args[0] == "/aural/highpass/mode" and "not one of" in args[1]
    assert chain.get("highpass.mode") == "highpass"


@pytest.mark.parametrize("address,args,types,needle", [
    ("/aural/comp/threshold_db", (12.0,), None, "out of range"),      # above 0 dB
    ("/aural/comp/threshold_db", (-200.0,), None, "out of range"),
    ("/aural/comp/threshold_db", ("loud",), None, "wrong type"),
    ("/aural/comp/threshold_db", (1.0, 2.0), None, "one argument"),
    ("/aural/comp/threshold_db", (float("nan"),), "d", "not finite"),
    ("/aural/comp/nonsense", (1.0,), None, "unknown address"),
    ("/aural/nosuchnode/gain_db", (1.0,), None, "unknown address"),
    ("/elsewhere/x", (1.0,), None, "unknown address"),
    ("/aural/comp/bypass", (2,), None, "out of range"),
    ("/aural/comp/mix", (1.5,), None, "out of range"),
])
def test_errors_change_nothing(server, address, args, types, needle):
    chain, srv, cl = server
    before = {p: n.get(p.name) for _, n in chain.walk() for p in n.param_specs()}
    bypass = [n.bypass for _, n in chain.walk()]
    addr, reply = cl.ask(address, *args, types=types)
    assert addr == "/aural/error"
    assert reply[0] == address and needle in reply[1]
    assert {p: n.get(p.name) for _, n in chain.walk() for p in n.param_specs()} == before
    assert [n.bypass for _, n in chain.walk()] == bypass


def test_malformed_packet(server):
    chain, srv, cl = server
    cl.send(b"\x00garbage that is no OSC\x01\x02\x03")
    addr, args = cl.recv()
    assert addr == "/aural/error" and "malformed" in args[1]
    # the server is still serving
    assert cl.ask("/aural/out/gain_db")[0] == "/aural/out/gain_db"


def test_wildcards_all_or_nothing(server):
    chain, srv, cl = server
    cl.send("/aural/*/bypass", 1)
    got = {}
    cl.send("/aural/*/bypass")
    for _ in range(4):
        a, v = cl.recv()
        got[a] = v[0]
    assert got == {"/aural/highpass/bypass": 1, "/aural/comp/bypass": 1, "/aural/par/bypass": 1,
                   "/aural/out/bypass": 1}
    assert all(n.bypass for n in chain.children)
    # one value that is valid for some matches and not others: nothing is changed
    cl.send("/aural/{comp,out}/makeup_db", 6.0)  # out has no makeup_db: only comp matches
    assert cl.none_within(0.3)
    assert chain.get("comp.makeup_db") == pytest.approx(6.0)
    addr, args = cl.ask("/aural/{comp,out}/*_db", 30.0)  # 30 dB: fine for out.gain_db (<=48), not comp.threshold_db
    assert addr == "/aural/error"
    assert chain.get("out.gain_db") == pytest.approx(0.0)
    addr, args = cl.ask("/aural/*/nothing_here", 1.0)
    assert addr == "/aural/error" and "unknown address" in args[1]


def test_dump(server):
    chain, srv, cl = server
    cl.send("/aural/comp/threshold_db", -33.0)
    cl.send("/aural/dump")
    reply = cl.recv_bundle()  # the whole answer is one datagram
    assert cl.none_within(0.3)
    assert reply[-1][0] == "/aural/dump/end"
    count = reply[-1][1][0]
    items = {}
    for a, args in reply[:-1]:
        assert a == "/aural/dump"
        items[args[0]] = args[1:]
    assert count == len(items) == len(srv.namespace.entries)
    kind, lo, hi, unit, value = items["/aural/comp/threshold_db"]
    assert (kind, lo, hi, unit) == ("float", -80.0, 0.0, "dB") and value == pytest.approx(-33.0)
    assert items["/aural/highpass/mode"][0] == "choice" and items["/aural/highpass/mode"][4] == "highpass"
    assert items["/aural/out/bypass"][0] == "bool"
    assert "/aural/par/a/gain_db" in items and "/aural/bypass" in items


def test_dump_pages_and_rate_are_bounded():
    chain = make_chain()
    limits = Limits(dump_page=5, dump_burst=3, dump_rate=0.5)
    with OscServer(Namespace(chain, limits=limits), port=0) as srv:
        cl = Client(srv.port)
        try:
            n = len(srv.namespace.entries)
            assert n > 10
            seen, start = [], 0
            for _ in range(3):
                if start:
                    cl.send("/aural/dump", start)
                else:
                    cl.send("/aural/dump")
                page = cl.recv_bundle()
                assert len(page) <= 6  # 5 parameters + the trailer: one bundle per request
                seen += [args[0] for a, args in page if a == "/aural/dump"]
                assert page[-1] == ("/aural/dump/more", [len(seen), n])
                start = len(seen)
            # the 4th request within the burst is refused with one short error, nothing else
            assert srv.namespace.dumps_refused == 0
            addr, args = cl.ask("/aural/dump", start)
            assert addr == "/aural/error" and "rate limited" in args[1]
            assert cl.none_within(0.3) and srv.namespace.dumps_refused == 1
            # a flood of 50 dump requests gets 50 one-message replies, never 50 dumps
            for _ in range(50):
                cl.send("/aural/dump")
            assert cl.count_within(0.5) == 50
            assert srv.namespace.dumps_refused >= 49
            time.sleep(2.2)  # 0.5/s: one token back
            cl.send("/aural/dump", start)
            page = cl.recv_bundle()
            seen += [args[0] for a, args in page if a == "/aural/dump"]
            assert len(seen) == len(set(seen)) == min(n, 20)
        finally:
            cl.close()


def test_subscribe_echoes_changes(server):
    chain, srv, cl = server
    other = Client(srv.port)
    try:
        assert cl.ask("/aural/subscribe", 5.0) == ("/aural/subscribed", [5.0, 60.0])
        other.send("/aural/out/gain_db", -3.0)
        assert cl.recv() == ("/aural/out/gain_db", [pytest.approx(-3.0)])
        other.send("/aural/*/bypass", 1)
        echoed = {cl.recv()[0] for _ in range(4)}
        assert "/aural/comp/bypass" in echoed
        assert cl.ask("/aural/unsubscribe") == ("/aural/unsubscribed", [1])
        other.send("/aural/out/gain_db", -4.0)
        assert cl.none_within(0.3)
        assert other.none_within(0.1)  # a non-subscriber gets no echo of its own set
    finally:
        other.close()


def test_timed_bundle_is_not_delayed(server):
    chain, srv, cl = server
    bb = OscBundleBuilder(time.time() + 30.0)  # a timetag 30 s ahead
    m = OscMessageBuilder("/aural/out/gain_db")
    m.add_arg(-9.0)
    bb.add_content(m.build())
    m = OscMessageBuilder("/aural/comp/ratio")
    m.add_arg(8.0)
    bb.add_content(m.build())
    t = time.monotonic()
    cl.send(bb.build().dgram)
    assert cl.ask("/aural/comp/ratio")[1] == [pytest.approx(8.0)]
    assert time.monotonic() - t < 1.0
    assert chain.get("out.gain_db") == pytest.approx(-9.0)


def test_presets_load_save(server, tmp_path, monkeypatch):
    chain, srv, cl = server
    monkeypatch.setenv("AURAL_PRESET_DIR", str(tmp_path))
    cl.send("/aural/comp/threshold_db", -41.0)
    assert cl.ask("/aural/preset/save", "mine") == ("/aural/preset/saved", ["mine"])  # no path
    assert os.listdir(tmp_path) == ["mine.json"]
    addr, args = cl.ask("/aural/preset/load", "voice")
    assert addr == "/aural/preset/loaded" and args[0] == "voice"
    assert cl.ask("/aural/neural/high_band_floor")[0] == "/aural/neural/high_band_floor"  # namespace rebuilt
    assert cl.ask("/aural/neural/atten_limit") == ("/aural/neural/atten_limit", [pytest.approx(15.0)])
    cl.send("/aural/neural/atten_limit", 12.0)  # the attenuation limit, live
    assert cl.ask("/aural/neural/atten_limit")[1] == [pytest.approx(12.0)]
    assert cl.ask("/aural/comp/threshold_db")[0] == "/aural/error"
    addr, args = cl.ask("/aural/preset/load", "mine")  # the one saved above
    assert addr == "/aural/preset/loaded"
    assert cl.ask("/aural/comp/threshold_db")[1] == [pytest.approx(-41.0)]
    addr, args = cl.ask("/aural/preset/load", "no-such-preset")
    assert addr == "/aural/error" and "no-such-preset" in args[1]
    addr, args = cl.ask("/aural/preset/save", "../escape")
    assert addr == "/aural/error" and "bad preset name" in args[1]
    addr, args = cl.ask("/aural/preset/save", "voice")  # a shipped name is never shadowed
    assert addr == "/aural/error" and "shipped" in args[1]
    assert os.listdir(tmp_path) == ["mine.json"]


def test_preset_saved_over_osc_loads_by_name_everywhere(server, tmp_path, monkeypatch):
    """One store: what /aural/preset/save writes, load_preset and `aural enhance -p` find."""
    chain, srv, cl = server
    store = tmp_path / "store"
    monkeypatch.setenv("AURAL_PRESET_DIR", str(store))
    cl.send("/aural/out/gain_db", -12.0)
    cl.send("/aural/highpass/cutoff_hz", 150.0)
    assert cl.ask("/aural/preset/save", "mine") == ("/aural/preset/saved", ["mine"])
    again = load_preset("mine")
    assert again.get("out.gain_db") == pytest.approx(-12.0)
    assert again.get("highpass.cutoff_hz") == pytest.approx(150.0)
    sr = 16000
    t = np.arange(sr // 2) / sr
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    src = tmp_path / "in.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    out = tmp_path / "out.wav"
    env = dict(os.environ, AURAL_PRESET_DIR=str(store))
    exe = shutil.which("aural", path=os.path.dirname(sys.executable))  # the console script
    cmd = [exe] if exe else [sys.executable, "-m", "aural.cli"]
    r = subprocess.run(cmd + ["enhance", str(src), "-o", str(out), "-p", "mine"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    y, sr2 = sf.read(out, dtype="float32")
    assert sr2 == sr and y.shape[0] == x.shape[0]
    # the file went through the saved graph: the same samples as the graph run in this process
    ref = load_preset("mine")(x[None], sr)[0]
    np.testing.assert_allclose(y, ref, atol=1e-5)
    assert np.sqrt(np.mean(y ** 2)) < 0.5 * np.sqrt(np.mean(x ** 2))  # -12 dB and the compressor


def test_preset_load_by_name_only_never_a_path(server, tmp_path, monkeypatch):
    chain, srv, cl = server
    monkeypatch.setenv("AURAL_PRESET_DIR", str(tmp_path / "store"))
    secret = tmp_path / "secret.json"
    secret.write_text('{"type": "Chain", "nodes": [{"type": "Gain", "name": "TOPSECRET"}]}')
    before = chain.to_dict()
    for name in ("/etc/passwd", str(secret), "../secret", "secret.json", "x" * 65, ""):
        addr, args = cl.ask("/aural/preset/load", name)
        assert addr == "/aural/error" and "bad preset name" in args[1], args
        assert "TOPSECRET" not in args[1] and "root:" not in args[1]
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "broken.json").write_text('{"nodes": [\n"TOPSECRET" oops]}')
    addr, args = cl.ask("/aural/preset/load", "broken")
    assert addr == "/aural/error" and "'broken'" in args[1] and "invalid JSON" in args[1]
    assert "TOPSECRET" not in args[1] and str(tmp_path) not in args[1]
    assert srv.namespace.graph.to_dict() == before  # nothing changed


def test_subscriber_count_is_bounded(server):
    chain, srv, cl = server
    clients = [Client(srv.port) for _ in range(9)]
    try:
        for c in clients[:8]:
            assert c.ask("/aural/subscribe") == ("/aural/subscribed", [10.0, 60.0])
        addr, args = clients[8].ask("/aural/subscribe")
        assert addr == "/aural/error" and "too many subscribers (max 8)" in args[1]
        assert len(srv.namespace.subscribers) == 8
        # renewing an existing subscription is not a new one
        assert clients[0].ask("/aural/subscribe", 2.0) == ("/aural/subscribed", [2.0, 60.0])
        assert clients[0].ask("/aural/unsubscribe") == ("/aural/unsubscribed", [1])
        assert clients[8].ask("/aural/subscribe")[0] == "/aural/subscribed"
        # a change reaches the 8 subscribers once each
        cl.send("/aural/out/gain_db", -2.0)
        for c in clients[1:]:
            assert c.recv() == ("/aural/out/gain_db", [pytest.approx(-2.0)])
    finally:
        for c in clients:
            c.close()


def test_subscription_expires_unless_renewed():
    chain = make_chain()
    with OscServer(Namespace(chain, limits=Limits(subscription_ttl_s=0.6)), port=0) as srv:
        sub, other = Client(srv.port), Client(srv.port)
        try:
            assert sub.ask("/aural/subscribe") == ("/aural/subscribed", [10.0, pytest.approx(0.6)])
            time.sleep(0.4)
            assert sub.ask("/aural/subscribe")[0] == "/aural/subscribed"  # renewed
            time.sleep(0.4)  # 0.8 s after the first, 0.4 s after the renewal: still on
            other.send("/aural/out/gain_db", -5.0)
            assert sub.recv() == ("/aural/out/gain_db", [pytest.approx(-5.0)])
            time.sleep(0.8)  # past the renewal's lifetime
            other.send("/aural/out/gain_db", -6.0)
            assert other.ask("/aural/out/gain_db")[1] == [pytest.approx(-6.0)]
            assert sub.none_within(0.3)
            assert srv.namespace.subscribers == {}
        finally:
            sub.close()
            other.close()


def test_echo_rate_is_bounded():
    chain = make_chain()
    ns = Namespace(chain, limits=Limits(echo_rate=50.0, echo_burst=20.0))
    with OscServer(ns, port=0) as srv:
        sub, other = Client(srv.port), Client(srv.port)
        try:
            assert sub.ask("/aural/subscribe")[0] == "/aural/subscribed"
            t0 = time.monotonic()
            for i in range(400):
                other.send("/aural/out/gain_db", -float(i % 40))
            assert other.ask("/aural/out/gain_db")[1] == [pytest.approx(-float(399 % 40))]
            elapsed = time.monotonic() - t0
            got = sub.count_within(0.3)
            assert 20 <= got <= 20 + 50 * elapsed + 1
            assert ns.echo_dropped == 400 - got
        finally:
            sub.close()
            other.close()


def test_subscribe_other_port_is_an_operator_option():
    chain = make_chain()
    target = Client(9)  # a socket of this host the subscriber does not own
    for allowed in (False, True):
        with OscServer(Namespace(chain, limits=Limits(other_ports=allowed)), port=0) as srv:
            target.port = srv.port
            cl = Client(srv.port)
            try:
                port = target.sock.getsockname()[1]
                if not allowed:
                    addr, args = cl.ask("/aural/subscribe", 5.0, port)
                    assert addr == "/aural/error" and "own address" in args[1]
                    assert srv.namespace.subscribers == {} and target.none_within(0.2)
                else:
                    cl.send("/aural/subscribe", 5.0, port)
                    assert target.recv() == ("/aural/subscribed", [5.0, 60.0])
                    assert cl.none_within(0.2)
            finally:
                cl.close()
    target.close()


def test_latency_query(server):
    chain, srv, cl = server
    chain.prepare(48000, 1, 128)
    addr, args = cl.ask("/aural/latency")
    assert addr == "/aural/latency" and args[0] == chain.latency_samples
    assert cl.ask("/aural/latency", 3)[0] == "/aural/error"


def test_burst_of_10k_is_not_lost(server):
    """4 MiB receive buffer: a 10,000-message burst on loopback arrives whole."""
    chain, srv, cl = server
    assert srv.rcvbuf >= 4 << 20
    n0 = srv.messages
    dgrams = [msg("/aural/out/gain_db", float(-(i % 40))) for i in range(9999)]
    dgrams.append(msg("/aural/out/gain_db", -17.0))
    for d in dgrams:
        cl.send(d)
    deadline = time.monotonic() + 20
    while srv.messages - n0 < 10000 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.messages - n0 == 10000
    assert srv.errors == 0
    assert chain.get("out.gain_db") == pytest.approx(-17.0)
