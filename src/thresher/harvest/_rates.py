"""Billable and cost rates: docs/harvest-api.md §7.2 (``/v2/users/{id}/billable_rates``,
``/cost_rates``). No PATCH or DELETE exists."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

from ._core import Core
from ._models import Rate
from ._requests import RateCreate

__all__ = ["Rates"]


class Rates(Core):
    def _list_rates(self, user_id: int, kind: str) -> AsyncIterator[Rate]:
        return self._items(f"/users/{int(user_id)}/{kind}", kind, Rate, self._filters())

    async def _get_rate(self, user_id: int, kind: str, rate_id: int) -> Rate:
        url = self._url(f"/users/{int(user_id)}/{kind}/{int(rate_id)}")
        return self._model(await self._send("GET", url), Rate)

    async def _create_rate(
        self, user_id: int, kind: str, amount: Decimal | float | str,
        start_date: dt.date | str | None,
    ) -> Rate:
        fields: dict[str, object] = {"amount": amount}
        if start_date is not None:
            fields["start_date"] = start_date
        body = self._validate(RateCreate, fields)
        response = await self._send(
            "POST", self._url(f"/users/{int(user_id)}/{kind}"), json=body.to_json()
        )
        return self._model(response, Rate)

    async def list_billable_rates(self, user_id: int) -> AsyncIterator[Rate]:
        """``GET /v2/users/{id}/billable_rates``: every rate, oldest ``start_date`` first, lazily."""
        async for rate in self._list_rates(user_id, "billable_rates"):
            yield rate

    async def get_billable_rate(self, user_id: int, rate_id: int) -> Rate:
        """``GET /v2/users/{id}/billable_rates/{rate_id}``."""
        return await self._get_rate(user_id, "billable_rates", rate_id)

    async def create_billable_rate(
        self, user_id: int, amount: Decimal | float | str, start_date: dt.date | str | None = None
    ) -> Rate:
        """``POST /v2/users/{id}/billable_rates``; ``start_date`` never in the future, and without
        it the existing rates are replaced (§7.2)."""
        return await self._create_rate(user_id, "billable_rates", amount, start_date)

    async def list_cost_rates(self, user_id: int) -> AsyncIterator[Rate]:
        """``GET /v2/users/{id}/cost_rates``: every rate, oldest ``start_date`` first, lazily."""
        async for rate in self._list_rates(user_id, "cost_rates"):
            yield rate

    async def get_cost_rate(self, user_id: int, rate_id: int) -> Rate:
        """``GET /v2/users/{id}/cost_rates/{rate_id}``."""
        return await self._get_rate(user_id, "cost_rates", rate_id)

    async def create_cost_rate(
        self, user_id: int, amount: Decimal | float | str, start_date: dt.date | str | None = None
    ) -> Rate:
        """``POST /v2/users/{id}/cost_rates`` (administrators only)."""
        return await self._create_rate(user_id, "cost_rates", amount, start_date)
