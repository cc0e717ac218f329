"""Roles, docs/harvest-api.md §7.5 (DOC-ROLES): business labels, administrators only.

``user_ids`` replaces the membership, and members see the role's name in their ``roles``. Names are
unique without regard to case (a duplicate is a 422, 3AP-AG ``testCreateExistingFails``).
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

from ._http import Call, Form, json_response, not_found, raw_json
from ._pagination import NewestFirst, envelope, read_page_query
from ._records import Role
from ._render import role_dict
from ._section import ApiSection, RouteSpec

__all__ = ["RolesApi"]

TAKEN = "Name has already been taken"


class RolesApi(ApiSection):
    def routes(self) -> list[RouteSpec]:
        return [
            ("/v2/roles", "GET", self.list_roles),
            ("/v2/roles", "POST", self.create_role),
            ("/v2/roles/{role_id}", "GET", self.get_role),
            ("/v2/roles/{role_id}", "PATCH", self.update_role),
            ("/v2/roles/{role_id}", "DELETE", self.delete_role),
        ]

    def _role(self, call: Call) -> Role:
        self.require_admin(call)
        role = self.state.roles.get(call.path_id("role_id"))
        if role is None:
            raise not_found()
        return role

    def _read(self, call: Call, role: Role | None) -> tuple[str | None, list[int] | None]:
        form = Form(call.body)
        name = form.text("name")
        if (role is None or form.has("name")) and not name:
            form.error("Name can't be blank")
        elif name:
            other = self.state.role_name_index.get(name.casefold())
            if other is not None and (role is None or other != role.id):
                form.error(TAKEN)
        user_ids = form.ids("user_ids")
        unknown = [i for i in user_ids or () if i not in self.state.users]
        if unknown:
            form.error(f"User ids are invalid: {', '.join(map(str, unknown))}")
        form.check()
        return name, user_ids

    def list_roles(self, call: Call) -> Response:
        """``GET /v2/roles``: newest first, cursor mode, no ``updated_since``."""
        self.require_admin(call)
        query = read_page_query(call.params)
        roles = self.state.roles
        body = envelope("roles", query, NewestFirst(self.state.role_ids),
                        lambda rid: orjson.dumps(role_dict(roles[rid])),
                        origin=call.origin, path=call.url_path)
        return raw_json(body)

    def get_role(self, call: Call) -> Response:
        """``GET /v2/roles/{id}``."""
        return json_response(role_dict(self._role(call)))

    def create_role(self, call: Call) -> Response:
        """``POST /v2/roles`` with ``name`` (required) and ``user_ids``: 201."""
        self.require_admin(call)
        name, user_ids = self._read(call, None)
        assert name
        role = self.state.add_role(name)
        if user_ids:
            self.state.set_role_users(role, user_ids)
            role.updated_at = role.created_at
        return json_response(role_dict(role), 201, {"Location": f"{call.origin}/v2/roles/{role.id}"})

    def update_role(self, call: Call) -> Response:
        """``PATCH /v2/roles/{id}``: ``name``; ``user_ids`` replaces the members."""
        role = self._role(call)
        name, user_ids = self._read(call, role)
        if name and name != role.name:
            self.state.rename_role(role, name)
        if user_ids is not None:
            self.state.set_role_users(role, user_ids)
        return json_response(role_dict(role))

    def delete_role(self, call: Call) -> Response:
        """``DELETE /v2/roles/{id}``: 200 with the deleted role; its users lose the name."""
        role = self._role(call)
        body = role_dict(role)
        self.state.delete_role(role.id)
        return json_response(body)
