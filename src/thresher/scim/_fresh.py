"""The bridge's periodic sync, on a thread and an event loop of its own.

A sync parses Harvest's pages and writes them to the store synchronously (``thresher.sync``), and
a write may wait for the database's lock (another process syncing). On the loop that serves
requests, every lookup would wait for it. On its own loop it shares only the interpreter,
which switches threads every few milliseconds (``sys.getswitchinterval``), and the store, where
WAL (SQLite) or MVCC (PostgreSQL) lets the bridge's reads go on while it writes.

The sync has a Harvest client of its own, made in this thread (``make_client``): an httpx client's
connections belong to the event loop that opened them. It still draws from the account's one
rate limiter (limiters are shared across loops, ``thresher.harvest``) and, through the store,
from the budget every process shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from thresher.harvest import AsyncHarvest
from thresher.store import Store, StoredConnection
from thresher.sync import RosterSync, SyncBusyError, SyncOptions

__all__ = ["SyncThread"]

log = logging.getLogger("thresher.scim")


class SyncThread:
    """Incremental syncs every ``interval`` seconds, then ``after_sync`` (blocking, in the same
    thread), until :meth:`stop`."""

    def __init__(
        self,
        store: Store,
        connection: StoredConnection,
        make_client: Callable[[], AsyncHarvest],
        *,
        options: SyncOptions | None = None,
        interval: float = 60.0,
        after_sync: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.connection = connection
        self.make_client = make_client
        self.options = options or SyncOptions()
        self.interval = interval
        self.after_sync = after_sync
        #: Runs finished (successful, busy or failed): for status pages and tests.
        self.runs = 0
        self._thread = threading.Thread(target=self._main, name="thresher-scim-sync", daemon=True)
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        """Cancel the run in progress (a sync resumes where it stopped next time) and wait for
        the thread to end, without blocking the caller's loop."""
        await asyncio.to_thread(self._started.wait)
        if self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                self._loop.call_soon_threadsafe(self._task.cancel)
        await asyncio.to_thread(self._thread.join)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        finally:
            self._started.set()

    async def _serve(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        self._started.set()
        try:
            client = self.make_client()
        except Exception:
            log.exception("could not make the sync's Harvest client: no syncs while serving")
            return
        with contextlib.suppress(asyncio.CancelledError):
            async with client:
                sync = RosterSync(self.store, client, self.connection, self.options)
                while True:
                    await self._once(sync)
                    await asyncio.sleep(self.interval)

    async def _once(self, sync: RosterSync) -> None:
        try:
            report = await sync.run()
            log.info("sync: %s users read, %s changes", report.users_seen, report.changes)
            if self.after_sync is not None:
                self.after_sync()
        except SyncBusyError as busy:
            # Another process (`thresher sync --watch`, cron) keeps the mirror fresh right now.
            log.debug("sync skipped: %s", busy)
        except Exception:  # the next run retries; the bridge keeps serving the mirror
            log.exception("sync failed")
        finally:
            self.runs += 1
