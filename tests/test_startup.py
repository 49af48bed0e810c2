"""Start-up and first run: ``aural --help`` and ``import aural`` stay light, the public names are
exported lazily, every --help example is valid, and a second process loads the Numba kernels from
the cache instead of compiling them (``aural warmup`` compiles them ahead)."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from aural.engine.io import read_audio, write_audio

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numba", "scipy", "onnxruntime", "pedalboard", "torch", "flask", "sounddevice")
#: --help needs none of the audio stack at all
HELP_HEAVY = HEAVY + ("numpy", "soundfile")


def _py(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)


def _loaded_after(argv: list[str]) -> tuple[list[str], str]:
    """(heavy top-level modules imported, stdout) after ``aural ARGV`` in a fresh process."""
    code = (
        "import io, json, sys, contextlib\n"
        "from aural.cli.main import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HELP_HEAVY!r}))\n"
        "print(json.dumps({'heavy': heavy, 'out': buf.getvalue()}))\n")
    p = _py(code)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return d["heavy"], d["out"]


def test_aural_help_imports_no_heavy_module():
    heavy, out = _loaded_after(["--help"])
    assert heavy == []
    for cmd in ("enhance", "info", "presets", "live", "serve", "warmup", "eval", "train"):
        assert re.search(rf"^\s+{cmd}\s", out, re.M), f"{cmd} missing from aural --help"


@pytest.mark.parametrize("cmd", ["enhance", "info", "presets", "warmup", "live", "eval", "train",
                                 "serve"])
def test_command_help_imports_no_heavy_module(cmd):
    heavy, out = _loaded_after([cmd, "--help"])
    assert heavy == []
    assert out.startswith(f"usage: aural {cmd}")


def test_import_aural_is_light_and_exports_lazily():
    code = (
        "import json, sys\n"
        "def heavy(): return sorted({m.split('.')[0] for m in sys.modules} & "
        f"set({HEAVY + ('numpy',)!r}))\n"
        "import aural\n"
        "a = heavy()\n"
        "names = list(aural.PROCESSORS)\n"
        "b = heavy()\n"
        "print(json.dumps({'bare': a, 'after_names': b, 'names': names, 'all': aural.__all__,\n"
        "                  'dir': dir(aural)}))\n")
    p = _py(code)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["bare"] == []  # import aural: not even numpy
    # listing the processors imports the DSP engine, not the optional onnxruntime/pedalboard
    assert "onnxruntime" not in d["after_names"] and "pedalboard" not in d["after_names"]
    for name in ("NeuralEnhancer", "PedalboardNode", "Wiener", "Limiter", "Butterworth"):
        assert name in d["names"] and name in d["all"] and name in d["dir"]
    for name in ("Chain", "Mix", "load_preset", "read_audio", "plugins", "models", "engine"):
        assert name in d["dir"]
    assert d["names"] == sorted(d["names"])


def test_every_exported_processor_is_the_registered_class():
    import aural
    from aural.engine.processor import REGISTRY, Processor

    for name in aural.PROCESSORS:
        cls = getattr(aural, name)
        assert isinstance(cls, type) and issubclass(cls, Processor), name
        assert cls.__name__ == name and REGISTRY[name] is cls
    assert aural.plugins.PedalboardNode is aural.PedalboardNode
    assert aural.models.NeuralEnhancer is aural.NeuralEnhancer
    from aural import NeuralEnhancer, PedalboardNode, Wiener  # from-import goes the same way

    assert (NeuralEnhancer, PedalboardNode, Wiener) == (aural.NeuralEnhancer,
                                                        aural.PedalboardNode, aural.Wiener)
    with pytest.raises(AttributeError):
        aural.NoSuchProcessor  # noqa: B018


def test_star_import_gives_every_public_name():
    code = "from aural import *\nprint(NeuralEnhancer.__name__, PedalboardNode.__name__, " \
           "Chain.__name__, load_preset.__name__, len(PROCESSORS))"
    p = _py(code)
    assert p.returncode == 0, p.stderr
    words = p.stdout.split()
    assert words[:4] == ["NeuralEnhancer", "PedalboardNode", "Chain", "load_preset"]
    assert int(words[4]) >= 10


def test_the_aural_package_example_runs():
    """The usage example of aural/__init__.py's docstring, on 0.3 s of noise."""
    import aural

    chain = aural.load_preset("voice")
    x = (0.05 * np.random.default_rng(0).standard_normal((1, 14400))).astype(np.float32)
    y = chain(x, 48000)
    assert y.shape == x.shape and y.dtype == np.float32
    assert chain.set("presence.gain_db", 3) == 3.0


# ---------------------------------------------------------------- the examples of the help texts
def _subparsers():
    from aural.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return parser, sub.choices


def _help_examples():
    """(command, preset default, setting) for every --set/-s example, and every quoted
    'aural ...' command line, in the help of every subcommand."""
    parser, subs = _subparsers()
    settings, lines = [], []
    for name, p in subs.items():
        text = " ".join(p.format_help().split())
        preset = next((a.default for a in p._actions if a.dest == "preset"), None)
        for m in re.finditer(r"(?:--set|-s)[ =]([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+=[^\s,;)\]]+)", text):
            settings.append((name, preset, m.group(1)))
        lines += re.findall(r"'(aural [^']+)'", text)
    return parser, settings, lines


def test_help_examples_are_valid():
    from aural.engine.presets import apply_settings, load_preset

    parser, settings, lines = _help_examples()
    assert any(c == "enhance" for c, _, _ in settings)  # the enhance --set example is checked
    for cmd, preset, item in settings:
        assert preset, f"aural {cmd}: --set example {item} but no --preset default"
        chain = load_preset(preset)
        addr, value = item.split("=", 1)
        (done,) = apply_settings(chain, [item])
        assert done[0] == addr and float(chain.get(addr)) == float(value), (cmd, item)
    assert lines  # e.g. 'aural presets NAME', 'aural warmup'
    for line in lines:
        argv = [("voice" if w.isupper() else w) for w in shlex.split(line)[1:]]
        argv = [w for w in argv if w not in ("...",)]
        parser.parse_args(argv)  # argparse exits (SystemExit) on a bad command line


# ---------------------------------------------------------------- Numba's on-disk cache
TINY = {"type": "Chain", "name": "tiny", "nodes": [
    {"type": "Butterworth", "name": "highpass", "params": {"mode": "highpass", "order": 2,
                                                         "cutoff_hz": 80.0}},
    {"type": "Limiter", "name": "limiter", "params": {"ceiling_db": -1.0}}]}


def _aural(args: list, cache: Path, debug: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    env.pop("NUMBA_DISABLE_JIT", None)
    if debug:
        env["NUMBA_DEBUG_CACHE"] = "1"
    p = subprocess.run([sys.executable, "-m", "aural.cli"] + [str(a) for a in args],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def _tone(path: Path, sr: int, ch: int, seconds: float = 0.3) -> None:
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    write_audio(path, np.tile(x.astype(np.float32), (ch, 1)), sr, subtype="PCM_16")


def _compiled(p: subprocess.CompletedProcess) -> list[str]:
    """The kernels a process compiled and saved (NUMBA_DEBUG_CACHE lines)."""
    return [ln for ln in (p.stdout + p.stderr).splitlines() if ln.startswith("[cache] data saved")]


def test_second_process_loads_kernels_from_the_cache(tmp_path):
    from aural.cli.enhance import COMPILING

    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps(TINY))
    cache = tmp_path / "numba-cache"
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    _tone(a, 44100, 2)
    _tone(b, 48000, 1)
    first = _aural(["enhance", a, "-o", tmp_path / "a_out.wav", "-p", preset], cache, debug=True)
    saved = _compiled(first)
    assert saved and list(cache.rglob("*.nbi"))  # the first process compiled and wrote the cache
    # compilation is announced and not counted as processing speed
    assert COMPILING in first.stderr
    m = re.search(r"compiled kernels in ([\d.]+) s first", first.stdout)
    assert m and float(m.group(1)) > 0
    speed = re.search(r"processed [\d.]+ s of audio in ([\d.]+) s", first.stdout)
    assert speed and float(speed.group(1)) < float(m.group(1))
    # a second process, another rate and channel count: nothing compiled, kernels loaded
    second = _aural(["enhance", b, "-o", tmp_path / "b_out.wav", "-p", preset], cache, debug=True)
    assert _compiled(second) == []
    assert "[cache] data loaded" in second.stdout + second.stderr
    assert COMPILING not in second.stderr and "compiled kernels" not in second.stdout
    y, sr = read_audio(tmp_path / "b_out.wav")
    assert sr == 48000 and y.shape == (1, 14400) and 0.2 < np.max(np.abs(y)) <= 0.9


def test_warmup_compiles_what_enhance_and_live_need(tmp_path):
    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps(TINY))
    cache = tmp_path / "numba-cache"
    w = _aural(["warmup", preset, "--rate", 48000, "--channels", 2], cache, debug=True)
    assert _compiled(w) and "1 preset(s) ready" in w.stdout
    a = tmp_path / "a.wav"
    _tone(a, 48000, 2)
    e = _aural(["enhance", a, "-o", tmp_path / "out.wav", "-p", preset], cache, debug=True)
    assert _compiled(e) == []  # warmup left nothing for enhance to compile
    again = _aural(["warmup", preset, "--rate", 48000, "--channels", 2], cache, debug=True)
    assert _compiled(again) == []  # warm: the live path (parameter hooks) is cached too
