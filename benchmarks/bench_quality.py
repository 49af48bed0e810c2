"""Quality of aural's presets and neural enhancer next to the real-time denoisers that run here.

    python benchmarks/bench_quality.py            # default: 20 clips x 4 s per category (~9 min)
    python benchmarks/bench_quality.py --quick    # 4 clips x 3 s per category (~1.5 min)
    python benchmarks/bench_quality.py --espeak --categories "dry synthetic speech in noise"
    python benchmarks/bench_quality.py --clips 40 --json out/quality.json --systems voice,deepfilternet3

Development set: built here from the project's own recipe (:mod:`aural.models.data`, the dev
split, which excludes every file of shared/data/RESERVED.txt by path and content) and the
degradation simulator (:mod:`aural.models.degrade`), at 48 kHz, one fixed seed.  Five
categories: speech in noise (the reverberant game speech of fillets-ng), dry speech in noise
(studio prompts of asterisk-core-sounds-*-g722, five voices, 16 kHz content), music in noise
(real and synthetic noise at -5..20 dB SNR), hum, clicks and clipping (on speech and music,
half each).  Every clip is mono.

Systems: the input itself; aural's ``voice``, ``music`` and ``vinyl`` presets and a chain of
the NeuralEnhancer with the shipped ``dsunet-small`` weights (fed in 480-sample blocks, i.e.
10 ms, through the processor API); the peers of ``benchmarks/peers.py`` (DeepFilterNet3,
RNNoise and speexdsp-ns fed frame by frame; noisereduce and NSNet2 on whole clips).  Every
output is aligned with the clean clip before scoring (aural: its declared latency; peers: their
in-stream delay, measured once by cross-correlation on a clean speech clip).

Figures: PESQ-wb and STOI (speech clips only: they are speech measures), SI-SDR and log-spectral
distance (all clips, at 48 kHz), real-time factor = CPU time of the process / audio duration
with every library pinned to one thread, after a warm-up; algorithmic latency: the processor's
declared latency for aural; in-stream delay + frame - 1 (buffering a frame) for streaming peers.
"""
from __future__ import annotations

import os

for _k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import PEERS, PeerUnavailable, measure_delay  # noqa: E402

RATE = 48000
BLOCK = 480  # host block for aural (10 ms, the peers' frame)
CATEGORIES = {  # name -> (degradations forced, source kinds)
    "speech in noise": (["noise"], ("speech",)),
    "dry speech in noise": (["noise"], ("dry_speech",)),
    "music in noise": (["noise"], ("music",)),
    "hum": (["hum"], ("speech", "music")),
    "clicks": (["clicks"], ("speech", "music")),
    "clipping": (["clip"], ("speech", "music")),
}
NEURAL_VOICE_MODEL = "dsunet-voice"  # --neural-model: the model of the "neural-voice" system
AURAL = ("voice", "voice-repair", "voice_restore", "voice_restore-repair", "voice_dsp", "voice_dsp-repair",
         "music", "music_denoise", "music_neural", "vinyl", "neural", "neural-voice")


# ----------------------------------------------------------------------------- dev set
def _excerpt(recipe, files: list[str], n: int, rng: np.random.Generator) -> np.ndarray:
    for k in range(20):
        x = recipe.audio(files[int(rng.integers(0, len(files)))])
        if len(x) < n:
            if k < 10:  # prefer files long enough; then loop a short one (music loops)
                continue
            x = np.tile(x, n // max(1, len(x)) + 1)
        s = int(rng.integers(0, len(x) - n + 1))
        seg = x[s:s + n]
        # active enough: at least 40 % of 20 ms frames within 30 dB of the loudest
        fr = seg[: n // 960 * 960].reshape(-1, 960)
        e = 10 * np.log10(np.mean(fr.astype(np.float64) ** 2, axis=1) + 1e-12)
        if np.max(np.abs(seg)) > 1e-3 and np.mean(e > e.max() - 30) > 0.4:
            return seg
    return seg


HARVARD = (  # Harvard sentences (IEEE 1969), public domain; spoken by espeak-ng for --espeak
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.", "A rod is used to catch pink salmon.",
)
ESPEAK_CAT = "dry synthetic speech in noise"


def _espeak_clean(i: int, n: int) -> np.ndarray:
    """Two Harvard sentences by espeak-ng (dry, no reverb), 48 kHz, peak 0.3, cut/padded to n."""
    import subprocess
    import tempfile

    import soundfile as sf
    from scipy.signal import resample_poly

    parts = []
    with tempfile.TemporaryDirectory() as d:
        for k in (i, i + 1):
            w = f"{d}/s.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", w,
                            HARVARD[k % len(HARVARD)]], check=True)
            x, sr = sf.read(w, dtype="float32")
            g = math.gcd(int(sr), RATE)
            parts.append(resample_poly(x, RATE // g, int(sr) // g).astype(np.float32))
    x = np.concatenate(parts)
    x = np.concatenate([x, np.zeros(max(0, n - len(x)), np.float32)])[:n]
    return (0.3 * x / max(1e-9, float(np.max(np.abs(x))))).astype(np.float32)


def build_devset(clips: int, seconds: float, seed: int = 20240,
                 espeak: bool = False) -> dict[str, list[dict]]:
    """{category: [{"clean", "degraded", "kind", "meta"}]} from the dev split of the recipe."""
    from aural.models.data import Recipe, is_reserved

    recipe = Recipe(sample_rate=RATE, seed=seed, dry_speech=1.0)
    files = {k: recipe.files(k, "dev") for k in ("speech", "music", "dry_speech")}
    for k, fl in files.items():
        if not fl:
            raise SystemExit(f"no {k} dev files: run scripts/setup.d/50-data.sh")
        assert not any(is_reserved(f) for f in fl), "a reserved file reached the dev set"
    deg = recipe.degrader("dev")
    n = int(round(seconds * RATE))
    out: dict[str, list[dict]] = {}
    for ci, (cat, (force, kinds)) in enumerate(CATEGORIES.items()):
        items = []
        for i in range(clips):
            rng = np.random.default_rng([seed, 77, ci, i])
            kind = kinds[i % len(kinds)]
            if kind == "dry_speech":  # studio prompts joined with pauses, as the recipe does
                clean, kind = recipe._joined(files[kind], n, rng), "speech"
            else:
                clean = _excerpt(recipe, files[kind], n, rng)
            y, t, meta = deg(clean, rng, force=force)
            items.append({"clean": t, "degraded": y, "kind": kind, "meta": meta})
        out[cat] = items
    if espeak:  # dry reference speech: the recipe's speech is reverberant game voice acting
        items = []
        for i in range(clips):
            rng = np.random.default_rng([seed, 78, i])
            y, t, meta = deg(_espeak_clean(i, n), rng, force=["noise"])
            items.append({"clean": t, "degraded": y, "kind": "speech", "meta": meta})
        out[ESPEAK_CAT] = items
    return out


# ----------------------------------------------------------------------------- systems
class AuralSystem:
    def __init__(self, name: str, neural_model: str = NEURAL_VOICE_MODEL,
                 atten_limit: float | None = None) -> None:
        from aural.engine.graph import Chain
        from aural.engine.presets import load_preset

        self.name = name
        if name in ("neural", "neural-voice"):
            from aural.models import NeuralEnhancer
            model = "dsunet-small" if name == "neural" else neural_model
            kw = {} if atten_limit is None else {"atten_limit": float(atten_limit)}
            self.graph = Chain([NeuralEnhancer(model=model, threads=1, **kw)], name=name)
            self.label = f"aural NeuralEnhancer ({model})" + _limit_label(atten_limit)
        elif name.endswith("-repair"):  # a preset with its EQ, dynamics, filters bypassed
            from aural.engine.presets import repair_only
            base = name[: -len("-repair")]
            self.graph = repair_only(load_preset(base))
            self.label = f"aural {base}, repair nodes only"
        else:
            self.graph = load_preset(name)
            self.label = f"aural {name}"
        self.graph.prepare(RATE, 1, BLOCK)
        self.latency = int(self.graph.latency_samples)
        self.streams = True
        #: file mode: the graph learns each clip's head first (aural.engine.learn), as
        #: ``aural enhance`` does for a file; off: a live stream from the first sample
        self.file_mode = False

    def reset(self) -> None:
        self.graph.reset()

    def process(self, x: np.ndarray) -> np.ndarray:
        if self.file_mode:
            from aural.engine.learn import learn_head
            learn_head(self.graph, x[None, :].astype(np.float32))
        return self.graph(x[None, :], RATE, buffer_size=BLOCK, reset=True)[0]  # latency-compensated


def _limit_label(atten_limit: float | None) -> str:
    return "" if atten_limit is None else f", limit {atten_limit:g} dB"


class PeerSystem:
    def __init__(self, key: str, probe: np.ndarray, atten_limit: float | None = None) -> None:
        if key == "deepfilternet3" and atten_limit is not None:
            self.peer = PEERS[key](atten_lim_db=float(atten_limit))
        else:
            self.peer = PEERS[key]()
            atten_limit = None
        self.name = key
        self.label = self.peer.name + _limit_label(atten_limit)
        self.streams = self.peer.streams
        self.delay = measure_delay(self.peer, probe)
        self.latency = (self.delay + self.peer.frame - 1) if self.streams else None

    def reset(self) -> None:
        self.peer.reset()  # DeepFilterNet3: a fresh df_create (model load), outside the timing

    def process(self, x: np.ndarray) -> np.ndarray:
        y = self.peer.process(x)
        d = self.delay
        if d:
            y = np.concatenate([y[d:], np.zeros(d, np.float32)])
        return y


def latency_text(sys_) -> str:
    if sys_ is None:
        return "-"
    if sys_.latency is None:
        return "offline" + (" (20 ms if streamed)" if sys_.name == "nsnet2" else "")
    return f"{1000.0 * sys_.latency / RATE:.1f}"


# ----------------------------------------------------------------------------- run
def run(clips: int, seconds: float, systems: list[str], seed: int, log=print,
        espeak: bool = False, categories: list[str] | None = None,
        neural_model: str = NEURAL_VOICE_MODEL, atten_limit: float | None = None) -> dict:
    from aural.engine.quality import pesq_wb, stoi
    from aural.engine.metrics import log_spectral_distance, si_sdr

    t0 = time.monotonic()
    dev = build_devset(clips, seconds, seed, espeak)
    probe = next(it["clean"] for it in dev["speech in noise"])
    if categories:
        dev = {k: v for k, v in dev.items() if k in categories}
    log(f"dev set: {sum(len(v) for v in dev.values())} clips of {seconds:g} s at {RATE} Hz "
        f"({time.monotonic() - t0:.0f} s)")
    objs: dict[str, object] = {"input": None}
    skipped = {}
    for s in systems:
        try:
            objs[s] = (AuralSystem(s, neural_model, atten_limit) if s in AURAL
                       else PeerSystem(s, probe, atten_limit))
        except PeerUnavailable as e:
            skipped[s] = str(e)
            log(f"skip {s}: {e}")
            continue
        o = objs[s]
        o.reset()
        o.process(probe[: RATE // 2])  # warm-up: JIT, sessions
        log(f"{o.label}: latency {latency_text(o)}"
            + (f" (in-stream delay {o.delay})" if isinstance(o, PeerSystem) else ""))
    res: dict = {"rate": RATE, "clips": clips, "seconds": seconds, "seed": seed, "skipped": skipped,
                 "systems": {k: {"label": (v.label if v else "input (degraded)"),
                                 "latency_ms": (None if v is None or v.latency is None
                                                else 1000.0 * v.latency / RATE),
                                 "latency": latency_text(v)} for k, v in objs.items()},
                 "categories": {}}
    for cat, items in dev.items():
        rc: dict = {}
        for key, o in objs.items():
            cpu = 0.0
            dur = 0.0
            vals = {"pesq": [], "stoi": [], "si_sdr": [], "lsd": [], "si_sdr_speech": [], "si_sdr_music": []}
            for it in items:
                x, c = it["degraded"], it["clean"]
                if o is None:
                    y = x
                else:
                    o.reset()
                    t = time.process_time()
                    y = o.process(x)
                    cpu += time.process_time() - t
                    dur += len(x) / RATE
                y = np.asarray(y, np.float32)
                vals["si_sdr"].append(si_sdr(c, y))
                vals["si_sdr_speech" if it["kind"] == "speech" else "si_sdr_music"].append(vals["si_sdr"][-1])
                vals["lsd"].append(log_spectral_distance(c, y, n_fft=2048))
                if it["kind"] == "speech":
                    vals["pesq"].append(pesq_wb(c, y, RATE))
                    vals["stoi"].append(stoi(c, y, RATE))
            row = {}
            for k, v in vals.items():
                a = np.array(v, np.float64)
                a = a[np.isfinite(a)]
                row[k] = float(a.mean()) if len(a) else float("nan")
            row["rtf"] = cpu / dur if dur else None
            rc[key] = row
        res["categories"][cat] = rc
        log(f"{cat}: done ({time.monotonic() - t0:.0f} s)")
    res["wall_s"] = time.monotonic() - t0
    return res


def _f(v, fmt: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return fmt.format(v)


def markdown(res: dict) -> str:
    lines = []
    for cat, rows in res["categories"].items():
        inp = rows["input"]
        base = inp["si_sdr"]
        both = all(math.isfinite(inp.get(k, math.nan)) for k in ("si_sdr_speech", "si_sdr_music"))
        split = " ΔSI-SDR speech / music dB |" if both else ""
        lines += [f"### {cat}", "",
                  "| system | PESQ-wb | STOI | SI-SDR dB | ΔSI-SDR dB |" + split
                  + " LSD dB | RTF (1 thread) | latency ms |",
                  "|---|---|---|---|---|" + ("---|" if both else "") + "---|---|---|"]
        for key, r in rows.items():
            s = res["systems"][key]
            halves = (f" {_f(r['si_sdr_speech'] - inp['si_sdr_speech'], '{:+.2f}')} / "
                      f"{_f(r['si_sdr_music'] - inp['si_sdr_music'], '{:+.2f}')} |") if both else ""
            lines.append(f"| {s['label']} | {_f(r['pesq'], '{:.2f}')} | {_f(r['stoi'], '{:.3f}')} | "
                         f"{_f(r['si_sdr'], '{:.2f}')} | {_f(r['si_sdr'] - base, '{:+.2f}')} |{halves} "
                         f"{_f(r['lsd'], '{:.2f}')} | {_f(r['rtf'], '{:.3f}')} | {s['latency']} |")
        lines.append("")
    return "\n".join(lines)


def write_json(path: str | None, res: dict) -> None:
    """Write the figures as JSON at ``path`` (folders made), if one is given."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(res, indent=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 clips x 3 s per category")
    ap.add_argument("--clips", type=int, help="clips per category (default 20)")
    ap.add_argument("--seconds", type=float, help="clip length (default 4)")
    ap.add_argument("--seed", type=int, default=20240)
    ap.add_argument("--systems", default=",".join(AURAL + tuple(PEERS)),
                    help="comma list of: " + ", ".join(AURAL + tuple(PEERS)))
    ap.add_argument("--espeak", action="store_true",
                    help=f"add a '{ESPEAK_CAT}' category: dry espeak-ng Harvard sentences with "
                         "the same noise degradation (needs espeak-ng)")
    ap.add_argument("--categories", help="comma list of categories to score (default: all)")
    ap.add_argument("--json", help="also write the figures as JSON here")
    ap.add_argument("--neural-model", default=NEURAL_VOICE_MODEL,
                    help="model (shipped name or .onnx) of the neural-voice system (default %(default)s)")
    ap.add_argument("--atten-limit", type=float, default=None, metavar="DB",
                    help="attenuation limit of the neural, neural-voice and DeepFilterNet3 "
                         "systems, for a comparison at equal settings (default: each one's own, "
                         "20 and 100 dB; presets keep theirs)")
    a = ap.parse_args(argv)
    clips = a.clips or (4 if a.quick else 20)
    seconds = a.seconds or (3.0 if a.quick else 4.0)
    systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    bad = [s for s in systems if s not in AURAL and s not in PEERS]
    if bad:
        ap.error(f"unknown system(s): {', '.join(bad)}")
    cats = [c.strip() for c in a.categories.split(",")] if a.categories else None
    known = list(CATEGORIES) + [ESPEAK_CAT]
    if cats and any(c not in known for c in cats):
        ap.error(f"unknown category; one of: {', '.join(known)}")
    res = run(clips, seconds, systems, a.seed, log=lambda m: print(m, file=sys.stderr, flush=True),
              espeak=a.espeak, categories=cats, neural_model=a.neural_model,
              atten_limit=a.atten_limit)
    write_json(a.json, res)
    print(f"<!-- {clips} clips x {seconds:g} s per category, {RATE} Hz, seed {a.seed}; "
          f"{res['wall_s']:.0f} s -->\n")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
