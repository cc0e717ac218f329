"""User teammates, docs/harvest-api.md §7.1 (DOC-TEAM): administrators only; the user must be a
manager (else 422); PATCH replaces the whole list and ``people_manager`` follows it."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from ._http import Call, Form, json_response, raw_json, unprocessable
from ._pagination import NewestFirst, envelope, read_page_query
from ._records import User
from ._render import teammate_dict
from ._section import ApiSection, RouteSpec, is_manager

__all__ = ["TeammatesApi"]

NOT_A_MANAGER = "User is not a manager"


class TeammatesApi(ApiSection):
    def routes(self) -> list[RouteSpec]:
        return [
            ("/v2/users/{user_id}/teammates", "GET", self.list_teammates),
            ("/v2/users/{user_id}/teammates", "PATCH", self.set_teammates),
        ]

    def _manager(self, call: Call) -> User:
        self.require_admin(call)
        user = self.user_or_404(call)
        if not is_manager(user):
            raise unprocessable(NOT_A_MANAGER)
        return user

    def list_teammates(self, call: Call) -> Response:
        """``GET /v2/users/{id}/teammates``: paginated ``{"teammates": [{id, first_name,
        last_name, email}]}``, newest first."""
        manager = self._manager(call)
        query = read_page_query(call.params)
        users = self.state.users
        ids = self.state.teammates.get(manager.id, [])
        body = envelope("teammates", query, NewestFirst(ids),
                        lambda uid: orjson.dumps(teammate_dict(users[uid])),
                        origin=call.origin, path=call.url_path)
        return raw_json(body)

    def set_teammates(self, call: Call) -> Response:
        """``PATCH /v2/users/{id}/teammates`` with ``{"teammate_ids": [...]}`` (required): the full
        list; 200 ``{"teammates": [...]}`` without pagination fields."""
        manager = self._manager(call)
        state = self.state
        form = Form(call.body)
        ids = form.ids("teammate_ids")
        if ids is None and not form.errors:
            form.error("Teammate ids can't be blank")
        unknown = [i for i in ids or () if i not in state.users or i == manager.id]
        if unknown:
            form.error(f"Teammate ids are invalid: {', '.join(map(str, unknown))}")
        form.check()
        state.set_teammates(manager, ids or [])
        current = state.teammates.get(manager.id, [])
        return json_response({"teammates": [teammate_dict(state.users[i]) for i in reversed(current)]})
