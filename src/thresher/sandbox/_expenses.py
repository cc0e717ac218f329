"""Expenses (``/v2/expenses``) and the team time report (``/v2/reports/time/team``), shaped as
``tests/sandbox/data/harvest-openapi.yaml`` describes Harvest's docs.

* Expenses: visible as the description says (administrators all; managers their teammates' and
  their managed projects'; members their own, ``ApiSection.may_see_work``); newest ``spent_date``
  first in plain pages, filtered by ``user_id``, ``client_id``, ``project_id``, ``is_billed``,
  ``updated_since``, ``from``, ``to``. A create takes ``project_id``, ``expense_category_id`` and
  ``spent_date`` (required), ``total_cost`` or ``units`` (for a category with a unit price), and
  needs an active assignment, like time. Like time, an expense makes its user not removable.
* The team report sums the time of each user between ``from`` and ``to`` (both required, as
  ``YYYYMMDD`` or ``YYYY-MM-DD``): administrators see everyone, managers themselves and their
  teammates, members get 403 [U]. Its rate limit is the Reports API's own (§4, ``_app.py``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import orjson
from starlette.responses import Response

from ._http import Call, Form, json_response, not_found, raw_json, unprocessable
from ._pagination import InOrder, envelope, read_page_query
from ._records import Expense
from ._section import ApiSection, RouteSpec, is_admin, is_manager
from ._time_entries import NOT_ASSIGNED
from ._work_render import EXPENSE_CATEGORIES, entry_hours, expense_dict

__all__ = ["ExpensesApi"]

_KEEP = ("user_id", "client_id", "project_id", "is_billed", "updated_since", "from", "to")


class ExpensesApi(ApiSection):
    def routes(self) -> list[RouteSpec]:
        return [
            ("/v2/expenses", "GET", self.list_expenses),
            ("/v2/expenses", "POST", self.create_expense),
            ("/v2/expenses/{expense_id}", "GET", self.get_expense),
            ("/v2/expenses/{expense_id}", "DELETE", self.delete_expense),
            ("/v2/reports/time/team", "GET", self.team_time_report),
        ]

    def list_expenses(self, call: Call) -> Response:
        """``GET /v2/expenses``: what the token may see, newest ``spent_date`` first."""
        state, actor = self.state, call.actor
        form = Form(call.params)
        user_id, client_id, project_id = (form.integer(k) for k in ("user_id", "client_id", "project_id"))
        is_billed = form.boolean("is_billed")
        form.check()
        start, end = self.date_param(call, "from"), self.date_param(call, "to")
        since = self.updated_since(call)
        query = read_page_query(call.params, _KEEP, cursors=False)
        projects = state.projects
        chosen = [] if is_billed is True else [
            e for e in state.expense_index.values()
            if (user_id is None or e.user_id == user_id)
            and (project_id is None or e.project_id == project_id)
            and (client_id is None or projects[e.project_id].client_id == client_id)
            and (start is None or e.spent_date >= start)
            and (end is None or e.spent_date <= end)
            and (since is None or (e.updated_at or e.created_at) >= since)
            and self.may_see_work(actor, e.user_id, e.project_id)
        ]
        chosen.sort(key=lambda e: (e.spent_date, e.id), reverse=True)
        body = envelope("expenses", query, InOrder(chosen), lambda e: orjson.dumps(expense_dict(state, e)),
                        origin=call.origin, path=call.url_path)
        return raw_json(body)

    def _expense(self, call: Call) -> Expense:
        expense = self.state.expense_index.get(call.path_id("expense_id"))
        if expense is None:
            raise not_found()
        if not self.may_see_work(call.actor, expense.user_id, expense.project_id):
            raise self.deny()
        return expense

    def get_expense(self, call: Call) -> Response:
        """``GET /v2/expenses/{id}``."""
        return json_response(expense_dict(self.state, self._expense(call)))

    def create_expense(self, call: Call) -> Response:
        """``POST /v2/expenses``: 201 and the expense."""
        state, actor = self.state, call.actor
        form = Form(call.body)
        user_id = form.integer("user_id", minimum=1)
        project_id = form.integer("project_id", minimum=1)
        category_id = form.integer("expense_category_id", minimum=1)
        spent = form.text("spent_date")
        total = form.number("total_cost", minimum=0)
        units = form.integer("units", minimum=0, maximum=2**31 - 1)
        notes = form.text("notes") or ""
        billable = form.boolean("billable")
        required = (("project_id", project_id), ("expense_category_id", category_id), ("spent_date", spent))
        for key, value in required:
            if value is None and not form.data.get(key):
                form.error(f"{key.removesuffix('_id').replace('_', ' ').capitalize()} can't be blank")
        if spent:
            spent = _date_value(form, spent)
        form.check()
        assert project_id is not None
        assert category_id is not None
        assert spent is not None
        user = state.users.get(actor.id if user_id is None else user_id)
        project = state.projects.get(project_id)
        if user is None or project is None:
            raise unprocessable(*(["User must exist"] if user is None else []),
                                *(["Project must exist"] if project is None else []))
        if not self.may_see_work(actor, user.id, project.id):
            raise self.deny()
        assignment = state.assignment_for(project.id, user.id)
        if assignment is None or not assignment.is_active:
            form.error(NOT_ASSIGNED)
        category = EXPENSE_CATEGORIES.get(category_id)
        if category is None:
            form.error("Expense category must exist")
        elif category[1] is not None and units is not None:
            total = round(units * float(category[1]), 2)
        elif category[1] is not None and total is None:
            form.error("Units can't be blank")
        if total is None and not form.errors:
            form.error("Total cost can't be blank")
        form.check()
        assert total is not None
        now = self.sandbox.clock.stamp()
        expense = Expense(state.next_id("expense"), user.id, project.id, spent, total, notes, now, now,
                          category_id, units, project.is_billable if billable is None else billable)
        state.add_expense(expense)
        location = f"{call.origin}/v2/expenses/{expense.id}"
        return json_response(expense_dict(state, expense), 201, {"Location": location})

    def delete_expense(self, call: Call) -> Response:
        """``DELETE /v2/expenses/{id}``: 200 with the deleted expense (§2)."""
        expense = self._expense(call)
        body = expense_dict(self.state, expense)
        self.state.remove_expense(expense)
        return json_response(body)

    # -- reports ----------------------------------------------------------------------------------
    def team_time_report(self, call: Call) -> Response:
        """``GET /v2/reports/time/team?from=...&to=...``: hours per user, plain pages."""
        state, actor = self.state, call.actor
        if is_admin(actor):
            allowed = None
        elif is_manager(actor):
            allowed = {actor.id, *state.teammates.get(actor.id, ())}
        else:
            raise self.deny()
        start = self.date_param(call, "from", required=True)
        end = self.date_param(call, "to", required=True)
        assert start is not None
        assert end is not None
        if end < start:
            raise unprocessable("To must be on or after from")
        query = read_page_query(call.params, ("from", "to", "include_fixed_fee"), cursors=False)
        now = self.sandbox.clock.now()
        totals: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for uid, entries in state.time_entries.items():
            if allowed is not None and uid not in allowed:
                continue
            user = state.users[uid]
            for entry in entries:
                if not start <= entry.spent_date <= end:
                    continue
                hours = entry_hours(entry, now)
                project = state.projects[entry.project_id]
                billable = project.is_billable and any(
                    t.task_id == entry.task_id and t.billable for t in project.task_assignments)
                row = totals[uid]
                row[0] += hours
                if billable:
                    row[1] += hours
                    row[2] += hours * (user.default_hourly_rate or 0.0)
        rows: list[dict[str, Any]] = []
        for uid, (total, billable_hours, amount) in totals.items():
            user = state.users[uid]
            rows.append({
                "user_id": user.id, "user_name": user.name, "is_contractor": user.is_contractor,
                "total_hours": round(total, 2), "billable_hours": round(billable_hours, 2),
                "currency": "USD", "billable_amount": round(amount, 2),
                "weekly_capacity": user.weekly_capacity, "avatar_url": user.avatar_url,
            })
        rows.sort(key=lambda r: (r["user_name"], r["user_id"]))
        body = envelope("results", query, InOrder(rows), orjson.dumps, origin=call.origin, path=call.url_path)
        return raw_json(body)


def _date_value(form: Form, text: str) -> str | None:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        form.error("Spent date is not a valid date")
        return None
