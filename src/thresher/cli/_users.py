"""``thresher users ...``: the roster, answered from the store (no Harvest request)."""

from __future__ import annotations

import typer
from rich.table import Table

from thresher._errors import ThresherError
from thresher.store import StoredUser

from ._connect import open_store, resolve_connection
from ._console import out, print_json
from ._sync import CONNECTION, DATABASE_URL

users_app = typer.Typer(help="Look up and manage Harvest users.", no_args_is_help=True)


def user_dict(user: StoredUser) -> dict[str, object]:
    return user.as_dict()


def roster_table(users: list[StoredUser]) -> Table:
    table = Table("id", "name", "email", "access", "roles", "status")
    for u in users:
        status = "deleted" if u.deleted_at else ("active" if u.is_active else "archived")
        table.add_row(
            str(u.harvest_id),
            f"{u.first_name} {u.last_name}",
            u.email,
            ", ".join(u.access_roles),
            ", ".join(u.roles),
            status,
        )
    return table


@users_app.command("list")
def list_users(
    email: str | None = typer.Option(None, "--email", help="Exact email, any case."),
    name: str | None = typer.Option(None, "--name", help="Part of the first or last name."),
    access_role: str | None = typer.Option(None, "--access-role", help="e.g. administrator, manager."),
    role: str | None = typer.Option(None, "--role", help="A business role name."),
    active: bool | None = typer.Option(None, "--active/--archived", help="Only active or archived."),
    deleted: bool = typer.Option(False, "--deleted", help="Include users deleted from Harvest."),
    connection: str | None = CONNECTION,
    json_out: bool = typer.Option(False, "--json", help="Print users as JSON."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List users from the roster mirror (run `thresher sync` to refresh it).

    Example: thresher users list --access-role manager --active
    """
    store = open_store(database_url)
    conn, _ = resolve_connection(store, connection)
    users = store.list_users(
        conn.id,
        email=email,
        name_contains=name,
        access_role=access_role,
        role=role,
        active=active,
        include_deleted=deleted,
    )
    if json_out:
        print_json([user_dict(u) for u in users])
    else:
        out.print(roster_table(users))
        out.print(f"{len(users)} user(s)")


@users_app.command("show")
def show_user(
    who: str = typer.Argument(..., help="Email or Harvest user id."),
    connection: str | None = CONNECTION,
    json_out: bool = typer.Option(False, "--json", help="Print the user as JSON."),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show one user from the roster mirror.

    Example: thresher users show ada@example.com
    """
    store = open_store(database_url)
    conn, _ = resolve_connection(store, connection)
    user = (
        store.get_user(conn.id, int(who), include_deleted=True)
        if who.isdigit()
        else store.find_user_by_email(conn.id, who, include_deleted=True)
    )
    if user is None:
        raise ThresherError(
            f"no user {who!r} in the roster mirror of {conn.name!r}",
            hint="Check the spelling, or run 'thresher sync' to refresh the mirror.",
        )
    if json_out:
        print_json(user_dict(user))
        return
    for key, value in user_dict(user).items():
        out.print(f"[bold]{key}[/]: {value}")
