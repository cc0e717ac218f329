"""The declarative roster: plan a validated roster against the store, then apply the plan.

Planning reads only the store (0 API requests; docs/architecture.md: plans are computed before
any write so a dry run costs nothing). Apply re-plans from a fresh sync, then writes in dependency
order through ``WriteThrough``: restores (archived names are frozen, §8.3; updates go through
``edit_user``), creates, updates, rates, teammate sets (managers exist and are managers by then),
roles (after their members exist), archives. Apply is idempotent and converges after an
interruption: the re-run's sync sees whatever the interrupted run created, and the client never
re-sends an ambiguous create. Files are read by ``_roster_file``.
"""


from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from thresher._errors import ThresherError
from thresher.harvest import (
    PEOPLE_MANAGER,
    UserCreate,
    UserUpdate,
    normalize_email,
)
from thresher.store import Store, StoredUser

from ._lifecycle import FROZEN_WHEN_ARCHIVED, edit_user
from ._roster_file import RosterRow
from ._writes import WriteThrough

__all__ = ["Change", "Plan", "apply_plan", "make_plan"]


# -- plan ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Change:
    """One step of a plan."""

    action: str  # create | update | restore | archive | rate | teammates | role
    email: str  # the user (or manager, or role name for role changes)
    diffs: dict[str, tuple[Any, Any]] = dataclasses.field(default_factory=dict)
    user_id: int | None = None
    body: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": self.email,
            "user_id": self.user_id,
            "changes": {k: {"from": _j(a), "to": _j(b)} for k, (a, b) in self.diffs.items()},
        }


def _j(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | frozenset | set):
        return sorted(str(v) for v in value)
    return value


@dataclasses.dataclass
class Plan:
    changes: list[Change]
    warnings: list[str] = dataclasses.field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.changes:
            counts[c.action] = counts.get(c.action, 0) + 1
        return counts

    @property
    def invitations(self) -> int:
        """Harvest emails an invitation on every create (gotcha 1)."""
        return sum(1 for c in self.changes if c.action == "create")

    def __bool__(self) -> bool:
        return bool(self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.as_dict() for c in self.changes],
            "counts": self.counts(),
            "invitations": self.invitations,
            "warnings": self.warnings,
        }


def _access(roles: Iterable[str]) -> frozenset[str]:
    return frozenset(r for r in roles if r != PEOPLE_MANAGER)


def _money_equal(current: Decimal | None, wanted: Decimal) -> bool:
    return (current or Decimal(0)) == wanted


def make_plan(
    store: Store,
    connection_id: int,
    rows: Sequence[RosterRow],
    *,
    prune: bool = False,
    own_user_id: int | None = None,
) -> Plan:
    """Compare the file with the mirror: no Harvest request."""
    users = store.list_users(connection_id)
    by_email = {normalize_email(u.email): u for u in users}
    plan = Plan([])
    creates, restores, updates, rates, archives = [], [], [], [], []
    for row in rows:
        current = by_email.get(row.key)
        if current is None:
            body: dict[str, Any] = {
                "email": row.email, "first_name": row.first_name, "last_name": row.last_name,
            }
            optional = {
                "access_roles": list(row.access_roles) if row.access_roles else None,
                "weekly_capacity": row.weekly_capacity, "timezone": row.timezone,
                "is_contractor": row.is_contractor, "default_hourly_rate": row.billable_rate,
                "cost_rate": row.cost_rate, "is_active": False if not row.active else None,
            }
            body.update({k: v for k, v in optional.items() if v is not None})
            diffs = {k: (None, v) for k, v in body.items() if k != "email"}
            creates.append(Change("create", row.email, diffs, body=body))
            continue
        uid = current.harvest_id
        if row.active and not current.is_active:
            restores.append(Change("restore", row.email, {"active": (False, True)}, uid))
        diffs = _field_diffs(row, current)
        if diffs and not current.is_active and not row.active:
            # A user the file keeps archived is not restored to be renamed (the SCIM bridge
            # does that through edit_user): the frozen fields wait, with a warning.
            frozen = [k for k in diffs if k in FROZEN_WHEN_ARCHIVED]
            if frozen:
                plan.warnings.append(
                    f"{row.email} is archived and stays archived: Harvest freezes "
                    f"{', '.join(frozen)} of archived users, so those are left unchanged"
                )
                for key in frozen:
                    diffs.pop(key)
        if diffs:
            updates.append(Change("update", row.email, diffs, uid,
                                  body={k: _wire(k, v[1]) for k, v in diffs.items()}))
        if row.billable_rate is not None and not _money_equal(current.default_hourly_rate, row.billable_rate):
            rates.append(Change("rate", row.email,
                                {"billable_rate": (current.default_hourly_rate, row.billable_rate)}, uid))
        if row.cost_rate is not None and not _money_equal(current.cost_rate, row.cost_rate):
            rates.append(Change("rate", row.email, {"cost_rate": (current.cost_rate, row.cost_rate)}, uid))
        if not row.active and current.is_active:
            if uid == own_user_id:
                plan.warnings.append(f"{row.email} owns the token in use and is never archived")
            else:
                archives.append(Change("archive", row.email, {"active": (True, False)}, uid))
    if prune:
        if own_user_id is None:
            plan.warnings.append(
                "the token's own user is never archived; this connection has not recorded who "
                "that is, so 'apply' asks Harvest and skips them even if listed here"
            )
        in_file = {r.key for r in rows}
        for u in users:
            if u.is_active and normalize_email(u.email) not in in_file:
                if u.harvest_id == own_user_id:
                    plan.warnings.append(f"{u.email} owns the token in use and is never pruned")
                    continue
                archives.append(Change("archive", u.email, {"active": (True, False)}, u.harvest_id))
    plan.changes = [*restores, *creates, *updates, *rates, *_teammates(store, connection_id, rows, by_email),
                    *_roles(store, connection_id, rows, by_email), *archives]
    return plan


def _wire(key: str, value: Any) -> Any:
    if key == "access_roles":
        return sorted(value, key=lambda r: (r not in ("administrator", "manager", "member"), r))
    return value


def _field_diffs(row: RosterRow, current: StoredUser) -> dict[str, tuple[Any, Any]]:
    diffs: dict[str, tuple[Any, Any]] = {}
    if row.first_name != current.first_name:
        diffs["first_name"] = (current.first_name, row.first_name)
    if row.last_name != current.last_name:
        diffs["last_name"] = (current.last_name, row.last_name)
    if row.access_roles is not None and _access(row.access_roles) != _access(current.access_roles):
        diffs["access_roles"] = (_access(current.access_roles), frozenset(row.access_roles))
    if row.weekly_capacity is not None and row.weekly_capacity != current.weekly_capacity:
        diffs["weekly_capacity"] = (current.weekly_capacity, row.weekly_capacity)
    if row.timezone is not None and row.timezone != current.timezone:
        diffs["timezone"] = (current.timezone, row.timezone)
    if row.is_contractor is not None and row.is_contractor != current.is_contractor:
        diffs["is_contractor"] = (current.is_contractor, row.is_contractor)
    return diffs


def _teammates(
    store: Store, connection_id: int, rows: Sequence[RosterRow], by_email: Mapping[str, StoredUser]
) -> list[Change]:
    """Per manager: keep teammates the file does not place elsewhere, add those it places here."""
    managed = {r.key: normalize_email(r.manager_email) for r in rows if r.manager_email}
    if not managed:
        return []  # the file places nobody: every team stays as it is
    managers = set(managed.values())
    for u in by_email.values():
        if PEOPLE_MANAGER in u.access_roles:
            managers.add(normalize_email(u.email))
    ids = {u.harvest_id: k for k, u in by_email.items()}
    changes: list[Change] = []
    for manager in sorted(managers):
        stored_manager = by_email.get(manager)
        current = (
            {ids.get(t, f"#{t}") for t in store.get_teammates(connection_id, stored_manager.harvest_id)}
            if stored_manager else set()
        )
        wanted = {k for k in current if managed.get(k, manager) == manager}
        wanted |= {k for k, m in managed.items() if m == manager}
        if wanted != current:
            changes.append(Change(
                "teammates", manager, {"teammates": (frozenset(current), frozenset(wanted))},
                stored_manager.harvest_id if stored_manager else None,
            ))
    return changes


def _roles(
    store: Store, connection_id: int, rows: Sequence[RosterRow], by_email: Mapping[str, StoredUser]
) -> list[Change]:
    """Per role named in the file: members the file lists it for, plus members it does not manage."""
    ids = {u.harvest_id: k for k, u in by_email.items()}
    # Role names compare without case, as Harvest's uniqueness does (a second "crew" is refused).
    existing = {r.name.casefold(): r for r in store.list_roles(connection_id)}
    spelled: dict[str, str] = {}
    managed: dict[str, set[str]] = {}
    for row in rows:
        if row.roles is not None:
            managed[row.key] = {n.casefold() for n in row.roles}
            for name in row.roles:
                spelled.setdefault(name.casefold(), name)
    names = {n for roles in managed.values() for n in roles}
    names |= {n for n, role in existing.items() if any(ids.get(u) in managed for u in role.user_ids)}
    changes: list[Change] = []
    for name in sorted(names):
        role = existing.get(name)
        current = {ids.get(u, f"#{u}") for u in role.user_ids} if role else set()
        wanted = {k for k in current if k not in managed} | {k for k, rs in managed.items() if name in rs}
        if role is None or wanted != current:
            changes.append(Change(
                "role", role.name if role else spelled[name],
                {"members": (frozenset(current), frozenset(wanted))},
                role.harvest_id if role else None,
            ))
    return changes


# -- apply -----------------------------------------------------------------------------------

Progress = Callable[[int, int], None]


async def apply_plan(
    writes: WriteThrough, plan: Plan, *, concurrency: int = 32, progress: Progress | None = None
) -> dict[str, int]:
    """Carry out ``plan`` in dependency order; independent writes of one stage run together (the
    client's shared limiter paces them to Harvest's rate limit)."""
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
            await _one(writes, change, user_id)
        applied[change.action] = applied.get(change.action, 0) + 1
        done += 1
        if progress is not None:
            progress(done, total)

    stages = ("restore", "create", "update", "rate", "teammates", "role", "archive")
    for stage in stages:
        batch = [c for c in plan.changes if c.action == stage]
        if batch:
            await asyncio.gather(*(run(c) for c in batch))
    return applied


async def _one(writes: WriteThrough, change: Change, user_id: Callable[[str], int]) -> None:
    uid = change.user_id
    if change.action == "create":
        await writes.create_user(UserCreate.model_validate(change.body))
    elif change.action == "restore":
        assert uid is not None
        await writes.restore_user(uid)
    elif change.action == "archive":
        assert uid is not None
        await writes.archive_user(uid)
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
