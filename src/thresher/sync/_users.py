"""The users phase: listing passes, each page committed with its resume point, pipelined.

A pass lists users page by page and commits each page's rows, events, resume point and the
teammate lists it made due in one fenced transaction (``check_lease``), so a crash at any moment
resumes from the last committed page without loss or duplicate events, and a run whose lease was
taken over writes nothing more. While a page commits (in a worker thread), the next page is
already on the wire; pages still commit in cursor order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import uuid
from collections.abc import AsyncIterator
from typing import Literal

from thresher.harvest import Page, User
from thresher.store import USERS_RESOURCE, ChangeEvent, Store, StoreTransaction, SyncState

from ._context import RunContext, blocking
from ._errors import SyncError

__all__ = ["people_managers", "sync_users"]

PEOPLE_MANAGER = "people_manager"


async def sync_users(ctx: RunContext, *, full: bool) -> None:
    """Bring the users up to date as of the run's start: resume an interrupted listing (then
    catch up with an incremental pass from its mark), or run one full or incremental pass.

    ``full`` always means a full, reconciling run: a saved incremental listing is discarded for
    it, a saved full one resumed (it is the same run, already part done)."""
    state = await blocking(lambda: ctx.store.get_sync_state(ctx.connection.id, USERS_RESOURCE))
    managers = await blocking(lambda: people_managers(ctx.store, ctx.connection.id))
    resumable = state.in_progress and state.resume_url is not None
    if resumable and not (full and state.run_kind != "full"):
        ctx.report.resumed = True
        ctx.report.kind = "full" if state.run_kind == "full" else "incremental"
        state = await _pass(ctx, state, managers, start_url=state.resume_url, updated_since=None)
        state = _begin(state, "incremental")
        state = await _pass(ctx, state, managers, start_url=None, updated_since=_since(ctx, state))
    else:
        due = full or _full_due(ctx, state)
        ctx.report.kind = "full" if due else "incremental"
        state = _begin(state, ctx.report.kind)
        since = None if due else _since(ctx, state)
        state = await _pass(ctx, state, managers, start_url=None, updated_since=since)
    ctx.report.caught_up = True


def people_managers(queries: Store | StoreTransaction, connection_id: int) -> dict[int, dt.datetime]:
    """Live people managers in the mirror, with the ``updated_at`` it holds for each."""
    users = queries.list_users(connection_id, access_role=PEOPLE_MANAGER)
    return {u.harvest_id: u.updated_at for u in users}


def _full_due(ctx: RunContext, state: SyncState) -> bool:
    if state.high_water_mark is None or state.last_full_sync_at is None:
        return True
    return ctx.clock() - state.last_full_sync_at >= ctx.options.reconcile_every


def _since(ctx: RunContext, state: SyncState) -> dt.datetime | None:
    mark = state.high_water_mark
    return None if mark is None else mark - ctx.options.overlap


def _begin(state: SyncState, kind: Literal["full", "incremental"]) -> SyncState:
    return dataclasses.replace(
        state, run_id=uuid.uuid4().hex, run_kind=kind, run_started_at=None, resume_url=None
    )


async def _next(pages: AsyncIterator[Page[User]]) -> Page[User] | None:
    try:
        return await anext(pages)
    except StopAsyncIteration:
        return None


async def _pass(
    ctx: RunContext,
    state: SyncState,
    managers: dict[int, dt.datetime],
    *,
    start_url: str | None,
    updated_since: dt.datetime | None,
) -> SyncState:
    """One listing, committed page by page; returns the state after its last page."""
    pages = ctx.client.user_pages(
        updated_since=updated_since, per_page=ctx.options.per_page, start_url=start_url
    )
    fetch: asyncio.Task[Page[User] | None] | None = asyncio.create_task(_next(pages))
    total: int | None = None
    try:
        while fetch is not None:
            page = await fetch
            fetch = None
            if page is None:
                break
            if page.next_url is not None:
                # Pipelining: the next page travels while this one commits.
                fetch = asyncio.create_task(_next(pages))
            ctx.report.pages += 1
            ctx.report.requests += 1
            ctx.report.users_seen += len(page.items)
            if total is None and page.total_entries is not None:
                total = page.total_entries
            state, events = await blocking(functools.partial(_commit, ctx, state, page, managers))
            ctx.pages_committed += 1
            ctx.count(events)
            for user in page.items:
                if user.is_people_manager:
                    managers[user.id] = user.updated_at
                else:
                    managers.pop(user.id, None)
            if ctx.progress is not None:
                ctx.progress("users", ctx.report.users_seen, total)
    finally:
        if fetch is not None:
            fetch.cancel()
            with contextlib.suppress(BaseException):
                await fetch
        closer = getattr(pages, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()
    if state.in_progress:
        # The listing ended without a final page (it cannot with a well-behaved server).
        raise SyncError(
            "the user listing ended before its last page",
            hint="Run the sync again; it resumes from the last committed page.",
        )
    return state


def _due(
    ctx: RunContext, users: list[User], managers: dict[int, dt.datetime], *, full: bool
) -> set[int]:
    """Managers whose teammate lists this page makes due: on a full run every people manager;
    otherwise those whose record changed (a changed teammate list touches its manager's
    ``updated_at``), and former people managers, whose lists Harvest emptied (§6.3)."""
    if ctx.options.teammates == "off":
        return set()
    due: set[int] = set()
    for user in users:
        if not (user.is_people_manager or user.id in managers):
            continue
        if full or ctx.options.teammates == "all" or managers.get(user.id) != user.updated_at:
            due.add(user.id)
    return due


def _commit(
    ctx: RunContext, state: SyncState, page: Page[User], managers: dict[int, dt.datetime]
) -> tuple[SyncState, list[ChangeEvent]]:
    """One page in one fenced transaction: rows, events, tombstones after a full run's last
    page, the resume point and the teammate lists made due."""
    cid = ctx.connection.id
    full = state.run_kind == "full"
    done = page.next_url is None
    due = _due(ctx, page.items, managers, full=full)
    # A full run tags every row it sees with its run id; the tombstone pass needs it.
    run_tag = state.run_id if full else None
    observed = ctx.clock()
    run_started_at = state.run_started_at or _server_time(page.server_date, page.items)
    with ctx.store.transaction() as tx:
        tx.check_lease(ctx.lease.lease)
        events = tx.apply_users(cid, page.items, observed_at=observed, source="sync", run_id=run_tag)
        if done and full and state.run_id:
            # Only here: this run holds the lease and tagged every user the listing returned.
            events += tx.tombstone_missing_users(cid, state.run_id, observed_at=observed)
        changed = {e.harvest_id for e in events if e.resource == "user" and e.kind != "deleted"}
        due |= {u.id for u in page.items if u.id in changed and u.is_people_manager}
        if done and ctx.options.teammates == "all":
            due |= set(people_managers(tx, cid))
        after = _advance(state, page.next_url, run_started_at, observed, done=done)
        if due and ctx.options.teammates != "off":
            after = dataclasses.replace(after, pending_teammates=after.pending_teammates | due)
        tx.save_sync_state(after)
    return after, events


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
