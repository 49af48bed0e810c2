"""The HTTP server of ``aural serve``: werkzeug's threaded server with a bound on connections.

One thread serves one connection, and at most ``max_connections`` are served at once; a
connection beyond that is answered ``503`` at once (JSON, ``Retry-After: 1``) and closed, so
the server keeps answering the others.  Every connection has a socket ``timeout`` (s): one that
sends nothing (or reads nothing) for that long is dropped and frees its place.

Limits come from the arguments, else from the environment, else the defaults:

=================================  =========  ==========================================
``AURAL_WEB_MAX_CONNECTIONS``      32         connections served at once
``AURAL_WEB_TIMEOUT_S``            30         idle seconds before a connection is dropped
=================================  =========  ==========================================
"""
from __future__ import annotations

import logging
import os
import socket
import threading

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

__all__ = ["BoundedWSGIServer", "env_number", "make_server"]

log = logging.getLogger("aural.web")

_BODY = b'{"error": "The server is busy: try again in a moment."}\n'
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
        + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY)


def env_number(name: str, default: float, low: float = 0.0) -> float:
    """A positive number from the environment (``default`` when unset; ValueError if bad)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return float(default)
    try:
        v = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw[:30]!r} is not a number") from None
    if not (v > low and v < float("inf")):
        raise ValueError(f"{name}={raw[:30]!r} must be a positive number")
    return v


class BoundedWSGIServer(ThreadedWSGIServer):
    """A threaded WSGI server that serves at most ``max_connections`` connections at once."""

    def __init__(self, host: str, port: int, app, max_connections: int, timeout: float,
                 **kwargs) -> None:
        handler = type("BoundedHandler", (WSGIRequestHandler,), {"timeout": float(timeout)})
        super().__init__(host, port, app, handler=handler, **kwargs)
        self.max_connections = int(max_connections)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self.refused = 0

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, sock: socket.socket) -> None:
        """503 and close, quickly, in the accepting thread (never blocks for long)."""
        try:
            sock.settimeout(0.2)
            sock.sendall(BUSY)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(0.05)
            try:
                sock.recv(65536)  # what the client sent, so closing does not reset the reply
            except OSError:
                pass
        except OSError:
            pass
        finally:
            self.shutdown_request(sock)


def make_server(host: str, port: int, app, *, max_connections: int | None = None,
                timeout: float | None = None) -> BoundedWSGIServer:
    """A :class:`BoundedWSGIServer` listening on ``host:port`` (0 picks a free port)."""
    if max_connections is None:
        max_connections = int(env_number("AURAL_WEB_MAX_CONNECTIONS", 32, low=0.5))
    if timeout is None:
        timeout = env_number("AURAL_WEB_TIMEOUT_S", 30.0)
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    return BoundedWSGIServer(host, port, app, max_connections, timeout)
