"""The layer between the client and the wire: rate limiting, 429 pauses, logging, metrics.

It wraps whatever transport the client was given (the network, ``httpx.MockTransport``, the
sandbox's ASGI app), so every request that goes out is counted, including the ones httpx sends
on its own inside an auth flow (a token refresh, the repeat after a 401). Acquiring the limiter
this late, right before the transport, keeps the recorded send times close to the moment the
request reaches Harvest.

With a ``SharedBudget`` (other processes on the account), a request first takes its turn from
the in-process limiter, then reserves a place in the shared budget, sleeps until that place's
time, is sent, and completes the place when its answer arrived. The budget's blocking calls run
in worker threads; the completion is shielded from cancellation, so a cancelled request still
gives its place a date.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable

import anyio
import anyio.to_thread
import httpx

from ._ratelimit import RateLimiter, Reservation, SharedBudget, parse_retry_after

__all__ = ["ATTEMPT", "InstrumentedTransport", "RequestHook", "RequestRecord", "ThreadedTransport"]

_log = logging.getLogger("thresher.harvest")

#: ``request.extensions`` key the client uses to tell the transport which attempt this is.
ATTEMPT = "thresher.attempt"


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request on the wire, for logs and the ``on_request`` hook. Holds no secrets: the path
    carries no query string and nothing comes from headers."""

    method: str
    host: str
    path: str
    #: None when no response came (connection error, timeout).
    status_code: int | None
    #: Milliseconds from sending to the response headers.
    duration_ms: float
    #: 1 for the first try of a call, 2 for the first retry, ...
    attempt: int
    #: Seconds spent waiting on the account's rate limiter (and shared budget) before sending.
    limiter_wait_s: float
    #: The exception class name when no response came.
    error: str | None = None


RequestHook = Callable[[RequestRecord], None]


class InstrumentedTransport(httpx.AsyncBaseTransport):
    """Waits on the limiter for the request's account, sends, logs, and reports 429s to it."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        limiter_for: Callable[[httpx.URL], RateLimiter | None],
        on_request: RequestHook | None = None,
        *,
        max_in_flight: int = 8,
        budget_for: Callable[[httpx.URL], SharedBudget | None] | None = None,
    ) -> None:
        self._inner = inner
        self._limiter_for = limiter_for
        self._budget_for = budget_for
        self._on_request = on_request
        self._max_in_flight = max_in_flight
        # Made on first use, inside the event loop that uses the client.
        self._in_flight: anyio.Semaphore | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limiter = self._limiter_for(request.url)
        budget = self._budget_for(request.url) if self._budget_for is not None else None
        attempt = int(request.extensions.get(ATTEMPT, 1))
        if self._in_flight is None:
            self._in_flight = anyio.Semaphore(self._max_in_flight)
        reservation: Reservation | None = None
        # The cap first, then the limiter: time spent waiting for a free place on the wire is not
        # counted against the account's budget (HarvestSettings.max_in_flight).
        async with self._in_flight:
            try:
                async with limiter.slot() if limiter else contextlib.nullcontext(0.0) as turn:
                    waited = turn
                    if budget is not None:
                        started = time.perf_counter()
                        reservation = await _reserve(budget)
                        if reservation is not None and reservation.delay > 0:
                            await anyio.sleep(reservation.delay)
                        waited += time.perf_counter() - started
                    started = time.perf_counter()
                    try:
                        response = await self._inner.handle_async_request(request)
                    except Exception as exc:
                        self._record(
                            request, None, started, attempt=attempt, waited=waited,
                            error=type(exc).__name__,
                        )
                        raise
            finally:
                if budget is not None and reservation is not None:
                    with anyio.CancelScope(shield=True):
                        await _complete(budget, reservation)
        if limiter is not None:
            await self._on_status(limiter, budget, response)
        self._record(
            request, response.status_code, started, attempt=attempt, waited=waited, error=None
        )
        return response

    @staticmethod
    async def _on_status(
        limiter: RateLimiter, budget: SharedBudget | None, response: httpx.Response
    ) -> None:
        if response.status_code != 429:
            limiter.succeeded()
            return
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            limiter.pause(retry_after)
            paused = retry_after
            _log.warning(
                "429 from Harvest: pausing every request to this account for %.2f s (Retry-After)",
                retry_after,
            )
        else:
            paused = limiter.penalize()
            _log.warning(
                "429 from Harvest without Retry-After: pausing this account for %.2f s", paused
            )
        if budget is not None:
            # Another tool on the account, or a process without the shared budget: every
            # process sharing it waits as well.
            try:
                await anyio.to_thread.run_sync(budget.pause, paused)
            except Exception:
                _log.exception("could not pause the shared rate budget")

    def _record(
        self, request: httpx.Request, status: int | None, started: float, *, attempt: int,
        waited: float, error: str | None,
    ) -> None:
        record = RequestRecord(
            method=request.method,
            host=request.url.host,
            path=request.url.path,
            status_code=status,
            duration_ms=(time.perf_counter() - started) * 1000.0,
            attempt=attempt,
            limiter_wait_s=waited,
            error=error,
        )
        _log.info(
            "%s %s -> %s in %.1f ms (attempt %d, waited %.3f s on the rate limiter)",
            record.method, record.path, record.status_code if status is not None else error,
            record.duration_ms, record.attempt, record.limiter_wait_s,
            extra={"harvest_request": record},
        )
        if self._on_request is not None:
            try:
                self._on_request(record)
            except Exception:
                # A broken metrics hook must not fail the request it observes.
                _log.exception("on_request hook failed")

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _reserve(budget: SharedBudget) -> Reservation | None:
    """A place in the shared budget (asking again while it has none to give), or None when the
    budget cannot be reached: the request then goes on the in-process limiter alone (logged),
    rather than failing for want of bookkeeping."""
    while True:
        try:
            # Shielded: a place reserved in the worker thread must reach the caller, whose
            # ``finally`` completes it even when the request is then cancelled.
            with anyio.CancelScope(shield=True):
                reservation = await anyio.to_thread.run_sync(budget.reserve)
        except Exception:
            _log.exception(
                "the shared rate budget is unavailable; pacing this request in-process only"
            )
            return None
        if reservation.handle is not None:
            return reservation
        await anyio.sleep(reservation.delay)


async def _complete(budget: SharedBudget, reservation: Reservation) -> None:
    try:
        await anyio.to_thread.run_sync(budget.complete, reservation.handle)
    except Exception:
        # The request is done; a place left undated only holds the next one back (safe).
        _log.exception("could not date a request in the shared rate budget")


class ThreadedTransport(httpx.AsyncBaseTransport):
    """A blocking ``httpx.BaseTransport`` (``httpx.HTTPTransport``, a custom one) behind the async
    client: each exchange runs in a worker thread, so the event loop never blocks on it.

    The body is read in that thread too, raw (still compressed, if it was): the async client
    decodes it as it would any other answer, and Harvest's answers are small JSON documents.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await anyio.to_thread.run_sync(self._exchange, request)

    def _exchange(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        stream = response.stream
        if not isinstance(stream, httpx.SyncByteStream):
            raise TypeError(f"{type(self._inner).__name__} returned a body that is not a sync stream")
        try:
            raw = b"".join(stream)
        finally:
            stream.close()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self._inner.close)
