"""Response models for Harvest API v2 (docs/harvest-api.md §6–§7).

Responses are parsed leniently: unknown fields are ignored (the API adds fields; old accounts send
legacy ones), and the nulls the real API sends where the docs promise numbers are accepted (rates
null in 2019 traffic, gotcha 11; ``page`` null in cursor mode, §3). Request models, which are strict,
live in ``_requests.py``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._access_roles import BASE_ROLES, PEOPLE_MANAGER

__all__ = [
    "Account",
    "ClientRef",
    "Company",
    "IdentityAccounts",
    "IdentityUser",
    "PageLinks",
    "ProjectAssignment",
    "ProjectRef",
    "Rate",
    "Role",
    "TaskAssignment",
    "TaskRef",
    "Teammate",
    "User",
    "UserAssignment",
    "UserRef",
]

SECONDS_PER_HOUR = 3600


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Response):
    """``GET /v2/users/{id}``: a Harvest user (§6.2)."""

    id: int
    first_name: str
    last_name: str
    email: str
    telephone: str | None = ""
    timezone: str | None = None
    has_access_to_all_future_projects: bool = False
    is_contractor: bool = False
    is_active: bool = True
    weekly_capacity: int | None = None
    default_hourly_rate: Decimal | None = None
    cost_rate: Decimal | None = None
    roles: list[str] = Field(default_factory=list)
    access_roles: list[str] = Field(default_factory=list)
    avatar_url: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @model_validator(mode="before")
    @classmethod
    def _legacy_permissions(cls, data: Any) -> Any:
        # Before late 2022 users carried is_admin / is_project_manager instead of access_roles
        # (§6.5); map them so old recordings and old accounts still yield a base role.
        if isinstance(data, dict) and "access_roles" not in data and (
            "is_admin" in data or "is_project_manager" in data
        ):
            data = dict(data)
            if data.get("is_admin"):
                data["access_roles"] = ["administrator"]
            elif data.get("is_project_manager"):
                data["access_roles"] = ["manager"]
            else:
                data["access_roles"] = ["member"]
        return data

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def base_role(self) -> str | None:
        return next((r for r in self.access_roles if r in BASE_ROLES), None)

    @property
    def is_people_manager(self) -> bool:
        return PEOPLE_MANAGER in self.access_roles

    @property
    def weekly_capacity_hours(self) -> float | None:
        return None if self.weekly_capacity is None else self.weekly_capacity / SECONDS_PER_HOUR


class Teammate(_Response):
    """An entry of ``GET /v2/users/{id}/teammates`` (§7.1)."""

    id: int
    first_name: str
    last_name: str
    email: str


class Rate(_Response):
    """A billable or cost rate (§7.2); ``end_date`` is set by Harvest."""

    id: int
    amount: Decimal | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProjectRef(_Response):
    id: int
    name: str
    code: str | None = None


class ClientRef(_Response):
    id: int
    name: str


class TaskRef(_Response):
    id: int
    name: str


class UserRef(_Response):
    id: int
    name: str


class TaskAssignment(_Response):
    id: int
    billable: bool | None = None
    is_active: bool = True
    hourly_rate: Decimal | None = None
    budget: Decimal | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    task: TaskRef


class ProjectAssignment(_Response):
    """An entry of ``GET /v2/users/{id}/project_assignments`` (§7.3)."""

    id: int
    is_active: bool = True
    is_project_manager: bool = False
    use_default_rates: bool = True
    hourly_rate: Decimal | None = None
    budget: Decimal | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    project: ProjectRef
    client: ClientRef | None = None
    task_assignments: list[TaskAssignment] = Field(default_factory=list)


class UserAssignment(_Response):
    """A project user assignment, ``/v2/projects/{pid}/user_assignments/{id}`` (§7.4)."""

    id: int
    project: ProjectRef
    user: UserRef
    is_active: bool = True
    is_project_manager: bool = False
    use_default_rates: bool = True
    hourly_rate: Decimal | None = None
    budget: Decimal | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class Role(_Response):
    """A business role (a label, not a permission), ``/v2/roles/{id}`` (§7.5)."""

    id: int
    name: str
    user_ids: list[int] = Field(default_factory=list)
    created_at: dt.datetime
    updated_at: dt.datetime


class Company(_Response):
    """``GET /v2/company`` (§7.6). No seat data exists in the API."""

    base_uri: str | None = None
    full_domain: str | None = None
    name: str
    is_active: bool = True
    week_start_day: str | None = None
    wants_timestamp_timers: bool | None = None
    time_format: str | None = None
    date_format: str | None = None
    plan_type: str | None = None
    clock: str | None = None
    currency_code_display: str | None = None
    currency_symbol_display: str | None = None
    decimal_symbol: str | None = None
    thousands_separator: str | None = None
    color_scheme: str | None = None
    weekly_capacity: int | None = None
    expense_feature: bool | None = None
    invoice_feature: bool | None = None
    estimate_feature: bool | None = None
    approval_feature: bool | None = None
    team_feature: bool | None = None


class Account(_Response):
    """An account the identity can reach (``GET id.getharvest.com/api/v2/accounts``, §5.3)."""

    id: int
    name: str
    product: str


class IdentityUser(_Response):
    id: int
    first_name: str
    last_name: str
    email: str


class IdentityAccounts(_Response):
    user: IdentityUser
    accounts: list[Account] = Field(default_factory=list)


class PageLinks(_Response):
    """``links`` of a paginated response: absolute URLs, ``next``/``previous`` may be null (§3)."""

    first: str | None = None
    next: str | None = None
    previous: str | None = None
    last: str | None = None
