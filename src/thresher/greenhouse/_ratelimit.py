"""Client-side pacing for Greenhouse's fixed 30-second windows (docs/greenhouse.md §3).

Greenhouse counts requests per fixed window and says where it stands on every answer:
``X-RateLimit-Limit`` (75 is only the docs' example), ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (epoch seconds when the window ends); beyond the limit it answers 429 with
``Retry-After``. The limiter spends a local budget (``limit`` per ``window`` from the first
request) until the first answer, then follows the headers: a larger ``Reset`` means a new window
with the budget the server names, the same ``Reset`` can only lower what is left. Requests still
in flight are subtracted, since the server may not have counted them yet. When nothing is left,
callers sleep until the window's end; a 429 pauses every caller for its ``Retry-After``.

A ``Reset`` below 10^9 is read as seconds from now rather than an epoch [U]. The server's clock
(``Date``) is used to read the epoch when it differs from ours by more than two seconds.

A limiter only knows its own process. Greenhouse counts per credential, however many processes
send (a SCIM bridge, a scheduled sync, an admin's terminal), so those processes share one budget
through a ``SharedBudget`` (the store keeps one per credential: docs/greenhouse.md §3, and
docs/architecture.md, "Coordination between processes"). The transport takes its turn from this
limiter first, which orders the tasks of the process and follows the headers, then a place from
the shared budget, the outer gate. The protocol is Harvest's client's, restated here so this
package stays standalone: one store budget serves both products.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import anyio

from .. import _http_common

__all__ = ["BudgetPlace", "RateLimitHeaders", "RateLimiter", "SharedBudget", "parse_retry_after"]


class BudgetPlace(Protocol):
    """A place in a shared budget: send after ``delay`` seconds (from when ``reserve`` returned),
    then hand ``handle`` back to ``complete``. Without a handle nothing was reserved (every place
    is taken): ask again after ``delay``."""

    @property
    def delay(self) -> float: ...

    @property
    def handle(self) -> object | None: ...


@runtime_checkable
class SharedBudget(Protocol):
    """One credential's rate budget shared with other processes (``AsyncGreenhouse(shared_budget=)``).

    Its methods block (a database round trip, say): the transport calls them in a worker thread.
    ``reserve`` takes the next place and says when the request may go; ``complete`` is called once
    its answer arrived (or it failed), so the budget can date the request by its answer;
    ``pause`` holds every process: a 429's ``Retry-After``, or a window Greenhouse says is spent
    (``X-RateLimit-Remaining: 0``) until its ``X-RateLimit-Reset``.
    """

    def reserve(self) -> BudgetPlace: ...

    def complete(self, handle: object) -> None: ...

    def pause(self, seconds: float) -> None: ...


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return int(number) if math.isfinite(number) else None


@dataclasses.dataclass(frozen=True)
class RateLimitHeaders:
    """The ``X-RateLimit-*`` headers of one answer, with ``reset_in`` in seconds from now."""

    limit: int | None
    remaining: int | None
    reset_epoch: int | None
    reset_in: float | None

    @classmethod
    def parse(cls, headers: Mapping[str, str], *, wall: float | None = None) -> RateLimitHeaders:
        limit = _int(headers.get("x-ratelimit-limit"))
        remaining = _int(headers.get("x-ratelimit-remaining"))
        reset = _int(headers.get("x-ratelimit-reset"))
        reset_in: float | None = None
        if reset is not None:
            if reset < 1_000_000_000:
                reset_in = float(max(0, reset))
            else:
                now = time.time() if wall is None else wall
                date = headers.get("date")
                if date:
                    try:
                        server = email.utils.parsedate_to_datetime(date).timestamp()
                    except (TypeError, ValueError, IndexError):
                        server = now
                    if abs(server - now) > 2.0:
                        now = server  # a skewed clock on one side: trust the server's
                reset_in = max(0.0, reset - now)
        return cls(limit, remaining, reset, reset_in)


class RateLimiter:
    """At most the server's budget per window, shared by every caller of one credential."""

    def __init__(
        self, limit: int = 75, window: float = 30.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._remaining = limit
        self._reset_at: float | None = None  # monotonic end of the window we believe in
        self._reset_epoch: int | None = None  # the server's name for that window
        self._paused_until = 0.0
        self._in_flight = 0
        #: 429s seen (tests and benchmarks read it).
        self.throttled = 0

    def __repr__(self) -> str:
        return f"RateLimiter(limit={self.limit}, window={self.window:g})"

    async def acquire(self) -> float:
        """Wait until a request may go and count it; returns the seconds waited."""
        start = self._clock()
        while True:
            with self._lock:
                now = self._clock()
                if self._reset_at is None or now >= self._reset_at:
                    self._remaining = self.limit
                    self._reset_at = now + self.window
                    self._reset_epoch = None
                wait = self._paused_until - now
                if wait <= 0:
                    if self._remaining > 0:
                        self._remaining -= 1
                        self._in_flight += 1
                        return now - start
                    wait = self._reset_at - now
            await anyio.sleep(max(wait, 0.001))

    def observe(self, headers: RateLimitHeaders) -> None:
        """Follow the server's account of the window (called before ``release``)."""
        with self._lock:
            now = self._clock()
            if headers.limit is not None and headers.limit > 0:
                self.limit = headers.limit
            if headers.remaining is None or headers.reset_in is None:
                return
            others = max(0, self._in_flight - 1)
            left = max(0, headers.remaining - others)
            if self._reset_epoch is None or (
                headers.reset_epoch is not None and headers.reset_epoch > self._reset_epoch
            ):
                self._reset_epoch = headers.reset_epoch
                self._reset_at = now + headers.reset_in
                self._remaining = left
            elif headers.reset_epoch == self._reset_epoch:
                self._remaining = min(self._remaining, left)

    def release(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (a 429's ``Retry-After``)."""
        with self._lock:
            self.throttled += 1
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    @property
    def remaining(self) -> int:
        with self._lock:
            return self._remaining


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta seconds or an HTTP-date. None when
    absent or unreadable; never negative. (This client's own name for the reading both clients
    share, thresher._http_common.)"""
    return _http_common.parse_retry_after(value, now=now)
