"""``thresher teammates ...``: show and change a manager's teammates (read from Harvest)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from thresher.connections import ResolvedConnection
from thresher.harvest import User
from thresher.provision import WriteThrough, find_user

from ._console import out, print_json
from ._options import CONNECTION, DATABASE_URL, JSON, PEOPLE
from ._plumbing import run_writes

__all__ = ["teammates_app"]

teammates_app = typer.Typer(help="Show and change a manager's teammates.", no_args_is_help=True)

MANAGER = typer.Argument(..., help="The manager's email or id.")
PEOPLE_OR_NONE = typer.Argument(None, help="Emails or ids (none clears).")


def _teammate_rows(teammates: list[Any]) -> list[dict[str, Any]]:
    return [{"id": t.id, "first_name": t.first_name, "last_name": t.last_name, "email": t.email}
            for t in teammates]


def _print_teammates(manager: User, rows: list[dict[str, Any]], json_out: bool) -> None:
    if json_out:
        print_json({"manager": {"id": manager.id, "email": manager.email}, "teammates": rows})
        return
    table = Table("id", "name", "email", title=f"Teammates of {manager.email}")
    for r in rows:
        table.add_row(str(r["id"]), f"{r['first_name']} {r['last_name']}", r["email"])
    out.print(table)
    out.print(f"{len(rows)} teammate(s)")


def _change_teammates(
    manager_who: str, people: list[str], mode: str, connection: str | None,
    database_url: str | None, json_out: bool,
) -> None:
    async def body(writes: WriteThrough, _: ResolvedConnection) -> tuple[User, list[dict[str, Any]]]:
        manager = await find_user(writes, manager_who)
        current = {t.id async for t in writes.client.list_teammates(manager.id)}
        ids = {(await find_user(writes, p)).id for p in people}
        wanted = ids if mode == "set" else (current | ids if mode == "add" else current - ids)
        if wanted == current and mode != "set":
            teammates = [t async for t in writes.client.list_teammates(manager.id)]
        else:
            teammates = await writes.set_teammates(manager.id, sorted(wanted))
        return manager, _teammate_rows(teammates)

    manager, rows = run_writes(connection, database_url, body)
    _print_teammates(manager, rows, json_out)


@teammates_app.command("show")
def teammates_show(
    manager: str = MANAGER, connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show a manager's teammates, read from Harvest.

    Example: thresher teammates show lead@example.com
    """

    async def body(writes: WriteThrough, _: ResolvedConnection) -> tuple[User, list[dict[str, Any]]]:
        user = await find_user(writes, manager)
        return user, _teammate_rows([t async for t in writes.client.list_teammates(user.id)])

    user, rows = run_writes(connection, database_url, body)
    _print_teammates(user, rows, json_out)


@teammates_app.command("set")
def teammates_set(
    manager: str = MANAGER, people: list[str] = PEOPLE_OR_NONE,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Replace a manager's teammates with exactly these people (none: clear them).

    Example: thresher teammates set lead@example.com ada@example.com bob@example.com
    """
    _change_teammates(manager, people or [], "set", connection, database_url, json_out)


@teammates_app.command("add")
def teammates_add(
    manager: str = MANAGER, people: list[str] = PEOPLE, connection: str | None = CONNECTION,
    json_out: bool = JSON, database_url: str | None = DATABASE_URL,
) -> None:
    """Add people to a manager's teammates.

    Example: thresher teammates add lead@example.com ada@example.com
    """
    _change_teammates(manager, people, "add", connection, database_url, json_out)


@teammates_app.command("remove")
def teammates_remove(
    manager: str = MANAGER, people: list[str] = PEOPLE, connection: str | None = CONNECTION,
    json_out: bool = JSON, database_url: str | None = DATABASE_URL,
) -> None:
    """Remove people from a manager's teammates.

    Example: thresher teammates remove lead@example.com ada@example.com
    """
    _change_teammates(manager, people, "remove", connection, database_url, json_out)
