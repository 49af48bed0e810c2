"""benchmarks/bench_quality.py's table (the speech / music split of ΔSI-SDR in mixed categories) and
bench_steady_noise.py's signals and scoring."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# the script pins its libraries to one thread through the environment at import: keep this
# process's environment as it was
_env = dict(os.environ)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_quality as bq  # noqa: E402

os.environ.clear()
os.environ.update(_env)


def _row(si, sp, mu):
    return {"pesq": 2.0, "stoi": 0.9, "si_sdr": si, "lsd": 5.0, "rtf": 0.1,
            "si_sdr_speech": sp, "si_sdr_music": mu}


def test_markdown_splits_si_sdr_change_by_clip_kind_only_where_both_kinds_are_scored():
    nan = float("nan")
    res = {"systems": {"input": {"label": "input (degraded)", "latency": "-"},
                       "voice": {"label": "aural voice", "latency": "19.7"}},
           "categories": {
               "clicks": {"input": _row(15.0, 14.0, 16.0), "voice": _row(13.0, 17.5, 8.5)},
               "music in noise": {"input": _row(7.0, nan, 7.0), "voice": _row(8.0, nan, 8.0)}}}
    md = bq.markdown(res).splitlines()
    clicks, music = md.index("### clicks"), md.index("### music in noise")
    assert "ΔSI-SDR speech / music dB" in md[clicks + 2]
    row = next(line for line in md[clicks:music] if line.startswith("| aural voice"))
    assert "| -2.00 | +3.50 / -7.50 |" in row  # all clips, then speech and music apart
    assert "speech / music" not in md[music + 2]
    row = next(line for line in md[music:] if line.startswith("| aural voice"))
    assert "| +1.00 | 5.00 |" in row
    assert all(line.count("|") == md[music + 2].count("|") for line in md[music + 2:] if line.startswith("|"))


def test_steady_noise_benchmark_signals_have_their_colour_and_a_known_system_scores_its_gain(monkeypatch):
    """bench_steady_noise.py's noise: octave bands of white noise rise 3 dB per octave, pink are
    flat, brown fall 3 dB; a system that halves its input scores 6.02 dB removed in every band."""
    import numpy as np

    import bench_steady_noise as bs
    os.environ.clear()
    os.environ.update(_env)
    n = int(bs.SECONDS * bs.RATE)
    for colour, slope in (("white", 3.0), ("pink", 0.0), ("brown", -3.0)):
        p = 10 * np.log10(bs.band_powers(bs.coloured_noise(bs.COLOURS[colour], n, 1)))
        steps = np.diff(p[2:])  # 250 Hz upward: whole octaves of many Welch bins
        assert np.all(np.abs(steps - slope) < 0.6), (colour, steps)

    class Half:
        label = "half"

        def reset(self):
            pass

        def process(self, x):
            return 0.5 * x

    monkeypatch.setattr(bs, "make_system", lambda name, model, probe: Half())
    monkeypatch.setattr(bs.bq, "build_devset", lambda clips, seconds, seed: {
        "dry speech in noise": [{"clean": np.sin(np.arange(n) * 0.05).astype(np.float32)}]})
    res = bs.run(["neural-voice"], "m", 0, log=lambda m: None)
    noise = [r for r in res["rows"] if r["kind"] == "noise"]
    assert len(noise) == 6 and all(abs(v - 6.02) < 0.01 for r in noise for v in r["db_removed"])
    assert "| half | pink | -20 | 6.0 |" in bs.markdown(res)
