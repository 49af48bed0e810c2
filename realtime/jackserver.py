"""A private JACK2 server with the dummy driver: a clocked, bit-exact audio device for machines
without a sound card (tests, benchmarks, headless demos).

    with JackServer(rate=48000, period=128) as srv:   # jackd -n NAME -R -d dummy -r 48000 -p 128
        live = LiveStream(chain, 48000, 128).start()   # PortAudio now sees the JACK host API
        ...

Starting it points ``JACK_DEFAULT_SERVER`` at it and re-initialises PortAudio (sounddevice only
enumerates host APIs at initialisation); stopping it terminates PortAudio first.  Needs Debian's
``jackd2`` and the ``JACK-Client`` package (for the readiness probe).
"""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import threading
import time

__all__ = ["JackServer"]

RATE = 48000
PERIOD = 128
_ids = itertools.count()


class JackServer:
    """``jackd -n NAME -R -d dummy -r RATE -p PERIOD`` for the lifetime of the object."""

    def __init__(self, rate: int = RATE, period: int = PERIOD, name: str | None = None) -> None:
        self.rate, self.period = rate, period
        self.name = name or f"aural-{os.getpid()}-{next(_ids)}"
        self.proc: subprocess.Popen | None = None
        self._old_env = os.environ.get("JACK_DEFAULT_SERVER")

    def start(self, timeout: float = 10.0) -> "JackServer":
        import jack
        jackd = shutil.which("jackd")
        if jackd is None:
            raise RuntimeError("jackd not found: run scripts/setup.d/20-jack.sh (Debian jackd2)")
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        self.proc = subprocess.Popen(
            [jackd, "-n", self.name, "-R", "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + timeout
        jack.set_error_function(lambda msg: None)  # "cannot connect" while the server comes up
        try:
            while True:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode(errors="replace")
                    raise RuntimeError(f"jackd exited with {self.proc.returncode}: {err[-2000:]}")
                try:
                    probe = jack.Client("aural-probe", servername=self.name, no_start_server=True)
                    probe.close()
                    break
                except jack.JackOpenError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"jackd {self.name} did not come up in {timeout} s") from None
                    time.sleep(0.02)
        finally:
            jack.set_error_function()
        # keep jackd's stderr pipe drained (it is chatty about client connections)
        threading.Thread(target=self._drain, daemon=True).start()
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        import sounddevice as sd
        sd._terminate()
        sd._initialize()
        return self

    def _drain(self) -> None:
        try:
            for _ in iter(lambda: self.proc.stderr.read(4096), b""):
                pass
        except Exception:  # noqa: BLE001
            pass

    def stop(self) -> None:
        import sounddevice as sd
        try:
            sd._terminate()
        except Exception:  # noqa: BLE001
            pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._old_env is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = self._old_env
        try:
            sd._initialize()
        except Exception:  # noqa: BLE001
            pass

    def client(self, name: str):
        import jack
        return jack.Client(name, servername=self.name, no_start_server=True)

    def __enter__(self) -> "JackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
