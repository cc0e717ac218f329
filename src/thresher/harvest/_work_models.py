"""Response models for what surrounds users: clients, projects, tasks, a project's task
assignments, time entries, expenses and team-report rows (the shapes of Harvest's docs, as
``tests/sandbox/data/harvest-openapi.yaml`` describes them).

Parsed leniently like ``_models.py``: unknown fields are ignored, and what a fresh account leaves
null (budgets, invoices, rates) may be null. Embedded assignment objects are not modelled: Harvest
embeds a trimmed copy whose fields vary; their ids are in the ``project``, ``user`` and ``task``
references.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ._models import ClientRef, ProjectRef, TaskAssignment, TaskRef, UserRef, _Response

__all__ = [
    "Client",
    "Expense",
    "ExpenseCategoryRef",
    "Project",
    "ProjectTaskAssignment",
    "Task",
    "TeamTimeResult",
    "TimeEntry",
]


class Client(_Response):
    """A Harvest client (a customer), ``GET /v2/clients``; not an HTTP client."""

    id: int
    name: str
    is_active: bool = True
    address: str | None = None
    statement_key: str | None = None
    currency: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class Project(_Response):
    """``GET /v2/projects/{id}``; ``client`` carries the client's id and name."""

    id: int
    name: str
    code: str | None = None
    is_active: bool = True
    is_billable: bool = True
    is_fixed_fee: bool = False
    bill_by: str | None = None
    budget: Decimal | None = None
    budget_by: str | None = None
    hourly_rate: Decimal | None = None
    fee: Decimal | None = None
    cost_budget: Decimal | None = None
    notes: str | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    client: ClientRef | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class Task(_Response):
    """``GET /v2/tasks``: an activity time is tracked on."""

    id: int
    name: str
    billable_by_default: bool = True
    default_hourly_rate: Decimal | None = None
    is_default: bool = False
    is_active: bool = True
    created_at: dt.datetime
    updated_at: dt.datetime


class ProjectTaskAssignment(TaskAssignment):
    """An entry of ``GET /v2/projects/{id}/task_assignments``: a task on a project."""

    project: ProjectRef | None = None


class TimeEntry(_Response):
    """``GET /v2/time_entries/{id}``. ``hours`` includes a running timer's elapsed time."""

    id: int
    spent_date: dt.date
    user: UserRef
    client: ClientRef | None = None
    project: ProjectRef
    task: TaskRef
    hours: Decimal
    hours_without_timer: Decimal | None = None
    rounded_hours: Decimal | None = None
    notes: str | None = None
    is_locked: bool = False
    locked_reason: str | None = None
    is_closed: bool = False
    is_billed: bool = False
    is_running: bool = False
    timer_started_at: dt.datetime | None = None
    started_time: str | None = None
    ended_time: str | None = None
    billable: bool = False
    budgeted: bool = False
    billable_rate: Decimal | None = None
    cost_rate: Decimal | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class ExpenseCategoryRef(_Response):
    id: int
    name: str
    unit_price: Decimal | None = None
    unit_name: str | None = None


class Expense(_Response):
    """``GET /v2/expenses/{id}``."""

    id: int
    spent_date: dt.date
    user: UserRef
    client: ClientRef | None = None
    project: ProjectRef
    expense_category: ExpenseCategoryRef | None = None
    total_cost: Decimal | None = None
    units: Decimal | None = None
    notes: str | None = None
    billable: bool = False
    is_closed: bool = False
    is_locked: bool = False
    is_billed: bool = False
    created_at: dt.datetime
    updated_at: dt.datetime


class TeamTimeResult(_Response):
    """A row of ``GET /v2/reports/time/team``: one user's hours over the period."""

    user_id: int
    user_name: str
    is_contractor: bool = False
    total_hours: Decimal
    billable_hours: Decimal | None = None
    currency: str | None = None
    billable_amount: Decimal | None = None
    weekly_capacity: int | None = None
    avatar_url: str | None = None
