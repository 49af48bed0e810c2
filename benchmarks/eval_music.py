"""Music dev set at 48 kHz, per category: input, the music presets, the neural model alone.

    python benchmarks/eval_music.py MODEL N       (MODEL: shipped name or .onnx path)
"""
import sys

import category_table
from aural.models.data import Recipe
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
r = Recipe(sample_rate=SR, seconds=2.0, music_fraction=1.0)
res = category_table.run(r, procs, N, SR)
print(category_table.markdown(res))
category_table.save(res, f"runs/ev/music_{model.split('/')[-1]}.json")
