"""``aural info FILE``: format, rate, channels, duration, levels, loudness, blind SNR, hum, and
the analysis behind the ``auto`` preset (noise, hum, clicks, clipping, band limit, content)."""
from __future__ import annotations

from .common import fmt_db, fmt_time

HUM_SECONDS = 60.0  # hum is looked for in the first minute


def register(sub) -> None:
    p = sub.add_parser("info", help="show an audio file's format, levels, loudness, SNR and hum",
                       description="Read an audio file (streaming) and print its format, sample "
                                   "rate, channels, duration, peak and RMS level, integrated "
                                   "loudness, a blind SNR estimate and whether mains hum is "
                                   f"present (looked for in the first {HUM_SECONDS:.0f} s).")
    p.add_argument("file", help="audio file (WAV, FLAC, OGG, MP3, ...)")
    p.set_defaults(func=run)


W = len("auto preset")  # width of the labels column


def _row(key: str, value: str) -> None:
    print(f"{key:<{W}}  {value}", flush=True)


def run(args) -> int:
    from aural.engine.io import AudioFileError, audio_info

    info = audio_info(args.file)
    if info.frames == 0:
        raise AudioFileError(args.file, "contains no audio frames")
    sr, ch = info.sample_rate, info.channels
    # what the header says comes at once; levels and the analysis follow (they read the audio)
    _row("file", args.file)
    _row("format", info.format_name)
    _row("sample rate", f"{sr} Hz")
    _row("channels", str(ch))

    import numpy as np

    from aural.engine.io import iter_blocks
    from aural.engine.metrics import LevelMeter, detect_hum
    meter = LevelMeter(sr, ch, loudness=True)
    head: list = []
    kept = 0
    for blk in iter_blocks(args.file, 65536):
        meter.add(blk)
        if kept < HUM_SECONDS * sr:
            head.append(blk[:, : int(HUM_SECONDS * sr) - kept])
            kept += head[-1].shape[1]
    first = np.concatenate(head, axis=1)
    hum = detect_hum(first, sr)
    from aural.engine.analysis import analyse
    from aural.engine.auto import build_chain, describe_for_cli
    analysis = analyse(first, sr)  # the same analysis `aural enhance -p auto` uses
    rows = [
        ("duration", f"{meter.frames / sr:.3f} s ({fmt_time(meter.frames / sr)}), {meter.frames} frames"),
        ("peak", fmt_db(meter.peak_dbfs, "dBFS")),
        ("RMS", fmt_db(meter.rms_dbfs, "dBFS")),
        ("loudness", fmt_db(meter.lufs, "LUFS")),
        ("est. SNR", fmt_db(meter.snr_db, "dB") + "  (blind, from quiet vs active frames)"),
    ]
    if hum is None:
        rows.append(("hum", "none detected"))
    else:
        hs = ", ".join(f"{k * hum['f0']:g}" for k in hum["harmonics"])
        rows.append(("hum", f"yes: {hum['f0']:g} Hz mains (peaks at {hs} Hz, "
                            f"{hum['prominence_db']:.0f} dB above their surroundings, "
                            f"{hum['level_dbfs']:.1f} dBFS)"))
    auto = build_chain(analysis)
    for line in describe_for_cli(analysis):
        rows.append(("analysis", line.removeprefix("found: ")))
    rows.append(("auto preset", " > ".join(n.name for n in auto.children)
                 or "nothing to repair (output = input)"))
    for k, v in rows:
        _row(k, v)
    return 0
