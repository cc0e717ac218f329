"""What many commands share: the store, writes through a connection, and how users and change
events print."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from rich.markup import escape
from rich.table import Table

from thresher.connections import ResolvedConnection, open_client, resolve
from thresher.harvest import User
from thresher.provision import WriteThrough
from thresher.store import ChangeEvent, Store, StoredUser

__all__ = [
    "describe",
    "event_dict",
    "open_store",
    "own_user_id",
    "roster_table",
    "run_writes",
    "user_dict",
    "user_json",
]

T = TypeVar("T")


def open_store(database_url: str | None) -> Store:
    """The store at ``--database-url``, else ``THRESHER_DATABASE_URL``, else the default file."""
    return Store.open(database_url)


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
    """A Harvest user as ``--json`` prints it."""
    return user.model_dump(mode="json")


def user_dict(user: StoredUser) -> dict[str, object]:
    """A mirrored user as ``--json`` prints it."""
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


def event_dict(event: ChangeEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "connection_id": event.connection_id,
        "resource": event.resource,
        "harvest_id": event.harvest_id,
        "kind": event.kind,
        "changes": event.changes,
        "observed_at": event.observed_at.isoformat(),
        "source": event.source,
    }
