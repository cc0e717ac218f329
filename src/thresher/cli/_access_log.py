"""One access-log line per HTTP request for the servers the CLI runs (``--access-log``).

The line has the time, the client address, the method, the path, the status, the response size
and the duration. It never has the query string (an identity provider's filter names people, and
other clients put tokens there) nor any header (``Authorization`` carries the bearer token): this
is an ASGI wrapper that writes only those fields, not uvicorn's access log, which prints the whole
request line with its query string.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["AccessLog", "access_line"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Printable characters kept as they are in a logged path; anything else (spaces, control
#: characters that could forge a log line) is percent-encoded.
_SAFE = "/:@!$&'()*+,;=-._~%"


def _path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope.get("path", ""))
    text = text.partition("?")[0]  # some servers leave the query string in raw_path
    return urllib.parse.quote(text, safe=_SAFE) or "/"


def access_line(scope: Scope, status: int, size: int, seconds: float) -> str:
    """``2026-12-01T16:40:00Z 127.0.0.1 GET /scim/v2/Users 200 1234 B 3.1 ms``."""
    client = scope.get("client")
    who = client[0] if client else "-"
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    method = urllib.parse.quote(str(scope.get("method", "-")), safe="")
    return f"{when} {who} {method} {_path(scope)} {status} {size} B {seconds * 1000:.1f} ms"


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class AccessLog:
    """Wraps an ASGI app; after each HTTP request, ``write`` gets its ``access_line``."""

    def __init__(self, app: ASGIApp, write: Callable[[str], None] = _stderr) -> None:
        self.app = app
        self.write = write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, size = 500, 0  # what the client gets when the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.write(access_line(scope, status, size, time.perf_counter() - started))
