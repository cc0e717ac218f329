"""Clients, projects, tasks and a project's task assignments: the reads user-lifecycle tools make
("which projects will lose their only manager?"), shaped as ``tests/sandbox/data/harvest-openapi.yaml``
describes Harvest's docs.

Who may read what (Harvest's pages say "Admin or Project Manager permissions required"; the
details are [U] and follow the rules of §7.4):

* administrators: everything;
* managers: the projects they manage (``is_project_manager`` on their assignment), the clients of
  those projects, every task, and the task assignments of a managed project;
* members: 403.

Lists are newest first. ``/v2/clients``, ``/v2/projects`` and ``/v2/tasks`` use cursors (§3);
``/v2/projects/{id}/task_assignments`` plain pages, as the description gives it no cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from starlette.responses import Response

from ._http import Call, Form, json_response, not_found, raw_json
from ._pagination import NewestFirst, envelope, read_page_query
from ._records import Project, User
from ._section import ApiSection, RouteSpec, is_admin, is_manager
from ._work_render import client_dict, project_dict, task_assignment_dict, task_dict

__all__ = ["CatalogApi"]


class CatalogApi(ApiSection):
    def routes(self) -> list[RouteSpec]:
        return [
            ("/v2/clients", "GET", self.list_clients),
            ("/v2/clients/{client_id}", "GET", self.get_client),
            ("/v2/projects", "GET", self.list_projects),
            ("/v2/projects/{project_id}", "GET", self.get_project),
            ("/v2/tasks", "GET", self.list_tasks),
            ("/v2/tasks/{task_id}", "GET", self.get_task),
            ("/v2/projects/{project_id}/task_assignments", "GET", self.list_task_assignments),
        ]

    # -- who sees what ----------------------------------------------------------------------------
    def _visible_projects(self, actor: User) -> Iterable[int]:
        if is_admin(actor):
            return self.state.projects.keys()
        if is_manager(actor):
            return self.state.managed_project_ids(actor.id)
        raise self.deny()

    def _visible_clients(self, actor: User) -> Iterable[int]:
        if is_admin(actor):
            return self.state.clients.keys()
        projects = self.state.projects
        return {projects[pid].client_id for pid in self._visible_projects(actor)}

    def _require_lead(self, actor: User) -> None:
        if not (is_admin(actor) or is_manager(actor)):
            raise self.deny()

    def _list(self, call: Call, name: str, ids: Iterable[int], keep: tuple[str, ...],
              render: Callable[[int], dict[str, Any]], *, updated: Callable[[int], int],
              active: Callable[[int], bool], cursors: bool = True) -> Response:
        query = read_page_query(call.params, keep, cursors=cursors)
        is_active, since = self.is_active_filter(call), self.updated_since(call)
        chosen = sorted(
            i for i in ids
            if (is_active is None or active(i) is is_active) and (since is None or updated(i) >= since)
        )
        body = envelope(name, query, NewestFirst(chosen), lambda i: orjson.dumps(render(i)),
                        origin=call.origin, path=call.url_path)
        return raw_json(body)

    # -- clients ----------------------------------------------------------------------------------
    def list_clients(self, call: Call) -> Response:
        """``GET /v2/clients``: ``is_active``, ``updated_since``; newest first, cursor mode."""
        clients = self.state.clients
        return self._list(call, "clients", self._visible_clients(call.actor), ("is_active", "updated_since"),
                          lambda i: client_dict(clients[i]), updated=lambda i: clients[i].updated_at,
                          active=lambda i: clients[i].is_active)

    def get_client(self, call: Call) -> Response:
        """``GET /v2/clients/{id}``."""
        client = self.state.clients.get(call.path_id("client_id"))
        if client is None:
            raise not_found()
        if client.id not in set(self._visible_clients(call.actor)):
            raise self.deny()
        return json_response(client_dict(client))

    # -- projects ---------------------------------------------------------------------------------
    def list_projects(self, call: Call) -> Response:
        """``GET /v2/projects``: ``is_active``, ``client_id``, ``updated_since``; newest first,
        cursor mode."""
        form = Form(call.params)
        client_id = form.integer("client_id")
        form.check()
        projects = self.state.projects
        ids: Iterable[int] = self._visible_projects(call.actor)
        if client_id is not None:
            ids = [pid for pid in ids if projects[pid].client_id == client_id]
        return self._list(call, "projects", ids, ("is_active", "client_id", "updated_since"),
                          lambda i: project_dict(self.state, projects[i]),
                          updated=lambda i: projects[i].updated_at, active=lambda i: projects[i].is_active)

    def _project(self, call: Call) -> Project:
        project = self.state.projects.get(call.path_id("project_id"))
        if project is None:
            raise not_found()
        if project.id not in set(self._visible_projects(call.actor)):
            raise self.deny()
        return project

    def get_project(self, call: Call) -> Response:
        """``GET /v2/projects/{id}``."""
        return json_response(project_dict(self.state, self._project(call)))

    # -- tasks ------------------------------------------------------------------------------------
    def list_tasks(self, call: Call) -> Response:
        """``GET /v2/tasks``: ``is_active``, ``updated_since``; newest first, cursor mode."""
        self._require_lead(call.actor)
        tasks = self.state.tasks
        return self._list(call, "tasks", tasks.keys(), ("is_active", "updated_since"),
                          lambda i: task_dict(tasks[i]), updated=lambda i: tasks[i].updated_at,
                          active=lambda i: True)

    def get_task(self, call: Call) -> Response:
        """``GET /v2/tasks/{id}``."""
        self._require_lead(call.actor)
        task = self.state.tasks.get(call.path_id("task_id"))
        if task is None:
            raise not_found()
        return json_response(task_dict(task))

    # -- task assignments -------------------------------------------------------------------------
    def list_task_assignments(self, call: Call) -> Response:
        """``GET /v2/projects/{id}/task_assignments``: ``is_active``, ``updated_since``; newest
        first, plain pages."""
        project = self._project(call)
        table = {ta.id: ta for ta in project.task_assignments}
        return self._list(call, "task_assignments", table.keys(), ("is_active", "updated_since"),
                          lambda i: task_assignment_dict(self.state, project, table[i]),
                          updated=lambda i: table[i].updated_at, active=lambda i: table[i].is_active,
                          cursors=False)
