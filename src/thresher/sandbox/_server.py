"""Running a sandbox over real HTTP: uvicorn in a background thread, on a port bound up front.

The socket is bound (and listening) before ``run_sandbox`` returns, so ``port=0`` yields a free
port whose number is known at once, and a client that connects right away waits in the backlog
instead of being refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from ._app import DroppedConnection, Sandbox
from ._errors import SandboxServerError

__all__ = ["RunningSandbox", "run_sandbox"]

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0


@dataclasses.dataclass(frozen=True)
class RunningSandbox:
    """Where a running sandbox answers. ``api_url`` is ``HARVEST_BASE_URL``, ``id_url``
    ``HARVEST_ID_URL`` (the same origin: one port serves both hosts)."""

    sandbox: Sandbox
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):  # noqa: S104 -- a wildcard bind is reached on loopback
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).version == 6:
                host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v2"

    @property
    def id_url(self) -> str:
        return self.base_url


class _QuietDrops(logging.Filter):
    """uvicorn logs the exception that implements the ``drop`` fault as an application error;
    it is an intended fault, not a bug, so it stays out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def _bind(host: str, port: int) -> socket.socket:
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
        raise SandboxServerError(
            f"Cannot listen on {host}:{port}: {exc.strerror}",
            hint="Pick another --port (0 picks a free one) or stop what uses this one.",
        ) from exc
    return sock


@contextlib.contextmanager
def run_sandbox(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
) -> Iterator[RunningSandbox]:
    """Serve ``sandbox`` with uvicorn in a background thread until the block ends.

    ``with run_sandbox(Sandbox(config)) as running: ...`` then use ``running.api_url``. On exit
    the server shuts down gracefully (the state file, if any, is written) and the port is freed.
    """
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        sandbox.app, host=host, port=bound_port, log_config=None, log_level=log_level,
        access_log=False, date_header=False, lifespan="on", http="h11", loop="asyncio",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    quiet = _QuietDrops()
    error_log = logging.getLogger("uvicorn.error")
    error_log.addFilter(quiet)
    thread = threading.Thread(target=serve, name=f"thresher-sandbox:{bound_port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if failure or not thread.is_alive():
                why = failure[0] if failure else "its thread exited"
                raise SandboxServerError(f"The sandbox server did not start: {why}")
            if time.monotonic() > deadline:
                raise SandboxServerError("The sandbox server did not start within 15 s")
            time.sleep(0.005)
        yield RunningSandbox(sandbox, host, bound_port)
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        sock.close()
        error_log.removeFilter(quiet)
        if thread.is_alive():
            raise SandboxServerError("The sandbox server did not stop within 15 s")
