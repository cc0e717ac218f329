"""Harvest fields as the store tracks them: column values, JSON-safe values and diffs.

The change log and snapshots carry JSON-safe values so they can be stored, printed with --json
and compared without caring which database they came from:
- decimals are canonical strings (``"100"``, ``"37.5"``; see ``canonical_decimal``), never floats,
  so amounts stay exact;
- datetimes are ISO 8601 strings in UTC (``"2024-01-02T03:04:05+00:00"``).

``updated_at`` is stored on the row but is *not* a tracked field: Harvest bumps it for changes the
user object does not show, and a change log full of "updated_at changed" entries would bury the
real ones. Snapshots and events therefore leave it out; ``StoredUser.updated_at`` still has it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from thresher.harvest import User, normalize_email

from ._types import canonical_decimal

__all__ = [
    "ROLE_FIELDS",
    "USER_FIELDS",
    "field_changes",
    "iso",
    "role_fields",
    "user_columns",
    "user_fields",
    "user_snapshot",
]

#: The Harvest user fields the change log tracks (docs/harvest-api.md §6.2, less ``id``/``updated_at``).
USER_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "telephone",
    "timezone",
    "has_access_to_all_future_projects",
    "is_contractor",
    "is_active",
    "weekly_capacity",
    "default_hourly_rate",
    "cost_rate",
    "roles",
    "access_roles",
    "avatar_url",
    "created_at",
)

#: The role fields the change log tracks (§7.5, less ``id``/``updated_at``).
ROLE_FIELDS: tuple[str, ...] = ("name", "user_ids", "created_at")


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else canonical_decimal(value)


def user_columns(user: User) -> dict[str, Any]:
    """The ``users`` column values Harvest's user object determines."""
    return {
        "harvest_id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "email_lower": normalize_email(user.email),
        "telephone": user.telephone,
        "timezone": user.timezone,
        "has_access_to_all_future_projects": user.has_access_to_all_future_projects,
        "is_contractor": user.is_contractor,
        "is_active": user.is_active,
        "weekly_capacity": user.weekly_capacity,
        "default_hourly_rate": user.default_hourly_rate,
        "cost_rate": user.cost_rate,
        "roles": list(user.roles),
        "access_roles": list(user.access_roles),
        "avatar_url": user.avatar_url,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def user_fields(columns: Mapping[Any, Any]) -> dict[str, Any]:
    """The tracked fields, JSON-safe, from ``users`` column values (a row or ``user_columns``)."""
    # Spelled out rather than looped over USER_FIELDS: this runs for every row of every page.
    return {
        "first_name": columns["first_name"],
        "last_name": columns["last_name"],
        "email": columns["email"],
        "telephone": columns["telephone"],
        "timezone": columns["timezone"],
        "has_access_to_all_future_projects": bool(columns["has_access_to_all_future_projects"]),
        "is_contractor": bool(columns["is_contractor"]),
        "is_active": bool(columns["is_active"]),
        "weekly_capacity": columns["weekly_capacity"],
        "default_hourly_rate": _dec(columns["default_hourly_rate"]),
        "cost_rate": _dec(columns["cost_rate"]),
        "roles": list(columns["roles"]),
        "access_roles": list(columns["access_roles"]),
        "avatar_url": columns["avatar_url"],
        "created_at": iso(columns["created_at"]),
    }


def user_snapshot(user: User) -> dict[str, Any]:
    """A Harvest user as ``Store.snapshot_users`` shows it: compare a mirror with its source."""
    # ``user_fields(user_columns(user))``, spelled out: every new or changed user of a page runs
    # it, and the intermediate dict would be garbage at once.
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "telephone": user.telephone,
        "timezone": user.timezone,
        "has_access_to_all_future_projects": bool(user.has_access_to_all_future_projects),
        "is_contractor": bool(user.is_contractor),
        "is_active": bool(user.is_active),
        "weekly_capacity": user.weekly_capacity,
        "default_hourly_rate": _dec(user.default_hourly_rate),
        "cost_rate": _dec(user.cost_rate),
        "roles": list(user.roles),
        "access_roles": list(user.access_roles),
        "avatar_url": user.avatar_url,
        "created_at": iso(user.created_at),
    }


def role_fields(name: str, user_ids: set[int] | list[int], created_at: dt.datetime) -> dict[str, Any]:
    return {"name": name, "user_ids": sorted(set(user_ids)), "created_at": iso(created_at)}


def field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, fields: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """``{field: {"before": b, "after": a}}`` for the fields that differ (all of them when one
    side is None: a creation or a deletion)."""
    if before is None:
        assert after is not None
        return {f: {"before": None, "after": after[f]} for f in fields}
    if after is None:
        return {f: {"before": before[f], "after": None} for f in fields}
    return {
        f: {"before": before[f], "after": after[f]} for f in fields if before[f] != after[f]
    }
