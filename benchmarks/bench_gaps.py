"""Gap inpainting benchmark: (a) the seed paper's protocol, (b) real gaps in real audio.

    .venv/bin/python benchmarks/bench_gaps.py [--draws 12] [--patches 128] [--json out.json]

(a) Seed 002's protocol on the project's data: 128 x 128 STFT magnitude patches (16 kHz, n_fft
    256, hop 64: 512 ms x 0-8 kHz) of the recipe's *dev* split (speech: fillets-ng-data-cs,
    music: sonic-pi-samples), one time window of 10-70 % of the patch deleted (zeros) at a random
    place.  PSNR (MAX = 1) and NRMSE (eq. 1-3 of the paper) on the linear magnitude normalised
    to the patch's peak, and on a log scale (dB re the peak over 80 dB mapped to 0..1; the seed's
    NRMSE before, 0.56, is only reachable on such a scale), before (zeros) and after:
    log-magnitude interpolation in time (classical) and the Res-U-Net.
(b) Real gaps: 1 s dev excerpts at 16 kHz, one gap of 5/20/50/100/250 ms (exact zeros) where the
    original is not quiet; methods: zeros (the input), ar (Janssen/LSAR), extrap (forward/backward
    AR, cross-faded), model (spectrogram inpainting + phase), repair (the Repair node's choice:
    AR up to 50 ms, longer: model with AR edges).  SNR and LSD (n_fft 256) inside the gap, mean
    and worst over the draws; PESQ-wb of the 1 s excerpt for speech (``pesq``, offline).
Nothing here was used to choose the model (trained on the train split, last checkpoint).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from aural.engine.metrics import log_spectral_distance
from aural.engine.processors._repair_spec import fill_spectral
from aural.engine.processors.repair import Repair, fill_gap, load_model
from aural.models.data import Recipe
from aural.models.inpaint import BINS, FRAMES, HOP, N_FFT, interp_gap, normalise, patch_metrics, stft

SR = 16000
GAPS_MS = (5, 20, 50, 100, 250)
METHODS = ("zeros", "ar", "extrap", "spec", "model", "repair")


def split_audio(rec: Recipe, kind: str, split: str = "dev", max_files: int = 40) -> list[np.ndarray]:
    files = rec.files(kind, split)[:max_files]
    return [a for a in (rec.audio(f) for f in files) if a.size >= SR]


# --------------------------------------------------------------------------- (a) seed protocol
def _logscale(db: np.ndarray, peak_db: float) -> np.ndarray:
    """dB re the patch's peak mapped to [0, 1] over 80 dB (0 = -80 dB or less)."""
    return np.clip((db - peak_db) / 80.0 + 1.0, 0.0, 1.0)


def seed_protocol(clips: list[np.ndarray], n: int, rng: np.random.Generator, model) -> dict:
    """Per patch (PSNR, NRMSE) on the linear-magnitude scale and on the 80 dB log scale, for
    zeros in the deleted window (before), log-magnitude interpolation and the model."""
    specs = [20 * np.log10(np.abs(stft(c, N_FFT, HOP))[:, :BINS].T + 1e-6) for c in clips]
    specs = [s for s in specs if s.shape[1] >= FRAMES]
    res: dict[str, list] = {"zeros": [], "interp": [], "model": []}
    done = 0
    while done < n:
        S = specs[rng.integers(len(specs))]
        t = rng.integers(0, S.shape[1] - FRAMES + 1)
        p = S[:, t:t + FRAMES]
        if p.max() < -50.0:
            continue
        w = int(rng.integers(round(0.1 * FRAMES), round(0.7 * FRAMES) + 1))
        s = int(rng.integers(0, FRAMES - w + 1))
        gap = np.zeros(FRAMES, bool)
        gap[s:s + w] = True
        peak = float(p.max())
        ref_lin, ref_log = 10.0 ** ((p - peak) / 20.0), _logscale(p, peak)
        pn, rdb = normalise(p, ~gap)
        zeros_db = p.copy()
        zeros_db[:, gap] = -np.inf
        ests = {"zeros": zeros_db, "interp": interp_gap(pn, gap) * 20.0 + rdb}
        if model is not None:
            ests["model"] = model.fill(pn, gap) * 20.0 + rdb
        for k, db in ests.items():
            res[k].append(patch_metrics(10.0 ** ((db - peak) / 20.0), ref_lin)
                          + patch_metrics(_logscale(db, peak), ref_log))
        done += 1
    return {k: np.array(v) for k, v in res.items() if v}


# --------------------------------------------------------------------------- (b) real gaps
def _snr(ref: np.ndarray, est: np.ndarray) -> float:
    return 10 * math.log10(np.sum(ref ** 2) / max(np.sum((est - ref) ** 2), 1e-20))


def _pesq(ref: np.ndarray, est: np.ndarray) -> float:
    try:
        from pesq import pesq
        return float(pesq(SR, ref.astype(np.float64), est.astype(np.float64), "wb"))
    except Exception:  # noqa: BLE001 (no utterance found, package missing)
        return float("nan")


def real_gaps(clips: list[np.ndarray], kind: str, draws: int, seed: int, model,
              short_ms: float) -> dict:
    out: dict = {}
    for ms in GAPS_MS:
        L = int(ms * SR / 1000)
        rows: dict[str, list] = {m: [] for m in METHODS}
        for d in range(draws):
            rng = np.random.default_rng([seed, GAPS_MS.index(ms), d, kind == "music"])
            for _ in range(200):
                c = clips[rng.integers(len(clips))]
                if c.size < SR:
                    continue
                o = int(rng.integers(0, c.size - SR + 1))
                x = c[o:o + SR].astype(np.float64)
                s = SR // 2 - L // 2 + int(rng.integers(-SR // 10, SR // 10))
                e = s + L
                if np.sqrt(np.mean(x[s:e] ** 2)) > 0.01:
                    break
            y = x.copy()
            y[s:e] = 0.0
            m0, m1 = max(0, s - N_FFT // 2), min(SR, e + N_FFT // 2)
            for m in METHODS:
                z = y.copy()
                if m == "spec":
                    z[s:e] = fill_spectral(z, s, e, SR, None)
                elif m == "model":
                    fill_gap(z, s, e, SR, "model", model=model)
                elif m == "repair":
                    fill_gap(z, s, e, SR, "auto", short_ms, model=model)
                elif m != "zeros":
                    fill_gap(z, s, e, SR, m)
                rec = [_snr(x[s:e], z[s:e]), log_spectral_distance(x[m0:m1], z[m0:m1], N_FFT, HOP)]
                if kind == "speech":
                    rec.append(_pesq(x, z))
                rows[m].append(rec)
        out[ms] = {m: np.array(v) for m, v in rows.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=12, help="gaps per length and kind (default 12)")
    ap.add_argument("--patches", type=int, default=128, help="seed-protocol patches per kind")
    ap.add_argument("--seed", type=int, default=20240)
    ap.add_argument("--model", help="ONNX model (default: models/weights/inpaint-resunet.onnx)")
    ap.add_argument("--json", help="write the numbers here")
    ap.add_argument("--split", default="dev", choices=("dev", "train"),
                    help="score on the dev split (default; published) or train (for choosing)")
    ap.add_argument("--short-ms", type=float, default=None,
                    help="the repair row's AR/model threshold (default: Repair's)")
    a = ap.parse_args(argv)
    t0 = time.time()
    model = load_model(a.model)
    if model is None:
        print("warning: no inpainting model; model rows are skipped", file=sys.stderr)
    rec = Recipe(sample_rate=SR, max_files=400)
    short_ms = a.short_ms if a.short_ms is not None else Repair().v("short_ms")
    result: dict = {"seed_protocol": {}, "real_gaps": {}}
    print(f"(a) seed 002 protocol: 128x128 magnitude patches, 10-70 % deleted, {a.split} split")
    print(f"{'kind':7} {'scale':6} {'method':7} {'PSNR before':>11} {'after':>7} {'gain':>6} "
          f"{'NRMSE before':>12} {'after':>6}")
    clips = {k: split_audio(rec, k, a.split) for k in ("speech", "music")}
    for kind in ("speech", "music"):
        r = seed_protocol(clips[kind], a.patches, np.random.default_rng([a.seed, kind == "music"]), model)
        b = r["zeros"]
        result["seed_protocol"][kind] = {}
        for j, scale in ((0, "linear"), (2, "log")):
            for m in ("interp", "model"):
                if m not in r:
                    continue
                v = r[m]
                row = {"psnr_before": float(b[:, j].mean()), "psnr_after": float(v[:, j].mean()),
                       "gain_db": float((v[:, j] - b[:, j]).mean()),
                       "nrmse_before": float(b[:, j + 1].mean()),
                       "nrmse_after": float(v[:, j + 1].mean()), "patches": int(len(v))}
                result["seed_protocol"][kind][f"{m}_{scale}"] = row
                print(f"{kind:7} {scale:6} {m:7} {row['psnr_before']:11.1f} {row['psnr_after']:7.1f} "
                      f"{row['gain_db']:+6.1f} {row['nrmse_before']:12.3f} {row['nrmse_after']:6.3f}")
    print(f"\n(b) real gaps, 16 kHz {a.split} excerpts, {a.draws} draws: SNR in gap dB mean/worst, "
          "LSD dB mean/worst, PESQ-wb (speech) mean")
    for kind in ("speech", "music"):
        r = real_gaps(clips[kind], kind, a.draws, a.seed, model, short_ms)
        result["real_gaps"][kind] = {}
        print(f"{kind:7} {'gap':>5} " + " ".join(f"{m:>22}" for m in METHODS))
        for ms, rows in r.items():
            cells = []
            result["real_gaps"][kind][str(ms)] = {}
            for m in METHODS:
                v = rows[m]
                d = {"snr_mean": float(v[:, 0].mean()), "snr_worst": float(v[:, 0].min()),
                     "lsd_mean": float(v[:, 1].mean()), "lsd_worst": float(v[:, 1].max())}
                if v.shape[1] > 2:
                    d["pesq_mean"] = float(np.nanmean(v[:, 2]))
                result["real_gaps"][kind][str(ms)][m] = d
                pq = f" {d['pesq_mean']:.2f}" if "pesq_mean" in d else ""
                cells.append(f"{d['snr_mean']:5.1f}/{d['snr_worst']:5.1f} "
                             f"{d['lsd_mean']:4.1f}/{d['lsd_worst']:4.1f}{pq}")
            print(f"{'':7} {ms:>3}ms " + " ".join(f"{c:>22}" for c in cells))
    result["seconds"] = round(time.time() - t0, 1)
    print(f"\n{result['seconds']} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
