"""``thresher users ...`` and ``thresher offboard``: lookups answered from the store (no Harvest
request), and writes."""

from __future__ import annotations

import contextlib

import typer
from pydantic import ValidationError
from rich.markup import escape

from thresher._errors import ThresherError
from thresher.connections import ResolvedConnection, resolve
from thresher.harvest import (
    UnknownTimezoneError,
    UnprocessableError,
    User,
    UserCreate,
    UserUpdate,
    harvest_to_iana,
)
from thresher.provision import FROZEN_WHEN_ARCHIVED, ProvisionError, WriteThrough, find_user, offboard

from ._console import out, print_json
from ._options import CONNECTION, DATABASE_URL, JSON, WHO, json_option
from ._plumbing import describe, open_store, own_user_id, roster_table, run_writes, user_dict, user_json

__all__ = ["offboard_command", "users_app"]

users_app = typer.Typer(help="Look up and manage Harvest users.", no_args_is_help=True)


@users_app.command("list")
def list_users(
    email: str | None = typer.Option(None, "--email", help="Exact email, any case."),
    name: str | None = typer.Option(None, "--name", help="Part of the first or last name."),
    access_role: str | None = typer.Option(None, "--access-role", help="e.g. administrator, manager."),
    role: str | None = typer.Option(None, "--role", help="A business role name."),
    active: bool | None = typer.Option(None, "--active/--archived", help="Only active or archived."),
    deleted: bool = typer.Option(False, "--deleted", help="Include users deleted from Harvest."),
    connection: str | None = CONNECTION,
    json_out: bool = json_option("users"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List users from the roster mirror (run `thresher sync` to refresh it).

    Example: thresher users list --access-role manager --active
    """
    store = open_store(database_url)
    conn = resolve(store, connection).connection
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
    who: str = WHO,
    connection: str | None = CONNECTION,
    json_out: bool = json_option("the user"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show one user from the roster mirror.

    Example: thresher users show ada@example.com
    """
    store = open_store(database_url)
    conn = resolve(store, connection).connection
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
        out.print(f"[bold]{key}[/]: {_readable(key, value)}", markup=True, highlight=False)


def _readable(key: str, value: object) -> str:
    """The human view adds what Harvest's own units hide: hours, and the IANA zone."""
    if key == "weekly_capacity" and isinstance(value, int):
        return f"{value} s ({value / 3600:g} h a week)"
    if key == "timezone" and isinstance(value, str) and value:
        with contextlib.suppress(UnknownTimezoneError, KeyError):
            return f"{value} ({harvest_to_iana(value)})"
    return escape(str(value))


# -- writes (Harvest first, then the mirror: thresher.provision.WriteThrough) -----------------

ACCESS_ROLES = typer.Option(
    None, "--access-roles", help="Comma-separated, e.g. manager,project_creator (default member)."
)
TIMEZONE = typer.Option(None, "--timezone", help="IANA (Europe/Paris) or Harvest name.")
CAPACITY = typer.Option(None, "--capacity-hours", help="Weekly capacity in hours (half-hour steps).")
CONTRACTOR = typer.Option(None, "--contractor/--employee", help="Contractor or employee.")
JSON_OUT = json_option("the user")


def _roles(value: str | None) -> list[str] | None:
    return None if value is None else [r.strip() for r in value.split(",") if r.strip()]


def _input_error(exc: ValidationError) -> ThresherError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "input"
    return ThresherError(f"{where}: {first.get('msg')}", hint="See --help for the accepted values.")


def _print_user(user: User, verb: str, json_out: bool) -> None:
    if json_out:
        print_json(user_json(user))
    else:
        out.print(f"{verb} {describe(user)}.")


@users_app.command("create")
def create_user(
    email: str = typer.Option(..., "--email", help="Email (Harvest sends an invitation to it)."),
    first_name: str = typer.Option(..., "--first-name"),
    last_name: str = typer.Option(..., "--last-name"),
    access_roles: str | None = ACCESS_ROLES,
    timezone: str | None = TIMEZONE,
    capacity_hours: float | None = CAPACITY,
    contractor: bool | None = CONTRACTOR,
    billable_rate: float | None = typer.Option(None, "--billable-rate", min=0),
    cost_rate: float | None = typer.Option(None, "--cost-rate", min=0),
    connection: str | None = CONNECTION,
    json_out: bool = JSON_OUT,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create a user. Harvest emails them an invitation at once.

    Example: thresher users create --email ada@example.com --first-name Ada --last-name Lovelace
    """
    fields = {
        "email": email, "first_name": first_name, "last_name": last_name,
        "access_roles": _roles(access_roles), "timezone": timezone,
        "weekly_capacity_hours": capacity_hours, "is_contractor": contractor,
        "default_hourly_rate": billable_rate, "cost_rate": cost_rate,
    }
    try:
        body = UserCreate.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise _input_error(exc) from None

    async def run(writes: WriteThrough, _: ResolvedConnection) -> User:
        existing = writes.store.find_user_by_email(writes.connection.id, email)
        if existing is not None:
            raise ProvisionError(
                f"{email} already exists (user {existing.harvest_id})",
                hint="Use 'thresher users update' (or 'users restore' if archived).",
            )
        return await writes.create_user(body)

    user = run_writes(connection, database_url, run)
    _print_user(user, "Created", json_out)
    if not json_out:
        out.print(f"Harvest sent an invitation email to {user.email}.")


@users_app.command("update")
def update_user(
    who: str = WHO,
    email: str | None = typer.Option(None, "--email", help="New email."),
    first_name: str | None = typer.Option(None, "--first-name"),
    last_name: str | None = typer.Option(None, "--last-name"),
    access_roles: str | None = ACCESS_ROLES,
    timezone: str | None = TIMEZONE,
    capacity_hours: float | None = CAPACITY,
    contractor: bool | None = CONTRACTOR,
    connection: str | None = CONNECTION,
    json_out: bool = JSON_OUT,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Change a user's fields; those not given stay as they are.

    Example: thresher users update ada@example.com --access-roles manager --capacity-hours 32
    """
    fields = {
        "email": email, "first_name": first_name, "last_name": last_name,
        "access_roles": _roles(access_roles), "timezone": timezone,
        "weekly_capacity_hours": capacity_hours, "is_contractor": contractor,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    if not given:
        raise ThresherError("nothing to change", hint="Pass at least one option; see --help.")
    try:
        body = UserUpdate.model_validate(given)
    except ValidationError as exc:
        raise _input_error(exc) from None

    async def run(writes: WriteThrough, _: ResolvedConnection) -> User:
        user = await find_user(writes, who)
        frozen = [k for k in FROZEN_WHEN_ARCHIVED if k in given]
        if not user.is_active and frozen:
            raise ProvisionError(
                f"{user.email} is archived, and Harvest freezes the {', '.join(frozen)} of "
                "archived users",
                hint=f"Restore them first: thresher users restore {user.email}",
            )
        return await writes.update_user(user.id, body)

    _print_user(run_writes(connection, database_url, run), "Updated", json_out)


def _lifecycle(who: str, action: str, connection: str | None, database_url: str | None) -> User:
    async def run(writes: WriteThrough, resolved: ResolvedConnection) -> User:
        user = await find_user(writes, who)
        if action != "restore" and user.id == await own_user_id(writes, resolved):
            raise ProvisionError(
                f"{user.email} owns the token in use; thresher will not {action} it",
                hint="Use another administrator's token.",
            )
        if action == "archive":
            return await writes.archive_user(user.id)
        if action == "restore":
            return await writes.restore_user(user.id)
        try:
            await writes.delete_user(user.id)
        except UnprocessableError as exc:
            raise ProvisionError(
                f"Harvest refused to delete {user.email}: {exc.api_message or exc}",
                hint=f"Archive instead, which keeps their time: thresher offboard {user.email}",
            ) from None
        return user

    return run_writes(connection, database_url, run)


@users_app.command("archive")
def archive_user(
    who: str = WHO, connection: str | None = CONNECTION, json_out: bool = JSON_OUT,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Archive a user (their time is kept; names and email freeze until restored).

    Example: thresher users archive ada@example.com
    """
    _print_user(_lifecycle(who, "archive", connection, database_url), "Archived", json_out)


@users_app.command("restore")
def restore_user(
    who: str = WHO, connection: str | None = CONNECTION, json_out: bool = JSON_OUT,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Restore an archived user (this takes a paid seat again).

    Example: thresher users restore ada@example.com
    """
    _print_user(_lifecycle(who, "restore", connection, database_url), "Restored", json_out)


@users_app.command("delete")
def delete_user(
    who: str = WHO,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    connection: str | None = CONNECTION, json_out: bool = JSON_OUT,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Delete a user; Harvest refuses once they have time or expenses (then use offboard).

    Example: thresher users delete ada@example.com --yes
    """
    if not yes and not typer.confirm(f"Delete {who} from Harvest for good?"):
        raise typer.Abort()
    _print_user(_lifecycle(who, "delete", connection, database_url), "Deleted", json_out)


# -- offboarding ---------------------------------------------------------------------------


def offboard_command(
    who: str = WHO,
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
