"""The web page in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
upload the bundled example, watch the progress reach 100 %, see both waveforms and spectrograms
drawn, play, switch A/B at the same position, change the volume, download and decode the result.

scripts/setup.d/40-web.sh installs chromium and playwright; no browser is ever downloaded."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import soundfile as sf
from aural.web import create_app
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "aural", "examples", "speech_noisy.flac")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("jobs"), max_upload_mb=5)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    app.extensions["aural.jobs"].stop()


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), "run scripts/setup.d/40-web.sh (installs Debian's chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    ctx.close()


# canvases of WaveSurfer live in its shadow root; the spectrogram plugin's in our container
CANVAS_INK = """(sel) => {
  const host = document.querySelector(sel);
  const roots = [host];
  for (const e of host.querySelectorAll('*')) if (e.shadowRoot) roots.push(e.shadowRoot);
  let best = 0, canvases = 0;
  for (const r of roots) for (const c of r.querySelectorAll('canvas')) {
    if (!c.width || !c.height) continue;
    canvases++;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const first = [d[0], d[1], d[2], d[3]];
    let differ = 0;
    for (let i = 0; i < d.length; i += 4)
      if (d[i + 3] > 0 && (d[i] !== first[0] || d[i + 1] !== first[1] || d[i + 2] !== first[2] || d[i + 3] !== first[3])) differ++;
    best = Math.max(best, differ / (d.length / 4));
  }
  return {canvases, best};
}"""


def test_enhance_compare_download(server, page, tmp_path):
    page.goto(server + "/")
    expect(page.locator(".preset[data-preset=voice] input")).to_be_checked()
    # record every progress figure the page shows
    page.evaluate("""() => { window.seen = [];
      new MutationObserver(() => window.seen.push(document.getElementById('pct').textContent))
        .observe(document.getElementById('pct'), {childList: true, characterData: true, subtree: true}); }""")
    page.set_input_files("#file", EXAMPLE)
    expect(page.locator("#file-name")).to_have_text("speech_noisy.flac")
    page.click("#start")
    expect(page.locator("#result")).to_be_visible(timeout=60_000)
    seen = page.evaluate("window.seen")
    pcts = [int(s[:-1]) for s in seen if s.endswith("%")]
    assert pcts and pcts[-1] == 100, seen
    assert any(0 < p < 100 for p in pcts), seen  # real progress on the way, not a jump
    assert page.url.startswith(server + "/job/")
    expect(page.locator("#job-meta")).to_contain_text("Preset: Voice ")

    # both waveforms and both spectrograms drawn
    page.wait_for_function("() => window.aural.ready.original && window.aural.ready.enhanced")
    page.wait_for_function("() => document.querySelectorAll('#spec-enhanced canvas, #spec-original canvas').length >= 2")
    page.wait_for_timeout(500)
    for sel in ("#wave-original", "#wave-enhanced", "#spec-original", "#spec-enhanced"):
        ink = page.evaluate(CANVAS_INK, sel)
        assert ink["canvases"] >= 1 and ink["best"] > 0.01, (sel, ink)
    rows = page.locator("#figures-table tbody tr")
    expect(rows).to_have_count(5)
    expect(page.locator("tr[data-figure=snr_db] td").nth(3)).to_have_class("better")
    # the page asks for -16 LUFS by default (podcast loudness)
    cell = page.locator("tr[data-figure=loudness_lufs] td").nth(2).text_content()
    lufs = float(cell.replace("\u2212", "-"))
    assert abs(lufs + 16.0) < 0.5

    # play: the enhanced track is heard, the original runs muted beside it
    page.click("#play")
    page.wait_for_function("() => window.aural.players.enhanced.getCurrentTime() > 1.0", timeout=15_000)
    state = page.evaluate("""() => ({e: aural.players.enhanced.getCurrentTime(),
        o: aural.players.original.getCurrentTime(), em: aural.players.enhanced.getMuted(),
        om: aural.players.original.getMuted(), playing: aural.players.original.isPlaying()})""")
    assert state["playing"] and not state["em"] and state["om"]
    assert abs(state["e"] - state["o"]) < 0.2, state
    # A/B: switch to the original at the same position, keep playing
    page.click("#ab-original")
    after = page.evaluate("""() => ({active: aural.active, o: aural.players.original.getCurrentTime(),
        e: aural.players.enhanced.getCurrentTime(), om: aural.players.original.getMuted(),
        em: aural.players.enhanced.getMuted()})""")
    assert after["active"] == "original" and not after["om"] and after["em"]
    assert abs(after["o"] - after["e"]) < 0.2, after
    expect(page.locator("#track-original")).to_have_class("track active")
    expect(page.locator("#ab-original")).to_have_attribute("aria-pressed", "true")
    t1 = after["o"]
    page.wait_for_timeout(600)
    assert page.evaluate("aural.players.original.getCurrentTime()") > t1 + 0.3  # still playing
    page.keyboard.press("b")  # and back with the keyboard
    assert page.evaluate("aural.active") == "enhanced"
    # volume
    page.evaluate("() => { const v = document.getElementById('volume'); v.value = '0.3';"
                  " v.dispatchEvent(new Event('input')); }")
    # "Match levels" (on by default) plays the louder track quieter by the loudness difference
    figs = page.evaluate("aural.job.figures")
    diff = figs["enhanced"]["loudness_lufs"] - figs["original"]["loudness_lufs"]
    assert diff > 3.0  # the -16 LUFS target made it louder
    assert abs(page.evaluate("aural.players.enhanced.getVolume()") - 0.3 * 10 ** (-diff / 20)) < 1e-3
    assert abs(page.evaluate("aural.players.original.getVolume()") - 0.3) < 1e-6
    page.uncheck("#match")
    assert abs(page.evaluate("aural.players.enhanced.getVolume()") - 0.3) < 1e-6
    # time stamps move
    assert page.locator("#t-cur").text_content() != "0:00.0"
    assert page.locator("#t-dur").text_content() == "0:10.7"
    page.click("#play")  # pause
    assert page.evaluate("aural.players.enhanced.isPlaying()") is False
    page.click("#stop")
    assert page.evaluate("aural.players.enhanced.getCurrentTime()") == 0
    page.screenshot(path=str(tmp_path / "result.png"), full_page=True)

    # download: decodes, same length and rate, not the input
    with page.expect_download() as dl:
        page.click("#download")
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert dl.value.suggested_filename == "speech_noisy-enhanced.wav"
    y, sr = sf.read(path, dtype="float32")
    x, sr0 = sf.read(EXAMPLE, dtype="float32")
    assert sr == sr0 and y.shape == x.shape
    assert np.max(np.abs(y - x)) > 0.05
    assert page.errors == []

    # the narrow (phone) layout has no sideways scrolling
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(400)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(tmp_path / "result-phone.png"), full_page=True)
    print(f"screenshots: {tmp_path}")


def test_errors_shown_on_the_page(server, page, tmp_path):
    page.goto(server + "/")
    # not audio, dropped on the drop zone: refused by decoding, message on the page
    page.evaluate("""() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["not audio, just text\\n".repeat(200)], "episode.mp3", {type: "audio/mpeg"}));
      document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
    }""")
    expect(page.locator("#file-name")).to_have_text("episode.mp3")
    page.click("#start")
    err = page.locator("#upload-error")
    expect(err).to_be_visible(timeout=15_000)
    expect(err).to_contain_text("not audio")
    # too large: the page says so before sending anything (limit 5 MB here)
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (6 * 1024 * 1024))
    page.set_input_files("#file", str(big))
    expect(err).to_contain_text("the limit is 5 MB")
    expect(page.locator("#start")).to_be_disabled()
    # a corrupt file that starts well: the job view shows the decoder's complaint
    with open(EXAMPLE, "rb") as f:
        data = bytearray(f.read())
    k = len(data) // 3
    data[k:] = np.random.default_rng(3).integers(0, 256, len(data) - k, dtype=np.uint8).tobytes()
    bad = tmp_path / "broken.flac"
    bad.write_bytes(bytes(data))
    page.set_input_files("#file", str(bad))
    page.click("#start")
    job_err = page.locator("#job-error")
    expect(job_err).to_be_visible(timeout=30_000)
    expect(job_err).to_contain_text("cannot be decoded")
    page.screenshot(path=str(tmp_path / "error.png"), full_page=True)
    # an unknown job address says the job is gone
    page.goto(server + "/job/" + "0" * 32)
    expect(page.locator("#job-error")).to_contain_text("no longer exists")
    assert page.errors == []


def test_cancel_from_the_page(server, page, tmp_path):
    x, sr = sf.read(EXAMPLE, dtype="float32")
    long = tmp_path / "long.flac"
    sf.write(long, np.tile(x, 4), sr)  # 43 s: long enough to cancel part-way
    page.goto(server + "/")
    page.set_input_files("#file", str(long))
    # pick the DSP voice preset, then adjust it: a stronger noise floor, the presence EQ off,
    # one expert value seen
    page.check("input[name='preset'][value='voice_dsp']")
    page.click("#adjust summary")
    expect(page.locator("input[data-address='wiener.dd_alpha']")).to_be_hidden()
    page.click("#expert summary")
    expect(page.locator("input[data-address='wiener.dd_alpha']")).to_be_visible()
    page.evaluate("""() => { const r = document.querySelector("input[data-address='wiener.floor_db']");
        r.value = r.min; r.dispatchEvent(new Event('input')); }""")
    page.uncheck("input[data-address='presence.bypass']")
    expect(page.locator("#adjust-count")).to_have_text("(2 changed)")
    page.select_option("#loudness", "off")
    page.click("#start")
    page.wait_for_function("() => document.getElementById('job-view').dataset.status === 'running' && "
                           "parseInt(document.getElementById('pct').textContent) > 0", timeout=30_000)
    job = page.evaluate("aural.job")
    assert job["params"]["presence.bypass"] is True
    floor = job["params"]["wiener.floor_db"]
    assert floor <= -40, floor  # the slider's lowest value
    assert job["loudness"] is None
    page.click("#cancel-btn")
    expect(page.locator("#stage")).to_have_text("Cancelled", timeout=60_000)  # loaded CI machines are slow
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#recent-list .badge.cancelled").first).to_be_visible()


def test_presets_read_for_people(server, page, tmp_path):
    """Issue 19.7: titles and plain descriptions, voice first, 'auto' shown, expert settings
    collapsed, sliders that move in safe steps only."""
    page.goto(server + "/")
    cards = page.locator(".preset")
    expect(cards.first).to_have_attribute("data-preset", "voice")
    expect(page.locator(".preset[data-preset=voice] input")).to_be_checked()
    titles = cards.locator(".p-name").all_text_contents()
    assert titles[0] == "Voice" and "Old vinyl record" in titles, titles
    text = page.locator("#preset-list").inner_text()
    assert "Podcast / live voice: removes background noise and hum, keeps the voice natural" in text
    for word in ("SI-SDR", "docs/", ".md", "_", "floor -8 dB", "ms at 48 kHz"):
        assert word not in text, word
    # the damaged-speech preset: its 'find it yourself' values read "auto"
    page.check("input[name='preset'][value='voice_restore']")
    page.click("#adjust summary")
    hum = page.locator("[data-control='dehum.freq_hz']")
    clip = page.locator("[data-control='declip.clip_level']")
    for ctl in (hum, clip):
        expect(ctl.locator(".c-val")).to_have_text("auto")
        expect(ctl.locator("input[data-auto-for]")).to_be_checked()
        expect(ctl.locator("input[type=range]")).to_be_hidden()
    expect(clip.locator(".c-name")).to_have_text("Overload level")
    expect(clip.locator(".c-help")).to_contain_text("auto finds it")
    expect(page.locator(".node-title[data-node=dehum] span").first).to_have_text("Hum removal")
    # expert settings are there but collapsed
    assert page.evaluate("document.getElementById('expert').open") is False
    expect(page.locator("#expert summary")).to_contain_text("Expert settings")
    expect(page.locator("input[data-address='compressor.attack_ms']")).to_be_hidden()
    controls = page.locator("#controls").inner_text()
    assert "SI-SDR" not in controls and "_" not in controls
    page.screenshot(path=str(tmp_path / "presets.png"), full_page=True)
    # auto off: a slider in the safe range; five nudges are five small steps, not a wreck
    clip.locator("input[data-auto-for]").uncheck()
    r = clip.locator("input[type=range]")
    expect(r).to_be_visible()
    assert (r.get_attribute("min"), r.get_attribute("max"), r.get_attribute("step")) == ("0.25", "1", "0.01")
    assert page.evaluate("aural.values['declip.clip_level']") == 1.0
    r.focus()
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    assert abs(page.evaluate("aural.values['declip.clip_level']") - 0.95) < 1e-9
    expect(clip.locator(".c-val")).to_have_text("0.95")
    expect(page.locator("#adjust-count")).to_have_text("(1 changed)")
    for _ in range(200):  # held down: stops at the bottom of the safe range
        page.keyboard.press("PageDown")
    assert page.evaluate("aural.values['declip.clip_level']") == 0.25
    # back to auto
    clip.locator("input[data-auto-for]").check()
    assert page.evaluate("aural.values['declip.clip_level']") == 0
    expect(page.locator("#adjust-count")).to_have_text("")
    page.click("#expert summary")
    expect(page.locator("input[data-address='compressor.attack_ms']")).to_be_visible()
    page.screenshot(path=str(tmp_path / "presets-expert.png"), full_page=True)
    print(f"screenshots: {tmp_path}")
    assert page.errors == []


def test_batch_of_several_files_and_a_folder(server, page, tmp_path):
    """Issue 24: several files (or a folder) become one batch: per-file progress and status,
    a failed file with its reason, and every result in one ZIP."""
    import io
    import zipfile
    x, sr = sf.read(EXAMPLE, dtype="float32")
    folder = tmp_path / "session"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "one.flac", x[: 2 * sr], sr)
    sf.write(folder / "sub" / "two.wav", x[2 * sr: 4 * sr], sr, subtype="PCM_16")
    (folder / "broken.wav").write_bytes(b"not audio at all\n" * 300)
    (folder / "cover.txt").write_text("liner notes")
    page.goto(server + "/")
    page.check("input[name='preset'][value='voice_dsp']")
    page.set_input_files("#file", [str(folder / "one.flac"), str(folder / "sub" / "two.wav"),
                                   str(folder / "broken.wav")])
    expect(page.locator("#file-name")).to_have_text("3 files")
    expect(page.locator("#file-list li")).to_have_count(3)
    expect(page.locator("#start")).to_have_text("Enhance 3 files")
    page.click("#start")
    page.wait_for_url("**/batch/*")
    rows = page.locator("#batch-list li")
    expect(rows).to_have_count(3)
    expect(page.locator("#batch-view")).to_have_attribute("data-status", "done", timeout=90_000)
    expect(page.locator("#batch-list li[data-status=done]")).to_have_count(2)
    bad = page.locator("#batch-list li[data-status=error]")
    expect(bad.locator(".b-name")).to_have_text("broken.wav")
    expect(bad.locator(".b-note")).to_contain_text("not audio")
    expect(page.locator("#batch-counts")).to_have_text("2 of 3 done · 1 failed")
    expect(page.locator("#batch-pct")).to_have_text("100%")
    page.screenshot(path=str(tmp_path / "batch.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: no sideways scrolling
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(tmp_path / "batch-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1200, "height": 900})
    with page.expect_download() as dl:
        page.click("#batch-zip")
    path = tmp_path / "all.zip"
    dl.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["one-enhanced.wav", "two-enhanced.wav"]
        y, sr2 = sf.read(io.BytesIO(zf.read("one-enhanced.wav")), dtype="float32")
        assert sr2 == sr and y.shape == x[: 2 * sr].shape
    # a done file opens its comparison
    page.locator("#batch-list li[data-status=done] a.b-name").first.click()
    expect(page.locator("#result")).to_be_visible(timeout=30_000)
    assert "/job/" in page.url

    # a folder: audio files only, with their paths inside it
    page.goto(server + "/")
    page.check("input[name='preset'][value='voice_dsp']")
    page.set_input_files("#folder", str(folder))
    expect(page.locator("#file-name")).to_have_text("3 files")
    expect(page.locator("#file-size")).to_contain_text("1 other file left out")
    page.click("#start")
    expect(page.locator("#batch-view")).to_have_attribute("data-status", "done", timeout=90_000)
    names = page.locator("#batch-list .b-name").all_text_contents()
    assert names == ["broken.wav", "one.flac", "sub/two.wav"], names
    expect(page.locator("#batch-name")).to_have_text("session · 3 files")
    with page.expect_download() as dl:
        page.click("#batch-zip")
    assert dl.value.suggested_filename == "session-enhanced.zip"
    dl.value.save_as(tmp_path / "folder.zip")
    with zipfile.ZipFile(tmp_path / "folder.zip") as zf:
        assert sorted(zf.namelist()) == ["one-enhanced.wav", "sub/two-enhanced.wav"]
    assert page.errors == []
    print(f"screenshots: {tmp_path}")


def test_auto_shows_what_it_found_and_did(server, page, tmp_path):
    """Issue 22.4: 'auto' is offered second, in plain words; the result lists what the analysis
    found and what was done.  Issue 23: the treble restoration preset is offered too."""
    page.goto(server + "/")
    cards = page.locator(".preset")
    expect(cards.nth(1)).to_have_attribute("data-preset", "auto")
    expect(cards.nth(1)).to_contain_text("Not sure? Analyses your recording and repairs only "
                                         "what it finds")
    band = page.locator(".preset[data-preset=restore_band]")
    expect(band).to_contain_text("Muffled or telephone-like recording?")
    page.check("input[name='preset'][value='restore_band']")
    page.click("#adjust summary")
    gain = page.locator("[data-control='bwe.gain_db']")
    expect(gain.locator(".c-name")).to_have_text("Treble amount")
    r = gain.locator("input[type=range]")
    assert (r.get_attribute("min"), r.get_attribute("max")) == ("-12", "6")
    expect(page.locator("select[data-address='bwe.mode']")).to_be_hidden()  # expert
    page.click("#expert summary")
    expect(page.locator("select[data-address='bwe.mode']")).to_be_visible()
    page.screenshot(path=str(tmp_path / "restore-band.png"), full_page=True)

    page.check("input[name='preset'][value='auto']")
    expect(page.locator("#adjust")).to_be_hidden()  # nothing to adjust: it decides
    # clean recordings come out unchanged: auto asks for no loudness change
    expect(page.locator("#loudness")).to_have_value("off")
    x, sr = sf.read(EXAMPLE, dtype="float32")
    x = x[: 4 * sr]
    t = np.arange(x.shape[0]) / sr
    hum = sum((0.03 / k) * np.sin(2 * np.pi * 50 * k * t) for k in range(1, 6))
    src = tmp_path / "hum.flac"
    sf.write(src, (x.T + hum).T.astype(np.float32) if x.ndim > 1 else x + hum, sr)
    page.set_input_files("#file", str(src))
    page.click("#start")
    expect(page.locator("#result")).to_be_visible(timeout=90_000)
    expect(page.locator("#job-meta")).to_contain_text("Preset: Automatic · 0:04")
    found = page.locator("#auto-found li")
    did = page.locator("#auto-did li")
    expect(page.locator("#auto-report")).to_be_visible()
    expect(page.locator("#auto-report h3").first).to_have_text("What we found")
    expect(page.locator("#auto-report")).to_contain_text("What we did")
    assert any("50 Hz hum" in f for f in found.all_text_contents()), found.all_text_contents()
    assert any("hum" in d.lower() for d in did.all_text_contents()), did.all_text_contents()
    page.screenshot(path=str(tmp_path / "auto.png"), full_page=True)
    # another preset shows no such lists
    page.click("#new-btn")
    page.check("input[name='preset'][value='voice_dsp']")
    expect(page.locator("#loudness")).to_have_value("-16")  # back to the page's default
    page.set_input_files("#file", str(src))
    page.click("#start")
    expect(page.locator("#result")).to_be_visible(timeout=90_000)
    expect(page.locator("#auto-report")).to_be_hidden()
    assert page.errors == []
    print(f"screenshots: {tmp_path}")
