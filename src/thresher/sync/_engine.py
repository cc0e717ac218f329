"""The roster sync: full listings, incremental windows, resumable pages and reconciliation.

How it stays exact (docs/harvest-api.md §3, §6.4, §8.15):
- The first run, and one run per ``reconcile_every`` (or ``full=True``), lists every user. Users not
  seen in such a run become ``deleted`` tombstones: Harvest leaves no trace of a DELETE, so comparing
  complete id lists is the only way to see one.
- Other runs list ``updated_since = high-water mark - overlap``. The high-water mark is the *server's*
  time when the run started (the ``Date`` header of its first response), never the local clock, so a
  skewed local clock loses nothing, and edits made while a listing runs fall inside the next window.
  The overlap re-reads a margin; the store's diff turns re-read, unchanged rows into no event.
- Each page's rows and the resume point (``links.next``) commit in one transaction, so a crash at
  any moment resumes from the last committed page without loss or duplicate events; a resumed
  listing is followed by an incremental pass from its mark, so a successful run is current as of
  its start (``_users.py``).
- Roles have no ``updated_since`` (§7.5) and are listed whole every run (normally one request).
  Teammates are per manager (§7.1): the lists made due by the user pages are saved with them and
  read afterwards, concurrently (``_teammates.py``).
- One run per connection at a time: a run holds the connection's ``sync`` lease, renews it by
  heartbeat and checks it in every commit (``_lease.py``), so two runs never interleave pages
  (which made one tombstone the users the other had tagged) and a run that stalled past its
  lease, and was taken over, stops instead of writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable

from thresher.harvest import AsyncHarvest, AuthenticationError, RateLimitedError
from thresher.store import ChangeEvent, LeaseLostError, Store, StoredConnection, StoreError, WebhookStore

from ._context import RunContext, blocking
from ._errors import SyncSupersededError
from ._lease import RunLease
from ._report import ProgressCallback, SyncOptions, SyncReport
from ._teammates import pending_count, sync_teammates
from ._users import sync_users

__all__ = ["RosterSync"]

log = logging.getLogger("thresher.sync")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RosterSync:
    """Syncs one connection's roster from Harvest into the store.

    ``clock`` is the local clock used only for ``observed_at`` stamps and reconcile scheduling; the
    windows themselves are on the server's clock.
    """

    def __init__(
        self,
        store: Store,
        client: AsyncHarvest,
        connection: StoredConnection,
        options: SyncOptions | None = None,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._client = client
        self._connection = connection
        self._options = options or SyncOptions()
        self._clock = clock

    async def run(
        self,
        *,
        full: bool = False,
        wait: bool = False,
        wait_timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> SyncReport:
        """One run: users (resumed and caught up, or a full or incremental pass), roles, then
        the teammate lists due.

        Another run of the same connection holding the lease raises ``SyncBusyError`` at once,
        or, with ``wait``, once ``wait_timeout`` seconds (None: no limit) passed without it
        ending. ``SyncSupersededError`` when this run lost its lease to another part-way."""
        options = self._options
        lease = RunLease(
            self._store, self._connection.id, self._connection.name,
            ttl=options.lease_ttl, poll=options.lease_poll,
        )
        await lease.acquire(wait=wait, wait_timeout=wait_timeout)
        ctx = RunContext(
            store=self._store,
            client=self._client,
            connection=self._connection,
            options=options,
            clock=self._clock,
            lease=lease,
            report=SyncReport(connection=self._connection.name, kind="incremental"),
            progress=progress,
        )
        try:
            return await self._supervised(ctx, full=full)
        except Exception as exc:
            await blocking(functools.partial(self._alert, exc))
            raise
        finally:
            await lease.release()

    def _alert(self, exc: Exception) -> None:
        """Queue the operational webhook a failed run calls for (docs/webhooks.md)."""
        if isinstance(exc, SyncSupersededError):
            return  # another run carries on: nothing is wrong
        kind = "sync.failed"
        if isinstance(exc, AuthenticationError):
            kind = "credentials.expired"
        elif isinstance(exc, RateLimitedError):
            kind = "rate_limit.exhausted"
        details = {"error": type(exc).__name__, "message": str(exc)}
        with contextlib.suppress(StoreError):  # never hide the run's own error behind this one
            WebhookStore(self._store).record_alert(kind, connection_id=self._connection.id, details=details)

    async def _supervised(self, ctx: RunContext, *, full: bool) -> SyncReport:
        """The run beside its heartbeat: whichever ends first decides."""
        every = self._options.heartbeat_every or self._options.lease_ttl / 3
        work = asyncio.create_task(self._leased(ctx, full=full))
        beat = asyncio.create_task(ctx.lease.heartbeat(every))
        try:
            await asyncio.wait({work, beat}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, beat):
                task.cancel()
            await asyncio.gather(work, beat, return_exceptions=True)
        lost = beat.done() and not beat.cancelled() and beat.exception() is not None
        if lost:
            error = beat.exception()
            if not isinstance(error, LeaseLostError):
                assert error is not None
                raise error
        elif not work.cancelled() and not isinstance(work.exception(), LeaseLostError):
            return work.result()
        log.warning("sync of %s superseded after %s", ctx.connection.name, ctx.written())
        raise SyncSupersededError(ctx.connection.name, ctx.written())

    async def _leased(self, ctx: RunContext, *, full: bool) -> SyncReport:
        report = ctx.report
        started = time.perf_counter()
        await sync_users(ctx, full=full)
        report.users_s = time.perf_counter() - started
        if self._options.roles:
            await self._sync_roles(ctx)
        if self._options.teammates != "off":
            teammates_started = time.perf_counter()
            await sync_teammates(ctx)
            report.teammates_s = time.perf_counter() - teammates_started
        report.pending_teammates = await blocking(lambda: pending_count(ctx))
        report.duration_s = time.perf_counter() - started
        log.info("sync %s finished: %s", self._connection.name, report.as_dict())
        return report

    async def _sync_roles(self, ctx: RunContext) -> None:
        roles = [role async for role in self._client.list_roles()]
        ctx.report.requests += 1
        ctx.report.roles_seen = len(roles)

        def commit() -> list[ChangeEvent]:
            with self._store.transaction() as tx:
                tx.check_lease(ctx.lease.lease)
                return tx.apply_roles(
                    self._connection.id, roles, observed_at=self._clock(), source="sync", complete=True
                )

        ctx.count(await blocking(commit))
