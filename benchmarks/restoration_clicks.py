"""Clicks, crackle and thumps on real material: DeClick / DeThump tables (issue 22).

Material (never a file of models/reserved.txt; vinyl_hiss is never read):
- speech: tests/data/speech_[a-e].flac (22.05 kHz); music: sonic-pi loops, guit_e_slide, drum
  hits (44.1 kHz), and Karplus-Strong plucked strings.
- clicks: synthetic vinyl clicks (asymmetric: fast rise, exponential decay with a little ringing,
  0.1-3 ms, log-uniform amplitude, independent in L/R); crackle: dense small clicks (300-800/s);
  real crackle: the impulsive parts of sonic-pi's vinyl_rewind / vinyl_scratch / vinyl_backspin
  (high-passed at 2 kHz, gated to where they are impulsive); thumps: a click followed by a large
  decaying low-frequency pulse (25-90 Hz, 20-100 ms).

Tuning draw: speech a/b, loop_breakbeat, loop_mehackit1, Karplus-Strong seed 0; the tables score
the other clips (held out) with several noise draws: mean and worst.

    .venv/bin/python -m benchmarks.restoration_clicks [--draws 3] [--seconds 4]
"""
from __future__ import annotations

import argparse
import time
import zlib
from functools import cache
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt

ROOT = Path(__file__).resolve().parent.parent
SONIC = Path("/usr/share/sonic-pi/samples")
RESERVED = {"vinyl_hiss", "guit_e_fifths", "guit_em9", "guit_harmonics", "loop_3d_printer",
            "loop_amen_full", "loop_compus", "loop_garzul", "loop_mika", "loop_safari",
            "loop_tabla"}
SPEECH_TUNE = ("a", "b")
SPEECH_HELD = ("c", "d", "e")
MUSIC_TUNE = ("loop_breakbeat", "loop_mehackit1")
MUSIC_HELD = ("loop_amen", "loop_electric", "loop_weirdo", "loop_perc2", "guit_e_slide")
CLEAN_HITS = ("drum_snare_hard", "drum_cymbal_closed", "drum_cymbal_pedal", "drum_tom_mid_hard",
              "bd_haus", "elec_tick", "perc_snap", "tabla_na")
VINYL = ("vinyl_rewind", "vinyl_scratch", "vinyl_backspin")


# ----------------------------------------------------------------------------- material
def _resample(x: np.ndarray, sr_in: int, sr: int) -> np.ndarray:
    if sr_in == sr:
        return x
    g = gcd(sr_in, sr)
    return resample_poly(x, sr // g, sr_in // g, axis=-1)


@cache
def sonic(name: str, sr: int = 44100) -> np.ndarray:
    """A sonic-pi sample as (channels, n) float64 at sr (reserved files refused)."""
    if name in RESERVED:
        raise ValueError(f"{name} is reserved for evaluation")
    x, s = sf.read(SONIC / f"{name}.flac", dtype="float64", always_2d=True)
    return _resample(x.T, s, sr)


@cache
def speech(name: str, sr: int = 22050, seconds: float = 4.0) -> np.ndarray:
    """tests/data speech (peak 0.5), (1, n) float64."""
    x, s = sf.read(ROOT / "tests" / "data" / f"speech_{name}.flac", dtype="float64")
    x = _resample(x[int(0.3 * s):int((0.3 + seconds) * s)], s, sr)
    return (0.5 * x / np.max(np.abs(x)))[None, :]


def music(name: str, sr: int = 44100, seconds: float = 4.0) -> np.ndarray:
    """A sonic-pi clip looped to ``seconds``, peak 0.5, stereo (2, n) float64."""
    x = sonic(name, sr)
    if x.shape[0] == 1:
        x = np.vstack([x, x])
    n = int(seconds * sr)
    x = np.tile(x, (1, -(-n // x.shape[1])))[:, :n]
    return 0.5 * x / np.max(np.abs(x))


def karplus_strong(sr: int = 44100, seconds: float = 3.0, seed: int = 0,
                   stereo: bool = True) -> np.ndarray:
    """Plucked strings (Karplus-Strong, a note every 0.4 s), peak 0.5, (2 or 1, n) float64."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = np.zeros(n)
    for start in range(0, n - sr // 10, int(0.4 * sr)):
        f0 = 82.4 * 2 ** (rng.integers(0, 30) / 12)
        period = max(2, int(round(sr / f0)))
        buf = rng.uniform(-1, 1, period)
        # pluck position comb + a fast attack: the sharp onset of a real pick
        m = min(n - start, int(2.0 * sr))
        out = np.empty(m)
        for i in range(m):
            v = buf[i % period]
            out[i] = v
            buf[i % period] = 0.996 * 0.5 * (v + buf[(i + 1) % period])
        y[start:start + m] += rng.uniform(0.3, 1.0) * out
    y = 0.5 * y / np.max(np.abs(y))
    if not stereo:
        return y[None, :]
    return np.vstack([0.9 * y, 0.7 * np.roll(y, int(0.0003 * sr))])


def click_shape(rng: np.random.Generator, sr: int, ms: tuple = (0.1, 3.0)) -> np.ndarray:
    """One vinyl click: a fast asymmetric rise and an exponential decay with some ringing."""
    dur = np.exp(rng.uniform(np.log(ms[0]), np.log(ms[1]))) * 1e-3
    m = max(2, int(round(dur * sr)))
    t = np.arange(m) / sr
    rise = max(1, int(rng.uniform(0.05, 0.3) * m))
    env = np.concatenate([np.linspace(0.3, 1.0, rise), np.exp(-np.arange(m - rise) / (sr * dur / 4))])
    ring = np.cos(2 * np.pi * rng.uniform(2000, 6000) * t + rng.uniform(0, 6.28))
    w = env * (rng.uniform(0.4, 0.8) + rng.uniform(0.2, 0.6) * ring)
    w *= rng.choice((-1.0, 1.0)) / np.max(np.abs(w))
    return w


def add_clicks(x: np.ndarray, sr: int, rng: np.random.Generator, rate: float,
               amp: tuple = (0.05, 0.6), ms: tuple = (0.1, 3.0),
               ) -> tuple[np.ndarray, np.ndarray]:
    """x + clicks at ``rate`` per second per channel (independent in each channel); the mask of
    the samples they touch."""
    y = x.copy()
    mask = np.zeros(x.shape, bool)
    n = x.shape[1]
    for c in range(x.shape[0]):
        k = rng.poisson(rate * n / sr)
        for pos in rng.integers(int(0.02 * sr), n - int(0.02 * sr), k):
            w = click_shape(rng, sr, ms) * np.exp(rng.uniform(np.log(amp[0]), np.log(amp[1])))
            y[c, pos:pos + w.size] += w
            mask[c, pos:pos + w.size] = True
    return y, mask


def add_crackle(x: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Dense small clicks: 300-800 per second, 0.05-0.5 ms, amplitude 0.005-0.06."""
    return add_clicks(x, sr, rng, rng.uniform(300, 800), amp=(0.005, 0.06), ms=(0.05, 0.5))


@cache
def real_crackle_bank(sr: int = 44100) -> tuple:
    """Impulsive segments of the (non-reserved) sonic-pi vinyl samples, high-passed at 2 kHz:
    a tuple of 1-D float64 waveforms (real vinyl click shapes)."""
    sos = butter(4, 2000, "hp", fs=sr, output="sos")
    bank = []
    for name in VINYL:
        x = sonic(name, sr)
        for c in range(x.shape[0]):
            h = sosfilt(sos, x[c])
            w = int(0.005 * sr)
            pad = int(0.0008 * sr)
            for i in range(w, h.size - 2 * w, w // 2):
                seg = h[i:i + w]
                lvl = np.median(np.abs(h[i - w:i + 2 * w])) + 1e-9
                j = int(np.argmax(np.abs(seg)))
                if np.abs(seg[j]) > 8.0 * lvl:
                    a = i + j - pad // 2
                    s = h[a:a + pad] * np.hanning(pad)
                    bank.append(s / np.max(np.abs(s)))
    return tuple(bank)


def add_real_crackle(x: np.ndarray, sr: int, rng: np.random.Generator,
                     rate: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """Real vinyl click shapes (from real_crackle_bank, resampled) at ``rate`` per second."""
    bank = real_crackle_bank(44100)
    y = x.copy()
    mask = np.zeros(x.shape, bool)
    n = x.shape[1]
    for c in range(x.shape[0]):
        for pos in rng.integers(int(0.02 * sr), n - int(0.02 * sr), rng.poisson(rate * n / sr)):
            w = _resample(bank[rng.integers(len(bank))], 44100, sr)
            w = w * rng.choice((-1, 1)) * np.exp(rng.uniform(np.log(0.03), np.log(0.4)))
            y[c, pos:pos + w.size] += w
            mask[c, pos:pos + w.size] = True
    return y, mask


def thump_shape(rng: np.random.Generator, sr: int) -> np.ndarray:
    """A scratch's low-frequency 'boom': a decaying 25-90 Hz pulse, 20-100 ms, peak 1."""
    f = rng.uniform(25, 90)
    tau = rng.uniform(0.02, 0.1) / 3
    m = int(3.5 * tau * sr) + 1
    t = np.arange(m) / sr
    w = np.sin(2 * np.pi * f * t + rng.uniform(-0.5, 0.5)) * np.exp(-t / tau)
    w *= np.minimum(1.0, t / 0.002)
    return w / np.max(np.abs(w))


def add_thumps(x: np.ndarray, sr: int, rng: np.random.Generator, count: int = 3,
               amp: tuple = (0.2, 0.6)) -> tuple[np.ndarray, list]:
    """A click followed by a thump, ``count`` times (same in every channel, scaled per channel);
    returns the signal and the (start, stop) spans of the thumps."""
    y = x.copy()
    n = x.shape[1]
    spans = []
    slots = np.linspace(0.1 * n, 0.85 * n, count).astype(int)
    for pos in slots:
        pos += int(rng.integers(0, int(0.05 * sr)))
        w = thump_shape(rng, sr) * rng.uniform(*amp) * rng.choice((-1, 1))
        ck = click_shape(rng, sr, (0.2, 1.0)) * rng.uniform(0.1, 0.4)
        for c in range(x.shape[0]):
            g = 1.0 - 0.15 * c
            y[c, pos:pos + ck.size] += g * ck
            y[c, pos:pos + w.size] += g * w
        spans.append((pos, pos + w.size))
    return y, spans


# ----------------------------------------------------------------------------- scoring
def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """SI-SDR in dB over all channels (concatenated)."""
    r = ref.ravel().astype(np.float64)
    e = est.ravel().astype(np.float64)
    a = np.dot(e, r) / (np.dot(r, r) + 1e-20)
    t = a * r
    return float(10 * np.log10(np.dot(t, t) / (np.dot(e - t, e - t) + 1e-20)))


def run(proc, x: np.ndarray, sr: int) -> np.ndarray:
    return np.asarray(proc(x.astype(np.float32), sr), np.float64)


def _procs(params: dict | None = None, thump: bool = False):
    """The nodes of one configuration: DeClick with ``params``; ``params["nodes"]`` may name
    "declick" (default), "learned" (the learned DeCrackle alone), "declick+learned" or
    "learned+declick" (in that order)."""
    from aural.engine.processors import DeClick
    prm = dict(params or {})
    nodes = prm.pop("nodes", "declick").split("+")
    ps = []
    for n in nodes:
        if n == "declick":
            ps.append(DeClick(**prm))
        elif n == "learned":
            from aural.models.decrackle import DeCrackle
            ps.append(DeCrackle(**({"model": LEARNED_MODEL} if LEARNED_MODEL else {})))
        else:
            raise ValueError(f"unknown node {n!r}")
    if thump:
        from aural.engine.processors import DeThump
        ps.insert(0, DeThump())
    return ps


def _chain(ps, x, sr):
    y = x
    for p in ps:
        y = run(p, y, sr)
    return y


def clips(held: bool = True, seconds: float = 4.0) -> list:
    """(name, signal, sr) of the scored clips (held out) or the tuning ones."""
    sp = SPEECH_HELD if held else SPEECH_TUNE
    mu = MUSIC_HELD if held else MUSIC_TUNE
    out = [(f"speech_{s}", speech(s, 22050, seconds), 22050) for s in sp]
    out += [(m, music(m, 44100, seconds), 44100) for m in mu]
    return out


LEARNED_MODEL: str | None = None  # --model: another de-crackle ONNX file than the shipped one

CONFIGS = {
    "old": {"threshold": 6.0, "max_click_ms": 1.5},
}


def click_tables(draws: int = 3, seconds: float = 4.0, held: bool = True,
                 configs: dict | None = None, thumps: bool = True) -> dict:
    """SI-SDR gain (dB) of DeClick configurations per degradation, mean and worst over clips x
    draws; the thump table (low-band error in the thump spans, SI-SDR); the false-alarm table
    (clean material: detections per minute, SI-SDR of the output vs the input)."""
    configs = configs or {"default": {}}
    res: dict = {}
    kinds = {"clicks": lambda x, sr, rng: add_clicks(x, sr, rng, 15.0),
             "crackle": add_crackle,
             "real_crackle": add_real_crackle}
    for kind, fn in kinds.items():
        for cname, prm in configs.items():
            gains = []
            for name, x, sr in clips(held, seconds):
                for d in range(draws):
                    rng = np.random.default_rng(1000 * d + zlib.crc32(name.encode()) % 997 + (0 if held else 7))
                    xd, _ = fn(x, sr, rng)
                    y = _chain(_procs(prm), xd, sr)
                    gains.append((name, si_sdr(x, xd), si_sdr(x, y) - si_sdr(x, xd)))
            g = np.array([v[2] for v in gains])
            res[(kind, cname)] = {"mean": float(g.mean()), "worst": float(g.min()),
                                  "input": float(np.mean([v[1] for v in gains])),
                                  "worst_clip": min(gains, key=lambda v: v[2])[0]}
    res["thumps"] = thump_table(draws, seconds, held) if thumps else {}
    res["clean"] = false_alarm_table(configs, seconds, held)
    return res


def lowband_db(x: np.ndarray, sr: int, spans: list) -> float:
    """Energy (dB) below 200 Hz of x inside the spans."""
    sos = butter(4, 200, "lp", fs=sr, output="sos")
    lo = sosfilt(sos, x, axis=-1)
    e = sum(np.sum(lo[:, a:b] ** 2) for a, b in spans)
    return float(10 * np.log10(e + 1e-20))


def thump_table(draws: int, seconds: float, held: bool = True) -> dict:
    """Thumps on music and speech: low-band error energy in the spans before/after DeThump
    (dB re the thump), and SI-SDR of input / DeThump / DeThump+DeClick; DeThump on the clean
    material (worst SI-SDR vs input, pulses removed = false alarms)."""
    rows = []
    try:
        from aural.engine.processors import DeThump
    except ImportError:
        return {}
    for name, x, sr in clips(held, seconds):
        for d in range(draws):
            rng = np.random.default_rng(77 + 1000 * d + zlib.crc32(name.encode()) % 991)
            xd, spans = add_thumps(x, sr, rng)
            y = run(DeThump(), xd, sr)
            yc = run(_procs()[0], y, sr)
            spans_w = [(a, b + int(0.02 * sr)) for a, b in spans]
            red = lowband_db(xd - x, sr, spans_w) - lowband_db(y - x, sr, spans_w)
            rows.append((name, red, si_sdr(x, xd), si_sdr(x, y), si_sdr(x, yc)))
    a = np.array([r[1:] for r in rows])
    # do no harm: DeThump alone on the clean material (SI-SDR vs input, worst clip; pulses
    # removed in all of it: each one there is a false alarm)
    clean = []
    for _name, x, sr in clean_material(seconds):
        p = DeThump()
        clean.append((si_sdr(x, run(p, x, sr)), p.thumps_removed))
    return {"lowband_reduction_mean": float(a[:, 0].mean()), "lowband_reduction_worst":
            float(a[:, 0].min()), "in": float(a[:, 1].mean()), "dethump": float(a[:, 2].mean()),
            "dethump_worst_gain": float((a[:, 2] - a[:, 1]).min()),
            "dethump_declick": float(a[:, 3].mean()),
            "clean_worst": float(min(c[0] for c in clean)),
            "clean_false_alarms": float(sum(c[1] for c in clean))}


def clean_material(seconds: float = 4.0, held: bool = True) -> list:
    """Clean (name, signal, sr): held-out speech (plosives), guitar, loops, drum hits, plucks;
    ``held=False``: the tuning clips and plucks (seed 0) instead."""
    if not held:
        return clips(False, seconds) + [("karplus_strong_0", karplus_strong(44100, seconds, seed=0), 44100)]
    out = [(f"speech_{s}", speech(s, 22050, seconds), 22050) for s in SPEECH_HELD]
    out += [(m, music(m, 44100, seconds), 44100) for m in MUSIC_HELD]
    hits = [sonic(h, 44100) for h in CLEAN_HITS]
    seq = np.zeros((2, int(seconds * 44100)))
    pos = 0
    for i in range(64):
        h = hits[i % len(hits)]
        h = np.vstack([h, h]) if h.shape[0] == 1 else h
        m = min(h.shape[1], seq.shape[1] - pos)
        if m <= 0:
            break
        seq[:, pos:pos + m] += h[:, :m]
        pos += int(0.23 * 44100)
    out.append(("drum_hits", 0.5 * seq / np.max(np.abs(seq)), 44100))
    out.append(("karplus_strong", karplus_strong(44100, seconds, seed=3), 44100))
    out.append(("ks_mono_16k", karplus_strong(16000, seconds, seed=4, stereo=False), 16000))
    return out


def false_alarm_table(configs: dict, seconds: float = 4.0, held: bool = True) -> dict:
    """Per config: SI-SDR (output vs input) on clean material and DeClick's detections per
    minute (0 for the learned node alone)."""
    out = {}
    for cname, prm in configs.items():
        rows = []
        for name, x, sr in clean_material(seconds, held):
            ps = _procs(prm)
            y = _chain(ps, x, sr)
            reps = sum(getattr(p, "clicks_repaired", 0) for p in ps)
            per_min = reps * 60.0 / (x.shape[1] / sr) / x.shape[0]
            rows.append((name, si_sdr(x, y), per_min))
        out[cname] = rows
    return out


def print_tables(res: dict) -> None:
    print("SI-SDR gain (dB), clips x draws (held-out, or the tuning clips with --tune)")
    print(f"{'degradation':14s} {'config':10s} {'input':>7s} {'mean':>7s} {'worst':>7s}  worst clip")
    for k, v in res.items():
        if isinstance(k, tuple):
            print(f"{k[0]:14s} {k[1]:10s} {v['input']:7.2f} {v['mean']:7.2f} {v['worst']:7.2f}  "
                  f"{v['worst_clip']}")
    if res.get("thumps"):
        print("\nthumps:", {k: round(v, 2) for k, v in res["thumps"].items()})
    print("\nclean material: SI-SDR vs input (dB) / detections per minute per channel")
    for cname, rows in res["clean"].items():
        print(f"[{cname}]", "  ".join(f"{n}: {s:.1f}/{d:.0f}" for n, s, d in rows))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--tune", action="store_true", help="score the tuning clips instead")
    ap.add_argument("--learned", action="store_true",
                    help="add the learned DeCrackle alone and after DeClick (no thump table)")
    ap.add_argument("--model", help="de-crackle ONNX file for --learned (default: the shipped one)")
    a = ap.parse_args()
    t0 = time.time()
    LEARNED_MODEL = a.model
    configs = {"preset": {"threshold": 6.0, "max_click_ms": 1.5}}
    if a.learned:
        configs["learned"] = {"nodes": "learned"}
        configs["dc+learned"] = {"nodes": "declick+learned"}
    print_tables(click_tables(a.draws, a.seconds, held=not a.tune, configs=configs,
                              thumps=not a.learned))
    print(f"\n({time.time() - t0:.0f} s)")
