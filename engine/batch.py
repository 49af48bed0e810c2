"""Batch restoration of whole folders: plan, resumable manifest, local process pool.

    plan = plan_batch("archive/", "restored/", preset="vinyl")
    report = run_batch(plan, workers=2, progress=print)      # local engine
    report.failed                                           # [(relative path, reason), ...]

The tree under ``IN_DIR`` is mirrored under ``OUT_DIR``: ``a/b.flac`` becomes ``a/b.flac``
(formats aural writes, WAV/FLAC/W64, are kept with their sample format; others, e.g. OGG or
MP3, become FLAC; ``fmt`` forces one).  Every output is written atomically (a temporary renamed
when complete), so a killed run leaves no partial file.  ``OUT_DIR/.aural-batch.jsonl`` is the
manifest: one JSON line per finished file (its source size and mtime, the job key, the output,
the seconds it took).  A new run with the same preset and settings skips every file the
manifest lists as done whose source is unchanged and whose output exists, so a killed run
resumes where it stopped and nothing is processed twice.

Each worker process holds one prepared chain (one ONNX session, one thread) for the whole run;
files are streamed in blocks (:func:`aural.engine.io.process_file`), so memory does not grow
with file length.  The Ray engine (:mod:`aural.engine.batch_ray`) runs the same per-file
function on a cluster, so its outputs are identical, bit for bit.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["AUDIO_EXTENSIONS", "BatchPlan", "BatchReport", "FileJob", "MANIFEST", "Progress",
           "plan_batch", "process_job", "run_batch"]

MANIFEST = ".aural-batch.jsonl"
#: file extensions taken as audio when walking a folder (anything libsndfile reads)
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".aifc",
                              ".w64", ".caf", ".au", ".snd", ".opus"})
_KEEP = {".wav": ".wav", ".flac": ".flac", ".w64": ".w64"}
_SUBTYPES = {"PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}
_FORMATS = {"wav": ".wav", "flac": ".flac", "w64": ".w64"}


@dataclass(frozen=True)
class FileJob:
    """One file to restore: paths relative to the plan's folders, and what identifies it."""
    rel: str            #: source path relative to IN_DIR (posix separators)
    out_rel: str        #: output path relative to OUT_DIR
    size: int           #: source size in bytes
    mtime_ns: int       #: source modification time
    subtype: str | None  #: output sample format (None: the writer's default)


@dataclass
class BatchPlan:
    """What a batch run will do: the jobs still to run and those a previous run finished."""
    in_dir: Path
    out_dir: Path
    preset: str
    settings: tuple[str, ...]
    block: int
    key: str                                   #: hash of preset, settings, block and learn
    todo: list[FileJob] = field(default_factory=list)
    done: list[FileJob] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  #: non-audio files under IN_DIR
    learn: bool = True                         #: file mode: nodes learn each file's opening

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST


@dataclass
class BatchReport:
    """The outcome of :func:`run_batch`."""
    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def _job_key(preset: str, settings: Iterable[str], block: int, learn: bool = True) -> str:
    """Identifies the processing: a preset file's content counts, not just its name."""
    h = hashlib.sha256()
    p = Path(preset)
    if preset == "auto":
        h.update(b"auto")  # the chain is built per file from its analysis
    elif p.suffix == ".json" and p.is_file():
        h.update(p.read_bytes())
    else:
        from .presets import read_preset  # the resolved preset, shipped or user
        try:
            h.update(json.dumps(read_preset(preset), sort_keys=True).encode())
        except Exception:
            h.update(preset.encode())
    for s in settings:
        h.update(b"\0" + s.encode())
    h.update(f"\0block={block}".encode())
    h.update(f"\0learn={int(bool(learn))}".encode())  # file mode changes the output
    return h.hexdigest()[:16]


def _read_manifest(path: Path) -> dict[str, dict]:
    """rel -> last 'done' record (a torn last line from a kill is ignored)."""
    out: dict[str, dict] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("status") == "done" and isinstance(rec.get("rel"), str):
            out[rec["rel"]] = rec
    return out


def _output_rel(rel: str, fmt: str | None) -> str:
    p = Path(rel)
    ext = _FORMATS[fmt] if fmt else _KEEP.get(p.suffix.lower(), ".flac")
    return p.with_suffix(ext).as_posix()


def plan_batch(in_dir: str | os.PathLike, out_dir: str | os.PathLike, preset: str = "voice",
               settings: Iterable[str] = (), block: int = 4096, fmt: str | None = None,
               learn: bool = True) -> BatchPlan:
    """Walk ``in_dir`` and decide what to run.  ``fmt``: None (keep), 'wav', 'flac' or 'w64'.
    ``learn``: file mode (nodes learn each file's opening first, as ``aural enhance``); False
    processes every file as a live stream would.

    Raises ValueError for a missing input folder, an output folder inside the input folder, or
    two sources that would write the same output (``a.ogg`` and ``a.mp3`` both to ``a.flac``)."""
    src, dst = Path(in_dir).resolve(), Path(out_dir).resolve()
    if not src.is_dir():
        raise ValueError(f"{in_dir}: not a folder")
    if dst == src or src in dst.parents:
        raise ValueError(f"{out_dir}: the output folder must not be inside the input folder")
    if fmt is not None and fmt not in _FORMATS:
        raise ValueError(f"format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    settings = tuple(settings)
    plan = BatchPlan(src, dst, preset, settings, int(block),
                     _job_key(preset, settings, block, learn), learn=bool(learn))
    finished = _read_manifest(plan.manifest)
    seen: dict[str, str] = {}
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(src).as_posix()
            if name.startswith(".") or path.suffix.lower() not in AUDIO_EXTENSIONS:
                plan.ignored.append(rel)
                continue
            st = path.stat()
            out_rel = _output_rel(rel, fmt)
            if out_rel in seen:
                raise ValueError(f"{seen[out_rel]} and {rel} would both write {out_rel}: "
                                 f"rename one, or use --format to keep them apart")
            seen[out_rel] = rel
            subtype = None
            if Path(out_rel).suffix.lower() == path.suffix.lower():
                try:
                    import soundfile as sf
                    sub = sf.info(str(path)).subtype
                    subtype = sub if sub in _SUBTYPES else None
                except Exception:
                    subtype = None  # unreadable: the worker reports it
            job = FileJob(rel, out_rel, st.st_size, st.st_mtime_ns, subtype)
            rec = finished.get(rel)
            if (rec and rec.get("key") == plan.key and rec.get("size") == st.st_size
                    and rec.get("mtime_ns") == st.st_mtime_ns and rec.get("out") == out_rel
                    and (dst / out_rel).is_file()):
                plan.done.append(job)
            else:
                plan.todo.append(job)
    return plan


# ------------------------------------------------------------------ the per-file function
_WORKER: dict = {}


def _worker_chain(preset: str, settings: tuple[str, ...]):
    """The worker's one chain, built on first use (one ONNX session, one thread)."""
    k = (preset, settings)
    if _WORKER.get("key") != k:
        from .presets import apply_settings, load_preset
        chain = load_preset(preset)
        apply_settings(chain, list(settings))
        _WORKER.update(key=k, chain=chain)
    return _WORKER["chain"]


def init_worker(preset: str, settings: tuple[str, ...]) -> None:
    """Process-pool initialiser: one thread per worker for every backend, then the chain."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    if preset != "auto":  # auto builds a chain per file
        _worker_chain(preset, settings)


def process_job(in_dir: str, out_dir: str, job: FileJob, preset: str,
                settings: tuple[str, ...], block: int, learn: bool = True) -> dict:
    """Restore one file; never raises.  Returns a manifest record (status 'done' or 'failed')."""
    from .io import process_file
    t0 = time.monotonic()
    rec = {"rel": job.rel, "out": job.out_rel, "size": job.size, "mtime_ns": job.mtime_ns}
    try:
        if preset == "auto":  # analyse this file, build the chain that fits it
            from .auto import auto_chain_for
            chain, found = auto_chain_for(Path(in_dir) / job.rel, settings)
            rec["auto"] = found.findings()
            rec["chain"] = [n.name for n in chain.children]
        else:
            chain = _worker_chain(preset, tuple(settings))
        dst = Path(out_dir) / job.out_rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        w = process_file(chain, Path(in_dir) / job.rel, dst, block=block, subtype=job.subtype,
                         learn=learn)
        sr = int(getattr(chain, "sample_rate", 0) or 0)
        rec.update(status="done", frames=int(w.frames), sample_rate=sr,
                   audio_seconds=(w.frames / sr) if sr else 0.0, clipped=int(w.clipped))
    except Exception as e:  # a bad file must not stop the batch (a signal or Ctrl-C does)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        rec.update(status="failed", reason=f"{type(e).__name__}: {msg}"[:300])
    rec["seconds"] = round(time.monotonic() - t0, 3)
    rec["worker_rss_mb"] = _peak_rss_mb()
    return rec


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports kB)."""
    try:
        import resource
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    except (ImportError, OSError):
        return 0.0


# ------------------------------------------------------------------ progress and manifest
class Progress:
    """Counts finished files and audio; ``line()`` gives files/s, audio-hours/hour and ETA."""

    def __init__(self, total_files: int, total_bytes: int) -> None:
        self.total_files, self.total_bytes = total_files, max(1, total_bytes)
        self.files = self.failed = self.bytes = 0
        self.audio_s = 0.0
        self.t0 = time.monotonic()

    def add(self, rec: dict, size: int) -> None:
        self.files += 1
        self.bytes += size
        if rec.get("status") == "done":
            self.audio_s += float(rec.get("audio_seconds", 0.0))
        else:
            self.failed += 1

    def line(self) -> str:
        dt = max(1e-9, time.monotonic() - self.t0)
        rate = self.files / dt
        left = self.total_bytes - self.bytes
        eta = left / (self.bytes / dt) if self.bytes else float("nan")
        eta_s = "?" if eta != eta else f"{int(eta // 60)}:{int(eta % 60):02d}"
        return (f"{self.files}/{self.total_files} files ({self.failed} failed)  "
                f"{rate:.2f} files/s  {self.audio_s / dt:.1f} audio-h/h  ETA {eta_s}")


def _append(manifest: Path, rec: dict, key: str) -> None:
    """One line per finished file, flushed and synced: a kill loses at most the line in flight."""
    line = json.dumps({**rec, "key": key}, sort_keys=True) + "\n"
    with open(manifest, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def recorder(plan: BatchPlan, report: BatchReport,
             progress: Callable[[str], None] | None) -> Callable[[FileJob, dict], None]:
    """``finish(job, rec)``: record one finished file in the manifest, the report and the
    progress line (both engines use it, on the driver)."""
    prog = Progress(len(plan.todo), sum(j.size for j in plan.todo))

    def finish(job: FileJob, rec: dict) -> None:
        _append(plan.manifest, rec, plan.key)
        prog.add(rec, job.size)
        if rec["status"] == "done":
            report.processed.append(job.rel)
            report.audio_seconds += float(rec.get("audio_seconds", 0.0))
        else:
            report.failed.append((job.rel, rec.get("reason", "failed")))
        if progress:
            progress(prog.line())
    return finish


def run_batch(plan: BatchPlan, workers: int | None = None,
              progress: Callable[[str], None] | None = None,
              submit: Callable | None = None) -> BatchReport:
    """Run the plan's jobs on a local process pool (``workers`` processes, default: the cores).

    ``progress(line)`` is called after each file.  Bad files are reported in the result, never
    raised; the manifest records every finished file as it finishes."""
    report = BatchReport(skipped=[j.rel for j in plan.done])
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    from .io import sweep_stale_temporaries
    for folder in {plan.out_dir / Path(j.out_rel).parent for j in plan.todo}:
        if folder.is_dir():
            sweep_stale_temporaries(folder)  # temporaries of a killed earlier run
    t0 = time.monotonic()
    args = (str(plan.in_dir), str(plan.out_dir))
    finish = recorder(plan, report, progress)

    n = max(1, int(workers or os.cpu_count() or 1))
    if plan.todo and n == 1:
        init_worker(plan.preset, plan.settings)
        for job in plan.todo:
            finish(job, process_job(*args, job, plan.preset, plan.settings, plan.block,
                                    plan.learn))
    elif plan.todo:
        import multiprocessing as mp
        ctx = mp.get_context("spawn")  # no fork of a process that may hold threads
        with ProcessPoolExecutor(max_workers=min(n, len(plan.todo)), mp_context=ctx,
                                 initializer=init_worker,
                                 initargs=(plan.preset, plan.settings)) as pool:
            pending = {}
            jobs = iter(plan.todo)
            for job in jobs:  # keep 2 per worker in flight: a kill loses little, order is kept
                pending[pool.submit(process_job, *args, job, plan.preset, plan.settings,
                                    plan.block, plan.learn)] = job
                if len(pending) >= 2 * n:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    try:
                        rec = fut.result()
                    except Exception as e:  # a worker died (e.g. killed by the OOM killer)
                        rec = {"rel": job.rel, "out": job.out_rel, "size": job.size,
                               "mtime_ns": job.mtime_ns, "status": "failed",
                               "reason": f"worker failed: {type(e).__name__}: {e}"[:300]}
                    finish(job, rec)
                    nxt = next(jobs, None)
                    if nxt is not None:
                        pending[pool.submit(process_job, *args, nxt, plan.preset, plan.settings,
                                            plan.block, plan.learn)] = nxt
    report.wall_seconds = time.monotonic() - t0
    return report
