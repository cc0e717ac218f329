"""The declarative roster: plan a validated roster against the store (``_apply`` applies it).

Planning reads only the store (0 API requests; docs/architecture.md: plans are computed before
any write so a dry run costs nothing); the caller decides how fresh the mirror must be. Files are
read by ``_roster_file``; saved plans are ``_saved_plan``'s.

A prune is guarded: an empty file never archives anybody, and a plan that would archive more
than ``max_archive`` users (default ``default_max_archive``) is refused until the limit is raised
explicitly, so a failed HR export cannot take the company offline. The token's own user is
never planned for archiving.
"""


from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from thresher.harvest import PEOPLE_MANAGER
from thresher.store import Store, StoredUser

from ._lifecycle import FROZEN_WHEN_ARCHIVED
from ._ops import ProvisionError
from ._roster_file import RosterRow, email_key

__all__ = [
    "Change", "Plan", "PruneRefusedError", "default_max_archive", "make_plan", "membership_diff",
]


class PruneRefusedError(ProvisionError):
    """A prune that looks like a mistake: an empty file, or more archives than allowed."""


def default_max_archive(active_users: int) -> int:
    """The most users one prune may archive unless raised: 10, or 10 % of the active roster."""
    return max(10, math.ceil(active_users / 10))


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
            "changes": {k: _diff_json(k, a, b) for k, (a, b) in self.diffs.items()},
        }


#: Membership lists: shown as who joins and who leaves, never as two whole lists.
MEMBERSHIP = ("members", "teammates")


def membership_diff(before: Any, after: Any) -> tuple[list[str], list[str]]:
    """``(added, removed)`` of a membership diff, sorted."""
    b, a = set(before or ()), set(after or ())
    return sorted(str(v) for v in a - b), sorted(str(v) for v in b - a)


def _diff_json(key: str, before: Any, after: Any) -> dict[str, Any]:
    if key in MEMBERSHIP:
        added, removed = membership_diff(before, after)
        return {"add": added, "remove": removed}
    return {"from": _j(before), "to": _j(after)}


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
    max_archive: int | None = None,
) -> Plan:
    """Compare the file with the mirror: no Harvest request.

    ``own_user_id``: the token's owner, never archived (the caller asks Harvest when the
    connection has not recorded it and the plan archives anyone). A prune refuses
    (``PruneRefusedError``) an empty file, and more archives than ``max_archive``.
    """
    if prune and not rows:
        raise PruneRefusedError(
            "the roster file lists nobody, and --prune would archive every active user",
            hint="Check the export that produced the file; nothing was planned.",
        )
    users = store.list_users(connection_id)
    by_email = {email_key(u.email): u for u in users}
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
                plan.warnings.append(
                    f"{row.email} is marked inactive in the file but is the token's own user; "
                    "left active"
                )
            else:
                archives.append(Change("archive", row.email, {"active": (True, False)}, uid))
    if prune:
        in_file = {r.key for r in rows}
        for u in users:
            if u.is_active and email_key(u.email) not in in_file and u.harvest_id != own_user_id:
                archives.append(Change("archive", u.email, {"active": (True, False)}, u.harvest_id))
        active = sum(1 for u in users if u.is_active)
        limit = default_max_archive(active) if max_archive is None else max_archive
        if len(archives) > limit:
            raise PruneRefusedError(
                f"this prune would archive {len(archives)} of {active} active users, more than "
                f"the limit of {limit}; nothing was planned",
                hint=f"If that is intended, pass --max-archive {len(archives)}.",
            )
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
    managed = {r.key: email_key(r.manager_email) for r in rows if r.manager_email}
    if not managed:
        return []  # the file places nobody: every team stays as it is
    managers = set(managed.values())
    for u in by_email.values():
        if PEOPLE_MANAGER in u.access_roles:
            managers.add(email_key(u.email))
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
