"""Clients, projects, tasks, task assignments, time entries, expenses and team-report rows as
Harvest's JSON objects, with the fields and order of the examples in
``tests/sandbox/data/harvest-openapi.yaml`` (the community description of Harvest's docs,
docs/harvest-api.md §11).

What the sandbox does not model (budgets, invoices, receipts, locking, external references) is
rendered with the values of a fresh account: null, false or ``""``.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from ._clock import format_ts as _format_ts
from ._records import Client, Expense, Project, Task, TaskAssignment, TimeEntry
from ._render import user_assignment_dict
from ._state import SandboxState

__all__ = [
    "EXPENSE_CATEGORIES",
    "client_dict",
    "entry_hours",
    "expense_dict",
    "format_clock_time",
    "project_dict",
    "task_assignment_dict",
    "task_dict",
    "time_entry_dict",
]

#: Expense categories are not simulated as a resource: a fixed set, id -> (name, unit price,
#: unit name), ids near real ones.
EXPENSE_CATEGORIES: dict[int, tuple[str, str | None, str | None]] = {
    4195926: ("Meals", None, None),
    4195928: ("Lodging", None, None),
    4195930: ("Mileage", "0.655", "mile"),
    4197501: ("Other", None, None),
}
_FIRST_CATEGORY = next(iter(EXPENSE_CATEGORIES))
#: A page of 2,000 time entries formats about 12,000 timestamps, half of them shared (a project's
#: task assignments, a user's assignment): remembered, since formatting is a third of the cost.
format_ts = functools.lru_cache(maxsize=1 << 16)(_format_ts)


def client_dict(client: Client) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "is_active": client.is_active,
        "address": None,
        "statement_key": hashlib.md5(f"client-{client.id}".encode(), usedforsecurity=False).hexdigest(),
        "created_at": format_ts(client.created_at),
        "updated_at": format_ts(client.updated_at),
        "currency": client.currency,
    }


def project_dict(state: SandboxState, project: Project) -> dict[str, Any]:
    client = state.clients[project.client_id]
    return {
        "id": project.id,
        "name": project.name,
        "code": project.code,
        "is_active": project.is_active,
        "bill_by": "Project" if project.is_billable else "none",
        "budget": None,
        "budget_by": "none",
        "budget_is_monthly": False,
        "notify_when_over_budget": False,
        "over_budget_notification_percentage": 80.0,
        "over_budget_notification_date": None,
        "show_budget_to_all": False,
        "created_at": format_ts(project.created_at),
        "updated_at": format_ts(project.updated_at),
        "starts_on": None,
        "ends_on": None,
        "is_billable": project.is_billable,
        "is_fixed_fee": False,
        "notes": "",
        "client": {"id": client.id, "name": client.name, "currency": client.currency},
        "cost_budget": None,
        "cost_budget_include_expenses": False,
        "hourly_rate": None,
        "fee": None,
    }


def task_dict(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.name,
        "billable_by_default": task.billable_by_default,
        "default_hourly_rate": None,
        "is_default": False,
        "is_active": True,
        "created_at": format_ts(task.created_at),
        "updated_at": format_ts(task.updated_at),
    }


def task_assignment_dict(state: SandboxState, project: Project, ta: TaskAssignment) -> dict[str, Any]:
    return {
        "id": ta.id,
        "billable": ta.billable,
        "is_active": ta.is_active,
        "created_at": format_ts(ta.created_at),
        "updated_at": format_ts(ta.updated_at),
        "hourly_rate": ta.hourly_rate,
        "budget": ta.budget,
        "project": {"id": project.id, "name": project.name, "code": project.code},
        "task": {"id": ta.task_id, "name": state.tasks[ta.task_id].name},
    }


def format_clock_time(minutes: int, clock: str) -> str:
    """Minutes after midnight as the account's clock shows them (§1): ``8:00am`` or ``08:00``."""
    hour, minute = divmod(minutes % (24 * 60), 60)
    if clock == "24h":
        return f"{hour:02d}:{minute:02d}"
    suffix = "am" if hour < 12 else "pm"
    return f"{(hour % 12) or 12}:{minute:02d}{suffix}"


def entry_hours(entry: TimeEntry, now: float) -> float:
    """Stopped hours plus, while running, the time since the timer started."""
    if entry.timer_started_at is None:
        return entry.hours
    return round(entry.hours + max(0.0, now - entry.timer_started_at) / 3600, 2)


def _rounded(hours: float) -> float:
    """``rounded_hours``: up to the next quarter hour, Harvest's default rounding."""
    quarters = -(-round(hours * 100) // 25)
    return quarters * 25 / 100


def time_entry_dict(state: SandboxState, entry: TimeEntry, now: float) -> dict[str, Any]:
    project = state.projects[entry.project_id]
    client = state.clients[project.client_id]
    user = state.users[entry.user_id]
    task = state.tasks[entry.task_id]
    ta = next((t for t in project.task_assignments if t.task_id == entry.task_id), None)
    ua = state.assignment_for(project.id, user.id)
    hours = entry_hours(entry, now)
    billable = project.is_billable and ta is not None and ta.billable
    rate = None
    if billable:
        rate = ua.hourly_rate if ua is not None and not ua.use_default_rates else user.default_hourly_rate
    return {
        "id": entry.id,
        "spent_date": entry.spent_date,
        "user": {"id": user.id, "name": user.name},
        "client": {"id": client.id, "name": client.name},
        "project": {"id": project.id, "name": project.name},
        "task": {"id": task.id, "name": task.name},
        "user_assignment": None if ua is None else user_assignment_dict(state, ua),
        "task_assignment": None if ta is None else {
            "id": ta.id, "billable": ta.billable, "is_active": ta.is_active,
            "created_at": format_ts(ta.created_at), "updated_at": format_ts(ta.updated_at),
            "hourly_rate": ta.hourly_rate, "budget": ta.budget,
            "task": {"id": task.id, "name": task.name},
        },
        "hours": hours,
        "hours_without_timer": entry.hours,
        "rounded_hours": _rounded(hours),
        "notes": entry.notes,
        "created_at": format_ts(entry.created_at),
        "updated_at": format_ts(entry.updated_at or entry.created_at),
        "is_locked": False,
        "locked_reason": None,
        "is_closed": False,
        "is_billed": False,
        "timer_started_at": None if entry.timer_started_at is None else format_ts(entry.timer_started_at),
        "started_time": entry.started_time,
        "ended_time": entry.ended_time,
        "is_running": entry.is_running,
        "invoice": None,
        "external_reference": None,
        "billable": billable,
        "budgeted": False,
        "billable_rate": rate,
        "cost_rate": user.cost_rate,
    }


def expense_dict(state: SandboxState, expense: Expense) -> dict[str, Any]:
    project = state.projects[expense.project_id]
    client = state.clients[project.client_id]
    user = state.users[expense.user_id]
    ua = state.assignment_for(project.id, user.id)
    category_id = expense.expense_category_id or _FIRST_CATEGORY
    name, unit_price, unit_name = EXPENSE_CATEGORIES.get(category_id, EXPENSE_CATEGORIES[_FIRST_CATEGORY])
    return {
        "id": expense.id,
        "notes": expense.notes,
        "total_cost": expense.total_cost,
        "units": expense.units,
        "is_closed": False,
        "is_locked": False,
        "is_billed": False,
        "locked_reason": None,
        "spent_date": expense.spent_date,
        "created_at": format_ts(expense.created_at),
        "updated_at": format_ts(expense.updated_at or expense.created_at),
        "billable": expense.billable,
        "receipt": None,
        "user": {"id": user.id, "name": user.name},
        "user_assignment": None if ua is None else user_assignment_dict(state, ua),
        "project": {"id": project.id, "name": project.name, "code": project.code},
        "expense_category": {
            "id": category_id, "name": name, "unit_price": unit_price, "unit_name": unit_name,
        },
        "client": {"id": client.id, "name": client.name, "currency": client.currency},
        "invoice": None,
    }
