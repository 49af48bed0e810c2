"""The bandwidth extender's data: sources split like the registry, drawn source first."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from aural.models import bwe_data, bwe_train
from aural.models.data import Source


def _fake_registry(big: int = 60) -> dict[str, Source]:
    """Two train voices (one with ``big`` files, one with 2), train music, a tune voice and a
    score voice; file names only (nothing is read)."""
    def src(sid: str, kind: str, split: str, n: int) -> Source:
        return Source(id=sid, package=sid.split("/")[0], kind=kind, split=split,
                      files=[f"/fake/{sid}/{i:03d}.flac" for i in range(n)])
    return {s.id: s for s in (
        src("tuxpaint-stamps-default/es", "speech", "train", big),
        src("klettres-data/ar", "speech", "train", 2),
        src("sonic-pi-samples/music", "music", "train", 5),
        src("tuxpaint-stamps-default/bg", "speech", "tune", 7),
        src("tuxpaint-stamps-default/be", "speech", "score", 3),
    )}


@pytest.fixture
def fake_registry(monkeypatch):
    reg = _fake_registry()
    monkeypatch.setattr(bwe_data, "registry", lambda: reg)
    return reg


def test_source_groups_keep_sources_apart_and_follow_the_registry_split(fake_registry) -> None:
    groups = bwe_data.source_groups("train", "speech")
    assert sorted(len(g) for g in groups) == [2, 60]       # the two voices present, apart
    assert all(g == sorted(g) for g in groups)
    assert bwe_data.source_files("train", "speech") == sorted(f for g in groups for f in g)
    assert [len(g) for g in bwe_data.source_groups("dev", "speech")] == [7]    # tune split
    assert [len(g) for g in bwe_data.source_groups("score", "speech")] == [3]  # score split
    assert [len(g) for g in bwe_data.source_groups("train", "music")] == [5]
    with pytest.raises(ValueError, match="split must be one of"):
        bwe_data.source_groups("test", "speech")


def test_a_source_in_the_wrong_split_is_refused(fake_registry) -> None:
    fake_registry["klettres-data/ar"].split = "score"    # held out: must never be trained on
    with pytest.raises(RuntimeError, match="klettres-data/ar is in split score"):
        bwe_data.source_groups("train", "speech")


@pytest.mark.parametrize("balance", ["source", "file"])
def test_build_dataset_draws_voices_evenly_by_source(fake_registry, monkeypatch, tmp_path,
                                                     balance) -> None:
    """Source first: the 2-file voice gets about half of the speech examples (a file-wise draw
    gives it 2 of 62); the dataset is written with one example per draw."""
    seen: Counter = Counter()

    def fake_segment(files, seconds, rng, **_):  # one file, drawn as draw_segment draws it
        seen[files[int(rng.integers(len(files)))].split("/")[3]] += 1
        n = int(seconds * bwe_data.SR)
        return (0.1 * rng.standard_normal(n)).astype(np.float32)

    monkeypatch.setattr(bwe_train, "draw_segment", fake_segment)
    out = tmp_path / "d.npz"
    bwe_train.build_dataset(out, n_speech=40, n_music=4, seconds=0.25, seed=1, balance=balance)
    d = np.load(out)
    assert d["feat"].shape[0] == d["target"].shape[0] == 44
    assert seen["music"] == 4
    if balance == "source":
        assert 12 <= seen["ar"] <= 28 and seen["ar"] + seen["es"] == 40
    else:
        assert seen["ar"] <= 6 and seen["ar"] + seen["es"] == 40   # 2 of 62 files
    with pytest.raises(ValueError, match="balance"):
        bwe_train.build_dataset(out, 1, 1, 0.25, 1, balance="voice")
