"""Running a sandbox over real HTTP: uvicorn in a background thread (``thresher._serving``).

The socket is bound (and listening) before ``run_sandbox`` returns, so ``port=0`` yields a free
port whose number is known at once, and a client that connects right away waits in the backlog
instead of being refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
from collections.abc import Iterator

from .._serving import serve_in_thread
from ._errors import DroppedConnectionError, SandboxServerError
from ._sandbox import Sandbox

__all__ = ["RunningSandbox", "run_sandbox"]


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
        return not isinstance(exc, DroppedConnectionError)


@contextlib.contextmanager
def run_sandbox(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
) -> Iterator[RunningSandbox]:
    """Serve ``sandbox`` with uvicorn in a background thread until the block ends.

    ``with run_sandbox(Sandbox(config)) as running: ...`` then use ``running.api_url``. On exit
    the server shuts down gracefully (the state file, if any, is written) and the port is freed.
    """
    with serve_in_thread(
        sandbox.app, host, port, name="thresher-sandbox", log_level=log_level,
        log_filter=_QuietDrops(), error=SandboxServerError,
    ) as bound_port:
        yield RunningSandbox(sandbox, host, bound_port)
