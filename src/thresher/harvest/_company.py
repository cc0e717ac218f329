"""Company: docs/harvest-api.md §7.6 (``/v2/company``)."""

from __future__ import annotations

from ._core import Core
from ._models import Company
from ._requests import CompanyUpdate

__all__ = ["Companies"]


class Companies(Core):
    async def get_company(self) -> Company:
        """``GET /v2/company``: the authenticated user's company (no seat data exists)."""
        return self._model(await self._send("GET", self._url("/company")), Company)

    async def update_company(
        self, wants_timestamp_timers: bool | None = None, weekly_capacity: int | None = None
    ) -> Company:
        """``PATCH /v2/company``: only these two fields can change; ``weekly_capacity`` in
        seconds (gotcha 10)."""
        fields: dict[str, object] = {}
        if wants_timestamp_timers is not None:
            fields["wants_timestamp_timers"] = wants_timestamp_timers
        if weekly_capacity is not None:
            fields["weekly_capacity"] = weekly_capacity
        body = self._validate(CompanyUpdate, fields)
        response = await self._send("PATCH", self._url("/company"), json=body.to_json())
        return self._model(response, Company)
