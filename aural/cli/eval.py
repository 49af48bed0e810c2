"""``aural eval CLEAN_DIR DEGRADED_DIR``: score processed (or degraded) files against clean ones.

Files are paired by their path relative to each folder without the extension (``a/x.flac`` in
CLEAN_DIR pairs with ``a/x.wav`` in DEGRADED_DIR).  For every pair: SNR, PSNR, NRMSE, SI-SDR,
log-spectral distance, PESQ-wb and STOI (:func:`aural.engine.quality.score`), then the means.

Exit status: 0 when every file had a partner and was scored; 1 when a file could not be read or
scored, or a name had no partner (the table still shows every pair that was scored; each
problem is one line on stderr); 2 for bad usage.
"""
from __future__ import annotations

import csv
import math
import os
import sys

from .common import CliError, table

__all__ = ["pair_files", "register", "run"]

AUDIO_EXT = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".caf",
             ".w64", ".rf64", ".au", ".snd"}
HEADERS = {"snr": "SNR dB", "psnr": "PSNR dB", "nrmse": "NRMSE", "si_sdr": "SI-SDR dB",
           "lsd": "LSD dB", "pesq": "PESQ-wb", "stoi": "STOI"}
FORMATS = {"nrmse": "{:.4f}", "pesq": "{:.2f}", "stoi": "{:.3f}"}


def _index(folder: str) -> dict[str, str]:
    """stem of the relative path -> path, for every audio file under ``folder``."""
    out: dict[str, str] = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            stem, ext = os.path.splitext(f)
            if ext.lower() not in AUDIO_EXT:
                continue
            rel = os.path.relpath(os.path.join(root, stem), folder)
            out.setdefault(rel, os.path.join(root, f))
    return out


def pair_files(clean_dir: str, other_dir: str) -> tuple[list[tuple[str, str, str]], list[str], list[str]]:
    """(pairs as (name, clean path, other path), names only in clean_dir, names only in other_dir)."""
    for d in (clean_dir, other_dir):
        if not os.path.isdir(d):
            raise CliError(f"{d}: not a directory")
    a, b = _index(clean_dir), _index(other_dir)
    pairs = [(k, a[k], b[k]) for k in sorted(a) if k in b]
    return pairs, sorted(set(a) - set(b)), sorted(set(b) - set(a))


def register(sub) -> None:
    p = sub.add_parser("eval", help="score files against clean references (SNR, SI-SDR, PESQ, STOI, ...)",
                       description="Pair the audio files of CLEAN_DIR and DEGRADED_DIR by name (path "
                                   "without extension), score each pair (SNR, PSNR, NRMSE, SI-SDR, "
                                   "log-spectral distance, PESQ-wb, STOI) and print a table with "
                                   "the means.  Exit status 1 if a file could not be scored or a "
                                   "name has no partner.")
    p.add_argument("clean_dir", metavar="CLEAN_DIR", help="folder of clean reference files")
    p.add_argument("degraded_dir", metavar="DEGRADED_DIR",
                   help="folder of degraded or processed files with the same names")
    p.add_argument("--csv", action="store_true", help="print CSV (one row per pair, then 'mean')")
    p.add_argument("--no-perceptual", dest="perceptual", action="store_false",
                   help="skip PESQ and STOI (the slow ones)")
    p.set_defaults(func=run)


def _fmt(key: str, v: float) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return FORMATS.get(key, "{:.2f}").format(v)


def _score_pair(clean_path: str, other_path: str, perceptual: bool) -> tuple[dict, str | None]:
    from aural.engine.io import read_audio
    from aural.engine.quality import score

    ref, sr = read_audio(clean_path)
    est, sr2 = read_audio(other_path)
    if sr != sr2:
        raise CliError(f"{other_path}: sample rate {sr2} Hz differs from {clean_path} ({sr} Hz)")
    if ref.shape[0] != est.shape[0]:
        raise CliError(f"{other_path}: {est.shape[0]} channel(s), {clean_path} has {ref.shape[0]}")
    note = None
    n = min(ref.shape[1], est.shape[1])
    if ref.shape[1] != est.shape[1]:
        note = (f"{other_path}: length {est.shape[1]} frames differs from the reference's "
                f"{ref.shape[1]}; scored the first {n}")
    return score(ref[:, :n], est[:, :n], sr, perceptual=perceptual), note


def run(args) -> int:
    import numpy as np

    from aural.engine.io import AudioFileError
    from aural.engine.quality import METRICS

    pairs, only_clean, only_other = pair_files(args.clean_dir, args.degraded_dir)
    status = 0
    for name in only_clean:
        print(f"aural eval: {name}: only in {args.clean_dir} (no partner)", file=sys.stderr)
        status = 1
    for name in only_other:
        print(f"aural eval: {name}: only in {args.degraded_dir} (no partner)", file=sys.stderr)
        status = 1
    if not pairs:
        raise CliError(f"no files with the same name in {args.clean_dir} and {args.degraded_dir}")
    rows: list[tuple[str, dict]] = []
    for name, cp, op in pairs:
        try:
            vals, note = _score_pair(cp, op, args.perceptual)
        except (AudioFileError, CliError, ValueError) as e:
            print(f"aural eval: error: {' '.join(str(e).split())}", file=sys.stderr)
            status = 1
            continue
        if note:
            print(f"aural eval: warning: {note}", file=sys.stderr)
        rows.append((name, vals))
    if not rows:
        raise CliError("no pair could be scored")
    keys = [k for k in METRICS if args.perceptual or k not in ("pesq", "stoi")]
    means = {}
    for k in keys:
        v = np.array([r[k] for _, r in rows], np.float64)
        v = v[np.isfinite(v)]
        means[k] = float(v.mean()) if len(v) else float("nan")
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["file"] + keys)
        for name, r in rows:
            w.writerow([name] + [repr(round(r[k], 6)) if math.isfinite(r[k]) else "" for k in keys])
        w.writerow(["mean"] + [repr(round(means[k], 6)) if math.isfinite(means[k]) else "" for k in keys])
    else:
        out = [("file",) + tuple(HEADERS[k] for k in keys)]
        out += [(name,) + tuple(_fmt(k, r[k]) for k in keys) for name, r in rows]
        out.append((f"mean ({len(rows)} pairs)",) + tuple(_fmt(k, means[k]) for k in keys))
        table(out)
    return status
