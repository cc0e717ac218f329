"""The layer between the client and the wire: pacing API requests, reading the rate-limit
headers, pausing on 429, and reporting each exchange to an optional hook.

Token requests (``POST {token_url}``) pass unpaced: they are not API requests and Greenhouse's
own limit for them is undocumented (a 60 s window is mentioned once [U]).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import anyio
import httpx

from ._ratelimit import RateLimiter, RateLimitHeaders, parse_retry_after

__all__ = ["PacedTransport", "RequestHook", "RequestRecord"]

_log = logging.getLogger("thresher.greenhouse")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRecord:
    """One exchange, for the ``on_request`` hook: no query string, no headers, no secrets."""

    method: str
    path: str
    status_code: int | None
    duration_ms: float
    limiter_wait_s: float
    error: str | None = None


RequestHook = Callable[[RequestRecord], None]


class PacedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        is_api: Callable[[httpx.URL], bool],
        limiter: RateLimiter,
        *,
        on_request: RequestHook | None = None,
        max_in_flight: int = 8,
    ) -> None:
        self._inner = inner
        self._is_api = is_api
        self._limiter = limiter
        self._on_request = on_request
        self._max_in_flight = max_in_flight
        self._slots: anyio.Semaphore | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._slots is None:
            self._slots = anyio.Semaphore(self._max_in_flight)
        paced = self._is_api(request.url)
        async with self._slots:
            waited = await self._limiter.acquire() if paced else 0.0
            started = time.perf_counter()
            try:
                response = await self._inner.handle_async_request(request)
            except Exception as exc:
                if paced:
                    self._limiter.release()
                self._record(request, None, started, waited, type(exc).__name__)
                raise
        if paced:
            self._limiter.observe(RateLimitHeaders.parse(response.headers))
            self._limiter.release()
            if response.status_code == 429:
                wait = parse_retry_after(response.headers.get("retry-after"))
                if wait is None:
                    wait = self._limiter.window / 15.0
                self._limiter.pause(wait)
                _log.warning("429 from Greenhouse: pausing this credential's requests for %.2f s", wait)
        self._record(request, response.status_code, started, waited, None)
        return response

    def _record(
        self,
        request: httpx.Request,
        status: int | None,
        started: float,
        waited: float,
        error: str | None,
    ) -> None:
        record = RequestRecord(
            request.method,
            request.url.path,
            status,
            (time.perf_counter() - started) * 1000.0,
            waited,
            error,
        )
        _log.debug(
            "%s %s -> %s (waited %.3f s)",
            record.method,
            record.path,
            status if status is not None else error,
            waited,
        )
        if self._on_request is not None:
            try:
                self._on_request(record)
            except Exception:
                _log.exception("on_request hook failed")

    async def aclose(self) -> None:
        await self._inner.aclose()
