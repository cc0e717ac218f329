"""One rate budget per Harvest account, shared by every process on the store.

Harvest allows ``limit`` requests per ``window`` per account (docs/harvest-api.md §4), however
many processes send them. The budget is an exact sliding window kept in the database: a ring of
``limit`` places per account (``rate_budget_slots``), each holding when the last request that
used it counted at Harvest, and the account's row (``rate_budgets``). To send, a process reserves
inside one short write transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the account row
``FOR UPDATE``): it takes the oldest place, and its request may go one window after the time
stored there; it writes its own time into the place. Each place is reused at most once per
window, so no window ever holds more than ``limit`` requests (``limit + 1`` requests in one
window would need two in one place). The in-process limiter (``thresher.harvest.RateLimiter``)
still orders the tasks inside one process; this is the outer gate (docs/architecture.md,
"Coordination between processes").

Harvest counts a request when it arrives, somewhere between our send and its answer, so a place
is stored negated while its request is in flight and is re-dated to the answer's time on
``complete``, as the in-process limiter dates its requests. A place in flight is never taken:
its request may still arrive at any moment, so nobody can know yet when the place frees up. When
every place is in flight, ``reserve`` reserves nothing and says to ask again a window later (no
place can free up sooner). A place whose process died in flight is taken again once it is
``STALE`` seconds old, far beyond any request's timeout. ``cursor`` is the place after the one
taken last, for inspection. A 429's ``Retry-After`` sets ``paused_until`` for everyone.

Times are epoch seconds from the database's clock on PostgreSQL (processes on several machines
share it) and from this machine's clock on SQLite (one machine by construction).

The ring's size is the limit of the process that created it; a process configured with another
limit rebuilds it only while it is idle (nothing sent within a window, nothing in flight), so a
changed ``HARVEST_RATE_LIMIT`` takes effect without ever letting a window overflow.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection as SAConnection

from thresher.harvest import Reservation

from ._errors import InvalidArgumentError
from ._tables import RATE_BUDGET_SLOTS, RATE_BUDGETS

__all__ = ["BudgetState", "BudgetTicket", "RateBudget"]

#: Bounds ``account_key`` like its column (``_schema.RateBudgetRow``).
_MAX_KEY = 400
#: Seconds after which a place still in flight is taken as abandoned (its process died): four
#: times the client's default timeout per attempt (``HarvestSettings.timeout``).
STALE = 120.0


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetTicket:
    """A reserved place: ring ``slot``, and the time ``send_at`` (epoch seconds, the budget's
    clock) the request may go. The handle of a ``Reservation``."""

    slot: int
    send_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetState:
    """An account's budget as stored: ``slots[i]`` is when the request in slot ``i`` went or was
    answered (negative: reserved for ``-slots[i]`` and still in flight; 0: never used)."""

    account_key: str
    cursor: int
    paused_until: float
    slots: tuple[float, ...]


def _now(conn: SAConnection) -> float:
    if conn.dialect.name == "postgresql":
        value = conn.execute(select(func.extract("epoch", func.clock_timestamp()))).scalar_one()
        return float(value)
    return time.time()


class RateBudget:
    """The shared budget of one account (``Store.rate_budget``); a ``thresher.harvest.SharedBudget``.

    Every method is one short write transaction and blocks; the Harvest client's transport calls
    them from worker threads.
    """

    def __init__(
        self,
        write: Callable[[], AbstractContextManager[SAConnection]],
        account_key: str,
        *,
        limit: int,
        window: float,
        margin: float = 0.005,
    ) -> None:
        if not account_key or len(account_key) > _MAX_KEY:
            raise InvalidArgumentError(f"a rate budget's account key must be 1..{_MAX_KEY} characters")
        if limit < 1 or not window > 0 or margin < 0:
            raise InvalidArgumentError("a rate budget needs limit >= 1, window > 0 and margin >= 0")
        self._write = write
        self.account_key = account_key
        self.limit = limit
        self.window = window
        # Like RateLimiter: a small margin over the window covers clock granularity at Harvest.
        self._span = window * (1.0 + margin)

    def __repr__(self) -> str:
        return f"RateBudget({self.account_key!r}, limit={self.limit}, window={self.window:g})"

    # -- the SharedBudget protocol ----------------------------------------------------------------
    def reserve(self) -> Reservation:
        """Take the oldest place; the request may go after the returned ``delay``. A
        ``Reservation`` without a handle reserved nothing (every place is in flight): ask again
        after its ``delay``."""
        with self._write() as conn:
            paused_until = self._locked(conn)
            now = _now(conn)
            size = self._ring(conn, paused_until, now)
            oldest = conn.execute(
                select(RATE_BUDGET_SLOTS.c.slot, RATE_BUDGET_SLOTS.c.sent_at)
                .where(
                    RATE_BUDGET_SLOTS.c.account_key == self.account_key,
                    # Answered (>= 0), or in flight since before now - STALE (abandoned).
                    RATE_BUDGET_SLOTS.c.sent_at > STALE - now,
                )
                .order_by(RATE_BUDGET_SLOTS.c.sent_at, RATE_BUDGET_SLOTS.c.slot)
                .limit(1)
            ).first()
            if oldest is None:
                return Reservation(delay=self._span, handle=None)
            slot, counted = int(oldest.slot), abs(float(oldest.sent_at))
            send_at = max(now, counted + self._span, paused_until)
            conn.execute(
                update(RATE_BUDGET_SLOTS)
                .where(
                    RATE_BUDGET_SLOTS.c.account_key == self.account_key,
                    RATE_BUDGET_SLOTS.c.slot == slot,
                )
                .values(sent_at=-send_at)
            )
            conn.execute(
                update(RATE_BUDGETS)
                .where(RATE_BUDGETS.c.account_key == self.account_key)
                .values(cursor=(slot + 1) % size)
            )
        return Reservation(delay=send_at - now, handle=BudgetTicket(slot, send_at))

    def complete(self, handle: object) -> None:
        """The request's answer arrived (or it failed): date its place by now.

        Nothing happens if the place was taken over meanwhile (abandoned as ``STALE``)."""
        if not isinstance(handle, BudgetTicket):
            raise InvalidArgumentError(f"not a ticket of this budget: {handle!r}")
        with self._write() as conn:
            now = _now(conn)
            conn.execute(
                update(RATE_BUDGET_SLOTS)
                .where(
                    RATE_BUDGET_SLOTS.c.account_key == self.account_key,
                    RATE_BUDGET_SLOTS.c.slot == handle.slot,
                    RATE_BUDGET_SLOTS.c.sent_at == -handle.send_at,
                )
                .values(sent_at=max(now, handle.send_at))
            )

    def pause(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (a 429's ``Retry-After``)."""
        with self._write() as conn:
            paused_until = self._locked(conn)
            until = _now(conn) + max(0.0, seconds)
            if until > paused_until:
                conn.execute(
                    update(RATE_BUDGETS)
                    .where(RATE_BUDGETS.c.account_key == self.account_key)
                    .values(paused_until=until)
                )

    # -- forecasting (thresher.harvest.WaitForecast) ---------------------------------------------
    def expected_wait(self, ahead: int = 0) -> float:
        """Seconds until the place a request would get after ``ahead`` other reservations, if
        nothing else reserves meanwhile; nothing is reserved (one short transaction).

        A place in flight counts as answered at its send time, and an abandoned one (``STALE``)
        as free, so this is a lower bound: a caller with a deadline refuses when even this is
        too long (``thresher.harvest.RateForecast``)."""
        if ahead < 0:
            raise InvalidArgumentError("ahead must be >= 0")
        with self._write() as conn:
            now = _now(conn)
            paused_until = conn.execute(
                select(RATE_BUDGETS.c.paused_until).where(
                    RATE_BUDGETS.c.account_key == self.account_key
                )
            ).scalar()
            stored = conn.execute(
                select(RATE_BUDGET_SLOTS.c.sent_at).where(
                    RATE_BUDGET_SLOTS.c.account_key == self.account_key
                )
            ).scalars()
            frees = sorted(
                now if -s > 0 and -s < now - STALE else abs(float(s)) + self._span for s in stored
            )
        start = max(now, float(paused_until or 0.0))
        if not frees:
            return start - now  # never used: the ring is built on the first reservation
        laps, m = divmod(ahead, len(frees))
        return max(start, frees[m] + laps * self._span) - now

    # -- inspection -------------------------------------------------------------------------------
    def state(self) -> BudgetState:
        """The account's row and ring as stored (an empty ring before first use)."""
        with self._write() as conn:
            row = conn.execute(
                select(RATE_BUDGETS).where(RATE_BUDGETS.c.account_key == self.account_key)
            ).first()
            slots = conn.execute(
                select(RATE_BUDGET_SLOTS.c.sent_at)
                .where(RATE_BUDGET_SLOTS.c.account_key == self.account_key)
                .order_by(RATE_BUDGET_SLOTS.c.slot)
            ).scalars()
            return BudgetState(
                self.account_key,
                row.cursor if row is not None else 0,
                row.paused_until if row is not None else 0.0,
                tuple(slots),
            )

    # -- inside the transaction -------------------------------------------------------------------
    def _locked(self, conn: SAConnection) -> float:
        """The account's ``paused_until``; its row is created on first use and locked for the
        transaction (PostgreSQL; SQLite's write transaction already excludes other writers)."""
        query = select(RATE_BUDGETS.c.paused_until).where(
            RATE_BUDGETS.c.account_key == self.account_key
        )
        row = conn.execute(query.with_for_update()).first()
        if row is None:
            insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            conn.execute(
                insert_(RATE_BUDGETS)
                .values(account_key=self.account_key, cursor=0, paused_until=0.0)
                .on_conflict_do_nothing()
            )
            row = conn.execute(query.with_for_update()).one()
        return float(row.paused_until)

    def _ring(self, conn: SAConnection, paused_until: float, now: float) -> int:
        """The ring's size, (re)building the ring when it is missing, or idle and of another size
        than this process's limit."""
        size, newest, in_flight = conn.execute(
            select(
                func.count(),
                func.coalesce(func.max(RATE_BUDGET_SLOTS.c.sent_at), 0.0),
                func.coalesce(func.min(RATE_BUDGET_SLOTS.c.sent_at), 0.0) < 0,
            ).where(RATE_BUDGET_SLOTS.c.account_key == self.account_key)
        ).one()
        if size == self.limit:
            return int(size)
        idle = not in_flight and newest + self._span <= now and paused_until <= now
        if size and not idle:
            return int(size)
        conn.execute(
            delete(RATE_BUDGET_SLOTS).where(RATE_BUDGET_SLOTS.c.account_key == self.account_key)
        )
        conn.execute(
            insert(RATE_BUDGET_SLOTS),
            [{"account_key": self.account_key, "slot": i, "sent_at": 0.0} for i in range(self.limit)],
        )
        return self.limit
