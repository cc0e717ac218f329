"""``thresher teammates ...``: show and change a manager's teammates (read from Harvest)."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._console import confirm
from ._json import person_json
from ._options import CONNECTION, DATABASE_URL, FORMAT, JSON, PEOPLE, YES
from ._output import Column, OutputFormat, choose_format, print_records
from ._plumbing import describe_plain, run_writes

if TYPE_CHECKING:
    from thresher.connections import ResolvedConnection
    from thresher.harvest import Teammate, User
    from thresher.provision import WriteThrough

__all__ = ["teammates_app"]

teammates_app = typer.Typer(help="Show and change a manager's teammates.", no_args_is_help=True)

MANAGER = typer.Argument(..., help="The manager's email or id.")
PEOPLE_OR_NONE = typer.Argument(None, help="Emails or ids (none clears).")


TEAMMATE_COLUMNS: list[Column[Teammate]] = [
    Column("id", lambda t: str(t.id), whole=True),
    Column("name", lambda t: f"{t.first_name} {t.last_name}".strip()),
    Column("email", lambda t: t.email, whole=True),
]


def _print_teammates(manager: User, teammates: list[Teammate], output: OutputFormat) -> None:
    document = {"manager": person_json(manager), "teammates": [person_json(t) for t in teammates]}
    print_records(
        teammates, TEAMMATE_COLUMNS, output, person_json, document=document,
        title=f"Teammates of {manager.email}", summary=f"{len(teammates)} teammate(s)",
    )


def _change_teammates(
    manager_who: str, people: list[str], mode: str, connection: str | None,
    database_url: str | None, output: OutputFormat, *, yes: bool = True,
) -> None:
    from thresher.provision import find_user

    async def body(writes: WriteThrough, _: ResolvedConnection) -> tuple[User, list[Teammate]]:
        manager = await find_user(writes, manager_who)
        listed = [t async for t in writes.client.list_teammates(manager.id)]
        current = {t.id for t in listed}
        ids = {(await find_user(writes, p)).id for p in people}
        wanted = ids if mode == "set" else (current | ids if mode == "add" else current - ids)
        if wanted == current and mode != "set":
            return manager, listed
        dropped = [t for t in listed if t.id not in wanted]
        if mode == "set" and dropped:
            names = ", ".join(t.email for t in dropped)
            confirm(
                f"Take {len(dropped)} teammate(s) away from {describe_plain(manager)}: {names}?",
                yes=yes,
            )
        return manager, await writes.set_teammates(manager.id, sorted(wanted))

    manager, teammates = run_writes(connection, database_url, body)
    _print_teammates(manager, teammates, output)


@teammates_app.command("show")
def teammates_show(
    manager: str = MANAGER, connection: str | None = CONNECTION,
    fmt: OutputFormat | None = FORMAT, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show a manager's teammates, read from Harvest.

    Example: thresher teammates show lead@example.com
    """
    from thresher.provision import find_user

    output = choose_format(fmt, json_out)

    async def body(writes: WriteThrough, _: ResolvedConnection) -> tuple[User, list[Teammate]]:
        user = await find_user(writes, manager)
        return user, [t async for t in writes.client.list_teammates(user.id)]

    user, teammates = run_writes(connection, database_url, body)
    _print_teammates(user, teammates, output)


@teammates_app.command("set")
def teammates_set(
    manager: str = MANAGER, people: list[str] = PEOPLE_OR_NONE, yes: bool = YES,
    connection: str | None = CONNECTION, fmt: OutputFormat | None = FORMAT, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Replace a manager's teammates with exactly these people (none: clear them).

    Taking people away asks first on a terminal; without one (scripts, CI) it needs --yes.

    Example: thresher teammates set lead@example.com ada@example.com bob@example.com
    """
    output = choose_format(fmt, json_out)
    _change_teammates(manager, people or [], "set", connection, database_url, output, yes=yes)


@teammates_app.command("add")
def teammates_add(
    manager: str = MANAGER, people: list[str] = PEOPLE, connection: str | None = CONNECTION,
    json_out: bool = JSON, database_url: str | None = DATABASE_URL,
) -> None:
    """Add people to a manager's teammates.

    Example: thresher teammates add lead@example.com ada@example.com
    """
    _change_teammates(manager, people, "add", connection, database_url, choose_format(None, json_out))


@teammates_app.command("remove")
def teammates_remove(
    manager: str = MANAGER, people: list[str] = PEOPLE, connection: str | None = CONNECTION,
    json_out: bool = JSON, database_url: str | None = DATABASE_URL,
) -> None:
    """Remove people from a manager's teammates.

    Example: thresher teammates remove lead@example.com ada@example.com
    """
    _change_teammates(
        manager, people, "remove", connection, database_url, choose_format(None, json_out)
    )
