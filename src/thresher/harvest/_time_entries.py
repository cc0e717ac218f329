"""Time entries, expenses and the team time report: "does this person have hours?" before a
delete (§6.4: a user with time or expenses cannot be deleted) and "how much did they track?".

Dates go out as ``YYYY-MM-DD`` (``from``/``to`` of the lists) and ``YYYYMMDD`` (the reports, as
Harvest's report examples write them). The Reports API has its own, lower rate limit (§4: 100
per 15 minutes); a 429 there is waited out like any other (``Retry-After``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

from ._core import Core
from ._errors import InvalidRequestError
from ._work_models import Expense, TeamTimeResult, TimeEntry

__all__ = ["TimeEntries"]


def _date(value: dt.date | str, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidRequestError(
            f"{name} {value!r} is not a date", hint="Use a datetime.date or YYYY-MM-DD."
        ) from exc


class TimeEntries(Core):
    def _work_filters(
        self,
        *,
        user_id: int | None,
        client_id: int | None,
        project_id: int | None,
        is_billed: bool | None,
        updated_since: dt.datetime | str | None,
        from_: dt.date | str | None,
        to: dt.date | str | None,
    ) -> dict[str, str]:
        params = self._filters(user_id=user_id, updated_since=updated_since)
        for key, number in (("client_id", client_id), ("project_id", project_id)):
            if number is not None:
                params[key] = str(int(number))
        if is_billed is not None:
            params["is_billed"] = self._bool(is_billed)
        if from_ is not None:
            params["from"] = _date(from_, "from_").isoformat()
        if to is not None:
            params["to"] = _date(to, "to").isoformat()
        return params

    async def list_time_entries(
        self,
        *,
        user_id: int | None = None,
        project_id: int | None = None,
        client_id: int | None = None,
        task_id: int | None = None,
        is_running: bool | None = None,
        is_billed: bool | None = None,
        updated_since: dt.datetime | str | None = None,
        from_: dt.date | str | None = None,
        to: dt.date | str | None = None,
    ) -> AsyncIterator[TimeEntry]:
        """``GET /v2/time_entries``: newest ``spent_date`` first, lazily; ``from_``/``to`` bound
        the spent date (inclusive). Members see their own time, managers also their teammates'
        and their projects'."""
        params = self._work_filters(
            user_id=user_id, client_id=client_id, project_id=project_id, is_billed=is_billed,
            updated_since=updated_since, from_=from_, to=to,
        )
        if task_id is not None:
            params["task_id"] = str(int(task_id))
        if is_running is not None:
            params["is_running"] = self._bool(is_running)
        async for item in self._items("/time_entries", "time_entries", TimeEntry, params):
            yield item

    async def get_time_entry(self, time_entry_id: int) -> TimeEntry:
        """``GET /v2/time_entries/{id}``."""
        url = self._url(f"/time_entries/{int(time_entry_id)}")
        return self._model(await self._send("GET", url), TimeEntry)

    async def list_expenses(
        self,
        *,
        user_id: int | None = None,
        project_id: int | None = None,
        client_id: int | None = None,
        is_billed: bool | None = None,
        updated_since: dt.datetime | str | None = None,
        from_: dt.date | str | None = None,
        to: dt.date | str | None = None,
    ) -> AsyncIterator[Expense]:
        """``GET /v2/expenses``: newest ``spent_date`` first, lazily."""
        params = self._work_filters(
            user_id=user_id, client_id=client_id, project_id=project_id, is_billed=is_billed,
            updated_since=updated_since, from_=from_, to=to,
        )
        async for item in self._items("/expenses", "expenses", Expense, params):
            yield item

    async def team_time_report(self, from_: dt.date | str, to: dt.date | str) -> list[TeamTimeResult]:
        """``GET /v2/reports/time/team``: each user's hours between ``from_`` and ``to``
        (inclusive), every page read (administrators; managers see themselves and their
        teammates). Counts against the Reports API's own limit (§4)."""
        start, end = _date(from_, "from_"), _date(to, "to")
        if end < start:
            raise InvalidRequestError(f"to ({end}) is before from_ ({start})")
        params = self._filters()
        params.update({"from": start.strftime("%Y%m%d"), "to": end.strftime("%Y%m%d")})
        return [row async for row in self._items("/reports/time/team", "results", TeamTimeResult, params)]
