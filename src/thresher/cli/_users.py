"""``thresher users ...`` and ``thresher offboard``: lookups answered from the store (no Harvest
request), and writes."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from thresher._errors import ThresherError

from ._choices import ACCESS_ROLES as _ACCESS_ROLES
from ._console import UsageError, confirm, err_console, escape, out, print_json, refuse_unconfirmed
from ._json import user_json
from ._options import CONNECTION, DATABASE_URL, FORMAT, JSON, WHO, YES, json_option
from ._output import OutputFormat, choose_format, print_records
from ._plumbing import USER_COLUMNS, describe, describe_plain, own_user_id, read_store, run_writes

if TYPE_CHECKING:
    from pydantic import ValidationError

    from thresher.connections import ResolvedConnection
    from thresher.harvest import ProjectAssignment, User
    from thresher.provision import JoinerStep, WriteThrough
    from thresher.store import Store, StoredUser

__all__ = ["offboard_command", "users_app"]

users_app = typer.Typer(help="Look up and manage Harvest users.", no_args_is_help=True)


class SortKey(enum.StrEnum):
    EMAIL = "email"
    NAME = "name"
    ID = "id"
    UPDATED = "updated"


_SORTS: dict[SortKey, Callable[[StoredUser], Any]] = {
    SortKey.EMAIL: lambda u: u.email.casefold(),
    SortKey.NAME: lambda u: (u.last_name.casefold(), u.first_name.casefold(), u.harvest_id),
    SortKey.ID: lambda u: u.harvest_id,
    # Newest first: "what changed lately" is why one sorts by it.
    SortKey.UPDATED: lambda u: (-u.updated_at.timestamp(), u.harvest_id),
}


def _access_role(value: str | None, provider: str) -> str | None:
    """The filter in the vocabulary of the connection's product (docs/greenhouse.md §6)."""
    if value is None:
        return None
    if provider == "greenhouse":
        from ._greenhouse import greenhouse_access_role

        return greenhouse_access_role(value)
    role = value.strip().lower()
    if role not in _ACCESS_ROLES:
        raise typer.BadParameter(
            f"{value!r} is not a Harvest access role; use one of {', '.join(_ACCESS_ROLES)}",
            param_hint="'--access-role'",
        )
    return role


def _role_name(store: Store, connection_id: int, value: str | None) -> str | None:
    """The role as the mirror spells it, matched in any case."""
    if value is None:
        return None
    names = sorted({r.name for r in store.list_roles(connection_id)}, key=str.casefold)
    match = next((n for n in names if n.casefold() == value.strip().casefold()), None)
    if match is not None:
        return match
    if not names:  # roles not mirrored (a non-administrator token): filter as given, any case
        return value.strip()
    raise typer.BadParameter(
        f"no role is named {value!r}; the mirror has {', '.join(names)}", param_hint="'--role'"
    )


SORT = typer.Option(SortKey.ID, "--sort", help="email, name, id or updated (newest first).")


@users_app.command("list")
def list_users(
    email: str | None = typer.Option(None, "--email", help="Exact email, any case."),
    name: str | None = typer.Option(None, "--name", help="Part of the first or last name."),
    access_role: str | None = typer.Option(
        None,
        "--access-role",
        help=f"One of Harvest's: {', '.join(_ACCESS_ROLES)}; on a Greenhouse connection: site_admin.",
    ),
    role: str | None = typer.Option(None, "--role", help="A business role name, any case."),
    active: bool = typer.Option(False, "--active", help="Only active users."),
    archived: bool = typer.Option(False, "--archived", help="Only archived users."),
    deleted: bool = typer.Option(False, "--deleted", help="Include users deleted from Harvest."),
    sort: SortKey = SORT,
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many users."),
    connection: str | None = CONNECTION,
    fmt: OutputFormat | None = FORMAT,
    json_out: bool = json_option("users"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """List users from the roster mirror (run `thresher sync` to refresh it).

    Example: thresher users list --access-role manager --active --sort email
    """
    if active and archived:
        raise typer.BadParameter("--active and --archived exclude each other", param_hint="'--archived'")
    output = choose_format(fmt, json_out)
    from thresher.connections import resolve

    store = read_store(database_url)
    conn = resolve(store, connection, any_provider=True).connection
    wanted_access = _access_role(access_role, conn.provider)
    wanted_role = _role_name(store, conn.id, role)
    users = store.list_users(
        conn.id,
        email=email,
        name_contains=name,
        access_role=wanted_access,
        active=True if active else (False if archived else None),
        include_deleted=deleted,
    )
    if wanted_role is not None:
        folded = wanted_role.casefold()
        users = [u for u in users if any(r.casefold() == folded for r in u.roles)]
    users.sort(key=_SORTS[sort])
    total = len(users)
    users = users[:limit] if limit else users
    summary = f"{len(users)} user(s)" + (f" of {total}" if len(users) < total else "")
    print_records(users, USER_COLUMNS, output, user_json, summary=summary)


@users_app.command("show")
def show_user(
    who: str = WHO,
    offline: bool = typer.Option(
        False, "--offline", help="Skip the one Harvest request that reads project assignments."
    ),
    connection: str | None = CONNECTION,
    json_out: bool = json_option("the user"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show one user from the roster mirror, with manager, teammates, roles and projects.

    Example: thresher users show ada@example.com
    """
    from thresher.connections import resolve

    from ._user_view import project_assignments, user_view

    store = read_store(database_url)
    resolved = resolve(store, connection, any_provider=True)
    conn = resolved.connection
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
        print_json(user_json(user))
        return
    if offline:
        projects: list[ProjectAssignment] | str = "(not read: --offline)"
    elif user.is_deleted:
        projects = "(none: the user is deleted)"
    else:
        projects = project_assignments(store, resolved, user.harvest_id)
    for line in user_view(store, user, projects):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


# -- writes (Harvest first, then the mirror: thresher.provision.WriteThrough) -----------------

ACCESS_ROLES = typer.Option(
    None, "--access-roles", help="Comma-separated, e.g. manager,project_creator (default member)."
)
TIMEZONE = typer.Option(None, "--timezone", help="IANA (Europe/Paris) or Harvest name.")
CAPACITY = typer.Option(None, "--capacity-hours", help="Weekly capacity in hours (half-hour steps).")
CONTRACTOR = typer.Option(None, "--contractor/--employee", help="Contractor or employee.")
JSON_OUT = json_option("the user")
JOINER_ROLES = typer.Option([], "--role", help="A business role to add them to, any case (repeatable).")
JOINER_PROJECTS = typer.Option([], "--project", help="A project id to assign them to (repeatable).")


def _roles(value: str | None) -> list[str] | None:
    return None if value is None else [r.strip() for r in value.split(",") if r.strip()]


def _input_error(exc: ValidationError) -> ThresherError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "input"
    return ThresherError(f"{where}: {first.get('msg')}", hint="See --help for the accepted values.")


def _mirrored(writes: WriteThrough, user: User) -> User | StoredUser:
    """The mirror's record of a user just written through (Harvest's answer, plus the mirror's
    own fields), so ``--json`` prints what ``users show --json`` prints."""
    return writes.store.get_user(writes.connection.id, user.id, include_deleted=True) or user


def _print_user(user: User | StoredUser, verb: str, json_out: bool) -> None:
    if json_out:
        print_json(user_json(user))
    else:
        out.print(f"{verb} {describe(user)}.")


def _print_steps(steps: list[JoinerStep], *, to_stderr: bool = False) -> None:
    console = err_console if to_stderr else out
    for step in steps:
        if step.what == "invitation" and not to_stderr:
            continue  # said on the first line
        line = f"  {step.outcome:<8}  {step.what}" + (f": {step.detail}" if step.detail else "")
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@users_app.command("create")
def create_user(
    email: str = typer.Option(..., "--email", help="Email (Harvest sends an invitation to it)."),
    first_name: str = typer.Option(..., "--first-name"),
    last_name: str = typer.Option(..., "--last-name"),
    access_roles: str | None = ACCESS_ROLES,
    timezone: str | None = TIMEZONE,
    capacity_hours: float | None = CAPACITY,
    contractor: bool | None = CONTRACTOR,
    billable_rate: str | None = typer.Option(None, "--billable-rate", help="Billable rate per hour."),
    cost_rate: str | None = typer.Option(None, "--cost-rate", help="Cost rate per hour."),
    roles: list[str] = JOINER_ROLES,
    manager: str | None = typer.Option(
        None, "--manager", help="Email or id of the manager whose teammates they join."
    ),
    projects: list[int] = JOINER_PROJECTS,
    connection: str | None = CONNECTION,
    json_out: bool = JSON_OUT,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Create a user, and add their roles, manager and projects. Harvest emails them an
    invitation at once.

    Roles, the manager and the projects are checked before the one invitation is sent. If a
    step after it fails, the command lists what was and was not done and exits 1; running the
    same command again finishes the job without a second invitation.

    Example: thresher users create --email ada@example.com --first-name Ada --last-name Lovelace
    --role Engineering --manager lead@example.com --project 14307913 --billable-rate 150
    """
    from pydantic import ValidationError

    from thresher.harvest import UserCreate
    from thresher.provision import Joiner, JoinerIncompleteError, JoinerResult, onboard

    from ._rates_and_projects import parse_amount

    fields = {
        "email": email, "first_name": first_name, "last_name": last_name,
        "access_roles": _roles(access_roles), "timezone": timezone,
        "weekly_capacity_hours": capacity_hours, "is_contractor": contractor,
        "default_hourly_rate": parse_amount(billable_rate, "--billable-rate"),
        "cost_rate": parse_amount(cost_rate, "--cost-rate"),
    }
    try:
        body = UserCreate.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise _input_error(exc) from None
    joiner = Joiner(
        body, roles=tuple(r for r in roles if r.strip()), manager=manager, projects=tuple(projects)
    )

    async def run(writes: WriteThrough, _: ResolvedConnection) -> tuple[JoinerResult, User | StoredUser]:
        result = await onboard(writes, joiner)
        assert result.user is not None
        return result, _mirrored(writes, result.user)

    try:
        result, user = run_writes(connection, database_url, run)
    except JoinerIncompleteError as exc:
        _print_steps(exc.result.steps, to_stderr=True)
        raise
    if json_out:
        print_json(user_json(user))
        return
    if result.created:
        out.print(f"Created {describe(user)}.")
        out.print(f"Harvest sent an invitation email to {escape(user.email)}.")
    else:
        out.print(f"{describe(user)} already exists: no invitation sent.")
    _print_steps(result.steps)


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
    from pydantic import ValidationError

    from thresher.harvest import UserUpdate
    from thresher.provision import FROZEN_WHEN_ARCHIVED, ProvisionError, find_user

    fields = {
        "email": email, "first_name": first_name, "last_name": last_name,
        "access_roles": _roles(access_roles), "timezone": timezone,
        "weekly_capacity_hours": capacity_hours, "is_contractor": contractor,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    if not given:
        raise UsageError("nothing to change", hint="Pass at least one option; see --help.")
    try:
        body = UserUpdate.model_validate(given)
    except ValidationError as exc:
        raise _input_error(exc) from None

    async def run(writes: WriteThrough, _: ResolvedConnection) -> User | StoredUser:
        user = await find_user(writes, who)
        frozen = [k for k in FROZEN_WHEN_ARCHIVED if k in given]
        if not user.is_active and frozen:
            raise ProvisionError(
                f"{user.email} is archived, and Harvest freezes the {', '.join(frozen)} of "
                "archived users",
                hint=f"Restore them first: thresher users restore {user.email}",
            )
        return _mirrored(writes, await writes.update_user(user.id, body))

    _print_user(run_writes(connection, database_url, run), "Updated", json_out)


def _lifecycle(
    who: str, action: str, connection: str | None, database_url: str | None, *, yes: bool = True,
) -> User | StoredUser:
    from thresher.harvest import UnprocessableError
    from thresher.provision import ProvisionError, find_user

    async def run(writes: WriteThrough, resolved: ResolvedConnection) -> User | StoredUser:
        user = await find_user(writes, who)
        if action != "restore" and user.id == await own_user_id(writes, resolved):
            raise ProvisionError(
                f"{user.email} owns the token in use; thresher will not {action} it",
                hint="Use another administrator's token.",
            )
        if action == "archive":
            return _mirrored(writes, await writes.archive_user(user.id))
        if action == "restore":
            return _mirrored(writes, await writes.restore_user(user.id))
        confirm(f"Delete {describe_plain(user)} from Harvest for good?", yes=yes)
        try:
            await writes.delete_user(user.id)
        except UnprocessableError as exc:
            raise ProvisionError(
                f"Harvest refused to delete {user.email}: {exc.api_message or exc}",
                hint=f"Archive instead, which keeps their time: thresher offboard {user.email}",
            ) from None
        return _mirrored(writes, user)

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
    yes: bool = YES,
    connection: str | None = CONNECTION, json_out: bool = JSON_OUT,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Delete a user; Harvest refuses once they have time or expenses (then use offboard).

    Asks first on a terminal; without one (scripts, CI) it needs --yes.

    Example: thresher users delete ada@example.com --yes
    """
    refuse_unconfirmed(f"Delete {who} from Harvest for good?", yes=yes)
    user = _lifecycle(who, "delete", connection, database_url, yes=yes)
    _print_user(user, "Deleted", json_out)


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
    yes: bool = YES,
    connection: str | None = CONNECTION,
    json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Offboard a person: archive them (their time is kept), optionally deleting instead.

    --delete asks first on a terminal; without one (scripts, CI) it needs --yes.

    Example: thresher offboard ada@example.com --remove-from-teams --remove-from-roles
    """
    from thresher.provision import find_user, offboard

    if delete:
        refuse_unconfirmed(f"Delete {who} from Harvest for good?", yes=yes)

    async def body(writes: WriteThrough, resolved: ResolvedConnection) -> dict[str, object]:
        user = await find_user(writes, who)
        me = await own_user_id(writes, resolved)
        if delete and user.id != me:
            confirm(
                f"Delete {describe_plain(user)} from Harvest for good (archived instead if "
                "Harvest refuses)?",
                yes=yes,
            )
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
