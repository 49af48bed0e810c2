"""Music dev set at 48 kHz, per category: input, the music presets, the neural model alone.

    python benchmarks/eval_music.py MODEL N       (MODEL: shipped name or .onnx path)
"""
import json
import sys

import numpy as np
from aural.models.data import Recipe
from aural.engine.metrics import si_sdr
from aural.engine.presets import from_dict, read_preset
SR = 48000
model = sys.argv[1]
N = int(sys.argv[2])
music = read_preset("music_neural")
for n in music["nodes"]:
    if n["type"] == "NeuralEnhancer":
        n["params"]["model"] = model
NE = {"type": "NeuralEnhancer", "name": "neural", "params": {"model": model}}
SYSTEMS = {"music": read_preset("music"), "music_denoise": read_preset("music_denoise"),
           "music_neural": music,
           "neural": {"type": "Chain", "name": "c", "nodes": [NE]}}
for v in SYSTEMS.values():
    v.pop("description", None)
procs = {k: from_dict(v) for k, v in SYSTEMS.items()}
CATS = [("none", None), ("noise", "stationary"), ("noise", "real"), ("noise", "babble"), ("hum", None), ("clicks", None),
        ("crackle", None), ("clip", None), ("bandlimit", None), ("reverb", None)]
r = Recipe(sample_rate=SR, seconds=2.0, music_fraction=1.0)
res = {}
for cat, kind in CATS:
    x, t = r.category_examples(cat, N, noise_kind=kind)
    label = ("clean (none)" if cat == "none" else cat) if kind is None else f"{cat}-{kind}"
    row = {"input": float(np.mean([si_sdr(t[i], x[i]) for i in range(len(x))]))}
    for k, p in procs.items():
        row[k] = float(np.mean([si_sdr(t[i], p(x[i], SR)) for i in range(len(x))]))
    res[label] = row
    print(label, " ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
keys = ["input"] + list(procs)
res["mean"] = {k: float(np.mean([res[c][k] for c in res if c != "clean (none)"])) for k in keys}
print("| category | " + " | ".join(keys) + " |")
for c, row in res.items():
    print(f"| {c} | " + " | ".join(f"{row[k]:.2f}" for k in keys) + " |")
json.dump(res, open(f"runs/ev/music_{model.split('/')[-1]}.json", "w"), indent=1)
