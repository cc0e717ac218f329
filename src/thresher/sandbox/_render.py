"""Records to Harvest's JSON objects (docs/harvest-api.md §6.2, §7), in the docs' field order.

Derived fields are computed here: a user's ``roles`` names and ``people_manager``, a rate's
``end_date``. User JSON is cached per user (``SandboxState.user_json``) because listings of 2,000
users are the hot path; everything else is small and rendered on demand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import orjson

from ..harvest import PEOPLE_MANAGER
from ._clock import format_ts
from ._collector import collector_paused
from ._records import Project, Rate, Role, User, UserAssignment
from ._state import SandboxState

__all__ = [
    "company_dict",
    "project_assignment_dict",
    "rates_list",
    "role_dict",
    "teammate_dict",
    "user_assignment_dict",
    "user_bytes",
    "user_dict",
    "warm_user_json",
]


def user_dict(state: SandboxState, user: User) -> dict[str, Any]:
    access = user.access_roles
    if state.is_people_manager(user.id):
        access = [*access, PEOPLE_MANAGER]
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "telephone": user.telephone,
        "timezone": user.timezone,
        "has_access_to_all_future_projects": user.has_access_to_all_future_projects,
        "is_contractor": user.is_contractor,
        "is_active": user.is_active,
        "created_at": format_ts(user.created_at),
        "updated_at": format_ts(user.updated_at),
        "weekly_capacity": user.weekly_capacity,
        "default_hourly_rate": user.default_hourly_rate,
        "cost_rate": user.cost_rate,
        "roles": state.role_names(user.id),
        "access_roles": access,
        "avatar_url": user.avatar_url,
    }


def user_bytes(state: SandboxState, user: User) -> bytes:
    cached = state.user_json.get(user.id)
    if cached is None:
        # Copied to an exact-size object: orjson's result keeps its whole working buffer (about
        # 4 KB for a 550-byte user), which would make 100,000 cached users cost 800 MB, not 60.
        cached = state.user_json[user.id] = bytes(memoryview(orjson.dumps(user_dict(state, user))))
    return cached


def warm_user_json(state: SandboxState) -> None:
    """Serialise every user now (about 10 µs each), so that even the first listing of a large
    account joins cached JSON instead of rendering 2,000 users per page."""
    with collector_paused():
        for uid in state.user_ids:
            user_bytes(state, state.users[uid])


def teammate_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "first_name": user.first_name, "last_name": user.last_name, "email": user.email}


def role_dict(role: Role) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "created_at": format_ts(role.created_at),
        "updated_at": format_ts(role.updated_at),
        "user_ids": role.user_ids,
    }


def rates_list(rates: list[Rate]) -> list[dict[str, Any]]:
    """§7.2: each rate ends the day before the next one starts; the last has no end."""
    out = []
    for index, rate in enumerate(rates):
        following = rates[index + 1].start_date if index + 1 < len(rates) else None
        end = None
        if following is not None:
            end = (dt.date.fromisoformat(following) - dt.timedelta(days=1)).isoformat()
        out.append({
            "id": rate.id,
            "amount": rate.amount,
            "start_date": rate.start_date,
            "end_date": end,
            "created_at": format_ts(rate.created_at),
            "updated_at": format_ts(rate.updated_at),
        })
    return out


def _project_ref(project: Project) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "code": project.code}


def user_assignment_dict(state: SandboxState, a: UserAssignment) -> dict[str, Any]:
    """§7.4: the project's view of an assignment."""
    project = state.projects[a.project_id]
    user = state.users[a.user_id]
    return {
        "id": a.id,
        "is_project_manager": a.is_project_manager,
        "is_active": a.is_active,
        "use_default_rates": a.use_default_rates,
        "budget": a.budget,
        "created_at": format_ts(a.created_at),
        "updated_at": format_ts(a.updated_at),
        "hourly_rate": a.hourly_rate,
        "project": _project_ref(project),
        "user": {"id": user.id, "name": user.name},
    }


def project_assignment_dict(state: SandboxState, a: UserAssignment) -> dict[str, Any]:
    """§7.3: the user's view of an assignment, with the project's client and task assignments."""
    project = state.projects[a.project_id]
    client = state.clients[project.client_id]
    return {
        "id": a.id,
        "is_project_manager": a.is_project_manager,
        "is_active": a.is_active,
        "use_default_rates": a.use_default_rates,
        "budget": a.budget,
        "created_at": format_ts(a.created_at),
        "updated_at": format_ts(a.updated_at),
        "hourly_rate": a.hourly_rate,
        "project": _project_ref(project),
        "client": {"id": client.id, "name": client.name},
        "task_assignments": [
            {
                "id": ta.id,
                "billable": ta.billable,
                "is_active": ta.is_active,
                "created_at": format_ts(ta.created_at),
                "updated_at": format_ts(ta.updated_at),
                "hourly_rate": ta.hourly_rate,
                "budget": ta.budget,
                "task": {"id": ta.task_id, "name": state.tasks[ta.task_id].name},
            }
            for ta in project.task_assignments
        ],
    }


def company_dict(state: SandboxState) -> dict[str, Any]:
    return dataclasses.asdict(state.company)
