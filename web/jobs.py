"""Jobs: a folder per job under the jobs directory, a queue, worker threads and clean-up.

Layout of a job (the folder name is the job id, 32 random hex digits; nothing the user sends
ever becomes part of a path)::

    <jobs>/<id>/meta.json                 status, settings, progress, figures (written atomically)
    <jobs>/<id>/input                     the upload, exactly as received
    <jobs>/<id>/enhanced.wav|.flac        the result (written atomically by the worker)
    <jobs>/<id>/original.wav              browser-playable copy, only for AIFF/CAF/ADPCM uploads
    <jobs>/<id>/peaks.json, spectrogram-*.json   what the page draws

On start every ``meta.json`` is read back: finished jobs are served again and jobs that were
queued or running when the server stopped are queued again, from the start; temporaries a
killed server left behind (``.*.part``, ``.*.pass1.w64``, ``pass1.wav``, half-written JSON, the
partial results of unfinished jobs, stray uploads) are swept then.  Jobs that ended (done,
error, cancelled) more than ``keep_seconds`` ago are deleted by a clean-up thread.

Each job belongs to the browser that made it: ``client`` (a digest of its cookie token) is
stored with the job, and every read or change with another client answers 404, as for a job
that does not exist.  Disk is bounded before a job starts: the bytes it will write (from the
decoded header, :func:`pipeline.estimate_bytes`) must fit ``max_job_bytes`` and, with every
file of the jobs folder and what unfinished jobs will still write, ``max_total_bytes``
(413 otherwise).

A batch (:meth:`JobManager.create_batch`) is a job per file sharing a ``batch`` id, with the
file's cleaned relative ``path``; it needs no storage of its own (it is the set of its jobs, so
it survives a restart and is cleaned up with them).  Its disk need is checked as a whole.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from . import pipeline

__all__ = ["ID_RE", "MAX_BATCH_FILES", "TERMINAL", "JobError", "JobManager", "safe_rel_path"]

log = logging.getLogger("aural.web")

ID_RE = re.compile(r"^[0-9a-f]{32}$")
TERMINAL = ("done", "error", "cancelled")
PUBLIC = ("id", "name", "status", "created", "started", "finished", "preset", "params", "output",
          "input", "progress", "eta_s", "speed", "error", "figures", "clipped_samples",
          "queue_position", "cancel_requested", "output_name", "loudness", "loudness_gain_db",
          "elapsed_s", "batch", "path", "findings", "actions")
#: most files one batch may hold
MAX_BATCH_FILES = 500
#: files of a job that are never kept: partial writes and the loudness pass's intermediate
TEMPORARY_SUFFIXES = (".part", ".pass1.w64")
#: a job's results, removed when it does not end "done"
RESULTS = ("enhanced.wav", "enhanced.flac", "original.wav", "pass1.wav", "peaks.json",
           "spectrogram-original.json", "spectrogram-enhanced.json")
NOTIFY_S = 0.1  # at most this often a progress change wakes the event streams


class JobError(Exception):
    """A request on a job that cannot be served; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def sweep_temporaries(job_dir: str, results: bool = False) -> int:
    """Remove a job folder's temporaries (and its results too with ``results``).
    Returns the number of files removed."""
    n = 0
    try:
        names = os.listdir(job_dir)
    except FileNotFoundError:
        return 0
    for name in names:
        temp = (name.startswith(".") and (name.endswith(TEMPORARY_SUFFIXES)
                                          or name.startswith(".tmp-"))) or name == "pass1.wav"
        if temp or (results and name in RESULTS):
            try:
                os.unlink(os.path.join(job_dir, name))
                n += 1
            except (FileNotFoundError, IsADirectoryError):
                pass
    return n


def folder_bytes(root: str) -> int:
    """Bytes of the files under ``root`` (allocated size where known)."""
    total = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                st = os.stat(os.path.join(dirpath, f))
            except OSError:
                continue
            total += max(st.st_size, getattr(st, "st_blocks", 0) * 512)
    return total


def _safe_display_name(name: Any) -> str:
    """The upload's file name for display and the download name only (never a path)."""
    s = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    s = "".join(c for c in s if c.isprintable() and c not in '"<>|:*?\r\n\t')
    s = s.strip(" .")[:120]
    return s or "recording"


def safe_rel_path(name: Any) -> str:
    """A relative path a browser sent (``webkitRelativePath``) made safe for a ZIP entry:
    '/' separated, no empty, '.' or '..' parts, no control or reserved characters, at most 8
    folders deep.  Used for display and ZIP entries only, never as a path on the server."""
    parts = []
    for part in str(name or "").replace("\\", "/").split("/"):
        part = "".join(c for c in part if c.isprintable() and c not in '"<>|:*?\r\n\t')
        part = part.strip(" .")[:120]
        if part:
            parts.append(part)
    if not parts:
        return "recording"
    return "/".join(parts[:-1][:8] + parts[-1:])


def strip_common_folder(paths: list[str]) -> tuple[str | None, list[str]]:
    """['take/a.wav', 'take/b/c.wav'] -> ('take', ['a.wav', 'b/c.wav']): paths relative to the
    folder a person picked (a browser names the picked folder first); (None, paths) else."""
    split = [p.split("/") for p in paths]
    if split and all(len(s) > 1 for s in split) and len({s[0] for s in split}) == 1:
        return split[0][0], ["/".join(s[1:]) for s in split]
    return None, list(paths)


class JobManager:
    """Owns the jobs directory.  Thread-safe; start() launches the workers and the clean-up."""

    def __init__(self, root: str | os.PathLike, workers: int = 1, keep_seconds: float = 86400.0,
                 max_duration_s: float = 6 * 3600.0,
                 process: Callable[..., dict] = pipeline.process,
                 max_job_bytes: float = 4e9, max_total_bytes: float = 20e9) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.incoming = os.path.join(self.root, ".incoming")
        os.makedirs(self.incoming, exist_ok=True)
        self.n_workers = max(1, int(workers))
        self.keep_seconds = float(keep_seconds)
        self.max_duration_s = float(max_duration_s)
        self.max_job_bytes = float(max_job_bytes)
        self.max_total_bytes = float(max_total_bytes)
        self._create_lock = threading.Lock()  # one quota check at a time
        self._process = process
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, dict] = {}
        self._version: dict[str, int] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._order: list[str] = []  # queued ids, in order
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._seq = 0
        self._load()

    # ------------------------------------------------------------------ paths
    def job_dir(self, job_id: str) -> str:
        if not isinstance(job_id, str) or not ID_RE.match(job_id):
            raise JobError("No such job.", 404)
        return os.path.join(self.root, job_id)

    def file_path(self, job_id: str, name: str) -> str:
        """Path of one of a job's own files (``name`` comes from code, never from a request)."""
        return os.path.join(self.job_dir(job_id), name)

    # ------------------------------------------------------------------ persistence
    def _load(self) -> None:
        for name in os.listdir(self.incoming):  # no upload is under way before the start
            try:
                os.unlink(os.path.join(self.incoming, name))
            except OSError:
                pass
        found = []
        for entry in os.listdir(self.root):
            if not ID_RE.match(entry):
                continue
            meta = os.path.join(self.root, entry, "meta.json")
            try:
                with open(meta, encoding="utf-8") as f:
                    job = json.load(f)
                if job.get("id") != entry:
                    raise ValueError("id mismatch")
            except (OSError, ValueError) as e:
                log.warning("job %s: unreadable metadata (%s); removing it", entry, e)
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)
                continue
            found.append(job)
        found.sort(key=lambda j: j.get("created", 0))
        requeue = []
        for job in found:
            jid = job["id"]
            if job.get("status") == "done":
                out = job.get("output_file")
                if not out or not os.path.isfile(os.path.join(self.root, jid, out)):
                    job.update(status="error", error="The result file is missing.")
            elif job.get("status") not in TERMINAL:  # queued or running when the server stopped
                job.update(status="queued", progress=0.0, eta_s=None, speed=None, started=None,
                           cancel_requested=False)
                requeue.append(jid)
            swept = sweep_temporaries(os.path.join(self.root, jid),
                                      results=job.get("status") != "done")
            if swept:
                log.info("job %s: removed %d temporary file(s)", jid, swept)
            self._jobs[jid] = job
            self._version[jid] = 0
            self._cancel[jid] = threading.Event()
            self._save(job)
        for jid in requeue:
            self._enqueue(jid)
        if requeue:
            log.info("re-queued %d unfinished job(s)", len(requeue))

    def _save(self, job: dict) -> None:
        d = os.path.join(self.root, job["id"])
        if os.path.isdir(d):
            pipeline.write_json_atomic(os.path.join(d, "meta.json"), job)

    # ------------------------------------------------------------------ life cycle
    def start(self) -> JobManager:
        if self._threads:
            return self
        self._stop.clear()
        with self._lock:
            for jid, ev in self._cancel.items():
                if not self._jobs[jid].get("cancel_requested"):
                    ev.clear()
        for i in range(self.n_workers):
            t = threading.Thread(target=self._worker, name=f"aural-web-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._janitor, name="aural-web-cleanup", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers: a running job is interrupted and stays queued for the next start."""
        self._stop.set()
        for ev in list(self._cancel.values()):
            ev.set()
        for _ in range(self.n_workers):
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    # ------------------------------------------------------------------ creating
    def incoming_file(self):
        """A new temporary file in the jobs directory for an upload being received."""
        import tempfile
        return tempfile.NamedTemporaryFile(dir=self.incoming, prefix="up-", delete=False)

    def _settings(self, preset: str, params: dict, output: str,
                  loudness: float | None) -> tuple[dict, float | None]:
        """Validate a job's settings; returns (params as the guards clamped them, loudness)."""
        if output not in pipeline.OUTPUT_FORMATS:
            raise JobError(f"Unknown output format {str(output)[:20]!r}: choose "
                           f"{' or '.join(pipeline.OUTPUT_FORMATS)}.")
        if loudness is not None:
            lo, hi = pipeline.LOUDNESS_RANGE
            if not (isinstance(loudness, (int, float)) and lo <= loudness <= hi):
                raise JobError(f"Loudness target must be {lo:g} to {hi:g} LUFS.")
            loudness = float(loudness)
        from .catalog import CatalogError, build_chain, effective_params
        try:
            chain = build_chain(preset, params)  # validates the name and every parameter
        except CatalogError as e:
            raise JobError(str(e)) from None
        return effective_params(chain, params or {}, preset), loudness

    def _per_job_limit(self, need: int, info: dict, what: str = "This recording") -> None:
        if need > self.max_job_bytes:
            raise JobError(
                f"{what} would need about {_gb(need)} of disk on the server "
                f"({info['channels']} channels at {info['sample_rate'] / 1000:g} kHz for "
                f"{pipeline._hms(info['duration'])}); the limit per job is "
                f"{_gb(self.max_job_bytes)}. Send a shorter part, fewer channels or a "
                "lower sample rate.", 413)

    def _used_bytes(self) -> float:
        """Bytes the jobs folder holds plus what unfinished jobs will still write."""
        with self._lock:
            pending = sum(j.get("reserve_bytes") or 0 for j in self._jobs.values()
                          if j["status"] not in TERMINAL)
        return folder_bytes(self.root) + pending

    def _register(self, job: dict, enqueue: bool) -> None:
        """Add a new job (its folder exists; lock not held)."""
        jid = job["id"]
        with self._lock:
            self._jobs[jid] = job
            self._version[jid] = 0
            self._cancel[jid] = threading.Event()
            self._save(job)
            if enqueue:
                self._enqueue_locked(jid)
            self._bump(jid)

    def create(self, upload_path: str, filename: Any, preset: str, params: dict,
               output: str, loudness: float | None = None, client: str | None = None) -> dict:
        """Turn a received upload (a file in ``incoming``) into a queued job of ``client``.

        Validates by decoding and checks the disk it will need; raises :class:`JobError` (the
        upload is removed) on bad input (400, 415) or too little room (413)."""
        try:
            params, loudness = self._settings(preset, params, output, loudness)
            try:
                info = pipeline.inspect_upload(upload_path, self.max_duration_s)
            except ValueError as e:
                raise JobError(str(e), 415) from None
            need = pipeline.estimate_bytes(info, output, loudness)
            self._per_job_limit(need, info)
            with self._create_lock:
                used = self._used_bytes()
                if used + need > self.max_total_bytes:
                    raise JobError(
                        f"The server's job storage is full: this job needs about {_gb(need)} "
                        f"and {_gb(max(0.0, self.max_total_bytes - used))} of "
                        f"{_gb(self.max_total_bytes)} is free. Remove old jobs or try later.",
                        413)
                jid = secrets.token_hex(16)
                d = os.path.join(self.root, jid)
                os.mkdir(d)
                os.replace(upload_path, os.path.join(d, "input"))
                job = self._new_job(jid, filename, preset, params, output, loudness, info,
                                    client, need)
                self._register(job, enqueue=True)
                with self._lock:
                    return self._public(job)
        except BaseException:
            try:
                os.unlink(upload_path)
            except FileNotFoundError:
                pass
            raise

    def create_batch(self, uploads: list[tuple[str, str]], preset: str, params: dict,
                     output: str, loudness: float | None = None,
                     client: str | None = None) -> dict:
        """Turn received uploads [(file in ``incoming``, relative path)] into one batch: a job
        per file with the same settings, queued in order.  A file that is not usable audio
        becomes a failed job with the reason (the others go on).  The batch is refused as a
        whole (413, nothing kept) when a file or the total would exceed the disk limits.
        Returns :meth:`get_batch`'s dict.  Every upload is moved into a job or removed."""
        try:
            if not uploads:
                raise JobError("No file was sent: choose audio files or a folder.")
            if len(uploads) > MAX_BATCH_FILES:
                raise JobError(f"{len(uploads)} files were sent; a batch holds at most "
                               f"{MAX_BATCH_FILES}.")
            params, loudness = self._settings(preset, params, output, loudness)
            folder, paths = strip_common_folder([safe_rel_path(name) for _, name in uploads])
            entries = []  # (upload, rel path, info or None, need, error)
            for (up, _), rel in zip(uploads, paths):
                info, need, error = None, 0, None
                try:
                    if os.path.getsize(up) == 0:
                        raise ValueError("The file is empty.")
                    info = pipeline.inspect_upload(up, self.max_duration_s)
                except ValueError as e:
                    info, error = None, str(e)
                if info is not None:
                    need = pipeline.estimate_bytes(info, output, loudness)
                    self._per_job_limit(need, info, f"“{rel}”")
                entries.append((up, rel, info, need, error))
            total = sum(e[3] for e in entries)
            bid = secrets.token_hex(16)
            with self._create_lock:
                used = self._used_bytes()
                if used + total > self.max_total_bytes:
                    raise JobError(
                        f"The server's job storage is too full for this batch: its "
                        f"{len(entries)} files need about {_gb(total)} in total and "
                        f"{_gb(max(0.0, self.max_total_bytes - used))} of "
                        f"{_gb(self.max_total_bytes)} is free. Send fewer files, remove old "
                        "jobs or try later.", 413)
                now = time.time()
                for index, (up, rel, info, need, error) in enumerate(entries):
                    jid = secrets.token_hex(16)
                    os.mkdir(os.path.join(self.root, jid))
                    if error is None:
                        os.replace(up, os.path.join(self.root, jid, "input"))
                    job = self._new_job(jid, rel, preset, params, output, loudness, info,
                                        client, need)
                    job.update(batch=bid, path=rel, index=index, folder=folder,
                               created=now + index * 1e-6)
                    if error is not None:
                        job.update(status="error", error=error, finished=now, reserve_bytes=0)
                    self._register(job, enqueue=error is None)
            return self.get_batch(bid, client)
        finally:
            for up, _ in uploads:
                try:
                    os.unlink(up)
                except FileNotFoundError:
                    pass

    def _batch_jobs(self, batch_id: str, client: str | None) -> list[dict]:
        """The batch's jobs (lock held) in upload order; 404 when none is the client's."""
        if not isinstance(batch_id, str) or not ID_RE.match(batch_id):
            raise JobError("No such batch.", 404)
        jobs = sorted((j for j in self._jobs.values()
                       if j.get("batch") == batch_id and self._owned(j, client)),
                      key=lambda j: j.get("index", 0))
        if not jobs:
            raise JobError("No such batch. It may have been removed after its keep time.", 404)
        return jobs

    def get_batch(self, batch_id: str, client: str | None = None) -> dict:
        """{id, status, progress, counts, total, preset, jobs: [...]} of a batch; status is
        "running" until every job ended, then "done"."""
        with self._lock:
            jobs = self._batch_jobs(batch_id, client)
            counts = {k: 0 for k in ("queued", "running", "done", "error", "cancelled")}
            for j in jobs:
                counts[j["status"]] = counts.get(j["status"], 0) + 1
            ended = all(j["status"] in TERMINAL for j in jobs)
            return {
                "id": batch_id, "status": "done" if ended else "running",
                "folder": jobs[0].get("folder"),
                "created": jobs[0].get("created"), "preset": jobs[0].get("preset"),
                "params": jobs[0].get("params"), "output": jobs[0].get("output"),
                "loudness": jobs[0].get("loudness"), "total": len(jobs), "counts": counts,
                "progress": round(sum(1.0 if j["status"] in TERMINAL else j.get("progress") or 0.0
                                      for j in jobs) / len(jobs), 4),
                "jobs": [self._public(j) for j in jobs],
            }

    def batch_outputs(self, batch_id: str, client: str | None = None) -> list[tuple[str, str]]:
        """[(result file, ZIP entry name)] of the batch's finished jobs, entry names relative
        to the folder the person picked, each unique."""
        with self._lock:
            jobs = [dict(j) for j in self._batch_jobs(batch_id, client)]
        out, seen = [], set()
        for j in jobs:
            if j["status"] != "done" or not j.get("output_file"):
                continue
            folder = j.get("path", "").rpartition("/")[0]
            name = f"{folder}/{j['output_name']}" if folder else j["output_name"]
            stem, dot, ext = name.rpartition(".")
            k = 2
            while name.lower() in seen:
                name = f"{stem} ({k}){dot}{ext}"
                k += 1
            seen.add(name.lower())
            out.append((os.path.join(self.root, j["id"], j["output_file"]), name))
        return out

    def cancel_batch(self, batch_id: str, client: str | None = None) -> dict:
        """Cancel every queued or running job of the batch."""
        with self._lock:
            ids = [j["id"] for j in self._batch_jobs(batch_id, client)
                   if j["status"] not in TERMINAL]
        for jid in ids:
            try:
                self.cancel(jid, client)
            except JobError:
                pass  # it ended meanwhile
        return self.get_batch(batch_id, client)

    @staticmethod
    def _new_job(jid: str, filename: Any, preset: str, params: dict, output: str,
                 loudness: float | None, info: dict, client: str | None, need: int) -> dict:
        name = _safe_display_name(filename)
        stem = name.rsplit(".", 1)[0] if "." in name else name
        return {
            "id": jid, "name": name, "status": "queued", "created": time.time(),
            "started": None, "finished": None, "preset": preset, "params": params or {},
            "output": output, "loudness": loudness, "loudness_gain_db": None, "input": info,
            "progress": 0.0, "eta_s": None, "speed": None,
            "error": None, "figures": None, "clipped_samples": None, "cancel_requested": False,
            "output_file": None,
            "output_name": f"{stem}-enhanced.{output}",
            "client": client, "reserve_bytes": int(need),
            "batch": None, "path": None, "findings": None, "actions": None,
        }

    def _enqueue(self, jid: str) -> None:
        with self._lock:
            self._enqueue_locked(jid)

    def _enqueue_locked(self, jid: str) -> None:
        self._order.append(jid)
        self._queue.put(jid)

    # ------------------------------------------------------------------ reading
    def _public(self, job: dict) -> dict:
        out = {k: job.get(k) for k in PUBLIC}
        if job["status"] == "queued":
            try:
                out["queue_position"] = self._order.index(job["id"]) + 1
            except ValueError:
                out["queue_position"] = None
        return out

    @staticmethod
    def _owned(job: dict | None, client: str | None) -> bool:
        """Whether ``client`` may see ``job`` (None: the server itself, sees all)."""
        return job is not None and (client is None or job.get("client") == client)

    def _find(self, job_id: str, client: str | None) -> dict:
        """The job (lock held); 404 when missing or another client's."""
        job = self._jobs.get(job_id)
        if not self._owned(job, client):
            raise JobError("No such job. It may have been removed after its keep time.", 404)
        return job

    def get(self, job_id: str, client: str | None = None) -> dict:
        self.job_dir(job_id)
        with self._lock:
            return self._public(self._find(job_id, client))

    def get_internal(self, job_id: str, client: str | None = None) -> dict:
        self.job_dir(job_id)
        with self._lock:
            return dict(self._find(job_id, client))

    def list(self, limit: int = 50, client: str | None = None) -> list[dict]:
        """The client's jobs, newest first."""
        with self._lock:
            jobs = sorted((j for j in self._jobs.values() if self._owned(j, client)),
                          key=lambda j: j.get("created", 0), reverse=True)
            return [self._public(j) for j in jobs[:limit]]

    def wait(self, job_id: str, version: int, timeout: float,
             client: str | None = None) -> tuple[dict | None, int]:
        """Block until the job's version differs from ``version`` (or timeout); returns
        (public snapshot or None if the job is gone, version)."""
        self.job_dir(job_id)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                job = self._jobs.get(job_id)
                if not self._owned(job, client):
                    return None, -1
                v = self._version.get(job_id, 0)
                if v != version:
                    return self._public(job), v
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return self._public(job), v
                self._changed.wait(left)

    def _bump(self, jid: str) -> None:
        """Mark a change (lock held) and wake the event streams."""
        self._version[jid] = self._version.get(jid, 0) + 1
        self._changed.notify_all()

    # ------------------------------------------------------------------ changing
    def cancel(self, job_id: str, client: str | None = None) -> dict:
        self.job_dir(job_id)
        with self._lock:
            job = self._find(job_id, client)
            if job["status"] == "queued":
                job.update(status="cancelled", finished=time.time(), eta_s=None)
                if job_id in self._order:
                    self._order.remove(job_id)
                self._save(job)
                for other in self._order:
                    self._bump(other)  # queue positions moved
            elif job["status"] == "running":
                job["cancel_requested"] = True
                self._cancel[job_id].set()
            else:
                raise JobError(f"The job has already ended ({job['status']}).", 409)
            self._bump(job_id)
            return self._public(job)

    def delete(self, job_id: str, client: str | None = None) -> None:
        self.job_dir(job_id)
        with self._lock:
            job = self._find(job_id, client)
            if job["status"] not in TERMINAL:
                raise JobError("The job is still queued or running: cancel it first.", 409)
            del self._jobs[job_id]
            self._cancel.pop(job_id, None)
            self._bump(job_id)
        shutil.rmtree(os.path.join(self.root, job_id), ignore_errors=True)

    # ------------------------------------------------------------------ workers
    def _worker(self) -> None:
        while not self._stop.is_set():
            jid = self._queue.get()
            if jid is None:
                return
            with self._lock:
                job = self._jobs.get(jid)
                if jid in self._order:
                    self._order.remove(jid)
                if job is None or job["status"] != "queued":
                    continue
                job.update(status="running", started=time.time(), progress=0.0)
                self._save(job)
                self._bump(jid)
                for other in self._order:
                    self._bump(other)
                cancel = self._cancel[jid]
                settings = (job["preset"], job["params"], job["output"], job.get("loudness"))
            try:
                self._run(jid, cancel, *settings)
            except Exception:
                log.exception("job %s: worker error", jid)
                with self._lock:
                    job = self._jobs.get(jid)
                    if job is not None and job["status"] == "running":
                        job.update(status="error", error="The server could not finish this job "
                                   "(see its log).", finished=time.time(), eta_s=None)
                        self._bump(jid)

    def _run(self, jid: str, cancel: threading.Event, preset: str, params: dict,
             output: str, loudness: float | None) -> None:
        d = os.path.join(self.root, jid)
        t0 = time.monotonic()
        last = [0.0]
        duration = self._jobs[jid]["input"]["duration"]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            p = min(done / total, 0.999)
            el = now - t0
            with self._lock:
                job = self._jobs.get(jid)
                if job is None:
                    return
                job["progress"] = p
                job["speed"] = round(p * duration / el, 2) if el > 0 else None
                job["eta_s"] = round(el * (1.0 - p) / p, 1) if p > 0 and el > 0.2 else None
                if now - last[0] >= NOTIFY_S:
                    last[0] = now
                    self._bump(jid)

        status, error, result = "done", None, {}
        try:
            result = self._process(d, preset, params, output, progress, cancel.is_set,
                                   loudness=loudness)
        except pipeline.Cancelled:
            status = "cancelled"
        except ValueError as e:  # decoding problems found while streaming, bad settings
            status, error = "error", str(e)
        except Exception as e:
            log.exception("job %s failed", jid)
            status, error = "error", f"Processing failed: {type(e).__name__}: {e}"
        if self._stop.is_set() and status == "cancelled":
            return  # server stopping: leave it queued/running on disk, re-queued on next start
        if status != "done":
            sweep_temporaries(d, results=True)
        else:
            sweep_temporaries(d)
        with self._lock:
            job = self._jobs.get(jid)
            if job is None:
                return
            job.update(status=status, error=error, finished=time.time(), eta_s=None)
            if status == "done":
                job.update(progress=1.0, figures=result["figures"],
                           clipped_samples=result["clipped_samples"],
                           output_file=result["output_file"], preview=result["preview"],
                           loudness_gain_db=result.get("loudness_gain_db"),
                           findings=result.get("findings"), actions=result.get("actions"),
                           elapsed_s=round(time.monotonic() - t0, 2))
            self._save(job)
            self._bump(jid)

    # ------------------------------------------------------------------ clean-up
    def cleanup(self, now: float | None = None) -> int:
        """Delete jobs that ended more than ``keep_seconds`` ago and stale partial uploads.
        Returns the number of jobs removed."""
        now = time.time() if now is None else now
        removed = []
        with self._lock:
            for jid, job in list(self._jobs.items()):
                ended = job.get("finished") or job.get("created") or now
                if job["status"] in TERMINAL and now - ended > self.keep_seconds:
                    del self._jobs[jid]
                    self._cancel.pop(jid, None)
                    self._bump(jid)
                    removed.append(jid)
        for jid in removed:
            shutil.rmtree(os.path.join(self.root, jid), ignore_errors=True)
        try:
            for name in os.listdir(self.incoming):
                p = os.path.join(self.incoming, name)
                try:
                    if now - os.path.getmtime(p) > max(self.keep_seconds, 3600.0):
                        os.unlink(p)
                except OSError:
                    pass
        except FileNotFoundError:
            os.makedirs(self.incoming, exist_ok=True)
        if removed:
            log.info("removed %d old job(s)", len(removed))
        return len(removed)

    def _janitor(self) -> None:
        interval = min(max(self.keep_seconds / 4.0, 1.0), 600.0)
        while not self._stop.is_set():
            try:
                self.cleanup()
            except Exception:
                log.exception("clean-up failed")
            self._stop.wait(interval)
