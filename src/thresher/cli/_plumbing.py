"""What many commands share: the store, writes through a connection, and how users and change
events print (their JSON shapes are in ``_json``)."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._console import escape
from ._json import event_json, user_json
from ._output import Column, records_table

if TYPE_CHECKING:
    from rich.table import Table

    from thresher.connections import ResolvedConnection
    from thresher.harvest import User
    from thresher.provision import WriteThrough
    from thresher.store import ChangeEvent, Store, StoredUser

__all__ = [
    "USER_COLUMNS",
    "describe",
    "describe_plain",
    "event_dict",
    "open_store",
    "own_user_id",
    "read_store",
    "roster_table",
    "run_writes",
    "user_dict",
    "user_json",
]

T = TypeVar("T")


def open_store(database_url: str | None, *, create: bool = True) -> Store:
    """The store at ``--database-url``, else ``THRESHER_DATABASE_URL``, else the default file.

    Commands that write (sync, login, every Harvest write) create it when it is not there; those
    that only read pass ``create=False`` (or call ``read_store``), which stops with how to create
    one instead of showing an empty roster from a file it just made.

    The store closes when the running command ends, however it ends (its click context closes,
    as a ``finally`` would): every command opens its store here, so none can leave a database
    connection open in a process that runs commands in-process (tests/cli/test_store_closed.py).
    """
    from typer._click.globals import get_current_context

    from thresher.store import Store, StoreNotFoundError

    try:
        store = Store.open(database_url, create=create)
    except StoreNotFoundError as exc:
        raise StoreNotFoundError(
            str(exc),
            hint="Create it with 'thresher sync' (HARVEST_* variables set) or 'thresher login', "
            "or point --database-url / THRESHER_DATABASE_URL at an existing store.",
        ) from None
    command = get_current_context(silent=True)
    if command is not None:
        command.call_on_close(store.close)
    return store


def read_store(database_url: str | None) -> Store:
    """``open_store`` for commands that only read: never creates a store."""
    return open_store(database_url, create=False)


def run_writes(
    connection: str | None,
    database_url: str | None,
    body: Callable[[WriteThrough, ResolvedConnection], Awaitable[T]],
) -> T:
    """Open the store and a client for the connection and run ``body`` with a WriteThrough."""
    import asyncio  # a tenth of the start-up budget (bench/cli_startup.py): loaded on use

    from thresher.connections import open_client, resolve
    from thresher.provision import WriteThrough

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


def describe_plain(user: User | StoredUser) -> str:
    """``Ada Lovelace <ada@example.com> (id 5)``."""
    return f"{user.first_name} {user.last_name} <{user.email}> (id {user.id})"


def describe(user: User | StoredUser) -> str:
    """``describe_plain``, safe to print through Rich markup."""
    return escape(describe_plain(user))


def user_dict(user: StoredUser) -> dict[str, Any]:
    """A mirrored user as ``--json`` prints it: ``_json.user_json`` (kept for older callers)."""
    return user_json(user)


#: The columns of a user list (``users list``, the demo's roster), emails and ids never cut.
USER_COLUMNS: list[Column[StoredUser]] = [
    Column("id", lambda u: str(u.harvest_id), whole=True),
    Column("name", lambda u: u.full_name),
    Column("email", lambda u: u.email, whole=True),
    Column("access", lambda u: ", ".join(u.access_roles)),
    Column("roles", lambda u: ", ".join(u.roles)),
    Column("status", lambda u: u.status, whole=True),
]


def roster_table(users: list[StoredUser]) -> Table:
    return records_table(users, USER_COLUMNS)


def event_dict(event: ChangeEvent) -> dict[str, Any]:
    """A change event as ``--json`` prints it: ``_json.event_json``."""
    return event_json(event)
