"""Roles (business labels, not permissions): docs/harvest-api.md §7.5 (``/v2/roles``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from ._core import Core
from ._models import Role
from ._pagination import Page
from ._requests import RoleCreate, RoleUpdate

__all__ = ["Roles"]


class Roles(Core):
    def role_pages(
        self, *, per_page: int | None = None, start_url: str | None = None
    ) -> AsyncIterator[Page[Role]]:
        """``GET /v2/roles`` page by page (no ``updated_since`` exists for roles)."""
        params = self._filters(per_page=per_page)
        return self._pages("/roles", "roles", Role, params, start_url=start_url)

    async def list_roles(self) -> AsyncIterator[Role]:
        """``GET /v2/roles``: every role, newest first, lazily."""
        async for page in self.role_pages():
            for role in page.items:
                yield role

    async def get_role(self, role_id: int) -> Role:
        """``GET /v2/roles/{id}``."""
        return self._model(await self._send("GET", self._url(f"/roles/{int(role_id)}")), Role)

    async def create_role(self, name: str, user_ids: Iterable[int] = ()) -> Role:
        """``POST /v2/roles``; a duplicate name answers 422."""
        body = self._validate(RoleCreate, {"name": name, "user_ids": list(user_ids)})
        return self._model(await self._send("POST", self._url("/roles"), json=body.to_json()), Role)

    async def update_role(
        self, role_id: int, name: str | None = None, user_ids: Iterable[int] | None = None
    ) -> Role:
        """``PATCH /v2/roles/{id}``; ``user_ids`` replaces the role's whole list (§7.5)."""
        fields: dict[str, object] = {}
        if name is not None:
            fields["name"] = name
        if user_ids is not None:
            fields["user_ids"] = list(user_ids)
        body = self._validate(RoleUpdate, fields)
        url = self._url(f"/roles/{int(role_id)}")
        return self._model(await self._send("PATCH", url, json=body.to_json()), Role)

    async def delete_role(self, role_id: int) -> None:
        """``DELETE /v2/roles/{id}``; Harvest removes the role from its users."""
        await self._send("DELETE", self._url(f"/roles/{int(role_id)}"))
