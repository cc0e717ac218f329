"""The records the sandbox keeps, one dataclass per Harvest resource (docs/harvest-api.md §6–§7).

Timestamps are epoch seconds (ints), dates ISO strings; amounts are floats as Harvest's JSON
numbers are. Derived values are *not* stored: a user's ``roles`` names come from role membership,
``people_manager`` from the teammates list, a rate's ``end_date`` from the next rate.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

__all__ = [
    "AccessToken",
    "AuthorizationCode",
    "Client",
    "Company",
    "Expense",
    "Invitation",
    "Project",
    "Rate",
    "RefreshToken",
    "RequestRecord",
    "Role",
    "Task",
    "TaskAssignment",
    "TimeEntry",
    "User",
    "UserAssignment",
]


@dataclasses.dataclass(slots=True)
class User:
    """§6.2. ``access_roles`` holds what was set (base role and add-ons); ``people_manager`` is
    added on output while the user has teammates (§6.3)."""

    id: int
    first_name: str
    last_name: str
    email: str
    telephone: str
    timezone: str
    has_access_to_all_future_projects: bool
    is_contractor: bool
    is_active: bool
    weekly_capacity: int
    default_hourly_rate: float | None
    cost_rate: float | None
    access_roles: list[str]
    avatar_url: str
    created_at: int
    updated_at: int
    #: Only the legacy v1 People API has it (docs/migrating-from-v1.md); v2 never shows it.
    #: Last, with a default, so older state files still load.
    department: str = ""

    @property
    def base_role(self) -> str:
        return self.access_roles[0]

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclasses.dataclass(slots=True)
class Role:
    """§7.5: a business label; ``user_ids`` is the membership (kept sorted)."""

    id: int
    name: str
    user_ids: list[int]
    created_at: int
    updated_at: int


@dataclasses.dataclass(slots=True)
class Rate:
    """§7.2: a billable or cost rate; ``start_date`` None applies from the beginning."""

    id: int
    amount: float
    start_date: str | None
    created_at: int
    updated_at: int


@dataclasses.dataclass(slots=True)
class Client:
    id: int
    name: str
    currency: str
    is_active: bool
    created_at: int
    updated_at: int


@dataclasses.dataclass(slots=True)
class Task:
    id: int
    name: str
    billable_by_default: bool
    created_at: int
    updated_at: int


@dataclasses.dataclass(slots=True)
class TaskAssignment:
    id: int
    task_id: int
    billable: bool
    is_active: bool
    hourly_rate: float | None
    budget: float | None
    created_at: int
    updated_at: int


@dataclasses.dataclass(slots=True)
class Project:
    id: int
    client_id: int
    name: str
    code: str
    is_active: bool
    is_billable: bool
    task_assignments: list[TaskAssignment]
    created_at: int
    updated_at: int


@dataclasses.dataclass(slots=True)
class UserAssignment:
    """§7.4: a user on a project; the same record is the user's project assignment (§7.3)."""

    id: int
    project_id: int
    user_id: int
    is_active: bool
    is_project_manager: bool
    use_default_rates: bool
    hourly_rate: float | None
    budget: float | None
    created_at: int
    updated_at: int


@dataclasses.dataclass(slots=True)
class TimeEntry:
    """Time tracked by a user on a task of a project they are assigned to. A user with time
    cannot be deleted (§6.4), nor an assignment with time on it (§7.4). ``hours`` holds the
    stopped total; while ``timer_started_at`` is set the entry is running and its hours grow.
    Fields after ``created_at`` have defaults so that older state files still load."""

    id: int
    user_id: int
    project_id: int
    task_id: int
    spent_date: str
    hours: float
    notes: str
    created_at: int
    #: 0: never changed since ``created_at``.
    updated_at: int = 0
    timer_started_at: int | None = None
    started_time: str | None = None
    ended_time: str | None = None

    @property
    def is_running(self) -> bool:
        return self.timer_started_at is not None


@dataclasses.dataclass(slots=True)
class Expense:
    id: int
    user_id: int
    project_id: int
    spent_date: str
    total_cost: float
    notes: str
    created_at: int
    updated_at: int = 0
    #: 0: the first of the fixed expense categories (``_expenses.py``).
    expense_category_id: int = 0
    units: int | None = None
    billable: bool = True


@dataclasses.dataclass(slots=True)
class Company:
    """§7.6 (no seat data exists in the API)."""

    base_uri: str
    full_domain: str
    name: str
    is_active: bool
    week_start_day: str
    wants_timestamp_timers: bool
    time_format: str
    date_format: str
    plan_type: str
    clock: str
    currency_code_display: str
    currency_symbol_display: str
    decimal_symbol: str
    thousands_separator: str
    color_scheme: str
    weekly_capacity: int
    expense_feature: bool
    invoice_feature: bool
    estimate_feature: bool
    approval_feature: bool
    team_feature: bool


@dataclasses.dataclass(slots=True)
class Invitation:
    """What ``POST /v2/users`` would have emailed (§8.1): kept in the outbox, never sent."""

    id: int
    user_id: int
    to: str
    name: str
    subject: str
    body: str
    sent_at: str


@dataclasses.dataclass(slots=True)
class AccessToken:
    """A bearer token for the API: a personal access token (``pat``, never expires, scope
    ``all``) or an OAuth access token (``oauth``)."""

    token: str
    user_id: int
    kind: Literal["pat", "oauth"]
    scope: str
    expires_at: float | None


@dataclasses.dataclass(slots=True)
class RefreshToken:
    token: str
    user_id: int
    client_id: str
    scope: str
    expires_at: float | None


@dataclasses.dataclass(slots=True)
class AuthorizationCode:
    code: str
    user_id: int
    client_id: str
    redirect_uri: str | None
    scope: str
    expires_at: float


@dataclasses.dataclass(slots=True)
class RequestRecord:
    """One line of the request log (``GET /sandbox/requests``); tokens never appear in it."""

    id: int
    at: str
    method: str
    path: str
    query: str
    status: int
    user_id: int | None
    token_kind: str | None
    account_id: str | None
    user_agent: str | None
    duration_ms: float
    fault: str | None
