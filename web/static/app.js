/* aural web page: upload, live progress, A/B comparison.  No build step, no framework. */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("aural-config").textContent);
  const state = {
    presets: [],
    preset: null,
    values: {},          // address -> current control value
    file: null,
    files: [],           // several files (a batch): [{file, path}]
    job: null,
    batch: null,         // the batch being followed
    batchTimer: null,
    events: null,
    pollTimer: null,
    players: {},         // original / enhanced WaveSurfer instances
    active: "enhanced",
    playing: false,
    ready: { original: false, enhanced: false },
  };
  window.aural = state;  // for tests and the curious

  // ------------------------------------------------------------------ helpers
  function fmtBytes(n) {
    if (n >= 1073741824) return (n / 1073741824).toFixed(2) + " GB";
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " bytes";
  }
  function fmtTime(s, tenths) {
    if (!isFinite(s) || s < 0) s = 0;
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    let sec = s % 60;
    let ss = tenths ? sec.toFixed(1) : String(Math.floor(sec));
    if (parseFloat(ss) >= 60) ss = tenths ? "59.9" : "59";
    if ((tenths && sec < 10) || (!tenths && sec < 10)) ss = "0" + ss;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + ss;
  }
  function fmtEta(s) {
    if (s == null || !isFinite(s)) return "";
    if (s < 1.5) return "about a second left";
    if (s < 60) return "about " + Math.round(s) + " s left";
    if (s < 3600) return "about " + Math.round(s / 60) + " min left";
    return "about " + (s / 3600).toFixed(1) + " h left";
  }
  function rel(ts) {
    const d = Date.now() / 1000 - ts;
    if (d < 60) return "just now";
    if (d < 3600) return Math.round(d / 60) + " min ago";
    if (d < 86400) return Math.round(d / 3600) + " h ago";
    return new Date(ts * 1000).toLocaleDateString();
  }
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids) if (kid != null) e.append(kid);
    return e;
  }
  async function api(path, opts) {
    const r = await fetch(path, opts);
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const err = new Error((body && body.error) || ("The server answered " + r.status + "."));
      err.status = r.status;
      throw err;
    }
    return body;
  }
  function showError(box, msg) {
    box.textContent = msg;
    box.hidden = !msg;
  }
  function label(name) {
    return String(name).replace(/_(db|hz|ms|s|pct)$/i, "").replace(/_/g, " ");
  }

  // ------------------------------------------------------------------ upload form
  const drop = $("drop"), fileInput = $("file"), uploadError = $("upload-error");
  $("limits-note").textContent = "WAV, FLAC, OGG or MP3 · up to " + config.max_upload_mb + " MB";
  for (const o of config.outputs) $("output").append(el("option", { value: o.id, text: o.label }));
  for (const o of config.loudness_targets) $("loudness").append(el("option", { value: o.value, text: o.label }));

  // what a folder may hold besides audio (covers, notes) is left out of a batch
  const AUDIO_EXT = /\.(wav|wave|flac|ogg|oga|opus|mp3|aif|aiff|aifc|caf|w64|rf64)$/i;

  function resetChosen() {
    state.file = null;
    state.files = [];
    $("start").disabled = true;
    $("drop-empty").hidden = false;
    $("drop-chosen").hidden = true;
    $("file-list").hidden = true;
  }

  // items: [{file, path}] (path: relative to the folder picked, or the file name)
  function chooseFiles(items, skipped) {
    showError(uploadError, "");
    items = items.filter((it) => it && it.file);
    if (!items.length) {
      if (skipped) showError(uploadError, "No audio file was found there (WAV, FLAC, OGG or MP3).");
      return;
    }
    const total = items.reduce((n, it) => n + it.file.size, 0);
    if (total > config.max_upload_bytes) {
      resetChosen();
      const what = items.length === 1 ? "“" + items[0].file.name + "” is " : "These " + items.length + " files total ";
      showError(uploadError, what + fmtBytes(total) + "; the limit is " +
        config.max_upload_mb + " MB" + (items.length > 1 ? " per upload. Send them in smaller groups." :
        ". Trim or export it at a lower bit rate and try again."));
      return;
    }
    if (items.length === 1 && items[0].file.size === 0) {
      showError(uploadError, "“" + items[0].file.name + "” is empty.");
      return;
    }
    state.file = items.length === 1 ? items[0].file : null;
    state.files = items.length > 1 ? items : [];
    $("file-name").textContent = items.length === 1 ? items[0].file.name : items.length + " files";
    $("file-size").textContent = fmtBytes(total) + (items.length > 1 ? " in all · one batch" : "") +
      (skipped ? " · " + skipped + " other file" + (skipped === 1 ? "" : "s") + " left out" : "");
    const list = $("file-list");
    list.textContent = "";
    if (items.length > 1) {
      for (const it of items) list.append(el("li", {}, el("span", { text: it.path }), el("span", { text: fmtBytes(it.file.size) })));
    }
    list.hidden = items.length < 2;
    $("drop-empty").hidden = true;
    $("drop-chosen").hidden = false;
    $("start").disabled = !state.preset;
    $("start").textContent = items.length > 1 ? "Enhance " + items.length + " files" : "Enhance";
  }
  function chooseFile(f) { chooseFiles([{ file: f, path: f.name }]); }

  fileInput.addEventListener("change", () => {
    chooseFiles(Array.from(fileInput.files).map((f) => ({ file: f, path: f.name })));
  });
  const folderInput = $("folder");
  $("folder-btn").addEventListener("click", () => folderInput.click());
  folderInput.addEventListener("change", () => {
    const all = Array.from(folderInput.files).map((f) => ({ file: f, path: f.webkitRelativePath || f.name }));
    const audio = all.filter((it) => AUDIO_EXT.test(it.file.name));
    audio.sort((a, b) => a.path.localeCompare(b.path));
    chooseFiles(audio, all.length - audio.length);
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); }
  });
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const ev of ["dragleave", "dragend"]) drop.addEventListener(ev, () => drop.classList.remove("over"));

  // a dropped folder: walk it (FileSystemEntry API), keeping each file's relative path
  function readEntry(entry, out) {
    if (entry.isFile) {
      return new Promise((resolve) => entry.file((f) => {
        out.push({ file: f, path: entry.fullPath.replace(/^\//, "") });
        resolve();
      }, () => resolve()));
    }
    if (!entry.isDirectory) return Promise.resolve();
    const reader = entry.createReader();
    return new Promise((resolve) => {
      const batch = [];
      const next = () => reader.readEntries(async (ents) => {
        if (!ents.length) {
          for (const e of batch) await readEntry(e, out);
          resolve();
        } else { batch.push(...ents); next(); }
      }, () => resolve());
      next();
    });
  }

  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const dt = e.dataTransfer;
    if (!dt) return;
    const entries = Array.from(dt.items || []).map((it) => it.webkitGetAsEntry && it.webkitGetAsEntry()).filter(Boolean);
    if (entries.some((en) => en.isDirectory)) {
      const out = [];
      for (const en of entries) await readEntry(en, out);
      const audio = out.filter((it) => AUDIO_EXT.test(it.file.name));
      audio.sort((a, b) => a.path.localeCompare(b.path));
      chooseFiles(audio, out.length - audio.length);
    } else if (dt.files && dt.files.length) {
      chooseFiles(Array.from(dt.files).map((f) => ({ file: f, path: f.name })));
    }
  });
  // a file dropped outside the zone must not navigate away from the page
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  // ------------------------------------------------------------------ presets and controls
  function presetTitle(name) {
    const p = state.presets.find((q) => q.name === name);
    return p && p.title ? p.title : String(name || "");
  }

  function renderPresets() {
    const list = $("preset-list");
    list.textContent = "";
    // the server lists them most used first (voice first)
    const pick = state.presets.find((p) => !p.error);
    for (const p of state.presets) {
      const input = el("input", { type: "radio", name: "preset", value: p.name, disabled: !!p.error });
      input.addEventListener("change", () => selectPreset(p));
      if (pick && p.name === pick.name) input.checked = true;
      list.append(el("label", { class: "preset", "data-preset": p.name }, input,
        el("span", { class: "p-name", text: p.title || p.name }),
        el("span", { class: "p-desc", text: p.description || "" })));
    }
    if (pick) selectPreset(pick);
  }

  // "auto" promises that a clean recording comes out unchanged: no loudness change with it
  let loudnessBeforeAuto = null;
  function selectPreset(p) {
    const loud = $("loudness");
    if (p.name === "auto" && loudnessBeforeAuto === null) {
      loudnessBeforeAuto = loud.value;
      loud.value = "off";
    } else if (p.name !== "auto" && loudnessBeforeAuto !== null) {
      if (loud.value === "off") loud.value = loudnessBeforeAuto;
      loudnessBeforeAuto = null;
    }
    state.preset = p;
    state.values = {};
    for (const c of p.controls) state.values[c.address] = c.value;
    renderControls();
    $("start").disabled = !state.file && !state.files.length;
  }

  function sliderMap(c) {
    const log = c.scale === "log" && c.min > 0;
    const steps = c.kind === "int" ? Math.max(1, c.max - c.min) : 1000;
    return {
      steps,
      toPos: (v) => log ? Math.round(Math.log(v / c.min) / Math.log(c.max / c.min) * steps)
                        : Math.round((v - c.min) / (c.max - c.min) * steps),
      toVal: (pos) => {
        let v = log ? c.min * Math.pow(c.max / c.min, pos / steps) : c.min + (c.max - c.min) * pos / steps;
        if (c.kind === "int") return Math.round(v);
        const mag = Math.abs(v);
        return parseFloat(v.toFixed(mag >= 100 ? 0 : mag >= 10 ? 1 : 2));
      },
    };
  }

  function decimals(step) {
    const s = String(step);
    return s.includes(".") ? s.split(".")[1].length : 0;
  }

  function fmtValue(c, v) {
    if (c.kind === "bool") return v ? "on" : "off";
    if (c.kind === "choice") return String(v);
    const n = Number(v);
    if (c.auto && n === 0) return "auto";
    let s;
    if (c.kind === "int") s = n.toFixed(0);
    else if (c.step) s = n.toFixed(Math.min(3, decimals(c.step)));
    else s = Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
    const unit = c.display_unit != null ? c.display_unit : c.unit;
    return s.replace("-", "\u2212") + (!unit ? "" : unit.startsWith(":") ? unit : " " + unit);
  }

  function changedParams() {
    const out = {};
    if (!state.preset) return out;
    for (const c of state.preset.controls) {
      if (state.values[c.address] !== c.value) out[c.address] = state.values[c.address];
    }
    return out;
  }

  function updateAdjustCount() {
    const n = Object.keys(changedParams()).length;
    $("adjust-count").textContent = n ? "(" + n + " changed)" : "";
  }

  function groupByNode(controls) {
    const groups = new Map();
    for (const c of controls) {
      if (!groups.has(c.node)) groups.set(c.node, []);
      groups.get(c.node).push(c);
    }
    return groups;
  }

  function renderControls() {
    const box = $("controls"), expert = $("expert-controls");
    box.textContent = "";
    expert.textContent = "";
    const p = state.preset;
    $("adjust").hidden = !p || !p.controls.length;
    if (!p) return;
    let nExpert = 0;
    for (const [node, controls] of groupByNode(p.controls)) {
      const nodeTitle = (controls[0] && controls[0].node_title) || label(node);
      const bypass = controls.find((c) => c.name === "bypass");
      const title = el("div", { class: "node-title", "data-node": node }, el("span", { text: nodeTitle }));
      if (bypass) {
        const cb = el("input", { type: "checkbox", "data-address": bypass.address, "aria-label": nodeTitle + " on" });
        cb.checked = !state.values[bypass.address];
        cb.addEventListener("change", () => { state.values[bypass.address] = !cb.checked; updateAdjustCount(); });
        title.append(el("label", { class: "switch" }, cb, "on"));
      }
      box.append(title);
      const extra = controls.filter((c) => c.name !== "bypass" && !c.main);
      for (const c of controls) if (c.name !== "bypass" && c.main) box.append(renderControl(c));
      if (extra.length) {
        expert.append(el("div", { class: "node-title" }, el("span", { text: nodeTitle })));
        for (const c of extra) expert.append(renderControl(c));
        nExpert += extra.length;
      }
    }
    $("expert").hidden = nExpert === 0;
    $("expert-count").textContent = nExpert ? "(" + nExpert + ")" : "";
    updateAdjustCount();
  }

  function renderControl(c) {
    const name = c.label || label(c.name);
    const val = el("span", { class: "c-val", text: fmtValue(c, state.values[c.address]) });
    const wrap = el("div", { class: "ctl", "data-control": c.address, title: c.doc || "" },
      el("span", { class: "c-name", text: name }), val);
    let sync = () => {};
    const mark = () => {
      wrap.classList.toggle("changed", state.values[c.address] !== c.value);
      val.textContent = fmtValue(c, state.values[c.address]);
      sync();
      updateAdjustCount();
    };
    if (c.kind === "choice") {
      const sel = el("select", { "data-address": c.address, "aria-label": name });
      for (const ch of c.choices) sel.append(el("option", { value: ch, text: ch }));
      sel.value = state.values[c.address];
      sel.addEventListener("change", () => { state.values[c.address] = sel.value; mark(); });
      wrap.append(sel);
    } else if (c.kind === "bool") {
      const cb = el("input", { type: "checkbox", "data-address": c.address, "aria-label": name });
      wrap.classList.add("bool");
      cb.checked = !!state.values[c.address];
      cb.addEventListener("change", () => { state.values[c.address] = cb.checked; mark(); });
      wrap.append(cb);
    } else if (c.min != null && c.max != null && c.max > c.min) {
      let r;
      if (c.step) {  // a guarded range: the slider moves in safe steps only
        r = el("input", { type: "range", min: c.min, max: c.max, step: c.step, "data-address": c.address, "aria-label": name });
        const cur = Number(state.values[c.address]);
        r.value = c.auto && cur === 0 ? (c.manual != null ? c.manual : c.max) : cur;
        r.addEventListener("input", () => { state.values[c.address] = Number(r.value); mark(); });
      } else {
        const m = sliderMap(c);
        r = el("input", { type: "range", min: 0, max: m.steps, step: 1, "data-address": c.address, "aria-label": name });
        r.value = m.toPos(state.values[c.address]);
        r.addEventListener("input", () => { state.values[c.address] = m.toVal(Number(r.value)); mark(); });
      }
      wrap.append(r);
      if (c.auto) {
        // 0 means "find it automatically": an "auto" box, the slider only when it is off
        const box = el("input", { type: "checkbox", "data-auto-for": c.address, "aria-label": name + " automatic" });
        box.checked = Number(state.values[c.address]) === 0;
        box.addEventListener("change", () => {
          state.values[c.address] = box.checked ? 0 : Number(r.value);
          mark();
        });
        wrap.insertBefore(el("label", { class: "auto" }, box, "auto"), r);
        wrap.classList.add("has-auto");
        sync = () => { r.hidden = Number(state.values[c.address]) === 0; };
      }
    } else {
      const n = el("input", { type: "number", step: "any", "data-address": c.address, "aria-label": name });
      n.value = state.values[c.address];
      n.addEventListener("change", () => { state.values[c.address] = Number(n.value); mark(); });
      wrap.append(n);
    }
    if (c.help) wrap.append(el("small", { class: "c-help", text: c.help }));
    mark();
    return wrap;
  }

  $("reset-controls").addEventListener("click", () => state.preset && selectPreset(state.preset));

  // ------------------------------------------------------------------ submitting
  $("upload-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (state.files.length > 1 && state.preset) { submitBatch(); return; }
    if (!state.file || !state.preset) return;
    showError(uploadError, "");
    const fd = new FormData();
    fd.append("file", state.file, state.file.name);
    fd.append("preset", state.preset.name);
    fd.append("params", JSON.stringify(changedParams()));
    fd.append("output", $("output").value);
    fd.append("loudness", $("loudness").value);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.responseType = "json";
    showJobView({ name: state.file.name, status: "uploading", preset: state.preset.name });
    setProgress(0, "Uploading…", "");
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable) {
        const p = ev.loaded / ev.total;
        setProgress(p, "Uploading…", fmtBytes(ev.loaded) + " of " + fmtBytes(ev.total));
      }
    };
    $("cancel-btn").onclick = () => { xhr.abort(); };
    xhr.onabort = () => { showUploadView(); showError(uploadError, "Upload cancelled."); };
    xhr.onerror = () => {
      showUploadView();
      showError(uploadError, "The upload failed: the connection to aural was lost" +
        (state.file && state.file.size > config.max_upload_bytes * 0.9 ? " (the file may be over the " + config.max_upload_mb + " MB limit)." : "."));
    };
    xhr.onload = () => {
      const body = xhr.response || {};
      if (xhr.status === 202 && body.id) {
        history.pushState({ job: body.id }, "", "/job/" + body.id);
        followJob(body);
        loadRecent();
      } else {
        showUploadView();
        showError(uploadError, body.error || ("The upload was refused (" + xhr.status + ")."));
      }
    };
    xhr.send(fd);
  });

  // ------------------------------------------------------------------ batches
  function submitBatch() {
    showError(uploadError, "");
    const items = state.files;
    const fd = new FormData();
    for (const it of items) {
      fd.append("file", it.file, it.file.name);
      fd.append("path", it.path);
    }
    fd.append("preset", state.preset.name);
    fd.append("params", JSON.stringify(changedParams()));
    fd.append("output", $("output").value);
    fd.append("loudness", $("loudness").value);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/batches");
    xhr.responseType = "json";
    showBatchView({ total: items.length, preset: state.preset.name, jobs: items.map((it) => ({ path: it.path, status: "uploading" })) });
    setBatchProgress(0, "Uploading…", "");
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable) setBatchProgress(ev.loaded / ev.total, "Uploading…", fmtBytes(ev.loaded) + " of " + fmtBytes(ev.total));
    };
    $("batch-cancel").onclick = () => { xhr.abort(); };
    xhr.onabort = () => { showUploadView(); showError(uploadError, "Upload cancelled."); };
    xhr.onerror = () => { showUploadView(); showError(uploadError, "The upload failed: the connection to aural was lost."); };
    xhr.onload = () => {
      const body = xhr.response || {};
      if (xhr.status === 202 && body.id) {
        history.pushState({ batch: body.id }, "", "/batch/" + body.id);
        followBatch(body);
        loadRecent();
      } else {
        showUploadView();
        showError(uploadError, body.error || ("The upload was refused (" + xhr.status + ")."));
      }
    };
    xhr.send(fd);
  }

  function stopBatch() {
    if (state.batchTimer) { clearTimeout(state.batchTimer); state.batchTimer = null; }
  }

  function showBatchView(b) {
    stopFollowing();
    stopBatch();
    destroyPlayers();
    $("upload-view").hidden = true;
    $("job-view").hidden = true;
    $("batch-view").hidden = false;
    showError($("batch-error"), "");
    $("batch-cancel").hidden = false;
    renderBatch(b);
  }

  function setBatchProgress(p, stage, note) {
    const pct = Math.max(0, Math.min(100, Math.floor(p * 100)));
    $("batch-bar-fill").style.width = pct + "%";
    $("batch-bar").setAttribute("aria-valuenow", String(pct));
    $("batch-pct").textContent = pct + "%";
    $("batch-stage").textContent = stage;
    $("batch-counts").textContent = note || "";
  }

  const STATUS_WORDS = { queued: "Waiting", running: "Enhancing", done: "Done", error: "Failed",
    cancelled: "Cancelled", uploading: "Uploading" };

  function renderBatch(b) {
    const n = b.total || (b.jobs || []).length;
    $("batch-name").textContent = (b.folder ? b.folder + " · " : "") + n + (n === 1 ? " file" : " files");
    const bits = [];
    if (b.preset) bits.push("Preset: " + presetTitle(b.preset) + (b.loudness != null ? " → " + String(b.loudness).replace("-", "−") + " LUFS" : ""));
    $("batch-meta").textContent = bits.join(" · ");
    $("batch-view").dataset.status = b.status || "uploading";
    const list = $("batch-list");
    list.textContent = "";
    for (const j of b.jobs || []) {
      const name = j.id && j.status === "done"
        ? el("a", { class: "b-name", href: "/job/" + j.id, text: j.path || j.name, title: "Compare before and after" })
        : el("span", { class: "b-name", text: j.path || j.name });
      if (j.id && j.status === "done") {
        name.addEventListener("click", (e) => {
          e.preventDefault();
          history.pushState({ job: j.id }, "", "/job/" + j.id);
          openJob(j.id);
        });
      }
      let word = STATUS_WORDS[j.status] || j.status;
      if (j.status === "running") word += " " + Math.floor((j.progress || 0) * 100) + "%";
      if (j.status === "queued" && j.queue_position) word += " (" + j.queue_position + " in the queue)";
      let note = "";
      if (j.status === "error") note = j.error || "Processing failed.";
      else if (j.status === "done") note = j.output_name || "";
      const pct = j.status === "done" ? 100 : Math.floor((j.progress || 0) * 100);
      list.append(el("li", { "data-status": j.status, "data-job": j.id || "" }, name,
        el("span", { class: "badge " + j.status, text: word }),
        el("div", { class: "b-bar" }, el("div", { style: "width:" + pct + "%" })),
        note ? el("span", { class: "b-note", text: note }) : null));
    }
    if (!b.id) return;
    const c = b.counts || {};
    const done = c.done || 0, failed = c.error || 0, cancelled = c.cancelled || 0;
    const parts = [done + " of " + n + " done"];
    if (failed) parts.push(failed + " failed");
    if (cancelled) parts.push(cancelled + " cancelled");
    const ended = b.status === "done";
    setBatchProgress(b.progress || 0, ended ? "Finished" : "Enhancing…", parts.join(" · "));
    $("batch-cancel").hidden = ended;
    const zip = $("batch-zip");
    zip.href = done ? "/api/batches/" + b.id + "/zip" : "#";
    zip.classList.toggle("disabled", !done);
    zip.setAttribute("aria-disabled", String(!done));
    zip.textContent = "Download all (ZIP" + (done ? ", " + done + (done === 1 ? " file" : " files") : "") + ")";
    $("batch-zip-note").textContent = !done ? "The ZIP is ready when a file is finished."
      : ended ? "The results, in the folders you sent them from."
      : "Holds the files finished so far; more follow as they finish.";
  }

  function followBatch(b) {
    stopBatch();
    state.batch = b;
    showBatchView(b);
    $("batch-cancel").onclick = cancelBatch;
    const tick = async () => {
      try {
        const nb = await api("/api/batches/" + b.id);
        if (!state.batch || state.batch.id !== b.id) return;
        state.batch = nb;
        renderBatch(nb);
        if (nb.status !== "done") state.batchTimer = setTimeout(tick, 700);
        else loadRecent();
      } catch (e) {
        if (e.status === 404) batchGone(); else state.batchTimer = setTimeout(tick, 1500);
      }
    };
    if (b.status !== "done") state.batchTimer = setTimeout(tick, 300);
  }

  function batchGone() {
    stopBatch();
    $("batch-list").textContent = "";
    $("batch-cancel").hidden = true;
    showError($("batch-error"), "This batch no longer exists. Finished jobs are kept for " + config.keep_hours + " hours.");
  }

  async function cancelBatch() {
    if (!state.batch || !state.batch.id) return;
    $("batch-cancel").disabled = true;
    try {
      const b = await api("/api/batches/" + state.batch.id + "/cancel", { method: "POST" });
      state.batch = b;
      renderBatch(b);
    } catch (e) {
      showError($("batch-error"), e.message);
    } finally {
      $("batch-cancel").disabled = false;
    }
  }

  async function openBatch(id) {
    stopBatch();
    state.batch = { id };
    try {
      followBatch(await api("/api/batches/" + id));
    } catch (e) {
      showBatchView({ jobs: [] });
      $("batch-name").textContent = "Batch not found";
      batchGone();
    }
  }

  // ------------------------------------------------------------------ views
  function showUploadView() {
    stopFollowing();
    stopBatch();
    destroyPlayers();
    state.job = null;
    state.batch = null;
    $("upload-view").hidden = false;
    $("job-view").hidden = true;
    $("batch-view").hidden = true;
  }

  function showJobView(job) {
    stopBatch();
    $("upload-view").hidden = true;
    $("batch-view").hidden = true;
    $("job-view").hidden = false;
    $("job-name").textContent = job.name || "Recording";
    $("progress-box").hidden = false;
    $("result").hidden = true;
    $("cancel-btn").hidden = false;
    showError($("job-error"), "");
    renderJobMeta(job);
  }

  function renderJobMeta(job) {
    const bits = [];
    if (job.preset) bits.push("Preset: " + presetTitle(job.preset) + (job.loudness != null ? " → " + String(job.loudness).replace("-", "−") + " LUFS" : ""));
    const i = job.input;
    if (i) {
      bits.push(fmtTime(i.duration, false));
      bits.push((i.sample_rate / 1000).toFixed(i.sample_rate % 1000 ? 1 : 0) + " kHz");
      bits.push(i.channels === 1 ? "mono" : i.channels === 2 ? "stereo" : i.channels + " channels");
      bits.push(i.format);
    }
    $("job-meta").textContent = bits.join(" · ");
  }

  function setProgress(p, stage, eta, waiting) {
    const pct = Math.max(0, Math.min(100, Math.floor(p * 100)));
    $("bar-fill").style.width = pct + "%";
    $("bar").setAttribute("aria-valuenow", String(pct));
    $("bar").classList.toggle("waiting", !!waiting);
    $("pct").textContent = waiting ? "" : pct + "%";
    $("stage").textContent = stage;
    $("eta").textContent = eta || "";
  }

  function stopFollowing() {
    if (state.events) { state.events.close(); state.events = null; }
    if (state.pollTimer) { clearTimeout(state.pollTimer); state.pollTimer = null; }
  }

  function followJob(job) {
    stopFollowing();
    state.job = job;
    showJobView(job);
    $("cancel-btn").onclick = cancelJob;
    updateJob(job);
    if (["done", "error", "cancelled"].includes(job.status)) return;
    if (window.EventSource) {
      const es = new EventSource("/api/jobs/" + job.id + "/events");
      state.events = es;
      es.onmessage = (ev) => {
        const j = JSON.parse(ev.data);
        updateJob(j);
        if (["done", "error", "cancelled"].includes(j.status)) stopFollowing();
      };
      es.addEventListener("gone", () => { stopFollowing(); jobGone(); });
      es.onerror = () => { if (state.events === es) { es.close(); state.events = null; poll(job.id); } };
    } else {
      poll(job.id);
    }
  }

  function poll(id) {
    state.pollTimer = setTimeout(async () => {
      try {
        const j = await api("/api/jobs/" + id);
        updateJob(j);
        if (!["done", "error", "cancelled"].includes(j.status)) poll(id);
      } catch (e) {
        if (e.status === 404) jobGone(); else poll(id);
      }
    }, 1000);
  }

  function jobGone() {
    $("progress-box").hidden = true;
    $("result").hidden = true;
    showError($("job-error"), "This job no longer exists. Finished jobs are kept for " + config.keep_hours + " hours.");
  }

  async function cancelJob() {
    if (!state.job) return;
    $("cancel-btn").disabled = true;
    try {
      const j = await api("/api/jobs/" + state.job.id + "/cancel", { method: "POST" });
      updateJob(j);
    } catch (e) {
      showError($("job-error"), e.message);
    } finally {
      $("cancel-btn").disabled = false;
    }
  }

  const ENDED = ["done", "error", "cancelled"];

  function updateJob(j) {
    if (!state.job || state.job.id !== j.id) return;
    const prev = state.job.status;
    // replies can arrive out of order (the cancel request's answer after the stream's final
    // event): an ended job never goes back to running
    if (ENDED.includes(prev) && !ENDED.includes(j.status)) return;
    state.job = j;
    renderJobMeta(j);
    $("job-view").dataset.status = j.status;
    if (j.status === "queued") {
      const ahead = (j.queue_position || 1) - 1;
      setProgress(0, "Waiting in the queue", ahead > 0 ? ahead + (ahead === 1 ? " file" : " files") + " ahead of this one" : "Starting…", true);
    } else if (j.status === "running") {
      const bits = [];
      if (j.eta_s != null) bits.push(fmtEta(j.eta_s));
      if (j.speed) bits.push(j.speed.toFixed(1) + "× real time");
      const stage = j.cancel_requested ? "Cancelling…"
        : j.loudness != null && j.progress >= 0.5 ? "Matching loudness…" : "Enhancing…";
      setProgress(j.progress, stage, bits.join(" · "));
    } else if (j.status === "done") {
      setProgress(1, "Done", j.elapsed_s ? "" : "");
      $("cancel-btn").hidden = true;
      if (prev !== "done" || !state.players.enhanced) showResult(j);
    } else if (j.status === "error") {
      $("progress-box").hidden = true;
      showError($("job-error"), j.error || "Processing failed.");
    } else if (j.status === "cancelled") {
      setProgress(j.progress || 0, "Cancelled", "Nothing was saved. Choose “New file” to start again.");
      $("cancel-btn").hidden = true;
    }
    if (prev !== j.status && ["done", "error", "cancelled"].includes(j.status)) loadRecent();
  }

  // ------------------------------------------------------------------ result: players
  function destroyPlayers() {
    for (const w of Object.values(state.players)) { try { w.destroy(); } catch (e) { /* gone */ } }
    state.players = {};
    state.playing = false;
    state.ready = { original: false, enhanced: false };
    $("play").classList.remove("playing");
    for (const id of ["wave-original", "wave-enhanced", "spec-original", "spec-enhanced", "timeline"]) $(id).textContent = "";
  }

  async function showResult(j) {
    destroyPlayers();
    $("progress-box").hidden = true;
    $("result").hidden = false;
    const base = "/api/jobs/" + j.id;
    let peaks;
    try {
      peaks = await api(base + "/peaks");
    } catch (e) {
      showError($("job-error"), "The result cannot be shown: " + e.message);
      return;
    }
    const sr = peaks.sample_rate;
    // one vertical scale for both waveforms, so a level change is seen as it is heard
    let top = 0;
    for (const w of ["original", "enhanced"]) for (const v of peaks[w].peaks) top = Math.max(top, Math.abs(v));
    const barHeight = top > 0 ? Math.min(0.95 / top, 20) : 1;
    const colors = {
      original: { wave: "#a8b3c4", progress: "#475569" },
      enhanced: { wave: "#7dd3c8", progress: "#0d9488" },
    };
    for (const which of ["original", "enhanced"]) {
      const spec = WaveSurfer.Spectrogram.create({
        container: $("spec-" + which),
        height: 110,
        labels: true,
        labelsBackground: "rgba(0,0,0,0.35)",
        labelsColor: "#e2e8f0",
        labelsHzColor: "#cbd5e1",
        frequenciesDataUrl: base + "/spectrogram/" + which,
        sampleRate: sr,
        frequencyMin: 0,
        frequencyMax: sr / 2,
        scale: "mel",
        colorMap: "roseus",
      });
      const ws = WaveSurfer.create({
        container: $("wave-" + which),
        height: 80,
        waveColor: colors[which].wave,
        progressColor: colors[which].progress,
        cursorColor: "#0f172a",
        cursorWidth: 2,
        barWidth: 2,
        barGap: 1,
        barRadius: 2,
        normalize: false,
        barHeight,
        dragToSeek: true,
        url: base + "/audio/" + which,
        peaks: [peaks[which].peaks],
        duration: peaks[which].duration,
        plugins: which === "enhanced"
          ? [spec, WaveSurfer.Timeline.create({ container: $("timeline"), height: 18,
              style: { fontSize: "11px", color: "#64748b" } })]
          : [spec],
      });
      ws.on("ready", () => { state.ready[which] = true; });
      ws.on("interaction", (t) => { syncOthers(which, t); });
      ws.on("timeupdate", (t) => onTime(which, t));
      ws.on("finish", () => { if (which === state.active) stopAll(false); });
      state.players[which] = ws;
      const f = j.figures && j.figures[which];
      $(which + "-info").textContent = f ? fmtTime(f.duration_s, true) : "";
    }
    $("t-dur").textContent = fmtTime(peaks.enhanced.duration, true);
    setActive(state.active);
    renderFigures(j);
    renderAutoReport(j);
    const dl = $("download");
    dl.href = base + "/download";
    dl.setAttribute("download", j.output_name || "");
    const out = config.outputs.find((o) => o.id === j.output);
    dl.textContent = "Download enhanced " + (out ? out.label.split(",")[0] : "");
    const notes = [j.output_name];
    if (j.clipped_samples) notes.push(j.clipped_samples + " samples were clipped at full scale");
    $("download-note").textContent = notes.join(" · ");
  }

  function other(which) { return which === "original" ? "enhanced" : "original"; }

  function syncOthers(which, t) {
    const o = state.players[other(which)];
    if (o && Math.abs(o.getCurrentTime() - t) > 0.01) o.setTime(t);
    $("t-cur").textContent = fmtTime(t, true);
  }

  function onTime(which, t) {
    if (which !== state.active) return;
    $("t-cur").textContent = fmtTime(t, true);
    const o = state.players[other(which)];
    if (state.playing && o && Math.abs(o.getCurrentTime() - t) > 0.08) o.setTime(t);
  }

  function setActive(which) {
    const prev = state.active;
    state.active = which;
    const a = state.players[which], b = state.players[other(which)];
    if (a && b && prev !== which) {
      const t = b.getCurrentTime();
      if (Math.abs(a.getCurrentTime() - t) > 0.03) a.setTime(t);
    }
    applyVolume();
    for (const w of ["original", "enhanced"]) {
      $("track-" + w).classList.toggle("active", w === which);
      $("ab-" + w).classList.toggle("on", w === which);
      $("ab-" + w).setAttribute("aria-pressed", String(w === which));
    }
  }

  // gain (<= 1) per track that brings both to the same integrated loudness
  function matchGains() {
    const g = { original: 1, enhanced: 1 };
    const f = state.job && state.job.figures;
    if (!$("match").checked || !f) return g;
    const lo = f.original.loudness_lufs, le = f.enhanced.loudness_lufs;
    if (lo == null || le == null) return g;
    const d = le - lo;
    if (d > 0) g.enhanced = Math.pow(10, -d / 20); else g.original = Math.pow(10, d / 20);
    return g;
  }

  function applyVolume() {
    const v = Number($("volume").value);
    const g = matchGains();
    for (const [w, ws] of Object.entries(state.players)) {
      ws.setVolume(v * g[w]);
      ws.setMuted(w !== state.active);
    }
  }

  async function playAll() {
    const a = state.players[state.active], b = state.players[other(state.active)];
    if (!a || !b) return;
    const t = a.getCurrentTime();
    if (Math.abs(b.getCurrentTime() - t) > 0.01) b.setTime(t);
    state.playing = true;
    $("play").classList.add("playing");
    $("play").setAttribute("aria-label", "Pause");
    try {
      await Promise.all([a.play(), b.play()]);
    } catch (e) {
      state.playing = false;
      $("play").classList.remove("playing");
      showError($("job-error"), "Playback failed: " + e.message);
    }
  }

  function pauseAll() {
    state.playing = false;
    for (const ws of Object.values(state.players)) ws.pause();
    $("play").classList.remove("playing");
    $("play").setAttribute("aria-label", "Play");
    const a = state.players[state.active], b = state.players[other(state.active)];
    if (a && b) b.setTime(a.getCurrentTime());
  }

  function stopAll(rewind) {
    pauseAll();
    if (rewind !== false) for (const ws of Object.values(state.players)) ws.setTime(0);
    if (rewind !== false) $("t-cur").textContent = fmtTime(0, true);
  }

  $("play").addEventListener("click", () => (state.playing ? pauseAll() : playAll()));
  $("stop").addEventListener("click", () => stopAll(true));
  $("ab-original").addEventListener("click", () => setActive("original"));
  $("ab-enhanced").addEventListener("click", () => setActive("enhanced"));
  $("track-original").addEventListener("click", () => setActive("original"));
  $("track-enhanced").addEventListener("click", () => setActive("enhanced"));
  $("volume").addEventListener("input", applyVolume);
  $("match").addEventListener("change", applyVolume);
  document.addEventListener("keydown", (e) => {
    if ($("result").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" && t.type !== "range" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    const k = e.key.toLowerCase();
    if (k === " " || k === "k") { e.preventDefault(); state.playing ? pauseAll() : playAll(); }
    else if (k === "a" || k === "1") setActive("original");
    else if (k === "b" || k === "2") setActive("enhanced");
    else if (k === "s") stopAll(true);
  });

  // auto: what the analysis found and what the chain it built does
  function renderAutoReport(j) {
    const box = $("auto-report");
    box.hidden = !j.findings;
    for (const [id, lines] of [["auto-found", j.findings], ["auto-did", j.actions]]) {
      const ul = $(id);
      ul.textContent = "";
      // "dehum: cancel the 50 Hz hum ..." reads without the node's name
      for (const line of lines || []) {
        const text = id === "auto-did" && !/^nothing/.test(line) ? line.replace(/^[a-z_0-9]+: /, "") : line;
        ul.append(el("li", { text: text.charAt(0).toUpperCase() + text.slice(1) }));
      }
    }
  }

  function renderFigures(j) {
    const tb = document.querySelector("#figures-table tbody");
    tb.textContent = "";
    const f = j.figures || {};
    const o = f.original || {}, n = f.enhanced || {};
    const rows = [
      ["Loudness", "loudness_lufs", "LUFS", 0],
      ["Est. SNR", "snr_db", "dB", 1],
      ["Noise floor", "noise_floor_dbfs", "dBFS", -1],
      ["Peak", "peak_dbfs", "dBFS", 0],
      ["RMS level", "rms_dbfs", "dBFS", 0],
    ];
    const fmt = (v) => (v == null ? "—" : v.toFixed(1).replace("-", "−"));
    for (const [name, key, unit, better] of rows) {
      const a = o[key], b = n[key];
      let change = "—", cls = "";
      if (a != null && b != null) {
        const d = b - a;
        change = (d > 0 ? "+" : d < 0 ? "−" : "±") + Math.abs(d).toFixed(1);
        if (better && Math.abs(d) >= 0.5) cls = d * better > 0 ? "better" : "worse";
      }
      tb.append(el("tr", { "data-figure": key },
        el("td", {}, name, el("span", { class: "unit", text: unit })),
        el("td", { text: fmt(a) }), el("td", { text: fmt(b) }), el("td", { class: cls, text: change })));
    }
  }

  // ------------------------------------------------------------------ recent jobs, routing
  async function loadRecent() {
    let jobs;
    try { jobs = await api("/api/jobs"); } catch (e) { return; }
    const ul = $("recent-list");
    ul.textContent = "";
    for (const j of jobs.slice(0, 12)) {
      const a = el("a", { href: "/job/" + j.id, text: j.name });
      a.addEventListener("click", (e) => {
        e.preventDefault();
        history.pushState({ job: j.id }, "", "/job/" + j.id);
        openJob(j.id);
      });
      ul.append(el("li", {}, a, el("span", { class: "muted small", text: presetTitle(j.preset) + " · " + rel(j.created) }),
        el("span", { class: "badge " + j.status, text: j.status })));
    }
    $("recent").hidden = jobs.length === 0;
  }

  async function openJob(id) {
    stopFollowing();
    destroyPlayers();
    try {
      const j = await api("/api/jobs/" + id);
      followJob(j);
    } catch (e) {
      state.job = { id };
      showJobView({ name: "Job not found" });
      jobGone();
      $("cancel-btn").hidden = true;
    }
  }

  function route() {
    const m = location.pathname.match(/^\/job\/([0-9a-f]{32})$/);
    const b = location.pathname.match(/^\/batch\/([0-9a-f]{32})$/);
    if (m) openJob(m[1]); else if (b) openBatch(b[1]); else showUploadView();
  }

  for (const id of ["new-btn", "batch-new-btn"]) {
    $(id).addEventListener("click", () => {
      history.pushState({}, "", "/");
      showUploadView();
    });
  }
  $("home-link").addEventListener("click", (e) => {
    e.preventDefault();
    history.pushState({}, "", "/");
    showUploadView();
  });
  window.addEventListener("popstate", route);

  async function init() {
    try {
      state.presets = await api("/api/presets");
    } catch (e) {
      showError(uploadError, "Presets could not be loaded: " + e.message);
    }
    renderPresets();
    route();
    loadRecent();
  }
  init();
})();
