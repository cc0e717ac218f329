"""A transport over the in-process sandbox that fails chosen requests at an exact count.

The sandbox's own faults are random per request; with pages pipelined and teammate lists read
concurrently, "fail from the n-th users page on" needs a counter at the transport (the one test
seam: thresher's own code is not touched)."""

from __future__ import annotations

import re

import httpx

from harvest_clients import settings_for
from thresher.harvest import AsyncHarvest, LimiterRegistry, RetryPolicy
from thresher.sandbox import Sandbox

__all__ = ["Faulty", "faulty_client"]

KINDS = {
    "users": re.compile(r"^/v2/users$"),
    "teammates": re.compile(r"^/v2/users/\d+/teammates$"),
}


class Faulty(httpx.AsyncBaseTransport):
    """GETs of ``kind`` pass ``after`` more times once armed, then answer 500 until healed."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._inner = httpx.ASGITransport(app=sandbox.app)
        self._kind: str | None = None
        self._left = 0
        self.failed = 0

    def fail(self, kind: str, *, after: int) -> None:
        self._kind, self._left = kind, after

    def heal(self) -> None:
        self._kind = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._kind is not None and request.method == "GET" and KINDS[self._kind].match(request.url.path):
            if self._left <= 0:
                self.failed += 1
                return httpx.Response(500, json={"error": "injected"}, request=request)
            self._left -= 1
        return await self._inner.handle_async_request(request)


def faulty_client(sandbox: Sandbox, transport: Faulty) -> AsyncHarvest:
    """A client on ``transport`` that never retries, so the injected failure ends the run."""
    return AsyncHarvest(
        settings_for(sandbox), transport=transport, limiter_registry=LimiterRegistry(),
        retry=RetryPolicy.never(),
    )
