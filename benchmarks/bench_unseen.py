"""Unseen-source benchmark: aural and its peers on speakers, languages and noise packages that
no training or tuning step has used.

    python benchmarks/bench_unseen.py                          # score split, 3 draws x 4 clips x 4 s
    python benchmarks/bench_unseen.py --split tune             # for choosing and tuning
    python benchmarks/bench_unseen.py --draws 5 --clips 8 --json out/unseen.json

Data: the source registry of :mod:`aural.models.data` (``registry()``), split by SOURCE, not by
file.  Speech is split by language across packages (score: be, da, he, hu, ro; tune: bg, de,
nb, nn, pt; every language the shipped models trained on is train), noise and music by package
(score: 0ad-data's ambient and music, bucklespring-data's keys sequenced into typing; tune:
ufoai-sound's ambience, its footsteps, doors and clicks scattered into bursts, ufoai-music).
Choose and tune on ``--split tune`` only; publish only ``--split score``.  Reserved files never reach any split (by path and content).

Categories (48 kHz mono; each clip's clean excerpt and noise come from ONE source each):

- speech in noise: one voice's clips joined with 80-300 ms pauses, a pink room-tone floor 50
  dB under the speech (the joins would otherwise be digital silence), real noise at 0-15 dB SNR
- reverberant speech in noise: the same speech in a simulated room (pyroomacoustics image
  source shoebox, RT60 0.3-0.9 s, 1-3 m), then noise; the target is the reverberant speech (a
  denoiser's job: noise out, room kept)
- music in noise: music excerpts, real noise at 0-15 dB SNR (PESQ and DNSMOS not scored)
- clean speech passthrough: no noise; SI-SDR of the output against the input (target >= 25 dB)

Speech level -32..-20 dBFS RMS; the mix is scaled down if its peak passes 0.95.  A draw is one
seed: its own clips, noises, SNRs and rooms; every system scores the same clips of every draw in
one run.  Reported: the mean over draws and the WORST draw (lowest PESQ/SI-SDR/DNSMOS, highest
LSD).  Metrics: PESQ-wb and DNSMOS P.835 (speech only), SI-SDR, log-spectral distance.

Systems: the input; aural ``voice`` and ``voice_dsp`` with EQ/dynamics bypassed (repair nodes
only, ``engine.presets.repair_only``); aural's NeuralEnhancer alone (default model and limit);
DeepFilterNet3 with the NeuralEnhancer's default attenuation limit and without one (100 dB, its
own default); RNNoise; NSNet2 (``benchmarks/peers.py``).  Outputs are aligned before scoring
(aural: declared latency; peers: in-stream delay measured on a clean clip of the TUNE split).
"""
from __future__ import annotations

import os

for _k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import AuralSystem, PeerSystem, write_json  # noqa: E402
from peers import PeerUnavailable  # noqa: E402

RATE = 48000
CATEGORIES = ("speech in noise", "reverberant speech in noise", "music in noise",
              "clean speech passthrough")
SPEECH_CATS = ("speech in noise", "reverberant speech in noise", "clean speech passthrough")
SYSTEMS = ("voice-repair", "neural-voice", "voice_dsp-repair", "deepfilternet3-limit",
           "deepfilternet3", "rnnoise", "nsnet2")
METRICS = ("pesq", "si_sdr", "lsd", "ovrl", "sig", "bak")
HIGHER_BETTER = {"pesq": True, "si_sdr": True, "lsd": False, "ovrl": True, "sig": True, "bak": True}
SNR_RANGE = (0.0, 15.0)
LEVEL_RANGE = (-32.0, -20.0)
ROOM_TONE_DB = 50.0  # the clean speech's floor, dB under its RMS (pink)
DEFAULT_SEEDS = (1, 2, 3)


# ----------------------------------------------------------------------------- DNSMOS P.835
class DNSMOS:
    """DNSMOS P.835 (no-reference SIG, BAK, OVRL MOS, each in [1, 5]) with the ONNX model that
    the PyPI wheel ``speechmos`` ships (``speechmos/dnsmos_models/sig_bak_ovr.onnx``), run
    offline on one thread.  The scoring is speechmos' own (``speechmos.dnsmos``): 16 kHz input,
    9.01 s windows hopped by 1 s, a clip shorter than that repeated to fill one, the non-
    personalised polynomial mapping of the raw scores; the results are clipped to [1, 5].
    speechmos' module itself is not imported: it needs librosa for its P.808 half."""

    SR = 16000
    WINDOW = 9.01
    POLY = {"sig": (-0.08397278, 1.22083953, 0.0052439),
            "bak": (-0.13166888, 1.60915514, -0.39604546),
            "ovrl": (-0.06766283, 1.11546468, 0.04602535)}

    def __init__(self) -> None:
        import importlib.util

        import onnxruntime as ort

        spec = importlib.util.find_spec("speechmos")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("DNSMOS needs the PyPI package speechmos (pip install speechmos)")
        path = Path(list(spec.submodule_search_locations)[0]) / "dnsmos_models" / "sig_bak_ovr.onnx"
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray, sample_rate: int) -> dict[str, float]:
        from scipy.signal import resample_poly

        x = np.asarray(x, np.float64).reshape(-1)
        if sample_rate != self.SR:
            g = math.gcd(int(sample_rate), self.SR)
            x = resample_poly(x, self.SR // g, int(sample_rate) // g)
        x = np.clip(np.nan_to_num(x), -1.0, 1.0).astype(np.float32)
        if not len(x) or not np.any(x):
            x = np.full(self.SR, 1e-6, np.float32)
        need = int(self.WINDOW * self.SR)
        while len(x) < need:
            x = np.concatenate([x, x])
        hops = int(np.floor(len(x) / self.SR) - self.WINDOW) + 1
        raw = []
        for i in range(hops):
            seg = x[i * self.SR: i * self.SR + need]
            if len(seg) < need:
                continue
            raw.append(self.session.run(None, {self.input: seg[None, :]})[0][0])
        r = np.mean(np.array(raw, np.float64), axis=0)
        return {k: float(np.clip(np.polyval(self.POLY[k], r[i]), 1.0, 5.0))
                for i, k in enumerate(("sig", "bak", "ovrl"))}


# ----------------------------------------------------------------------------- data
def _rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-20)


def _active(seg: np.ndarray) -> bool:
    """At least 40 % of 20 ms frames within 30 dB of the loudest, and not silent."""
    f = int(0.02 * RATE)
    fr = seg[: len(seg) // f * f].reshape(-1, f).astype(np.float64)
    e = 10 * np.log10(np.mean(fr ** 2, axis=1) + 1e-12)
    return float(np.max(np.abs(seg))) > 1e-3 and float(np.mean(e > e.max() - 30)) > 0.4


class Pool:
    """The speech, music and noise sources of one split, audio decoded at 48 kHz on demand."""

    def __init__(self, split: str, reg=None) -> None:
        from aural.models.data import is_reserved, split_sources

        self.split = split
        self.speech = split_sources(split, "speech", reg)
        self.music = split_sources(split, "music", reg)
        self.noise = split_sources(split, "noise", reg)
        for kind in ("speech", "noise", "music"):
            if not getattr(self, kind):
                raise SystemExit(f"no {kind} sources in the {split} split: "
                                 "AURAL_DATA=full bash scripts/setup.d/50-data.sh")
        for s in self.speech + self.music + self.noise:
            assert not any(is_reserved(f) for f in s.files), f"reserved file in {s.id}"
        self._audio: dict[str, np.ndarray] = {}

    def audio(self, path: str) -> np.ndarray:
        from aural.models.data import load_audio

        if path not in self._audio:
            self._audio[path] = load_audio(path, RATE)
        return self._audio[path]

    def speech_excerpt(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """n samples of one voice: its clips in random order joined with 80-300 ms pauses."""
        for _ in range(10):
            src = self.speech[int(rng.integers(0, len(self.speech)))]
            parts, total = [], 0
            while total < n:
                x = self.audio(src.files[int(rng.integers(0, len(src.files)))])
                x = x / (np.max(np.abs(x)) + 1e-9)  # a voice's clips differ in level
                gap = np.zeros(int(rng.uniform(0.08, 0.3) * RATE), np.float32)
                parts += [x.astype(np.float32), gap]
                total += len(x) + len(gap)
            seg = np.concatenate(parts)
            s = int(rng.integers(0, max(1, len(seg) - n) // 4 + 1))
            seg = seg[s:s + n]
            if _active(seg):
                break
        return _room_tone(seg, rng), src.id

    def music_excerpt(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        for _ in range(20):
            src = self.music[int(rng.integers(0, len(self.music)))]
            x = self.audio(src.files[int(rng.integers(0, len(src.files)))])
            if len(x) < n:
                x = np.tile(x, n // max(1, len(x)) + 1)
            s = int(rng.integers(0, len(x) - n + 1))
            seg = x[s:s + n]
            if _active(seg):
                break
        return seg, src.id

    def noise_excerpt(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        from aural.models.data import event_noise, typing_noise

        for _ in range(20):
            src = self.noise[int(rng.integers(0, len(self.noise)))]
            if src.form == "typing":
                keys = self._keys(src)
                y = typing_noise(n, RATE, keys, rng)
            elif src.form == "events":
                shots = [self.audio(f) for f in src.files]
                y = event_noise(n, RATE, [x for x in shots if len(x) > RATE // 100], rng)
            else:
                x = self.audio(src.files[int(rng.integers(0, len(src.files)))])
                if len(x) < RATE // 10:
                    continue
                if len(x) < n:
                    x = np.tile(x, n // len(x) + 1)
                s = int(rng.integers(0, len(x) - n + 1))
                y = x[s:s + n]
            if np.sqrt(np.mean(y.astype(np.float64) ** 2)) > 1e-5:
                return np.asarray(y, np.float32), src.id
        return np.asarray(y, np.float32), src.id

    def _keys(self, src) -> list[tuple[np.ndarray, np.ndarray]]:
        """(press, release) pairs of bucklespring's NN-0.wav / NN-1.wav."""
        by = {}
        for f in src.files:
            stem = os.path.splitext(os.path.basename(f))[0]
            code, _, which = stem.rpartition("-")
            by.setdefault(code, {})[which] = f
        return [(self.audio(d["0"]), self.audio(d["1"])) for _, d in sorted(by.items())
                if "0" in d and "1" in d]


def _room_tone(x: np.ndarray, rng: np.random.Generator, below_db: float = ROOM_TONE_DB) -> np.ndarray:
    """x plus pink noise ``below_db`` under its RMS: the floor of a quiet room.  The short clips
    are joined with digital silence, which no recording has and which would make the
    log-spectral distance of any residual noise in the pauses ~40 dB."""
    from aural.models.degrade import colored_noise

    fl = colored_noise(len(x), 1.0, rng, RATE).astype(np.float64)
    fl *= 10 ** ((_rms_db(x) - below_db - _rms_db(fl)) / 20)
    return (x + fl).astype(np.float32)


def room_rir(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A shoebox room impulse response at 48 kHz (pyroomacoustics image source method)."""
    import pyroomacoustics as pra

    rt60 = float(rng.uniform(0.3, 0.9))
    dims = np.array([rng.uniform(4, 10), rng.uniform(3, 8), rng.uniform(2.5, 3.5)])
    e_abs, order = pra.inverse_sabine(rt60, dims)
    room = pra.ShoeBox(dims, fs=RATE, materials=pra.Material(e_abs), max_order=min(int(order), 17))
    mic = np.array([rng.uniform(0.5, d - 0.5) for d in dims[:2]] + [rng.uniform(1.0, 1.8)])
    for _ in range(100):
        dist = rng.uniform(1.0, 3.0)
        ang = rng.uniform(0, 2 * np.pi)
        src = mic + np.array([dist * np.cos(ang), dist * np.sin(ang), rng.uniform(-0.3, 0.3)])
        if np.all(src > 0.3) and np.all(src < dims - 0.3):
            break
    else:
        src = dims / 2 + 0.1
    room.add_source(src.tolist())
    room.add_microphone(mic.tolist())
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], np.float64)
    return rir / (np.max(np.abs(rir)) + 1e-12), {"rt60": rt60, "distance": float(np.linalg.norm(src - mic))}


def _mix(clean: np.ndarray, noise: np.ndarray | None, rng: np.random.Generator,
         snr: float | None) -> tuple[np.ndarray, np.ndarray, dict]:
    level = float(rng.uniform(*LEVEL_RANGE))
    c = clean * np.float32(10 ** ((level - _rms_db(clean)) / 20))
    y = c.copy()
    if noise is not None:
        y = c + noise * np.float32(10 ** ((_rms_db(c) - snr - _rms_db(noise)) / 20))
    peak = float(np.max(np.abs(y)))
    if peak > 0.95:
        c, y = c * np.float32(0.95 / peak), y * np.float32(0.95 / peak)
    return (np.asarray(y, np.float32), np.asarray(c, np.float32),
            {"level_db": level, **({"snr_db": snr} if snr is not None else {})})


def build_set(pool: Pool, seed: int, clips: int, seconds: float,
              categories=CATEGORIES) -> dict[str, list[dict]]:
    """{category: [{"clean", "degraded", "kind", "meta"}]} for one draw (deterministic)."""
    from scipy.signal import fftconvolve

    n = int(round(seconds * RATE))
    out: dict[str, list[dict]] = {}
    for ci, cat in enumerate(CATEGORIES):
        if cat not in categories:
            continue
        items = []
        for i in range(clips):
            rng = np.random.default_rng([seed, 2121, ci, i])
            meta: dict = {}
            if cat == "music in noise":
                clean, sid = pool.music_excerpt(n, rng)
                kind = "music"
            else:
                clean, sid = pool.speech_excerpt(n, rng)
                kind = "speech"
            meta["source"] = sid
            if cat == "reverberant speech in noise":
                rir, rm = room_rir(rng)
                clean = fftconvolve(clean, rir)[:n].astype(np.float32)
                meta.update(rm)
            if cat == "clean speech passthrough":
                y, c, m = _mix(clean, None, rng, None)
            else:
                noise, nid = pool.noise_excerpt(n, rng)
                y, c, m = _mix(clean, noise, rng, float(rng.uniform(*SNR_RANGE)))
                meta["noise"] = nid
            meta.update(m)
            items.append({"clean": c, "degraded": y, "kind": kind, "meta": meta})
        out[cat] = items
    return out


# ----------------------------------------------------------------------------- scoring
def score_clip(clean: np.ndarray, out: np.ndarray, speech: bool, dnsmos: DNSMOS | None) -> dict:
    """PESQ-wb and DNSMOS (speech only: nan otherwise), SI-SDR, LSD of one output."""
    from aural.engine.metrics import log_spectral_distance, si_sdr
    from aural.engine.quality import pesq_wb

    out = np.asarray(out, np.float32)
    r = {"si_sdr": si_sdr(clean, out), "lsd": log_spectral_distance(clean, out, n_fft=2048),
         "pesq": float("nan"), "ovrl": float("nan"), "sig": float("nan"), "bak": float("nan")}
    if speech:
        r["pesq"] = pesq_wb(clean, out, RATE)
        if dnsmos is not None:
            r.update(dnsmos(out, RATE))
    return {k: float(v) for k, v in r.items()}


def _mean(v) -> float:
    a = np.asarray([x for x in v if x is not None and math.isfinite(x)], np.float64)
    return float(a.mean()) if len(a) else float("nan")


def summarize(draws: list[dict]) -> dict:
    """{category: {system: {metric: {"mean", "worst"}}}} over the draws' per-draw means; worst:
    the lowest draw mean (the highest for LSD)."""
    out: dict = {}
    for cat in draws[0]:
        out[cat] = {}
        for key in draws[0][cat]:
            out[cat][key] = {}
            for m in METRICS:
                v = [d[cat][key][m] for d in draws if math.isfinite(d[cat][key][m])]
                if not v:
                    out[cat][key][m] = {"mean": float("nan"), "worst": float("nan")}
                    continue
                worst = min(v) if HIGHER_BETTER[m] else max(v)
                out[cat][key][m] = {"mean": float(np.mean(v)), "worst": float(worst)}
    return out


def make_systems(names, probe: np.ndarray, log=print,
                 neural_model: str | None = None) -> tuple[dict, dict]:
    from aural.models import NeuralEnhancer

    limit = next(p.default for p in NeuralEnhancer.params if p.name == "atten_limit")
    objs: dict = {"input": None}
    skipped: dict = {}
    for s in names:
        file_mode = s.endswith("+file")  # aural systems: learn each clip's head first
        base = s[: -len("+file")] if file_mode else s
        try:
            if file_mode:
                o = make_systems([base], probe, log=lambda *a: None,
                                 neural_model=neural_model)[0][base]
                o.file_mode = True
                o.name, o.label = s, o.label + ", file mode"
            elif s == "deepfilternet3-limit":
                o = PeerSystem("deepfilternet3", probe, atten_limit=float(limit))
                o.name = s
            elif s in PEER_KEYS:
                o = PeerSystem(s, probe)
            elif neural_model and s == "neural-voice":
                o = AuralSystem(s, neural_model)
            elif s.startswith("neural:"):  # any model by name or path, several in one run
                o = AuralSystem("neural-voice", s[len("neural:"):])
                o.name = s
            else:
                o = AuralSystem(s)
        except PeerUnavailable as e:
            skipped[s] = str(e)
            log(f"skip {s}: {e}")
            continue
        o.reset()
        o.process(probe[: RATE // 2])  # warm-up
        objs[s] = o
        log(f"{o.label}: ready")
    return objs, skipped


PEER_KEYS = ("deepfilternet3", "rnnoise", "nsnet2", "speexdsp", "noisereduce")


def run(split: str = "score", seeds=DEFAULT_SEEDS, clips: int = 4, seconds: float = 4.0,
        systems=SYSTEMS, categories=CATEGORIES, log=print, reg=None,
        neural_model: str | None = None) -> dict:
    t0 = time.monotonic()
    pool = Pool(split, reg)
    # alignment probe from the TUNE split, so nothing about the score split is used to set up
    try:
        probe_pool = pool if split == "tune" else Pool("tune", reg)
    except SystemExit:
        probe_pool = pool
    probe, _ = probe_pool.speech_excerpt(int(3 * RATE), np.random.default_rng([7, 7]))
    probe = _mix(probe, None, np.random.default_rng(0), None)[1]
    objs, skipped = make_systems(systems, probe, log, neural_model)
    dnsmos = DNSMOS()
    res: dict = {"split": split, "rate": RATE, "clips": clips, "seconds": seconds,
                 "seeds": list(seeds), "date": datetime.date.today().isoformat(),
                 "skipped": skipped,
                 "sources": {k: [s.id for s in getattr(pool, k)] for k in ("speech", "music", "noise")},
                 "systems": {k: (v.label if v else "input (noisy)") for k, v in objs.items()},
                 "draws": [], "clips_meta": []}
    for seed in seeds:
        data = build_set(pool, seed, clips, seconds, categories)
        draw: dict = {}
        metas: dict = {}
        for cat, items in data.items():
            draw[cat] = {}
            metas[cat] = [it["meta"] for it in items]
            for key, o in objs.items():
                vals = []
                for it in items:
                    x = it["degraded"]
                    if o is None:
                        y = x
                    else:
                        o.reset()
                        y = o.process(x)
                    vals.append(score_clip(it["clean"], y, it["kind"] == "speech", dnsmos))
                draw[cat][key] = {m: _mean([v[m] for v in vals]) for m in METRICS}
                draw[cat][key]["per_clip"] = vals
            log(f"seed {seed}: {cat} done ({time.monotonic() - t0:.0f} s)")
        res["draws"].append(draw)
        res["clips_meta"].append(metas)
    res["summary"] = summarize(res["draws"])
    res["wall_s"] = time.monotonic() - t0
    return res


def _f(v: float, fmt: str) -> str:
    if v is not None and math.isfinite(v) and v > 150:  # SI-SDR of a signal with itself
        return "∞"
    return "-" if v is None or not math.isfinite(v) else fmt.format(v)


def markdown(res: dict) -> str:
    lines = []
    for cat, rows in res["summary"].items():
        ref = "vs input" if cat == "clean speech passthrough" else "vs clean"
        lines += [f"### {cat}", "",
                  f"| system | PESQ-wb mean / worst | SI-SDR dB ({ref}) mean / worst | LSD dB mean / worst "
                  "| DNSMOS OVRL mean / worst | SIG / BAK mean |",
                  "|---|---|---|---|---|---|"]
        for key, r in rows.items():
            def mw(m, fmt):
                return f"{_f(r[m]['mean'], fmt)} / {_f(r[m]['worst'], fmt)}"
            lines.append(f"| {res['systems'][key]} | {mw('pesq', '{:.2f}')} | {mw('si_sdr', '{:.2f}')} | "
                         f"{mw('lsd', '{:.2f}')} | {mw('ovrl', '{:.2f}')} | "
                         f"{_f(r['sig']['mean'], '{:.2f}')} / {_f(r['bak']['mean'], '{:.2f}')} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="score", choices=("score", "tune"),
                    help="score: publish only this; tune: choose and tune on this")
    ap.add_argument("--draws", type=int, default=3, help="number of draws (seeds 1..N)")
    ap.add_argument("--seeds", help="comma list of seeds (overrides --draws)")
    ap.add_argument("--clips", type=int, default=4, help="clips per category and draw")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="comma list of: " + ", ".join(SYSTEMS) + "; also PRESET-repair (a "
                         "preset's repair nodes), neural:MODEL (NeuralEnhancer with a shipped "
                         "model name or an .onnx path; several compare in one run); any aural "
                         "system with the suffix +file learns each clip's head first, as "
                         "`aural enhance` does for files (aural.engine.learn)")
    ap.add_argument("--categories", help="comma list (default: all): " + ", ".join(CATEGORIES))
    ap.add_argument("--json", help="also write the figures (per draw and clip too) as JSON here")
    ap.add_argument("--neural-model", metavar="MODEL",
                    help="model (shipped name or .onnx) of the neural-voice system (default: "
                         "NeuralEnhancer's)")
    a = ap.parse_args(argv)
    seeds = ([int(s) for s in a.seeds.split(",")] if a.seeds else list(range(1, a.draws + 1)))
    systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    cats = [c.strip() for c in a.categories.split(",")] if a.categories else list(CATEGORIES)
    if any(c not in CATEGORIES for c in cats):
        ap.error(f"unknown category; one of: {', '.join(CATEGORIES)}")
    res = run(a.split, seeds, a.clips, a.seconds, systems, cats,
              log=lambda m: print(m, file=sys.stderr, flush=True), neural_model=a.neural_model)
    write_json(a.json, res)
    print(f"<!-- split {a.split}, seeds {','.join(map(str, seeds))}, {a.clips} clips x {a.seconds:g} s "
          f"per category and draw, {RATE} Hz, {res['date']}; {res['wall_s']:.0f} s -->\n")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
