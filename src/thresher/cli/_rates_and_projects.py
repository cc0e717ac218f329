"""``thresher rates set``, ``thresher assign`` and ``unassign``: what a person costs and bills,
and the projects they work on."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import typer

from ._console import UsageError, out, print_json
from ._json import rate_json, user_assignment_json
from ._options import CONNECTION, DATABASE_URL, JSON, WHO
from ._plumbing import run_writes

if TYPE_CHECKING:
    from thresher.connections import ResolvedConnection
    from thresher.provision import WriteThrough

__all__ = ["assign", "parse_amount", "rates_app", "unassign"]

rates_app = typer.Typer(help="Set billable and cost rates.", no_args_is_help=True)

START = typer.Option(
    None, "--from", formats=["%Y-%m-%d"], help="Start date (not in the future); default: replaces."
)
PROJECT = typer.Option(..., "--project", help="Harvest project id.")


def parse_amount(value: str | None, flag: str) -> Decimal | None:
    """An amount option (``--billable 120.50``): exact, finite, not negative."""
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise UsageError(f"{flag} {value!r} is not a number", hint=f"e.g. {flag} 120.50") from None
    if not amount.is_finite() or amount < 0:
        raise UsageError(f"{flag} must be a number >= 0")
    return amount


@rates_app.command("set")
def rates_set(
    who: str = WHO,
    billable: str | None = typer.Option(None, "--billable", help="Billable rate per hour."),
    cost: str | None = typer.Option(None, "--cost", help="Cost rate per hour."),
    start: dt.datetime | None = START,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Set a user's billable and/or cost rate, from a date or replacing the current ones.

    Example: thresher rates set ada@example.com --billable 150 --cost 80 --from 2026-01-01
    """
    from thresher.provision import find_user

    billable_amount, cost_amount = parse_amount(billable, "--billable"), parse_amount(cost, "--cost")
    if billable_amount is None and cost_amount is None:
        raise UsageError("give --billable, --cost or both", hint="e.g. --billable 150")
    start_date = start.date() if start else None

    async def body(writes: WriteThrough, _: ResolvedConnection) -> dict[str, Any]:
        user = await find_user(writes, who)
        result: dict[str, Any] = {"user_id": user.id, "email": user.email}
        if billable_amount is not None:
            rate = await writes.create_billable_rate(user.id, billable_amount, start_date)
            result["billable_rate"] = rate_json(rate)
        if cost_amount is not None:
            rate = await writes.create_cost_rate(user.id, cost_amount, start_date)
            result["cost_rate"] = rate_json(rate)
        return result

    result = run_writes(connection, database_url, body)
    if json_out:
        print_json(result)
        return
    for kind in ("billable_rate", "cost_rate"):
        if kind in result:
            r = result[kind]
            label = kind.replace("_", " ")
            out.print(f"Set {label} of {result['email']} to {r['amount']} from {r['start_date']}.")


def assign(
    who: str = WHO, project: int = PROJECT,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Assign a user to a project (an archived assignment is re-activated).

    Example: thresher assign ada@example.com --project 14307913
    """
    from thresher.provision import find_user

    async def body(writes: WriteThrough, _: ResolvedConnection) -> dict[str, Any]:
        user = await find_user(writes, who)
        assignment = await writes.assign_project(user.id, project)
        return {"email": user.email, **user_assignment_json(assignment)}

    result = run_writes(connection, database_url, body)
    if json_out:
        print_json(result)
    else:
        out.print(f"{result['email']} is assigned to project {result['project']['name']} ({project}).")


def unassign(
    who: str = WHO, project: int = PROJECT,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Take a user off a project (archived instead when the assignment has time).

    Example: thresher unassign ada@example.com --project 14307913
    """
    from thresher.provision import find_user

    async def body(writes: WriteThrough, _: ResolvedConnection) -> dict[str, Any]:
        user = await find_user(writes, who)
        return {"email": user.email, "project_id": project,
                "outcome": await writes.unassign_project(user.id, project)}

    result = run_writes(connection, database_url, body)
    if json_out:
        print_json(result)
        return
    outcome = result["outcome"]
    if outcome == "none":
        out.print(f"{result['email']} was not assigned to project {project}.")
    elif outcome == "archived":
        out.print(f"The assignment has time, so it was archived: {result['email']} is off project {project}.")
    else:
        out.print(f"{result['email']} is off project {project}.")
