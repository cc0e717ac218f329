"""Harvest objects for the store's tests, shaped like Harvest's JSON (docs/harvest-api.md §6.2, §7.5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from thresher.harvest._models import Role, User

T0 = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    """``T0`` plus ``seconds``: observation times that read well in assertions."""
    return T0 + dt.timedelta(seconds=seconds)


def user_json(harvest_id: int, **fields: Any) -> dict[str, Any]:
    """A user as ``GET /v2/users/{id}`` returns it (§6.2)."""
    data: dict[str, Any] = {
        "id": harvest_id,
        "first_name": f"First{harvest_id}",
        "last_name": f"Last{harvest_id}",
        "email": f"user{harvest_id}@example.com",
        "telephone": "",
        "timezone": "Eastern Time (US & Canada)",
        "has_access_to_all_future_projects": False,
        "is_contractor": False,
        "is_active": True,
        "weekly_capacity": 126000,
        "default_hourly_rate": 100.0,
        "cost_rate": 50.25,
        "roles": [],
        "access_roles": ["member"],
        "avatar_url": f"https://cache.harvestapp.com/assets/profile_images/{harvest_id}.png",
        "created_at": "2020-01-01T09:00:00Z",
        "updated_at": "2020-01-01T09:00:00Z",
    }
    data.update(fields)
    return data


def make_user(harvest_id: int, **fields: Any) -> User:
    return User.model_validate(user_json(harvest_id, **fields))


def changed(user: User, **fields: Any) -> User:
    """``user`` with some fields changed (and, like Harvest, a later ``updated_at``)."""
    data = user.model_dump(mode="json")
    data["updated_at"] = (user.updated_at + dt.timedelta(minutes=1)).isoformat()
    data.update(fields)
    return User.model_validate(data)


def make_role(harvest_id: int, name: str, user_ids: list[int] | None = None, **fields: Any) -> Role:
    data: dict[str, Any] = {
        "id": harvest_id,
        "name": name,
        "user_ids": user_ids or [],
        "created_at": "2021-05-01T12:00:00Z",
        "updated_at": "2021-05-01T12:00:00Z",
    }
    data.update(fields)
    return Role.model_validate(data)
