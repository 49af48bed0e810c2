#!/usr/bin/env python3
"""Score an enhanced version of the bundled example against its clean reference.

    python scripts/score_example.py out/demo/speech_noisy.enhanced.flac --preset voice

Prints SI-SDR, SNR and log-spectral distance of the noisy input and of the enhanced file.  The
preset's EQ and dynamics change the waveform on purpose (a highpass shifts the phase of the voice's
low harmonics, a compressor rides the level), which a waveform metric counts as damage, so the
reference is the clean speech passed through the same preset with its repair nodes bypassed
(``aural.engine.presets.shaping_only``), and "noisy" is the noisy file through that same chain.
"""
from __future__ import annotations

import argparse
import os
import sys

from aural.engine.io import read_audio
from aural.engine.metrics import log_spectral_distance, si_sdr, snr_db
from aural.engine.presets import load_preset, shaping_only

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "aural",
                        "examples")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("enhanced", help="the enhanced file (same length as the example)")
    ap.add_argument("--preset", default="voice", help="the preset that made it (default voice)")
    ap.add_argument("--noisy", default=os.path.join(EXAMPLES, "speech_noisy.flac"))
    ap.add_argument("--clean", default=os.path.join(EXAMPLES, "speech_clean.flac"))
    a = ap.parse_args()
    clean, sr = read_audio(a.clean)
    noisy, sr2 = read_audio(a.noisy)
    enh, sr3 = read_audio(a.enhanced)
    if not sr == sr2 == sr3 or not clean.shape == noisy.shape == enh.shape:
        print("score: the three files differ in rate or shape", file=sys.stderr)
        return 1
    ref_chain = shaping_only(load_preset(a.preset))
    ref = ref_chain(clean, sr)
    base = ref_chain(noisy, sr)
    rows = [("", "SI-SDR dB", "SNR dB", "LSD dB"),
            ("noisy", si_sdr(ref, base), snr_db(ref, base), log_spectral_distance(ref, base)),
            ("enhanced", si_sdr(ref, enh), snr_db(ref, enh), log_spectral_distance(ref, enh))]
    print(f"against the clean reference through {a.preset}'s EQ and dynamics "
          f"({' > '.join(n.name for n in ref_chain.children if not n.bypass)}):")
    print(f"  {rows[0][0]:<10}{rows[0][1]:>10}{rows[0][2]:>9}{rows[0][3]:>9}")
    for name, s1, s2, s3 in rows[1:]:
        print(f"  {name:<10}{s1:>10.1f}{s2:>9.1f}{s3:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
