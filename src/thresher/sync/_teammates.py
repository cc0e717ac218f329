"""The teammates phase: the pending managers' lists, read concurrently, each committed as it
arrives together with its removal from the pending set.

Teammates are per manager in Harvest (docs/harvest-api.md §7.1), one request each. Which
managers still need reading is ``SyncState.pending_teammates``, saved with the user page that
made them due, so an interrupted phase resumes with exactly the lists it had not committed.
"""

from __future__ import annotations

import asyncio
import dataclasses

from thresher.harvest import NotFoundError, UnprocessableError
from thresher.store import USERS_RESOURCE, ChangeEvent

from ._context import RunContext, blocking, first_error
from ._users import people_managers

__all__ = ["pending_count", "sync_teammates"]


async def sync_teammates(ctx: RunContext) -> None:
    cid = ctx.connection.id
    state = await blocking(lambda: ctx.store.get_sync_state(cid, USERS_RESOURCE))
    pending = sorted(state.pending_teammates)
    if not pending:
        return
    managers = await blocking(lambda: people_managers(ctx.store, cid))
    to_read = [m for m in pending if m in managers]
    others = [m for m in pending if m not in managers]
    if others:
        ctx.count(await blocking(lambda: _settle_others(ctx, others)))
    gate = asyncio.Semaphore(max(1, ctx.options.teammate_concurrency))
    done = 0

    async def read(manager_id: int) -> None:
        nonlocal done
        async with gate:
            ids: list[int] | None
            try:
                ids = [t.id async for t in ctx.client.list_teammates(manager_id)]
            except UnprocessableError:
                ids = []  # no longer a manager since its page was read: Harvest emptied it (§6.3)
            except NotFoundError:
                ids = None  # deleted since; the next full run tombstones it
        ctx.report.requests += 1
        events = await blocking(lambda: _commit(ctx, manager_id, ids))
        ctx.lists_committed += 1
        ctx.report.teammate_lists += 1
        ctx.count(events)
        done += 1
        if ctx.progress is not None:
            ctx.progress("teammates", done, len(to_read))

    await first_error(read(m) for m in to_read)


def _commit(ctx: RunContext, manager_id: int, teammate_ids: list[int] | None) -> list[ChangeEvent]:
    cid = ctx.connection.id
    with ctx.store.transaction() as tx:
        # The fencing check comes first: on PostgreSQL it also locks the lease row, which orders
        # this run's concurrent commits, so each re-reads the pending set the previous one saved.
        tx.check_lease(ctx.lease.lease)
        events: list[ChangeEvent] = []
        if teammate_ids is not None:
            events = tx.set_teammates(
                cid, manager_id, teammate_ids, observed_at=ctx.clock(), source="sync"
            )
        state = tx.get_sync_state(cid, USERS_RESOURCE)
        tx.save_sync_state(
            dataclasses.replace(state, pending_teammates=state.pending_teammates - {manager_id})
        )
    return events


def _settle_others(ctx: RunContext, manager_ids: list[int]) -> list[ChangeEvent]:
    """Pending managers the mirror no longer holds as people managers: a live one lost its
    teammates with the role (§6.3), so its list is emptied without a request; a deleted one is
    dropped."""
    cid = ctx.connection.id
    events: list[ChangeEvent] = []
    with ctx.store.transaction() as tx:
        tx.check_lease(ctx.lease.lease)
        for manager_id in manager_ids:
            if tx.get_user(cid, manager_id) is not None and tx.get_teammates(cid, manager_id):
                events += tx.set_teammates(cid, manager_id, [], observed_at=ctx.clock(), source="sync")
        state = tx.get_sync_state(cid, USERS_RESOURCE)
        tx.save_sync_state(
            dataclasses.replace(state, pending_teammates=state.pending_teammates - set(manager_ids))
        )
    return events


def pending_count(ctx: RunContext) -> int:
    return len(ctx.store.get_sync_state(ctx.connection.id, USERS_RESOURCE).pending_teammates)
