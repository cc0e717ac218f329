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
  any moment resumes from the last committed page without loss or duplicate events.
- Roles have no ``updated_since`` (§7.5) and are listed whole every run (normally one request).
  Teammates are per manager (§7.1): re-read for people managers whose user record changed, and for
  every people manager on a full run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Literal

from thresher.harvest import AsyncHarvest, User
from thresher.store import USERS_RESOURCE, ChangeEvent, Store, StoredConnection, SyncState

from ._errors import SyncError

__all__ = ["ProgressCallback", "RosterSync", "SyncOptions", "SyncReport"]

log = logging.getLogger("thresher.sync")

ROLES = "roles"

#: ``progress(stage, done, total)``; ``total`` is None while unknown.
ProgressCallback = Callable[[str, int, int | None], None]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class SyncOptions:
    """How a connection is synced."""

    #: Re-read this much before the high-water mark on incremental runs (clock granularity, and
    #: writes Harvest commits with a slightly earlier ``updated_at`` than the listing saw).
    overlap: dt.timedelta = dt.timedelta(seconds=60)
    #: A full listing (which detects deletes) at least this often.
    reconcile_every: dt.timedelta = dt.timedelta(hours=1)
    #: Page size for user listings; None lets the client use Harvest's maximum (2000).
    per_page: int | None = None
    #: Re-read teammates of people managers ("changed": whose record changed; "all"; "off").
    teammates: Literal["changed", "all", "off"] = "changed"
    #: Sync roles (administrator tokens only; others get 403 from Harvest).
    roles: bool = True


@dataclasses.dataclass
class SyncReport:
    """What one run did."""

    connection: str
    kind: Literal["full", "incremental"]
    resumed: bool
    pages: int = 0
    users_seen: int = 0
    requests: int = 0
    teammate_lists: int = 0
    roles_seen: int = 0
    #: User events by kind (created, updated, archived, ...), teammates_changed included.
    events: Counter[str] = dataclasses.field(default_factory=Counter)
    #: Role events by kind.
    role_events: Counter[str] = dataclasses.field(default_factory=Counter)
    duration_s: float = 0.0

    @property
    def changes(self) -> int:
        return sum(self.events.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "connection": self.connection,
            "kind": self.kind,
            "resumed": self.resumed,
            "pages": self.pages,
            "users_seen": self.users_seen,
            "roles_seen": self.roles_seen,
            "teammate_lists": self.teammate_lists,
            "requests": self.requests,
            "events": dict(self.events),
            "role_events": dict(self.role_events),
            "duration_s": round(self.duration_s, 3),
        }


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

    async def run(self, *, full: bool = False, progress: ProgressCallback | None = None) -> SyncReport:
        started = time.perf_counter()
        report, changed_ids, people_managers = await self._sync_users(full=full, progress=progress)
        if self._options.roles:
            await self._sync_roles(report)
        if self._options.teammates != "off":
            if report.kind == "full" or self._options.teammates == "all":
                # Every current people manager, not only those this run's pages showed.
                targets = {
                    u.harvest_id
                    for u in self._store.list_users(self._connection.id, access_role="people_manager")
                }
            else:
                targets = people_managers & changed_ids
            await self._sync_teammates(report, sorted(targets), progress)
        report.duration_s = time.perf_counter() - started
        log.info("sync %s finished: %s", self._connection.name, report.as_dict())
        return report

    # -- users -------------------------------------------------------------------------------

    def _load_state(self) -> SyncState:
        with self._store.transaction() as tx:
            return tx.get_sync_state(self._connection.id, USERS_RESOURCE)

    def _full_due(self, state: SyncState, now: dt.datetime) -> bool:
        if state.high_water_mark is None or state.last_full_sync_at is None:
            return True
        return now - state.last_full_sync_at >= self._options.reconcile_every

    async def _sync_users(
        self, *, full: bool, progress: ProgressCallback | None
    ) -> tuple[SyncReport, set[int], set[int]]:
        cid = self._connection.id
        state = self._load_state()
        resumed = bool(state.run_id and state.resume_url)
        if resumed:
            kind: Literal["full", "incremental"] = "full" if state.run_kind == "full" else "incremental"
            start_url = state.resume_url
            updated_since = None
        else:
            kind = "full" if full or self._full_due(state, self._clock()) else "incremental"
            start_url = None
            updated_since = (
                None
                if kind == "full" or state.high_water_mark is None
                else state.high_water_mark - self._options.overlap
            )
            state = dataclasses.replace(
                state, run_id=uuid.uuid4().hex, run_kind=kind, run_started_at=None, resume_url=None
            )
        report = SyncReport(connection=self._connection.name, kind=kind, resumed=resumed)
        changed: set[int] = set()
        people_managers: set[int] = set()
        total: int | None = None
        # A full run tags every row it sees with its run id; the tombstone pass needs it.
        run_tag = state.run_id if kind == "full" else None

        pages = self._client.user_pages(
            updated_since=updated_since, per_page=self._options.per_page, start_url=start_url
        )
        async for page in pages:
            report.pages += 1
            report.requests += 1
            report.users_seen += len(page.items)
            if total is None and page.total_entries is not None:
                total = page.total_entries
            observed = self._clock()
            run_started_at = state.run_started_at or _server_time(page.server_date, page.items)
            done = page.next_url is None
            with self._store.transaction() as tx:
                events = tx.apply_users(
                    cid, page.items, observed_at=observed, source="sync", run_id=run_tag
                )
                if done and kind == "full" and state.run_id:
                    events += tx.tombstone_missing_users(cid, state.run_id, observed_at=observed)
                state = _advance(state, page.next_url, run_started_at, observed, done=done)
                tx.save_sync_state(state)
            _count(report, events)
            changed.update(e.harvest_id for e in events if e.resource == "user")
            people_managers.update(u.id for u in page.items if u.is_people_manager)
            if progress is not None:
                progress("users", report.users_seen, total)
        if state.run_id is not None:
            # The listing ended without a final page (it cannot with a well-behaved server).
            raise SyncError(
                "the user listing ended before its last page",
                hint="Run the sync again; it resumes from the last committed page.",
            )
        return report, changed, people_managers

    # -- roles and teammates ----------------------------------------------------------------

    async def _sync_roles(self, report: SyncReport) -> None:
        roles = [role async for role in self._client.list_roles()]
        report.requests += 1
        report.roles_seen = len(roles)
        with self._store.transaction() as tx:
            events = tx.apply_roles(
                self._connection.id, roles, observed_at=self._clock(), source="sync", complete=True
            )
        _count(report, events)

    async def _sync_teammates(
        self, report: SyncReport, manager_ids: list[int], progress: ProgressCallback | None
    ) -> None:
        for done, manager_id in enumerate(manager_ids, start=1):
            teammates = [t async for t in self._client.list_teammates(manager_id)]
            report.requests += 1
            report.teammate_lists += 1
            with self._store.transaction() as tx:
                events = tx.set_teammates(
                    self._connection.id,
                    manager_id,
                    [t.id for t in teammates],
                    observed_at=self._clock(),
                    source="sync",
                )
            _count(report, events)
            if progress is not None:
                progress("teammates", done, len(manager_ids))


def _server_time(server_date: dt.datetime | None, users: list[User]) -> dt.datetime | None:
    """When the run started by the server's clock: its Date header, else the newest change seen."""
    if server_date is not None:
        return server_date
    return max((u.updated_at for u in users), default=None)


def _advance(
    state: SyncState,
    next_url: str | None,
    run_started_at: dt.datetime | None,
    observed: dt.datetime,
    *,
    done: bool,
) -> SyncState:
    if not done:
        return dataclasses.replace(state, resume_url=next_url, run_started_at=run_started_at)
    # The server's clock is the only one the windows use, even if it moved backwards since the
    # last run: taking a max with the old mark would skip changes stamped in between.
    high_water = run_started_at or state.high_water_mark
    full = state.run_kind == "full"
    return dataclasses.replace(
        state,
        high_water_mark=high_water,
        resume_url=None,
        run_id=None,
        run_started_at=None,
        last_full_sync_at=observed if full else state.last_full_sync_at,
        last_reconciled_at=observed if full else state.last_reconciled_at,
    )


def _count(report: SyncReport, events: list[ChangeEvent]) -> None:
    report.events.update(e.kind for e in events if e.resource == "user")
    report.role_events.update(e.kind for e in events if e.resource == "role")
