"""The bridge's store work runs in worker threads, never on the event loop that serves requests.

The store is synchronous SQLAlchemy (``thresher.store``). A query run on the loop holds every
other request while it runs, and a write that waits for SQLite's write lock (another process
syncing, up to its 30 s busy timeout) or a PostgreSQL row lock would freeze the whole bridge.
So each storage step is one function run in a worker thread: the loop only parses, dispatches
and serializes, and a create that waits for Harvest's rate budget waits in ``await`` with no
database connection held (its pending entry is committed before it waits, ``_user_writes``).

Why threads and not SQLAlchemy's async engine: the store's whole API (``ScimRecords``, the
roster reads, the sync's transactions, the CLI) is synchronous and shared with every other
part; an async engine would mean a second copy of each query. The drivers (sqlite3, psycopg)
release the GIL while the database works, so the threads overlap as an async driver would. One
thread hop costs tens of microseconds per step, far below a query.

Reads and writes run in two lanes, each capped at the engine's pool size (``CapacityLimiter``):
writes that wait for a lock (all of a lane's threads, say) never hold up a lookup, and the two
lanes together stay within SQLAlchemy's pool with its overflow (5 + 10 by default), so a thread
never waits for a connection another bridge thread holds; the overflow left over serves the
sync, the token counters and the shared rate budget.

The two reads every lookup makes (its token, then its users: ``_app``, ``_user_reads``) run on
the loop itself when the store is an SQLite file (:meth:`StoreWork.quick_read`): in WAL mode a
read never waits for a writer or its lock, and takes a fraction of a millisecond, less than the
two thread switches a hop costs; on a busy machine each switch can also wait for a core, which
is what the open-loop figures in bench/scim.py measure. PostgreSQL reads keep their thread (a
network round trip, and a server that may stall).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

import anyio
import anyio.to_thread
from sqlalchemy.pool import QueuePool, SingletonThreadPool, StaticPool

from thresher.store import Store

__all__ = ["StoreWork"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: Threads when the pool says nothing of its size (NullPool: a connection per checkout).
_DEFAULT_THREADS = 5


class StoreWork:
    """Runs blocking store functions in worker threads: :meth:`read` and :meth:`write` each at
    most as many at once as the engine's pool keeps connections. A single-connection pool (SQLite
    in memory: each thread would get a database of its own) runs them inline instead."""

    def __init__(self, store: Store) -> None:
        pool = store.engine.pool
        if isinstance(pool, QueuePool):
            self.threads: int | None = pool.size()
        elif isinstance(pool, SingletonThreadPool | StaticPool):
            self.threads = None
        else:
            self.threads = _DEFAULT_THREADS
        self._lanes: dict[str, anyio.CapacityLimiter] = {}
        # SQLite files only (``thresher.store`` opens them in WAL mode), through a QueuePool.
        sqlite = store.engine.dialect.name == "sqlite"
        self._queue_pool = pool if isinstance(pool, QueuePool) and sqlite else None

    async def quick_read(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """``fn(*args)``, a short read, on the loop when the store is an SQLite file and its pool
        has an idle connection (never waiting for one, nor opening one); else as :meth:`read`."""
        pool = self._queue_pool
        # An idle connection to reuse (a new one runs its set-up PRAGMAs, which may wait for a
        # lock), and a second free place: a worker thread may take one before the checkout.
        if (
            pool is not None
            and pool.checkedin() > 0
            and (pool._max_overflow < 0 or pool.checkedout() + 2 <= pool.size() + pool._max_overflow)
        ):
            return fn(*args)
        return await self.read(fn, *args)

    async def read(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """``fn(*args)``, which only reads, in a worker thread (context variables go along)."""
        return await self._run("read", fn, *args)

    async def write(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """``fn(*args)``, which writes (and may wait for a lock), in a worker thread."""
        return await self._run("write", fn, *args)

    async def _run(self, lane: str, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        if self.threads is None:
            return fn(*args)
        limiter = self._lanes.get(lane)
        if limiter is None:
            # Made on first use, inside the loop that serves (anyio binds it to that loop).
            limiter = self._lanes[lane] = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)
