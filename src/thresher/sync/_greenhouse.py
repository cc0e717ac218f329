"""The roster sync of a Greenhouse Recruiting connection (docs/greenhouse.md §6).

The same guarantees as the Harvest sync (``_engine.py``), through the same store calls: one run
per connection under the ``sync`` lease with its heartbeat, each page's rows, events and resume
point in one fenced transaction, full listings that tombstone users no longer listed, and
incremental windows (``updated_at`` ``gte`` the mark less the overlap). Greenhouse users are
mirrored in ``users`` through the fields both products share, the fields only Greenhouse has in
``greenhouse_users``, their changes in the same change log
(``thresher.store.apply_greenhouse_users``). Roles and teammates are Harvest's and not read.

The mark: Greenhouse pages carry no server time the client exposes, so the mark is the earlier
of the local clock at the run's start and the newest ``updated_at`` the run read; the overlap
(60 s by default) covers a local clock running that much ahead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from thresher.greenhouse import MAX_PER_PAGE, AsyncGreenhouse
from thresher.greenhouse import User as GreenhouseUser
from thresher.store import (
    USERS_RESOURCE,
    ChangeEvent,
    LeaseLostError,
    Store,
    StoredConnection,
    SyncState,
    apply_greenhouse_users,
)

from ._context import blocking
from ._errors import SyncError, SyncSupersededError
from ._lease import RunLease
from ._report import ProgressCallback, SyncOptions, SyncReport

__all__ = ["GreenhouseSync"]

log = logging.getLogger("thresher.sync")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class _Run:
    lease: RunLease
    report: SyncReport
    progress: ProgressCallback | None
    started: dt.datetime
    pages_committed: int = 0
    newest: dt.datetime | None = None


class GreenhouseSync:
    """Syncs one Greenhouse connection's users into the store (``RosterSync``'s counterpart)."""

    def __init__(
        self,
        store: Store,
        client: AsyncGreenhouse,
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
        per_page = self._options.per_page
        if per_page is not None and not 1 <= per_page <= MAX_PER_PAGE:
            raise SyncError(
                f"a page size of {per_page} is more than Greenhouse allows",
                hint=f"Greenhouse pages hold 1 to {MAX_PER_PAGE} users; leave --page-size out "
                f"for {MAX_PER_PAGE}.",
            )

    async def run(
        self,
        *,
        full: bool = False,
        wait: bool = False,
        wait_timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> SyncReport:
        """One run: resume an interrupted listing and catch up, or one full or incremental pass.
        ``SyncBusyError`` / ``SyncSupersededError`` as for ``RosterSync.run``."""
        options = self._options
        lease = RunLease(
            self._store,
            self._connection.id,
            self._connection.name,
            ttl=options.lease_ttl,
            poll=options.lease_poll,
        )
        await lease.acquire(wait=wait, wait_timeout=wait_timeout)
        run = _Run(lease, SyncReport(self._connection.name, "incremental"), progress, self._clock())
        try:
            every = options.heartbeat_every or options.lease_ttl / 3
            work = asyncio.create_task(self._users(run, full=full))
            beat = asyncio.create_task(lease.heartbeat(every))
            try:
                await asyncio.wait({work, beat}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (work, beat):
                    task.cancel()
                await asyncio.gather(work, beat, return_exceptions=True)
            if beat.done() and not beat.cancelled() and beat.exception() is not None:
                error = beat.exception()
                if not isinstance(error, LeaseLostError):
                    assert error is not None
                    raise error
            elif not work.cancelled() and not isinstance(work.exception(), LeaseLostError):
                return work.result()
            written = f"page {run.pages_committed}"
            log.warning("sync of %s superseded after %s", self._connection.name, written)
            raise SyncSupersededError(self._connection.name, written)
        finally:
            await lease.release()

    async def _users(self, run: _Run, *, full: bool) -> SyncReport:
        started = time.perf_counter()
        cid = self._connection.id
        state = await blocking(lambda: self._store.get_sync_state(cid, USERS_RESOURCE))
        report = run.report
        if state.in_progress and state.resume_url is not None and not (full and state.run_kind != "full"):
            report.resumed = True
            report.kind = "full" if state.run_kind == "full" else "incremental"
            state = await self._pass(run, state, start_url=state.resume_url, since=None)
            state = _begin(state, "incremental")
            state = await self._pass(run, state, start_url=None, since=self._since(state))
        else:
            due = full or self._full_due(state)
            report.kind = "full" if due else "incremental"
            state = _begin(state, report.kind)
            state = await self._pass(run, state, start_url=None, since=None if due else self._since(state))
        report.caught_up = True
        report.users_s = report.duration_s = time.perf_counter() - started
        log.info("sync %s finished: %s", self._connection.name, report.as_dict())
        return report

    def _full_due(self, state: SyncState) -> bool:
        if state.high_water_mark is None or state.last_full_sync_at is None:
            return True
        return self._clock() - state.last_full_sync_at >= self._options.reconcile_every

    def _since(self, state: SyncState) -> dt.datetime | None:
        mark = state.high_water_mark
        return None if mark is None else mark - self._options.overlap

    async def _pass(
        self, run: _Run, state: SyncState, *, start_url: str | None, since: dt.datetime | None
    ) -> SyncState:
        if start_url is not None:
            pages = self._client.user_pages(start_url=start_url)
        else:
            filters: dict[str, Any] = {"per_page": self._options.per_page}
            if since is not None:
                filters["updated_at"] = ("gte", since)
            pages = self._client.user_pages(**filters)
        async for page in pages:
            run.report.pages += 1
            run.report.requests += 1
            run.report.users_seen += len(page.items)
            for user in page.items:
                if user.updated_at is not None and (run.newest is None or user.updated_at > run.newest):
                    run.newest = user.updated_at
            commit = functools.partial(self._commit, run, state, page.items, page.next_url)
            state, events = await blocking(commit)
            run.pages_committed += 1
            for event in events:
                run.report.events[event.kind] += 1
            if run.progress is not None:
                run.progress("users", run.report.users_seen, None)
        if state.in_progress:
            raise SyncError(
                "the Greenhouse user listing ended before its last page",
                hint="Run the sync again; it resumes from the last committed page.",
            )
        return state

    def _commit(
        self, run: _Run, state: SyncState, users: list[GreenhouseUser], next_url: str | None
    ) -> tuple[SyncState, list[ChangeEvent]]:
        cid = self._connection.id
        full = state.run_kind == "full"
        done = next_url is None
        observed = self._clock()
        with self._store.transaction() as tx:
            tx.check_lease(run.lease.lease)
            events = apply_greenhouse_users(
                tx, cid, users, observed_at=observed, source="sync", run_id=state.run_id if full else None
            )
            if done and full and state.run_id:
                events += tx.tombstone_missing_users(cid, state.run_id, observed_at=observed)
            if done:
                mark = run.started if run.newest is None else min(run.started, run.newest)
                after = dataclasses.replace(
                    state,
                    high_water_mark=mark,
                    resume_url=None,
                    run_id=None,
                    run_started_at=None,
                    last_full_sync_at=observed if full else state.last_full_sync_at,
                    last_reconciled_at=observed if full else state.last_reconciled_at,
                )
            else:
                after = dataclasses.replace(state, resume_url=next_url, run_started_at=run.started)
            tx.save_sync_state(after)
        return after, events


def _begin(state: SyncState, kind: Literal["full", "incremental"]) -> SyncState:
    return dataclasses.replace(
        state, run_id=uuid.uuid4().hex, run_kind=kind, run_started_at=None, resume_url=None
    )
