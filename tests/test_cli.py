"""The ``aural`` command: enhance round trip on the bundled example, bad inputs, --set, presets, info.

Most tests call ``aural.cli.main.main(argv)`` in-process (fast); a few run the real console
script / ``python -m aural.cli`` to check exit statuses and output streams end to end."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from aural.engine.io import audio_info, read_audio, write_audio
from aural.engine.loudness import integrated_loudness
from aural.engine.metrics import estimate_snr_db, si_sdr
from aural.engine.presets import load_preset, shaping_only
from conftest import sha256, speech

from aural.cli.enhance import COMPILING
from aural.cli.main import main


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def short_wav(tmp_path):
    """1.5 s of noisy stereo speech at 44.1 kHz."""
    sr = 44100
    s = speech(sr, 1.5, "b")
    rng = np.random.default_rng(0)
    x = np.stack([s, 0.7 * s]) * 0.5 + 0.01 * rng.standard_normal((2, s.size))
    p = tmp_path / "short.wav"
    write_audio(p, x.astype(np.float32), sr, subtype="PCM_16")
    return p


def test_enhance_round_trip_on_the_bundled_example(tmp_path, capsys, example):
    noisy = example["noisy"]
    h = sha256(noisy)
    out = tmp_path / "enhanced.flac"
    rc, stdout, err = run(capsys, "enhance", noisy, "-o", out, "--preset", "voice")
    assert rc == 0, err
    x, sr = read_audio(noisy)
    y, sr2 = read_audio(out)
    assert sr2 == sr and y.shape == x.shape  # same rate, channels and length
    assert audio_info(out).format == "FLAC"
    assert np.max(np.abs(y - x)) > 0.01  # it did something
    assert estimate_snr_db(y, sr) > estimate_snr_db(x, sr) + 6.0
    # closer to the clean reference, with the preset's EQ/dynamics applied to both sides
    clean, _ = read_audio(example["clean"])
    ref_chain = shaping_only(load_preset("voice"))
    ref = ref_chain(clean, sr)
    assert si_sdr(ref, y) > si_sdr(ref, ref_chain(x, sr)) + 1.0
    # figures: before/after table and the latency
    for word in ("peak dBFS", "RMS dBFS", "loudness LUFS", "est. SNR dB", "latency", "before", "after"):
        assert word in stdout
    # no progress bar when stderr is not a terminal (only the compile note of a first run)
    assert err.replace(COMPILING + "\n", "") == ""
    assert sha256(noisy) == h  # input untouched
    assert sorted(os.listdir(tmp_path)) == ["enhanced.flac"]  # no temp file left


def test_enhance_default_output_and_rerun(tmp_path, capsys, short_wav):
    rc, out, err = run(capsys, "enhance", short_wav, "--no-progress")
    assert rc == 0, err
    dst = tmp_path / "short.enhanced.wav"
    assert dst.exists() and audio_info(dst).frames == audio_info(short_wav).frames
    assert audio_info(dst).channels == 2 and audio_info(dst).subtype == "PCM_24"
    first = sha256(dst)
    rc, out, err = run(capsys, "enhance", short_wav, "-q")  # again: overwrites its own output
    assert rc == 0 and out == "" and sha256(dst) == first  # and deterministic
    # non-WAV/FLAC input gets a .wav output
    x, sr = read_audio(short_wav)
    sf.write(tmp_path / "take.ogg", x.T, sr, format="OGG", subtype="VORBIS")
    sf.write(tmp_path / "take.mp3", x.T, sr, format="MP3", subtype="MPEG_LAYER_III")
    for name in ("take.ogg", "take.mp3"):
        rc, out, err = run(capsys, "enhance", tmp_path / name, "-q")
        assert rc == 0, err
        stem = name.split(".")[0]
        got = audio_info(tmp_path / f"{stem}.enhanced.wav")
        assert got.channels == 2 and got.frames == audio_info(tmp_path / name).frames


def test_enhance_block_size_does_not_change_the_result(tmp_path, capsys, short_wav):
    outs = []
    for block in (7, 333, 4096):
        dst = tmp_path / f"b{block}.wav"
        rc, _, err = run(capsys, "enhance", short_wav, "-o", dst, "--block", block,
                         "--subtype", "FLOAT", "-q")
        assert rc == 0, err
        outs.append(read_audio(dst)[0])
    for y in outs[1:]:
        np.testing.assert_allclose(y, outs[0], atol=1e-5, rtol=0)


def test_set_overrides_parameters(tmp_path, capsys, short_wav):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert run(capsys, "enhance", short_wav, "-o", a, "-q")[0] == 0
    rc, out, err = run(capsys, "enhance", short_wav, "-o", b, "--set", "limiter.ceiling_db=-20",
                       "--set", "compressor.makeup_db=12", "--set", "neural.bypass=on")
    assert rc == 0, err
    ya, yb = read_audio(a)[0], read_audio(b)[0]
    assert np.max(np.abs(yb)) <= 10 ** (-20 / 20) + 1e-4 < np.max(np.abs(ya))
    # an out-of-range value is clipped and said so
    rc, out, err = run(capsys, "enhance", short_wav, "-o", b, "--set", "neural.high_band_floor=-500")
    assert rc == 0 and "out of range" in err and "-60" in err


def test_loudness_normalisation(tmp_path, capsys, short_wav):
    dst = tmp_path / "loud.wav"
    rc, out, err = run(capsys, "enhance", short_wav, "-o", dst, "--loudness", "-18")
    assert rc == 0, err
    y, sr = read_audio(dst)
    assert integrated_loudness(y, sr) == pytest.approx(-18.0, abs=0.5)
    assert np.max(np.abs(y)) <= 10 ** (-1 / 20) + 1e-4  # the preset's limiter still rules
    assert y.shape == read_audio(short_wav)[0].shape
    assert "loudness gain" in out
    assert sorted(os.listdir(tmp_path)) == ["loud.wav", "short.wav"]  # pass-1 temp file removed


def test_progress_bar(tmp_path, capsys, short_wav):
    rc, out, err = run(capsys, "enhance", short_wav, "-o", tmp_path / "p.wav", "--progress",
                       "--block", "512")
    assert rc == 0
    assert "100.0%" in err and "realtime" in err and err.endswith("\n")


def _bad_inputs(tmp):
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "corrupt.flac").write_bytes(b"fLaC\x00\x00\x00\x22" + os.urandom(500))
    (tmp / "notes.txt").write_text("this is not audio\n" * 30)
    good = tmp / "good.wav"
    write_audio(good, np.zeros((1, 4000), np.float32) + 0.01, 16000)
    return [
        ([tmp / "missing.wav"], "no such file"),
        ([tmp / "empty.wav"], "empty"),
        ([tmp / "corrupt.flac"], "corrupt"),
        ([tmp / "notes.txt"], "unsupported"),
        ([good, "--preset", "nonexistent"], "unknown preset"),
        ([good, "--preset", tmp / "nope.json"], "no such preset file"),
        ([good, "--set", "neural.high_band_floor"], "node.param=value"),
        ([good, "--set", "nosuchnode.gain_db=1"], "no node 'nosuchnode'"),
        ([good, "--set", "neural.nosuchparam=1"], "nosuchparam"),
        ([good, "--set", "neural.high_band_floor=loud"], "'loud'"),
        ([good, "-o", good], "refusing to overwrite the input"),
        ([good, "-o", tmp / "out.mp3"], "use .wav or .flac"),
        ([good, "-o", tmp / "missing_dir" / "out.wav"], "does not exist"),
        ([good, "--block", "0"], "--block"),
        ([good, "--loudness", "5"], "--loudness"),
    ]


def test_bad_inputs_fail_cleanly(tmp_path, capsys):
    cases = _bad_inputs(tmp_path)
    before = {p: sha256(tmp_path / p) for p in os.listdir(tmp_path)}
    for args, word in cases:
        rc, out, err = run(capsys, "enhance", *args)
        lines = err.strip().splitlines()
        assert rc != 0, args
        assert len(lines) == 1 and "error" in lines[0] and word in lines[0], (args, err)
        # no output and no temp file, every input untouched
        assert {p: sha256(tmp_path / p) for p in os.listdir(tmp_path)} == before, args


def test_console_script_exit_status_and_streams(tmp_path):
    """The installed entry point (or python -m aural.cli) returns the status and one line."""
    exe = shutil.which("aural", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "aural.cli"]
    p = subprocess.run(cmd + ["enhance", str(tmp_path / "missing.wav")], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip() == f"aural enhance: error: {tmp_path / 'missing.wav'}: no such file"
    p = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.startswith("aural ")
    p = subprocess.run(cmd + ["enhance"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "usage" in p.stderr  # argparse's own usage error
    assert not os.listdir(tmp_path)


def test_presets_command(capsys):
    rc, out, err = run(capsys, "presets")
    assert rc == 0
    for name in ("voice", "music", "vinyl"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 20  # a description
    rc, out, err = run(capsys, "presets", "voice")
    assert rc == 0
    for word in ("highpass", "neural", "high_band_floor", "dB", "limiter", "ceiling_db", "--set"):
        assert word in out
    rc, out, err = run(capsys, "presets", "loudest")
    assert rc == 1 and "unknown preset" in err and len(err.strip().splitlines()) == 1


def test_info_command(tmp_path, capsys, example):
    rc, out, err = run(capsys, "info", example["noisy"])
    assert rc == 0, err
    fields = dict(ln.split(None, 1) if not ln.startswith(("sample rate", "est. SNR"))
                  else (ln[:11].strip(), ln[11:].strip()) for ln in out.splitlines())
    assert "48000 Hz" in out and "FLAC" in fields["format"] and fields["channels"] == "1"
    assert "10.7" in fields["duration"] and "LUFS" in fields["loudness"]
    assert fields["hum"].startswith("yes: 50 Hz")
    rc, out, err = run(capsys, "info", example["clean"])
    assert rc == 0 and "hum" in out and "none detected" in out
    rc, out, err = run(capsys, "info", tmp_path / "nothing.wav")
    assert rc == 1 and "no such file" in err


def test_help_constants_match_the_engine():
    """The CLI keeps copies of two engine constants so that --help imports no engine."""
    from aural.engine.processor import MAX_BLOCK
    from aural.models.data import MIXES

    from aural.cli import enhance, train

    assert enhance.MAX_BLOCK == MAX_BLOCK
    assert train.MIX_NAMES == tuple(MIXES)


def test_enhance_warm_up_pass_leaves_the_output_unchanged(tmp_path, capsys, short_wav):
    """enhance runs the chain over noise first (compiling kernels off the clock): the file it
    writes is still exactly what a freshly loaded chain streams."""
    from aural.engine.io import process_file

    out = tmp_path / "cli.wav"
    rc, stdout, err = run(capsys, "enhance", short_wav, "-o", out, "-p", "voice_dsp",
                          "--subtype", "FLOAT", "--block", "512")
    assert rc == 0, err
    assert re.search(r"processed [\d.]+ s of audio in [\d.]+ s \([\d.]+x realtime\)", stdout)
    ref = tmp_path / "ref.wav"
    process_file(load_preset("voice_dsp"), short_wav, ref, block=512, subtype="FLOAT")
    y, _ = read_audio(out)
    r, _ = read_audio(ref)
    assert y.shape == r.shape and np.array_equal(y, r)
    assert np.max(np.abs(y)) > 0.05


@pytest.mark.parametrize("argv, env, say", [
    (["--max-job-gb", "-1"], {}, "--max-job-gb must be positive"),
    (["--max-connections", "0"], {}, "--max-connections must be positive"),
    ([], {"AURAL_WEB_MAX_CONNECTIONS": "abc"}, "AURAL_WEB_MAX_CONNECTIONS"),
])
def test_serve_refuses_bad_limits_in_one_line(argv, env, say, tmp_path):
    r = subprocess.run([sys.executable, "-m", "aural.cli", "serve", "--port", "0",
                        "--jobs-dir", str(tmp_path), *argv], capture_output=True, text=True,
                       timeout=60, env={**os.environ, **env})
    assert r.returncode == 2 and say in r.stdout and "Traceback" not in r.stderr


def test_live_osc_limits_reach_the_server(monkeypatch):
    """--osc-allow-other-ports / --osc-max-subscribers are the operator's, parsed into Limits."""
    from aural.cli.main import build_parser

    a = build_parser().parse_args(["live", "--osc-allow-other-ports", "--osc-max-subscribers", "2"])
    assert a.osc_allow_other_ports is True and a.osc_max_subscribers == 2
    a = build_parser().parse_args(["live"])
    assert a.osc_allow_other_ports is False and a.osc_max_subscribers == 8 and not a.conceal
    assert build_parser().parse_args(["live", "--conceal"]).conceal is True


def test_enhance_learns_the_files_opening_unless_told_not_to(tmp_path, capsys):
    """A hummy file through a DeHum-only preset: by default the hum is cancelled from the first
    second (DeHum learns the file's opening, docs/restoration.md); ``--no-learn`` processes it
    as a live stream would, the opening keeps its hum, and equals the live one-shot output."""
    import json

    sr = 48000
    s = speech(sr, 6.0, "b")
    t = np.arange(s.size) / sr
    hum = sum((1.0 if k % 2 else 0.35) / k * np.sin(2 * np.pi * 50.03 * k * t + k)
              for k in range(1, 11))
    hum *= np.sqrt(np.mean(s ** 2) / np.mean(hum ** 2) / 10 ** 0.8)  # 8 dB under the speech
    src = tmp_path / "hum.wav"
    write_audio(src, (s + hum)[None].astype(np.float32), sr, subtype="FLOAT")
    preset = tmp_path / "dehum.json"
    preset.write_text(json.dumps({"type": "Chain", "name": "dehum",
                                  "nodes": [{"type": "DeHum", "name": "dehum"}]}))
    outs = {}
    for flag in ([], ["--no-learn"]):
        out = tmp_path / f"out{len(flag)}.wav"
        rc, _, err = run(capsys, "enhance", src, "-o", out, "-p", preset, "--subtype", "FLOAT",
                         "-q", *flag)
        assert rc == 0, err
        outs[len(flag)], _ = read_audio(out)
    first = slice(0, sr)
    left = {k: 10 * np.log10(np.mean((y[0, first] - s[first]) ** 2) / np.mean(hum[first] ** 2))
            for k, y in outs.items()}
    assert left[1] > -3.0                  # live: the first second keeps its hum
    assert left[0] < left[1] - 10.0        # learned: cancelled there too
    from aural.engine.processors import DeHum
    live = DeHum(name="dehum")((s + hum)[None].astype(np.float32), sr, buffer_size=4096)
    assert np.array_equal(outs[1], live)
