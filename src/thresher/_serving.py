"""Serving an ASGI app over real HTTP from a background thread: uvicorn on a socket bound up front.

The sandbox (``run_sandbox``), the demo's SCIM bridge and the tests' bridge all need the same
thing: a server whose port is known before the block starts (``port=0`` picks a free one), that a
client may connect to at once (the socket already listens, so an early client waits in the
backlog instead of being refused), and that stops gracefully when the block ends.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from ._errors import ThresherError

__all__ = ["bind_socket", "proxy_options", "serve_in_thread"]

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0


def bind_socket(host: str, port: int, *, error: type[ThresherError] = ThresherError) -> socket.socket:
    """A listening TCP socket on ``host:port``; ``error`` (one sentence and a hint) when refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio disables Nagle only on sockets whose proto says TCP, and
    # with Nagle on, every answer written in two parts waits 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise error(
            f"Cannot listen on {host}:{port}: {exc.strerror}",
            hint="Pick another --port (0 picks a free one) or stop what uses this one.",
        ) from exc
    return sock


def proxy_options(forwarded_allow_ips: list[str] | None) -> dict[str, Any]:
    """uvicorn's settings for ``X-Forwarded-For`` / ``-Proto``: honoured only from the listed
    proxy addresses or networks, and from nobody by default.

    uvicorn trusts 127.0.0.1 unless told otherwise (or ``FORWARDED_ALLOW_IPS`` says more), and
    behind a same-host TLS proxy every connection comes from 127.0.0.1: any client could then name
    its own address in the header and pass an address check (``scim token create --allow-cidr``).
    Without trusted proxies the TCP peer is the client.
    """
    if not forwarded_allow_ips:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": list(forwarded_allow_ips)}


@contextlib.contextmanager
def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    name: str = "thresher-server",
    log_level: str = "warning",
    log_filter: logging.Filter | None = None,
    error: type[ThresherError] = ThresherError,
    forwarded_allow_ips: list[str] | None = None,
) -> Iterator[int]:
    """Serve ``app`` until the block ends; yields the bound port.

    ``forwarded_allow_ips``: the proxies whose ``X-Forwarded-For`` names the client (default
    none: the TCP peer is the client, see :func:`proxy_options`).

    ``log_filter`` is added to uvicorn's error log while serving (the sandbox hides the exception
    its ``drop`` fault raises on purpose). ``error`` is raised when the server cannot start or stop.
    """
    sock = bind_socket(host, port, error=error)
    bound_port: int = sock.getsockname()[1]
    # http="auto": httptools (a dependency) when importable, else h11; httptools parses requests
    # in C, worth about 60% more requests per second to the sandbox (bench/sandbox.py).
    config = uvicorn.Config(
        app, host=host, port=bound_port, log_config=None, log_level=log_level,
        access_log=False, date_header=False, lifespan="on", http="auto", loop="asyncio",
        timeout_graceful_shutdown=5, **proxy_options(forwarded_allow_ips),
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    error_log = logging.getLogger("uvicorn.error")
    if log_filter is not None:
        error_log.addFilter(log_filter)
    thread = threading.Thread(target=serve, name=f"{name}:{bound_port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if failure or not thread.is_alive():
                why = failure[0] if failure else "its thread exited"
                raise error(f"The server ({name}) did not start: {why}")
            if time.monotonic() > deadline:
                raise error(f"The server ({name}) did not start within {_START_TIMEOUT:g} s")
            time.sleep(0.005)
        yield bound_port
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        sock.close()
        if log_filter is not None:
            error_log.removeFilter(log_filter)
        if thread.is_alive():
            raise error(f"The server ({name}) did not stop within {_STOP_TIMEOUT:g} s")
