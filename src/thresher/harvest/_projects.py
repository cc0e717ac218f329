"""Clients, projects, tasks and a project's task assignments: what offboarding reads to see which
projects a person leads (``/v2/clients``, ``/v2/projects``, ``/v2/tasks``,
``/v2/projects/{id}/task_assignments``). The lists use cursors where Harvest offers them (§3);
``links.next`` is followed either way."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

from ._core import Core
from ._work_models import Client, Project, ProjectTaskAssignment, Task

__all__ = ["Projects"]


class Projects(Core):
    async def list_clients(
        self, *, is_active: bool | None = None, updated_since: dt.datetime | str | None = None
    ) -> AsyncIterator[Client]:
        """``GET /v2/clients``: newest first, lazily (administrators; managers see the clients of
        the projects they manage)."""
        params = self._filters(is_active=is_active, updated_since=updated_since)
        async for item in self._items("/clients", "clients", Client, params):
            yield item

    async def list_projects(
        self,
        *,
        is_active: bool | None = None,
        client_id: int | None = None,
        updated_since: dt.datetime | str | None = None,
    ) -> AsyncIterator[Project]:
        """``GET /v2/projects``: newest first, lazily (administrators; managers see the projects
        they manage)."""
        params = self._filters(is_active=is_active, updated_since=updated_since)
        if client_id is not None:
            params["client_id"] = str(int(client_id))
        async for item in self._items("/projects", "projects", Project, params):
            yield item

    async def get_project(self, project_id: int) -> Project:
        """``GET /v2/projects/{id}``."""
        return self._model(await self._send("GET", self._url(f"/projects/{int(project_id)}")), Project)

    async def list_tasks(
        self, *, is_active: bool | None = None, updated_since: dt.datetime | str | None = None
    ) -> AsyncIterator[Task]:
        """``GET /v2/tasks``: newest first, lazily (administrators and managers)."""
        params = self._filters(is_active=is_active, updated_since=updated_since)
        async for item in self._items("/tasks", "tasks", Task, params):
            yield item

    async def list_task_assignments(
        self,
        project_id: int,
        *,
        is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
    ) -> AsyncIterator[ProjectTaskAssignment]:
        """``GET /v2/projects/{project_id}/task_assignments``: the project's tasks, lazily."""
        params = self._filters(is_active=is_active, updated_since=updated_since)
        path = f"/projects/{int(project_id)}/task_assignments"
        async for item in self._items(path, "task_assignments", ProjectTaskAssignment, params):
            yield item
