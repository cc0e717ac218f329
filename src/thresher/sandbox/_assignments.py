"""Project assignments of a user (§7.3, DOC-PA) and user assignments of a project (§7.4, DOC-UA).

One record serves both views. Who may see what:

* own project assignments: anyone; another user's: administrators, or managers for their teammates;
* user assignments: administrators; managers see their teammates' assignments and every assignment
  of the projects they manage, and may change the latter.

``/v2/users/me/project_assignments`` and ``/v2/projects/{id}/user_assignments`` use plain page
numbers; the other lists use cursors (§3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from starlette.responses import Response

from ._http import Call, Form, json_response, not_found, raw_json, unprocessable
from ._pagination import NewestFirst, envelope, read_page_query
from ._records import Project, UserAssignment
from ._render import project_assignment_dict, user_assignment_dict
from ._section import ApiSection, RouteSpec, is_admin, is_manager

__all__ = ["AssignmentsApi"]

ALREADY_ASSIGNED = "User has already been assigned to this project"
_ONE = "/v2/projects/{project_id}/user_assignments/{assignment_id}"
NOT_REMOVABLE = "This user assignment is not removable. It still has time entries and/or expenses."


class AssignmentsApi(ApiSection):
    def routes(self) -> list[RouteSpec]:
        return [
            ("/v2/users/me/project_assignments", "GET", self.my_project_assignments),
            ("/v2/users/{user_id}/project_assignments", "GET", self.project_assignments),
            ("/v2/user_assignments", "GET", self.all_user_assignments),
            ("/v2/projects/{project_id}/user_assignments", "GET", self.project_user_assignments),
            ("/v2/projects/{project_id}/user_assignments", "POST", self.create_user_assignment),
            (_ONE, "GET", self.get_user_assignment),
            (_ONE, "PATCH", self.update_user_assignment),
            (_ONE, "DELETE", self.delete_user_assignment),
        ]

    # -- helpers ----------------------------------------------------------------------------------
    def _filtered(
        self, call: Call, ids: Iterable[int], *, active_only: bool = False, user_filter: bool = False
    ) -> list[int]:
        """Ascending assignment ids passing ``is_active``/``updated_since``/``user_id``."""
        is_active = True if active_only else self.is_active_filter(call)
        since = self.updated_since(call)
        user_id = None
        if user_filter:
            form = Form(call.params)
            user_id = form.integer("user_id")
            form.check()
        table = self.state.user_assignments
        if is_active is None and since is None and user_id is None:
            return sorted(ids)
        return sorted(
            aid for aid in ids
            if (is_active is None or table[aid].is_active is is_active)
            and (since is None or table[aid].updated_at >= since)
            and (user_id is None or table[aid].user_id == user_id)
        )

    def _list(self, call: Call, name: str, ids: list[int], keep: tuple[str, ...], *, cursors: bool,
              render: Callable[[UserAssignment], dict[str, object]]) -> Response:
        query = read_page_query(call.params, keep, cursors=cursors)
        table = self.state.user_assignments
        body = envelope(name, query, NewestFirst(ids), lambda aid: orjson.dumps(render(table[aid])),
                        origin=call.origin, path=call.url_path)
        return raw_json(body)

    def _project(self, call: Call) -> Project:
        project = self.state.projects.get(call.path_id("project_id"))
        if project is None:
            raise not_found()
        return project

    def _can_manage_project(self, call: Call, project: Project) -> bool:
        actor = call.actor
        if is_admin(actor):
            return True
        return is_manager(actor) and project.id in self.state.managed_project_ids(actor.id)

    def _assignment(self, call: Call, project: Project) -> UserAssignment:
        assignment = self.state.user_assignments.get(call.path_id("assignment_id"))
        if assignment is None or assignment.project_id != project.id:
            raise not_found()
        return assignment

    def _visible_to_manager(self, call: Call) -> set[int]:
        """Assignment ids a manager sees: teammates' and those of managed projects."""
        state, actor = self.state, call.actor
        visible: set[int] = set()
        for uid in state.teammates.get(actor.id, ()):
            visible.update(state.assignments_by_user.get(uid, ()))
        for pid in state.managed_project_ids(actor.id):
            visible.update(state.assignments_by_project.get(pid, ()))
        return visible

    # -- §7.3 -------------------------------------------------------------------------------------
    def my_project_assignments(self, call: Call) -> Response:
        """``GET /v2/users/me/project_assignments``: the token owner's active assignments, newest
        first, plain page mode."""
        ids = self._filtered(call, self.state.assignments_by_user.get(call.actor.id, ()), active_only=True)
        return self._list(call, "project_assignments", ids, (), cursors=False,
                          render=lambda a: project_assignment_dict(self.state, a))

    def project_assignments(self, call: Call) -> Response:
        """``GET /v2/users/{id}/project_assignments``: active assignments, newest first, cursor
        mode, ``updated_since``."""
        user = self.user_or_404(call)
        if not self.can_view(call.actor, user):
            raise self.deny()
        ids = self._filtered(call, self.state.assignments_by_user.get(user.id, ()), active_only=True)
        return self._list(call, "project_assignments", ids, ("updated_since",), cursors=True,
                          render=lambda a: project_assignment_dict(self.state, a))

    # -- §7.4 -------------------------------------------------------------------------------------
    def all_user_assignments(self, call: Call) -> Response:
        """``GET /v2/user_assignments``: active and archived, newest first, cursor mode;
        ``user_id``, ``is_active``, ``updated_since``."""
        actor = call.actor
        if is_admin(actor):
            source: Iterable[int] = self.state.assignment_ids
        elif is_manager(actor) and (
            self.state.teammates.get(actor.id) or self.state.managed_project_ids(actor.id)
        ):
            source = self._visible_to_manager(call)
        else:
            raise self.deny()
        ids = self._filtered(call, source, user_filter=True)
        return self._list(call, "user_assignments", ids, ("user_id", "is_active", "updated_since"),
                          cursors=True, render=lambda a: user_assignment_dict(self.state, a))

    def project_user_assignments(self, call: Call) -> Response:
        """``GET /v2/projects/{id}/user_assignments``: newest first, plain page mode."""
        project = self._project(call)
        source: Iterable[int] = self.state.assignments_by_project.get(project.id, ())
        if not self._can_manage_project(call, project):
            if not (is_manager(call.actor) and self.state.teammates.get(call.actor.id)):
                raise self.deny()
            source = set(source) & self._visible_to_manager(call)
        ids = self._filtered(call, source)
        return self._list(call, "user_assignments", ids, ("is_active", "updated_since"), cursors=False,
                          render=lambda a: user_assignment_dict(self.state, a))

    def get_user_assignment(self, call: Call) -> Response:
        """``GET /v2/projects/{pid}/user_assignments/{id}``."""
        project = self._project(call)
        assignment = self._assignment(call, project)
        visible = self._can_manage_project(call, project) or assignment.id in self._visible_to_manager(call)
        if not visible:
            raise self.deny()
        return json_response(user_assignment_dict(self.state, assignment))

    def _read(self, form: Form) -> dict[str, bool | float | None]:
        values: dict[str, bool | float | None] = {}
        for key in ("is_active", "is_project_manager", "use_default_rates"):
            value = form.boolean(key)
            if value is not None:
                values[key] = value
        for key in ("hourly_rate", "budget"):
            number = form.number(key)
            if number is not None:
                values[key] = number
            elif form.has(key) and form.data.get(key) is None:
                values[key] = None
        return values

    def create_user_assignment(self, call: Call) -> Response:
        """``POST /v2/projects/{pid}/user_assignments`` with ``user_id`` (required): 201.
        ``is_project_manager`` defaults to true for managers and administrators."""
        project = self._project(call)
        if not self._can_manage_project(call, project):
            raise self.deny()
        state = self.state
        form = Form(call.body)
        user_id = form.integer("user_id")
        values = self._read(form)
        if user_id is None and not form.errors:
            form.error("User can't be blank")
        user = state.users.get(user_id) if user_id is not None else None
        if user_id is not None and user is None:
            form.error("User must exist")
        if user is not None and state.assignment_for(project.id, user.id) is not None:
            # §7.4 [U]: assigning an assigned user is undocumented; refusing keeps one record.
            form.error(ALREADY_ASSIGNED)
        form.check()
        assert user is not None
        hourly, budget = values.get("hourly_rate", 0.0), values.get("budget")
        assignment = state.assign(
            project, user,
            is_project_manager=bool(values.get("is_project_manager", user.access_roles[0] != "member")),
            is_active=bool(values.get("is_active", True)),
            use_default_rates=bool(values.get("use_default_rates", True)),
            hourly_rate=None if hourly is None else float(hourly),
            budget=None if budget is None else float(budget),
        )
        location = f"{call.origin}/v2/projects/{project.id}/user_assignments/{assignment.id}"
        return json_response(user_assignment_dict(state, assignment), 201, {"Location": location})

    def update_user_assignment(self, call: Call) -> Response:
        """``PATCH /v2/projects/{pid}/user_assignments/{id}``: ``is_active``,
        ``is_project_manager``, ``use_default_rates``, ``hourly_rate``, ``budget``."""
        project = self._project(call)
        assignment = self._assignment(call, project)
        if not self._can_manage_project(call, project):
            raise self.deny()
        form = Form(call.body)
        values = self._read(form)
        form.check()
        changed = False
        for key, value in values.items():
            if getattr(assignment, key) != value:
                setattr(assignment, key, value)
                changed = True
        if changed:
            assignment.updated_at = self.sandbox.clock.stamp(assignment.updated_at)
        return json_response(user_assignment_dict(self.state, assignment))

    def delete_user_assignment(self, call: Call) -> Response:
        """``DELETE /v2/projects/{pid}/user_assignments/{id}``: only without time entries or
        expenses on the project (else 422); 200 with the deleted assignment."""
        project = self._project(call)
        assignment = self._assignment(call, project)
        if not self._can_manage_project(call, project):
            raise self.deny()
        if self.state.has_time_or_expenses(assignment.user_id, project.id):
            raise unprocessable(NOT_REMOVABLE)
        body = user_assignment_dict(self.state, assignment)
        self.state.delete_assignment(assignment.id)
        return json_response(body)
