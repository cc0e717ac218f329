"""What the v3 user endpoints answer (docs/greenhouse.md §2), read leniently:
unknown fields are kept (``model_extra``), optional ones may be missing or null.

Conventions [official]: ISO 8601 UTC times, ``_at`` datetimes, ids only for related records
(``office_ids``), children never embedded in parents.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FutureJobPermission",
    "InterviewerTag",
    "JobPermission",
    "User",
    "UserEmail",
    "UserRole",
]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class InterviewerTag(_Lenient):
    id: int
    name: str | None = None


class User(_Lenient):
    """``GET /v3/users`` item. ``primary_email`` is None for service accounts [secondary]."""

    id: int
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    job_title: str | None = None
    primary_email: str | None = None
    emails: list[str] = Field(default_factory=list)
    #: The inverse of v1's ``disabled``.
    deactivated: bool = False
    site_admin: bool = False
    agency_id: int | None = None
    employee_id: str | None = None
    linked_candidate_ids: list[int] = Field(default_factory=list)
    office_ids: list[int] = Field(default_factory=list)
    department_ids: list[int] = Field(default_factory=list)
    interviewer_tags: list[InterviewerTag] = Field(default_factory=list)
    #: By ``name_key``: ``{name, type, value}``.
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return not self.deactivated


class UserEmail(_Lenient):
    """``POST /v3/user_emails`` answer [secondary]."""

    id: int | None = None
    user_id: int
    email: str
    verified: bool | None = None


class JobPermission(_Lenient):
    """``/v3/user_job_permissions`` item: ``role_id`` replaced v1's ``user_role_id``."""

    id: int
    user_id: int
    job_id: int
    role_id: int


class FutureJobPermission(_Lenient):
    """``/v3/future_job_permissions`` item; department and office both null: every future job."""

    id: int
    user_id: int
    role_id: int
    department_id: int | None = None
    office_id: int | None = None


class UserRole(_Lenient):
    """``GET /v3/user_roles`` item."""

    id: int
    name: str
    role_type: Literal["deprecated_interviewer", "job_admin", "site_admin"] | str | None = None
