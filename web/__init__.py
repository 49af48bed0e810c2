"""aural.web: the browser front end of aural (``aural serve``).

Upload a recording, pick a preset, watch it being enhanced block by block, then compare the
original and the enhanced file on two synchronised WaveSurfer players with spectrograms and
download the result.  Everything the page needs is served by aural itself (no internet).

    from aural.web import create_app, serve
    serve(host="127.0.0.1", port=8000)      # blocks; Ctrl-C stops it

Limits beyond the ``aural serve`` options come from the environment (see docs/web.md):
``AURAL_WEB_MAX_JOB_GB``, ``AURAL_WEB_MAX_TOTAL_GB``, ``AURAL_WEB_MAX_CONNECTIONS``,
``AURAL_WEB_TIMEOUT_S``.
"""
from __future__ import annotations

import ipaddress
import logging
import os

from .app import LOOPBACK_NAMES, create_app, default_jobs_dir
from .jobs import JobManager
from .server import make_server

__all__ = ["JobManager", "create_app", "default_jobs_dir", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8000, *, jobs_dir: str | os.PathLike | None = None,
          max_upload_mb: float = 500.0, keep_hours: float = 24.0, workers: int = 1,
          max_duration_h: float = 6.0, quiet: bool = False, ready=None,
          max_job_gb: float | None = None, max_total_gb: float | None = None,
          max_connections: int | None = None, timeout_s: float | None = None) -> None:
    """Run the web server until interrupted.  ``ready(url)`` is called once it listens.

    The limits left None come from the environment (``AURAL_WEB_*``) or their defaults;
    a bad value raises ValueError before anything listens."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(name)s: %(message)s")
    if not quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    allowed = set(LOOPBACK_NAMES) if is_loopback(host) else None
    app = create_app(jobs_dir, max_upload_mb=max_upload_mb, keep_hours=keep_hours,
                     workers=workers, max_duration_h=max_duration_h, allowed_hosts=allowed,
                     max_job_gb=max_job_gb, max_total_gb=max_total_gb)
    manager = app.extensions["aural.jobs"]
    try:
        srv = make_server(host, port, app, max_connections=max_connections, timeout=timeout_s)
    except BaseException:
        manager.stop()
        raise
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{srv.server_port}/"
    if not quiet:
        print(f"aural web: {url}  (jobs in {manager.root}, kept {keep_hours:g} h; Ctrl-C stops)",
              flush=True)
        if allowed is None:
            print("warning: listening beyond this machine; the page has no login, anyone who "
                  "reaches it can upload and download", flush=True)
    if ready is not None:
        ready(url)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
        manager.stop()
