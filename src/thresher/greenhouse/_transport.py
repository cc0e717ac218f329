"""The layer between the client and the wire: pacing API requests, reading the rate-limit
headers, pausing on 429, and reporting each exchange to an optional hook.

Token requests (``POST {token_url}``) pass unpaced: they are not API requests and Greenhouse's
own limit for them is undocumented (a 60 s window is mentioned once [U]).

With a ``SharedBudget`` (other processes on the credential), an API request first takes its turn
from the in-process limiter, then reserves a place in the shared budget, sleeps until that place's
time, is sent, and completes the place when its answer arrived (shielded from cancellation, so a
cancelled request still dates its place). The budget's blocking calls run in worker threads; a
budget that cannot be reached (the store is down) leaves the request to the in-process limiter
alone, logged, rather than failing it for want of bookkeeping. A 429 pauses the budget for
``Retry-After``, and an answer saying the window is spent (``X-RateLimit-Remaining: 0``) pauses it
until ``X-RateLimit-Reset``: every process then waits, including for a tool that does not share
the budget, or a limit below the one the budget was made with.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import anyio
import anyio.to_thread
import httpx

from ._ratelimit import BudgetPlace, RateLimiter, RateLimitHeaders, SharedBudget, parse_retry_after

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
        shared_budget: SharedBudget | None = None,
    ) -> None:
        self._inner = inner
        self._is_api = is_api
        self._limiter = limiter
        self._budget = shared_budget
        self._on_request = on_request
        self._max_in_flight = max_in_flight
        self._slots: anyio.Semaphore | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._slots is None:
            self._slots = anyio.Semaphore(self._max_in_flight)
        paced = self._is_api(request.url)
        budget = self._budget if paced else None
        place: BudgetPlace | None = None
        async with self._slots:
            waited = await self._limiter.acquire() if paced else 0.0
            try:
                if budget is not None:
                    started = time.perf_counter()
                    place = await _reserve(budget)
                    if place is not None and place.delay > 0:
                        await anyio.sleep(place.delay)
                    waited += time.perf_counter() - started
                started = time.perf_counter()
                try:
                    response = await self._inner.handle_async_request(request)
                except Exception as exc:
                    self._record(request, None, started, waited, type(exc).__name__)
                    raise
            except BaseException:
                if paced:  # no answer to read: the request no longer counts as in flight here
                    self._limiter.release()
                raise
            finally:
                if budget is not None and place is not None:
                    with anyio.CancelScope(shield=True):
                        await _complete(budget, place)
        if paced:
            headers = RateLimitHeaders.parse(response.headers)
            self._limiter.observe(headers)
            self._limiter.release()
            if response.status_code == 429:
                wait = parse_retry_after(response.headers.get("retry-after"))
                if wait is None:
                    wait = self._limiter.window / 15.0
                self._limiter.pause(wait)
                _log.warning("429 from Greenhouse: pausing this credential's requests for %.2f s", wait)
                if budget is not None:
                    await _pause(budget, wait)
            elif budget is not None and headers.remaining == 0 and headers.reset_in:
                await _pause(budget, headers.reset_in)
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


async def _reserve(budget: SharedBudget) -> BudgetPlace | None:
    """A place in the shared budget (asking again while it has none to give), or None when the
    budget cannot be reached: the request then goes on the in-process limiter alone (logged)."""
    while True:
        try:
            # Shielded: a place reserved in the worker thread must reach the caller, whose
            # ``finally`` completes it even when the request is then cancelled.
            with anyio.CancelScope(shield=True):
                place = await anyio.to_thread.run_sync(budget.reserve)
        except Exception:
            _log.exception("the shared rate budget is unavailable; pacing this request in-process only")
            return None
        if place.handle is not None:
            return place
        await anyio.sleep(place.delay)


async def _complete(budget: SharedBudget, place: BudgetPlace) -> None:
    try:
        await anyio.to_thread.run_sync(budget.complete, place.handle)
    except Exception:
        # The request is done; a place left undated only holds the next one back (safe).
        _log.exception("could not date a request in the shared rate budget")


async def _pause(budget: SharedBudget, seconds: float) -> None:
    try:
        await anyio.to_thread.run_sync(budget.pause, seconds)
    except Exception:
        _log.exception("could not pause the shared rate budget")
