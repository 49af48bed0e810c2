"""One job's work: stream the upload through a preset chain block by block, write the enhanced
file atomically and analyse both signals in the same pass.

Runs in a worker thread (never in a request).  ``progress(done_frames, total_frames)`` is called
after every processed block and ``cancelled()`` is checked before every block, so a cancel
takes effect within one block (8192 frames).
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Callable

import numpy as np

from aural.engine.io import AudioFileError, AudioWriter, audio_info, iter_blocks

from .analysis import Analyzer
from .catalog import build_chain

__all__ = ["Cancelled", "OUTPUT_FORMATS", "BLOCK", "browser_playable", "inspect_upload",
           "process", "write_json_atomic"]

BLOCK = 8192

#: output choice -> (file name, libsndfile subtype, mime type, label)
OUTPUT_FORMATS = {
    "wav": ("enhanced.wav", "PCM_24", "audio/wav", "WAV, 24-bit"),
    "flac": ("enhanced.flac", "PCM_24", "audio/flac", "FLAC, 24-bit"),
}

#: containers the page accepts (decoded by content, never by extension)
ACCEPTED = {"WAV", "WAVEX", "RF64", "W64", "FLAC", "OGG", "MP3", "AIFF", "CAF"}
_PLAYABLE_PCM = {"PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT"}
MIME = {"WAV": "audio/wav", "WAVEX": "audio/wav", "FLAC": "audio/flac", "OGG": "audio/ogg",
        "MP3": "audio/mpeg"}


class Cancelled(Exception):
    """The job was cancelled between two blocks."""


def browser_playable(fmt: str, subtype: str) -> bool:
    """Whether browsers play this file as it is (otherwise the worker writes a WAV preview)."""
    if fmt in ("WAV", "WAVEX"):
        return subtype in _PLAYABLE_PCM
    if fmt == "OGG":
        return subtype in ("VORBIS", "OPUS")
    return fmt in ("FLAC", "MP3")


def inspect_upload(path: str, max_duration_s: float) -> dict:
    """Check an uploaded file by decoding it: header and the first block of samples.

    Returns its info as a dict; raises ``ValueError`` with a message for the page."""
    try:
        info = audio_info(path)
        first = next(iter_blocks(path, 4096), None)
    except AudioFileError as e:
        raise ValueError(_reason(e)) from None
    except StopIteration:  # pragma: no cover
        first = None
    if info.format not in ACCEPTED:
        raise ValueError(f"This is a {info.format} file. Upload WAV, FLAC, OGG or MP3.")
    if first is None or first.shape[1] == 0 or info.frames <= 0:
        raise ValueError("The file decodes but holds no audio.")
    if not 8000 <= info.sample_rate <= 192000:
        raise ValueError(f"Sample rate {info.sample_rate} Hz is not supported (8 to 192 kHz).")
    if not 1 <= info.channels <= 8:
        raise ValueError(f"{info.channels} channels are not supported (1 to 8).")
    if info.duration > max_duration_s:
        raise ValueError(f"The recording is {_hms(info.duration)} long; the limit is "
                         f"{_hms(max_duration_s)}.")
    return {"format": info.format, "subtype": info.subtype, "format_name": info.format_name,
            "sample_rate": info.sample_rate, "channels": info.channels, "frames": info.frames,
            "duration": round(info.duration, 3)}


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _reason(e: AudioFileError) -> str:
    """The user-facing words of an AudioFileError (never the server's path)."""
    r = e.reason
    low = r.lower()
    if "unsupported or unrecognised" in low or "format not recognised" in low:
        return "This file is not audio that aural can read (WAV, FLAC, OGG or MP3)."
    if "empty" in low:
        return "The file is empty."
    return f"The file cannot be decoded: {r}."


def write_json_atomic(path: str, obj) -> None:
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def process(job_dir: str, preset: str, params: dict, output: str,
            progress: Callable[[int, int], None], cancelled: Callable[[], bool],
            block: int = BLOCK) -> dict:
    """Enhance ``job_dir/input`` into ``job_dir/<OUTPUT_FORMATS[output][0]>``.

    Also writes ``peaks.json`` and ``spectrogram-{original,enhanced}.json`` and, when browsers
    cannot play the upload, ``original.wav``.  Returns the result fields of the job."""
    src = os.path.join(job_dir, "input")
    name, subtype, _, _ = OUTPUT_FORMATS[output]
    dst = os.path.join(job_dir, name)
    try:
        info = audio_info(src)
    except AudioFileError as e:
        raise ValueError(_reason(e)) from None
    sr, ch = info.sample_rate, info.channels
    total = max(1, info.frames)
    chain = build_chain(preset, params)
    chain.prepare(sr, ch, block)
    lat = chain.latency_samples
    a_in = Analyzer(sr, ch, total)
    a_out = Analyzer(sr, ch, total)
    preview = None
    if not browser_playable(info.format, info.subtype):
        preview = AudioWriter(os.path.join(job_dir, "original.wav"), sr, ch, subtype="FLOAT")
    done = 0
    skip = lat
    try:
        with AudioWriter(dst, sr, ch, subtype=subtype, protect=[src]) as w:
            def emit(y: np.ndarray) -> None:
                nonlocal skip
                if skip:
                    k = min(skip, y.shape[1])
                    y = y[:, k:]
                    skip -= k
                if y.shape[1]:
                    w.write(y)
                    a_out.feed(y)

            try:
                for x in iter_blocks(src, block):
                    if cancelled():
                        raise Cancelled()
                    a_in.feed(x)
                    if preview is not None:
                        preview.write(x)
                    emit(chain.process(x))
                    done += x.shape[1]
                    progress(done, max(total, done))
                zeros = np.zeros((ch, block), np.float32)
                left = lat
                while left > 0:  # flush the chain's latency so the output has the input's length
                    m = min(block, left)
                    emit(chain.process(zeros[:, :m]))
                    left -= m
            except AudioFileError as e:
                raise ValueError(_reason(e)) from None
            clipped = w.clipped
        if preview is not None:
            preview.close()
    finally:
        if preview is not None:
            preview.abort()
    if done == 0:
        raise ValueError("The file decodes but holds no audio.")
    write_json_atomic(os.path.join(job_dir, "spectrogram-original.json"), a_in.spectrogram())
    write_json_atomic(os.path.join(job_dir, "spectrogram-enhanced.json"), a_out.spectrogram())
    write_json_atomic(os.path.join(job_dir, "peaks.json"), {
        "sample_rate": sr,
        "original": {"duration": a_in.duration, "peaks": a_in.peaks()},
        "enhanced": {"duration": a_out.duration, "peaks": a_out.peaks()},
    })
    return {
        "frames": done,
        "latency_samples": lat,
        "clipped_samples": int(clipped),
        "figures": {"original": a_in.figures(), "enhanced": a_out.figures()},
        "output_file": name,
        "preview": preview is not None,
    }
