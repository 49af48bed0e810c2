"""The Flask application: the page, the JSON API and the server-sent progress events.

    app = create_app(jobs_dir="/var/lib/aural/jobs", max_upload_mb=500, keep_hours=24)
    app.run()                              # or aural.web.serve(...), or ``aural serve``

API (all JSON; errors are ``{"error": "message for a person"}`` with a 4xx status):

==========================================  ================================================
``GET  /api/config``                        limits and choices the page needs
``GET  /api/presets``                       presets with their adjustable controls
``POST /api/jobs``                          multipart: ``file``, ``preset``, ``params`` (JSON
                                            object ``{"node.param": value}``), ``output``
                                            (wav|flac), ``loudness`` (LUFS or "off", the
                                            default) -> 202 and the job
``GET  /api/jobs``                          recent jobs, newest first
``GET  /api/jobs/<id>``                     one job: status, progress, eta_s, figures, error
``GET  /api/jobs/<id>/events``              text/event-stream of the job until it ends
``POST /api/jobs/<id>/cancel``              cancel a queued or running job
``DELETE /api/jobs/<id>``                   remove an ended job and its files
``GET  /api/jobs/<id>/audio/original``      the upload (or a WAV copy browsers can play)
``GET  /api/jobs/<id>/audio/enhanced``      the result, for playing
``GET  /api/jobs/<id>/download``            the result as an attachment
``GET  /api/jobs/<id>/peaks``               waveform peaks of both signals
``GET  /api/jobs/<id>/spectrogram/<which>`` spectrogram data (original|enhanced)
``POST /api/batches``                       multipart: several ``file`` parts (their names, or
                                            ``path`` fields in the same order, are the paths
                                            relative to the folder picked) and the settings
                                            of ``POST /api/jobs`` -> 202 and the batch
``GET  /api/batches/<id>``                  the batch: status, progress, counts, its jobs
``POST /api/batches/<id>/cancel``           cancel its queued and running jobs
``GET  /api/batches/<id>/zip``              the finished results as one ZIP (streamed), with
                                            their relative paths
==========================================  ================================================

A batch is a job per file with the same preset and settings, queued in order; a file that is
not usable audio becomes a failed job with the reason.  Its disk need is checked as a whole
(413 naming the total); ``max_upload_mb`` bounds the whole request.

Cross-site requests that change something are refused (their ``Origin`` must be this server),
and when the server listens on loopback only loopback host names are answered (no DNS rebinding).

Jobs belong to the browser that made them: the first API request without a valid
``aural_client`` cookie gets a random token in one (HttpOnly, SameSite=Strict); a job, its
files and its events are served only with the same token, others get 404 (API scripts keep
the cookie, e.g. ``curl -c jar -b jar``).  The page itself never sets it, so a link from
another site (which sends no Strict cookie) cannot replace a browser's token.

Disk: before a job is queued, what it will write is estimated from the decoded header; a job
over ``max_job_gb`` or one that would take the jobs folder over ``max_total_gb`` is refused
with 413 (defaults 4 and 20 GB, or ``AURAL_WEB_MAX_JOB_GB`` / ``AURAL_WEB_MAX_TOTAL_GB``).
Parameters are at most 64 kB of flat JSON with finite numbers; anything else is a 400.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import zipfile
from urllib.parse import urlsplit

from flask import (
    Flask,
    Request,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_file,
)
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .catalog import describe_presets
from .jobs import TERMINAL, JobError, JobManager
from .pipeline import MIME, OUTPUT_FORMATS
from .server import env_number

__all__ = ["create_app", "default_jobs_dir"]

log = logging.getLogger("aural.web")
HERE = os.path.dirname(os.path.abspath(__file__))
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
COOKIE = "aural_client"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
COOKIE_MAX_AGE = 400 * 86400  # the longest browsers keep a cookie
MAX_PARAMS_CHARS = 65536


class BadParams(ValueError):
    """The ``params`` form field cannot be used (message for the page)."""


def _no_constant(name: str):
    raise BadParams(f"Parameters must be finite numbers ({name} is not allowed).")


def parse_params(raw: str) -> dict:
    """The ``params`` field: a flat JSON object of finite values, bounded in size and depth."""
    if len(raw) > MAX_PARAMS_CHARS:
        raise BadParams(f"Parameters are too long (at most {MAX_PARAMS_CHARS // 1024} kB).")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise BadParams("Parameters are nested too deeply: send {\"node.param\": value}.") from None
    except BadParams:
        raise
    except ValueError as e:
        if "digits" in str(e):  # int() of a number too long to convert
            raise BadParams("Parameters hold a number that is far too large.") from None
        raise BadParams("Parameters are not valid JSON.") from None
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                raise BadParams(f"Parameter {str(k)[:60]}: a list or object is not a value.")
    return value


def default_jobs_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "aural", "jobs")


class _UploadRequest(Request):
    """Uploaded files are streamed straight into the jobs directory (never into memory or a
    path the user chooses); any that no job takes are deleted when the request ends."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        f = current_app.extensions["aural.jobs"].incoming_file()
        self.__dict__.setdefault("_aural_tmp", []).append(f)
        return f


def _hostname(host: str | None) -> str:
    """'example.org:8000' -> 'example.org', '[::1]:8000' -> '[::1]'."""
    h = (host or "").lower()
    if h.startswith("["):
        return h.split("]")[0] + "]"
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _client() -> str:
    """This request's client id (a digest of its cookie token; set for every /api/ path)."""
    return g.aural_client


def _error(message: str, status: int):
    resp = jsonify(error=message)
    resp.status_code = status
    return resp


class _Chunks:
    """A write-only file object that collects what :mod:`zipfile` writes, to be yielded."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pos = 0

    def write(self, b) -> int:
        self.parts.append(bytes(b))
        self.pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts = []
        return out


ZIP_CHUNK = 1 << 20


def _zip_stream(entries: list[tuple[str, str]]):
    """Yield a ZIP (stored, zip64) of [(file, entry name)], a chunk at a time; a file removed
    meanwhile is left out."""
    out = _Chunks()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path, name in entries:
            try:
                src = open(path, "rb")
            except FileNotFoundError:
                continue
            with src, zf.open(name, "w", force_zip64=True) as dst:
                while True:
                    b = src.read(ZIP_CHUNK)
                    if not b:
                        break
                    dst.write(b)
                    yield out.take()
            yield out.take()
    yield out.take()


def _ascii(name: str) -> str:
    """A download name safe in a header."""
    s = "".join(c if c.isascii() and (c.isalnum() or c in " -_.()") else "_" for c in name)
    return s.strip()[:80] or "aural"


def create_app(jobs_dir: str | os.PathLike | None = None, *, max_upload_mb: float = 500.0,
               keep_hours: float = 24.0, workers: int = 1, max_duration_h: float = 6.0,
               allowed_hosts: set[str] | None = None, start_workers: bool = True,
               max_job_gb: float | None = None, max_total_gb: float | None = None) -> Flask:
    """Build the app with its :class:`JobManager` (in ``app.extensions["aural.jobs"]``).

    allowed_hosts: host names (without port) answered; None answers any.
    max_job_gb / max_total_gb: disk one job may write / all jobs may hold (GB, 1e9 bytes);
    None reads ``AURAL_WEB_MAX_JOB_GB`` / ``AURAL_WEB_MAX_TOTAL_GB``, else 4 and 20."""
    if max_job_gb is None:
        max_job_gb = env_number("AURAL_WEB_MAX_JOB_GB", 4.0)
    if max_total_gb is None:
        max_total_gb = env_number("AURAL_WEB_MAX_TOTAL_GB", 20.0)
    app = Flask("aural.web", root_path=HERE, static_folder="static", template_folder="templates")
    app.request_class = _UploadRequest
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb * 1024 * 1024)
    app.config["JSON_SORT_KEYS"] = False
    manager = JobManager(jobs_dir or default_jobs_dir(), workers=workers,
                         keep_seconds=keep_hours * 3600.0, max_duration_s=max_duration_h * 3600.0,
                         max_job_bytes=max_job_gb * 1e9, max_total_bytes=max_total_gb * 1e9)
    app.extensions["aural.jobs"] = manager
    if start_workers:
        manager.start()
    limit_mb = max_upload_mb

    def config_json() -> dict:
        return {
            "max_upload_bytes": app.config["MAX_CONTENT_LENGTH"],
            "max_upload_mb": limit_mb,
            "keep_hours": keep_hours,
            "max_duration_h": max_duration_h,
            "max_job_gb": max_job_gb,
            "outputs": [{"id": k, "label": v[3]} for k, v in OUTPUT_FORMATS.items()],
            "loudness_targets": [
                {"value": "-16", "label": "−16 LUFS · podcast (stereo)"},
                {"value": "-19", "label": "−19 LUFS · podcast (mono)"},
                {"value": "-23", "label": "−23 LUFS · broadcast (EBU R 128)"},
                {"value": "-14", "label": "−14 LUFS · music streaming"},
                {"value": "off", "label": "Keep the preset's level"},
            ],
            "accepted": ["WAV", "FLAC", "OGG", "MP3"],
        }

    # ------------------------------------------------------------------ guards
    @app.before_request
    def _guards():
        if allowed_hosts is not None and _hostname(request.host) not in allowed_hosts:
            return _error("Host not allowed.", 403)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("Origin")
            if origin and origin != "null":
                if urlsplit(origin).netloc.lower() != (request.host or "").lower():
                    return _error("Cross-site request refused.", 403)
            elif origin == "null":
                return _error("Cross-site request refused.", 403)
        if request.path.startswith("/api/"):
            token = request.cookies.get(COOKIE, "")
            if not TOKEN_RE.match(token):
                token = secrets.token_urlsafe(32)
                g.aural_new_token = token
            g.aural_client = hashlib.sha256(token.encode()).hexdigest()[:32]
        return None

    @app.after_request
    def _headers(resp: Response):
        token = g.pop("aural_new_token", None)
        if token is not None:
            resp.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
                            samesite="Strict", secure=request.is_secure)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "style-src 'self' 'unsafe-inline'; script-src 'self'; worker-src 'self' blob:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        return resp

    @app.teardown_request
    def _drop_unused_uploads(exc):
        for f in request.__dict__.get("_aural_tmp", []):
            try:
                f.close()
            except OSError:
                log.warning("could not close an upload file", exc_info=True)
            try:
                os.unlink(f.name)
            except FileNotFoundError:
                pass

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(e):
        n = request.content_length
        size = f"The file is {n / 1048576:.0f} MB; " if n else "The file is too large; "
        return _error(f"{size}the limit is {limit_mb:g} MB.", 413)

    @app.errorhandler(JobError)
    def _job_error(e: JobError):
        return _error(str(e), e.status)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        if request.path.startswith("/api/"):
            return _error(e.description or e.name, e.code or 500)
        return e

    @app.errorhandler(OSError)
    def _os_error(e: OSError):
        log.exception("I/O error")
        import errno
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return _error("The server's disk is full: remove old jobs or try later.", 507)
        return _error("The server could not store or read a file (see its log).", 500)

    # ------------------------------------------------------------------ page
    @app.get("/")
    @app.get("/job/<job_id>")
    @app.get("/batch/<job_id>")
    def index(job_id: str | None = None):
        return render_template("index.html", config=config_json())

    # ------------------------------------------------------------------ API
    @app.get("/api/config")
    def api_config():
        return jsonify(config_json())

    @app.get("/api/presets")
    def api_presets():
        return jsonify(describe_presets())

    @app.post("/api/jobs")
    def api_create():
        files = request.files.getlist("file")
        if not files:
            return _error("No file was sent: choose an audio file.", 400)
        if len(files) != 1:
            return _error("Send one file per job; several files go to /api/batches as one "
                          "batch.", 400)
        fs = files[0]
        path = _stored(fs)
        if os.path.getsize(path) == 0:
            return _error("The file is empty.", 400)
        preset, params, output, loudness = _job_settings()
        job = manager.create(path, fs.filename, preset, params, output, loudness,
                             client=_client())
        resp = jsonify(job)
        resp.status_code = 202
        resp.headers["Location"] = f"/api/jobs/{job['id']}"
        return resp

    @app.post("/api/batches")
    def api_batch_create():
        files = request.files.getlist("file")
        if not files:
            return _error("No file was sent: choose audio files or a folder.", 400)
        names = request.form.getlist("path")
        if len(names) != len(files):
            names = [fs.filename for fs in files]
        uploads = [(_stored(fs), name) for fs, name in zip(files, names)]
        preset, params, output, loudness = _job_settings()
        batch = manager.create_batch(uploads, preset, params, output, loudness,
                                     client=_client())
        resp = jsonify(batch)
        resp.status_code = 202
        resp.headers["Location"] = f"/api/batches/{batch['id']}"
        return resp

    @app.get("/api/batches/<batch_id>")
    def api_batch(batch_id: str):
        return jsonify(manager.get_batch(batch_id, _client()))

    @app.post("/api/batches/<batch_id>/cancel")
    def api_batch_cancel(batch_id: str):
        return jsonify(manager.cancel_batch(batch_id, _client()))

    @app.get("/api/batches/<batch_id>/zip")
    def api_batch_zip(batch_id: str):
        entries = manager.batch_outputs(batch_id, _client())
        if not entries:
            raise JobError("No file of this batch is finished yet.", 409)
        folder = manager.get_batch(batch_id, _client())["folder"] or "aural"
        return Response(_zip_stream(entries), mimetype="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{_ascii(folder)}-enhanced.zip"',
            "Cache-Control": "no-store"})

    @app.get("/api/jobs")
    def api_list():
        return jsonify(manager.list(client=_client()))

    @app.get("/api/jobs/<job_id>")
    def api_job(job_id: str):
        return jsonify(manager.get(job_id, _client()))

    @app.post("/api/jobs/<job_id>/cancel")
    def api_cancel(job_id: str):
        return jsonify(manager.cancel(job_id, _client()))

    @app.delete("/api/jobs/<job_id>")
    def api_delete(job_id: str):
        manager.delete(job_id, _client())
        return jsonify(deleted=job_id)

    @app.get("/api/jobs/<job_id>/events")
    def api_events(job_id: str):
        client = _client()
        manager.get(job_id, client)  # 404 before the stream starts

        def stream():
            version = -1
            while True:
                snap, version = manager.wait(job_id, version, timeout=15.0, client=client)
                if snap is None:
                    yield 'event: gone\ndata: {"error": "The job was removed."}\n\n'
                    return
                yield f"data: {json.dumps(snap)}\n\n"
                if snap["status"] in TERMINAL:
                    return

        return Response(stream(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def _stored(fs) -> str:
        """The path of an uploaded part in the jobs folder (spilled there if kept in memory)."""
        stream = fs.stream
        path = getattr(stream, "name", None)
        if not isinstance(path, str):  # werkzeug kept it in memory: spill it to the jobs dir
            tmp = manager.incoming_file()
            request.__dict__.setdefault("_aural_tmp", []).append(tmp)
            fs.save(tmp)
            stream, path = tmp, tmp.name
        stream.flush()
        return path

    def _job_settings() -> tuple[str, dict, str, float | None]:
        """(preset, params, output, loudness) of the form; JobError 400 when unusable."""
        try:
            params = parse_params(request.form.get("params") or "{}")
        except BadParams as e:
            raise JobError(str(e), 400) from None
        preset = request.form.get("preset") or ""
        output = request.form.get("output") or "wav"
        raw = (request.form.get("loudness") or "off").strip().lower()
        if raw in ("off", "none", ""):
            return preset, params, output, None
        try:
            return preset, params, output, float(raw)
        except ValueError:
            raise JobError(f"Loudness target {raw[:20]!r} is not a number of LUFS.",
                           400) from None

    def _done_job(job_id: str) -> dict:
        job = manager.get_internal(job_id, _client())
        if job["status"] != "done":
            raise JobError(f"The job is not finished ({job['status']}).", 409)
        return job

    @app.get("/api/jobs/<job_id>/audio/<which>")
    def api_audio(job_id: str, which: str):
        if which == "original":
            job = manager.get_internal(job_id, _client())
            if job.get("preview"):
                return send_file(manager.file_path(job_id, "original.wav"), mimetype="audio/wav",
                                 conditional=True, max_age=3600)
            mime = MIME.get(job["input"]["format"], "application/octet-stream")
            return send_file(manager.file_path(job_id, "input"), mimetype=mime,
                             conditional=True, max_age=3600)
        if which == "enhanced":
            job = _done_job(job_id)
            return send_file(manager.file_path(job_id, job["output_file"]),
                             mimetype=OUTPUT_FORMATS[job["output"]][2], conditional=True,
                             max_age=3600)
        return _error("Unknown track: use original or enhanced.", 404)

    @app.get("/api/jobs/<job_id>/download")
    def api_download(job_id: str):
        job = _done_job(job_id)
        return send_file(manager.file_path(job_id, job["output_file"]),
                         mimetype=OUTPUT_FORMATS[job["output"]][2], as_attachment=True,
                         download_name=job["output_name"], conditional=True)

    @app.get("/api/jobs/<job_id>/peaks")
    def api_peaks(job_id: str):
        _done_job(job_id)
        return send_file(manager.file_path(job_id, "peaks.json"), mimetype="application/json",
                         conditional=True, max_age=3600)

    @app.get("/api/jobs/<job_id>/spectrogram/<which>")
    def api_spectrogram(job_id: str, which: str):
        _done_job(job_id)
        names = {"original": "spectrogram-original.json", "enhanced": "spectrogram-enhanced.json"}
        if which not in names:
            return _error("Unknown track: use original or enhanced.", 404)
        return send_file(manager.file_path(job_id, names[which]), mimetype="application/json",
                         conditional=True, max_age=3600)

    return app
