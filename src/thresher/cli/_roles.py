"""``thresher roles ...``: Harvest roles (business labels) and their members."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._console import confirm, out, print_json, refuse_unconfirmed
from ._json import role_json
from ._options import CONNECTION, DATABASE_URL, FORMAT, JSON, PEOPLE, YES
from ._output import Column, OutputFormat, choose_format, print_records
from ._plumbing import read_store, run_writes

if TYPE_CHECKING:
    from thresher.connections import ResolvedConnection
    from thresher.harvest import Role
    from thresher.provision import WriteThrough
    from thresher.store import StoredRole

__all__ = ["roles_app"]

roles_app = typer.Typer(help="Manage Harvest roles (business labels).", no_args_is_help=True)

MEMBERS = typer.Option([], "--member", help="A member's email or id (repeatable).")


async def _role_id(writes: WriteThrough, name: str) -> tuple[int, list[int]]:
    from thresher.provision import ProvisionError

    for role in writes.store.list_roles(writes.connection.id):
        if role.name.casefold() == name.casefold():
            return role.harvest_id, list(role.user_ids)
    async for found in writes.client.list_roles():
        if found.name.casefold() == name.casefold():
            return found.id, list(found.user_ids)
    raise ProvisionError(f"no role is named {name!r}", hint="'thresher roles list' shows them.")


ROLE_COLUMNS: list[Column[StoredRole]] = [
    Column("id", lambda r: str(r.harvest_id), whole=True),
    Column("name", lambda r: r.name),
    Column("members", lambda r: str(len(r.user_ids)), whole=True),
]


def _role_out(role: Role, json_out: bool, verb: str) -> None:
    if json_out:
        print_json(role_json(role))
    else:
        out.print(f"{verb} role [bold]{role.name}[/] (id {role.id}, {len(role.user_ids)} member(s)).")


@roles_app.command("list")
def roles_list(
    connection: str | None = CONNECTION, fmt: OutputFormat | None = FORMAT, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """List roles and their members from the roster mirror.

    Example: thresher roles list --json
    """
    output = choose_format(fmt, json_out)
    from thresher.connections import resolve

    store = read_store(database_url)
    conn = resolve(store, connection).connection
    roles = store.list_roles(conn.id)
    print_records(roles, ROLE_COLUMNS, output, role_json, summary=f"{len(roles)} role(s)")


@roles_app.command("create")
def roles_create(
    name: str = typer.Argument(..., help="Role name."),
    members: list[str] = MEMBERS,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create a role.

    Example: thresher roles create Designers --member ada@example.com
    """
    from thresher.provision import find_user


    async def body(writes: WriteThrough, _: ResolvedConnection) -> Role:
        ids = [(await find_user(writes, m)).id for m in members]
        return await writes.create_role(name, ids)

    _role_out(run_writes(connection, database_url, body), json_out, "Created")


@roles_app.command("rename")
def roles_rename(
    old: str = typer.Argument(..., help="Current name."), new: str = typer.Argument(..., help="New name."),
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Rename a role (its members' role names follow).

    Example: thresher roles rename Designers "Product Designers"
    """

    async def body(writes: WriteThrough, _: ResolvedConnection) -> Role:
        role_id, _members = await _role_id(writes, old)
        return await writes.update_role(role_id, name=new)

    _role_out(run_writes(connection, database_url, body), json_out, "Renamed")


@roles_app.command("delete")
def roles_delete(
    name: str = typer.Argument(..., help="Role name."),
    yes: bool = YES,
    connection: str | None = CONNECTION, database_url: str | None = DATABASE_URL,
) -> None:
    """Delete a role; Harvest removes it from its members.

    Asks first on a terminal; without one (scripts, CI) it needs --yes.

    Example: thresher roles delete Designers --yes
    """
    refuse_unconfirmed(f"Delete the role {name}?", yes=yes)

    async def body(writes: WriteThrough, _: ResolvedConnection) -> None:
        role_id, members = await _role_id(writes, name)
        confirm(f"Delete the role {name} ({len(members)} member(s) lose it)?", yes=yes)
        await writes.delete_role(role_id)

    run_writes(connection, database_url, body)
    out.print(f"Deleted role [bold]{name}[/].")


def _change_members(
    name: str, people: list[str], add: bool, connection: str | None, database_url: str | None,
    json_out: bool,
) -> None:
    from thresher.provision import find_user

    async def body(writes: WriteThrough, _: ResolvedConnection) -> Role:
        role_id, current = await _role_id(writes, name)
        ids = {(await find_user(writes, p)).id for p in people}
        wanted = set(current) | ids if add else set(current) - ids
        return await writes.update_role(role_id, user_ids=sorted(wanted))

    _role_out(run_writes(connection, database_url, body), json_out, "Updated")


@roles_app.command("add-member")
def roles_add_member(
    name: str = typer.Argument(..., help="Role name."), people: list[str] = PEOPLE,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Add people to a role.

    Example: thresher roles add-member Designers ada@example.com
    """
    _change_members(name, people, True, connection, database_url, json_out)


@roles_app.command("remove-member")
def roles_remove_member(
    name: str = typer.Argument(..., help="Role name."), people: list[str] = PEOPLE,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Remove people from a role.

    Example: thresher roles remove-member Designers ada@example.com
    """
    _change_members(name, people, False, connection, database_url, json_out)
