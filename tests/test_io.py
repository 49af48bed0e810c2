"""engine.io: reading every format, atomic writing, streaming, latency-compensated file processing."""
from __future__ import annotations

import hashlib
import os
import warnings

import numpy as np
import pytest
import soundfile as sf
from aural.engine import Chain, Processor
from aural.engine.io import (
    AudioFileError,
    AudioWarning,
    AudioWriter,
    audio_info,
    iter_blocks,
    process_file,
    read_audio,
    temporary_path,
    write_audio,
)
from aural.engine.processors import Gain
from conftest import sha256


def _signal(sr: int, channels: int, seconds: float = 0.25) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return np.stack([0.4 * np.sin(2 * np.pi * (440 + 110 * c) * t) for c in range(channels)]
                    ).astype(np.float32)


def _only(folder) -> list[str]:
    return sorted(os.listdir(folder))


FORMATS = [("WAV", "PCM_16", "wav", 1 / 32768), ("WAV", "FLOAT", "wav", 0.0),
           ("FLAC", "PCM_24", "flac", 1e-6), ("OGG", "VORBIS", "ogg", 0.05),
           ("MP3", "MPEG_LAYER_III", "mp3", None)]
# MP3 holds at most 2 channels at <= 48 kHz (a limit of the format)
READ_CASES = [(*f, c, sr) for f in FORMATS for c in (1, 2, 3) for sr in (8000, 44100, 96000)
              if f[0] != "MP3" or (c <= 2 and sr <= 48000)]


@pytest.mark.parametrize("fmt,subtype,ext,tol,channels,sr", READ_CASES)
def test_read_formats(tmp_path, fmt, subtype, ext, tol, channels, sr):
    x = _signal(sr, channels)
    p = tmp_path / f"x.{ext}"
    sf.write(p, x.T, sr, format=fmt, subtype=subtype)
    y, got_sr = read_audio(p)
    assert got_sr == sr
    assert y.dtype == np.float32 and y.ndim == 2 and y.shape[0] == channels
    if fmt == "MP3":  # the decoder adds/trims padding; check it is the same tone
        assert abs(y.shape[1] - x.shape[1]) < 3000
        spec = np.abs(np.fft.rfft(y[0]))
        assert abs(np.argmax(spec) * sr / y.shape[1] - 440) < 10
        return
    assert y.shape == x.shape
    if tol:
        assert np.max(np.abs(y - x)) <= tol
    else:
        np.testing.assert_array_equal(y, x)
    info = audio_info(p)
    assert (info.format, info.sample_rate, info.channels, info.frames) == (fmt, sr, channels, x.shape[1])


def test_read_errors_are_one_line(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + os.urandom(200))
    (tmp_path / "corrupt.flac").write_bytes(b"fLaC" + os.urandom(300))
    (tmp_path / "notes.txt").write_text("not audio at all\n" * 20)
    (tmp_path / "folder.wav").mkdir()
    sf.write(tmp_path / "noframes.wav", np.zeros((0, 1), np.float32), 16000)
    cases = {"missing.wav": "no such file", "empty.wav": "empty", "corrupt.wav": "corrupt",
             "corrupt.flac": "corrupt", "notes.txt": "unsupported", "folder.wav": "directory",
             "noframes.wav": "no audio"}
    for name, word in cases.items():
        with pytest.raises(AudioFileError) as e:
            read_audio(tmp_path / name)
        msg = str(e.value)
        assert "\n" not in msg and name in msg and word in msg, msg
    with pytest.raises(AudioFileError):
        list(iter_blocks(tmp_path / "corrupt.wav", 100))


@pytest.mark.parametrize("ext,subtype,tol", [("wav", "FLOAT", 0.0), ("wav", None, 2 ** -23),
                                             ("flac", "PCM_16", 2 ** -15), ("flac", None, 2 ** -23)])
@pytest.mark.parametrize("channels,sr", [(1, 22050), (2, 48000), (6, 96000)])
def test_write_round_trip(tmp_path, ext, subtype, tol, channels, sr):
    x = _signal(sr, channels)
    p = tmp_path / f"out.{ext}"
    write_audio(p, x, sr, subtype=subtype)
    y, got = read_audio(p)
    assert got == sr and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= tol
    assert _only(tmp_path) == [p.name]  # no temp file left
    assert oct(os.stat(p).st_mode & 0o777) != oct(0o600)  # a normal file, not mkstemp's mode


def test_write_1d_and_clipping(tmp_path):
    x = np.array([0.0, 0.5, 1.5, -2.0, 0.25], np.float32)
    with AudioWriter(tmp_path / "a.wav", 8000, 1, subtype="PCM_24") as w:
        w.write(x)
    assert w.clipped == 2 and w.frames == 5
    y, _ = read_audio(tmp_path / "a.wav")
    assert np.max(np.abs(y)) <= 1.0 and abs(y[0, 1] - 0.5) < 1e-6
    write_audio(tmp_path / "b.wav", x, 8000, subtype="FLOAT")  # float keeps overs
    assert read_audio(tmp_path / "b.wav")[0][0, 3] == -2.0


def test_write_is_atomic(tmp_path):
    dst = tmp_path / "out.wav"
    write_audio(dst, np.full((1, 100), 0.25, np.float32), 8000)
    before = sha256(dst)
    # an error in the middle of a streamed write: old file intact, no temp file
    with pytest.raises(RuntimeError), AudioWriter(dst, 8000, 1) as w:
        w.write(np.zeros((1, 1000), np.float32))
        raise RuntimeError("boom")
    assert sha256(dst) == before and _only(tmp_path) == ["out.wav"]
    # a new destination that fails leaves nothing at all
    with pytest.raises(ValueError):
        with AudioWriter(tmp_path / "new.flac", 8000, 2) as w:
            w.write(np.zeros((3, 10), np.float32))  # wrong channel count
    assert _only(tmp_path) == ["out.wav"]
    # abort() drops a write in progress
    w = AudioWriter(tmp_path / "x.wav", 8000, 1)
    w.write(np.zeros((1, 10), np.float32))
    w.abort()
    assert _only(tmp_path) == ["out.wav"]


def test_write_refusals(tmp_path):
    src = tmp_path / "in.wav"
    write_audio(src, np.zeros((1, 100), np.float32), 8000)
    h = sha256(src)
    with pytest.raises(AudioFileError, match="input"):
        write_audio(src, np.ones((1, 100), np.float32) * 0.5, 8000, protect=[src])
    os.symlink(src, tmp_path / "link.wav")
    with pytest.raises(AudioFileError, match="input"):
        write_audio(tmp_path / "link.wav", np.zeros((1, 100), np.float32), 8000, protect=[src])
    with pytest.raises(AudioFileError, match=r"\.mp3"):
        write_audio(tmp_path / "out.mp3", np.zeros((1, 100), np.float32), 8000)
    with pytest.raises(AudioFileError, match="FLAC cannot hold FLOAT"):
        write_audio(tmp_path / "out.flac", np.zeros((1, 100), np.float32), 8000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="does not exist"):
        write_audio(tmp_path / "nope" / "out.wav", np.zeros((1, 100), np.float32), 8000)
    assert sha256(src) == h and _only(tmp_path) == ["in.wav", "link.wav"]


@pytest.mark.parametrize("block", [1, 100, 4096, 10 ** 6])
def test_iter_blocks_streams_the_file(tmp_path, block):
    x = _signal(16000, 2, seconds=0.3)
    p = tmp_path / "x.flac"
    write_audio(p, x, 16000, subtype="PCM_24")
    whole, _ = read_audio(p)
    parts = list(iter_blocks(p, block))
    assert all(b.shape[1] <= block and b.dtype == np.float32 for b in parts)
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


class Delay(Processor):
    """Pure delay of ``n`` samples (a latency the file driver must compensate)."""

    def __init__(self, n: int, **kw) -> None:
        super().__init__(**kw)
        self.n = n

    def _prepare(self) -> None:
        self._buf = np.zeros((self.channels, self.n + self.max_block), np.float32)

    def _reset(self) -> None:
        self._buf[:] = 0.0

    def _process(self, x, out) -> None:
        k = x.shape[1]
        self._buf[:, self.n:self.n + k] = x
        out[:] = self._buf[:, :k]
        self._buf[:, :self.n] = self._buf[:, k:k + self.n].copy()

    def _latency(self) -> int:
        return self.n


@pytest.mark.parametrize("latency", [0, 1, 300, 5000])
@pytest.mark.parametrize("block", [1, 64, 1000, 70000])
def test_process_file_is_aligned_and_same_length(tmp_path, latency, block):
    if block == 1 and latency == 5000:
        block = 3
    block = min(block, 65536)
    sr = 8000
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 3001)).astype(np.float32)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    write_audio(src, x, sr, subtype="FLOAT")
    seen = []
    w = process_file(Chain([Delay(latency), Gain(gain_db=-6.0)]), src, dst, block=block,
                     subtype="FLOAT", on_block=lambda a, b, d, t: seen.append((a.shape[1], d, t)))
    y, got = read_audio(dst)
    assert got == sr and y.shape == x.shape and w.frames == x.shape[1]
    np.testing.assert_allclose(y, x * 10 ** (-6 / 20), atol=1e-6)
    assert seen[-1][1] == seen[-1][2] == x.shape[1]  # progress reaches the total
    assert _only(tmp_path) == ["in.wav", "out.wav"]


def test_process_file_error_leaves_nothing(tmp_path):
    class Boom(Processor):
        calls = 0

        def _process(self, x, out):
            Boom.calls += 1
            if Boom.calls > 3:
                raise RuntimeError("processor failed")
            out[:] = x

    src = tmp_path / "in.wav"
    write_audio(src, np.zeros((1, 20000), np.float32), 8000)
    h = sha256(src)
    with pytest.raises(RuntimeError):
        process_file(Boom(), src, tmp_path / "out.wav", block=100)
    assert _only(tmp_path) == ["in.wav"] and sha256(src) == h
    with pytest.raises(AudioFileError, match="input"):
        process_file(Gain(), src, src, block=100)
    assert sha256(src) == h

    def interrupt(x, y, done, total):  # Ctrl-C in the middle of a file
        if done > 5000:
            raise KeyboardInterrupt
    out = tmp_path / "out.flac"
    write_audio(out, np.zeros((1, 10), np.float32), 8000)
    old = sha256(out)
    with pytest.raises(KeyboardInterrupt):
        process_file(Gain(), src, out, block=100, on_block=interrupt)
    assert _only(tmp_path) == ["in.wav", "out.flac"] and sha256(out) == old


def test_process_file_streams_in_constant_memory(tmp_path):
    """A long file is never held whole: peak traced memory stays far below the file's size."""
    import tracemalloc

    sr = 16000
    src, dst = tmp_path / "long.wav", tmp_path / "out.wav"
    block = np.random.default_rng(2).uniform(-0.3, 0.3, (2, sr * 10)).astype(np.float32)
    with AudioWriter(src, sr, 2, subtype="FLOAT") as w:
        for _ in range(12):  # 2 minutes of stereo: 15 MB as float32
            w.write(block)
    chain = Chain([Delay(4000), Gain(gain_db=-1.0)])
    short = tmp_path / "short.wav"
    write_audio(short, block[:, :5000], sr, subtype="FLOAT")
    process_file(chain, short, dst, block=1024, subtype="FLOAT")  # warm up (JIT, caches)
    tracemalloc.start()
    try:
        process_file(chain, src, dst, block=1024, subtype="FLOAT")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert audio_info(dst).frames == 12 * sr * 10
    assert peak < 4e6, peak  # a few 64k-frame chunks, not 15 MB


# -- damaged and unusual inputs (issue 20.6) ------------------------------------------------------

def _truncated_wav(tmp_path, frames: int = 48000, keep: float = 0.5):
    """A stereo PCM_16 WAV cut after ``keep`` of its data: (path, original samples, frames left)."""
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (2, frames)).astype(np.float32)
    whole = tmp_path / "whole.wav"
    write_audio(whole, x, 48000, subtype="PCM_16")
    data = whole.read_bytes()
    header = data.index(b"data") + 8
    cut = header + int((len(data) - header) * keep) + 1  # mid-frame, as a real cut is
    p = tmp_path / "input.wav"
    p.write_bytes(data[:cut])
    return p, x, (cut - header) // 4


def test_truncated_wav_warns_and_returns_what_is_there(tmp_path):
    p, x, left = _truncated_wav(tmp_path)
    msg = (f"{p}: truncated: header says {x.shape[1]} frames, read {left} "
           f"({100 * left / x.shape[1]:.1f} %)")
    with pytest.warns(AudioWarning) as rec:
        y, sr = read_audio(p)
    assert [str(r.message) for r in rec] == [msg]
    assert sr == 48000 and y.shape == (2, left)
    np.testing.assert_allclose(y, x[:, :left], atol=1 / 32768)
    with pytest.warns(AudioWarning, match="truncated") as rec:
        blocks = list(iter_blocks(p, 10000))
    assert len(rec) == 1
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), y)
    with warnings.catch_warnings():  # an intact file: no warning at all
        warnings.simplefilter("error")
        read_audio(tmp_path / "whole.wav")
        list(iter_blocks(tmp_path / "whole.wav"))


def test_enhance_of_a_truncated_wav_says_so_and_goes_on(tmp_path, capsys):
    from aural.cli.main import main

    p, x, left = _truncated_wav(tmp_path, frames=24000)
    out = tmp_path / "out.wav"
    rc = main(["enhance", str(p), "-o", str(out), "-q", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0
    assert (f"aural: warning: {p}: truncated: header says {x.shape[1]} frames, read {left} "
            f"({100 * left / x.shape[1]:.1f} %)") in err.splitlines()
    assert "Traceback" not in err and audio_info(out).frames == left


def _flac_unknown_length(tmp_path, x: np.ndarray, sr: int):
    """A FLAC of ``x`` whose STREAMINFO total-samples field (36 bits) is zeroed."""
    p = tmp_path / "unknown.flac"
    sf.write(p, x.T, sr, format="FLAC", subtype="PCM_16")
    b = bytearray(p.read_bytes())
    assert b[:4] == b"fLaC" and b[4] & 0x7F == 0  # first metadata block: STREAMINFO
    off = 8 + 10  # block sizes (4 bytes), frame sizes (6), then rate/channels/bits/total
    v = int.from_bytes(b[off:off + 8], "big")
    assert v & (2 ** 36 - 1) == x.shape[1]
    b[off:off + 8] = (v & ~(2 ** 36 - 1)).to_bytes(8, "big")
    p.write_bytes(bytes(b))
    return p, bytes(b[8 + 18:8 + 34])  # and STREAMINFO's MD5 of the decoded samples


def test_flac_of_unknown_length_is_read_to_its_end(tmp_path):
    sr = 44100
    x = np.round(np.random.default_rng(4).uniform(-0.5, 0.5, (2, 100003)) * 32768) / 32768
    x = x.astype(np.float32)
    p, md5 = _flac_unknown_length(tmp_path, x, sr)
    with sf.SoundFile(p) as f:  # libsndfile opens it, but does not know its length
        assert not 0 < f.frames < 2 ** 62
    y, got = read_audio(p)
    assert got == sr and y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    # a valid stream: the decoded samples match the MD5 signature the encoder stored
    pcm = np.round(y.T * 32768).astype("<i2").tobytes()
    assert hashlib.md5(pcm).digest() == md5
    assert audio_info(p).frames == x.shape[1]
    np.testing.assert_array_equal(np.concatenate(list(iter_blocks(p, 30000)), axis=1), x)
    w = process_file(Gain(gain_db=-6.0), p, tmp_path / "out.wav", block=512, subtype="FLOAT")
    assert w.frames == x.shape[1]
    np.testing.assert_allclose(read_audio(tmp_path / "out.wav")[0], x * 10 ** (-6 / 20), atol=1e-6)


# -- integer PCM, NaN, unwritable folders (issue 20.6) --------------------------------------------

@pytest.mark.parametrize("dtype,offset,full", [("int16", 0, 2 ** 15), ("int32", 0, 2 ** 31),
                                               ("int8", 0, 2 ** 7), ("uint8", 128, 2 ** 7),
                                               (">i2", 0, 2 ** 15)])
def test_write_scales_integer_pcm(tmp_path, dtype, offset, full):
    info = np.iinfo(np.dtype(dtype))
    raw = np.array([info.min, info.min // 2, offset, (info.max + offset) // 2, info.max],
                   dtype=dtype)
    want = (raw.astype(np.float64) - offset) / full
    write_audio(tmp_path / "a.wav", raw, 8000, subtype="FLOAT")
    y, _ = read_audio(tmp_path / "a.wav")
    np.testing.assert_allclose(y[0], want, atol=1e-7)
    assert y.max() <= 1.0 and y.min() == -1.0 and y.max() > 0.99
    with AudioWriter(tmp_path / "b.wav", 8000, 1, subtype="FLOAT") as w:
        w.write(raw[np.newaxis])
    np.testing.assert_array_equal(read_audio(tmp_path / "b.wav")[0], y)


def test_write_refuses_samples_of_unknown_scale_and_zeroes_nan(tmp_path):
    for bad in (np.zeros(10, np.int64), np.zeros(10, bool), np.zeros(10, np.uint16),
                np.zeros(10, np.complex64)):
        with pytest.raises(ValueError, match=f"cannot write {bad.dtype} samples"):
            write_audio(tmp_path / "a.wav", bad, 8000)
    assert _only(tmp_path) == []
    x = np.array([0.5, np.nan, np.inf, -np.inf, -0.25], np.float32)
    write_audio(tmp_path / "a.wav", x, 8000, subtype="FLOAT")
    np.testing.assert_array_equal(read_audio(tmp_path / "a.wav")[0][0], [0.5, 0, 0, 0, -0.25])


def test_unwritable_folder_is_one_line_error(tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_bytes(b"not a folder")
    with pytest.raises(AudioFileError, match=f"cannot write to {afile}: not a folder"):
        write_audio(afile / "out.wav", np.zeros(10, np.float32), 8000)
    with pytest.raises(AudioFileError, match=f"cannot write to {afile}: not a folder"):
        temporary_path(afile / "out.wav", ".pass1.w64")
    real_open = os.open

    def denied(path, *a, **k):
        if os.path.dirname(os.fspath(path)) == str(tmp_path):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *a, **k)
    monkeypatch.setattr(os, "open", denied)
    for make in (lambda: temporary_path(tmp_path / "out.wav", ".pass1.w64"),
                 lambda: write_audio(tmp_path / "out.wav", np.zeros(10, np.float32), 8000)):
        with pytest.raises(AudioFileError) as e:
            make()
        assert str(e.value) == f"{tmp_path / 'out.wav'}: cannot write to {tmp_path}: permission denied"
    monkeypatch.undo()
    assert _only(tmp_path) == ["afile"]
