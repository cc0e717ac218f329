"""Billable and cost rates, docs/harvest-api.md §7.2 (DOC-BR, DOC-CR).

Rates are listed oldest first by ``start_date``; ``end_date`` is computed (the day before the next
rate starts). A new rate without ``start_date`` replaces all rates; one with a ``start_date``
replaces the rates starting on or after it; a ``start_date`` in the future is a 422. Billable
rates: administrators, or managers with ``billable_rates_manager`` for their teammates. Cost
rates: administrators only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from ._http import Call, Form, json_response, not_found, raw_json
from ._pagination import SortedBy, envelope, read_page_query
from ._records import Rate, User
from ._render import rates_list
from ._section import ApiSection, RouteSpec, is_admin
from ._state import RateKind, rate_sort_key

__all__ = ["RatesApi"]


def _cursor(rate: Rate) -> dict[str, Any]:
    return {"id": rate.id, "start_date": rate.start_date}


def _from_cursor(key: Mapping[str, Any]) -> tuple[str, int]:
    start = key.get("start_date")
    if start is not None and not isinstance(start, str):
        raise TypeError(start)
    return (start or "", int(key["id"]))


class RatesApi(ApiSection):
    def routes(self) -> list[RouteSpec]:
        out: list[RouteSpec] = []
        for kind in ("billable", "cost"):
            name = f"{kind}_rates"
            out += [
                (f"/v2/users/{{user_id}}/{name}", "GET", self._lister(kind)),
                (f"/v2/users/{{user_id}}/{name}", "POST", self._creator(kind)),
                (f"/v2/users/{{user_id}}/{name}/{{rate_id}}", "GET", self._getter(kind)),
            ]
        return out

    def _user(self, call: Call, kind: RateKind) -> User:
        user = self.user_or_404(call)
        actor = call.actor
        if is_admin(actor):
            return user
        if kind == "billable" and "billable_rates_manager" in actor.access_roles and (
            self.manages(actor, user) or actor.id == user.id
        ):
            return user
        raise self.deny()

    def _lister(self, kind: RateKind) -> Any:
        def list_rates(call: Call) -> Response:
            user = self._user(call, kind)
            query = read_page_query(call.params)
            rates = self.state.rates(kind).get(user.id, [])
            rendered = {r["id"]: orjson.dumps(r) for r in rates_list(rates)}
            ordered = SortedBy(rates, rate_sort_key, _cursor, _from_cursor)
            body = envelope(f"{kind}_rates", query, ordered, lambda r: rendered[r.id],
                            origin=call.origin, path=call.url_path)
            return raw_json(body)

        list_rates.__doc__ = f"``GET /v2/users/{{id}}/{kind}_rates``: oldest first, cursor mode."
        return list_rates

    def _getter(self, kind: RateKind) -> Any:
        def get_rate(call: Call) -> Response:
            user = self._user(call, kind)
            rate_id = call.path_id("rate_id")
            for rate in rates_list(self.state.rates(kind).get(user.id, [])):
                if rate["id"] == rate_id:
                    return json_response(rate)
            raise not_found()

        get_rate.__doc__ = f"``GET /v2/users/{{id}}/{kind}_rates/{{rate_id}}``."
        return get_rate

    def _creator(self, kind: RateKind) -> Any:
        def create_rate(call: Call) -> Response:
            user = self._user(call, kind)
            form = Form(call.body)
            amount = form.number("amount")
            if amount is None and not form.errors:
                form.error("Amount can't be blank")
            elif amount is not None and amount < 0:
                form.error("Amount must be greater than or equal to 0")
            start = form.text("start_date") or None
            if start is not None:
                try:
                    start = dt.date.fromisoformat(start).isoformat()
                except ValueError:
                    form.error("Start date is invalid")
                else:
                    if start > self.sandbox.clock.today().isoformat():
                        form.error("Start date can't be in the future")
            form.check()
            assert amount is not None
            rate = self.state.add_rate(kind, user, amount, start)
            rates = self.state.rates(kind)[user.id]
            rendered = next(r for r in rates_list(rates) if r["id"] == rate.id)
            return json_response(rendered, 201)

        create_rate.__doc__ = (
            f"``POST /v2/users/{{id}}/{kind}_rates`` with ``amount`` (required) and ``start_date``: 201."
        )
        return create_rate
