"""Client-side rate limiting: a sliding window over requests, one per account (§4).

Harvest allows 100 requests per 15 s (reports: 100 per 15 min) and answers 429 beyond that. The
docs do not say whether it counts per token or per account; v1 counted per account, so every
client and token in the process that works on one account shares one ``RateLimiter`` through a
``LimiterRegistry`` (the stricter assumption).

The log of requests is exact: a request may go only when fewer than ``limit`` requests were in
flight or answered within the last ``window``, checked and updated under one lock with one
monotonic clock for everyone. Waiters stand in a first-come line and each sleeps until its own
computed turn, so 1,000 waiting tasks wake one by one instead of all at once at every window edge;
a waiter whose predecessor was answered late simply recomputes its turn. Turns are granted only
from the head of the line, by whichever waiter checks first, which wakes the ones it admitted:
timers that fire out of order (a busy machine) cannot reorder the line, and admitted waiters
leave in the order they were admitted.

A lock from ``threading`` (never held across an await) makes one limiter usable from several
event loops, e.g. the sync facade's background loop next to an application's own loop.

A limiter only knows its own process. Several processes on one account (a SCIM bridge, a
scheduled sync, an admin's terminal) share Harvest's budget through a ``SharedBudget`` (the store
implements one, see docs/architecture.md, "Coordination between processes"): the transport draws
from this limiter first, which orders the tasks of the process, then from the shared budget, the
outer gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

import anyio
import anyio.to_thread

from .. import _http_common

_logger = logging.getLogger("thresher.harvest")

__all__ = [
    "LimiterRegistry",
    "RateForecast",
    "RateLimiter",
    "Reservation",
    "SharedBudget",
    "WaitForecast",
    "default_registry",
    "parse_retry_after",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Reservation:
    """A place in a shared budget: send after ``delay`` seconds (from when ``reserve`` returned),
    then hand ``handle`` back to ``complete``. Without a handle nothing was reserved (the budget
    has no place to give yet): ask again after ``delay``."""

    delay: float
    handle: object | None


@runtime_checkable
class SharedBudget(Protocol):
    """One account's rate budget shared with other processes (``AsyncHarvest(shared_budget=)``).

    Its methods block (a database round trip, say): the transport calls them in a worker thread.
    ``reserve`` takes the next place and says when the request may go; ``complete`` is called
    once its answer arrived (or it failed), so the budget can date the request by its answer,
    as ``RateLimiter.slot`` does; ``pause`` holds every process for a 429's ``Retry-After``.
    """

    def reserve(self) -> Reservation: ...

    def complete(self, handle: object) -> None: ...

    def pause(self, seconds: float) -> None: ...


@runtime_checkable
class WaitForecast(Protocol):
    """A shared budget that can also say how long a request would wait, without reserving.

    ``expected_wait(ahead)``: seconds until the place of a request that ``ahead`` others of this
    process are already waiting in front of. Like the budget's other methods it blocks, and it
    is an estimate: other processes may reserve places meanwhile.
    """

    def expected_wait(self, ahead: int = 0) -> float: ...


class _Sent:
    """One request in the log: in flight until ``done``, then stamped with its completion time."""

    __slots__ = ("done", "time")

    def __init__(self, time: float, *, done: bool) -> None:
        self.time = time
        self.done = done


class _Waiter:
    """A caller in line. Whoever admits it (possibly another task, in another event loop)
    wakes it through ``wake``; its own timer is only the fallback."""

    __slots__ = ("_event", "_loop", "_thread", "done", "sent")

    def __init__(self, *, done: bool) -> None:
        self.done = done
        self.sent: _Sent | None = None
        self._event: anyio.Event | None = None
        self._thread = threading.get_ident()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # another backend: the waiter's own timer wakes it
            self._loop = None

    def arm(self) -> anyio.Event:
        """A fresh event to sleep on (lock held, so no wake-up is lost in between)."""
        self._event = anyio.Event()
        return self._event

    def wake(self) -> None:
        event = self._event
        if event is None:
            return
        if threading.get_ident() == self._thread:
            event.set()
        elif self._loop is not None:
            with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
                self._loop.call_soon_threadsafe(event.set)


class RateLimiter:
    """At most ``limit`` requests in any ``window`` seconds, shared by every caller.

    Harvest counts a request when it arrives, which is some time after we decide to send it (the
    connection pool, a busy event loop, the network). Every moment between "allowed to send" and
    "answer received" is a possible arrival time, so ``slot()`` counts a request as in flight
    until its answer comes and then dates it by that answer: the next request that depends on it
    goes one window after the latest moment Harvest can have counted it. That is what keeps 429s
    at zero when 1,000 tasks share one budget; ``margin`` (default 0.5% of the window) covers clock
    granularity on Harvest's side.
    """

    def __init__(
        self,
        limit: int = 100,
        window: float = 15.0,
        *,
        margin: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0 or margin < 0:
            raise ValueError("limit must be >= 1, window > 0 and margin >= 0")
        self.limit = limit
        self.window = window
        self._span = window * (1.0 + margin)
        self._clock = clock
        self._lock = threading.Lock()
        self._log: list[_Sent] = []  # requests in flight or answered within the last span
        self._line: list[_Waiter] = []  # waiting callers, first come first
        self._admitted: list[_Waiter] = []  # their turn has come; they leave in this order
        self._paused_until = 0.0
        self._strikes = 0

    def __repr__(self) -> str:
        return f"RateLimiter(limit={self.limit}, window={self.window:g})"

    # -- acquiring --------------------------------------------------------------------------------
    def _turn(self, rank: int, now: float) -> float:
        """When the caller at ``rank`` in line may send, if everyone ahead sends on time (lock held).

        Send number m of the future must come one span after the send ``limit`` places before it:
        for m < limit that one is already in the log (or long gone), beyond it is a future send.
        A request still in flight counts as sent now: it cannot expire before it is answered.
        """
        cutoff = now - self._span
        self._log = [s for s in self._log if not s.done or s.time > cutoff]
        times = sorted(s.time if s.done else now for s in self._log)
        laps, m = divmod(rank, self.limit)
        turn = max(now, self._paused_until)
        before = len(times) + m - self.limit
        if before >= 0:
            turn = max(turn, times[before] + self._span)
        return turn + laps * self._span

    def _grant(self, now: float) -> list[_Waiter]:
        """Admit waiters from the head of the line while the head's turn has come (lock held).

        Whoever checks admits on behalf of everyone ahead of it, so a waiter whose timer fires
        late (a busy machine) never lets a later one overtake it.
        """
        granted: list[_Waiter] = []
        while self._line and self._turn(0, now) <= now:
            waiter = self._line.pop(0)
            waiter.sent = _Sent(now, done=waiter.done)
            self._log.append(waiter.sent)
            self._admitted.append(waiter)
            granted.append(waiter)
        return granted

    async def _wait_turn(self, *, done: bool) -> tuple[float, _Sent]:
        start = self._clock()
        waiter = _Waiter(done=done)
        with self._lock:
            self._line.append(waiter)
        try:
            while True:
                wake: list[_Waiter] = []
                with self._lock:
                    now = self._clock()
                    wake.extend(self._grant(now))
                    if waiter.sent is None:
                        delay: float | None = self._turn(self._line.index(waiter), now) - now
                    elif self._admitted[0] is waiter:
                        # Admitted ones leave in admission order: the next one may go now.
                        self._admitted.pop(0)
                        wake.extend(self._admitted[:1])
                        delay = None
                    else:
                        # Woken by the admitted one ahead when it leaves; the timeout is only a
                        # fallback for a waker that cannot reach this loop.
                        delay = self._span
                    wakeup = waiter.arm()
                for other in wake:
                    if other is not waiter:
                        other.wake()
                if delay is None:
                    assert waiter.sent is not None
                    return now - start, waiter.sent
                with anyio.move_on_after(delay):
                    await wakeup.wait()
        except BaseException:
            self._leave(waiter)
            raise

    def _leave(self, waiter: _Waiter) -> None:
        """A waiter gave up (cancelled): take it out of line without holding anyone up."""
        with self._lock:
            if waiter in self._line:
                self._line.remove(waiter)
                return
            if waiter not in self._admitted:
                return
            head = self._admitted[0] is waiter
            self._admitted.remove(waiter)
            if waiter.sent is not None and waiter.sent in self._log:
                self._log.remove(waiter.sent)  # admitted, but it will never send
            successor = self._admitted[0] if head and self._admitted else None
        if successor is not None:
            successor.wake()

    async def acquire(self) -> float:
        """Wait for a turn and count the request as sent now; returns the seconds waited.

        Callers are served in arrival order; each sleeps until its own computed turn, so waiters
        wake one by one rather than all at once. Prefer ``slot()`` around the actual exchange.
        """
        waited, _ = await self._wait_turn(done=True)
        return waited

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """``async with limiter.slot() as waited: <send, read the answer>``: the request counts
        from its turn until the block ends, and is then dated by the end of the block."""
        waited, sent = await self._wait_turn(done=False)
        try:
            yield waited
        finally:
            with self._lock:
                sent.time = max(sent.time, self._clock())
                sent.done = True

    # -- asking without waiting ------------------------------------------------------------------
    def expected_wait(self, requests: int = 1) -> float:
        """Seconds until the last of ``requests`` requests asked for now could go, if everyone
        ahead in line sends on time: the line, the last window's log and any 429 pause. Nothing
        is reserved, so a caller with a deadline can refuse at once instead of waiting past it
        (the SCIM bridge answers 429 with ``Retry-After`` rather than hold an identity provider
        past its timeout). Requests still in flight count as sent now, so it is a lower bound
        when answers are slow."""
        if requests < 1:
            raise ValueError("requests must be >= 1")
        with self._lock:
            now = self._clock()
            return max(0.0, self._turn(len(self._line) + requests - 1, now) - now)

    @property
    def waiting(self) -> int:
        """Callers in line for a turn right now."""
        with self._lock:
            return len(self._line)

    # -- reacting to 429 --------------------------------------------------------------------------
    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (a 429's ``Retry-After``)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def penalize(self) -> float:
        """A 429 without ``Retry-After`` (seen in the 2020 recording, §2): pause everyone for a
        jittered, growing share of the window, and return the pause chosen."""
        with self._lock:
            self._strikes += 1
            base = self.window / 15.0  # 1 s for Harvest's 15 s window
            delay = min(self.window, base * 2.0 ** (self._strikes - 1))
            delay *= random.uniform(0.5, 1.0)
            self._paused_until = max(self._paused_until, self._clock() + delay)
            return delay

    def succeeded(self) -> None:
        """A non-429 answer: the backoff for header-less 429s starts over."""
        if self._strikes:
            with self._lock:
                self._strikes = 0

    @property
    def paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self._clock())


@dataclasses.dataclass(frozen=True, slots=True)
class RateForecast:
    """How long a client's next general API request would wait: its in-process ``limiter`` and,
    when the ``budget`` shared with other processes can forecast (``WaitForecast``), that budget
    behind everyone already in this process's line (``AsyncHarvest.rate_forecast``)."""

    limiter: RateLimiter | None
    budget: SharedBudget | None

    async def expected_wait(self) -> float:
        """Seconds, the longer of the two forecasts; nothing is sent or reserved."""
        local = self.limiter.expected_wait() if self.limiter is not None else 0.0
        budget: object = self.budget  # forecasting is optional for a SharedBudget
        if not isinstance(budget, WaitForecast):
            return local
        ahead = self.limiter.waiting if self.limiter is not None else 0
        try:
            shared = await anyio.to_thread.run_sync(budget.expected_wait, ahead)
        except Exception:
            # The request itself would go on the in-process limiter alone (_transport._reserve).
            _logger.exception("the shared rate budget is unavailable; forecasting in-process only")
            return local
        return max(local, shared)


class LimiterRegistry:
    """One ``RateLimiter`` per (base URL, account id, bucket), shared by every client using it.

    The first request for a key fixes that limiter's limit and window; later clients with other
    settings share it as it is (one account has one budget).
    """

    def __init__(self, *, margin: float = 0.005) -> None:
        self._margin = margin
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, int | None, str], RateLimiter] = {}

    def get(
        self, base_url: str, account_id: int | None, *, bucket: str = "general", limit: int,
        window: float,
    ) -> RateLimiter:
        key = (_normalise(base_url), account_id, bucket)
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = self._limiters[key] = RateLimiter(limit, window, margin=self._margin)
            return limiter

    def __repr__(self) -> str:
        return f"LimiterRegistry(<{len(self._limiters)} limiters>)"


def _normalise(base_url: str) -> str:
    scheme, _, rest = base_url.rstrip("/").partition("://")
    host, _, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}/{path}"


# The one piece of module state in thresher.harvest, on purpose: Harvest's budget belongs to the
# account, not to a client object, so clients created independently in one process (a CLI command
# and a background sync, two tokens of one account) must find the same limiter without being
# handed it. Pass ``limiter_registry=`` to isolate clients (tests do).
_DEFAULT_REGISTRY = LimiterRegistry()


def default_registry() -> LimiterRegistry:
    """The process-wide registry used by clients that are not given one."""
    return _DEFAULT_REGISTRY


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta seconds or an HTTP-date. None when
    absent or unreadable; never negative. (This client's own name for the reading both clients
    share, thresher._http_common.)"""
    return _http_common.parse_retry_after(value, now=now)
