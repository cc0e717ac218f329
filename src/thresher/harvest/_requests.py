"""Request bodies: strict models, validated before anything is sent.

Unknown fields are refused (``extra="forbid"``), so a typo or a parameter Harvest dropped (PATCH
``default_hourly_rate``/``cost_rate``, §6.4) fails here with a clear message instead of being
ignored by Harvest. ``to_json()`` sends only what the caller set: in a PATCH an omitted field is
left unchanged by Harvest (§6.4), and in a POST Harvest applies its own defaults.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
    model_validator,
)

from ._access_roles import validate_access_roles
from ._timezones import normalize_timezone

__all__ = [
    "CompanyUpdate",
    "RateCreate",
    "RoleCreate",
    "RoleUpdate",
    "TeammatesUpdate",
    "UserAssignmentCreate",
    "UserAssignmentUpdate",
    "UserCreate",
    "UserUpdate",
    "hours_to_seconds",
]

SECONDS_PER_HOUR = 3600
_HALF_HOUR = 1800
_MAX_WEEK = 168 * SECONDS_PER_HOUR


def hours_to_seconds(hours: float | Decimal | str) -> int:
    """Weekly capacity in hours -> the seconds Harvest stores (gotcha 10): 35 -> 126000.

    Harvest keeps capacity in half-hour steps (§6.2), so 37.5 is fine and 37.25 is refused.
    """
    try:
        seconds = Decimal(str(hours)) * SECONDS_PER_HOUR
    except InvalidOperation as exc:
        raise ValueError(f"{hours!r} is not a number of hours") from exc
    if seconds % _HALF_HOUR:
        raise ValueError(f"weekly capacity goes in half-hour steps; {hours} h is not one")
    return int(seconds)


def _check_capacity(seconds: int) -> int:
    if not 0 <= seconds <= _MAX_WEEK:
        raise ValueError(f"weekly_capacity is in seconds and must be 0..{_MAX_WEEK} (168 h)")
    if seconds % _HALF_HOUR:
        raise ValueError(
            f"weekly_capacity is in seconds, in half-hour steps (multiples of {_HALF_HOUR}); "
            f"{seconds} is not (35 h = 126000)"
        )
    return seconds


def _check_roles(roles: list[str]) -> list[str]:
    return validate_access_roles(roles)


def _not_future(value: dt.date) -> dt.date:
    # Harvest refuses a rate start_date in the future (§7.2) by the account's calendar, which the
    # client does not know; the latest "today" anywhere on Earth (UTC+14) never refuses a date
    # Harvest would accept.
    latest_today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date()
    if value > latest_today:
        raise ValueError(f"start_date {value.isoformat()} is in the future; Harvest refuses that")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Money = Annotated[
    Decimal,
    Field(ge=0, allow_inf_nan=False),
    # JSON numbers, as in Harvest's examples (``"amount": 5.0``), not pydantic's decimal strings.
    PlainSerializer(float, return_type=float, when_used="json"),
]
Seconds = Annotated[int, AfterValidator(_check_capacity)]
AccessRoles = Annotated[list[str], AfterValidator(_check_roles)]
Timezone = Annotated[str, AfterValidator(normalize_timezone)]
Id = Annotated[int, Field(gt=0)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: Fields whose ``None`` means something to Harvest (e.g. no budget) and is therefore sent.
    _nullable: ClassVar[frozenset[str]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """The JSON body: only the fields the caller set."""
        data = self.model_dump(mode="json", exclude_unset=True)
        return {k: v for k, v in data.items() if v is not None or k in self._nullable}


class _CapacityHours(_Request):
    """Adds ``weekly_capacity_hours``, converted to ``weekly_capacity`` seconds on input."""

    @model_validator(mode="before")
    @classmethod
    def _hours_to_seconds(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("weekly_capacity_hours") is not None:
            if data.get("weekly_capacity") is not None:
                raise ValueError("give weekly_capacity (seconds) or weekly_capacity_hours, not both")
            data = {**data, "weekly_capacity": hours_to_seconds(data["weekly_capacity_hours"])}
        return data


class UserCreate(_CapacityHours):
    """``POST /v2/users`` (§6.4). Every create sends an invitation email (gotcha 1)."""

    first_name: Name
    last_name: Name
    email: EmailStr
    timezone: Timezone | None = None
    has_access_to_all_future_projects: bool | None = None
    is_contractor: bool | None = None
    is_active: bool | None = None
    weekly_capacity: Seconds | None = None
    weekly_capacity_hours: float | None = Field(default=None, exclude=True)
    default_hourly_rate: Money | None = None
    cost_rate: Money | None = None
    roles: list[Name] | None = None
    access_roles: AccessRoles | None = None


class UserUpdate(_CapacityHours):
    """``PATCH /v2/users/{id}`` (§6.4): only the fields set are sent; the rest stay unchanged.

    ``default_hourly_rate`` and ``cost_rate`` are not accepted: they left the documented PATCH
    parameters in 2024 (§6.4); use the billable and cost rate endpoints. First name, last name and
    email cannot change while a user is archived (gotcha 3).
    """

    @model_validator(mode="before")
    @classmethod
    def _no_rates(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("default_hourly_rate", "cost_rate"):
                if key in data:
                    raise ValueError(
                        f"{key} is not a PATCH /v2/users parameter since 2024 (§6.4); set rates "
                        "with create_billable_rate / create_cost_rate"
                    )
        return data

    first_name: Name | None = None
    last_name: Name | None = None
    email: EmailStr | None = None
    timezone: Timezone | None = None
    has_access_to_all_future_projects: bool | None = None
    is_contractor: bool | None = None
    is_active: bool | None = None
    weekly_capacity: Seconds | None = None
    weekly_capacity_hours: float | None = Field(default=None, exclude=True)
    roles: list[Name] | None = None
    access_roles: AccessRoles | None = None


class TeammatesUpdate(_Request):
    """``PATCH /v2/users/{id}/teammates``: the full list; ``[]`` clears it (§7.1)."""

    teammate_ids: list[Id]


class RateCreate(_Request):
    """``POST /v2/users/{id}/billable_rates`` or ``/cost_rates`` (§7.2). Without ``start_date``
    the new rate replaces the existing ones."""

    amount: Money
    start_date: dt.date | None = None

    @field_validator("start_date")
    @classmethod
    def _start_date(cls, value: dt.date | None) -> dt.date | None:
        return None if value is None else _not_future(value)


class RoleCreate(_Request):
    """``POST /v2/roles`` (§7.5); a duplicate name is refused with 422."""

    name: Name
    user_ids: list[Id] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "user_ids": list(self.user_ids)}


class RoleUpdate(_Request):
    """``PATCH /v2/roles/{id}`` (§7.5); ``user_ids`` replaces the role's whole list."""

    name: Name | None = None
    user_ids: list[Id] | None = None


class UserAssignmentCreate(_Request):
    """``POST /v2/projects/{pid}/user_assignments`` (§7.4)."""

    _nullable: ClassVar[frozenset[str]] = frozenset({"budget"})

    user_id: Id
    is_active: bool | None = None
    is_project_manager: bool | None = None
    use_default_rates: bool | None = None
    hourly_rate: Money | None = None
    budget: Money | None = None


class UserAssignmentUpdate(_Request):
    """``PATCH /v2/projects/{pid}/user_assignments/{id}`` (§7.4); ``budget=None`` clears it."""

    _nullable: ClassVar[frozenset[str]] = frozenset({"budget"})

    is_active: bool | None = None
    is_project_manager: bool | None = None
    use_default_rates: bool | None = None
    hourly_rate: Money | None = None
    budget: Money | None = None


class CompanyUpdate(_CapacityHours):
    """``PATCH /v2/company``: only these two fields can change (§7.6)."""

    wants_timestamp_timers: bool | None = None
    weekly_capacity: Seconds | None = None
    weekly_capacity_hours: float | None = Field(default=None, exclude=True)
