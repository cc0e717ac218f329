"""Applying a roster plan through write-through, in dependency order.

Stages: restores (archived names are frozen, docs/harvest-api.md gotcha 3; updates go through
``edit_user``), creates, updates, rates, teammate sets (managers exist and are managers by then),
roles (after their members exist), archives. Apply is idempotent and converges after an
interruption: the caller re-plans from a fresh sync, which sees whatever an interrupted run
created, and the client never re-sends an ambiguous create.

What Harvest changed since the mirror was read is absorbed, not fatal: a create whose email is
taken by then (someone created the user out of band, gotcha 2) adopts that user and brings it to
the row's values; an archive answered 404 (the user was deleted in Harvest directly) records the
user as deleted in the mirror.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from thresher._errors import ThresherError
from thresher.harvest import NotFoundError, User, UserCreate, UserUpdate

from ._lifecycle import edit_user
from ._roster import Change, Plan, _field_diffs, _money_equal, _wire
from ._roster_file import RosterRow
from ._writes import WriteThrough

__all__ = ["Progress", "apply_plan"]

#: ``progress(done, total)`` after each change.
Progress = Callable[[int, int], None]
#: Stages in the order they run; changes within a stage are independent.
STAGES = ("restore", "create", "update", "rate", "teammates", "role", "archive")


async def apply_plan(
    writes: WriteThrough, plan: Plan, *, concurrency: int = 32, progress: Progress | None = None
) -> dict[str, int]:
    """Carry out ``plan`` in dependency order; independent writes of one stage run together (the
    client's shared limiter paces them to Harvest's rate limit). Returns what was done, by kind:
    the plan's actions, plus ``adopted`` (a create whose user already existed) and ``gone`` (an
    archive of a user deleted in Harvest)."""
    total, done = len(plan.changes), 0
    applied: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    conn_id = writes.connection.id

    def user_id(email: str) -> int:
        if email.startswith("#"):
            return int(email[1:])
        found = writes.store.find_user_by_email(conn_id, email)
        if found is None:  # pragma: no cover - created earlier in this apply
            raise ThresherError(f"{email} is not in the mirror after its create")
        return found.harvest_id

    async def run(change: Change) -> None:
        nonlocal done
        async with gate:
            outcome = await _one(writes, change, user_id)
        applied[outcome] = applied.get(outcome, 0) + 1
        done += 1
        if progress is not None:
            progress(done, total)

    for stage in STAGES:
        batch = [c for c in plan.changes if c.action == stage]
        if batch:
            await asyncio.gather(*(run(c) for c in batch))
    return applied


async def _one(writes: WriteThrough, change: Change, user_id: Callable[[str], int]) -> str:
    uid = change.user_id
    if change.action == "create":
        user, created = await writes.create_or_find_user(UserCreate.model_validate(change.body))
        if not created:
            await _adopt(writes, user, change.body)
            return "adopted"
    elif change.action == "restore":
        assert uid is not None
        await writes.restore_user(uid)
    elif change.action == "archive":
        assert uid is not None
        try:
            await writes.archive_user(uid)
        except NotFoundError:
            # Deleted in Harvest directly since the mirror saw it: record that and go on.
            with writes.store.transaction() as tx:
                tx.mark_user_deleted(
                    writes.connection.id, uid, observed_at=dt.datetime.now(dt.UTC), source=writes.source
                )
            return "gone"
    elif change.action == "update":
        assert uid is not None
        # The restores ran in an earlier stage, so edit_user restores nobody here; it still
        # holds the rule should a plan ever ask to rename a user who is archived.
        body = UserUpdate.model_validate(change.body)
        current = writes.store.get_user(writes.connection.id, uid)
        if current is None:  # pragma: no cover - the plan was made from the mirror just now
            await writes.update_user(uid, body)
        else:
            await edit_user(writes, current, body)
    elif change.action == "rate":
        assert uid is not None
        for key, (_, amount) in change.diffs.items():
            if key == "billable_rate":
                await writes.create_billable_rate(uid, amount)
            else:
                await writes.create_cost_rate(uid, amount)
    elif change.action == "teammates":
        manager = uid if uid is not None else user_id(change.email)
        wanted = change.diffs["teammates"][1]
        await writes.set_teammates(manager, sorted(user_id(k) for k in wanted))
    elif change.action == "role":
        members = sorted(user_id(k) for k in change.diffs["members"][1])
        if uid is None:
            await writes.create_role(change.email, members)
        else:
            await writes.update_role(uid, user_ids=members)
    return change.action


def _row_from_create(body: Mapping[str, Any]) -> RosterRow:
    roles = body.get("access_roles")
    return RosterRow(
        line=0,
        email=body["email"],
        first_name=body["first_name"],
        last_name=body["last_name"],
        access_roles=tuple(roles) if roles is not None else None,
        weekly_capacity=body.get("weekly_capacity"),
        timezone=body.get("timezone"),
        is_contractor=body.get("is_contractor"),
        active=body.get("is_active") is not False,
    )


async def _adopt(writes: WriteThrough, user: User, body: Mapping[str, Any]) -> bool:
    """Bring a user that already existed to what the create asked for: the same update, restore
    and rate steps a plan made against a fresh mirror would have held. Returns whether anything
    had to change."""
    current = writes.store.get_user(writes.connection.id, user.id)
    if current is None:  # pragma: no cover - create_or_find_user recorded it just now
        raise ThresherError(f"{user.email} is not in the mirror after being looked up")
    row = _row_from_create(body)
    diffs = _field_diffs(row, current)
    changes = UserUpdate.model_validate({k: _wire(k, after) for k, (_, after) in diffs.items()})
    changed = bool(diffs) or row.active != current.is_active
    if changed:
        await edit_user(writes, current, changes, active=row.active)
    for key, write in (("default_hourly_rate", writes.create_billable_rate),
                       ("cost_rate", writes.create_cost_rate)):
        wanted = body.get(key)
        if wanted is not None and not _money_equal(getattr(current, key), Decimal(str(wanted))):
            await write(user.id, wanted)
            changed = True
    return changed
