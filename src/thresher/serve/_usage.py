"""API usage, counted in memory and added to the store every few seconds (``usage_counts``).

What the dashboard's usage page shows: Harvest requests per day by status and per connection
(the credential they used), SCIM and MCP requests per day by token.
Counting never blocks a request: a counter in memory, flushed by a background task; a failed
flush keeps the counts for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from thresher.store import ServeRecords, StoreError, UsageKey

__all__ = ["TokenUsage", "UsageRecorder"]

log = logging.getLogger("thresher.serve")


class UsageRecorder:
    def __init__(self, records: ServeRecords) -> None:
        self.records = records
        self._pending: Counter[UsageKey] = Counter()
        self._lock = threading.Lock()

    def count(self, channel: str, subject: str, status: int | None) -> None:
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        with self._lock:
            self._pending[(day, channel, subject[:200], status or 0)] += 1

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
        try:
            self.records.add_usage(pending)
        except StoreError:
            with self._lock:
                self._pending.update(pending)
            raise

    async def run(self, stop: asyncio.Event, every: float = 5.0) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            try:
                await asyncio.to_thread(self.flush)
            except StoreError as exc:
                log.warning("could not save usage counts (kept for the next try): %s", exc)


class TokenUsage:
    """ASGI middleware on a token-guarded route: counts each answer by token name and status.

    The token is named from its public key part (``<prefix><key>_...``) without checking the
    secret; a request with a wrong secret is still counted under that name, with its 401."""

    def __init__(
        self, app: ASGIApp, usage: UsageRecorder, names: dict[str, str], *, prefix: str, channel: str,
        on_answer: Callable[[str, int], None] | None = None,
    ) -> None:
        self.app = app
        self.usage = usage
        #: token key -> name, filled by the service from the store.
        self.names = names
        self.prefix = prefix
        self.channel = channel
        self.on_answer = on_answer

    def _token_name(self, scope: Scope) -> str:
        headers = dict(scope.get("headers") or [])
        value = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, presented = value.partition(" ")
        if scheme.lower() != "bearer" or not presented.startswith(self.prefix):
            return "(none)"
        key = presented.removeprefix(self.prefix).partition("_")[0]
        return self.names.get(key, "(unknown)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def seen(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, seen)
        finally:
            name = self._token_name(scope)
            self.usage.count(self.channel, name, status[0])
            if self.on_answer is not None:
                self.on_answer(name, status[0])
