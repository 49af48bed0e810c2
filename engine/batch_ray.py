"""The Ray engine of ``aural batch``: the same per-file function on a Ray cluster.

Ray Data carries the file list (``ray.data.from_items``) through ``map_batches`` on a pool of
actors, each holding one prepared chain (one ONNX session, one thread) for its whole life, like
a local worker.  Every actor runs :func:`aural.engine.batch.process_job`, so the outputs are
identical to the local engine's, bit for bit.  Sources and outputs are paths: on a cluster,
IN_DIR and OUT_DIR must be on storage every node mounts at the same path (NFS, a shared disk,
or a FUSE mount of an object store); see docs/batch.md.

Ray is an optional extra (``pip install 'aural[ray]'``); nothing else in aural imports it.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable

from .batch import BatchPlan, BatchReport, FileJob, init_worker, process_job, recorder

__all__ = ["run_batch_ray"]


class _Restorer:
    """A Ray Data actor: one chain for the actor's life, one file per row."""

    def __init__(self, in_dir: str, out_dir: str, preset: str, settings: tuple[str, ...],
                 block: int, learn: bool = True) -> None:
        self.args = (in_dir, out_dir)
        self.preset, self.settings, self.block = preset, tuple(settings), int(block)
        self.learn = bool(learn)
        init_worker(self.preset, self.settings)

    def __call__(self, batch: dict) -> dict:
        out: dict[str, list] = {"rec": []}
        for i in range(len(batch["rel"])):
            job = FileJob(str(batch["rel"][i]), str(batch["out_rel"][i]), int(batch["size"][i]),
                          int(batch["mtime_ns"][i]), batch["subtype"][i] or None)
            rec = process_job(*self.args, job, self.preset, self.settings, self.block, self.learn)
            import json
            out["rec"].append(json.dumps(rec))
        return out


def run_batch_ray(plan: BatchPlan, workers: int | None = None, address: str | None = None,
                  progress: Callable[[str], None] | None = None) -> BatchReport:
    """Run the plan on Ray: an existing cluster (``address``, e.g. 'ray://head:10001' or 'auto')
    or a local one started here with ``workers`` CPUs.  Results stream back as files finish."""
    import json

    try:
        import ray
    except ImportError as e:
        raise RuntimeError("the Ray engine needs Ray: pip install 'aural[ray]'") from e
    report = BatchReport(skipped=[j.rel for j in plan.done])
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    if not plan.todo:
        return report
    started = False
    if not ray.is_initialized():
        kw = {"address": address} if address else {"num_cpus": int(workers or os.cpu_count() or 1)}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
        started = True
    try:
        n = int(workers or max(1, int(ray.available_resources().get("CPU", 1))))
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # our own progress lines instead
        rows = [{"rel": j.rel, "out_rel": j.out_rel, "size": j.size, "mtime_ns": j.mtime_ns,
                 "subtype": j.subtype or ""} for j in plan.todo]
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        pool = ray.data.ActorPoolStrategy(min_size=1, max_size=min(n, len(rows)))
        ds = ds.map_batches(_Restorer, batch_size=1, num_cpus=1, compute=pool,
                            fn_constructor_args=(str(plan.in_dir), str(plan.out_dir), plan.preset,
                                                 plan.settings, plan.block, plan.learn))
        jobs = {j.rel: j for j in plan.todo}
        finish = recorder(plan, report, progress)
        t0 = time.monotonic()
        for row in ds.iter_rows():
            rec = json.loads(row["rec"])
            finish(jobs[rec["rel"]], rec)
        report.wall_seconds = time.monotonic() - t0
    finally:
        if started:
            ray.shutdown()
    return report
