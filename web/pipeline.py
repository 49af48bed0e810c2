"""One job's work: stream the upload through a preset chain (``aural.engine.io.process_file``,
latency-compensated, written atomically), optionally to a loudness target, and analyse both
signals in the same pass.

Runs in a worker thread (never in a request).  ``progress(done, total)`` is called after every
processed chunk (64k frames, processed in host blocks of 8192) and ``cancelled()`` is checked
there too, so a cancel takes effect within one chunk; a cancelled job leaves no output.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable

import numpy as np
from aural.engine import Chain
from aural.engine.io import (
    AudioFileError,
    AudioWriter,
    audio_info,
    iter_blocks,
    process_file,
)
from aural.engine.metrics import LevelMeter
from aural.engine.processors import Gain, Limiter

from .analysis import Analyzer
from .catalog import AUTO_PRESET, build_chain

__all__ = [
    "BLOCK",
    "LOUDNESS_RANGE",
    "OUTPUT_FORMATS",
    "Cancelled",
    "browser_playable",
    "estimate_bytes",
    "inspect_upload",
    "process",
    "write_json_atomic",
]

BLOCK = 8192

#: output choice -> (file name, libsndfile subtype, mime type, label)
OUTPUT_FORMATS = {
    "wav": ("enhanced.wav", "PCM_24", "audio/wav", "WAV, 24-bit"),
    "flac": ("enhanced.flac", "PCM_24", "audio/flac", "FLAC, 24-bit"),
}

#: loudness targets a job may ask for (LUFS)
LOUDNESS_RANGE = (-40.0, -5.0)

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


#: bytes per sample of the files a job writes: the result (24-bit) and its float temporaries
OUTPUT_WIDTH = 3
FLOAT_WIDTH = 4
#: room for headers, the JSON the page draws and FLAC's worst case (verbatim frames)
FIXED_BYTES = 2 * 1024 * 1024


def estimate_bytes(info: dict, output: str, loudness: float | None) -> int:
    """Most bytes a job writes at once, from the decoded header (``inspect_upload``'s dict):
    the result (frames x channels x 3), the float intermediate of a loudness target (x 4,
    it exists while the result is written) and the float WAV preview of files browsers
    cannot play (x 4)."""
    samples = int(info["frames"]) * int(info["channels"])
    need = samples * OUTPUT_WIDTH * (1.01 if output == "flac" else 1.0)
    if loudness is not None:
        need += samples * FLOAT_WIDTH
    if not browser_playable(info["format"], info["subtype"]):
        need += samples * FLOAT_WIDTH
    return int(need) + FIXED_BYTES


def _hms(s: float) -> str:
    s = round(s)
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


def _split_limiter(chain: Chain) -> tuple[Chain, list]:
    """(chain without a final active Limiter, [that Limiter] or []) for loudness normalising:
    the gain goes before the limiter so the target is met without overs."""
    nodes = list(chain.children)
    if nodes and type(nodes[-1]).__name__ == "Limiter" and not nodes[-1].bypass:
        return Chain(nodes[:-1], name=chain.name), [nodes[-1]]
    return chain, []


def process(job_dir: str, preset: str, params: dict, output: str,
            progress: Callable[[int, int], None], cancelled: Callable[[], bool],
            loudness: float | None = None, block: int = BLOCK) -> dict:
    """Enhance ``job_dir/input`` into ``job_dir/<OUTPUT_FORMATS[output][0]>``.

    With ``loudness`` (LUFS) the preset runs in two passes, like ``aural enhance --loudness``:
    everything before its final limiter into a float file, then the gain that brings it to the
    target and the limiter (a -1 dBFS one for a chain without, such as most ``auto`` chains).  Also writes ``peaks.json`` and ``spectrogram-{original,enhanced}.json``
    and, when browsers cannot play the upload, ``original.wav``.  Returns the job's result fields
    (for ``auto`` also ``findings`` and ``actions``: what the analysis found, what the chain does).
    ``progress(done, total)`` counts frames over all passes."""
    src = os.path.join(job_dir, "input")
    name, subtype, _, _ = OUTPUT_FORMATS[output]
    dst = os.path.join(job_dir, name)
    try:
        info = audio_info(src)
    except AudioFileError as e:
        raise ValueError(_reason(e)) from None
    sr, ch = info.sample_rate, info.channels
    frames = max(1, info.frames)
    # the disk a job may use was checked against the header's length: a stream that holds
    # much more than its header says is stopped, not written on and on
    limit = int(frames * 1.05) + 10 * sr
    passes = 1 if loudness is None else 2
    report = None
    if preset == AUTO_PRESET:
        chain, report = _auto_chain(src, params)
    else:
        chain = build_chain(preset, params)
    a_in = Analyzer(sr, ch, frames)
    a_out = Analyzer(sr, ch, frames)
    preview = None
    if not browser_playable(info.format, info.subtype):
        preview = AudioWriter(os.path.join(job_dir, "original.wav"), sr, ch, subtype="FLOAT")
    tmp = os.path.join(job_dir, "pass1.wav")
    gain_db = None

    def watcher(stage: int, first: bool, meter):
        def on_block(x: np.ndarray, y: np.ndarray, done: int, total: int) -> None:
            if cancelled():
                raise Cancelled()
            if done > limit:
                raise ValueError("The file holds more audio than its header says; it was "
                                 "not processed.")
            if first and x.shape[1]:
                a_in.feed(x)
                if preview is not None:
                    preview.write(x)
            if y.shape[1]:
                meter.feed(y) if isinstance(meter, Analyzer) else meter.add(y)
            if x.shape[1]:
                n = max(total, done)
                progress(stage * n + done, passes * n)
        return on_block

    try:
        try:
            if loudness is None:
                w = process_file(chain, src, dst, block=block, subtype=subtype,
                                 on_block=watcher(0, True, a_out))
                latency = chain.latency_samples
            else:
                main, post = _split_limiter(chain)
                if not post:  # a chain without a final limiter (auto): the gain must not clip
                    post = [Limiter(name="limiter", ceiling_db=-1.0, lookahead_ms=3.0,
                                    release_ms=60.0)]
                mid = LevelMeter(sr, ch, loudness=True)
                process_file(main, src, tmp, block=block, subtype="FLOAT",
                             on_block=watcher(0, True, mid))
                measured = mid.lufs
                gain_db = 0.0 if measured is None or not math.isfinite(measured) else \
                    float(np.clip(loudness - measured, -40.0, 40.0))
                stage2 = Chain([Gain(name="loudness", gain_db=gain_db)] + post, name="post")
                w = process_file(stage2, tmp, dst, block=block, subtype=subtype,
                                 on_block=watcher(1, False, a_out))
                latency = main.latency_samples + stage2.latency_samples
        except AudioFileError as e:
            raise ValueError(_reason(e)) from None
        if preview is not None:
            preview.close()
    finally:
        if preview is not None:
            preview.abort()
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    done = a_in.frames
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
        "latency_samples": int(latency),
        "clipped_samples": int(w.clipped),
        "loudness_gain_db": round(gain_db, 2) if gain_db is not None else None,
        "figures": {"original": a_in.figures(), "enhanced": a_out.figures()},
        "output_file": name,
        "preview": preview is not None,
        **(report or {}),
    }


def _auto_chain(src: str, params: dict) -> tuple[Chain, dict]:
    """The ``auto`` chain for this file (``aural.engine.auto.auto_chain_for``: analysis, then
    the repairs it calls for, then ``params`` for the nodes it built) and its report
    ``{"findings": [...], "actions": [...]}`` in plain words."""
    from aural.engine.auto import actions, auto_chain_for
    from aural.engine.presets import PresetError

    def text(v) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    try:
        chain, analysis = auto_chain_for(src, [f"{k}={text(v)}" for k, v in params.items()])
    except AudioFileError as e:
        raise ValueError(_reason(e)) from None
    except PresetError as e:
        raise ValueError(f"A setting cannot be applied to the chain auto built: {e}") from None
    return chain, {"findings": analysis.findings(), "actions": actions(chain)}
