"""Provisioning commands: login, connections, offboard, teammates, roles, rates, assign, plan/apply."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import click
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from thresher._errors import ThresherError
from thresher.connections import (
    ENV_CONNECTION,
    Credentials,
    ResolvedConnection,
    SecretBox,
    oauth_login,
    open_client,
    resolve,
)
from thresher.harvest import AsyncHarvest, HarvestSettings, OAuthApp, User
from thresher.provision import (
    Plan,
    ProvisionError,
    WriteThrough,
    apply_plan,
    find_user,
    load_roster,
    make_plan,
    offboard,
)
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions

from ._app import app
from ._console import err_console, out, print_json
from ._db import open_store
from ._sync import CONNECTION, DATABASE_URL

connections_app = typer.Typer(help="Manage saved Harvest connections.", no_args_is_help=True)
teammates_app = typer.Typer(help="Show and change a manager's teammates.", no_args_is_help=True)
roles_app = typer.Typer(help="Manage Harvest roles (business labels).", no_args_is_help=True)
rates_app = typer.Typer(help="Set billable and cost rates.", no_args_is_help=True)

T = TypeVar("T")
JSON = typer.Option(False, "--json", help="Print the result as JSON.")
DEFAULT_REDIRECT = "http://127.0.0.1:8910/oauth/callback"


# -- shared plumbing -------------------------------------------------------------------------


def run_writes(
    connection: str | None,
    database_url: str | None,
    body: Callable[[WriteThrough, ResolvedConnection], Awaitable[T]],
) -> T:
    """Open the store and a client for the connection and run ``body`` with a WriteThrough."""
    store = open_store(database_url)
    resolved = resolve(store, connection)

    async def go() -> T:
        async with open_client(store, resolved) as client:
            return await body(WriteThrough(client, store, resolved.connection), resolved)

    return asyncio.run(go())


async def own_user_id(writes: WriteThrough, resolved: ResolvedConnection) -> int:
    """The token owner's id: saved at login, else ``GET /v2/users/me``."""
    if resolved.own_user_id is not None:
        return resolved.own_user_id
    return (await writes.client.me()).id


def describe(user: User) -> str:
    """``Ada Lovelace <ada@example.com> (id 5)``, safe to print through Rich markup."""
    return escape(f"{user.first_name} {user.last_name} <{user.email}> (id {user.id})")


def user_json(user: User) -> dict[str, Any]:
    return user.model_dump(mode="json")


# -- login and connections -------------------------------------------------------------------


def _read_token(token: str | None, token_stdin: bool) -> str:
    if token_stdin:
        token = sys.stdin.readline().strip()
    elif token is None:
        token = typer.prompt("Personal access token", hide_input=True)
    if not token or not token.strip():
        raise ThresherError(
            "no access token was given",
            hint="Create one at https://id.getharvest.com/developers and paste it when asked.",
        )
    return token.strip()


def _pick_account(accounts: list[tuple[int, str]], account_id: int | None) -> tuple[int, str]:
    if account_id is not None:
        for acc in accounts:
            if acc[0] == account_id:
                return acc
        raise ThresherError(
            f"this token cannot reach Harvest account {account_id}",
            hint="Accounts it reaches: " + ", ".join(f"{i} ({n})" for i, n in accounts) + ".",
        )
    if not accounts:
        raise ThresherError(
            "this identity has no Harvest account",
            hint="Sign in with a user of the Harvest account you want to manage.",
        )
    if len(accounts) == 1:
        return accounts[0]
    if not sys.stdin.isatty():
        raise ThresherError(
            f"this token reaches {len(accounts)} Harvest accounts",
            hint="Pick one with --account-id: " + ", ".join(f"{i} ({n})" for i, n in accounts) + ".",
        )
    for n, (ident, name) in enumerate(accounts, 1):
        err_console.print(f"  {n}. {name} ({ident})")
    choice: int = typer.prompt("Account", type=click.IntRange(1, len(accounts)), default=1)
    return accounts[choice - 1]


async def _verify(settings: HarvestSettings, **client_options: Any) -> tuple[list[tuple[int, str]], Any]:
    # No account is chosen yet. The client refuses API-origin requests without an account id, and
    # the sandbox serves the identity service on the API's origin; a placeholder id satisfies that
    # check (Harvest ID itself lives on another origin and never receives the header).
    async with AsyncHarvest(settings.replace(account_id=1), **client_options) as client:
        identity = await client.get_identity()
    return [(a.id, a.name) for a in identity.accounts], identity


@app.command()
def login(
    name: str | None = typer.Option(None, "--name", help="Name to save the connection as."),
    token: str | None = typer.Option(
        None, "--token", help="Personal access token (prefer the hidden prompt or --token-stdin)."
    ),
    token_stdin: bool = typer.Option(False, "--token-stdin", help="Read the token from stdin."),
    oauth: bool = typer.Option(False, "--oauth", help="Log in with OAuth2 in the browser."),
    client_id: str | None = typer.Option(None, "--client-id", envvar="HARVEST_CLIENT_ID"),
    client_secret: str | None = typer.Option(
        None, "--client-secret", envvar="HARVEST_CLIENT_SECRET", show_envvar=True
    ),
    redirect_uri: str = typer.Option(
        DEFAULT_REDIRECT, "--redirect-uri", help="The OAuth app's registered redirect URL."
    ),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL; do not open it."),
    account_id: int | None = typer.Option(None, "--account-id", help="Harvest account to use."),
    base_url: str | None = typer.Option(None, "--base-url", envvar="HARVEST_BASE_URL"),
    id_url: str | None = typer.Option(None, "--id-url", envvar="HARVEST_ID_URL"),
    user_agent: str | None = typer.Option(None, "--user-agent", envvar="HARVEST_USER_AGENT"),
    make_default: bool = typer.Option(True, "--default/--no-default", help="Make it the default."),
    json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Log in to Harvest and save the connection, with its credentials encrypted.

    A personal access token is asked for without echo (or read with --token-stdin); --oauth runs
    the authorization-code flow with a listener on 127.0.0.1.

    Example: thresher login --name acme --user-agent "Acme Ops (ops@acme.example)"
    """
    urls: dict[str, Any] = {k: v for k, v in {"base_url": base_url, "id_url": id_url}.items() if v}
    settings = HarvestSettings(user_agent=user_agent or "", **urls)
    store = open_store(database_url)
    if oauth:
        if not (client_id and client_secret):
            raise ThresherError(
                "OAuth login needs the app's client id and secret",
                hint="Pass --client-id and --client-secret, or set HARVEST_CLIENT_ID and "
                "HARVEST_CLIENT_SECRET.",
            )
        oauth_app = OAuthApp(client_id, client_secret, settings.id_url, settings.user_agent)

        def show(url: str) -> None:
            sys.stderr.write(f"Open this URL to authorize thresher: {url}\n")
            sys.stderr.flush()
            if not no_browser:
                webbrowser.open(url)

        tok = asyncio.run(oauth_login(oauth_app, redirect_uri, show))
        creds = Credentials(
            kind="oauth", access_token=tok.access_token, user_agent=settings.user_agent,
            refresh_token=tok.refresh_token, expires_at=tok.expires_at, client_id=client_id,
            client_secret=client_secret, scope=tok.scope,
        )
    else:
        creds = Credentials(
            kind="pat", access_token=_read_token(token, token_stdin), user_agent=settings.user_agent
        )
    settings = settings.replace(access_token=creds.access_token)
    accounts, _ = asyncio.run(_verify(settings))
    chosen_id, chosen_name = _pick_account(accounts, account_id)
    settings = settings.replace(account_id=chosen_id)

    async def me() -> User:
        async with AsyncHarvest(settings) as client:
            return await client.me()

    user = asyncio.run(me())
    creds = dataclasses.replace(creds, user_id=user.id)
    blob = SecretBox.from_env().seal(creds)
    conn_name = name or f"harvest-{chosen_id}"
    if store.get_connection_or_none(conn_name) is None:
        store.add_connection(
            conn_name, chosen_id, label=chosen_name, base_url=settings.base_url,
            id_url=settings.id_url, credentials_ref=blob, is_default=make_default,
        )
    else:
        store.update_connection(
            conn_name, account_id=chosen_id, label=chosen_name, base_url=settings.base_url,
            id_url=settings.id_url, credentials_ref=blob,
        )
        if make_default:
            store.set_default_connection(conn_name)
    admin = "administrator" in user.access_roles
    if not admin:
        err_console.print(
            f"[yellow]Warning:[/] {user.email} is not an administrator of {chosen_name}: Harvest "
            "refuses most user changes (and /v2/users for members) to this token."
        )
    if json_out:
        print_json({
            "connection": conn_name, "account_id": chosen_id, "account_name": chosen_name,
            "user": {"id": user.id, "email": user.email}, "administrator": admin,
            "auth": creds.kind,
        })
        return
    out.print(
        f"Logged in to [bold]{chosen_name}[/] ({chosen_id}) as {describe(user)}; saved as "
        f"connection [bold]{conn_name}[/]" + (" (default)." if make_default else ".")
    )
    if os.environ.get("HARVEST_ACCESS_TOKEN") and os.environ.get("HARVEST_ACCOUNT_ID"):
        err_console.print(
            f"Note: the HARVEST_* variables are set and take precedence; pass --connection "
            f"{conn_name} to use this login, or unset them."
        )


@connections_app.command("list")
def connections_list(json_out: bool = JSON, database_url: str | None = DATABASE_URL) -> None:
    """List saved connections (credentials are never shown).

    Example: thresher connections list --json
    """
    connections = open_store(database_url).list_connections()
    if json_out:
        print_json([c.as_dict() for c in connections])
        return
    table = Table("name", "account", "label", "api", "credentials", "default")
    for c in connections:
        table.add_row(
            c.name, str(c.account_id), c.label or "", c.base_url,
            "saved" if c.credentials_ref else ("environment" if c.name == ENV_CONNECTION else "none"),
            "*" if c.is_default else "",
        )
    out.print(table)


@connections_app.command("use")
def connections_use(
    name: str = typer.Argument(..., help="Connection name."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Make a saved connection the default (the HARVEST_* variables, when set, still win).

    Example: thresher connections use acme
    """
    conn = open_store(database_url).set_default_connection(name)
    out.print(f"[bold]{conn.name}[/] (account {conn.account_id}) is now the default connection.")


@connections_app.command("remove")
def connections_remove(
    name: str = typer.Argument(..., help="Connection name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Forget a connection, its credentials and its roster mirror (Harvest is not touched).

    Example: thresher connections remove acme --yes
    """
    store = open_store(database_url)
    store.get_connection(name)
    if not yes and not typer.confirm(f"Remove connection {name!r} and its mirror?"):
        raise typer.Abort()
    store.remove_connection(name)
    out.print(f"Removed connection [bold]{name}[/].")


# -- offboarding -----------------------------------------------------------------------------


@app.command("offboard")
def offboard_command(
    who: str = typer.Argument(..., help="Email or Harvest user id."),
    delete: bool = typer.Option(
        False, "--delete", help="Try deleting first; archive when Harvest refuses (user has time)."
    ),
    remove_from_teams: bool = typer.Option(
        False, "--remove-from-teams", help="Also take them off every manager's teammates."
    ),
    remove_from_roles: bool = typer.Option(
        False, "--remove-from-roles", help="Also remove them from every role."
    ),
    connection: str | None = CONNECTION,
    json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Offboard a person: archive them (their time is kept), optionally deleting instead.

    Example: thresher offboard ada@example.com --remove-from-teams --remove-from-roles
    """

    async def body(writes: WriteThrough, resolved: ResolvedConnection) -> dict[str, object]:
        user = await find_user(writes, who)
        me = await own_user_id(writes, resolved)
        result = await offboard(
            writes, user, own_user_id=me, delete=delete,
            remove_from_teams=remove_from_teams, remove_from_roles=remove_from_roles,
        )
        return result.as_dict()

    result = run_writes(connection, database_url, body)
    if json_out:
        print_json(result)
        return
    email = result["email"]
    if result["outcome"] == "deleted":
        out.print(f"Deleted {email}.")
    elif result["reason"]:
        out.print(f"Harvest refused to delete {email} ({result['reason']}), so they were archived.")
    elif result["outcome"] == "already archived":
        out.print(f"{email} was already archived.")
    else:
        out.print(f"Archived {email}; their time entries are kept.")
    managers = result["removed_from_managers"]
    roles = result["removed_from_roles"]
    if isinstance(managers, list) and managers:
        out.print(f"Removed from the teammates of {len(managers)} manager(s).")
    if isinstance(roles, list) and roles:
        out.print(f"Removed from role(s): {', '.join(str(r) for r in roles)}.")


# -- teammates -------------------------------------------------------------------------------


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


PEOPLE = typer.Argument(..., help="Emails or Harvest user ids.")
PEOPLE_OR_NONE = typer.Argument(None, help="Emails or ids (none clears).")
MEMBERS = typer.Option([], "--member", help="A member's email or id (repeatable).")
START = typer.Option(
    None, "--from", formats=["%Y-%m-%d"], help="Start date (not in the future); default: replaces."
)
ROSTER = typer.Argument(..., help="Roster file (.csv, .yaml or .yml).")
MANAGER = typer.Argument(..., help="The manager's email or id.")


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


# -- roles -----------------------------------------------------------------------------------


async def _role_id(writes: WriteThrough, name: str) -> tuple[int, list[int]]:
    for role in writes.store.list_roles(writes.connection.id):
        if role.name.casefold() == name.casefold():
            return role.harvest_id, list(role.user_ids)
    async for found in writes.client.list_roles():
        if found.name.casefold() == name.casefold():
            return found.id, list(found.user_ids)
    raise ProvisionError(f"no role is named {name!r}", hint="'thresher roles list' shows them.")


def _role_out(role: Any, json_out: bool, verb: str) -> None:
    if json_out:
        print_json(role.model_dump(mode="json"))
    else:
        out.print(f"{verb} role [bold]{role.name}[/] (id {role.id}, {len(role.user_ids)} member(s)).")


@roles_app.command("list")
def roles_list(
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """List roles and their members from the roster mirror.

    Example: thresher roles list --json
    """
    store = open_store(database_url)
    conn = resolve(store, connection).connection
    roles = store.list_roles(conn.id)
    if json_out:
        print_json([r.as_dict() for r in roles])
        return
    table = Table("id", "name", "members")
    for r in roles:
        table.add_row(str(r.harvest_id), r.name, str(len(r.user_ids)))
    out.print(table)


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

    async def body(writes: WriteThrough, _: ResolvedConnection) -> Any:
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

    async def body(writes: WriteThrough, _: ResolvedConnection) -> Any:
        role_id, _members = await _role_id(writes, old)
        return await writes.update_role(role_id, name=new)

    _role_out(run_writes(connection, database_url, body), json_out, "Renamed")


@roles_app.command("delete")
def roles_delete(
    name: str = typer.Argument(..., help="Role name."),
    connection: str | None = CONNECTION, database_url: str | None = DATABASE_URL,
) -> None:
    """Delete a role; Harvest removes it from its members.

    Example: thresher roles delete Designers
    """

    async def body(writes: WriteThrough, _: ResolvedConnection) -> None:
        role_id, _members = await _role_id(writes, name)
        await writes.delete_role(role_id)

    run_writes(connection, database_url, body)
    out.print(f"Deleted role [bold]{name}[/].")


def _change_members(
    name: str, people: list[str], add: bool, connection: str | None, database_url: str | None,
    json_out: bool,
) -> None:
    async def body(writes: WriteThrough, _: ResolvedConnection) -> Any:
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


# -- rates -----------------------------------------------------------------------------------


def _amount(value: str | None, flag: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ThresherError(f"{flag} {value!r} is not a number", hint=f"e.g. {flag} 120.50") from None
    if not amount.is_finite() or amount < 0:
        raise ThresherError(f"{flag} must be a number >= 0")
    return amount


@rates_app.command("set")
def rates_set(
    who: str = typer.Argument(..., help="Email or Harvest user id."),
    billable: str | None = typer.Option(None, "--billable", help="Billable rate per hour."),
    cost: str | None = typer.Option(None, "--cost", help="Cost rate per hour."),
    start: dt.datetime | None = START,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Set a user's billable and/or cost rate, from a date or replacing the current ones.

    Example: thresher rates set ada@example.com --billable 150 --cost 80 --from 2026-01-01
    """
    billable_amount, cost_amount = _amount(billable, "--billable"), _amount(cost, "--cost")
    if billable_amount is None and cost_amount is None:
        raise ThresherError("give --billable, --cost or both", hint="e.g. --billable 150")
    start_date = start.date() if start else None

    async def body(writes: WriteThrough, _: ResolvedConnection) -> dict[str, Any]:
        user = await find_user(writes, who)
        result: dict[str, Any] = {"user_id": user.id, "email": user.email}
        if billable_amount is not None:
            rate = await writes.create_billable_rate(user.id, billable_amount, start_date)
            result["billable_rate"] = rate.model_dump(mode="json")
        if cost_amount is not None:
            rate = await writes.create_cost_rate(user.id, cost_amount, start_date)
            result["cost_rate"] = rate.model_dump(mode="json")
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


# -- project assignments ---------------------------------------------------------------------


PROJECT = typer.Option(..., "--project", help="Harvest project id.")


@app.command()
def assign(
    who: str = typer.Argument(..., help="Email or Harvest user id."), project: int = PROJECT,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Assign a user to a project (an archived assignment is re-activated).

    Example: thresher assign ada@example.com --project 14307913
    """

    async def body(writes: WriteThrough, _: ResolvedConnection) -> dict[str, Any]:
        user = await find_user(writes, who)
        assignment = await writes.assign_project(user.id, project)
        return {"email": user.email, **assignment.model_dump(mode="json")}

    result = run_writes(connection, database_url, body)
    if json_out:
        print_json(result)
    else:
        out.print(f"{result['email']} is assigned to project {result['project']['name']} ({project}).")


@app.command()
def unassign(
    who: str = typer.Argument(..., help="Email or Harvest user id."), project: int = PROJECT,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Take a user off a project (archived instead when the assignment has time).

    Example: thresher unassign ada@example.com --project 14307913
    """

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


# -- declarative roster ----------------------------------------------------------------------


def plan_table(plan: Plan) -> Table:
    table = Table("action", "who", "changes")
    for change in plan.changes:
        parts = []
        for key, (before, after) in change.diffs.items():
            b, a = _fmt(before), _fmt(after)
            parts.append(f"{key}: {a}" if change.action == "create" else f"{key}: {b} → {a}")
        table.add_row(change.action, escape(change.email), escape("; ".join(parts)))
    return table


def _fmt(value: Any) -> str:
    if isinstance(value, frozenset | set | tuple | list):
        return "[" + ", ".join(sorted(str(v) for v in value)) + "]"
    return "—" if value is None else str(value)


def _summary(plan: Plan) -> str:
    if not plan:
        return "No changes: Harvest already matches the file."
    counts = ", ".join(f"{n} {k}" for k, n in sorted(plan.counts().items()))
    invites = plan.invitations
    mail = (f" Harvest will email {invites} invitation(s), one per created user." if invites else "")
    return f"{len(plan.changes)} change(s): {counts}.{mail}"


def _show_plan(plan: Plan, json_out: bool) -> None:
    if json_out:
        print_json(plan.as_dict())
        return
    if plan:
        out.print(plan_table(plan))
    for warning in plan.warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}")
    out.print(_summary(plan))


@app.command("plan")
def plan_command(
    file: Path = ROSTER,
    prune: bool = typer.Option(False, "--prune", help="Also archive active users missing from the file."),
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show what 'apply' would change, computed from the roster mirror (no Harvest request).

    Columns: email, first_name, last_name, access_roles, roles, weekly_capacity_hours, timezone,
    is_contractor, manager_email, billable_rate, cost_rate, active. Blank cells are left alone.

    Example: thresher plan roster.csv --prune
    """
    store = open_store(database_url)
    resolved = resolve(store, connection)
    conn_id = resolved.connection.id
    rows = load_roster(file, store, conn_id)
    _show_plan(make_plan(store, conn_id, rows, prune=prune, own_user_id=resolved.own_user_id), json_out)


async def _apply(
    store: Store, resolved: ResolvedConnection, file: Path, *, prune: bool, yes: bool, json_out: bool,
) -> tuple[Plan, dict[str, int]]:
    conn = resolved.connection
    async with open_client(store, resolved) as client:
        writes = WriteThrough(client, store, conn)
        # Re-plan from a fresh sync: an interrupted apply's writes are seen, never repeated.
        await RosterSync(store, client, conn, SyncOptions()).run()
        me = await own_user_id(writes, resolved)
        rows = load_roster(file, store, conn.id)
        plan = make_plan(store, conn.id, rows, prune=prune, own_user_id=me)
        if not json_out:
            _show_plan(plan, False)
        if not plan:
            return plan, {}
        if not yes:
            if not sys.stdin.isatty():
                raise ThresherError(
                    "apply needs confirmation", hint="Review 'thresher plan FILE', then pass --yes."
                )
            if not await asyncio.to_thread(typer.confirm, "Apply these changes?"):
                raise typer.Abort()
        with Progress(
            TextColumn("[bold]Applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, transient=True, disable=json_out or not err_console.is_terminal,
        ) as bar:
            task = bar.add_task("apply", total=len(plan.changes))
            applied = await apply_plan(
                writes, plan, progress=lambda done, total: bar.update(task, completed=done)
            )
        return plan, applied


@app.command("apply")
def apply_command(
    file: Path = ROSTER,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    prune: bool = typer.Option(
        False, "--prune", help="Archive active users missing from the file (never the token's own)."
    ),
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Make Harvest match a roster file: sync, plan, then create, update, restore and archive in
    dependency order. Never deletes; safe to re-run after an interruption.

    Example: thresher apply roster.yaml --yes --prune
    """
    store = open_store(database_url)
    resolved = resolve(store, connection)
    load_roster(file, store, resolved.connection.id)  # refuse a bad file before any request
    plan, applied = asyncio.run(
        _apply(store, resolved, file, prune=prune, yes=yes, json_out=json_out)
    )
    if json_out:
        print_json({**plan.as_dict(), "applied": applied})
    elif plan:
        out.print("Applied " + ", ".join(f"{n} {k}" for k, n in sorted(applied.items())) + ".")
