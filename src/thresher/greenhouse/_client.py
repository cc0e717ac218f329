"""``AsyncGreenhouse``: the v3 user endpoints (docs/greenhouse.md §2) over one request core.

Every ``list_*`` is an async iterator over records fetched a page at a time; ``*_pages`` yields
``Page`` objects and resumes from a saved ``start_url``. Writes return what Greenhouse answered;
activate, deactivate and revoke answer 204 and return None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Literal

from ._core import Core
from ._errors import InvalidRequestError, NotFoundError
from ._models import FutureJobPermission, JobPermission, User, UserEmail, UserRole
from ._pagination import Page
from ._requests import UserCreate, UserUpdate

__all__ = ["AsyncGreenhouse", "DateFilter"]

Operator = Literal["gte", "lte", "gt", "lt"]
#: ``("gte", datetime)`` or Greenhouse's own ``"gte|2024-01-01T00:00:00Z"``.
DateFilter = tuple[Operator, dt.datetime] | str


def _ids(values: Iterable[int | str]) -> str:
    return ",".join(str(v) for v in values)


def _date_filter(name: str, value: DateFilter) -> str:
    if isinstance(value, str):
        op, sep, _ = value.partition("|")
        if not sep or op not in ("gte", "lte", "gt", "lt"):
            raise InvalidRequestError(
                f"{name} filter {value!r} is not OPERATOR|TIME",
                hint="Use e.g. gte|2024-01-01T00:00:00Z (operators gte, lte, gt, lt).",
            )
        return value
    op, when = value
    if when.tzinfo is None:
        raise InvalidRequestError(
            f"{name} filter time {when.isoformat()} has no time zone",
            hint="Pass an aware datetime; Greenhouse's times are UTC.",
        )
    return f"{op}|{when.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


class AsyncGreenhouse(Core):
    """The async Greenhouse API v3 client (user endpoints).

    ``AsyncGreenhouse(GreenhouseSettings.from_env())`` or
    ``AsyncGreenhouse(client_id=..., client_secret=..., sub=...)``; ``transport`` is the test
    seam, ``limiter`` shares one ``RateLimiter`` between clients of one credential in a process,
    ``shared_budget`` one budget between the processes of a credential (``SharedBudget``), ``on_request``
    receives a ``RequestRecord`` per exchange. Use as ``async with`` or call ``aclose()``.
    """

    # -- users ------------------------------------------------------------------------------------
    @staticmethod
    def _user_filters(
        *,
        ids: Iterable[int] | None = None,
        employee_ids: Iterable[str] | None = None,
        primary_email: str | None = None,
        deactivated: bool | None = None,
        show_service_accounts: bool | None = None,
        office_ids: Iterable[int] | None = None,
        department_ids: Iterable[int] | None = None,
        external_office_id: str | None = None,
        external_department_id: str | None = None,
        created_at: DateFilter | None = None,
        updated_at: DateFilter | None = None,
        per_page: int | None = None,
    ) -> dict[str, str]:
        params: dict[str, str] = {}
        for key, many in (
            ("ids", ids),
            ("employee_ids", employee_ids),
            ("office_ids", office_ids),
            ("department_ids", department_ids),
        ):
            if many is not None:
                params[key] = _ids(many)
        for key, text in (
            ("primary_email", primary_email),
            ("external_office_id", external_office_id),
            ("external_department_id", external_department_id),
        ):
            if text is not None:
                params[key] = text
        for key, flag in (("deactivated", deactivated), ("show_service_accounts", show_service_accounts)):
            if flag is not None:
                params[key] = "true" if flag else "false"
        if created_at is not None:
            params["created_at"] = _date_filter("created_at", created_at)
        if updated_at is not None:
            params["updated_at"] = _date_filter("updated_at", updated_at)
        if per_page is not None:
            if not 1 <= per_page <= 500:
                raise InvalidRequestError(f"per_page {per_page} is out of range", hint="Use 1 to 500.")
            params["per_page"] = str(per_page)
        return params

    def user_pages(self, *, start_url: str | None = None, **filters: Any) -> AsyncIterator[Page[User]]:
        """``GET /v3/users`` page by page (filters as in ``list_users``), or from ``start_url``."""
        return self._pages("/users", User, self._user_filters(**filters), start_url)

    async def list_users(
        self,
        *,
        ids: Iterable[int] | None = None,
        employee_ids: Iterable[str] | None = None,
        primary_email: str | None = None,
        deactivated: bool | None = None,
        show_service_accounts: bool | None = None,
        office_ids: Iterable[int] | None = None,
        department_ids: Iterable[int] | None = None,
        external_office_id: str | None = None,
        external_department_id: str | None = None,
        created_at: DateFilter | None = None,
        updated_at: DateFilter | None = None,
        per_page: int | None = None,
    ) -> AsyncIterator[User]:
        """``GET /v3/users``, id descending. Service accounts are hidden unless
        ``show_service_accounts``; the token's ``sub`` must be a Site Admin."""
        params = self._user_filters(
            ids=ids,
            employee_ids=employee_ids,
            primary_email=primary_email,
            deactivated=deactivated,
            show_service_accounts=show_service_accounts,
            office_ids=office_ids,
            department_ids=department_ids,
            external_office_id=external_office_id,
            external_department_id=external_department_id,
            created_at=created_at,
            updated_at=updated_at,
            per_page=per_page,
        )
        async for user in self._items("/users", User, params):
            yield user

    async def get_user(self, user_id: int) -> User:
        """``GET /v3/users?ids={id}`` (a ``/v3/users/{id}`` route is not confirmed [U])."""
        async for user in self._items("/users", User, {"ids": str(user_id), "show_service_accounts": "true"}):
            if user.id == user_id:
                return user
        raise NotFoundError(f"Greenhouse has no user {user_id}", hint="Check the id.")

    async def create_user(self, user: UserCreate | Mapping[str, Any]) -> User:
        """``POST /v3/users``; no invitation unless ``send_email_invite=True``. Never retried
        once it may have arrived (``AmbiguousCreateError``)."""
        body = self._validate(UserCreate, user).body()
        return self._model(await self._send("POST", self._url("/users"), json=body), User)

    async def update_user(self, user_id: int, changes: UserUpdate | Mapping[str, Any]) -> User:
        """``PATCH /v3/users/{id}`` with only the given fields."""
        body = self._validate(UserUpdate, changes).body()
        if not body:
            raise InvalidRequestError("update_user was given no field to change")
        return self._model(await self._send("PATCH", self._url(f"/users/{user_id}"), json=body), User)

    async def deactivate_user(self, user_id: int) -> None:
        """``POST /v3/users/{id}/deactivate``: idempotent, 204; permissions and history are kept."""
        await self._send("POST", self._url(f"/users/{user_id}/deactivate"), idempotent=True)

    async def activate_user(self, user_id: int) -> None:
        """``POST /v3/users/{id}/activate``: idempotent, 204; prior permissions come back."""
        await self._send("POST", self._url(f"/users/{user_id}/activate"), idempotent=True)

    async def revoke_permissions(self, user_id: int) -> None:
        """``POST /v3/users/{id}/revoke_permissions``: demote to Basic (no job permissions)."""
        await self._send("POST", self._url(f"/users/{user_id}/revoke_permissions"), idempotent=True)

    # -- emails, permissions, roles ---------------------------------------------------------------
    async def add_user_email(self, user_id: int, email: str, *, send_verification: bool = False) -> UserEmail:
        """``POST /v3/user_emails``; no verification email unless asked."""
        body = {"user_id": user_id, "email": email, "send_verification": send_verification}
        return self._model(await self._send("POST", self._url("/user_emails"), json=body), UserEmail)

    async def list_job_permissions(
        self, *, user_ids: Iterable[int] | None = None, job_ids: Iterable[int] | None = None
    ) -> AsyncIterator[JobPermission]:
        """``GET /v3/user_job_permissions``."""
        params: dict[str, str] = {}
        if user_ids is not None:
            params["user_ids"] = _ids(user_ids)
        if job_ids is not None:
            params["job_ids"] = _ids(job_ids)
        async for item in self._items("/user_job_permissions", JobPermission, params):
            yield item

    async def add_job_permission(self, user_id: int, job_id: int, role_id: int) -> JobPermission:
        """``POST /v3/user_job_permissions``."""
        body = {"user_id": user_id, "job_id": job_id, "role_id": role_id}
        response = await self._send("POST", self._url("/user_job_permissions"), json=body)
        return self._model(response, JobPermission)

    async def remove_job_permission(self, permission_id: int) -> None:
        """``DELETE /v3/user_job_permissions/{id}``."""
        await self._send("DELETE", self._url(f"/user_job_permissions/{permission_id}"))

    async def list_future_job_permissions(
        self, *, user_ids: Iterable[int] | None = None
    ) -> AsyncIterator[FutureJobPermission]:
        """``GET /v3/future_job_permissions``."""
        params = {"user_ids": _ids(user_ids)} if user_ids is not None else {}
        async for item in self._items("/future_job_permissions", FutureJobPermission, params):
            yield item

    async def add_future_job_permission(
        self,
        user_id: int,
        role_id: int,
        *,
        department_id: int | None = None,
        office_id: int | None = None,
    ) -> FutureJobPermission:
        """``POST /v3/future_job_permissions``; no department and no office: every future job."""
        body = {
            "user_id": user_id,
            "role_id": role_id,
            "department_id": department_id,
            "office_id": office_id,
        }
        response = await self._send("POST", self._url("/future_job_permissions"), json=body)
        return self._model(response, FutureJobPermission)

    async def remove_future_job_permission(self, permission_id: int) -> None:
        """``DELETE /v3/future_job_permissions/{id}``."""
        await self._send("DELETE", self._url(f"/future_job_permissions/{permission_id}"))

    async def list_user_roles(self) -> AsyncIterator[UserRole]:
        """``GET /v3/user_roles``."""
        async for role in self._items("/user_roles", UserRole, {}):
            yield role
