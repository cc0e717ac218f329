"""Serving the Greenhouse sandbox over real HTTP (``thresher._serving.serve_in_thread``)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator

from .._serving import serve_in_thread
from ._app import DroppedConnection, GreenhouseSandbox
from ._errors import GreenhouseSandboxError

__all__ = ["RunningGreenhouseSandbox", "run_greenhouse_sandbox"]


@dataclasses.dataclass(frozen=True)
class RunningGreenhouseSandbox:
    """Where it answers: ``api_url`` is ``GREENHOUSE_BASE_URL``, ``token_url``
    ``GREENHOUSE_TOKEN_URL`` (one port serves both hosts)."""

    sandbox: GreenhouseSandbox
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v3"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


@contextlib.contextmanager
def run_greenhouse_sandbox(
    sandbox: GreenhouseSandbox, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
) -> Iterator[RunningGreenhouseSandbox]:
    """Serve ``sandbox`` with uvicorn in a background thread until the block ends."""
    with serve_in_thread(
        sandbox.app,
        host,
        port,
        name="thresher-greenhouse-sandbox",
        log_level=log_level,
        log_filter=_QuietDrops(),
        error=GreenhouseSandboxError,
    ) as bound:
        yield RunningGreenhouseSandbox(sandbox, host, bound)
