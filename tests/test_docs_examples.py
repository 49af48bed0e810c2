"""Every fenced code block of README.md and docs/*.md runs as written (issue 19.2).

Each block is its own test, named ``FILE:LINE`` (the line of its opening fence):

- ```python blocks run in a fresh interpreter (the venv's) in a temporary folder.  Names an
  example takes as given are defined first (:data:`PRELUDE`: ``noisy``, ``audio``, ``block``,
  ``noisy_16k``, ``clean``, ``est``, ``sr``) and every audio file it names (``"in.wav"``,
  ``"take.mp3"``, ...) is there as a short real-speech fixture (a preset ``.json`` it loads by
  path: a copy of ``voice_dsp``; a ``.csv``: gap spans).
- ```bash / ```sh / ```console / ```shell blocks, and blocks with no language: the lines that run
  ``aural ...`` or ``python ...`` (``.venv/bin/python``, ``nice -n 5 python``) run with the
  venv's executables, in order, in one temporary folder that holds links to the project's folders
  (so ``benchmarks/x.py`` and ``tests/data/...`` resolve) and fixtures for the audio files and
  folders they name; in a block with ``$ `` prompts only the prompted lines are commands.  Servers
  and long jobs (:data:`SMOKE`) run as a bounded smoke test: started, checked alive (``aural serve``:
  its first line printed and the page answering), stopped; ``aural live`` may instead stop at
  opening the sound card (the machine has none, or not the one named), after its options, preset
  and ``--set`` values were all accepted.
- Output blocks are labelled by language (```text, ```json, ...) and not run; a ```json block
  that is one graph (a preset) is loaded and run on speech.
- An inline `aural SUB --opt ...` in the prose (or a block's line, a synopsis too) must name a real subcommand and real options
  (checked against ``aural SUB --help``).
- A block that cannot run here (a sound card, installing packages, hours of training) carries
  ``<!-- doc-test: not run: REASON -->`` on the line before its fence; those are checked to give a
  reason and to stay a small minority.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "tests" / "data" / "speech_a.flac"
BIN = Path(sys.executable).parent
DOC_FILES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))

RUN_LANGS = {"python", "py", "bash", "sh", "shell", "console", ""}
SHOW_LANGS = {"text", "json", "output", "csv", "toml", "yaml", "ini", "diff"}
AUDIO_EXT = ("wav", "flac", "mp3", "ogg")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)\s*$")
MARK = re.compile(r"^\s*<!--\s*doc-test:\s*not run\b:?\s*(.*?)\s*-->\s*$")
#: commands that do not end by themselves (or take minutes): started, checked alive, stopped
SMOKE = re.compile(r"^aural (serve|live|train)\b|bench_quality\.py|bench_live\.py")
SMOKE_S = 6.0
COMMAND_TIMEOUT_S = 150

#: the names the Python examples take as given (48 kHz unless the name says otherwise)
PRELUDE = f"""
import numpy as _np, soundfile as _sf
from scipy.signal import resample_poly as _rs
_x, _r = _sf.read({str(SPEECH)!r}, dtype="float64")
_x = _x[int(0.5 * _r): int(2.0 * _r)]
_rng = _np.random.default_rng(0)
def _speech(rate):
    return _rs(_x, rate // 50, _r // 50).astype(_np.float32)
def _noisy(rate, channels):
    s = _speech(rate)
    return _np.stack([s * (1 - 0.2 * c) + 0.02 * _rng.standard_normal(s.size) for c in range(channels)]).astype(_np.float32)
audio = _noisy(48000, 2)          # (2, 72000) float32, 48 kHz
noisy = _noisy(48000, 2)
noisy_16k = _noisy(16000, 1)[0]   # 1-D, 16 kHz
block = _np.ascontiguousarray(noisy[:, :128])   # one (2, 128) host block
sr = 16000
clean = _speech(sr)
est = _noisy(sr, 1)[0]
"""


@dataclass
class Block:
    path: Path
    line: int          # 1-based line of the opening fence
    lang: str
    text: str
    not_run: str | None   # the marker's reason ("" when the marker has none), None if unmarked

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        j, body = i + 1, []
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        assert j < len(lines), f"{path.name}:{i + 1}: fence never closed"
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mark = MARK.match(lines[k]) if k >= 0 else None
        blocks.append(Block(path, i + 1, lang, "\n".join(body) + "\n",
                            mark.group(1) if mark else None))
        i = j + 1
    return blocks


ALL = [b for f in DOC_FILES for b in parse(f)]
RUN = [b for b in ALL if b.lang in RUN_LANGS and b.not_run is None]
PY = [b for b in RUN if b.lang in ("python", "py")]
SH = [b for b in RUN if b not in PY]


# ---------------------------------------------------------------- fixtures
def _speech(rate: int, seconds: float = 1.5) -> np.ndarray:
    x, r = sf.read(SPEECH, dtype="float64")
    x = x[int(0.5 * r): int((0.5 + seconds) * r)]
    return resample_poly(x, rate // 50, r // 50)


def _write_audio(path: Path, noisy: bool = True, channels: int = 2) -> None:
    s = _speech(48000)
    rng = np.random.default_rng(len(path.name))
    x = np.stack([s * (1 - 0.2 * c) + (0.02 * rng.standard_normal(s.size) if noisy else 0)
                  for c in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".mp3": "MP3", ".ogg": "OGG"}.get(path.suffix.lower())
    sub = {".mp3": "MPEG_LAYER_III", ".ogg": "VORBIS"}.get(path.suffix.lower())
    sf.write(path, (0.5 * x).astype(np.float32), 48000, format=fmt, subtype=sub)


def _inside(tmp: Path, p: Path) -> bool:
    try:
        p.resolve().relative_to(tmp.resolve())
        return True
    except ValueError:
        return False


def audio_fixture(tmp: Path, name: str) -> None:
    """A short real-speech file (or, for NAME/, a folder of two; for NAME.json, a preset: the
    shipped ``voice_dsp``; for NAME.csv, gap spans in seconds) unless it already exists."""
    p = tmp / name
    if os.path.lexists(p) or not _inside(tmp, p.parent if p.parent.exists() else tmp):
        return
    if name.endswith(".csv"):  # the one CSV input the docs name: gap spans (aural repair)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("start_s,end_s\n0.500,0.520\n1.000,1.030\n", encoding="utf-8")
    elif name.endswith(".json"):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes((ROOT / "engine" / "presets" / "voice_dsp.json").read_bytes())
    elif name.endswith("/"):
        for stem in ("a", "b"):
            _write_audio(p / f"{stem}.wav", noisy=not Path(name).name.startswith("clean"), channels=1)
    else:
        _write_audio(p)


def workdir(tmp: Path) -> dict:
    """Links to the project's folders (scripts and data resolve as from the root); an isolated
    XDG data/config home so servers and preset stores write under ``tmp``."""
    for entry in ROOT.iterdir():
        if not entry.name.startswith(".") and entry.name not in ("out", "runs") and entry.is_dir():
            (tmp / entry.name).symlink_to(entry, target_is_directory=True)
    env = dict(os.environ, XDG_DATA_HOME=str(tmp / ".xdg-data"), XDG_CONFIG_HOME=str(tmp / ".xdg-config"),
               MPLBACKEND="Agg", PYTHONUNBUFFERED="1", COLUMNS="100")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


# ---------------------------------------------------------------- shell lines
def commands(block: Block) -> list[list[str]]:
    """The runnable command lines of a shell block, as argv with the venv's executables."""
    raw = block.text.splitlines()
    if any(ln.startswith("$ ") for ln in raw):
        raw = [ln[2:] for ln in raw if ln.startswith("$ ")]
    joined, cur = [], ""
    for ln in raw:
        if ln.rstrip().endswith("\\"):
            cur += ln.rstrip()[:-1] + " "
            continue
        joined.append(cur + ln)
        cur = ""
    out = []
    for ln in joined:
        argv = shlex.split(ln, comments=True)
        if not argv:
            continue
        head = argv[:3] if argv[0] == "nice" else []
        prog = argv[len(head)] if len(argv) > len(head) else ""
        if prog in ("aural", ".venv/bin/aural"):
            out.append(head + [str(BIN / "aural")] + argv[len(head) + 1:])
        elif prog in ("python", "python3", ".venv/bin/python"):
            out.append(head + [sys.executable] + argv[len(head) + 1:])
    return out


def named_files(argv: list[str]) -> list[str]:
    """Audio files, folders and preset files a command reads (the word after -o/--out/--json is
    its output)."""
    names, folders = [], 0
    for prev, word in zip(["", *argv], argv):
        if prev in ("-o", "--out", "--output", "--json") or word.startswith("-"):
            continue
        if (prev in ("-p", "--preset") and word.endswith(".json")) or word.endswith(".csv"):
            names.append(word)
        elif word.lower().endswith(tuple("." + e for e in AUDIO_EXT)):
            names.append(word)
        elif word.endswith("/") and "/" not in word[:-1]:
            # input folders: both of `aural eval CLEAN/ DEGRADED/`, else only the first (IN/ OUT/)
            folders += 1
            if folders == 1 or "eval" in argv[1:2]:
                names.append(word)
    return names


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C to the command's own process group (its workers too), then SIGKILL if need be."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of the group left behind
    except ProcessLookupError:
        pass
    proc.wait()


def smoke(argv: list[str], cwd: Path, env: dict) -> None:
    """Start a server or long job, check it is alive (a server: prints its URL and answers), stop."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + SMOKE_S
        while time.monotonic() < deadline and proc.poll() is None:
            url = next((m.group(0) for ln in lines for m in [re.search(r"http://[\d.]+:\d+/", ln)] if m), None)
            if argv[1] == "serve" and url:
                with urllib.request.urlopen(url, timeout=10) as r:
                    assert r.status == 200 and b"<html" in r.read(4096).lower()
                return
            time.sleep(0.2)
        rc = proc.poll()
        if rc == 1 and argv[1] == "live" and "cannot open the audio stream" in "".join(lines):
            # no such sound card here: everything before it (options, preset, --set) was accepted
            return
        assert rc in (None, 0), f"{shlex.join(argv)} exited {rc}:\n{''.join(lines)[-3000:]}"
        assert argv[1] != "serve" or rc is None, "aural serve ended without serving"
        if argv[1] == "serve":
            raise AssertionError(f"aural serve printed no URL in {SMOKE_S} s:\n{''.join(lines)}")
    finally:
        _stop(proc)
        reader.join(5)


# ---------------------------------------------------------------- inline commands
INLINE = re.compile(r"`(aural [a-z][^`]*)`")


def inline_commands() -> list[tuple[str, str]]:
    """(FILE:LINE, text) of every inline ``aural SUB ...`` code span, and of every line of a
    block that starts with one (synopses in ```text blocks included)."""
    out = []
    for path in DOC_FILES:
        fence = None
        for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = FENCE.match(ln)
            if m and (fence is None or ln.strip().startswith(fence)):
                fence = None if fence else m.group(2)
                continue
            if fence is None:
                out += [(f"{path.relative_to(ROOT)}:{i}", c) for c in INLINE.findall(ln)]
            elif re.match(r"aural [a-z]+( |$)", ln):  # a synopsis or command line in a block
                out.append((f"{path.relative_to(ROOT)}:{i}", ln.split("#")[0].strip()))
    return out


_HELP: dict[str, str] = {}


def _help(sub: str) -> str:
    if sub not in _HELP:
        argv = [str(BIN / "aural")] + ([sub] if sub else []) + ["--help"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, COLUMNS="200"))
        _HELP[sub] = r.stdout if r.returncode == 0 else ""
    return _HELP[sub]


@pytest.mark.parametrize("where,text", inline_commands(), ids=[f"{w} {t[:40]}" for w, t in inline_commands()])
def test_inline_command_names_real_options(where, text):
    """An inline `aural SUB --opt ...` in the prose names a real subcommand and real options."""
    sub = text.split()[1]
    assert re.search(rf"^\s+{sub}\s", _help(""), re.M), f"{where}: `{text}`: no subcommand {sub!r}"
    opts = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", _help(sub)))
    named = re.findall(r"(?:^|[\s\[(|])(--?[a-zA-Z][\w-]*)", text)
    missing = [o for o in named if o not in opts]
    assert not missing, f"{where}: `{text}`: aural {sub} has no option {missing}"


# ---------------------------------------------------------------- the tests
def test_blocks_found_and_labelled():
    """Every fence has a known language; the executable ones are nearly all run."""
    assert len(ALL) >= 20 and len(PY) >= 8 and SH, (len(ALL), len(PY), len(SH))
    unknown = [f"{b.id} ```{b.lang}" for b in ALL if b.lang not in RUN_LANGS | SHOW_LANGS]
    assert not unknown, f"unknown fence languages (runnable: {sorted(RUN_LANGS)}, shown: {sorted(SHOW_LANGS)}): {unknown}"
    # a block without a language is taken as commands: it must have some, else label it ```text
    bare = [b.id for b in SH if b.lang == "" and not commands(b)]
    assert not bare, f"blocks without a language and without an aural/python command (label them ```text): {bare}"
    runnable = [b for b in ALL if b.lang in RUN_LANGS]
    not_run = [b for b in runnable if b.not_run is not None]
    assert len(not_run) <= len(runnable) // 4, (
        f"{len(not_run)} of {len(runnable)} runnable blocks are marked not run: "
        f"{[b.id for b in not_run]}")


@pytest.mark.parametrize("block", [b for b in ALL if b.not_run is not None], ids=lambda b: b.id)
def test_unrun_blocks_give_a_reason(block):
    assert block.lang in RUN_LANGS, f"{block.id}: a ```{block.lang} block is never run: drop the marker"
    assert len(block.not_run) >= 10, f"{block.id}: <!-- doc-test: not run: REASON --> needs a reason"


def _preset_json(block: Block) -> bool:
    try:
        d = json.loads(block.text)
    except ValueError:
        return False  # several objects or elided parts (``...``): shown, not loaded
    return isinstance(d, dict) and "type" in d


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "json" and _preset_json(b)],
                         ids=lambda b: b.id)
def test_json_preset_loads(block, tmp_path):
    """A ```json block that is one graph (``"type"``...) is a preset: it loads and runs."""
    from aural.engine.presets import from_dict

    chain = from_dict(json.loads(block.text))
    x = np.asarray(_speech(48000, 0.5), np.float32)
    y = chain(x, 48000)
    assert y.shape == x.shape and np.isfinite(y).all() and np.abs(y).max() > 0


@pytest.mark.parametrize("block", SH, ids=lambda b: b.id)
def test_shell_block_runs(block, tmp_path):
    cmds = commands(block)
    assert cmds, f"{block.id}: no aural/python command; mark it <!-- doc-test: not run: REASON -->"
    env = workdir(tmp_path)
    for argv in cmds:
        for name in named_files(argv):
            audio_fixture(tmp_path, name)
        shown = shlex.join(argv).replace(str(BIN) + "/", "").replace(sys.executable, "python")
        if SMOKE.search(shown.replace("nice -n 5 ", "")):
            smoke(argv, tmp_path, env)
            continue
        r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=COMMAND_TIMEOUT_S)
        assert r.returncode == 0, f"{block.id}: `{shown}` exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"


@pytest.mark.parametrize("block", PY, ids=lambda b: b.id)
def test_python_block_runs(block, tmp_path):
    env = workdir(tmp_path)
    for lit in re.findall(r"""["']([\w./-]+\.(?:%s))["']""" % "|".join(AUDIO_EXT), block.text):
        audio_fixture(tmp_path, lit)
    for lit in re.findall(r"""load_preset\(\s*["']([\w./-]+\.json)["']|["']([\w./-]+\.csv)["']""",
                          block.text):
        lit = lit[0] or lit[1]
        audio_fixture(tmp_path, lit)  # a preset or spans named by path (unless written first)
    # compiled under the markdown file's name with its line numbers: a traceback names the doc line
    (tmp_path / "doc_block.py").write_text("\n" * block.line + block.text, encoding="utf-8")
    script = tmp_path / "doc_example.py"
    script.write_text(PRELUDE + "\nexec(compile(open('doc_block.py', encoding='utf-8').read(), "
                      f"{str(block.path)!r}, 'exec'))\n", encoding="utf-8")
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=COMMAND_TIMEOUT_S)
    assert r.returncode == 0, f"{block.id} failed:\n{r.stderr[-4000:]}"
