"""Audio file I/O: read any common format, write WAV/FLAC atomically, stream long files in blocks.

Audio is always float32 ``(channels, frames)``, the layout every processor uses.

    audio, sr = read_audio("take.mp3")              # WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...
    write_audio("take.enhanced.flac", audio, sr)   # temp file, fsync, rename: never half a file

    with AudioWriter("out.wav", sr, channels) as w:  # the same guarantee for streamed output
        for block in iter_blocks("in.wav", 65536):
            w.write(process(block))

Every failure to open or decode a file raises :class:`AudioFileError` with a one-line message
that names the file and the reason (missing, empty, corrupt, unsupported format).  A file that
decodes but is damaged (a WAV cut short) gives an :class:`AudioWarning` and what could be read.

Temporary files (``.NAME.aural-<pid>-<hex>.part`` beside the output) are kept in a process-wide
registry: :func:`remove_temporaries` deletes them all (signal handlers and exit call it), and
:func:`sweep_stale_temporaries` deletes those left in a folder by processes that no longer run.
"""
from __future__ import annotations

import atexit
import errno
import os
import re
import secrets
import stat
import struct
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import soundfile as sf

__all__ = [
    "DEFAULT_SUBTYPE",
    "WRITE_FORMATS",
    "AudioFileError",
    "AudioInfo",
    "AudioWarning",
    "AudioWriter",
    "as_float_samples",
    "audio_info",
    "discard_temporary",
    "iter_blocks",
    "output_format",
    "process_file",
    "read_audio",
    "remove_temporaries",
    "sweep_stale_temporaries",
    "temporary_path",
    "write_audio",
]

#: output extension -> libsndfile container format (W64: WAV with 64-bit sizes, past 4 GB)
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".w64": "W64"}
#: default sample format of written files (24-bit PCM plays everywhere and is transparent)
DEFAULT_SUBTYPE = "PCM_24"

# file mode for new files (mkstemp makes 0600; a normal file gets 0666 & ~umask).  The umask is
# read once here, not per write, because reading it means setting it (not thread-safe).
_UMASK = os.umask(0o022)
os.umask(_UMASK)

# -- temporary files ------------------------------------------------------------------------------
# Every temporary file this process creates is named ".NAME.aural-<pid>-<8 hex><suffix>" and kept
# in _TEMPORARIES until it is renamed or deleted.  A plain dict (no lock): signal handlers run in
# the main thread between bytecodes, and a lock held there would deadlock them.
_TEMPORARIES: dict[str, None] = {}
_TEMP_NAME = re.compile(r"^\..*\.aural-(\d{1,10})-[0-9a-f]{8}(?:\.[A-Za-z0-9]+)+$")
_MAX_BASE = 120  # characters of the destination's name kept in a temporary's name (NAME_MAX 255)


def _write_reason(folder: str, e: OSError) -> str:
    """One-line reason for a failure to create a file in ``folder``."""
    why = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
           errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on device",
           errno.EDQUOT: "disk quota exceeded", errno.ENOTDIR: "not a folder",
           errno.ENOENT: "folder does not exist"}.get(e.errno or 0)
    return f"cannot write to {folder}: {why or (e.strerror or str(e)).lower()}"


def _writable_folder(dst: str) -> str:
    """The folder ``dst`` would be written in; AudioFileError unless it is a writable folder."""
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        what = "not a folder" if os.path.exists(folder) else "folder does not exist"
        raise AudioFileError(dst, f"cannot write to {folder}: {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        try:
            ro = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except (OSError, AttributeError):
            ro = False
        why = "read-only file system" if ro else "permission denied"
        raise AudioFileError(dst, f"cannot write to {folder}: {why}")
    return folder


def _create_temporary(dst: str, suffix: str) -> tuple[int, str]:
    """Create and register an empty temporary file beside ``dst``; return (fd, path)."""
    if not re.fullmatch(r"(?:\.[A-Za-z0-9]+)+", suffix):
        raise ValueError(f"temporary suffix must look like '.part' or '.pass1.w64', got {suffix!r}")
    folder = _writable_folder(dst)
    base = os.path.basename(dst)[:_MAX_BASE]
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(folder, f".{base}.aural-{os.getpid()}-{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as e:
            raise AudioFileError(dst, _write_reason(folder, e)) from None
        _TEMPORARIES[path] = None
        return fd, path
    raise AudioFileError(dst, f"cannot write to {folder}: no free temporary name")


def temporary_path(dst: str | os.PathLike, suffix: str = ".part") -> str:
    """Create an empty temporary file beside ``dst`` and return its path.

    The name carries this process's id (``.NAME.aural-<pid>-<hex><suffix>``) and the path is
    registered, so a signal or exit removes it (:func:`remove_temporaries`) and a later process
    sweeps it if this one dies (:func:`sweep_stale_temporaries`).  Delete it with
    :func:`discard_temporary`.  Raises :class:`AudioFileError` (one line) if the folder cannot
    be written, e.g. ``out.wav: cannot write to /music: permission denied``."""
    fd, path = _create_temporary(os.fspath(dst), suffix)
    os.close(fd)
    return path


def discard_temporary(path: str) -> None:
    """Delete a temporary file (if it is still there) and forget it."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    finally:
        _TEMPORARIES.pop(path, None)


def remove_temporaries() -> int:
    """Delete every temporary file this process still has open or pending; return how many.

    Safe from a signal handler: the files may be open (POSIX unlinks them anyway) and a file
    already renamed into place is simply gone from the registry's path."""
    n = 0
    for path in list(_TEMPORARIES):
        try:
            os.unlink(path)
            n += 1
        except OSError:
            pass
        _TEMPORARIES.pop(path, None)
    return n


atexit.register(remove_temporaries)


def _pid_alive(pid: int) -> bool:
    """True unless ``pid`` certainly names no running process (unknown counts as alive)."""
    if os.name != "posix" or pid <= 0:  # os.kill(pid, 0) would terminate it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # EPERM: someone else's live process
        return True
    return True


def sweep_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Delete the temporary files that dead processes left in ``folder``; return their paths.

    Only regular files named like this module's temporaries (``.NAME.aural-<pid>-<hex>.part``,
    ``....pass1.w64``) whose pid is not a running process are removed: files of live processes
    (this one included) and every other file are left alone.  Never raises."""
    folder = os.fspath(folder)
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    me = os.getpid()
    for name in names:
        m = _TEMP_NAME.match(name)
        if m is None:
            continue
        pid = int(m.group(1))
        if pid == me or _pid_alive(pid):
            continue
        path = os.path.join(folder, name)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


class AudioFileError(Exception):
    """A file that cannot be read or written as audio.  ``str(e)`` is one line: path: reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = " ".join(str(reason).split())  # always one line
        super().__init__(f"{self.path}: {self.reason}")


class AudioWarning(UserWarning):
    """A file that decodes but is damaged (e.g. truncated): what could be read is returned."""


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says."""

    path: str
    format: str        # container, e.g. "WAV", "FLAC", "OGG", "MP3"
    subtype: str       # sample format, e.g. "PCM_16", "VORBIS"
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def format_name(self) -> str:
        """Human form, e.g. 'FLAC (Free Lossless Audio Codec), Signed 16 bit PCM'."""
        fmt = sf.available_formats().get(self.format, self.format)
        sub = sf.available_subtypes(self.format).get(self.subtype, self.subtype)
        return f"{fmt}, {sub}"


def _check_readable(path: str) -> None:
    """Raise AudioFileError for the plain file-system reasons, before libsndfile gets a say."""
    if not os.path.exists(path):
        raise AudioFileError(path, "no such file")
    if os.path.isdir(path):
        raise AudioFileError(path, "is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioFileError(path, "permission denied")
    if os.path.getsize(path) == 0:
        raise AudioFileError(path, "empty file (0 bytes)")


def _decode_reason(path: str, err: Exception) -> str:
    msg = str(err)
    # libsndfile's own words after "Error opening '...': "
    if ": " in msg:
        msg = msg.split(": ", 1)[1]
    low = msg.lower()
    if "format not recognised" in low or "unknown format" in low:
        ext = os.path.splitext(path)[1].lower()
        known = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".caf", ".w64", ".rf64"}
        if ext in known:
            return f"corrupt {ext[1:].upper()} file (format not recognised)"
        return "unsupported or unrecognised audio format (readable: WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...)"
    return f"corrupt or unreadable audio file ({msg.strip().rstrip('.')})"


#: libsndfile reports this many frames (or 0) when a stream's header gives no length
_UNKNOWN_FRAMES = 2 ** 62
#: RIFF/WAVE format tags whose block align is one frame (PCM, float, A-law, mu-law, extensible)
_FRAME_ALIGNED_TAGS = {0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE}


def _unknown_length(f: sf.SoundFile) -> bool:
    return not 0 < f.frames < _UNKNOWN_FRAMES


def _open(path: str) -> sf.SoundFile:
    _check_readable(path)
    try:
        f = sf.SoundFile(path, "r")
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioFileError(path, _decode_reason(path, e)) from None
    if _unknown_length(f):
        # e.g. a FLAC whose STREAMINFO says "total samples: 0" (allowed: unknown length).  Such a
        # file is read front to back until EOF; soundfile's position update after each read
        # seeks, which libsndfile cannot do here, so soundfile is told the file is not seekable.
        f.seekable = lambda: False  # type: ignore[method-assign]
    return f


def _wav_declared_frames(path: str) -> int | None:
    """Frames the ``data`` chunk of a RIFF/WAVE header declares (None: not a plain PCM/float
    WAV, or a header that gives no length, as streamed WAVs do with 0 or 0xFFFFFFFF)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            align = 0
            for _ in range(10000):  # chunks before "data"
                hdr = fh.read(8)
                if len(hdr) < 8:
                    return None
                cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
                if cid == b"data":
                    if not align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // align
                if cid == b"fmt ":
                    fmt = fh.read(min(size, 16))
                    if len(fmt) < 14:
                        return None
                    tag, _, _, _, blk = struct.unpack("<HHIIH", fmt[:14])
                    align = blk if tag in _FRAME_ALIGNED_TAGS else 0
                    fh.seek(size - len(fmt) + (size & 1), os.SEEK_CUR)
                else:
                    fh.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None
    return None


def _warn_if_truncated(path: str, frames: int) -> None:
    """AudioWarning if ``path`` is a WAV whose header declares more than ``frames`` frames."""
    declared = _wav_declared_frames(path)
    if declared and frames < declared:
        warnings.warn(AudioWarning(
            f"{path}: truncated: header says {declared} frames, read {frames} "
            f"({100.0 * frames / declared:.1f} %)"), stacklevel=3)


def _read_block(f: sf.SoundFile, path: str, n: int) -> np.ndarray:
    try:
        data = f.read(n, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(path, f"corrupt audio data ({e})") from None
    return np.ascontiguousarray(data.T)


def _count_frames(f: sf.SoundFile, path: str) -> int:
    """Decode an unknown-length file to its end and count the frames (the file is consumed)."""
    n = 0
    while True:
        k = _read_block(f, path, 1 << 18).shape[1]
        if k == 0:
            return n
        n += k


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of ``path`` (raises :class:`AudioFileError`).

    A stream whose header gives no length (a FLAC with total samples 0) is decoded once to
    count its frames, so ``frames`` is always the number :func:`read_audio` returns."""
    path = os.fspath(path)
    with _open(path) as f:
        frames = _count_frames(f, path) if _unknown_length(f) else int(f.frames)
        return AudioInfo(path, f.format, f.subtype, int(f.samplerate), int(f.channels), frames)


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a whole file as float32 ``(channels, frames)`` and its sample rate.

    Any format libsndfile decodes (WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...), any channel
    count and sample rate.  A file with no audio frames raises :class:`AudioFileError`; a
    file of unknown length (FLAC with total samples 0) is decoded to its end; a WAV cut
    short gives an :class:`AudioWarning` and the frames that are there."""
    path = os.fspath(path)
    with _open(path) as f:
        if _unknown_length(f):
            parts = []
            while (blk := _read_block(f, path, 1 << 20)).shape[1]:
                parts.append(blk)
            audio = (np.concatenate(parts, axis=1) if parts
                     else np.zeros((f.channels, 0), np.float32))
        else:
            audio = _read_block(f, path, -1)
        sr = int(f.samplerate)
    if audio.shape[1] == 0:
        raise AudioFileError(path, "contains no audio frames")
    _warn_if_truncated(path, audio.shape[1])
    if not np.all(np.isfinite(audio)):
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    return audio, sr


def iter_blocks(path: str | os.PathLike, block_frames: int = 65536) -> Iterator[np.ndarray]:
    """Yield float32 ``(channels, n)`` blocks of at most ``block_frames`` frames, in order.

    Only one block is in memory at a time, so files of any length (or of unknown length) can
    be streamed.  The file is checked, and its first block read, when the generator is
    created, so a bad or empty file fails before the first block (call :func:`audio_info`
    first for the rate and channel count).  A WAV cut short gives an :class:`AudioWarning`
    then, and the blocks that are there."""
    path = os.fspath(path)
    if int(block_frames) < 1:
        raise ValueError("block_frames must be >= 1")
    f = _open(path)
    try:
        first = _read_block(f, path, int(block_frames))
    except BaseException:
        f.close()
        raise
    if first.shape[1] == 0:
        f.close()
        raise AudioFileError(path, "contains no audio frames")
    if not _unknown_length(f):
        _warn_if_truncated(path, int(f.frames))

    def gen() -> Iterator[np.ndarray]:
        with f:
            blk = first
            while blk.shape[1]:
                if not np.all(np.isfinite(blk)):
                    blk = np.nan_to_num(blk, nan=0.0, posinf=0.0, neginf=0.0)
                yield blk
                blk = _read_block(f, path, int(block_frames))

    return gen()


#: integer PCM sample types -> (offset, full scale): float = (x - offset) / full scale
_INT_PCM = {("i", 1): (0, 128), ("i", 2): (0, 32768), ("i", 4): (0, 2 ** 31), ("u", 1): (128, 128)}


def as_float_samples(audio) -> np.ndarray:
    """``audio`` as float32 samples (full scale +-1.0).

    Float arrays are cast; integer PCM is scaled (int16 / 32768, int32 / 2**31, int8 / 128,
    (uint8 - 128) / 128); any other type (int64, bool, complex, ...) raises ValueError, as its
    full scale is unknown."""
    a = np.asarray(audio)
    if a.dtype.kind == "f":
        return a.astype(np.float32, copy=False)
    pcm = _INT_PCM.get((a.dtype.kind, a.dtype.itemsize))
    if pcm is None:
        raise ValueError(f"cannot write {a.dtype} samples: give float (full scale +-1.0) or "
                         f"integer PCM (int16, int32, int8, uint8)")
    offset, full = pcm
    return ((a.astype(np.float64) - offset) / full).astype(np.float32)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def output_format(path: str | os.PathLike) -> str:
    """The container format for an output path (by extension), or raise AudioFileError.

    Also checks, before any work is done, that the output's folder exists and can be written:
    ``out.wav: cannot write to /music: permission denied`` (or "not a folder", "folder does
    not exist", "read-only file system")."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in WRITE_FORMATS:
        raise AudioFileError(path, f"cannot write {ext or 'files without an extension'}: "
                                   f"use .wav or .flac (or .w64)")
    _writable_folder(path)
    return WRITE_FORMATS[ext]


class AudioWriter:
    """Stream blocks into a WAV/FLAC file atomically.

    Blocks go to a temporary file in the destination's folder; :meth:`close` (or leaving the
    ``with`` block normally) flushes, fsyncs and renames it over ``path`` in one step.  An
    exception inside the ``with`` block, or :meth:`abort`, deletes the temporary file: the
    destination is then exactly as it was before (absent or the old file).

    ``protect``: paths that must never be overwritten (the input of a job).  Samples outside
    [-1, 1] are clipped for PCM subtypes and counted in ``clipped``."""

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int,
                 subtype: str | None = None, protect: Iterable[str | os.PathLike] = ()) -> None:
        self.path = os.fspath(path)
        self.format = output_format(self.path)
        self.subtype = (subtype or DEFAULT_SUBTYPE).upper()
        if not sf.check_format(self.format, self.subtype):
            ok = ", ".join(sorted(sf.available_subtypes(self.format)))
            raise AudioFileError(self.path, f"{self.format} cannot hold {self.subtype} (use one of {ok})")
        for p in protect:
            if os.path.exists(self.path) and _same_file(self.path, os.fspath(p)):
                raise AudioFileError(self.path, "refusing to overwrite the input file")
        if os.path.isdir(self.path):
            raise AudioFileError(self.path, "is a directory")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.frames = 0
        self.clipped = 0
        self._clip = not self.subtype.startswith(("FLOAT", "DOUBLE"))
        folder = os.path.dirname(os.path.abspath(self.path))
        if os.path.isdir(folder):
            sweep_stale_temporaries(folder)  # what killed writers (SIGKILL, power loss) left
        fd, self._tmp = _create_temporary(self.path, ".part")
        self._fh = os.fdopen(fd, "w+b")
        try:
            self._sf = sf.SoundFile(self._fh, "w", samplerate=self.sample_rate,
                                    channels=self.channels, subtype=self.subtype,
                                    format=self.format)
        except BaseException as e:
            self._cleanup()
            if isinstance(e, (sf.LibsndfileError, RuntimeError, ValueError)):
                raise AudioFileError(self.path, f"cannot write ({e})") from None
            raise
        self.closed = False

    def write(self, block: np.ndarray) -> None:
        """Append a ``(channels, n)`` block: float (full scale +-1.0) or integer PCM (int16,
        int32, int8, uint8: scaled to float).  NaN and inf are written as 0."""
        if self.closed:
            raise ValueError("write to a closed AudioWriter")
        b = as_float_samples(block)
        if not np.all(np.isfinite(b)):
            b = np.nan_to_num(b, nan=0.0, posinf=0.0, neginf=0.0)
        if b.ndim == 1:
            b = b[np.newaxis]
        if b.shape[0] != self.channels:
            raise ValueError(f"block has {b.shape[0]} channels, writer has {self.channels}")
        if b.shape[1] == 0:
            return
        if self._clip:
            over = int(np.count_nonzero(np.abs(b) > 1.0))
            if over:
                self.clipped += over
                b = np.clip(b, -1.0, 1.0)
        try:
            self._sf.write(b.T)
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            self.abort()
            raise AudioFileError(self.path, f"write failed ({e})") from None
        self.frames += b.shape[1]

    def close(self) -> None:
        """Finish the file: flush, fsync, rename over the destination."""
        if self.closed:
            return
        try:
            self._sf.close()
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.chmod(self._tmp, 0o666 & ~_UMASK)
            os.replace(self._tmp, self.path)
            _TEMPORARIES.pop(self._tmp, None)
        except BaseException as e:
            self._cleanup()
            if isinstance(e, OSError):
                raise AudioFileError(self.path, f"cannot finish output ({e.strerror or e})") from None
            raise
        self.closed = True
        try:  # make the rename itself durable
            dfd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass

    def _cleanup(self) -> None:
        self.closed = True
        for closer in (getattr(self, "_sf", None), self._fh):
            try:
                if closer is not None:
                    closer.close()
            except Exception:
                pass
        discard_temporary(self._tmp)

    def abort(self) -> None:
        """Drop everything written; the destination is left untouched."""
        if not self.closed:
            self._cleanup()

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:  # an abandoned writer leaves nothing behind
        try:
            self.abort()
        except Exception:
            pass


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int,
                subtype: str | None = None, protect: Iterable[str | os.PathLike] = ()) -> None:
    """Write ``audio`` (1-D or ``(channels, frames)``) to a WAV or FLAC file atomically.

    ``audio`` is float (full scale +-1.0) or integer PCM: int16 is divided by 32768, int32 by
    2**31, int8 by 128, uint8 is (x - 128) / 128; other types raise ValueError.  The format
    follows the extension; ``subtype`` defaults to 24-bit PCM (``"FLOAT"`` keeps float32
    exactly in WAV).  Paths in ``protect`` (a job's input) are never overwritten."""
    a = as_float_samples(audio)
    if a.ndim == 1:
        a = a[np.newaxis]
    if a.ndim != 2:
        raise ValueError(f"audio must be 1-D or (channels, frames), got shape {a.shape}")
    with AudioWriter(path, sample_rate, a.shape[0], subtype=subtype, protect=protect) as w:
        w.write(a)


def process_file(proc, src: str | os.PathLike, dst: str | os.PathLike, block: int = 4096,
                 subtype: str | None = None, gain_db: float = 0.0,
                 on_block: Callable[[np.ndarray, np.ndarray, int, int], None] | None = None,
                 learn: bool = True) -> AudioWriter:
    """Stream ``src`` through ``proc`` into ``dst`` (WAV/FLAC, written atomically).

    The file is read in chunks and processed in host blocks of ``block`` frames, so memory
    does not grow with the file.  The processor's latency is compensated: its first
    ``latency_samples`` output frames are dropped and the input is followed by as many zeros,
    so the output is aligned with the input and has exactly its length.  ``gain_db`` is applied
    after the processor.  ``on_block(x, y, done, total)`` sees each input block ``x`` and the
    output ``y`` written for it (aligned, possibly shorter or longer), and frames done so far.

    The processor is prepared (and so reset) here.  With ``learn`` (file mode), nodes that
    learn from a file's opening (DeHum, NeuralEnhancer; :mod:`engine.learn`) are first shown
    its head.  Returns the closed writer (``frames``, ``clipped``).  On any error, including KeyboardInterrupt, nothing is left at ``dst``."""
    src, dst = os.fspath(src), os.fspath(dst)
    info = audio_info(src)
    if info.frames == 0:
        raise AudioFileError(src, "contains no audio frames")
    block = int(block)
    if block < 1:
        raise ValueError("block must be >= 1")
    proc.prepare(info.sample_rate, info.channels, block)
    if learn:
        from .learn import learn_head, learn_seconds
        secs = learn_seconds(proc)
        if secs > 0.0:
            learn_head(proc, next(iter_blocks(src, max(1, int(round(secs * info.sample_rate))))))
    lat = int(proc.latency_samples)
    g = float(10.0 ** (gain_db / 20.0))
    chunk = max(block, (65536 // block) * block)
    with AudioWriter(dst, info.sample_rate, info.channels, subtype=subtype, protect=[src]) as w:
        blocks = iter_blocks(src, chunk)
        skip = lat
        done = 0
        out = np.empty((info.channels, chunk), np.float32)

        def run(x: np.ndarray) -> np.ndarray:
            """Process x in host blocks; return the aligned output for it (a view of out)."""
            nonlocal skip
            m = 0
            for s in range(0, x.shape[1], block):
                y = proc.process(np.ascontiguousarray(x[:, s:s + block]))
                if skip:
                    k = min(skip, y.shape[1])
                    skip -= k
                    y = y[:, k:]
                out[:, m:m + y.shape[1]] = y
                m += y.shape[1]
            y = out[:, :m]
            if g != 1.0:
                y *= g
            return y

        for x in blocks:
            y = run(x)
            w.write(y)
            done += x.shape[1]
            if on_block is not None:
                on_block(x, y, done, info.frames)
        tail = lat
        zeros = np.zeros((info.channels, chunk), np.float32)
        while tail > 0:
            n = min(tail, chunk)
            y = run(zeros[:, :n])
            w.write(y)
            tail -= n
            if on_block is not None:
                on_block(zeros[:, :0], y, done, info.frames)
        if w.frames != done:  # a broken processor, not a user error: keep no output
            raise RuntimeError(f"internal error: wrote {w.frames} frames for {done} input frames")
    return w
