"""Restoration benchmark: what each repair does on its own damage, and that it does no harm.

    python benchmarks/bench_restoration.py                        # all tables, ~3 min
    python benchmarks/bench_restoration.py --only hum harm        # a subset of categories
    python benchmarks/bench_restoration.py --presets music vinyl auto --draws 3 --json out.json

Categories (one function each, ``CATEGORIES`` maps name -> function; a colleague's module may
add its own, e.g. click/crackle rows, with ``register_category``):

- ``hum``: mains hum, 50 and 60 Hz, 8-16 harmonics with odd harmonics stronger (weights drawn
  per harmonic), a fixed offset within +-0.05 Hz plus a slow wander of the fundamental (sine of
  +-0.02 Hz, 6-15 s period, random phase), harmonic phases random, at 5 and 10 dB SNR (signal
  power over hum power), under speech and under music.  Systems: ``DeHum`` (auto-detection, the
  presets' setting) and the legacy notch cascade of LEGACY_COMMIT (``--legacy``, git show).  SI-SDR
  of input and output against the clean signal, scored from 2 s on (the detector needs its
  first second; ``whole`` repeats it over the whole clip).
- ``harm`` (do no harm): each preset's repair nodes (``repair_only``: EQ, dynamics and other
  shaping nodes bypassed) on clean material: dry speech, reverberant speech, percussive music
  (drum loops, a kick loop), sustained tones and pads, plucked guitar.  SI-SDR and log-spectral
  distance of the output against the input, mean and worst over the clips and draws.
- ``harm_nodes``: the same per repair node alone (which node does the harm), one draw.
- ``hum_detector``: the false-alarm rate of DeHum's detector on the same clean clips (share of
  clips in which it ever reported hum; seconds of detection).
- ``rumble``: the Rumble node on turntable rumble (sub-20 Hz) under music: rumble reduction
  below 30 Hz, SI-SDR against the clean music; its false-alarm rate is in ``harm``.
- ``hiss``: Wiener settings (the old vinyl one, gentler, ``tonal``, ``hiss_gate``) on the
  clean sustained/plucked/percussive clips (SI-SDR, level lost) and with hiss at 20 dB SNR
  (SI-SDR, hiss reduction above 6 kHz).

Material (the development set; nothing from ``models/reserved.txt``): tests/data speech_[a-e]
(dry), the same convolved with synthetic room responses (RT60 0.4-0.9 s), sonic-pi-samples
loops (loop_amen, loop_breakbeat, loop_perc1/2, loop_electric, loop_mehackit1, and a kick loop
built from bd_haus/bd_klub/drum_heavy_kick at 120-128 bpm), sustained clips (ambi_drone,
loop_drone_g_97, ambi_choir, ambi_piano, and synthetic organ chords and pads), plucked guitar
(guit_e_slide and Karplus-Strong plucks).  Loops are tiled to ``SECONDS``.  A draw changes the
start offset, the level, the synthetic seeds and the hum's parameters.

Results print as markdown tables and go to ``--json`` (default runs/bench_restoration.json).
"""
from __future__ import annotations

import os

for _k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from math import gcd  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from aural.engine.metrics import log_spectral_distance  # noqa: E402
from aural.engine.presets import load_preset, repair_only  # noqa: E402
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SONIC = Path("/usr/share/sonic-pi/samples")
RATE = 44100
SECONDS = 8.0
SCORE_FROM = 2.0

# --------------------------------------------------------------------------- metrics


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR (dB) of est against ref, (channels, n) or 1-D, mean over channels."""
    ref = np.atleast_2d(np.asarray(ref, np.float64))
    est = np.atleast_2d(np.asarray(est, np.float64))
    out = []
    for r, e in zip(ref, est):
        r = r - r.mean()
        e = e - e.mean()
        a = np.dot(e, r) / (np.dot(r, r) + 1e-20)
        t = a * r
        out.append(10 * np.log10((np.dot(t, t) + 1e-20) / (np.dot(e - t, e - t) + 1e-20)))
    return float(np.mean(out))


def lsd(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    ref = np.atleast_2d(ref)
    est = np.atleast_2d(est)
    return float(np.mean([log_spectral_distance(r, e, n_fft=2048) for r, e in zip(ref, est)]))


# --------------------------------------------------------------------------- material
def _resample(x: np.ndarray, s: int, sr: int) -> np.ndarray:
    if s == sr:
        return x
    g = gcd(s, sr)
    return resample_poly(x, sr // g, s // g, axis=-1)


def load(path: Path, sr: int = RATE) -> np.ndarray:
    """(channels, n) float64 at sr."""
    x, s = sf.read(path, dtype="float64", always_2d=True)
    return _resample(x.T, s, sr)


def _fit(x: np.ndarray, n: int, offset: int) -> np.ndarray:
    """Tile (loops are seamless) or cut x to n samples from offset."""
    reps = int(np.ceil((n + offset) / x.shape[1])) + 1
    return np.tile(x, (1, reps))[:, offset:offset + n]


def _level(x: np.ndarray, peak_db: float) -> np.ndarray:
    return (x * 10 ** (peak_db / 20) / (np.max(np.abs(x)) + 1e-12)).astype(np.float32)


def _stereo(x: np.ndarray) -> np.ndarray:
    return np.vstack([x, x]) if x.shape[0] == 1 else x[:2]


def speech_clip(name: str, sr: int, seconds: float, rng) -> np.ndarray:
    """Dry speech: tests/data/speech_<name>.flac, looped to length (start drawn), mono."""
    x = load(DATA / f"speech_{name}.flac", sr)[:1]
    return _fit(x, int(seconds * sr), int(rng.integers(0, x.shape[1] // 2)))


def room_response(sr: int, rt60: float, rng) -> np.ndarray:
    """Synthetic room impulse response: direct path, a few early reflections, exponentially
    decaying noise tail with RT60 ``rt60``; normalised to the direct path."""
    n = int(rt60 * 1.2 * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * 0.3
    tail[: int(0.005 * sr)] = 0.0
    # darker tail: high frequencies decay faster
    tail = sosfilt(butter(1, 4000, "lowpass", fs=sr, output="sos"), tail)
    h = tail
    h[0] = 1.0
    for _ in range(6):
        h[int(rng.uniform(0.003, 0.03) * sr)] += rng.uniform(-0.5, 0.5)
    return h


def kick_loop(sr: int, seconds: float, rng) -> np.ndarray:
    """A four-on-the-floor kick loop from sonic-pi kicks (bd_haus, bd_klub, drum_heavy_kick)."""
    names = ["bd_haus", "bd_klub", "drum_heavy_kick"]
    k = load(SONIC / f"{names[int(rng.integers(0, 3))]}.flac", sr)[:1]
    bpm = rng.uniform(118, 128)
    step = int(60.0 / bpm * sr)
    n = int(seconds * sr)
    y = np.zeros((1, n + k.shape[1]))
    for pos in range(int(rng.integers(0, step)), n, step):
        y[:, pos:pos + k.shape[1]] += k
    return y[:, :n]


def organ_chord(sr: int, seconds: float, rng) -> np.ndarray:
    """Sustained organ chord: three notes of steady harmonic partials, slow attack/release."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    root = 55.0 * 2 ** (rng.integers(0, 24) / 12)
    y = np.zeros(n)
    for semis in (0, 4, 7):
        f0 = root * 2 ** (semis / 12)
        for h in range(1, 10):
            if h * f0 > 0.45 * sr:
                break
            y += 0.5 / h * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6.28))
    env = np.clip(t / 0.3, 0, 1) * np.clip((seconds - t) / 0.3, 0, 1)
    return (y * env)[None]


def synth_pad(sr: int, seconds: float, rng) -> np.ndarray:
    """A pad: detuned sawtooth-ish voices (5 per note, +-8 cents) through a gentle lowpass,
    slow attack; dense and steady like a string pad."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    y = np.zeros(n)
    for semis in (0, 3, 7, 12):
        for d in np.linspace(-8, 8, 5):
            f0 = root * 2 ** ((semis + d / 100) / 12)
            for h in range(1, 30):
                if h * f0 > 0.45 * sr:
                    break
                y += 0.2 / h * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6.28))
    y = sosfilt(butter(2, 2500, "lowpass", fs=sr, output="sos"), y)
    env = np.clip(t / 1.0, 0, 1)
    return (y * env)[None]


def plucks(sr: int, seconds: float, rng) -> np.ndarray:
    """Karplus-Strong plucked strings: a note every 0.3-0.6 s from an E-minor pentatonic."""
    n = int(seconds * sr)
    y = np.zeros(n)
    notes = 82.41 * 2 ** (np.array([0, 3, 5, 7, 10, 12, 15, 17, 19, 22, 24]) / 12)
    pos = 0
    while pos < n:
        f0 = float(rng.choice(notes))
        period = sr / f0
        p = int(period)
        m = min(int(2.5 * sr), n - pos)
        buf = rng.uniform(-1, 1, p)
        out = np.zeros(m)
        for i in range(m):
            v = buf[i % p]
            out[i] = v
            buf[i % p] = 0.996 * 0.5 * (v + buf[(i + 1) % p])
        y[pos:pos + m] += out * rng.uniform(0.4, 1.0)
        pos += int(rng.uniform(0.3, 0.6) * sr)
    return y[None]


#: clean material: category -> list of (name, maker(sr, seconds, rng) -> (channels, n))
def _sonic(name: str):
    def make(sr, seconds, rng):
        x = load(SONIC / f"{name}.flac", sr)
        return _fit(x, int(seconds * sr), int(rng.integers(0, x.shape[1])))
    return make


def _reverb(name: str):
    def make(sr, seconds, rng):
        x = speech_clip(name, sr, seconds, rng)
        h = room_response(sr, rng.uniform(0.4, 0.9), rng)
        return fftconvolve(x, h[None])[:, :x.shape[1]]
    return make


CLEAN: dict[str, list[tuple[str, Callable]]] = {
    "speech (dry)": [(f"speech_{c}", (lambda c: lambda sr, s, rng: speech_clip(c, sr, s, rng))(c))
                     for c in "abcde"],
    "speech (reverberant)": [(f"speech_{c}+room", _reverb(c)) for c in "ace"],
    "percussive": [(n, _sonic(n)) for n in ("loop_amen", "loop_breakbeat", "loop_perc1",
                                            "loop_perc2", "loop_electric", "loop_mehackit1")]
    + [("kick_loop", kick_loop)],
    "sustained": [(n, _sonic(n)) for n in ("ambi_drone", "loop_drone_g_97", "ambi_choir",
                                           "ambi_piano")]
    + [("organ_chord", organ_chord), ("synth_pad", synth_pad)],
    "plucked guitar": [("guit_e_slide", _sonic("guit_e_slide")), ("karplus_strong", plucks)],
}


def clean_set(sr: int = RATE, seconds: float = SECONDS, draws: int = 2,
              categories: list[str] | None = None):
    """Yield (category, name, draw, signal (channels, n) float32) over the clean material."""
    for cat, items in CLEAN.items():
        if categories and cat not in categories:
            continue
        for name, make in items:
            for d in range(draws):
                rng = np.random.default_rng([sum(map(ord, name)), d])
                x = make(sr, seconds, rng)
                peak = rng.uniform(-12.0, -1.0)
                yield cat, name, d, _level(x, peak)


# --------------------------------------------------------------------------- do no harm
def repair_chain(preset: str):
    return repair_only(load_preset(preset))


def _auto_chain(x: np.ndarray, sr: int):
    """The ``auto`` preset: engine/auto.py analyses the clip and builds its chain; its repair
    nodes (DSP only: no neural denoiser, so the table measures the repair nodes)."""
    from aural.engine.auto import auto_chain_for_audio
    chain = auto_chain_for_audio(x, sr, neural=False)
    chain = chain[0] if isinstance(chain, tuple) else chain
    return repair_only(chain)


def do_no_harm(presets=("music", "vinyl"), draws: int = 2, sr: int = RATE,
               seconds: float = SECONDS, verbose: bool = True) -> dict:
    """SI-SDR and LSD of each preset's repair nodes against the clean input.

    Returns {preset: {category: {"si_sdr_mean", "si_sdr_worst", "worst_clip", "lsd_mean",
    "lsd_worst", "clips": [...]}}}."""
    res: dict = {}
    chains = {}
    for p in presets:
        if p == "auto":
            chains[p] = None  # built per clip from its analysis
            continue
        try:
            chains[p] = repair_chain(p)
        except Exception as e:  # a preset that does not load
            print(f"  harm: preset {p!r} skipped: {e}")
    for cat, name, d, x in clean_set(sr, seconds, draws):
        for p, ch in chains.items():
            y = _auto_chain(x, sr)(x, sr) if ch is None else ch(x, sr)
            s = si_sdr(x, y)
            ls = lsd(x, y, sr)
            res.setdefault(p, {}).setdefault(cat, {"clips": []})["clips"].append(
                {"name": name, "draw": d, "si_sdr": s, "lsd": ls})
            if verbose:
                print(f"  harm {p:8s} {cat:22s} {name:18s} d{d}: SI-SDR {s:6.1f} dB  LSD {ls:.3f}",
                      flush=True)
    for p in res:
        for r in res[p].values():
            ss = [c["si_sdr"] for c in r["clips"]]
            ll = [c["lsd"] for c in r["clips"]]
            w = int(np.argmin(ss))
            r.update(si_sdr_mean=float(np.mean(ss)), si_sdr_worst=float(ss[w]),
                     worst_clip=f"{r['clips'][w]['name']} d{r['clips'][w]['draw']}",
                     lsd_mean=float(np.mean(ll)), lsd_worst=float(np.max(ll)))
    return res


def node_harm(presets=("music", "vinyl"), draws: int = 1, sr: int = RATE,
              seconds: float = SECONDS, verbose: bool = True) -> dict:
    """Each repair node of each preset alone (every other node bypassed): SI-SDR against the
    clean input, mean and worst per material.  Says which node does the harm."""
    from aural.engine.graph import Chain, Mix
    res: dict = {}
    for p in presets:
        try:
            base = repair_chain(p)
        except Exception as e:
            print(f"  harm_nodes: preset {p!r} skipped: {e}")
            continue
        names = [n for n, node in base.walk() if not isinstance(node, (Chain, Mix))
                 and not node.bypass]
        for name in names:
            ch = repair_chain(p)
            for n2, node in ch.walk():
                if not isinstance(node, (Chain, Mix)) and n2 != name:
                    node.bypass = True
            for cat, clip, d, x in clean_set(sr, seconds, draws):
                s_ = si_sdr(x, ch(x, sr))
                res.setdefault(f"{p}: {name}", {}).setdefault(cat, []).append((s_, clip))
                if verbose:
                    print(f"  node {p}:{name:10s} {cat:22s} {clip:18s} d{d}: {s_:.1f}", flush=True)
    return res


def node_harm_table(res: dict) -> str:
    cats = list(CLEAN)
    lines = ["| node | " + " | ".join(cats) + " |", "|---|" + "---|" * len(cats)]
    for node, r in res.items():
        cells = []
        for c in cats:
            v = r.get(c, [])
            if not v:
                cells.append("-")
                continue
            w = min(v)
            cells.append(f"{np.mean([a for a, _ in v]):.1f} / {w[0]:.1f} ({w[1]})")
        lines.append(f"| {node} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n(SI-SDR against the input, dB: mean / worst (clip))"


def harm_table(res: dict) -> str:
    lines = ["| preset | material | SI-SDR mean | SI-SDR worst (clip) | LSD mean | LSD worst |",
             "|---|---|---|---|---|---|"]
    for p, cats in res.items():
        for cat, r in cats.items():
            lines.append(f"| {p} | {cat} | {r['si_sdr_mean']:.1f} | {r['si_sdr_worst']:.1f} "
                         f"({r['worst_clip']}) | {r['lsd_mean']:.3f} | {r['lsd_worst']:.3f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- hum
def mains_hum(n: int, sr: int, f0: float, harmonics: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Mains hum: ``harmonics`` harmonics of f0 with odd ones stronger (odd weight 1, even 0.35,
    each times U(0.5, 1) / k^0.7), random phases; the fundamental has a fixed offset U(+-0.05)
    Hz plus a slow wander (sine of 0.01 Hz, 20-60 s period).  Returns (hum, frequency track)."""
    t = np.arange(n) / sr
    f = (f0 + rng.uniform(-0.05, 0.05)
         + 0.01 * np.sin(2 * np.pi * t / rng.uniform(20, 60) + rng.uniform(0, 2 * np.pi)))
    ph = 2 * np.pi * np.cumsum(f) / sr
    h = np.zeros(n)
    for k in range(1, harmonics + 1):
        if k * f0 >= 0.45 * sr:
            break
        a = (1.0 if k % 2 else 0.35) * rng.uniform(0.5, 1.0) / k ** 0.7
        h += a * np.sin(k * ph + rng.uniform(0, 2 * np.pi))
    return h, f


HUM_SPEECH = ["speech_b", "speech_c", "speech_d"]   # speech_a, speech_e carry some mains hum
HUM_MUSIC = ["loop_amen", "loop_breakbeat", "ambi_drone", "guit_e_slide_free", "organ_chord"]
#: the tuning clips (``--hum-split tune``): other sources of the same kinds (two loops, a drone,
#: plucked strings, a synthetic sustained sound; speech from the source registry's TUNE split,
#: whole languages apart from the scoring voices).  Choose and tune DeHum on these only.
HUM_TUNE_SPEECH = ["registry_tune_0", "registry_tune_1", "registry_tune_2"]
HUM_TUNE_MUSIC = ["loop_perc1", "loop_electric", "loop_drone_g_97", "karplus_strong", "synth_pad"]
HUM_SPLITS = {"score": (HUM_SPEECH, HUM_MUSIC), "tune": (HUM_TUNE_SPEECH, HUM_TUNE_MUSIC)}
_TUNE_POOL = []


def _registry_speech(sr: int, seconds: float, rng) -> np.ndarray:
    """Speech from the source registry's tune split (bench_unseen's pool), (1, n) at sr."""
    import sys
    if not _TUNE_POOL:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_unseen import RATE as POOL_RATE
        from bench_unseen import Pool
        _TUNE_POOL.append((Pool("tune"), POOL_RATE))
    pool, prate = _TUNE_POOL[0]
    x, _ = pool.speech_excerpt(int(np.ceil(seconds * prate)), rng)
    return _resample(np.asarray(x, np.float64)[None], prate, sr)[:, :int(seconds * sr)]


def _hum_material(name: str, sr: int, seconds: float, rng) -> np.ndarray:
    if name.startswith("registry_tune_"):
        return _registry_speech(sr, seconds, rng)
    if name == "karplus_strong":
        return plucks(sr, seconds, rng)
    if name == "synth_pad":
        return synth_pad(sr, seconds, rng)
    if name.startswith("speech_"):
        return speech_clip(name[-1], sr, seconds, rng)[:1]
    if name == "organ_chord":
        return organ_chord(sr, seconds, rng)
    if name == "guit_e_slide_free":
        return _sonic("guit_e_slide")(sr, seconds, rng)[:1]
    return _sonic(name)(sr, seconds, rng)[:1]


LEGACY_COMMIT = "1f9e6ff"  # the notch-cascade DeHum, before issue 22


def legacy_dehum():
    """The notch-cascade DeHum of LEGACY_COMMIT (git show), renamed LegacyDeHum, with the
    presets' old settings (5 harmonics, 2 Hz notches, 30 dB): for before/after figures."""
    import subprocess
    import types
    src = subprocess.run(["git", "-C", str(ROOT), "show",
                          f"{LEGACY_COMMIT}:engine/processors/dehum.py"],
                         capture_output=True, text=True, check=True).stdout
    src = (src.replace("from ..", "from aural.engine.").replace("class DeHum(", "class LegacyDeHum(")
           .replace("cache=True", "cache=False"))
    mod = types.ModuleType("legacy_dehum")
    exec(compile(src, "legacy_dehum.py", "exec"), mod.__dict__)
    return lambda: mod.LegacyDeHum(harmonics=5, bandwidth_hz=2.0, depth_db=30.0)


def _file_mode(make):
    """A factory whose node has learned the clip's head first (``DeHum.learn``, as
    ``aural enhance`` does for files); called as ``make()(mix, sr)`` like the others."""
    def factory():
        p = make()

        def run(mix, sr):
            p.prepare(sr, mix.shape[0], 8192)
            p.learn(mix)
            return p(mix, sr)
        run.node = p
        return run
    return factory


def dehum_systems(legacy: bool = False) -> dict:
    """name -> factory of a callable ``f(mix, sr)``; ``getattr(f, "node", f)`` is the node.
    "DeHum" streams from the first sample (live); "DeHum, file" learns the head first."""
    from aural.engine.processors import DeHum
    bw = float(os.environ.get("DEHUM_BW", "0"))
    live = (lambda: DeHum(bandwidth_hz=bw)) if bw > 0 else (lambda: DeHum())
    systems = {"DeHum": live, "DeHum, file": _file_mode(live)}
    if legacy:
        systems["legacy"] = legacy_dehum()
    return systems


def hum_category(draws: int = 2, sr: int = RATE, seconds: float = 12.0, verbose=True,
                 legacy: bool = False, split: str = "score") -> dict:
    """SI-SDR (clean reference) of the input and each system on hum at 5 and 10 dB SNR, on the
    scoring clips (published) or the tuning clips (``split="tune"``)."""
    rows = []
    systems = dehum_systems(legacy)
    speech_names, music_names = HUM_SPLITS[split]
    for kind, names in (("speech", speech_names), ("music", music_names)):
        for name in names:
            for d in range(draws):
                rng = np.random.default_rng([sum(map(ord, name)), d, 7])
                x = _hum_material(name, sr, seconds, rng)
                x = _level(x, rng.uniform(-12, -3)).astype(np.float64)
                for f0 in (50.0, 60.0):
                    nh = int(rng.integers(8, 17))
                    snr = float(rng.uniform(5.0, 10.0))
                    h, f = mains_hum(x.shape[1], sr, f0, nh, rng)
                    h = h * np.sqrt(np.mean(x ** 2) / np.mean(h ** 2) / 10 ** (snr / 10))
                    mix = (x + h).astype(np.float32)
                    st = int(SCORE_FROM * sr)
                    row = {"material": kind, "name": name, "draw": d, "f0": f0, "harmonics": nh,
                           "snr": snr, "input": si_sdr(x[:, st:], mix[:, st:]),
                           "input_whole": si_sdr(x, mix)}
                    for sname, make in systems.items():
                        p = make()
                        y = p(mix, sr)
                        row[sname] = si_sdr(x[:, st:], y[:, st:])
                        row[sname + "_whole"] = si_sdr(x, y)
                        row[sname + "_hz"] = getattr(p, "node", p).detected_hz
                    row["true_hz"] = float(f[-1])
                    rows.append(row)
                    if verbose:
                        print("  hum " + " ".join(f"{k}={v:.2f}" if isinstance(v, float) else
                                                  f"{k}={v}" for k, v in row.items()), flush=True)
    summary = {}
    for kind in ("speech", "music"):
        for f0 in (50.0, 60.0):
            rr = [r for r in rows if r["material"] == kind and r["f0"] == f0]
            for sname in systems:
                gains = [r[sname] - r["input"] for r in rr]
                w = int(np.argmin(gains))
                summary[f"{kind} {f0:.0f} Hz {sname}"] = {
                    "material": f"{kind} {f0:.0f} Hz", "system": sname,
                    "input_mean": float(np.mean([r["input"] for r in rr])),
                    "output_mean": float(np.mean([r[sname] for r in rr])),
                    "gain_mean": float(np.mean(gains)), "gain_worst": float(gains[w]),
                    "worst": f"{rr[w]['name']} d{rr[w]['draw']} snr {rr[w]['snr']:.1f}",
                    "gain_whole_mean": float(np.mean([r[sname + "_whole"] - r["input_whole"]
                                                      for r in rr])),
                    "n": len(rr)}
    return {"rows": rows, "summary": summary}


def hum_table(res: dict) -> str:
    lines = ["| material | system | input SI-SDR | output | gain mean | gain worst (clip) | "
             "gain, whole clip |", "|---|---|---|---|---|---|---|"]
    for r in res["summary"].values():
        lines.append(f"| {r['material']} | {r['system']} | {r['input_mean']:.1f} | "
                     f"{r['output_mean']:.1f} | {r['gain_mean']:+.1f} | {r['gain_worst']:+.1f} "
                     f"({r['worst']}) | {r['gain_whole_mean']:+.1f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- hiss (vinyl Wiener)
def vinyl_hiss(n: int, sr: int, rng) -> np.ndarray:
    """Record-surface hiss: Gaussian noise, flat to 2 kHz then falling 3 dB/octave (pinkish
    top), unit RMS, per channel."""
    spec = np.fft.rfft(rng.standard_normal((2, n)), axis=-1)
    f = np.fft.rfftfreq(n, 1 / sr)
    shape = 1.0 / np.sqrt(np.maximum(1.0, f / 2000.0))
    y = np.fft.irfft(spec * shape, n, axis=-1)
    return y / np.sqrt(np.mean(y * y))


WIENER_SETTINGS = {
    "old vinyl (floor -10, s 0.6)": dict(floor_db=-10.0, strength=0.6, rule="lsa", link=True),
    "gentle (floor -6, s 0.5)": dict(floor_db=-6.0, strength=0.5, rule="lsa", link=True),
    "gentle + tonal": dict(floor_db=-6.0, strength=0.5, rule="lsa", link=True, tonal=True),
    "old + tonal": dict(floor_db=-10.0, strength=0.6, rule="lsa", link=True, tonal=True),
    "old + tonal + hiss gate": dict(floor_db=-10.0, strength=0.6, rule="lsa", link=True,
                                    tonal=True, hiss_gate=True),
}


def hiss_category(draws: int = 1, sr: int = RATE, seconds: float = SECONDS, verbose=True) -> dict:
    """Each Wiener setting: on clean clips (sustained, plucked, percussive): SI-SDR against the
    input and level lost; on the same clips with hiss at 20 dB SNR: hiss power left (output
    minus clean, against the hiss) and SI-SDR against the clean clip."""
    from aural.engine.processors import Wiener
    res: dict = {}
    cats = ["sustained", "plucked guitar", "percussive"]
    for cat, name, d, x in clean_set(sr, seconds, draws, categories=cats):
        x = _stereo(x)
        rng = np.random.default_rng([sum(map(ord, name)), d, 11])
        h = vinyl_hiss(x.shape[1], sr, rng) * np.sqrt(np.mean(x.astype(np.float64) ** 2)) / 10.0
        noisy = (x + h).astype(np.float32)
        st = int(SCORE_FROM * sr)
        hp = butter(6, 6000.0, "highpass", fs=sr, output="sos")
        for label, kw in WIENER_SETTINGS.items():
            y = Wiener(**kw)(x, sr)
            yn = Wiener(**kw)(noisy, sr)
            r = {"clean_si_sdr": si_sdr(x[:, st:], y[:, st:]),
                 "clean_level_db": 10 * np.log10(np.mean(y[:, st:].astype(np.float64) ** 2)
                                                  / np.mean(x[:, st:].astype(np.float64) ** 2)),
                 "noisy_in": si_sdr(x[:, st:], noisy[:, st:]),
                 "noisy_out": si_sdr(x[:, st:], yn[:, st:]),
                 "hiss_left_db": 10 * np.log10(np.mean((yn - x)[:, st:].astype(np.float64) ** 2)
                                               / np.mean(h[:, st:] ** 2)),
                 # above 6 kHz, where these clips hold little music: how far the hiss went down
                 "hf_reduction_db": 10 * np.log10(np.mean(sosfilt(hp, noisy[:, st:]) ** 2)
                                                  / np.mean(sosfilt(hp, yn[:, st:]) ** 2))}
            res.setdefault(label, []).append(dict(name=name, cat=cat, draw=d, **r))
            if verbose:
                print(f"  hiss {label:30s} {name:16s} " + " ".join(f"{k} {v:.1f}" for k, v in
                                                                    r.items()), flush=True)
    return res


def hiss_table(res: dict) -> str:
    lines = ["| Wiener setting | clean SI-SDR mean | worst (clip) | clean level lost, worst | "
             "hissy: SI-SDR in -> out | error left vs hiss (dB) | hiss above 6 kHz down by |",
             "|---|---|---|---|---|---|---|"]
    for label, rows in res.items():
        w = min(rows, key=lambda r: r["clean_si_sdr"])
        lines.append(
            f"| {label} | {np.mean([r['clean_si_sdr'] for r in rows]):.1f} | "
            f"{w['clean_si_sdr']:.1f} ({w['name']}) | "
            f"{min(r['clean_level_db'] for r in rows):.1f} dB | "
            f"{np.mean([r['noisy_in'] for r in rows]):.1f} -> "
            f"{np.mean([r['noisy_out'] for r in rows]):.1f} | "
            f"{np.mean([r['hiss_left_db'] for r in rows]):.1f} | "
            f"{np.mean([r['hf_reduction_db'] for r in rows]):.1f} dB |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- rumble
def turntable_rumble(n: int, sr: int, rng) -> np.ndarray:
    """Turntable rumble: noise below 15 Hz (4th-order lowpass) above 3 Hz, plus a slow
    platter-rate wobble (0.55 Hz, 33 1/3 rpm) of its level; unit RMS, two channels."""
    r = sosfilt(butter(4, 15.0, "lowpass", fs=sr, output="sos"), rng.standard_normal((2, n)),
                axis=-1)
    r = sosfilt(butter(2, 3.0, "highpass", fs=sr, output="sos"), r, axis=-1)
    t = np.arange(n) / sr
    r *= 1.0 + 0.3 * np.sin(2 * np.pi * 0.555 * t)
    return r / np.sqrt(np.mean(r * r))


def _below(x: np.ndarray, sr: int, hz: float = 30.0) -> np.ndarray:
    from scipy.signal import sosfiltfilt
    return sosfiltfilt(butter(6, hz, "lowpass", fs=sr, output="sos"), x, axis=-1)


def rumble_category(draws: int = 2, sr: int = RATE, seconds: float = 10.0,
                    verbose=True) -> dict:
    """Rumble at -30 and -20 dB under the percussive and sustained clips: reduction below
    30 Hz and SI-SDR against the clean clip, with the detector's decision; and the clean
    clips alone (false alarms)."""
    from aural.engine.processors import Rumble
    rows = []
    for cat, name, d, x in clean_set(sr, seconds, draws, categories=["percussive", "sustained",
                                                                         "speech (dry)"]):
        x = _stereo(x).astype(np.float64)
        rng = np.random.default_rng([sum(map(ord, name)), d, 13])
        p = Rumble()
        y0 = p(x.astype(np.float32), sr)
        row = {"cat": cat, "name": name, "draw": d, "clean_engaged": p.engaged,
               "clean_si_sdr": si_sdr(x, y0)}
        for rel in (-30.0, -20.0):
            r = turntable_rumble(x.shape[1], sr, rng) * np.sqrt(np.mean(x * x)) * 10 ** (rel / 20)
            mix = (x + r).astype(np.float32)
            p = Rumble()
            y = p(mix, sr)
            st = int(3.0 * sr)
            row[f"{rel:.0f}_engaged"] = p.engaged
            row[f"{rel:.0f}_cut_db"] = 10 * np.log10(np.mean(_below(r, sr)[:, st:] ** 2)
                                                     / np.mean(_below(y - x, sr)[:, st:] ** 2))
            row[f"{rel:.0f}_in"] = si_sdr(x[:, st:], mix[:, st:])
            row[f"{rel:.0f}_out"] = si_sdr(x[:, st:], y[:, st:])
        rows.append(row)
        if verbose:
            print("  rumble " + " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in row.items()), flush=True)
    return {"rows": rows}


def rumble_table(res: dict) -> str:
    rows = res["rows"]
    lines = ["| material | clean: clips touched (SI-SDR < 60 dB) | clean SI-SDR worst | rumble -30 dB: engaged, "
             "cut <30 Hz, SI-SDR in -> out | rumble -20 dB: engaged, cut, SI-SDR in -> out |",
             "|---|---|---|---|---|"]
    for cat in dict.fromkeys(r["cat"] for r in rows):
        rr = [r for r in rows if r["cat"] == cat]
        cells = []
        for rel in ("-30", "-20"):
            cells.append(f"{sum(r[rel + '_engaged'] for r in rr)}/{len(rr)}, "
                         f"{np.mean([r[rel + '_cut_db'] for r in rr]):.1f} dB, "
                         f"{np.mean([r[rel + '_in'] for r in rr]):.1f} -> "
                         f"{np.mean([r[rel + '_out'] for r in rr]):.1f}")
        lines.append(f"| {cat} | {sum(r['clean_si_sdr'] < 60.0 for r in rr)}/{len(rr)} | "
                     f"{min(r['clean_si_sdr'] for r in rr):.1f} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- hum detector
def hum_detector_category(draws: int = 2, sr: int = RATE, seconds: float = SECONDS,
                          verbose=True) -> dict:
    """DeHum (auto) on every clean clip: did it ever report hum, for how long, and SI-SDR of
    its output against the input."""
    from aural.engine.processors import DeHum
    rows = []
    block = 441
    for cat, name, d, x in clean_set(sr, seconds, draws):
        p = DeHum()
        p.prepare(sr, x.shape[0], block)
        y = np.empty_like(x)
        det = 0
        for i in range(0, x.shape[1], block):
            y[:, i:i + block] = p.process(np.ascontiguousarray(x[:, i:i + block]))
            det += p.detected_hz > 0
        # file mode: the backward pass over the head must find no hum on clean material either
        q = DeHum()
        q.prepare(sr, x.shape[0], block)
        held = q.learn(x)
        yf = q(x, sr, buffer_size=block)
        rows.append({"cat": cat, "name": name, "draw": d, "detected_s": det * block / sr,
                     "si_sdr": si_sdr(x, y), "file_learned": bool(held),
                     "si_sdr_file": si_sdr(x, yf)})
        if verbose:
            print(f"  hum-detector {cat:22s} {name:18s} d{d}: detected {det * block / sr:.1f} s, "
                  f"SI-SDR {rows[-1]['si_sdr']:.1f}; file mode: learned {held}, SI-SDR "
                  f"{rows[-1]['si_sdr_file']:.1f}", flush=True)
    return {"rows": rows}


def hum_detector_table(res: dict) -> str:
    rows = res["rows"]
    lines = ["| material | clips with a false detection | detected seconds (total) | "
             "SI-SDR worst | file mode: clips with hum learned | file mode: SI-SDR worst |",
             "|---|---|---|---|---|---|"]
    for cat in dict.fromkeys(r["cat"] for r in rows):
        rr = [r for r in rows if r["cat"] == cat]
        lines.append(f"| {cat} | {sum(r['detected_s'] > 0 for r in rr)}/{len(rr)} | "
                     f"{sum(r['detected_s'] for r in rr):.1f} of {len(rr) * SECONDS:.0f} | "
                     f"{min(r['si_sdr'] for r in rr):.1f} | "
                     f"{sum(r['file_learned'] for r in rr)}/{len(rr)} | "
                     f"{min(r['si_sdr_file'] for r in rr):.1f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- registry
CATEGORIES: dict[str, Callable[[argparse.Namespace], tuple[dict, str]]] = {}


def register_category(name: str, fn: Callable[[argparse.Namespace], tuple[dict, str]]) -> None:
    """Add a category: fn(args) -> (json-able results, markdown table)."""
    CATEGORIES[name] = fn


register_category("hum", lambda a: (lambda r: (r, hum_table(r)))(
    hum_category(a.draws, verbose=a.verbose, legacy=a.legacy, split=a.hum_split)))
register_category("hum_detector", lambda a: (lambda r: (r, hum_detector_table(r)))(
    hum_detector_category(a.draws, verbose=a.verbose)))
register_category("rumble", lambda a: (lambda r: (r, rumble_table(r)))(
    rumble_category(a.draws, verbose=a.verbose)))
register_category("hiss", lambda a: (lambda r: (r, hiss_table(r)))(
    hiss_category(1, verbose=a.verbose)))
register_category("harm_nodes", lambda a: (lambda r: (r, node_harm_table(r)))(
    node_harm(a.presets, 1, verbose=a.verbose)))
register_category("harm", lambda a: (lambda r: (r, harm_table(r)))(
    do_no_harm(a.presets, a.draws, verbose=a.verbose)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", default=None, help="categories to run")
    ap.add_argument("--presets", nargs="*", default=["music", "vinyl"])
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--json", default=str(ROOT / "runs" / "bench_restoration.json"))
    ap.add_argument("--legacy", action="store_true", help="also score the legacy notch DeHum")
    ap.add_argument("--hum-split", default="score", choices=tuple(HUM_SPLITS),
                    help="hum clips: score (published) or tune (for choosing DeHum's settings)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    out = {}
    for name, fn in CATEGORIES.items():
        if a.only and name not in a.only:
            continue
        t0 = time.time()
        r, table = fn(a)
        out[name] = r
        print(f"\n### {name} ({time.time() - t0:.0f} s)\n\n{table}\n", flush=True)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=1))
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
