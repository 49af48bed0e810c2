"""The lean install a user gets for the main job, and a clone that needs nothing beside it.

`pip install .` (a built wheel, not editable) into a fresh virtual environment must run
`aural enhance` on the bundled example with the core dependencies only: no torch, no browser
driver, no JACK, no Flask.  The wheel is built from this checkout and installed in a temporary
venv (dependencies come from the package index or pip's cache, as for a user).
"""
from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
EXTRAS_ONLY = ("torch", "flask", "playwright", "jack", "pesq", "pystoi", "onnx", "pythonosc")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def lean_venv(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("lean")
    wheels = tmp / "wheels"
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
              "-w", str(wheels), str(ROOT)], cwd=tmp)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = wheels.glob("aural-*.whl")
    venv = tmp / "venv"
    r = _run([sys.executable, "-m", "venv", str(venv)])
    assert r.returncode == 0, r.stderr[-2000:]
    r = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
              "--disable-pip-version-check", str(wheel)], cwd=tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    return {"wheel": wheel, "venv": venv, "tmp": tmp}


def test_wheel_holds_the_package_data_the_main_job_needs(lean_venv):
    names = zipfile.ZipFile(lean_venv["wheel"]).namelist()
    for need in ("aural/examples/speech_noisy.flac", "aural/engine/presets/voice.json",
                 "aural/models/weights/dsunet-voice.onnx", "aural/models/reserved.txt"):
        assert need in names, need
    # one namespace: nothing generic at the top level of site-packages
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"aural"}


def test_lean_install_enhances_the_bundled_example_without_extras(lean_venv):
    py = lean_venv["venv"] / "bin" / "python"
    aural = lean_venv["venv"] / "bin" / "aural"
    # the extras are not there, and the core does not need them
    probe = ("import importlib.util as u; "
             f"print(','.join(m for m in {EXTRAS_ONLY!r} if u.find_spec(m)))")
    r = _run([str(py), "-c", probe], cwd=lean_venv["tmp"])
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr
    r = _run([str(py), "-c", "import aural, os; print(os.path.dirname(aural.__file__))"],
             cwd=lean_venv["tmp"])
    pkg = Path(r.stdout.strip())
    assert r.returncode == 0 and "site-packages" in str(pkg) and ROOT not in pkg.parents
    example = pkg / "examples" / "speech_noisy.flac"
    out = lean_venv["tmp"] / "enhanced.flac"
    r = _run([str(aural), "enhance", str(example), "-o", str(out), "--preset", "voice"],
             cwd=lean_venv["tmp"], timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    x, sr = sf.read(example, dtype="float32")
    y, sr2 = sf.read(out, dtype="float32")
    assert sr2 == sr and y.shape == x.shape
    assert np.all(np.isfinite(y)) and 0.01 < np.sqrt(np.mean(y ** 2)) < 1.0
    # the neural node ran: the output is not the input
    assert np.sqrt(np.mean((y - x) ** 2)) > 1e-3
    r = _run([str(aural), "info", str(example)], cwd=lean_venv["tmp"])
    assert r.returncode == 0 and "48000" in r.stdout, r.stdout + r.stderr


def test_make_demo_sets_up_the_lean_install_only():
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert re.search(r"^bash scripts/setup\.sh demo$", demo, re.M)
    lean = setup.split('if [ "$MODE" = demo ]; then', 1)[1].split("\nfi\n", 1)[0]
    assert 'pip install -q .' in lean and "exit 0" in lean
    assert "setup.d" not in lean and "[dev]" not in lean and "-e " not in lean


def test_nothing_reads_a_folder_beside_the_checkout():
    """Tests and runtime code never read the folder beside the checkout: a user has none."""
    pat = re.compile(r"""(\.\./shared|["']shared["']\s*[,/)]|/\s*["']shared["'])""")
    hits = []
    for folder in ("aural", "engine", "models", "plugins", "realtime", "web", "tests", "scripts"):
        for f in (ROOT / folder).rglob("*.py"):
            if f.name == Path(__file__).name:
                continue
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if pat.search(line) and not line.lstrip().startswith("#"):
                    hits.append(f"{f.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)
