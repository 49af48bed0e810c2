"""`aural batch`: mirrored tree, kept formats, atomic outputs, resumable manifest, failures
reported, local pool and Ray giving the same bytes as `aural enhance`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aural.cli.main import main
from aural.engine.batch import MANIFEST, plan_batch

from conftest import speech

PRESET = "voice"
AURAL = [sys.executable, "-m", "aural.cli"]


def _tree(root: Path, n_extra: int = 0, seconds: float = 1.0) -> Path:
    src = root / "in"
    (src / "sub" / "deeper").mkdir(parents=True)
    x16 = speech(16000, seconds)
    sf.write(src / "a.wav", x16, 16000, subtype="PCM_16")
    x48 = speech(48000, seconds, clip="b")
    sf.write(src / "sub" / "b.flac", np.stack([x48, 0.5 * x48], 1), 48000, subtype="PCM_24")
    sf.write(src / "sub" / "deeper" / "c.ogg", speech(44100, seconds, clip="c"), 44100,
             format="OGG", subtype="VORBIS")
    (src / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (src / "notes.txt").write_text("not audio")
    for i in range(n_extra):
        sf.write(src / f"extra{i:02d}.wav", speech(48000, seconds, clip="abcde"[i % 5]), 48000,
                 subtype="FLOAT")
    return src


def _enhance(src: Path, dst: Path, *extra: str) -> None:
    assert main(["enhance", str(src), "-o", str(dst), "-p", PRESET, "-q", *extra]) == 0


def _no_temporaries(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob(".*") if p.name != MANIFEST]


def test_batch_mirrors_the_tree_keeps_formats_and_reports_bad_files(tmp_path, capsys):
    src = _tree(tmp_path)
    out = tmp_path / "out"
    rc = main(["batch", str(src), str(out), "-p", PRESET, "--workers", "2"])
    cap = capsys.readouterr()
    assert rc == 1  # bad.wav failed, the rest went on
    assert "failed: bad.wav" in cap.err and "audio-h/h" in cap.err and "ETA" in cap.err
    assert "processed 3, skipped 0" in cap.out and "failed 1" in cap.out
    assert sf.info(out / "a.wav").subtype == "PCM_16"
    assert sf.info(out / "sub" / "b.flac").subtype == "PCM_24"
    assert sf.info(out / "sub" / "b.flac").channels == 2
    assert sf.info(out / "sub" / "deeper" / "c.flac").format == "FLAC"  # OGG is not written
    assert not (out / "bad.wav").exists() and not (out / "notes.txt").exists()
    assert _no_temporaries(out) == []
    # each output is exactly what `aural enhance` writes for that file (same subtype)
    for rel, sub in (("a.wav", "PCM_16"), ("sub/b.flac", "PCM_24")):
        ref = tmp_path / ("ref" + Path(rel).suffix)
        _enhance(src / rel, ref, "--subtype", sub)
        a, _ = sf.read(out / rel, dtype="int32")
        b, _ = sf.read(ref, dtype="int32")
        assert np.array_equal(a, b), rel
    recs = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert sorted(r["rel"] for r in recs if r["status"] == "done") == [
        "a.wav", "sub/b.flac", "sub/deeper/c.ogg"]
    assert [r["rel"] for r in recs if r["status"] == "failed"] == ["bad.wav"]


def test_a_second_run_skips_what_is_done_and_a_changed_source_or_preset_is_redone(tmp_path, capsys):
    src = _tree(tmp_path)
    (src / "bad.wav").unlink()
    out = tmp_path / "out"
    assert main(["batch", str(src), str(out), "-p", PRESET, "--workers", "1", "-q"]) == 0
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.*") if p.name != MANIFEST}
    assert main(["batch", str(src), str(out), "-p", PRESET, "--workers", "1"]) == 0
    assert "processed 0, skipped 3" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing rewritten
    # a source that changed is redone, the others are not
    time.sleep(0.01)
    sf.write(src / "a.wav", speech(16000, 1.0, clip="d"), 16000, subtype="PCM_16")
    assert main(["batch", str(src), str(out), "-p", PRESET, "--workers", "1"]) == 0
    assert "processed 1, skipped 2" in capsys.readouterr().out
    # other settings are another job: everything is redone
    plan = plan_batch(src, out, preset=PRESET, settings=["limiter.ceiling_db=-3"])
    assert len(plan.todo) == 3 and not plan.done
    # so is processing as a live stream (--no-learn) instead of in file mode
    plan = plan_batch(src, out, preset=PRESET, learn=False)
    assert len(plan.todo) == 3 and not plan.done


def test_no_learn_writes_what_enhance_no_learn_writes(tmp_path, capsys):
    """--no-learn: each file as a live stream would have it, the bytes of `aural enhance
    --no-learn`; a hummy file shows that this differs from the default file mode."""
    src = tmp_path / "in"
    src.mkdir()
    sr = 48000
    s = speech(sr, 3.0, clip="b")
    t = np.arange(s.size) / sr
    hum = sum(np.sin(2 * np.pi * 50.02 * k * t + k) / k for k in range(1, 9))
    hum *= np.sqrt(np.mean(s ** 2) / np.mean(hum ** 2) / 10 ** 0.8)
    sf.write(src / "hum.wav", (s + hum).astype(np.float32), sr, subtype="FLOAT")
    out = {}
    for flag in ([], ["--no-learn"]):
        o = tmp_path / f"out{len(flag)}"
        assert main(["batch", str(src), str(o), "-p", PRESET, "--workers", "1", "-q", *flag]) == 0
        ref = tmp_path / f"ref{len(flag)}.wav"
        _enhance(src / "hum.wav", ref, "--subtype", "FLOAT", *flag)
        a, _ = sf.read(o / "hum.wav", dtype="float32")
        b, _ = sf.read(ref, dtype="float32")
        assert np.array_equal(a, b)
        out[len(flag)] = a
    assert not np.array_equal(out[0], out[1])


def test_a_killed_run_leaves_no_partial_file_and_resumes_without_redoing(tmp_path):
    src = _tree(tmp_path, n_extra=8, seconds=3.0)
    (src / "bad.wav").unlink()
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen(AURAL + ["batch", str(src), str(out), "-p", PRESET, "--workers", "1"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    manifest = out / MANIFEST
    t0 = time.monotonic()
    while time.monotonic() - t0 < 240:  # wait until two files are finished, then kill
        if manifest.is_file() and len(manifest.read_text().splitlines()) >= 2:
            break
        assert p.poll() is None, p.stderr.read()
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    p.wait(60)
    p.stderr.close()
    assert p.returncode == 128 + signal.SIGTERM
    recs = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert all(r["status"] == "done" for r in recs)
    done_before = [r["rel"] for r in recs]
    assert 2 <= len(done_before) < 11
    assert _no_temporaries(out) == []  # the file in flight left nothing
    plan = plan_batch(src, out, preset=PRESET)
    assert sorted(j.rel for j in plan.done) == sorted(done_before)
    assert len(plan.todo) == 11 - len(done_before)
    stamps = {j.out_rel: (out / j.out_rel).stat().st_mtime_ns for j in plan.done}
    r = subprocess.run(AURAL + ["batch", str(src), str(out), "-p", PRESET, "--workers", "2"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"processed {11 - len(done_before)}, skipped {len(done_before)}" in r.stdout
    assert {k: (out / k).stat().st_mtime_ns for k in stamps} == stamps  # not redone
    recs = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert len({r["rel"] for r in recs}) == len(recs) == 11  # nothing processed twice


def test_ray_engine_writes_the_same_bytes_as_the_local_engine(tmp_path, capsys):
    pytest.importorskip("ray")
    src = _tree(tmp_path)
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(["batch", str(src), str(local), "-p", PRESET, "--workers", "2", "-q"]) == 1
    rc = main(["batch", str(src), str(remote), "-p", PRESET, "--engine", "ray", "--workers", "2"])
    cap = capsys.readouterr()
    assert rc == 1 and "failed: bad.wav" in cap.err
    files = sorted(p.relative_to(local) for p in local.rglob("*.*") if p.name != MANIFEST)
    assert len(files) == 3
    assert files == sorted(p.relative_to(remote) for p in remote.rglob("*.*") if p.name != MANIFEST)
    for f in files:
        assert (local / f).read_bytes() == (remote / f).read_bytes(), f


def test_batch_refuses_an_output_inside_the_input_and_a_bad_preset(tmp_path, capsys):
    src = _tree(tmp_path)
    assert main(["batch", str(src), str(src / "out")]) == 1
    assert "must not be inside" in capsys.readouterr().err
    assert main(["batch", str(src), str(tmp_path / "o"), "-p", "no_such_preset"]) == 1
    assert "no_such_preset" in capsys.readouterr().err
    assert not (tmp_path / "o" / "a.wav").exists()
