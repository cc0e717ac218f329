"""Request bodies for the v3 user writes, strict: a wrong field never reaches Greenhouse.

Field names follow docs/greenhouse.md §2 [secondary]; anything else Greenhouse accepts can be
passed in ``extra`` (sent as is).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

__all__ = ["UserCreate", "UserUpdate"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    extra: dict[str, Any] = Field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True, exclude={"extra"})
        return {**data, **self.extra}


class UserCreate(_Strict):
    """``POST /v3/users``. ``send_email_invite`` defaults to False, as Greenhouse's does."""

    first_name: str = Field(min_length=1)
    last_name: str = Field(min_length=1)
    email: EmailStr
    send_email_invite: bool = False
    employee_id: str | None = None
    job_title: str | None = None
    office_ids: list[int] | None = None
    department_ids: list[int] | None = None


class UserUpdate(_Strict):
    """``PATCH /v3/users/{id}``: only the fields given are sent."""

    first_name: str | None = Field(default=None, min_length=1)
    last_name: str | None = Field(default=None, min_length=1)
    employee_id: str | None = None
    job_title: str | None = None
    office_ids: list[int] | None = None
    department_ids: list[int] | None = None
