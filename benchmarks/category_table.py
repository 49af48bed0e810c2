"""Shared by eval_categories.py and eval_music.py: SI-SDR per forced degradation category.

    res = run(recipe, procs, n, sample_rate)            # {label: {"input": dB, system: dB}}
    print(markdown(res)); save(res, "runs/ev/name.json")
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable

import numpy as np
from aural.engine.metrics import si_sdr

#: (degradation forced, noise kind) per row of the table
CATEGORIES = [("none", None), ("noise", "stationary"), ("noise", "real"), ("noise", "babble"),
              ("hum", None), ("clicks", None), ("crackle", None), ("clip", None),
              ("bandlimit", None), ("reverb", None)]


def run(recipe, procs: dict, n: int, sample_rate: int,
        reference: Callable[[str, np.ndarray], np.ndarray] | None = None) -> dict:
    """Mean SI-SDR of the input and of every system in ``procs`` on ``n`` examples per category;
    ``reference(system, clean)`` gives the target a system is scored against (default: clean).
    Prints one line per category as it goes; adds a "mean" row over the degraded categories."""
    res = {}
    for cat, kind in CATEGORIES:
        x, t = recipe.category_examples(cat, n, noise_kind=kind)
        label = ("clean (none)" if cat == "none" else cat) if kind is None else f"{cat}-{kind}"
        row = {"input": float(np.mean([si_sdr(t[i], x[i]) for i in range(len(x))]))}
        for k, p in procs.items():
            row[k] = float(np.mean([si_sdr(reference(k, t[i]) if reference else t[i], p(x[i], sample_rate))
                                    for i in range(len(x))]))
        res[label] = row
        print(label, " ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
    keys = ["input"] + list(procs)
    res["mean"] = {k: float(np.mean([res[c][k] for c in res if c != "clean (none)"])) for k in keys}
    return res


def markdown(res: dict) -> str:
    keys = list(res["mean"])
    lines = ["| category | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {c} | " + " | ".join(f"{row[k]:.2f}" for k in keys) + " |" for c, row in res.items()]
    return "\n".join(lines)


def save(res: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
