"""``thresher users show`` for people: values as people read them, and the user's relations.

Manager, teammates and roles come from the mirror (no request). Project assignments live only in
Harvest, so they cost one request (``GET /v2/users/{id}/project_assignments``, one page per 100
assignments, docs/harvest-api.md §7.3); ``--offline`` skips it, and a failure shows why instead of
failing the whole command.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from decimal import Decimal

from thresher._errors import ThresherError
from thresher.connections import ResolvedConnection, open_client
from thresher.harvest import PEOPLE_MANAGER, ProjectAssignment, UnknownTimezoneError, harvest_to_iana
from thresher.store import Store, StoredUser

from ._json import amount

__all__ = ["managers_of", "project_assignments", "user_view"]


def _when(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{amount(value)} per hour"


def _person(user: StoredUser) -> str:
    return f"{user.full_name} <{user.email}> (id {user.harvest_id})"


def _capacity(seconds: int | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:g} h a week"


def _timezone(name: str | None) -> str:
    if not name:
        return "-"
    with contextlib.suppress(UnknownTimezoneError, KeyError):
        return f"{name} ({harvest_to_iana(name)})"
    return name


def managers_of(store: Store, connection_id: int, user_id: int) -> list[StoredUser]:
    """The people managers whose teammates include ``user_id``, as the mirror knows them."""
    return [
        manager
        for manager in store.list_users(connection_id, access_role=PEOPLE_MANAGER)
        if user_id in store.get_teammates(connection_id, manager.harvest_id)
    ]


def project_assignments(
    store: Store, resolved: ResolvedConnection, user_id: int
) -> list[ProjectAssignment] | str:
    """The user's active project assignments from Harvest, or why they could not be read."""

    async def fetch() -> list[ProjectAssignment]:
        async with open_client(store, resolved) as client:
            return [a async for a in client.list_project_assignments(user_id)]

    try:
        return asyncio.run(fetch())
    except ThresherError as exc:
        return f"(unavailable: {exc})"


def _people(store: Store, connection_id: int, ids: list[int]) -> list[str]:
    found = [store.get_user(connection_id, i, include_deleted=True) for i in ids]
    return [_person(u) if u else f"user {i} (not in the mirror)" for i, u in zip(ids, found, strict=True)]


def user_view(
    store: Store, user: StoredUser, projects: list[ProjectAssignment] | str
) -> list[str]:
    """Plain lines: a heading, then a label and its value(s) per line, aligned."""
    conn_id = user.connection_id
    status: str = user.status
    if user.deleted_at is not None:
        status = f"deleted (gone from Harvest since {_when(user.deleted_at)})"
    rows: list[tuple[str, str | list[str]]] = [
        ("id", str(user.harvest_id)),
        ("status", status),
        ("access roles", ", ".join(user.access_roles) or "-"),
        ("roles", ", ".join(user.roles) or "-"),
        ("manager", [_person(m) for m in managers_of(store, conn_id, user.harvest_id)] or "-"),
    ]
    if PEOPLE_MANAGER in user.access_roles:
        teammates = _people(store, conn_id, store.get_teammates(conn_id, user.harvest_id))
        rows.append(("teammates", teammates or "-"))
    if isinstance(projects, str):
        rows.append(("projects", projects))
    else:
        rows.append(("projects", [
            f"{a.project.name} (id {a.project.id})"
            + (f", client {a.client.name}" if a.client else "")
            + (", project manager" if a.is_project_manager else "")
            for a in projects
        ] or "-"))
    rows += [
        ("timezone", _timezone(user.timezone)),
        ("weekly capacity", _capacity(user.weekly_capacity)),
        ("billable rate", _money(user.default_hourly_rate)),
        ("cost rate", _money(user.cost_rate)),
        ("contractor", "yes" if user.is_contractor else "no"),
        ("all future projects", "yes" if user.has_access_to_all_future_projects else "no"),
        ("telephone", user.telephone or "-"),
        ("created", _when(user.created_at)),
        ("updated", _when(user.updated_at)),
        ("mirrored", f"first seen {_when(user.first_seen_at)}, last seen {_when(user.last_seen_at)}"),
    ]
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"{user.full_name} <{user.email}>"]
    for label, value in rows:
        values = value if isinstance(value, list) else [value]
        lines.append(f"{label:<{width}}{values[0]}")
        lines += [f"{'':<{width}}{more}" for more in values[1:]]
    return lines
