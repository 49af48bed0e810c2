"""A private JACK2 server (dummy driver) and a JACK test client, as a pytest plugin.

Load it from a test module with ``pytest_plugins = ["jack_fixture"]``.

The dummy driver is a clocked, bit-exact audio device for machines without a sound card: every
period it runs the graph in real time.  PortAudio (sounddevice) sees it as the "JACK Audio
Connection Kit" host API once ``JACK_DEFAULT_SERVER`` names it and PortAudio is re-initialised.
The :class:`Tester` is a second JACK client: it plays a known signal into aural's input ports and
records aural's output ports in the same cycles, so recording index k holds what came back k
frames after the signal's first sample went out.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from aural.realtime.jackserver import JackServer


class Tester:
    """JACK client that plays ``signal`` into aural's inputs and records aural's outputs.

    signal: (channels, n) float32.  ``start()`` arms it; playback begins at the next cycle and
    recording runs for ``record_frames`` frames from that same cycle on."""

    def __init__(self, server: JackServer, channels: int = 1, name: str = "aural-tester") -> None:
        self.server = server
        self.client = server.client(name)
        self.channels = channels
        self.outs = [self.client.outports.register(f"out_{i}") for i in range(channels)]
        self.ins = [self.client.inports.register(f"in_{i}") for i in range(channels)]
        self._signal = np.zeros((channels, 0), np.float32)
        self.recording = np.zeros((channels, 0), np.float32)
        self._pos = -1  # < 0: idle
        self.start_frame = -1  # JACK frame time of the first played sample
        self.done = threading.Event()
        self.xruns = 0  # server-wide xruns (any client late), counted by JACK
        self.xruns_at_play = 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _process(self, frames: int) -> None:
        p = self._pos
        outs = [o.get_array() for o in self.outs]
        if p < 0:
            for o in outs:
                o.fill(0.0)
            return
        if p == 0:
            self.start_frame = self.client.last_frame_time
        sig, rec = self._signal, self.recording
        n = sig.shape[1]
        for ch, o in enumerate(outs):
            m = max(0, min(frames, n - p))
            if m:
                o[:m] = sig[ch, p:p + m]
            o[m:] = 0.0
        r = rec.shape[1]
        if p < r:
            k = min(frames, r - p)
            for ch, i in enumerate(self.ins):
                rec[ch, p:p + k] = i.get_array()[:k]
        self._pos = p + frames
        if self._pos >= r and not self.done.is_set():
            self._pos = -1
            self.done.set()

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    @property
    def xruns_during_play(self) -> int:
        """Xruns since the last ``play`` (the recording may have lost or slipped a block)."""
        return self.xruns - self.xruns_at_play

    def connect_portaudio(self) -> None:
        """Wire tester outs -> aural (PortAudio) ins and aural outs -> tester ins, and unplug the
        dummy system capture ports from aural's inputs."""
        c = self.client
        pa_in = sorted((p for p in c.get_ports(is_audio=True, is_input=True)
                        if p.name.startswith("PortAudio")), key=lambda p: p.name)
        pa_out = sorted((p for p in c.get_ports(is_audio=True, is_output=True)
                         if p.name.startswith("PortAudio")), key=lambda p: p.name)
        if not pa_in or not pa_out:
            raise RuntimeError(f"no PortAudio ports on the JACK server: {[p.name for p in c.get_ports()]}")
        for p in pa_in:
            for q in c.get_all_connections(p):
                c.disconnect(q, p)
        for p in pa_out:
            for q in c.get_all_connections(p):
                c.disconnect(p, q)
        for ch in range(self.channels):
            c.connect(self.outs[ch], pa_in[ch % len(pa_in)])
            c.connect(pa_out[ch % len(pa_out)], self.ins[ch])
        self.settle()

    def settle(self, quiet_s: float = 0.1, timeout_s: float = 2.0) -> None:
        """Wait until the server ran ``quiet_s`` with no xrun (a graph change such as the
        connections above can make one a few cycles later, on a loaded machine), at most
        ``timeout_s``; playback armed after this counts only its own xruns."""
        t_end = time.monotonic() + timeout_s
        seen, quiet_since = self.xruns, time.monotonic()
        while time.monotonic() < t_end:
            time.sleep(0.01)
            if self.xruns != seen:
                seen, quiet_since = self.xruns, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return

    def play(self, signal: np.ndarray, record_frames: int) -> None:
        """Arm: play ``signal`` from the next cycle on and record ``record_frames`` frames."""
        self.done.clear()
        self.xruns_at_play = self.xruns
        self._signal = np.ascontiguousarray(np.atleast_2d(signal), dtype=np.float32)
        self.recording = np.zeros((self.channels, int(record_frames)), np.float32)
        self._pos = 0

    def wait(self, timeout: float = 30.0) -> np.ndarray:
        if not self.done.wait(timeout):
            raise TimeoutError("JACK tester did not finish: is the server running?")
        return self.recording

    def close(self) -> None:
        try:
            self.client.deactivate()
        finally:
            self.client.close()


@pytest.fixture(scope="session")
def jack_server(request):
    """One private JACK2 dummy server for the test session, at 128 frames per period.

    A test can ask for another period with ``@pytest.mark.parametrize("jack_server", [256],
    indirect=True)``: pytest then stops the running server and starts one at that period (two
    servers at once in one process crash libjack), and a later plain test gets a 128 again."""
    srv = JackServer(period=getattr(request, "param", 128)).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def jack_tester(jack_server):
    t = Tester(jack_server)
    try:
        yield t
    finally:
        t.close()
