"""Audio file I/O: read any common format, write WAV/FLAC atomically, stream long files in blocks.

Audio is always float32 ``(channels, frames)``, the layout every processor uses.

    audio, sr = read_audio("take.mp3")              # WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...
    write_audio("take.enhanced.flac", audio, sr)   # temp file, fsync, rename: never half a file

    with AudioWriter("out.wav", sr, channels) as w:  # the same guarantee for streamed output
        for block in iter_blocks("in.wav", 65536):
            w.write(process(block))

Every failure to open or decode a file raises :class:`AudioFileError` with a one-line message
that names the file and the reason (missing, empty, corrupt, unsupported format).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import soundfile as sf

__all__ = [
    "DEFAULT_SUBTYPE",
    "WRITE_FORMATS",
    "AudioFileError",
    "AudioInfo",
    "AudioWriter",
    "audio_info",
    "iter_blocks",
    "output_format",
    "process_file",
    "read_audio",
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


class AudioFileError(Exception):
    """A file that cannot be read or written as audio.  ``str(e)`` is one line: path: reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = " ".join(str(reason).split())  # always one line
        super().__init__(f"{self.path}: {self.reason}")


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


def _open(path: str) -> sf.SoundFile:
    _check_readable(path)
    try:
        return sf.SoundFile(path, "r")
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioFileError(path, _decode_reason(path, e)) from None


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of ``path`` (raises :class:`AudioFileError`)."""
    path = os.fspath(path)
    with _open(path) as f:
        return AudioInfo(path, f.format, f.subtype, int(f.samplerate), int(f.channels),
                         int(f.frames))


def _read_block(f: sf.SoundFile, path: str, n: int) -> np.ndarray:
    try:
        data = f.read(n, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(path, f"corrupt audio data ({e})") from None
    return np.ascontiguousarray(data.T)


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a whole file as float32 ``(channels, frames)`` and its sample rate.

    Any format libsndfile decodes (WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...), any channel
    count and sample rate.  A file with no audio frames raises :class:`AudioFileError`."""
    path = os.fspath(path)
    with _open(path) as f:
        audio = _read_block(f, path, -1)
        sr = int(f.samplerate)
    if audio.shape[1] == 0:
        raise AudioFileError(path, "contains no audio frames")
    if not np.all(np.isfinite(audio)):
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    return audio, sr


def iter_blocks(path: str | os.PathLike, block_frames: int = 65536) -> Iterator[np.ndarray]:
    """Yield float32 ``(channels, n)`` blocks of at most ``block_frames`` frames, in order.

    Only one block is in memory at a time, so files of any length can be streamed.  The
    header is checked when the generator is created, so a bad file fails before the first
    block (call :func:`audio_info` first for the rate and channel count)."""
    path = os.fspath(path)
    if int(block_frames) < 1:
        raise ValueError("block_frames must be >= 1")
    f = _open(path)
    if f.frames == 0:
        f.close()
        raise AudioFileError(path, "contains no audio frames")

    def gen() -> Iterator[np.ndarray]:
        with f:
            while True:
                blk = _read_block(f, path, int(block_frames))
                if blk.shape[1] == 0:
                    return
                if not np.all(np.isfinite(blk)):
                    blk = np.nan_to_num(blk, nan=0.0, posinf=0.0, neginf=0.0)
                yield blk

    return gen()


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def output_format(path: str | os.PathLike) -> str:
    """The container format for an output path (by extension), or raise AudioFileError."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    try:
        return WRITE_FORMATS[ext]
    except KeyError:
        raise AudioFileError(path, f"cannot write {ext or 'files without an extension'}: "
                                   f"use .wav or .flac (or .w64)") from None


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
        if not os.path.isdir(folder):
            raise AudioFileError(self.path, f"output folder {folder} does not exist")
        base = os.path.basename(self.path)
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=folder)
        except OSError as e:
            raise AudioFileError(self.path, f"cannot create output ({e.strerror})") from None
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
        """Append a float32 ``(channels, n)`` block."""
        if self.closed:
            raise ValueError("write to a closed AudioWriter")
        b = np.asarray(block, dtype=np.float32)
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
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

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
    """Write ``audio`` (1-D or float32 ``(channels, frames)``) to a WAV or FLAC file atomically.

    The format follows the extension; ``subtype`` defaults to 24-bit PCM (``"FLOAT"`` keeps
    float32 exactly in WAV).  Paths in ``protect`` (a job's input) are never overwritten."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[np.newaxis]
    if a.ndim != 2:
        raise ValueError(f"audio must be 1-D or (channels, frames), got shape {a.shape}")
    with AudioWriter(path, sample_rate, a.shape[0], subtype=subtype, protect=protect) as w:
        w.write(a)


def process_file(proc, src: str | os.PathLike, dst: str | os.PathLike, block: int = 4096,
                 subtype: str | None = None, gain_db: float = 0.0,
                 on_block: Callable[[np.ndarray, np.ndarray, int, int], None] | None = None,
                 ) -> AudioWriter:
    """Stream ``src`` through ``proc`` into ``dst`` (WAV/FLAC, written atomically).

    The file is read in chunks and processed in host blocks of ``block`` frames, so memory
    does not grow with the file.  The processor's latency is compensated: its first
    ``latency_samples`` output frames are dropped and the input is followed by as many zeros,
    so the output is aligned with the input and has exactly its length.  ``gain_db`` is applied
    after the processor.  ``on_block(x, y, done, total)`` sees each input block ``x`` and the
    output ``y`` written for it (aligned, possibly shorter or longer), and frames done so far.

    The processor is prepared (and so reset) here.  Returns the closed writer (``frames``,
    ``clipped``).  On any error, including KeyboardInterrupt, nothing is left at ``dst``."""
    src, dst = os.fspath(src), os.fspath(dst)
    info = audio_info(src)
    if info.frames == 0:
        raise AudioFileError(src, "contains no audio frames")
    block = int(block)
    if block < 1:
        raise ValueError("block must be >= 1")
    proc.prepare(info.sample_rate, info.channels, block)
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
