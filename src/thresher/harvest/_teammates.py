"""Teammates: docs/harvest-api.md §7.1 (``/v2/users/{id}/teammates``), administrators only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from ._core import Core
from ._models import Teammate
from ._requests import TeammatesUpdate

__all__ = ["Teammates"]


class Teammates(Core):
    async def list_teammates(self, manager_id: int) -> AsyncIterator[Teammate]:
        """``GET /v2/users/{id}/teammates``: the manager's teammates, lazily, across pages.
        ``{id}`` must be a manager, else 422."""
        path = f"/users/{int(manager_id)}/teammates"
        async for teammate in self._items(path, "teammates", Teammate, self._filters()):
            yield teammate

    async def set_teammates(self, manager_id: int, teammate_ids: Iterable[int]) -> list[Teammate]:
        """``PATCH /v2/users/{id}/teammates``: full replacement; ``[]`` clears the list. Harvest
        adds or removes ``people_manager`` on the manager accordingly (§6.3)."""
        body = self._validate(TeammatesUpdate, {"teammate_ids": list(teammate_ids)})
        response = await self._send(
            "PATCH", self._url(f"/users/{int(manager_id)}/teammates"), json=body.to_json()
        )
        # Answered without pagination fields (§7.1).
        data = self._json(response)
        items = data.get("teammates") if isinstance(data, dict) else None
        return [Teammate.model_validate(t) for t in items or []]
