"""The source registry of models/data.py (train / tune / score by source, disjoint, deterministic,
reserved files out) and benchmarks/bench_unseen.py's data, scoring and DNSMOS wrapper, on a
fake tree and synthetic signals (no installed data needed)."""
from __future__ import annotations

import hashlib
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

_env = dict(os.environ)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_unseen as bu  # noqa: E402

os.environ.clear()
os.environ.update(_env)

from aural.engine.metrics import log_spectral_distance, si_sdr  # noqa: E402
from aural.models import data  # noqa: E402
from conftest import speech  # noqa: E402


def _write(path: Path, content: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return str(path)


@pytest.fixture
def fake_tree(tmp_path, monkeypatch):
    """Speech of five languages in two packages, noise in three packages, one reserved file and
    copies (same bytes) of a score file and of the reserved file under other sources."""
    t = tmp_path
    f = {}
    for lang in ("be", "fr", "bg", "ro", "ca"):
        for k in range(3):
            f[f"tux/{lang}/{k}"] = _write(t / "tux" / f"stamp{k}_desc_{lang}.ogg", f"tux {lang} {k}".encode())
    for lang in ("hu", "de", "en_GB"):
        for k in range(2):
            f[f"kl/{lang}/{k}"] = _write(t / "kl" / lang / "alpha" / f"{k}.ogg", f"kl {lang} {k}".encode())
    # a copy of a score file (be) under a train language (ca), another name
    f["dup"] = _write(t / "tux" / "other_desc_ca.ogg", b"tux be 0")
    # a reserved file, and its bytes under a tune language
    f["res"] = _write(t / "tux" / "secret_desc_fr.ogg", b"reserved bytes")
    f["res_copy"] = _write(t / "kl" / "de" / "syllab" / "x.ogg", b"reserved bytes")
    for pkg in ("0ad-data", "ufoai-sound", "megaglest-data"):
        for k in range(2):
            f[f"{pkg}/{k}"] = _write(t / pkg / "amb" / f"{k}.ogg", f"{pkg} {k}".encode())
    res = frozenset({f["res"]})
    monkeypatch.setattr(data, "reserved_files", lambda: res)
    monkeypatch.setattr(data, "reserved_stems", lambda: frozenset(os.path.splitext(p)[0] for p in res))
    monkeypatch.setattr(data, "reserved_prompts", lambda: frozenset())
    monkeypatch.setattr(data, "reserved_hashes", lambda: frozenset(data.content_hash(p) for p in res))
    monkeypatch.setattr(data, "_test_sources", lambda: set())
    pkgs = (
        data.Package("tuxpaint-stamps-default", "speech", (f"{t}/tux/*.ogg",), data._tux_key, True),
        data.Package("klettres-data", "speech", (f"{t}/kl/*/alpha/*.ogg", f"{t}/kl/*/syllab/*.ogg"),
                     data._dir_key(-3, lang=True), True),
        *(data.Package(p, "noise", (f"{t}/{p}/**/*.ogg",)) for p in ("0ad-data", "ufoai-sound", "megaglest-data")),
    )
    return pkgs, f


def test_registry_splits_by_source_disjoint_by_path_and_content_and_drops_reserved(fake_tree):
    pkgs, f = fake_tree
    reg = data.build_registry(pkgs)
    split = {s.id: s.split for s in reg.values()}
    assert split["tuxpaint-stamps-default/be"] == "score"    # SCORE_LANGS
    assert split["tuxpaint-stamps-default/ro"] == "score"
    assert split["klettres-data/hu"] == "score"
    assert split["tuxpaint-stamps-default/bg"] == "tune"     # TUNE_LANGS
    assert split["klettres-data/de"] == "tune"
    assert split["tuxpaint-stamps-default/fr"] == "train"
    assert split["klettres-data/en"] == "train"               # en_GB is English
    assert split["0ad-data/noise"] == "score" and split["ufoai-sound/noise"] == "tune"
    assert split["megaglest-data/noise"] == "train"
    # every language on one side only
    langs = {}
    for s in reg.values():
        if s.kind == "speech":
            langs.setdefault(s.id.split("/")[1], set()).add(s.split)
    assert all(len(v) == 1 for v in langs.values()), langs
    # disjoint by path and by content across all sources
    paths = [p for s in reg.values() for p in s.files]
    assert len(paths) == len(set(paths))
    hashes = [hashlib.sha1(Path(p).read_bytes()).hexdigest() for p in paths]
    assert len(hashes) == len(set(hashes))
    # the copy of a score file is not in training: its bytes stay with the score source
    assert f["dup"] not in paths and f["tux/be/0"] in reg["tuxpaint-stamps-default/be"].files
    # reserved, by path and by content, is in no split
    assert f["res"] not in paths and f["res_copy"] not in paths
    assert not any(data.is_reserved(p) for p in paths)
    # split_sources
    assert {s.id for s in data.split_sources("score", "noise", reg)} == {"0ad-data/noise"}
    with pytest.raises(ValueError):
        data.split_sources("dev", reg=reg)


def test_registry_is_deterministic(fake_tree):
    pkgs, _ = fake_tree
    a = data.build_registry(pkgs)
    b = data.build_registry(tuple(reversed(pkgs)))
    assert [(k, v.split, v.files) for k, v in a.items()] == [(k, v.split, v.files) for k, v in b.items()]


def test_typing_noise_is_keystrokes_with_pauses():
    rng = np.random.default_rng(0)
    click = np.hanning(200).astype(np.float32)
    y = data.typing_noise(48000 * 3, 48000, [(click, 0.5 * click)], rng)
    assert y.shape == (144000,) and np.isfinite(y).all()
    fr = np.abs(y[: len(y) // 480 * 480]).reshape(-1, 480).max(axis=1)
    active = np.mean(fr > 0.1)
    assert 0.05 < active < 0.8  # strokes, not a continuous noise
    again = data.typing_noise(48000 * 3, 48000, [(click, 0.5 * click)], np.random.default_rng(0))
    assert np.array_equal(y, again)


def test_extract_ufoai_takes_ambience_and_event_one_shots_but_no_voices(tmp_path, monkeypatch):
    import zipfile

    pk3 = tmp_path / "0snd.pk3"
    with zipfile.ZipFile(pk3, "w") as z:
        for name in ("sound/ambience/fire.ogg", "sound/footsteps/dirt1.ogg", "sound/doors/door1-open.ogg",
                     "sound/misc/breakglass01.ogg", "sound/misc/talk.ogg", "sound/civilians/maledeath01.ogg",
                     "sound/weapons/explosion.ogg", "sound/footsteps/sub/x.ogg"):
            z.writestr(name, name.encode())
    monkeypatch.setattr(data, "UFOAI_PK3", str(pk3))
    monkeypatch.setattr(data, "UFOAI_MUSIC_PK3", str(tmp_path / "absent.pk3"))
    cache = data.extract_ufoai(tmp_path / "cache")
    amb = sorted(p.name for p in (cache / "ufoai-sound" / "ambience").iterdir())
    ev = sorted(p.name for p in (cache / "ufoai-sound" / "events").iterdir())
    assert amb == ["fire.ogg"]
    assert ev == ["doors_door1-open.ogg", "footsteps_dirt1.ogg", "misc_breakglass01.ogg"]
    assert (cache / "ufoai-sound" / "events" / "footsteps_dirt1.ogg").read_bytes() == b"sound/footsteps/dirt1.ogg"


def test_event_noise_is_runs_of_one_shots_with_silence_between():
    step = np.hanning(2400).astype(np.float32)  # a 50 ms footstep
    door = 0.3 * np.hanning(24000).astype(np.float32)
    y = data.event_noise(48000 * 6, 48000, [step, door], np.random.default_rng(1))
    assert y.shape == (288000,) and np.isfinite(y).all()
    fr = np.abs(y[: len(y) // 480 * 480]).reshape(-1, 480).max(axis=1)
    assert 0.05 < np.mean(fr > 0.05) < 0.9  # bursts and silence, not a continuous noise
    assert np.mean(fr < 1e-6) > 0.05       # true gaps between the runs
    assert 0.5 < np.max(np.abs(y)) < 4 * 10 ** (4 / 20)  # shots at +-4 dB, a few overlapping at most
    assert np.array_equal(y, data.event_noise(48000 * 6, 48000, [step, door], np.random.default_rng(1)))


def _speechlike(n: int, rng) -> np.ndarray:
    t = np.arange(n) / bu.RATE
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / bu.RATE
    x = sum(np.sin(k * ph) / k for k in range(1, 20))
    env = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 2
    return (0.1 * x * env + 1e-3 * rng.standard_normal(n)).astype(np.float32)


def test_scoring_of_identity_and_half_gain():
    rng = np.random.default_rng(1)
    n = 2 * bu.RATE
    clean = _speechlike(n, rng)
    noise = rng.standard_normal(n).astype(np.float32)
    y, c, meta = bu._mix(clean, noise, rng, 5.0)
    assert abs(si_sdr(c, y) - 5.0) < 0.3  # the mix is at the drawn SNR
    ident = bu.score_clip(c, y, speech=False, dnsmos=None)
    assert ident["si_sdr"] == pytest.approx(si_sdr(c, y))
    half = bu.score_clip(c, 0.5 * y, speech=False, dnsmos=None)
    assert half["si_sdr"] == pytest.approx(ident["si_sdr"], abs=1e-3)  # scale-invariant
    same = bu.score_clip(c, c, speech=False, dnsmos=None)
    halfc = bu.score_clip(c, 0.5 * c, speech=False, dnsmos=None)
    assert same["lsd"] == pytest.approx(0.0, abs=1e-9) and same["si_sdr"] > 100
    assert halfc["lsd"] == pytest.approx(20 * math.log10(2), abs=0.05)  # 6.02 dB everywhere
    assert halfc["lsd"] == pytest.approx(log_spectral_distance(c, 0.5 * c, n_fft=2048))
    assert math.isnan(ident["pesq"]) and math.isnan(ident["ovrl"])  # speech measures: not on music


def test_summary_mean_and_worst_draw():
    def row(p, s, lsd):
        return {"pesq": p, "si_sdr": s, "lsd": lsd, "ovrl": 3.0, "sig": 3.0, "bak": float("nan")}
    draws = [{"c": {"a": row(2.0, 10.0, 5.0)}}, {"c": {"a": row(1.0, 14.0, 7.0)}},
             {"c": {"a": row(1.5, 12.0, 6.0)}}]
    s = bu.summarize(draws)["c"]["a"]
    assert s["pesq"] == {"mean": pytest.approx(1.5), "worst": 1.0}
    assert s["si_sdr"] == {"mean": pytest.approx(12.0), "worst": 10.0}
    assert s["lsd"] == {"mean": pytest.approx(6.0), "worst": 7.0}  # worst LSD is the highest
    assert math.isnan(s["bak"]["mean"])
    md = bu.markdown({"summary": bu.summarize(draws), "systems": {"a": "system a"}})
    assert "| system a | 1.50 / 1.00 | 12.00 / 10.00 | 6.00 / 7.00 | 3.00 / 3.00 | 3.00 / - |" in md


def _fake_registry(tmp_path) -> dict:
    rng = np.random.default_rng(5)
    reg = {}
    for split in ("score", "tune", "train"):
        files = {"speech": [], "music": [], "noise": []}
        for k in range(2):
            p = tmp_path / split / f"sp{k}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, _speechlike(44100, rng)[:44100], 44100)
            files["speech"].append(str(p))
            p = tmp_path / split / f"mu{k}.wav"
            t = np.arange(3 * 44100) / 44100
            sf.write(p, 0.1 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 330 * t)), 44100)
            files["music"].append(str(p))
            p = tmp_path / split / f"no{k}.wav"
            sf.write(p, 0.05 * rng.standard_normal(2 * 44100), 44100)
            files["noise"].append(str(p))
        for kind, fl in files.items():
            sid = f"fake-{split}/{kind}"
            reg[sid] = data.Source(sid, f"fake-{split}", kind, split, "clip", fl)
    return reg


def test_unseen_set_is_deterministic_and_input_scores_as_mixed(tmp_path):
    reg = _fake_registry(tmp_path)
    pool = bu.Pool("score", reg)
    a = bu.build_set(pool, 3, 2, 1.0)
    b = bu.build_set(bu.Pool("score", reg), 3, 2, 1.0)
    assert list(a) == list(bu.CATEGORIES)
    for cat in a:
        for x, y in zip(a[cat], b[cat]):
            assert np.array_equal(x["degraded"], y["degraded"]) and x["meta"] == y["meta"]
            assert x["meta"]["source"].startswith("fake-score/")  # score sources only
    for it in a["speech in noise"]:
        assert abs(si_sdr(it["clean"], it["degraded"]) - it["meta"]["snr_db"]) < 1.0
        assert 0.0 <= it["meta"]["snr_db"] <= 15.0
    for it in a["clean speech passthrough"]:
        assert np.array_equal(it["clean"], it["degraded"])
    assert a["reverberant speech in noise"][0]["meta"]["rt60"] > 0.29
    # the whole run with the input alone: its passthrough SI-SDR is the identity's
    res = bu.run("score", seeds=(1,), clips=1, seconds=1.0, systems=(), reg=reg, log=lambda m: None,
                 categories=("speech in noise", "clean speech passthrough"))
    assert res["summary"]["clean speech passthrough"]["input"]["si_sdr"]["mean"] > 100
    sn = res["summary"]["speech in noise"]["input"]["si_sdr"]["mean"]
    assert abs(sn - res["clips_meta"][0]["speech in noise"][0]["snr_db"]) < 1.0


def test_dnsmos_p835_scores_a_short_clip_in_range():
    d = bu.DNSMOS()
    x = speech(16000, 2.0)
    r = d(x, 16000)
    assert set(r) == {"sig", "bak", "ovrl"}
    assert all(math.isfinite(v) and 1.0 <= v <= 5.0 for v in r.values())
    noisy = x + 0.05 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    rn = d(np.clip(noisy, -1, 1), 16000)
    assert rn["bak"] < r["bak"]  # white noise at ~-26 dBFS is heard as background noise
    r48 = d(speech(48000, 2.0), 48000)  # resampled to 16 kHz inside
    assert abs(r48["ovrl"] - r["ovrl"]) < 0.3


def test_recipe_on_the_registry_trains_on_train_and_develops_on_tune(tmp_path, monkeypatch):
    reg = _fake_registry(tmp_path)
    monkeypatch.setattr(data, "registry", lambda: reg)
    r = data.Recipe(sample_rate=16000, seconds=1.5, sources="registry", dev_examples=2)
    for kind in ("speech", "music", "noise"):
        assert r.files(kind, "train") == reg[f"fake-train/{kind}"].files
        assert r.files(kind, "dev") == reg[f"fake-tune/{kind}"].files
    used = set().union(*(r.files(k, s) for k in ("speech", "music", "noise") for s in ("train", "dev")))
    assert not used & {f for s in reg.values() if s.split == "score" for f in s.files}
    x, t = r.dev_set()
    assert x.shape == t.shape == (2, 24000) and np.isfinite(x).all()
    # 1 s speech files, 1.5 s examples: joined from one source's clips, not zero-padded
    r2 = data.Recipe(sample_rate=16000, seconds=1.5, sources="registry", music_fraction=0.0)
    seg, kind = r2._excerpt(np.random.default_rng(0), "train")
    assert kind == "speech" and seg.shape == (24000,)
    assert np.max(np.abs(seg[16000:])) > 0.005  # a zero-padded 1 s file would be silent here
    with pytest.raises(ValueError):
        data.Recipe(sources="nope")
