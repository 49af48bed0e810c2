"""Dev SI-SDR per degradation category: input, DSP voice, neural, chains.
usage: python benchmarks/eval_categories.py MODEL N SYSTEMS|all speech|music
The reference gets the system's linear nodes (highpass, presence EQ) too: their phase is not an error."""
import sys

import category_table
from aural.models.data import Recipe
from aural.engine.presets import from_dict, read_preset

SR = 16000
model = sys.argv[1] if len(sys.argv) > 1 else "dsunet-small"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 12
which = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] != "all" else None
src = sys.argv[4] if len(sys.argv) > 4 else "speech"
voice = read_preset("voice_dsp")  # the DSP chain; its nodes build the others
nodes = {n["name"]: n for n in voice["nodes"]}
NE = {"type": "NeuralEnhancer", "name": "neural", "params": {"model": model}}
def chain(*names):
    return {"type": "Chain", "name": "c", "nodes": [NE if n == "neural" else nodes[n] for n in names]}
SYSTEMS = {
    "voice": voice,
    "dehum_wiener": chain("dehum", "wiener"),
    "neural": chain("neural"),
    "dehum_neural": chain("dehum", "neural"),
    "neural_wiener": chain("neural", "wiener"),
    "dehum_neural_wiener": chain("dehum", "neural", "wiener"),
    "voice_neural": chain("highpass", "dehum", "neural", "presence", "compressor", "limiter"),
}
if which:
    SYSTEMS = {k: v for k, v in SYSTEMS.items() if k in which}
r = Recipe(sample_rate=SR, seconds=2.0, music_fraction=1.0 if src == "music" else 0.0)
procs = {k: from_dict(v) for k, v in SYSTEMS.items()}
LIN = {k: [n for n in v["nodes"] if n["name"] in ("highpass", "presence")] for k, v in SYSTEMS.items()}
refp = {k: (from_dict({"type": "Chain", "name": "r", "nodes": v}) if v else None) for k, v in LIN.items()}
def ref(k, t):
    return refp[k](t, SR) if refp[k] is not None else t
res = category_table.run(r, procs, N, SR, reference=ref)
print(category_table.markdown(res))
category_table.save(res, f"runs/ev/res_{model.split('/')[-1]}_{src}.json")
