"""Signals and temporaries (issue 20.5): SIGTERM/SIGHUP/SIGINT leave no hidden files behind,
stale temporaries of dead processes are swept, and an unwritable output folder is one line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from aural.cleanup import Terminated, install
from aural.engine.io import (
    AudioWriter,
    discard_temporary,
    remove_temporaries,
    sweep_stale_temporaries,
    temporary_path,
    write_audio,
)
from conftest import sha256


def _hidden(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith("."))


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory):
    """60 s of stereo noise at 48 kHz (11 MB): enhance takes seconds, long enough to be killed."""
    p = tmp_path_factory.mktemp("long") / "noise.wav"
    x = np.random.default_rng(7).uniform(-0.3, 0.3, (60 * 48000, 2)).astype(np.float32)
    sf.write(p, x, 48000, subtype="PCM_16")
    return p


@pytest.mark.parametrize("signame,extra,previous", [
    ("SIGTERM", [], True),
    ("SIGHUP", ["--loudness", "-16"], False),
    ("SIGTERM", ["--loudness", "-16"], True),
    ("SIGINT", ["--loudness", "-16"], False),
])
def test_signal_during_enhance_leaves_no_temporaries(tmp_path, long_wav, signame, extra,
                                                      previous):
    sig = getattr(signal, signame)
    out = tmp_path / "out.wav"
    if previous:
        write_audio(out, np.full((2, 1000), 0.25, np.float32), 48000)
        before = sha256(out)
    cmd = [sys.executable, "-m", "aural.cli", "enhance", str(long_wav), "-o", str(out),
           "--no-progress", *extra]
    # the child gets the default disposition of ``sig``: under ``nohup`` (or any parent that
    # ignores SIGHUP) it would inherit SIG_IGN, which aural rightly keeps, and run to the end
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                         preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
    try:
        want = (".part", ".pass1.w64") if extra else (".part",)
        deadline = time.monotonic() + 120
        while not all(any(n.endswith(w) for n in os.listdir(tmp_path)) for w in want):
            assert p.poll() is None, p.communicate()[1].decode()
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.02)
        time.sleep(0.3)  # into the processing loop, with data in the temporary
        assert p.poll() is None, "enhance finished before the signal: make the input longer"
        assert _hidden(tmp_path)  # the temporaries exist when the signal comes
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 128 + sig, err.decode()
    assert "Traceback" not in err.decode()
    assert _hidden(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == (["out.wav"] if previous else [])
    if previous:
        assert sha256(out) == before


def test_terminated_unwinds_writers_in_process(tmp_path):
    """A real SIGTERM to this process, inside a ``with AudioWriter``: Terminated (exit 143) is
    raised in the main thread, the temporary is gone, a registered pass-1 file too."""
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assert install() is True
        pass1 = temporary_path(tmp_path / "out.wav", ".pass1.w64")
        with pytest.raises(Terminated) as e, AudioWriter(tmp_path / "out.wav", 8000, 1) as w:
            w.write(np.zeros((1, 1000), np.float32))
            assert len(_hidden(tmp_path)) == 2
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs before this sleep ends
        assert e.value.code == 143 and isinstance(e.value, SystemExit)
        assert not os.path.exists(pass1) and os.listdir(tmp_path) == []
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def test_install_respects_ignored_signals():
    """Under nohup SIGHUP is ignored: install() must leave it so."""
    old = signal.getsignal(signal.SIGHUP)
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        install()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_dead_processes_are_swept(tmp_path):
    dead = _dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [f".out.wav.aural-{dead}-0123abcd.part", f".out.wav.aural-{dead}-89abcdef.pass1.w64",
                 f"..o.w.aural-{dead}-00000000.pass1.w64.aural-{dead}-11111111.part"]
        live = [f".out.wav.aural-{os.getpid()}-0123abcd.part",
                f".out.wav.aural-{sleeper.pid}-0123abcd.part"]
        unrelated = ["out.wav", f"out.wav.aural-{dead}-0123abcd.part",  # not hidden
                     f".out.wav.aural-{dead}-0123.part", ".out.wav.abc123.part",
                     f".notes.aural-{dead}-0123abcd", f".x.aural-{dead}-0123abcd.part~"]
        for n in stale + live + unrelated:
            (tmp_path / n).write_bytes(b"x" * 100)
        os.mkdir(tmp_path / f".d.aural-{dead}-0123abcd.part")  # a folder: never removed
        unrelated.append(f".d.aural-{dead}-0123abcd.part")
        # the writer's start sweeps its folder
        write_audio(tmp_path / "new.wav", np.zeros(10, np.float32), 8000)
        assert sorted(os.listdir(tmp_path)) == sorted(live + unrelated + ["new.wav"])
        # the reusable function (for the web server's job folders) reports what it removed
        (tmp_path / stale[0]).write_bytes(b"x")
        assert sweep_stale_temporaries(tmp_path) == [str(tmp_path / stale[0])]
        assert sweep_stale_temporaries(tmp_path) == []
        assert sweep_stale_temporaries(tmp_path / "missing") == []
    finally:
        sleeper.kill()
        sleeper.wait()
    # once the sleeper is dead its temporary is stale too
    assert sweep_stale_temporaries(tmp_path) == [str(tmp_path / live[1])]


def test_temporaries_are_registered_until_discarded(tmp_path):
    a = temporary_path(tmp_path / "out.wav", ".pass1.w64")
    b = temporary_path(tmp_path / "out.wav")
    assert os.path.basename(a).startswith(f".out.wav.aural-{os.getpid()}-") and a.endswith(".pass1.w64")
    assert b.endswith(".part") and a != b and len(_hidden(tmp_path)) == 2
    discard_temporary(a)
    assert _hidden(tmp_path) == [os.path.basename(b)]
    assert remove_temporaries() == 1 and os.listdir(tmp_path) == []
    assert remove_temporaries() == 0
    with pytest.raises(ValueError):
        temporary_path(tmp_path / "out.wav", "/../x")


def test_enhance_loudness_into_an_unwritable_folder_is_one_line(tmp_path, capsys, monkeypatch):
    from aural.cli.main import main

    src = tmp_path / "in.wav"
    write_audio(src, np.random.default_rng(1).uniform(-0.3, 0.3, (1, 8000)), 16000)
    afile = tmp_path / "afile"
    afile.write_bytes(b"a regular file")
    rc = main(["enhance", str(src), "-o", str(afile / "out.wav"), "--loudness", "-16"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err.strip() == f"aural enhance: error: {afile / 'out.wav'}: cannot write to {afile}: not a folder"
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if os.fspath(p) == str(ro)
                        else real_access(p, m, **k))
    rc = main(["enhance", str(src), "-o", str(ro / "out.wav"), "--loudness", "-16"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.strip() == f"aural enhance: error: {ro / 'out.wav'}: cannot write to {ro}: permission denied"
    assert sorted(os.listdir(tmp_path)) == ["afile", "in.wav", "ro"] and os.listdir(ro) == []
