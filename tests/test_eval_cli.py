"""``aural eval CLEAN_DIR DEGRADED_DIR``: pairing, table, CSV, one-line errors, exit status."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import soundfile as sf
from conftest import speech

from aural.cli.main import main

SR = 16000


def run(capsys, *argv):
    rc = main(["eval", *[str(a) for a in argv]])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def clip():
    return speech(SR, 1.5, "c")


def _noisy(x, snr, seed):
    n = np.random.default_rng(seed).standard_normal(len(x))
    n *= np.sqrt(np.mean(x ** 2) / np.mean(n ** 2) / 10 ** (snr / 10))
    return (x + n).astype(np.float32)


@pytest.fixture
def dirs(tmp_path, clip):
    c, d = tmp_path / "clean", tmp_path / "deg"
    (c / "sub").mkdir(parents=True)
    (d / "sub").mkdir(parents=True)
    sf.write(c / "a.wav", clip, SR)
    sf.write(d / "a.flac", _noisy(clip, 20, 1), SR)        # other extension: still pairs
    sf.write(c / "sub" / "b.wav", clip, SR)
    sf.write(d / "sub" / "b.wav", _noisy(clip, 0, 2), SR)  # nested folders pair too
    (c / "notes.txt").write_text("not audio, ignored")
    return c, d


def test_table_with_means_and_exit_0(capsys, dirs):
    rc, out, err = run(capsys, *dirs)
    assert rc == 0 and err == ""
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["file", "SNR", "dB"] and "PESQ-wb" in lines[0] and "STOI" in lines[0]
    assert lines[1].startswith("a ") and lines[2].startswith("sub/b ")
    assert lines[3].startswith("mean (2 pairs)")
    snr_a, snr_b, snr_mean = (float(line.split()[1] if i < 2 else line.split()[3])
                              for i, line in enumerate(lines[1:4]))
    assert snr_a == pytest.approx(20, abs=0.1) and snr_b == pytest.approx(0, abs=0.1)
    assert snr_mean == pytest.approx((snr_a + snr_b) / 2, abs=0.01)


def test_csv_output(capsys, dirs):
    rc, out, _ = run(capsys, *dirs, "--csv")
    assert rc == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["file", "snr", "psnr", "nrmse", "si_sdr", "lsd", "pesq", "stoi"]
    assert [r[0] for r in rows[1:]] == ["a", "sub/b", "mean"]
    vals = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert np.allclose(vals[2], vals[:2].mean(axis=0), atol=1e-5)
    assert vals[0, 5] > vals[1, 5] and vals[0, 6] > vals[1, 6]  # 20 dB beats 0 dB on PESQ, STOI


def test_unpaired_names_reported_exit_1(capsys, dirs, clip):
    c, d = dirs
    sf.write(c / "only_clean.wav", clip, SR)
    sf.write(d / "only_deg.wav", clip, SR)
    rc, out, err = run(capsys, c, d, "--no-perceptual")
    assert rc == 1
    assert "mean (2 pairs)" in out and "PESQ" not in out
    msgs = err.strip().splitlines()
    assert len(msgs) == 2
    assert "only_clean: only in" in msgs[0] and str(c) in msgs[0]
    assert "only_deg: only in" in msgs[1] and str(d) in msgs[1]


def test_bad_files_give_one_line_errors(capsys, dirs, clip):
    c, d = dirs
    sf.write(c / "junk.wav", clip, SR)
    (d / "junk.wav").write_bytes(b"RIFF not really a wav")
    sf.write(c / "rate.wav", clip, SR)
    sf.write(d / "rate.wav", clip, 22050)
    sf.write(c / "chans.wav", clip, SR)
    sf.write(d / "chans.wav", np.stack([clip, clip], 1), SR)
    rc, out, err = run(capsys, c, d, "--no-perceptual")
    assert rc == 1
    assert "mean (2 pairs)" in out  # the good pairs are still scored
    msgs = err.strip().splitlines()
    assert len(msgs) == 3 and all(m.startswith("aural eval: error: ") for m in msgs)
    assert "Traceback" not in err
    assert any("junk.wav" in m for m in msgs)
    assert any("sample rate 22050 Hz" in m for m in msgs)
    assert any("channel" in m for m in msgs)


def test_length_mismatch_is_a_warning(capsys, tmp_path, clip):
    c, d = tmp_path / "c", tmp_path / "d"
    c.mkdir()
    d.mkdir()
    sf.write(c / "x.wav", clip, SR)
    sf.write(d / "x.wav", clip[:-100], SR)
    rc, out, err = run(capsys, c, d, "--no-perceptual")
    assert rc == 0 and "warning" in err and "mean (1 pairs)" in out


def test_usage_errors(capsys, tmp_path, dirs):
    rc, _, err = run(capsys, tmp_path / "nope", dirs[1])
    assert rc == 1 and err.strip() == f"aural eval: error: {tmp_path / 'nope'}: not a directory"
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = run(capsys, dirs[0], empty)
    assert rc == 1 and "no files with the same name" in err.strip().splitlines()[-1]
    with pytest.raises(SystemExit) as e:
        main(["eval", str(dirs[0])])
    assert e.value.code == 2
