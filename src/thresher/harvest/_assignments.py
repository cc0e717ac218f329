"""Assignments: a user's project assignments (docs/harvest-api.md §7.3) and project user
assignments (§7.4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

from ._core import Core
from ._errors import InvalidRequestError
from ._models import ProjectAssignment, UserAssignment
from ._pagination import Page
from ._requests import UserAssignmentCreate, UserAssignmentUpdate

__all__ = ["Assignments"]


class Assignments(Core):
    # -- §7.3 -------------------------------------------------------------------------------------
    def project_assignment_pages(
        self,
        user_id: int | Literal["me"],
        *,
        updated_since: dt.datetime | str | None = None,
        per_page: int | None = None,
        start_url: str | None = None,
    ) -> AsyncIterator[Page[ProjectAssignment]]:
        """``GET /v2/users/{id}/project_assignments`` (cursor) or
        ``GET /v2/users/me/project_assignments`` (plain pages), page by page."""
        if user_id == "me":
            if updated_since is not None:
                raise InvalidRequestError(
                    "GET /v2/users/me/project_assignments takes no updated_since (§7.3)",
                    hint="Pass the user's id instead of 'me' to filter by updated_since.",
                )
            path = "/users/me/project_assignments"
        else:
            path = f"/users/{int(user_id)}/project_assignments"
        params = self._filters(updated_since=updated_since, per_page=per_page)
        return self._pages(path, "project_assignments", ProjectAssignment, params,
                           start_url=start_url)

    async def list_project_assignments(
        self,
        user_id: int | Literal["me"],
        *,
        updated_since: dt.datetime | str | None = None,
    ) -> AsyncIterator[ProjectAssignment]:
        """``GET /v2/users/{id|me}/project_assignments``: the user's *active* assignments, newest
        first, lazily."""
        async for page in self.project_assignment_pages(user_id, updated_since=updated_since):
            for item in page.items:
                yield item

    # -- §7.4 -------------------------------------------------------------------------------------
    def user_assignment_pages(
        self,
        *,
        user_id: int | None = None,
        is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
        per_page: int | None = None,
        start_url: str | None = None,
    ) -> AsyncIterator[Page[UserAssignment]]:
        """``GET /v2/user_assignments`` page by page: active and archived, newest first."""
        params = self._filters(
            user_id=user_id, is_active=is_active, updated_since=updated_since, per_page=per_page
        )
        return self._pages("/user_assignments", "user_assignments", UserAssignment, params,
                           start_url=start_url)

    async def list_user_assignments(
        self,
        *,
        user_id: int | None = None,
        is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
    ) -> AsyncIterator[UserAssignment]:
        """``GET /v2/user_assignments``: every project user assignment of the account, lazily."""
        pages = self.user_assignment_pages(
            user_id=user_id, is_active=is_active, updated_since=updated_since
        )
        async for page in pages:
            for item in page.items:
                yield item

    async def list_project_user_assignments(
        self,
        project_id: int,
        *,
        user_id: int | None = None,
        is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
    ) -> AsyncIterator[UserAssignment]:
        """``GET /v2/projects/{project_id}/user_assignments`` (plain page mode), lazily."""
        params = self._filters(user_id=user_id, is_active=is_active, updated_since=updated_since)
        path = f"/projects/{int(project_id)}/user_assignments"
        async for page in self._pages(path, "user_assignments", UserAssignment, params):
            for item in page.items:
                yield item

    async def get_project_user_assignment(self, project_id: int, assignment_id: int) -> UserAssignment:
        """``GET /v2/projects/{project_id}/user_assignments/{id}``."""
        url = self._url(f"/projects/{int(project_id)}/user_assignments/{int(assignment_id)}")
        return self._model(await self._send("GET", url), UserAssignment)

    async def create_project_user_assignment(
        self, project_id: int, assignment: UserAssignmentCreate | Mapping[str, Any]
    ) -> UserAssignment:
        """``POST /v2/projects/{project_id}/user_assignments``."""
        body = self._validate(UserAssignmentCreate, assignment)
        url = self._url(f"/projects/{int(project_id)}/user_assignments")
        return self._model(await self._send("POST", url, json=body.to_json()), UserAssignment)

    async def update_project_user_assignment(
        self,
        project_id: int,
        assignment_id: int,
        changes: UserAssignmentUpdate | Mapping[str, Any],
    ) -> UserAssignment:
        """``PATCH /v2/projects/{project_id}/user_assignments/{id}``."""
        body = self._validate(UserAssignmentUpdate, changes)
        url = self._url(f"/projects/{int(project_id)}/user_assignments/{int(assignment_id)}")
        return self._model(await self._send("PATCH", url, json=body.to_json()), UserAssignment)

    async def delete_project_user_assignment(self, project_id: int, assignment_id: int) -> None:
        """``DELETE /v2/projects/{project_id}/user_assignments/{id}``: only without time entries or
        expenses (§7.4)."""
        url = self._url(f"/projects/{int(project_id)}/user_assignments/{int(assignment_id)}")
        await self._send("DELETE", url)
