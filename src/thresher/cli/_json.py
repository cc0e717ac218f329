"""One JSON shape per record type, whatever produced the record (docs/cli-json.md).

A user printed by ``users show`` (read from the mirror) and by ``users update`` (Harvest's answer)
goes through the same ``user_json``, so scripts see the same keys and value formats:

- amounts (rates, budgets) are decimal strings in one canonical form, ``"150"``, ``"80.5"``: exact,
  and equal amounts print equal (``Decimal("150.0")`` and ``Decimal("150")`` are both ``"150"``);
- timestamps are UTC, to the second, with ``Z``: ``"2026-01-02T03:04:05Z"``; dates ``"2026-01-02"``;
- a field the source does not know is ``null``, never left out.
"""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thresher.harvest import (
        ProjectAssignment,
        ProjectRef,
        Rate,
        Role,
        Teammate,
        User,
        UserAssignment,
    )
    from thresher.store import ChangeEvent, StoredRole, StoredUser

__all__ = [
    "amount",
    "assignment_json",
    "event_json",
    "person_json",
    "rate_json",
    "role_json",
    "timestamp",
    "user_assignment_json",
    "user_json",
]

#: Fields of the change log whose values are timestamps (the log stores ``+00:00`` strings).
_TIMESTAMP_FIELDS = frozenset({"created_at", "updated_at", "deleted_at"})


def timestamp(value: dt.datetime | None) -> str | None:
    """``2026-01-02T03:04:05Z``: UTC, to the second."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def amount(value: Decimal | None) -> str | None:
    """The canonical text of an amount: ``"150"``, ``"80.5"``, ``"0"``."""
    if value is None:
        return None
    return "0" if value.is_zero() else format(value.normalize(), "f")


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def user_json(user: User | StoredUser) -> dict[str, Any]:
    """A user, from Harvest or from the mirror. ``status`` is active, archived or deleted; the
    mirror's own fields (``deleted_at``, ``first_seen_at``, ``last_seen_at``) are null for a user
    that only Harvest's answer describes."""
    from thresher.store import StoredUser

    stored = user if isinstance(user, StoredUser) else None
    status = stored.status if stored else ("active" if user.is_active else "archived")
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "telephone": user.telephone or None,
        "timezone": user.timezone,
        "has_access_to_all_future_projects": bool(user.has_access_to_all_future_projects),
        "is_contractor": bool(user.is_contractor),
        "is_active": bool(user.is_active),
        "status": status,
        "weekly_capacity": user.weekly_capacity,
        "default_hourly_rate": amount(user.default_hourly_rate),
        "cost_rate": amount(user.cost_rate),
        "roles": list(user.roles),
        "access_roles": list(user.access_roles),
        "avatar_url": user.avatar_url,
        "created_at": timestamp(user.created_at),
        "updated_at": timestamp(user.updated_at),
        "deleted_at": timestamp(stored.deleted_at) if stored else None,
        "first_seen_at": timestamp(stored.first_seen_at) if stored else None,
        "last_seen_at": timestamp(stored.last_seen_at) if stored else None,
    }


def person_json(person: Teammate | User | StoredUser) -> dict[str, Any]:
    """A reference to a person (a teammate, a manager): id, names and email."""
    return {
        "id": person.id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
    }


def role_json(role: Role | StoredRole) -> dict[str, Any]:
    """A business role and its members' user ids (ascending)."""
    from thresher.store import StoredRole

    stored = role if isinstance(role, StoredRole) else None
    return {
        "id": role.harvest_id if isinstance(role, StoredRole) else role.id,
        "name": role.name,
        "user_ids": sorted(role.user_ids),
        "created_at": timestamp(role.created_at),
        "updated_at": timestamp(role.updated_at),
        "deleted_at": timestamp(stored.deleted_at) if stored else None,
    }


def rate_json(rate: Rate) -> dict[str, Any]:
    """A billable or cost rate."""
    return {
        "id": rate.id,
        "amount": amount(rate.amount),
        "start_date": _date(rate.start_date),
        "end_date": _date(rate.end_date),
        "created_at": timestamp(rate.created_at),
        "updated_at": timestamp(rate.updated_at),
    }


def _project(project: ProjectRef) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "code": project.code}


def assignment_json(assignment: ProjectAssignment) -> dict[str, Any]:
    """A user's project assignment (the project, its client, and the user's terms on it)."""
    client = assignment.client
    return {
        "id": assignment.id,
        "project": _project(assignment.project),
        "client": None if client is None else {"id": client.id, "name": client.name},
        "is_active": assignment.is_active,
        "is_project_manager": assignment.is_project_manager,
        "use_default_rates": assignment.use_default_rates,
        "hourly_rate": amount(assignment.hourly_rate),
        "budget": amount(assignment.budget),
        "created_at": timestamp(assignment.created_at),
        "updated_at": timestamp(assignment.updated_at),
    }


def user_assignment_json(assignment: UserAssignment) -> dict[str, Any]:
    """A project's assignment of one user (``assign``): the project, the user, and their terms."""
    return {
        "id": assignment.id,
        "project": _project(assignment.project),
        "user": {"id": assignment.user.id, "name": assignment.user.name},
        "is_active": assignment.is_active,
        "is_project_manager": assignment.is_project_manager,
        "use_default_rates": assignment.use_default_rates,
        "hourly_rate": amount(assignment.hourly_rate),
        "budget": amount(assignment.budget),
        "created_at": timestamp(assignment.created_at),
        "updated_at": timestamp(assignment.updated_at),
    }


def _reformat(field: str, value: Any) -> Any:
    if field in _TIMESTAMP_FIELDS and isinstance(value, str):
        try:
            return timestamp(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


def event_json(event: ChangeEvent) -> dict[str, Any]:
    """A change-log entry; timestamps inside ``changes`` take the same form as everywhere."""
    return {
        "id": event.id,
        "connection_id": event.connection_id,
        "resource": event.resource,
        "harvest_id": event.harvest_id,
        "kind": event.kind,
        "changes": {
            field: {side: _reformat(field, v) for side, v in change.items()}
            for field, change in event.changes.items()
        },
        "observed_at": timestamp(event.observed_at),
        "source": event.source,
    }
