"""Request ids, the access log and structured (JSON) logs.

Every request gets an id (the caller's ``X-Request-Id`` when it is a sane token, else a new one),
echoed in the response and attached to every log record written while it is handled, so a line
of the SCIM bridge's log can be matched with the access log and the caller's own. The access log
names method, path, status and duration: never the query string (SCIM filters carry emails) nor
headers (tokens).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["JsonFormatter", "KeepPeer", "RequestIds", "configure_logging", "peer_host", "request_id"]

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("thresher_request_id", default=None)
access_log = logging.getLogger("thresher.serve.access")
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            data["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(fmt: str, level: str, *, stream: Any = None) -> None:
    """Send thresher's and uvicorn's logs to stderr as text or JSON lines, with request ids."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # Harvest requests are counted in /metrics; logging each one drowns the service's own lines.
    for noisy in ("thresher.harvest", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class RequestIds:
    """ASGI middleware: request id, access log line, and a per-area status count."""

    def __init__(self, app: ASGIApp, *, on_response: Callable[[str, int], None] | None = None) -> None:
        self.app = app
        self.on_response = on_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SANE.match(given) else secrets.token_hex(8)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path: str = scope.get("path", "")
            access_log.info(
                "%s %s %s", scope.get("method"), path, status[0],
                extra={"status": status[0], "duration_ms": round((time.perf_counter() - started) * 1000, 1)},
            )
            if self.on_response is not None:
                self.on_response(path, status[0])
            request_id.reset(token)


_PEER = "thresher.peer"


class KeepPeer:
    """ASGI middleware, outside the proxy-headers one: keeps the TCP peer's address in the scope.

    ``X-Forwarded-For`` rewrites ``scope["client"]`` into the address the proxy names; whether
    the request came *from* a trusted proxy (the dashboard's ``admin_header`` sign-in) must be
    decided on the peer that actually connected, which only this copy still has.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            scope[_PEER] = client[0] if client else None
        await self.app(scope, receive, send)


def peer_host(scope: Scope) -> str | None:
    """The address of the peer that connected (see :class:`KeepPeer`), else the client's."""
    if _PEER in scope:
        found: str | None = scope[_PEER]
        return found
    client = scope.get("client")
    return client[0] if client else None
