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

import orjson

from ._clock import format_date as _format_date
from ._clock import format_ts as _format_ts
from ._records import Client, Expense, Project, Task, TaskAssignment, TimeEntry
from ._render import user_assignment_dict
from ._state import SandboxState

__all__ = [
    "EXPENSE_CATEGORIES",
    "SharedEntryParts",
    "TimeEntryRenderer",
    "client_dict",
    "entry_hours",
    "expense_dict",
    "format_clock_time",
    "project_dict",
    "task_assignment_dict",
    "task_dict",
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


@functools.cache
def _day(day: int) -> bytes:
    return _format_date(day * 86400).encode()


_HOURS_MINUTES = [b"T%02d:%02d:" % divmod(m, 60) for m in range(24 * 60)]
_SECONDS = [b"%02dZ" % s for s in range(60)]


def _ts(ts: int) -> bytes:
    """``format_ts`` as bytes, from tables: a first page of entries has about 8,000 distinct
    timestamps, and strftime spent a quarter of its time on them."""
    if type(ts) is not int:  # a bool or float would index the tables wrongly
        return _format_ts(ts).encode()
    day, second = divmod(ts, 86400)
    return _day(day) + _HOURS_MINUTES[second // 60] + _SECONDS[second % 60]


_BOOL = {False: b"false", True: b"true"}
#: orjson writes every number, string and None exactly as it would inside a dict.
_json = orjson.dumps
_USER_ASSIGNMENT = (
    b'{"id":%d,"is_project_manager":%b,"is_active":%b,"use_default_rates":%b,"budget":%b,'
    b'"created_at":"%b","updated_at":"%b","hourly_rate":%b,"project":%b,"user":%b}'
)
_TASK_ASSIGNMENT = (
    b'{"id":%d,"billable":%b,"is_active":%b,"created_at":"%b","updated_at":"%b","hourly_rate":%b,'
    b'"budget":%b,"task":%b}'
)
_TIME_ENTRY = (
    b'{"id":%d,"spent_date":%b,"user":%b,%b,"task":%b,"user_assignment":%b,'
    b'"task_assignment":%b,"hours":%b,"hours_without_timer":%b,"rounded_hours":%b,"notes":%b,'
    b'"created_at":"%b","updated_at":"%b","is_locked":false,"locked_reason":null,"is_closed":false,'
    b'"is_billed":false,"timer_started_at":%b,"started_time":%b,"ended_time":%b,"is_running":%b,'
    b'"invoice":null,"external_reference":null,"billable":%b,"budgeted":false,"billable_rate":%b,'
    b'"cost_rate":%b}'
)


#: What every entry on one project and task shares: the client and project references, the
#: project inside a user assignment, the task reference, the task assignment (or null), billable.
_Shared = tuple[bytes, bytes, bytes, bytes, bool]
#: What a ``TimeEntryRenderer`` remembers per project and task.
SharedEntryParts = dict[tuple[int, int], _Shared]


class TimeEntryRenderer:
    """Time entries as Harvest's JSON, with their user, client, project, task and both
    assignments (shaped as ``user_assignment_dict`` and ``task_assignment_dict``, task inside).

    Written straight to bytes rather than built as dicts for orjson, and what entries on one
    project and task share is rendered once per renderer: a first page of 2,000 entries, each
    embedding six other records, must render in under 30 ms (bench/sandbox.py), and the dicts
    alone took twice that. Use one renderer per request (the state must not change during its
    life). tests/sandbox/test_sandbox_entry_json.py holds the bytes to the dict rendering, field
    for field and in order.
    """

    def __init__(
        self, state: SandboxState, now: float, shared: SharedEntryParts | None = None
    ) -> None:
        """``shared`` keeps what entries share across renderers (``TimeEntriesApi`` keeps one per
        state until the next change); by default it lives as long as this renderer."""
        self.state, self.now = state, now
        self._shared: SharedEntryParts = {} if shared is None else shared

    def _share(self, project_id: int, task_id: int) -> _Shared:
        state = self.state
        project = state.projects[project_id]
        client = state.clients[project.client_id]
        name = _json(project.name)
        task = b'{"id":%d,"name":%b}' % (task_id, _json(state.tasks[task_id].name))
        ta = next((t for t in project.task_assignments if t.task_id == task_id), None)
        shared = self._shared[project_id, task_id] = (
            b'"client":{"id":%d,"name":%b},"project":{"id":%d,"name":%b}' % (
                client.id, _json(client.name), project.id, name),
            b'{"id":%d,"name":%b,"code":%b}' % (project.id, name, _json(project.code)),
            task,
            b"null" if ta is None else _TASK_ASSIGNMENT % (
                ta.id, _BOOL[ta.billable], _BOOL[ta.is_active], _ts(ta.created_at), _ts(ta.updated_at),
                _json(ta.hourly_rate), _json(ta.budget), task,
            ),
            project.is_billable and ta is not None and ta.billable,
        )
        return shared

    def __call__(self, entry: TimeEntry) -> bytes:
        state = self.state
        key = (entry.project_id, entry.task_id)
        refs, project, task, task_assignment, billable = self._shared.get(key) or self._share(*key)
        user = state.users[entry.user_id]
        assignment_id = state.assignment_pairs.get((entry.project_id, user.id))
        ua = None if assignment_id is None else state.user_assignments[assignment_id]
        user_ref = b'{"id":%d,"name":%b}' % (user.id, _json(user.name))
        timer = entry.timer_started_at
        stopped = _json(entry.hours)
        hours = entry.hours if timer is None else entry_hours(entry, self.now)
        rate = None
        if billable:
            rate = ua.hourly_rate if ua is not None and not ua.use_default_rates else user.default_hourly_rate
        # Most records were never changed: their updated_at is their created_at, formatted once.
        created = _ts(entry.created_at)
        updated = created if entry.updated_at in (0, entry.created_at) else _ts(entry.updated_at)
        if ua is not None:
            ua_created = _ts(ua.created_at)
            ua_updated = ua_created if ua.updated_at == ua.created_at else _ts(ua.updated_at)
        return _TIME_ENTRY % (
            entry.id, _json(entry.spent_date), user_ref, refs, task,
            b"null" if ua is None else _USER_ASSIGNMENT % (
                ua.id, _BOOL[ua.is_project_manager], _BOOL[ua.is_active], _BOOL[ua.use_default_rates],
                _json(ua.budget), ua_created, ua_updated, _json(ua.hourly_rate), project, user_ref,
            ),
            task_assignment, stopped if timer is None else _json(hours), stopped, _json(_rounded(hours)),
            _json(entry.notes), created, updated,
            b"null" if timer is None else b'"%b"' % _ts(timer), _json(entry.started_time),
            _json(entry.ended_time), _BOOL[timer is not None], _BOOL[billable], _json(rate),
            _json(user.cost_rate),
        )


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
