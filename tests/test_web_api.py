"""The web API (aural.web): upload, progress, result, download, cancel, queue, restart, clean-up
and every bad input, through Flask's test client and one real server on 127.0.0.1."""
from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from aural.engine.presets import load_preset
from aural.web import create_app
from aural.web.analysis import Analyzer, mel_band_matrix
from scipy.signal import resample_poly

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SR = 48000


def noisy_speech(seconds: float = 2.0, sr: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Real speech (tests/data/speech_a.flac) at ``sr`` with white noise at about 15 dB SNR,
    float32 (frames, channels)."""
    x, r = sf.read(os.path.join(HERE, "data", "speech_a.flac"), dtype="float64")
    x = resample_poly(x, sr // 50, r // 50) if r != sr else x
    x = x[: int(seconds * sr)]
    x = 0.5 * x / np.max(np.abs(x))
    rng = np.random.default_rng(seed)
    cols = [x + 0.02 * rng.standard_normal(x.shape[0]) for _ in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


def encode(x: np.ndarray, fmt: str, sr: int = SR, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.fixture(scope="module")
def wav_bytes() -> bytes:
    return encode(noisy_speech(), "WAV", subtype="PCM_16")


@pytest.fixture
def app(tmp_path):
    a = create_app(tmp_path / "jobs", keep_hours=1.0)
    yield a
    a.extensions["aural.jobs"].stop()


@pytest.fixture
def client(app):
    return app.test_client()


def upload(client, data: bytes, name: str = "take.wav", preset: str = "voice_dsp", params=None,
           output: str = "wav", **extra):
    form = {"file": (io.BytesIO(data), name), "preset": preset, "output": output,
            "params": json.dumps(params or {})}
    form.update(extra)
    return client.post("/api/jobs", data=form, content_type="multipart/form-data")


def wait_done(client, jid: str, timeout: float = 60.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        j = client.get(f"/api/jobs/{jid}").get_json()
        if j["status"] in ("done", "error", "cancelled"):
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {jid} did not end in {timeout} s: {j}")


def same_browser(src, dst):
    """Give test client ``dst`` the client token (cookie) of ``src``: the same browser."""
    if src.get_cookie("aural_client") is None:
        src.get("/api/config")
    dst.set_cookie("aural_client", src.get_cookie("aural_client").value)
    return dst


def sse_events(client, jid: str) -> list[dict]:
    r = client.get(f"/api/jobs/{jid}/events", buffered=False)
    assert r.status_code == 200
    assert r.mimetype == "text/event-stream"
    events = []
    for line in r.response:
        line = line.decode() if isinstance(line, bytes) else line
        for part in line.split("\n"):
            if part.startswith("data: "):
                events.append(json.loads(part[6:]))
    r.close()
    return events


# ---------------------------------------------------------------------- page and catalogue
def test_page_assets_and_presets(client):
    r = client.get("/")
    assert r.status_code == 200 and b"Drop an audio file here" in r.data
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    for path in ("/static/vendor/wavesurfer.min.js", "/static/vendor/spectrogram.min.js",
                 "/static/app.js", "/static/app.css"):
        a = client.get(path)
        assert a.status_code == 200 and len(a.data) > 1000, path
    assert b"WaveSurfer" in client.get("/static/vendor/wavesurfer.min.js").data
    assert client.get("/job/" + "0" * 32).status_code == 200  # the page, which then says 'gone'
    presets = client.get("/api/presets").get_json()
    names = [p["name"] for p in presets]
    assert "voice" in names and "voice_dsp" in names
    voice = presets[names.index("voice_dsp")]
    addrs = {c["address"] for c in voice["controls"]}
    assert "wiener.floor_db" in addrs and "limiter.bypass" in addrs
    floor = next(c for c in voice["controls"] if c["address"] == "wiener.floor_db")
    assert floor["unit"] == "dB" and floor["min"] < floor["value"] < floor["max"]
    assert floor["main"] is True
    assert next(c for c in voice["controls"] if c["address"] == "wiener.dd_alpha")["main"] is False
    cfg = client.get("/api/config").get_json()
    assert cfg["max_upload_bytes"] == 500 * 1024 * 1024 and {o["id"] for o in cfg["outputs"]} == {"wav", "flac"}


# ---------------------------------------------------------------------- the main path
def test_upload_progress_result_download(client, wav_bytes):
    r = upload(client, wav_bytes, name="My Episode 1.wav", params={"wiener.floor_db": -25})
    assert r.status_code == 202, r.get_json()
    job = r.get_json()
    assert re.fullmatch(r"[0-9a-f]{32}", job["id"])
    assert r.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["status"] in ("queued", "running")
    assert job["input"]["sample_rate"] == SR and job["input"]["channels"] == 1
    assert job["input"]["format"] == "WAV"
    events = sse_events(client, job["id"])
    assert events[-1]["status"] == "done" and events[-1]["progress"] == 1.0
    progress = [e["progress"] for e in events if e["status"] == "running"]
    assert progress == sorted(progress)  # never goes back
    j = client.get(f"/api/jobs/{job['id']}").get_json()
    assert j["status"] == "done" and j["error"] is None
    fo, fe = j["figures"]["original"], j["figures"]["enhanced"]
    assert fe["snr_db"] > fo["snr_db"] + 3.0  # the voice preset removes noise
    assert fe["noise_floor_dbfs"] < fo["noise_floor_dbfs"] - 3.0
    assert fe["peak_dbfs"] <= -0.9  # the limiter's ceiling is -1 dBFS
    assert abs(fo["duration_s"] - 2.0) < 1e-3

    d = client.get(f"/api/jobs/{job['id']}/download")
    assert d.status_code == 200 and d.mimetype == "audio/wav"
    assert 'filename="My Episode 1-enhanced.wav"' in d.headers["Content-Disposition"]
    assert d.headers["Content-Disposition"].startswith("attachment")
    y, sr = sf.read(io.BytesIO(d.data), dtype="float32")
    x, _ = sf.read(io.BytesIO(wav_bytes), dtype="float32")
    assert sr == SR and y.shape == x.shape
    assert np.max(np.abs(y - x)) > 0.05
    # exactly what the preset does to the whole signal (24-bit output)
    chain = load_preset("voice_dsp")
    chain.set("wiener.floor_db", -25)
    ref = chain(x, SR, buffer_size=8192)
    assert np.max(np.abs(y - np.clip(ref, -1, 1))) < 1e-4

    # playing: both tracks with range requests, peaks and spectrograms for the page
    a = client.get(f"/api/jobs/{job['id']}/audio/enhanced", headers={"Range": "bytes=0-99"})
    assert a.status_code == 206 and len(a.data) == 100
    o = client.get(f"/api/jobs/{job['id']}/audio/original")
    assert o.status_code == 200 and o.data == wav_bytes and o.mimetype == "audio/wav"
    peaks = client.get(f"/api/jobs/{job['id']}/peaks").get_json()
    assert peaks["sample_rate"] == SR
    for w in ("original", "enhanced"):
        p = np.array(peaks[w]["peaks"])
        assert 1000 < p.size <= 6002 and np.all(np.abs(p) <= 1.0)
        assert abs(peaks[w]["duration"] - 2.0) < 1e-3
        s = client.get(f"/api/jobs/{job['id']}/spectrogram/{w}").get_json()
        s = np.array(s)
        assert s.ndim == 2 and s.shape[1] == 160 and s.shape[0] > 50
        assert s.min() >= 0 and s.max() <= 255 and s.max() > 100
    assert client.get("/api/jobs").get_json()[0]["id"] == job["id"]


def test_loudness_target(client, wav_bytes):
    r = upload(client, wav_bytes, loudness="-16")
    assert r.status_code == 202 and r.get_json()["loudness"] == -16.0
    job = wait_done(client, r.get_json()["id"])
    assert job["status"] == "done", job["error"]
    fe = job["figures"]["enhanced"]
    assert abs(fe["loudness_lufs"] - (-16.0)) < 0.5  # two passes: gain, then the limiter
    assert fe["peak_dbfs"] <= -0.99
    assert job["loudness_gain_db"] > 3.0
    y, _ = sf.read(io.BytesIO(client.get(f"/api/jobs/{job['id']}/download").data))
    assert y.shape[0] == 2 * SR
    assert not any(f.startswith("pass1") for f in os.listdir(
        client.application.extensions["aural.jobs"].job_dir(job["id"])))


@pytest.mark.parametrize("value", ["loud", "-80", "0", "nan"])
def test_bad_loudness(client, wav_bytes, value):
    r = upload(client, wav_bytes, loudness=value)
    assert r.status_code == 400 and "LUFS" in r.get_json()["error"]


@pytest.mark.parametrize("fmt,subtype,mime,name", [
    ("FLAC", "PCM_24", "audio/flac", "a.flac"),
    ("OGG", "VORBIS", "audio/ogg", "b.ogg"),
    ("MP3", "MPEG_LAYER_III", "audio/mpeg", "c.mp3"),
    ("WAV", "FLOAT", "audio/wav", "d.wav"),
])
def test_formats_decoded_by_content(client, fmt, subtype, mime, name):
    x = noisy_speech(1.0, channels=2)
    data = encode(x, fmt, subtype=subtype)
    # the extension lies on purpose: the type is found by decoding
    r = upload(client, data, name="upload.bin", output="flac")
    assert r.status_code == 202, r.get_json()
    job = wait_done(client, r.get_json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["input"]["format"] == fmt and job["input"]["channels"] == 2
    o = client.get(f"/api/jobs/{job['id']}/audio/original")
    assert o.mimetype == mime and o.data == data
    d = client.get(f"/api/jobs/{job['id']}/download")
    assert d.mimetype == "audio/flac"
    y, sr = sf.read(io.BytesIO(d.data))
    assert sr == SR and y.shape[1] == 2
    assert abs(y.shape[0] - job["input"]["frames"]) == 0


def test_aiff_gets_a_playable_preview(client):
    data = encode(noisy_speech(0.5), "AIFF", subtype="PCM_16")
    job = wait_done(client, upload(client, data, name="x.aiff").get_json()["id"])
    assert job["status"] == "done"
    o = client.get(f"/api/jobs/{job['id']}/audio/original")
    assert o.mimetype == "audio/wav"
    y, _ = sf.read(io.BytesIO(o.data), dtype="float32")
    x, _ = sf.read(io.BytesIO(data), dtype="float32")
    assert np.array_equal(y, x)


# ---------------------------------------------------------------------- bad input
TEXT = b"This is not audio at all, just a note.\n" * 50


@pytest.mark.parametrize("case", ["no_file", "empty", "text", "two_files"])
def test_bad_uploads(client, case, wav_bytes, app):
    if case == "no_file":
        r = client.post("/api/jobs", data={"preset": "voice"}, content_type="multipart/form-data")
        assert r.status_code == 400 and "No file" in r.get_json()["error"]
    elif case == "empty":
        r = upload(client, b"", name="empty.wav")
        assert r.status_code == 400 and "empty" in r.get_json()["error"]
    elif case == "text":
        r = upload(client, TEXT, name="talk.mp3")
        assert r.status_code == 415
        assert "not audio" in r.get_json()["error"]
    else:
        form = {"file": [(io.BytesIO(wav_bytes), "a.wav"), (io.BytesIO(wav_bytes), "b.wav")],
                "preset": "voice"}
        r = client.post("/api/jobs", data=form, content_type="multipart/form-data")
        assert r.status_code == 400 and "one file" in r.get_json()["error"]
    jobs = app.extensions["aural.jobs"]
    assert client.get("/api/jobs").get_json() == []
    assert os.listdir(jobs.incoming) == []  # the refused upload left nothing behind
    assert [e for e in os.listdir(jobs.root) if e != ".incoming"] == []


@pytest.mark.parametrize("form,status,words", [
    ({"preset": "nope"}, 400, "Unknown preset"),
    ({"preset": "../../engine/presets/voice.json"}, 400, "Unknown preset"),
    ({"preset": "/etc/passwd"}, 400, "Unknown preset"),
    ({"params": "{not json"}, 400, "not valid JSON"),
    ({"params": "[1, 2]"}, 400, "must be an object"),
    ({"params": json.dumps({"wiener.nope": 1})}, 400, "no parameter"),
    ({"params": json.dumps({"nonode.floor_db": 1})}, 400, "no node"),
    ({"params": json.dumps({"floor_db": 1})}, 400, "node.param"),
    ({"params": json.dumps({"wiener.floor_db": "loud"})}, 400, "not a number"),
    ({"params": json.dumps({"wiener.floor_db": [1]})}, 400, "not a value"),
    ({"params": '{"wiener.floor_db": NaN}'}, 400, "finite"),
    ({"output": "exe"}, 400, "Unknown output format"),
])
def test_bad_settings(client, wav_bytes, form, status, words):
    base = {"file": (io.BytesIO(wav_bytes), "a.wav"), "preset": "voice_dsp"}
    base.update(form)
    r = client.post("/api/jobs", data=base, content_type="multipart/form-data")
    assert r.status_code == status, r.get_json()
    assert words in r.get_json()["error"]


def test_size_limit_has_a_clear_message(tmp_path, wav_bytes):
    app = create_app(tmp_path / "jobs", max_upload_mb=0.1)
    try:
        c = app.test_client()
        assert len(wav_bytes) > 0.1 * 1048576
        r = upload(c, wav_bytes)
        assert r.status_code == 413
        msg = r.get_json()["error"]
        assert "limit is 0.1 MB" in msg and "The file is" in msg
        small = encode(noisy_speech(0.3), "WAV", subtype="PCM_16")
        assert upload(c, small).status_code == 202
    finally:
        app.extensions["aural.jobs"].stop()


@pytest.mark.parametrize("kind", ["long", "rate", "channels"])
def test_refused_audio(tmp_path, kind):
    app = create_app(tmp_path / "jobs", max_duration_h=1.0 / 3600)  # 1 second
    try:
        c = app.test_client()
        if kind == "long":
            data, words = encode(noisy_speech(1.5), "WAV"), "the limit is 0:01"
        elif kind == "rate":
            data, words = encode(noisy_speech(0.5)[::8], "WAV", sr=6000), "6000 Hz is not supported"
        else:
            data = encode(np.zeros((4800, 9), np.float32), "WAV")
            words = "9 channels"
        r = upload(c, data)
        assert r.status_code == 415 and words in r.get_json()["error"], r.get_json()
    finally:
        app.extensions["aural.jobs"].stop()


def test_corrupt_file_ends_in_a_clear_error(client):
    """A file whose start decodes but whose middle is garbage: the job fails with a message."""
    data = bytearray(encode(noisy_speech(2.0), "FLAC"))
    rng = np.random.default_rng(1)
    k = len(data) // 3
    data[k:] = rng.integers(0, 256, len(data) - k, dtype=np.uint8).tobytes()
    r = upload(client, bytes(data), name="broken.flac")
    assert r.status_code == 202
    job = wait_done(client, r.get_json()["id"])
    assert job["status"] == "error"
    assert job["error"].startswith("The file cannot be decoded") and "corrupt" in job["error"]
    assert "/" not in job["error"]  # no server path in the message
    assert client.get(f"/api/jobs/{job['id']}/download").status_code == 409
    files = os.listdir(client.application.extensions["aural.jobs"].job_dir(job["id"]))
    assert not any(f.startswith("enhanced") or f.endswith(".part") for f in files)


@pytest.mark.parametrize("name", ["../../../escape.wav", "..\\..\\esc*ape?.wav", "/tmp/<escape>.wav"])
def test_user_names_never_become_paths(client, wav_bytes, app, tmp_path, name):
    r = upload(client, wav_bytes, name=name)
    assert r.status_code == 202
    job = wait_done(client, r.get_json()["id"])
    assert job["name"] == "escape.wav" and job["output_name"] == "escape-enhanced.wav"
    root = app.extensions["aural.jobs"].root
    for dirpath, _, files in os.walk(tmp_path):
        assert not any("escape" in f for f in files)
        assert os.path.commonpath([dirpath, str(tmp_path)]) == str(tmp_path)
    assert sorted(os.listdir(root)) == sorted([".incoming", job["id"]])
    d = client.get(f"/api/jobs/{job['id']}/download")
    assert "escape-enhanced.wav" in d.headers["Content-Disposition"]


@pytest.mark.parametrize("path,status", [
    ("/api/jobs/" + "0" * 32, 404),
    ("/api/jobs/" + "A" * 32, 404),
    ("/api/jobs/..%2F..%2Fetc%2Fpasswd", 404),
    ("/api/jobs/abc/download", 404),
    ("/api/jobs/" + "0" * 32 + "/events", 404),
    ("/api/jobs/" + "0" * 32 + "/audio/original", 404),
    ("/api/jobs/" + "0" * 32 + "/spectrogram/original", 404),
    ("/api/nothing", 404),
])
def test_unknown_jobs_and_routes(client, path, status):
    r = client.get(path)
    assert r.status_code == status
    assert "error" in r.get_json()


def test_wrong_track_names(client, wav_bytes):
    job = wait_done(client, upload(client, wav_bytes).get_json()["id"])
    assert client.get(f"/api/jobs/{job['id']}/audio/../input").status_code == 404
    assert client.get(f"/api/jobs/{job['id']}/audio/meta").status_code == 404
    assert client.get(f"/api/jobs/{job['id']}/spectrogram/meta").status_code == 404


def test_cross_site_and_foreign_host_refused(tmp_path, wav_bytes):
    app = create_app(tmp_path / "jobs", allowed_hosts={"localhost", "127.0.0.1", "[::1]"})
    try:
        c = app.test_client()
        r = c.post(
            "/api/jobs", data={"file": (io.BytesIO(wav_bytes), "a.wav"), "preset": "voice"},
            content_type="multipart/form-data", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "Cross-site" in r.get_json()["error"]
        r = c.get("/api/jobs", headers={"Host": "evil.example:8000"})
        assert r.status_code == 403
        assert c.get("/api/jobs", headers={"Host": "127.0.0.1:8000"}).status_code == 200
        r = c.post("/api/jobs", data={"file": (io.BytesIO(wav_bytes), "a.wav"), "preset": "voice"},
                   content_type="multipart/form-data",
                   headers={"Origin": "http://localhost", "Host": "localhost"})
        assert r.status_code == 202
    finally:
        app.extensions["aural.jobs"].stop()


# ---------------------------------------------------------------------- cancel, queue
def test_cancel_running_and_queued(client):
    long = encode(noisy_speech(8.0), "WAV")
    long = encode(np.tile(sf.read(io.BytesIO(long), dtype="float32")[0], 8), "WAV")  # 64 s
    a = upload(client, long, name="long.wav").get_json()
    b = upload(client, long, name="next.wav").get_json()
    assert b["status"] == "queued" and b["queue_position"] >= 1
    t0 = time.monotonic()
    while client.get(f"/api/jobs/{a['id']}").get_json()["progress"] <= 0.0:
        assert time.monotonic() - t0 < 30
        time.sleep(0.02)
    r = client.post(f"/api/jobs/{b['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    r = client.post(f"/api/jobs/{a['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["cancel_requested"] is True
    ja = wait_done(client, a["id"], timeout=10)
    assert ja["status"] == "cancelled" and ja["progress"] < 1.0
    assert client.get(f"/api/jobs/{a['id']}/download").status_code == 409
    d = client.application.extensions["aural.jobs"].job_dir(a["id"])
    assert not any(f.startswith(("enhanced", ".")) for f in os.listdir(d))
    assert client.post(f"/api/jobs/{a['id']}/cancel").status_code == 409
    assert client.get(f"/api/jobs/{b['id']}").get_json()["status"] == "cancelled"
    # an ended job can be removed, files and all
    assert client.delete(f"/api/jobs/{a['id']}").status_code == 200
    assert not os.path.exists(d)
    assert client.get(f"/api/jobs/{a['id']}").status_code == 404


def test_several_uploads_are_queued_not_dropped(client):
    data = [encode(noisy_speech(0.5, seed=i), "WAV") for i in range(4)]
    results = [None] * 4
    client.get("/api/config")  # the browser's token, before the threads copy it

    def send(i):
        c = same_browser(client, client.application.test_client())
        results[i] = upload(c, data[i], name=f"part{i}.wav")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 202 for r in results)
    ids = [r.get_json()["id"] for r in results]
    assert len(set(ids)) == 4
    jobs = {j["id"]: j for j in client.get("/api/jobs").get_json()}
    positions = sorted(jobs[i]["queue_position"] for i in ids if jobs[i]["status"] == "queued")
    assert positions == list(range(1, len(positions) + 1))  # one worker: the rest wait in order
    for i in ids:
        assert wait_done(client, i)["status"] == "done"
    for i, jid in enumerate(ids):
        y, _ = sf.read(io.BytesIO(client.get(f"/api/jobs/{jid}/download").data), dtype="float32")
        x, _ = sf.read(io.BytesIO(data[i]), dtype="float32")
        assert y.shape == x.shape and np.max(np.abs(y - x)) > 0.01


# ---------------------------------------------------------------------- restart, clean-up
def test_jobs_survive_a_restart(tmp_path, wav_bytes):
    root = tmp_path / "jobs"
    app = create_app(root)
    c = app.test_client()
    done = wait_done(c, upload(c, wav_bytes, name="kept.wav").get_json()["id"])
    result = c.get(f"/api/jobs/{done['id']}/download").data
    app.extensions["aural.jobs"].stop()
    # a second server that has not started its workers takes an upload and stops
    app2 = create_app(root, start_workers=False)
    c2 = same_browser(c, app2.test_client())
    waiting = upload(c2, wav_bytes, name="waiting.wav").get_json()
    assert waiting["status"] == "queued"
    app2.extensions["aural.jobs"].stop()
    # the third finds both: the finished one as it was, the queued one processed now
    app3 = create_app(root)
    try:
        c3 = same_browser(c, app3.test_client())
        j = c3.get(f"/api/jobs/{done['id']}").get_json()
        assert j["status"] == "done" and j["name"] == "kept.wav" and j["figures"] == done["figures"]
        assert c3.get(f"/api/jobs/{done['id']}/download").data == result
        assert c3.get(f"/api/jobs/{done['id']}/peaks").status_code == 200
        w = wait_done(c3, waiting["id"])
        assert w["status"] == "done"
    finally:
        app3.extensions["aural.jobs"].stop()


def test_interrupted_job_is_requeued(tmp_path, wav_bytes):
    root = tmp_path / "jobs"
    app = create_app(root, start_workers=False)
    c1 = app.test_client()
    jid = upload(c1, wav_bytes).get_json()["id"]
    meta = root / jid / "meta.json"
    m = json.loads(meta.read_text())
    m.update(status="running", progress=0.4)  # as if the server died mid-job
    meta.write_text(json.dumps(m))
    (root / "0123456789abcdef0123456789abcdef").mkdir()  # a folder without metadata
    app.extensions["aural.jobs"].stop()
    app2 = create_app(root)
    try:
        c = same_browser(c1, app2.test_client())
        assert wait_done(c, jid)["status"] == "done"
        assert not (root / "0123456789abcdef0123456789abcdef").exists()
    finally:
        app2.extensions["aural.jobs"].stop()


def test_old_jobs_are_cleaned_up(tmp_path, wav_bytes):
    app = create_app(tmp_path / "jobs", keep_hours=2.0)
    try:
        c = app.test_client()
        mgr = app.extensions["aural.jobs"]
        old = wait_done(c, upload(c, wav_bytes).get_json()["id"])
        stale = os.path.join(mgr.incoming, "up-stale")
        with open(stale, "wb") as f:
            f.write(b"x")
        assert mgr.cleanup(now=time.time() + 3600) == 0  # 1 h later: kept
        assert c.get(f"/api/jobs/{old['id']}").status_code == 200
        assert mgr.cleanup(now=time.time() + 2.5 * 3600) == 1  # 2.5 h later: gone
        assert c.get(f"/api/jobs/{old['id']}").status_code == 404
        assert not os.path.exists(mgr.job_dir(old["id"]))
        assert not os.path.exists(stale)
    finally:
        app.extensions["aural.jobs"].stop()


# ---------------------------------------------------------------------- a real server, the CLI
def test_aural_serve_real_server(tmp_path, wav_bytes):
    import http.cookiejar
    import urllib.error
    import urllib.request

    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "aural.cli", "serve", "--port", "0", "--jobs-dir",
                          str(tmp_path / "jobs"), "--keep-hours", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         cwd=ROOT,
                         # a test run started in the background (`cmd &` in a script) ignores
                         # SIGINT, the server would inherit that and rightly keep it (as a
                         # backgrounded `aural serve` should): give it the terminal's default
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = ""
        t0 = time.monotonic()
        while "http://" not in line:
            assert time.monotonic() - t0 < 60 and p.poll() is None, line
            line = p.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        cfg = json.loads(browser.open(url + "api/config", timeout=10).read())
        assert cfg["keep_hours"] == 1.0
        boundary = "aural-test-boundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"preset\"\r\n\r\nvoice\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                f"Content-Type: audio/wav\r\n\r\n").encode() + wav_bytes + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(url + "api/jobs", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        job = json.loads(browser.open(req, timeout=30).read())
        with browser.open(url + f"api/jobs/{job['id']}/events", timeout=60) as ev:
            last = None
            for raw in ev:
                if raw.startswith(b"data: "):
                    last = json.loads(raw[6:])
        assert last["status"] == "done"
        # the job is this browser's: another client (no cookie) does not see it
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + f"api/jobs/{job['id']}/download", timeout=10)
        assert e.value.code == 404
        assert json.loads(urllib.request.urlopen(url + "api/jobs", timeout=10).read()) == []
        assert len(browser.open(url + f"api/jobs/{job['id']}/download", timeout=10).read()) > 1000
        # loopback server: a foreign Host header (DNS rebinding) is refused
        req = urllib.request.Request(url + "api/jobs", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 403
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=30)  # the job workers are joined for up to 5 s each
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("aural serve did not stop within 30 s of SIGINT: "
                                 + p.stdout.read()[-2000:]) from None
    assert p.returncode == 0


def test_serve_help_and_bad_options(capsys):
    from aural.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--host" in out and "--port" in out and "--keep-hours" in out and "--max-upload-mb" in out
    assert main(["serve", "--port", "70000"]) == 2
    assert main(["serve", "--keep-hours", "0"]) == 2


# ---------------------------------------------------------------------- analysis
def test_analysis_figures_peaks_and_spectrogram():
    sr = 48000
    t = np.arange(3 * sr) / sr
    x = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[np.newaxis]
    a = Analyzer(sr, 1, x.shape[1])
    for i in range(0, x.shape[1], 4096):  # fed in blocks
        a.feed(x[:, i:i + 4096])
    f = a.figures()
    assert abs(f["loudness_lufs"] - (-23.0)) < 0.1  # BS.1770: -20 dBFS 1 kHz sine, mono
    assert abs(f["peak_dbfs"] - (-20.0)) < 0.01 and abs(f["rms_dbfs"] - (-23.01)) < 0.01
    p = np.array(a.peaks())
    assert p.size == 2 * 3000 and np.allclose(p[0::2].max(), 0.1, atol=1e-3)
    assert np.allclose(p[1::2].min(), -0.1, atol=1e-3)
    s = np.array(a.spectrogram())
    edges = 700 * (10 ** (np.linspace(0, 2595 * np.log10(1 + 24000 / 700), 161) / 2595) - 1)
    band = int(np.searchsorted(edges, 1000.0)) - 1
    assert abs(int(np.argmax(s[s.shape[0] // 2])) - band) <= 1  # the tone is in its mel band
    w = mel_band_matrix(2048, sr, 160)
    assert np.allclose(w.sum(axis=1), 1.0)


# ---------------------------------------------------------------------- presets for people (19.7)
def test_presets_in_plain_words_with_guards(tmp_path, wav_bytes):
    app = create_app(tmp_path / "jobs", start_workers=False)
    try:
        c = app.test_client()
        presets = c.get("/api/presets").get_json()
        names = [p["name"] for p in presets]
        assert names[0] == "voice" and names.index("voice_dsp") < names.index("music")
        titles = {p["name"]: p["title"] for p in presets}
        assert titles["voice"] == "Voice" and titles["vinyl"] == "Old vinyl record"
        for p in presets:
            assert "_" not in p["title"] and p["description"], p
            for word in ("SI-SDR", "docs/", ".md", "floor -8 dB", "ms at 48 kHz"):
                assert word not in p["description"], (p["name"], word)
        assert "removes background noise and hum" in presets[0]["description"]
        restore = {c["address"]: c for c in presets[names.index("voice_restore")]["controls"]}
        clip, hum = restore["declip.clip_level"], restore["dehum.freq_hz"]
        assert clip["auto"] and hum["auto"] and clip["value"] == 0 and hum["value"] == 0
        assert (clip["min"], clip["max"], clip["step"]) == (0.25, 1.0, 0.01)
        assert 40.0 <= hum["min"] < 50.0 and 60.0 < hum["max"] <= 70.0
        assert not restore["wiener.floor_db" if "wiener.floor_db" in restore else
                           "neural.high_band_floor"]["auto"]
        assert restore["compressor.attack_ms"]["main"] is False  # expert
        assert restore["neural.atten_limit"]["label"] == "Noise removed, at most"
        # the server clamps to the same guard: a nudge off auto cannot wreck the result
        r = upload(c, wav_bytes, preset="voice_restore",
                   params={"declip.clip_level": 0.02, "dehum.freq_hz": 2.5,
                           "compressor.ratio": 100, "highpass.bypass": True})
        assert r.status_code == 202, r.get_json()
        assert r.get_json()["params"] == {"declip.clip_level": 0.25, "dehum.freq_hz": 40.0,
                                          "compressor.ratio": 8.0, "highpass.bypass": True}
        r = upload(c, wav_bytes, preset="voice_restore",
                   params={"declip.clip_level": 0, "dehum.freq_hz": 0})
        assert r.get_json()["params"] == {"declip.clip_level": 0.0, "dehum.freq_hz": 0.0}
        r = upload(c, wav_bytes, params={"wiener.floor_db": -1000})
        assert r.status_code == 400 and "out of range" in r.get_json()["error"]
    finally:
        app.extensions["aural.jobs"].stop()


# ---------------------------------------------------------------------- abuse (20.3)
def silent_flac(seconds: float, channels: int, sr: int) -> bytes:
    """A FLAC of digital silence: a few kB that decode to a huge number of samples."""
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", sr, channels, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros((sr, channels), np.int16)
        for _ in range(int(seconds)):
            f.write(block)
    return buf.getvalue()


def tree_bytes(root) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)


def test_output_bomb_refused_before_anything_is_written(tmp_path):
    bomb = silent_flac(20, 8, 192000)
    assert len(bomb) < 100_000  # 20 s, 8 channels, 192 kHz: 92 MB of 24-bit output
    root = tmp_path / "jobs"
    app = create_app(root, max_job_gb=0.05)
    try:
        c = app.test_client()
        r = upload(c, bomb, name="bomb.flac")
        assert r.status_code == 413, r.get_json()
        msg = r.get_json()["error"]
        samples = 20 * 192000 * 8
        fixed = 2 * 1024 * 1024  # headers and the page's JSON
        assert f"about {(samples * 3 + fixed) / 1e6:.0f} MB" in msg  # 24-bit result
        assert "limit per job is 50 MB" in msg and "8 channels at 192 kHz" in msg
        assert tree_bytes(root) == 0  # the upload is gone, nothing was written
        assert sorted(os.listdir(root)) == [".incoming"]
        assert c.get("/api/jobs").get_json() == []
        # the same file with a loudness target needs the float intermediate too
        r = upload(c, bomb, name="bomb.flac", loudness="-16")
        assert r.status_code == 413
        assert f"about {(samples * 7 + fixed) / 1e6:.0f} MB" in r.get_json()["error"]
        assert tree_bytes(root) == 0
    finally:
        app.extensions["aural.jobs"].stop()


def test_total_disk_quota_of_the_jobs_folder(tmp_path, wav_bytes):
    root = tmp_path / "jobs"
    # each upload needs ~0.2 MB of input and reserves ~2.4 MB of results: room for one
    app = create_app(root, max_total_gb=0.004, start_workers=False)
    try:
        c = app.test_client()
        first = upload(c, wav_bytes)
        assert first.status_code == 202, first.get_json()
        r = upload(c, wav_bytes)  # the queued first job's results are reserved
        assert r.status_code == 413 and "storage is full" in r.get_json()["error"]
        assert len(os.listdir(root)) == 2 and os.listdir(root / ".incoming") == []
        c.post(f"/api/jobs/{first.get_json()['id']}/cancel")  # frees its reservation
        assert upload(c, wav_bytes).status_code == 202
    finally:
        app.extensions["aural.jobs"].stop()


def test_jobs_are_scoped_to_their_browser(app, wav_bytes):
    alice, bob = app.test_client(), app.test_client()  # two cookie jars: two browsers
    assert "Set-Cookie" not in alice.get("/").headers  # the page itself never sets the token
    r = upload(alice, wav_bytes)
    assert r.status_code == 202
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("aural_client=") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    jid = r.get_json()["id"]
    assert wait_done(alice, jid)["status"] == "done"
    assert [j["id"] for j in alice.get("/api/jobs").get_json()] == [jid]
    assert alice.get(f"/api/jobs/{jid}/download").status_code == 200
    assert bob.get("/api/jobs").get_json() == []
    for path in ("", "/download", "/events", "/peaks", "/audio/original", "/audio/enhanced",
                 "/spectrogram/original"):
        assert bob.get(f"/api/jobs/{jid}{path}").status_code == 404, path
    assert bob.post(f"/api/jobs/{jid}/cancel").status_code == 404
    assert bob.delete(f"/api/jobs/{jid}").status_code == 404
    # a forged token is a new browser, not a way in
    eve = app.test_client()
    eve.set_cookie("aural_client", "x" * 43)
    assert eve.get(f"/api/jobs/{jid}").status_code == 404
    eve.set_cookie("aural_client", "../" * 20)
    assert eve.get("/api/jobs").get_json() == []
    assert alice.get(f"/api/jobs/{jid}").get_json()["status"] == "done"
    assert "client" not in alice.get(f"/api/jobs/{jid}").get_json()


@pytest.mark.parametrize("params,words", [
    ('{"wiener.floor_db": 1' + "0" * 400 + "}", "out of range"),
    ('{"wiener.floor_db": 1' + "0" * 5000 + "}", "far too large"),
    ('{"wiener.floor_db": -1e999}', "finite"),
    ('{"wiener.floor_db": NaN}', "finite"),
    ('{"wiener.floor_db": Infinity}', "finite"),
    ('{"a": ' + "[" * 30000 + "]" * 30000 + "}", "nested too deeply"),
    ("[" * 100000 + "]" * 100000, "too long"),
    ('{"dehum.harmonics": 1' + "0" * 30 + "}", "out of range"),
    ('{"wiener.floor_db": true}', "not a number"),
])
def test_hostile_parameters_are_a_400(client, wav_bytes, app, params, words):
    r = client.post("/api/jobs", data={"file": (io.BytesIO(wav_bytes), "a.wav"),
                                       "preset": "voice_dsp", "params": params},
                    content_type="multipart/form-data")
    assert r.status_code == 400, r.get_json()
    assert words in r.get_json()["error"]
    assert tree_bytes(app.extensions["aural.jobs"].root) == 0


def test_connection_bound(tmp_path):
    import socket
    import urllib.error
    import urllib.request

    from aural.web.server import make_server

    n = 4
    app = create_app(tmp_path / "jobs", start_workers=False)
    srv = make_server("127.0.0.1", 0, app, max_connections=n, timeout=2.0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    threads_before = threading.active_count()
    socks = []
    try:
        for _ in range(n + 5):  # idle: connect, send nothing
            socks.append(socket.create_connection(("127.0.0.1", srv.server_port), timeout=10))
        def reply(s) -> bytes:
            s.settimeout(10)
            try:
                return s.recv(4096)
            except OSError as e:
                return repr(e).encode()

        busy = [reply(s) for s in socks[n:]]  # the ones over the bound: 503 at once
        assert all(r.startswith(b"HTTP/1.1 503") and b'"error"' in r for r in busy), busy
        assert srv.refused == 5
        assert threading.active_count() <= threads_before + n  # one thread per served one
        # the served ones, idle, are dropped after the 2 s timeout, freeing their places
        assert [reply(s) for s in socks[:n]] == [b""] * n
        # and the server still answers a normal request (generous bound: 10x the idle timeout)
        t0 = time.monotonic()
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{srv.server_port}/api/config",
                                              timeout=10).read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() - t0 < 20
                time.sleep(0.2)
        assert json.loads(body)["max_upload_mb"] == 500
        assert time.monotonic() - t0 < 20
    finally:
        for s in socks:
            s.close()
        srv.shutdown()
        srv.server_close()
        app.extensions["aural.jobs"].stop()


def test_stale_temporaries_swept_at_start(tmp_path, wav_bytes):
    root = tmp_path / "jobs"
    app = create_app(root)
    c = app.test_client()
    done = wait_done(c, upload(c, wav_bytes).get_json()["id"])
    app.extensions["aural.jobs"].stop()
    app2 = create_app(root, start_workers=False)
    c2 = same_browser(c, app2.test_client())
    queued = upload(c2, wav_bytes).get_json()["id"]
    app2.extensions["aural.jobs"].stop()
    # as a killed server leaves them: partial writes, the loudness pass, half-written JSON
    junk = [".enhanced.wav.k2j3h4.part", ".out.wav.abc.pass1.w64", "pass1.wav", ".tmp-x1.json"]
    for jid in (done["id"], queued):
        for name in junk:
            (root / jid / name).write_bytes(b"\0" * 1000)
    (root / queued / "enhanced.wav").write_bytes(b"\0" * 1000)  # a result half written
    (root / ".incoming" / "up-dead").write_bytes(b"\0" * 1000)
    app3 = create_app(root, start_workers=False)
    try:
        assert sorted(os.listdir(root / done["id"])) == [
            "enhanced.wav", "input", "meta.json", "peaks.json", "spectrogram-enhanced.json",
            "spectrogram-original.json"]
        assert sorted(os.listdir(root / queued)) == ["input", "meta.json"]
        assert os.listdir(root / ".incoming") == []
        c3 = same_browser(c, app3.test_client())
        assert c3.get(f"/api/jobs/{done['id']}/download").status_code == 200
    finally:
        app3.extensions["aural.jobs"].stop()


# ---------------------------------------------------------------------- batches (issue 24)
def post_batch(client, files: list[tuple[bytes, str]], preset: str = "voice_dsp", params=None,
               **extra):
    form = {"file": [(io.BytesIO(data), name) for data, name in files], "preset": preset,
            "output": "wav",
            "params": params if isinstance(params, str) else json.dumps(params or {})}
    form.update(extra)
    return client.post("/api/batches", data=form, content_type="multipart/form-data")


def wait_batch(client, bid: str, timeout: float = 120.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        b = client.get(f"/api/batches/{bid}").get_json()
        if b["status"] == "done":
            return b
        time.sleep(0.1)
    raise AssertionError(f"batch {bid} did not end in {timeout} s: {b}")


def test_batch_of_files_with_a_broken_one_and_zip(app, client):
    import zipfile
    a = noisy_speech(1.0, seed=1)
    b = noisy_speech(1.5, channels=2, seed=2)
    files = [(encode(a, "WAV", subtype="PCM_16"), "session/a.wav"),
             (b"this is not audio\n" * 100, "session/notes/broken.wav"),
             (encode(b, "FLAC"), "session/sub/b.flac")]
    r = post_batch(client, files)
    assert r.status_code == 202, r.get_json()
    batch = r.get_json()
    assert re.fullmatch(r"[0-9a-f]{32}", batch["id"]) and batch["total"] == 3
    assert r.headers["Location"] == f"/api/batches/{batch['id']}"
    assert [j["path"] for j in batch["jobs"]] == ["a.wav", "notes/broken.wav", "sub/b.flac"]
    assert batch["folder"] == "session"
    assert len({j["id"] for j in batch["jobs"]}) == 3  # one job per file
    assert all(j["batch"] == batch["id"] and j["preset"] == "voice_dsp" for j in batch["jobs"])
    broken = batch["jobs"][1]
    assert broken["status"] == "error" and "not audio" in broken["error"]
    done = wait_batch(client, batch["id"])
    assert done["counts"] == {"queued": 0, "running": 0, "done": 2, "error": 1, "cancelled": 0}
    assert done["progress"] == 1.0
    assert [j["status"] for j in done["jobs"]] == ["done", "error", "done"]
    # each job is a job of its own too
    assert client.get(f"/api/jobs/{done['jobs'][0]['id']}").get_json()["status"] == "done"

    z = client.get(f"/api/batches/{batch['id']}/zip")
    assert z.status_code == 200 and z.mimetype == "application/zip"
    assert z.is_streamed
    assert 'filename="session-enhanced.zip"' in z.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(z.data)) as zf:
        assert sorted(zf.namelist()) == ["a-enhanced.wav", "sub/b-enhanced.wav"]
        for name, x in (("a-enhanced.wav", a), ("sub/b-enhanced.wav", b)):
            y, sr = sf.read(io.BytesIO(zf.read(name)), dtype="float32", always_2d=True)
            assert sr == SR and y.shape == x.reshape(len(x), -1).shape
            assert np.max(np.abs(y - x.reshape(len(x), -1))) > 0.01  # processed, not copied
        one = client.get(f"/api/jobs/{done['jobs'][2]['id']}/download").data
        assert zf.read("sub/b-enhanced.wav") == one

    # another browser sees none of it
    other = app.test_client()
    for path in (f"/api/batches/{batch['id']}", f"/api/batches/{batch['id']}/zip",
                 f"/api/jobs/{done['jobs'][0]['id']}"):
        assert other.get(path).status_code == 404, path
    assert other.post(f"/api/batches/{batch['id']}/cancel").status_code == 404
    assert client.get("/api/batches/" + "0" * 32).status_code == 404
    assert client.get("/api/batches/..%2Fetc").status_code == 404


def test_batch_names_are_never_paths_and_stay_unique(client, tmp_path):
    x = encode(noisy_speech(0.5), "WAV", subtype="PCM_16")
    files = [(x, "../../etc/a.wav"), (x, "a.wav"), (x, "c:\\evil\\..\\b.wav")]
    r = post_batch(client, files, path=["../../etc/a.wav", "a.wav", "c:\\evil\\..\\b.wav"])
    assert r.status_code == 202, r.get_json()
    assert [j["path"] for j in r.get_json()["jobs"]] == ["etc/a.wav", "a.wav", "c/evil/b.wav"]
    done = wait_batch(client, r.get_json()["id"])
    import zipfile
    with zipfile.ZipFile(io.BytesIO(client.get(f"/api/batches/{done['id']}/zip").data)) as zf:
        assert sorted(zf.namelist()) == ["a-enhanced.wav", "c/evil/b-enhanced.wav",
                                         "etc/a-enhanced.wav"]
    assert not (tmp_path / "etc").exists()


def test_batch_refusals(tmp_path, wav_bytes):
    app = create_app(tmp_path / "jobs", start_workers=False, max_total_gb=0.01)
    try:
        c = app.test_client()
        manager = app.extensions["aural.jobs"]
        # 3 files of 20 s stereo 48 kHz: 5.8 + 2.1 MB each, 24 MB in all: over 10 MB
        big = encode(np.zeros((20 * SR, 2), np.float32), "FLAC")
        r = post_batch(c, [(big, f"f{i}.flac") for i in range(3)])
        assert r.status_code == 413
        msg = r.get_json()["error"]
        assert "3 files" in msg and "in total" in msg and "24 MB" in msg, msg
        r = post_batch(c, [])
        assert r.status_code == 400 and "No file" in r.get_json()["error"]
        r = post_batch(c, [(wav_bytes, "a.wav")], preset="../voice")
        assert r.status_code == 400 and "Unknown preset" in r.get_json()["error"]
        r = post_batch(c, [(wav_bytes, "a.wav")], params="{nope")
        assert r.status_code == 400 and "JSON" in r.get_json()["error"]
        # nothing was kept: no job, no stray upload
        assert manager.list() == []
        assert os.listdir(manager.incoming) == []
        assert [d for d in os.listdir(manager.root) if not d.startswith(".")] == []
    finally:
        app.extensions["aural.jobs"].stop()


def test_batch_survives_a_restart(tmp_path, wav_bytes):
    app = create_app(tmp_path / "jobs", start_workers=False)
    c = app.test_client()
    r = post_batch(c, [(wav_bytes, "x/a.wav"), (b"", "x/empty.wav")])
    assert r.status_code == 202
    bid = r.get_json()["id"]
    assert r.get_json()["jobs"][1]["error"] == "The file is empty."
    app.extensions["aural.jobs"].stop()
    app2 = create_app(tmp_path / "jobs", keep_hours=1.0)
    try:
        c2 = same_browser(c, app2.test_client())
        done = wait_batch(c2, bid)
        assert [j["status"] for j in done["jobs"]] == ["done", "error"]
    finally:
        app2.extensions["aural.jobs"].stop()


# ---------------------------------------------------------------------- auto (issue 22.4)
def hum_speech(seconds: float = 3.0, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """(clean real speech, the same with 50 Hz mains hum and 4 harmonics), float32 1-D."""
    from conftest import speech
    x = speech(sr, seconds)
    t = np.arange(x.size) / sr
    hum = sum((0.02 / k) * np.sin(2 * np.pi * 50 * k * t) for k in range(1, 6))
    return x, (x + hum).astype(np.float32)


def test_auto_preset_reports_what_it_found_and_did(client):
    presets = client.get("/api/presets").get_json()
    names = [p["name"] for p in presets]
    assert names.index("auto") == 1  # second: the one to pick when you don't know
    auto = presets[1]
    assert auto["description"].startswith("Not sure? Analyses your recording")
    assert auto["controls"] == []
    clean, hummy = hum_speech()
    r = upload(client, encode(hummy, "WAV", subtype="FLOAT"), preset="auto")
    assert r.status_code == 202, r.get_json()
    job = wait_done(client, r.get_json()["id"])
    assert job["status"] == "done", job["error"]
    assert any("50 Hz hum" in f for f in job["findings"]), job["findings"]
    assert any("hum" in a and "DeHum" in a for a in job["actions"]), job["actions"]
    y, _ = sf.read(io.BytesIO(client.get(f"/api/jobs/{job['id']}/download").data),
                   dtype="float32")
    # the strongest hum lines are gone: over the last 2 s, 10 dB or more lower
    def line(sig: np.ndarray, f: float) -> float:
        seg = sig[-2 * SR:]
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
        return float(spec[int(round(f * seg.size / SR))])
    for f in (50.0, 100.0):
        assert line(y, f) < line(hummy, f) * 10 ** (-10 / 20), f
    # a setting for a node it built applies; one for a node it did not is skipped
    r = upload(client, encode(hummy, "WAV", subtype="FLOAT"), preset="auto",
               params={"dehum.depth_db": 30, "declick.threshold": 9})
    job = wait_done(client, r.get_json()["id"])
    assert job["status"] == "done", job["error"]
    assert any("at most 30 dB" in a for a in job["actions"]), job["actions"]


def test_auto_leaves_a_clean_recording_bit_identical(client):
    clean, _ = hum_speech()
    data = encode(clean, "WAV", subtype="PCM_16")
    r = upload(client, data, preset="auto")
    job = wait_done(client, r.get_json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["actions"] == ["nothing to repair: the output is the input, unchanged"]
    assert "no mains hum" in job["findings"]
    y, _ = sf.read(io.BytesIO(client.get(f"/api/jobs/{job['id']}/download").data), dtype="int32")
    x, _ = sf.read(io.BytesIO(data), dtype="int32")
    assert y.shape == x.shape and np.array_equal(y, x)
    # other presets carry no auto report
    r = upload(client, data)
    assert wait_done(client, r.get_json()["id"])["findings"] is None


def test_auto_with_a_loudness_target_never_clips(client):
    _, hummy = hum_speech(3.0)
    r = upload(client, encode(0.3 * hummy, "WAV", subtype="FLOAT"), preset="auto",
               loudness="-12")
    job = wait_done(client, r.get_json()["id"])
    assert job["status"] == "done", job["error"]
    fe = job["figures"]["enhanced"]
    assert job["loudness_gain_db"] > 6.0 and abs(fe["loudness_lufs"] + 12.0) < 1.0
    assert fe["peak_dbfs"] <= -0.99 and job["clipped_samples"] == 0  # a limiter after the gain


def test_auto_with_a_bad_setting_is_a_clear_error(client):
    _, hummy = hum_speech(2.0)
    r = upload(client, encode(hummy, "WAV", subtype="FLOAT"), preset="auto",
               params={"dehum.nonsense": 3})
    job = wait_done(client, r.get_json()["id"])
    assert job["status"] == "error" and "nonsense" in job["error"], job["error"]
    r = upload(client, encode(hummy, "WAV", subtype="FLOAT"), preset="auto",
               params={"dehum": 3})
    assert r.status_code == 400 and "node.param" in r.get_json()["error"]


# ---------------------------------------------------------------------- restore_band (issue 23)
def test_restore_band_rebuilds_the_treble(client):
    from scipy.signal import butter, sosfiltfilt
    presets = {p["name"]: p for p in client.get("/api/presets").get_json()}
    rb = presets["restore_band"]
    assert rb["description"].startswith("Muffled or telephone-like recording?")
    ctl = {c["address"]: c for c in rb["controls"]}
    gain = ctl["bwe.gain_db"]
    assert gain["main"] and gain["label"] == "Treble amount"
    assert (gain["min"], gain["max"]) == (-12.0, 6.0)
    assert ctl["bwe.mode"]["main"] is False and ctl["bwe.mode"]["choices"] == ["model", "folding"]
    for addr, lo, hi in (("bwe.min_cutoff_hz", 1000, 20000), ("bwe.max_cutoff_hz", 2000, 22000),
                         ("bwe.drop_db", 10, 80), ("bwe.detect_ms", 50, 10000),
                         ("bwe.noise", 0, 1), ("bwe.fold_offset_db", 0, 40)):
        assert (ctl[addr]["min"], ctl[addr]["max"], ctl[addr]["main"]) == (lo, hi, False), addr
    from conftest import speech
    x = speech(SR, 4.0, "b")
    x = (0.5 * sosfiltfilt(butter(10, 4000, fs=SR, output="sos"), x) / np.abs(x).max())
    data = encode(x.astype(np.float32), "WAV", subtype="FLOAT")

    def treble(sig: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(sig)) ** 2
        f = np.fft.rfftfreq(sig.size, 1 / SR)
        return float(spec[f > 5000].sum())

    for params in ({}, {"bwe.mode": "folding"}):
        r = upload(client, data, preset="restore_band", params=params)
        assert r.status_code == 202, r.get_json()
        job = wait_done(client, r.get_json()["id"], timeout=120)
        assert job["status"] == "done", job["error"]
        y, _ = sf.read(io.BytesIO(client.get(f"/api/jobs/{job['id']}/download").data))
        assert y.shape == x.shape
        assert treble(y) > 10 * treble(x), params  # the band above the cut-off is rebuilt
    # its guards clamp: a gain far above the guard is brought to +6 dB
    r = upload(client, data, preset="restore_band", params={"bwe.gain_db": 12})
    assert r.get_json()["params"] == {"bwe.gain_db": 6.0}
