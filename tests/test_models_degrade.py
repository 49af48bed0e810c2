"""Degradation simulator and data recipe: each degradation at the requested level (measured)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from aural.models import degrade as D
from scipy.signal import resample_poly, welch

SR = 16000
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def speech():
    x, sr = sf.read(DATA / "speech_a.flac", dtype="float32")
    return resample_poly(x[: 2 * sr], 160, 221).astype(np.float32)  # 2 s at 16 kHz


def _slope_db_per_octave(x, sr, lo=100.0, hi=4000.0):
    f, p = welch(x, sr, nperseg=4096)
    m = (f >= lo) & (f <= hi)
    return np.polyfit(np.log2(f[m]), 10 * np.log10(p[m]), 1)[0]


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5, 20.0])
@pytest.mark.parametrize("kind", ["white", "pink", "brown", "babble", "hum", "clicks", "crackle"])
def test_additive_disturbance_at_requested_snr(speech, kind, snr):
    rng = np.random.default_rng(1)
    n = len(speech)
    make = {"white": lambda: D.white_noise(n, rng, SR), "pink": lambda: D.pink_noise(n, rng, SR),
            "brown": lambda: D.brown_noise(n, rng, SR),
            "babble": lambda: D.babble(n, [speech[::-1].copy(), np.roll(speech, 5000)], rng),
            "hum": lambda: D.hum(n, SR, rng), "clicks": lambda: D.clicks(n, SR, rng),
            "crackle": lambda: D.crackle(n, SR, rng)}[kind]
    noisy, added = D.add_noise(speech, make(), snr, rng)
    measured = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2)
                             / np.mean((noisy.astype(np.float64) - speech) ** 2))
    assert abs(measured - snr) < 0.01
    assert np.allclose(noisy - speech, added, atol=1e-6)


def test_real_noise_shorter_than_clean_is_looped(speech):
    rng = np.random.default_rng(2)
    short = D.pink_noise(3000, rng, SR)
    noisy, added = D.add_noise(speech, short, 3.0, rng)
    assert len(noisy) == len(speech)
    assert abs(D.snr_db(speech, noisy - speech) - 3.0) < 0.01
    assert np.count_nonzero(added) > 0.99 * len(speech)  # no silent stretch: looped


@pytest.mark.parametrize("kind,slope", [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_noise_colours(kind, slope):
    x = getattr(D, f"{kind}_noise")(SR * 8, np.random.default_rng(3), SR)
    assert abs(np.mean(x.astype(np.float64) ** 2) - 1.0) < 1e-3
    assert abs(_slope_db_per_octave(x, SR) - slope) < 0.6


@pytest.mark.parametrize("f0", [50.0, 60.0])
def test_hum_has_mains_harmonics(f0):
    rng = np.random.default_rng(4)
    h = D.hum(SR * 4, SR, rng, f0=f0, harmonics=5)
    spec = np.abs(np.fft.rfft(h * np.hanning(len(h))))
    f = np.fft.rfftfreq(len(h), 1 / SR)
    total = np.sum(spec ** 2)
    near = np.zeros_like(f, bool)
    for k in range(1, 6):
        near |= np.abs(f - k * f0) < 0.01 * k * f0 + 2
    assert np.sum(spec[near] ** 2) > 0.999 * total  # all energy at f0 and its harmonics
    for k in range(1, 6):
        band = np.abs(f - k * f0) < 0.01 * k * f0 + 2
        assert spec[band].max() > 0.05 * spec.max()  # each harmonic present


def test_clicks_are_sparse_at_rate():
    rng = np.random.default_rng(5)
    c = D.clicks(SR * 10, SR, rng, rate_hz=4.0)
    # onsets: nonzero after a run of zeros
    nz = np.abs(c) > 0
    onsets = np.count_nonzero(nz[1:] & ~nz[:-1]) + int(nz[0])
    assert 20 <= onsets <= 60  # Poisson(40)
    assert np.count_nonzero(nz) < 0.02 * len(c)
    k = D.crackle(SR * 2, SR, rng, rate_hz=500.0)
    f, p = welch(k, SR, nperseg=1024)
    assert p[f < 300].sum() < 0.05 * p.sum()  # high-passed crackle


@pytest.mark.parametrize("clip_db", [1.0, 6.0, 12.0])
def test_clipping_threshold(speech, clip_db):
    y = D.clip(speech, clip_db)
    thr = np.max(np.abs(speech)) * 10 ** (-clip_db / 20)
    assert abs(np.max(np.abs(y)) - thr) < 1e-6
    below = np.abs(speech) < thr
    assert np.array_equal(y[below], speech[below])
    assert np.all(np.abs(y[~below]) == pytest.approx(thr, abs=1e-6))


@pytest.mark.parametrize("cutoff", [3400.0, 5500.0])
def test_bandlimit(cutoff):
    x = D.white_noise(SR * 4, np.random.default_rng(6), SR)
    y = D.bandlimit(x, SR, cutoff)
    f, px = welch(x, SR, nperseg=2048)
    _, py = welch(y, SR, nperseg=2048)
    g = 10 * np.log10(py / px)
    assert np.all(np.abs(g[(f > 100) & (f < cutoff / 2)]) < 0.5)  # passband untouched
    assert np.all(g[f > min(1.5 * cutoff, 7900)] < -25)  # 8th order, zero phase: 96 dB/oct
    if 2 * cutoff < 7900:
        assert np.all(g[(f > 2 * cutoff) & (f < 7900)] < -40)
    y2 = D.bandlimit(x, SR, cutoff, highpass_hz=300.0)
    _, p2 = welch(y2, SR, nperseg=2048)
    assert np.all(10 * np.log10(p2 / px)[(f > 10) & (f < 100)] < -20)


@pytest.mark.parametrize("rt60", [0.2, 0.5, 1.0])
@pytest.mark.parametrize("drr", [-3.0, 6.0])
def test_reverb_rir_rt60_and_drr(rt60, drr):
    rir = D.synth_rir(SR, rt60, np.random.default_rng(7), drr_db=drr)
    assert rir[0] == 1.0
    assert abs(D.rt60_of(rir, SR) - rt60) < 0.1 * rt60
    assert abs(10 * np.log10(1.0 / np.sum(rir[1:].astype(np.float64) ** 2)) - drr) < 0.01
    x = np.zeros(SR, np.float32)
    x[100] = 1.0
    y = D.reverb(x, rir)
    assert len(y) == len(x) and y[100] == pytest.approx(1.0, abs=1e-5) and np.all(np.abs(y[:100]) < 1e-6)


def test_gain(speech):
    r = 10 * np.log10(np.mean(D.gain(speech, -12.0).astype(np.float64) ** 2) / np.mean(speech.astype(np.float64) ** 2))
    assert abs(r + 12.0) < 1e-4


def test_degrader_forced_categories_match_meta(speech):
    deg = D.Degrader(SR, noises=[D.pink_noise(SR, np.random.default_rng(8), SR)],
                     babble_speech=[speech])
    for cat in ("noise", "hum", "clicks", "crackle"):
        y, t, meta = deg(speech, np.random.default_rng(9), force=[cat])
        assert set(meta) == {"level_db", cat}
        assert abs(D.snr_db(t, y - t) - meta[cat]["snr_db"]) < 0.01
        lo, hi = deg.snr_range
        off = 5.0 if cat in ("clicks", "crackle") else 0.0
        assert lo + off <= meta[cat]["snr_db"] <= hi + off
    y, t, meta = deg(speech, np.random.default_rng(10), force=["clip"])
    assert abs(np.max(np.abs(y)) - np.max(np.abs(t)) * 10 ** (-meta["clip"]["clip_db"] / 20)) < 1e-6
    # level change applies to target and degraded alike: target peak = 0.5 * 10^(level/20)
    assert abs(np.max(np.abs(t)) - 0.5 * 10 ** (meta["level_db"] / 20)) < 1e-6
    # deterministic: same seed, same pair
    a = deg(speech, np.random.default_rng(11))
    b = deg(speech, np.random.default_rng(11))
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]


def test_recipe_excludes_reserved_and_splits_by_content(tmp_path, monkeypatch):
    from aural.models import data as R

    src = tmp_path / "pkg"
    src.mkdir()
    rng = np.random.default_rng(12)
    for i in range(30):
        sf.write(src / f"s{i:02d}.wav", rng.standard_normal(4000).astype(np.float32) * 0.1, 16000)
    # a reserved file, and a copy of it under another name (packages ship duplicates)
    import shutil
    shutil.copy(src / "s00.wav", src / "copy_of_s00.wav")
    shutil.copy(src / "s01.wav", src / "dup_of_s01.wav")
    res = tmp_path / "RESERVED.txt"
    res.write_text(f"# reserved\npkg\t{src / 's00.wav'}\n")
    monkeypatch.setenv("AURAL_RESERVED", str(res))
    R.reserved_files.cache_clear()
    R.reserved_hashes.cache_clear()
    monkeypatch.setattr(R, "SPEECH_GLOBS", (str(src / "*.wav"),))
    monkeypatch.setattr(R, "MUSIC_GLOBS", ())
    monkeypatch.setattr(R, "NOISE_GLOBS", ())
    try:
        r = R.Recipe(dev_fraction=0.3, max_files=1000, seconds=0.2, dev_examples=4)
        train, dev = r.files("speech", "train"), r.files("speech", "dev")
        names = {p.rsplit("/", 1)[1] for p in train + dev}
        assert "s00.wav" not in names and "copy_of_s00.wav" not in names  # reserved, by content too
        assert len({"s01.wav", "dup_of_s01.wav"} & names) == 1  # duplicates kept once
        assert not set(train) & set(dev) and len(train) + len(dev) == 29
        assert 0 < len(dev) < len(train)
        assert r.files("speech", "dev") == R.Recipe(dev_fraction=0.3, max_files=1000).files("speech", "dev")
        x1, s1 = r.batch("train", 3, 2)
        x2, s2 = r.batch("train", 3, 2)
        assert x1.shape == (2, 3200) and np.array_equal(x1, x2) and np.array_equal(s1, s2)
    finally:
        R.reserved_files.cache_clear()
        R.reserved_hashes.cache_clear()


def test_reserved_list_is_the_shipped_copy_and_never_shared(monkeypatch, tmp_path):
    """The evaluation list comes from the project's own models/reserved.txt (or $AURAL_RESERVED),
    never from a folder beside the checkout: a user's clone has none."""
    from aural.models import data as R

    monkeypatch.delenv("AURAL_RESERVED", raising=False)
    R.reserved_files.cache_clear()
    try:
        assert R._reserved_path() == R.REPO / "models" / "reserved.txt"
        files = R.reserved_files()
        assert len(files) >= 30 and all(f.startswith("/usr/share/") for f in files)
        assert "/usr/share/sonic-pi/samples/vinyl_hiss.flac" in files
        custom = tmp_path / "list.txt"
        custom.write_text("# comment\npkg\t/usr/share/x/only.wav\n")
        monkeypatch.setenv("AURAL_RESERVED", str(custom))
        R.reserved_files.cache_clear()
        assert R.reserved_files() == frozenset({"/usr/share/x/only.wav"})
    finally:
        R.reserved_files.cache_clear()


def test_degrader_never_returns_a_clean_pair(speech):
    deg = D.Degrader(SR, p={"noise": 0.0, "hum": 0.05})
    for i in range(20):
        y, t, meta = deg(speech, np.random.default_rng(100 + i))
        assert set(meta) - {"level_db"}  # something was applied
        assert D.snr_db(t, y - t) < 25.0 + 1e-6


def test_train_only_noise_never_reaches_dev_and_reserved_stays_out(tmp_path, monkeypatch):
    """NOISE_TRAIN_GLOBS files go to train only; a copy of a dev file or of a reserved file
    (by content) and a reserved recording in another encoding (same path stem) are dropped."""
    import shutil

    from aural.models import data as R

    split, extra = tmp_path / "split", tmp_path / "extra"
    split.mkdir()
    extra.mkdir()
    rng = np.random.default_rng(5)
    for i in range(20):
        sf.write(split / f"n{i:02d}.wav", rng.standard_normal(3000).astype(np.float32) * 0.1, 16000)
    for i in range(6):
        sf.write(extra / f"t{i}.wav", rng.standard_normal(3000).astype(np.float32) * 0.1, 16000)
    sf.write(extra / "kept.flac", rng.standard_normal(3000).astype(np.float32) * 0.1, 16000)
    shutil.copy(extra / "kept.flac", extra / "kept.wav")  # same recording, other encoding
    res = tmp_path / "RESERVED.txt"
    res.write_text(f"pkg\t{split / 'n00.wav'}\npkg\t{extra / 'kept.flac'}\n")
    monkeypatch.setenv("AURAL_RESERVED", str(res))
    for f in (R.reserved_files, R.reserved_hashes, R.reserved_stems, R.reserved_prompts):
        f.cache_clear()
    monkeypatch.setattr(R, "SPEECH_GLOBS", ())
    monkeypatch.setattr(R, "MUSIC_GLOBS", ())
    monkeypatch.setattr(R, "NOISE_GLOBS", (str(split / "*.wav"),))
    monkeypatch.setattr(R, "NOISE_TRAIN_GLOBS", (str(extra / "*.*"),))
    try:
        r0 = R.Recipe(dev_fraction=0.3, max_files=1000)
        dev = r0.files("noise", "dev")
        assert dev
        shutil.copy(dev[0], extra / "copy_of_dev.wav")
        shutil.copy(split / "n00.wav", extra / "copy_of_reserved.wav")
        r = R.Recipe(dev_fraction=0.3, max_files=1000)
        train = r.files("noise", "train")
        names = {p.rsplit("/", 1)[1] for p in train}
        assert r.files("noise", "dev") == dev  # train-only files never move the dev split
        assert {f"t{i}.wav" for i in range(6)} <= names
        assert not names & {"copy_of_dev.wav", "copy_of_reserved.wav", "kept.flac", "kept.wav", "n00.wav"}
        assert R.is_reserved(str(extra / "kept.wav")) and not R.is_reserved(str(extra / "t0.wav"))
    finally:
        for f in (R.reserved_files, R.reserved_hashes, R.reserved_stems, R.reserved_prompts):
            f.cache_clear()


@pytest.mark.parametrize("mix", ["default", "nonstationary", "balanced", "bursty"])
def test_training_mix_draws_noise_types_at_their_weights(speech, mix):
    """Each training mix's noise types come out at their declared shares (3,000 draws)."""
    from aural.models import data as R

    kinds = R.MIXES[mix]["kinds"]
    shot = np.hanning(400).astype(np.float32)
    deg = R.MixDegrader(SR, [speech[:4000]], [speech[:4000], speech[4000:8000]], kinds=kinds,
                        shots=[shot])
    rng = np.random.default_rng(3)
    drawn = [deg.noise_signal(64, rng)[1] for _ in range(3000)]
    total = sum(kinds.values())
    for k, w in kinds.items():
        assert abs(drawn.count(k) / 3000 - w / total) < 0.03, (k, drawn.count(k))


def test_bursty_mix_events_are_one_shots_that_come_and_go(speech):
    """The bursty mix's "events" noise is the given one-shots, with silence between the runs;
    without one-shots the kind is never drawn (the other kinds keep their relative weights)."""
    from aural.models import data as R

    kinds = R.MIXES["bursty"]["kinds"]
    shot = np.hanning(800).astype(np.float32)
    deg = R.MixDegrader(SR, [speech[:4000]], [speech[:4000]], kinds={"events": 1}, shots=[shot])
    y, k = deg.noise_signal(SR * 4, np.random.default_rng(0))
    assert k == "events" and y.shape == (SR * 4,)
    fr = np.abs(y[: len(y) // 160 * 160]).reshape(-1, 160).max(axis=1)
    assert np.mean(fr < 1e-9) > 0.1 and np.mean(fr > 0.3) > 0.05
    none = R.MixDegrader(SR, [speech[:4000]], [speech[:4000]], kinds=kinds)
    rng = np.random.default_rng(1)
    assert "events" not in {none.noise_signal(64, rng)[1] for _ in range(300)}


def test_keep_room_targets_the_reverberant_speech_without_changing_the_inputs(speech):
    """keep_room: a reverberant example's target is the reverberant speech (noise out, room
    kept); the degraded inputs are drawn exactly as without it."""
    from aural.models.degrade import Degrader

    x = speech[: SR * 2]
    dry = Degrader(SR)
    wet = Degrader(SR, keep_room=1.0)
    kept = 0
    for i in range(12):
        force = ["reverb", "noise"] if i % 2 else None
        y0, t0, m0 = dry(x, np.random.default_rng(i), force=force)
        y1, t1, m1 = wet(x, np.random.default_rng(i), force=force)
        assert np.array_equal(y0, y1)
        if "reverb" in m1:
            kept += 1
            assert m1["reverb"]["target"] == "reverberant"
            # the target is the input minus the added noise: its error to the input is the
            # noise alone, well below the dry target's (which also misses the room)
            e_wet = np.sum((y1 - t1) ** 2)
            e_dry = np.sum((y0 - t0) ** 2)
            assert e_wet < e_dry
            assert not np.array_equal(t0, t1)
        else:
            assert np.array_equal(t0, t1)
    assert kept >= 6
