"""The store's read queries: connections, users, roles, teammates, the change log, sync state.

:class:`Queries` is shared by ``Store`` (each query in its own short transaction) and
``StoreTransaction`` (inside the caller's transaction, so it sees its uncommitted writes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, exists, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection as SAConnection

from thresher.harvest import normalize_email

from ._arguments import aware, event_source
from ._errors import InvalidArgumentError, UnknownConnectionError
from ._fields import ROLE_FIELDS, USER_FIELDS, user_fields
from ._records import ChangeEvent, StoredConnection, StoredRole, StoredUser, SyncState
from ._schema import EVENT_KINDS
from ._tables import CONNECTIONS, EVENTS, MEMBERS, ROLES, SYNC, TEAMMATES, USERS

__all__ = [
    "SYNC_FIELDS",
    "USER_DIFF_COLUMNS",
    "USER_RECORD_COLUMNS",
    "Queries",
    "load_members",
    "load_teammates",
]

USER_RECORD_COLUMNS = [USERS.c[f.name] for f in dataclasses.fields(StoredUser)]
USER_DIFF_COLUMNS = [USERS.c.harvest_id, USERS.c.deleted_at, *(USERS.c[f] for f in USER_FIELDS)]
SYNC_FIELDS = [f.name for f in dataclasses.fields(SyncState)]
_EVENT_COLUMNS = [EVENTS.c[f.name] for f in dataclasses.fields(ChangeEvent)]
_CONNECTION_COLUMNS = [CONNECTIONS.c[f.name] for f in dataclasses.fields(StoredConnection)]

T = TypeVar("T")


def _stored_user(row: Any) -> StoredUser:
    return StoredUser(*row)


_FIELD_ORDER = {
    "user": {f: i for i, f in enumerate((*USER_FIELDS, "teammate_ids"))},
    "role": {f: i for i, f in enumerate(ROLE_FIELDS)},
}


def _event(row: Any) -> ChangeEvent:
    event = ChangeEvent(*row)
    # PostgreSQL's JSONB keeps keys in an order of its own; put them back in the order the store
    # writes them (fields as in USER_FIELDS, "before" then "after"), so that output is the same
    # on both databases.
    order = _FIELD_ORDER.get(event.resource, {})
    changes = {
        f: {"before": event.changes[f].get("before"), "after": event.changes[f].get("after")}
        for f in sorted(event.changes, key=lambda f: (order.get(f, len(order)), f))
    }
    return dataclasses.replace(event, changes=changes)


def _connection(row: Any) -> StoredConnection:
    return StoredConnection(*row)


class Queries:
    """Every read of the store; subclasses say where a query runs (``_read``)."""

    def _read(self, fn: Callable[[SAConnection], T]) -> T:
        raise NotImplementedError

    def _dialect_name(self) -> str:
        raise NotImplementedError

    # -- connections ------------------------------------------------------------------------

    def list_connections(self) -> list[StoredConnection]:
        def run(conn: SAConnection) -> list[StoredConnection]:
            rows = conn.execute(select(*_CONNECTION_COLUMNS).order_by(CONNECTIONS.c.name))
            return [_connection(r) for r in rows]

        return self._read(run)

    def get_connection_or_none(self, name: str) -> StoredConnection | None:
        def run(conn: SAConnection) -> StoredConnection | None:
            query = select(*_CONNECTION_COLUMNS).where(CONNECTIONS.c.name == name)
            row = conn.execute(query).first()
            return None if row is None else _connection(row)

        return self._read(run)

    def get_connection(self, name: str | None = None) -> StoredConnection:
        """The connection called ``name``; with None, the default one (or the only one)."""
        if name is not None:
            found = self.get_connection_or_none(name)
            if found is None:
                raise UnknownConnectionError(f"no connection named {name!r}")
            return found
        connections = self.list_connections()
        for candidate in connections:
            if candidate.is_default:
                return candidate
        if len(connections) == 1:
            return connections[0]
        if not connections:
            raise UnknownConnectionError(
                "no connection is configured",
                hint="Add one with 'thresher login', or set the HARVEST_* environment variables.",
            )
        raise UnknownConnectionError(
            f"{len(connections)} connections are configured and none is the default",
            hint="Pass --connection NAME; 'thresher connections list' shows the names.",
        )

    def get_connection_by_id(self, connection_id: int) -> StoredConnection:
        def run(conn: SAConnection) -> StoredConnection:
            query = select(*_CONNECTION_COLUMNS).where(CONNECTIONS.c.id == connection_id)
            row = conn.execute(query).first()
            if row is None:
                raise UnknownConnectionError(f"no connection with id {connection_id}")
            return _connection(row)

        return self._read(run)

    # -- users ------------------------------------------------------------------------------

    def get_user(
        self, connection_id: int, harvest_id: int, *, include_deleted: bool = False
    ) -> StoredUser | None:
        def run(conn: SAConnection) -> StoredUser | None:
            query = select(*USER_RECORD_COLUMNS).where(
                USERS.c.connection_id == connection_id, USERS.c.harvest_id == harvest_id
            )
            if not include_deleted:
                query = query.where(USERS.c.deleted_at.is_(None))
            row = conn.execute(query).first()
            return None if row is None else _stored_user(row)

        return self._read(run)

    def find_user_by_email(
        self, connection_id: int, email: str, *, include_deleted: bool = False
    ) -> StoredUser | None:
        """Exact match, any case. A deleted user's address may have been given to a new user
        since: the live user wins, then the most recently seen tombstone."""
        users = self.list_users(connection_id, email=email, include_deleted=include_deleted)
        if not users:
            return None
        return min(
            users,
            key=lambda u: (u.deleted_at is not None, -u.last_seen_at.timestamp(), -u.harvest_id),
        )

    def _json_list_contains(self, column: Any, value: str) -> ColumnElement[bool]:
        if self._dialect_name() == "postgresql":
            return type_coerce(column, JSONB).contains([value])
        items = func.json_each(column).table_valued("value")
        return exists(select(literal(1)).select_from(items).where(items.c.value == value))

    def _user_query(
        self,
        query: Select[Any],
        connection_id: int,
        *,
        email: str | None,
        name_contains: str | None,
        access_role: str | None,
        role: str | None,
        active: bool | None,
        include_deleted: bool,
    ) -> Select[Any]:
        query = query.where(USERS.c.connection_id == connection_id)
        if not include_deleted:
            query = query.where(USERS.c.deleted_at.is_(None))
        if email is not None:
            query = query.where(USERS.c.email_lower == normalize_email(email))
        if name_contains:
            full_name = USERS.c.first_name + " " + USERS.c.last_name
            query = query.where(full_name.icontains(name_contains.strip(), autoescape=True))
        if access_role is not None:
            query = query.where(self._json_list_contains(USERS.c.access_roles, access_role))
        if role is not None:
            query = query.where(self._json_list_contains(USERS.c.roles, role))
        if active is not None:
            query = query.where(USERS.c.is_active.is_(active))
        return query

    def list_users(
        self,
        connection_id: int,
        *,
        email: str | None = None,
        name_contains: str | None = None,
        access_role: str | None = None,
        role: str | None = None,
        active: bool | None = None,
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[StoredUser]:
        """Users of a connection, by Harvest id. ``email``: exact, any case. ``name_contains``:
        part of "first last", any case. ``access_role``/``role``: holds that access role / business
        role. ``active``: True active only, False archived only. Tombstones only on request."""
        query = self._user_query(
            select(*USER_RECORD_COLUMNS),
            connection_id,
            email=email,
            name_contains=name_contains,
            access_role=access_role,
            role=role,
            active=active,
            include_deleted=include_deleted,
        ).order_by(USERS.c.harvest_id)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        return self._read(lambda conn: [_stored_user(r) for r in conn.execute(query)])

    def count_users(
        self,
        connection_id: int,
        *,
        email: str | None = None,
        name_contains: str | None = None,
        access_role: str | None = None,
        role: str | None = None,
        active: bool | None = None,
        include_deleted: bool = False,
    ) -> int:
        query = self._user_query(
            select(func.count()).select_from(USERS),
            connection_id,
            email=email,
            name_contains=name_contains,
            access_role=access_role,
            role=role,
            active=active,
            include_deleted=include_deleted,
        )
        return self._read(lambda conn: int(conn.execute(query).scalar_one()))

    def snapshot_users(self, connection_id: int) -> dict[int, dict[str, Any]]:
        """Every live user's tracked fields, JSON-safe (see ``thresher.store.replay``)."""

        def run(conn: SAConnection) -> dict[int, dict[str, Any]]:
            query = (
                select(*USER_DIFF_COLUMNS)
                .where(USERS.c.connection_id == connection_id, USERS.c.deleted_at.is_(None))
                .order_by(USERS.c.harvest_id)
            )
            return {row.harvest_id: user_fields(row._mapping) for row in conn.execute(query)}

        return self._read(run)

    # -- roles and teammates ----------------------------------------------------------------

    def list_roles(self, connection_id: int, *, include_deleted: bool = False) -> list[StoredRole]:
        def run(conn: SAConnection) -> list[StoredRole]:
            members = load_members(conn, connection_id)
            query = select(ROLES).where(ROLES.c.connection_id == connection_id)
            if not include_deleted:
                query = query.where(ROLES.c.deleted_at.is_(None))
            return [
                StoredRole(
                    connection_id=r.connection_id,
                    harvest_id=r.harvest_id,
                    name=r.name,
                    user_ids=sorted(members.get(r.harvest_id, ())),
                    created_at=r.created_at,
                    updated_at=r.updated_at,
                    deleted_at=r.deleted_at,
                )
                for r in conn.execute(query.order_by(ROLES.c.harvest_id))
            ]

        return self._read(run)

    def get_teammates(self, connection_id: int, manager_id: int) -> list[int]:
        """The manager's teammates' Harvest ids, ascending."""
        return self._read(lambda conn: load_teammates(conn, connection_id, manager_id))

    # -- events and sync state --------------------------------------------------------------

    def list_events(
        self,
        connection_id: int | None = None,
        *,
        since: dt.datetime | int | None = None,
        kind: str | None = None,
        resource: str | None = None,
        harvest_id: int | None = None,
        source: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[ChangeEvent]:
        """The change log in order (by id; ``newest_first`` reverses it, so ``limit`` keeps the
        newest). ``since``: a datetime keeps events observed at or after it; an int keeps events
        after that event id (a consumer's cursor)."""
        query = select(*_EVENT_COLUMNS).order_by(
            EVENTS.c.id.desc() if newest_first else EVENTS.c.id
        )
        if connection_id is not None:
            query = query.where(EVENTS.c.connection_id == connection_id)
        if isinstance(since, dt.datetime):
            query = query.where(EVENTS.c.observed_at >= aware(since, "since"))
        elif isinstance(since, int) and not isinstance(since, bool):
            query = query.where(EVENTS.c.id > since)
        elif since is not None:
            raise InvalidArgumentError(f"since must be a datetime or an event id, not {since!r}")
        if kind is not None:
            if kind not in EVENT_KINDS:
                raise InvalidArgumentError(
                    f"unknown event kind {kind!r}", hint=f"Use one of: {', '.join(EVENT_KINDS)}."
                )
            query = query.where(EVENTS.c.kind == kind)
        if resource is not None:
            query = query.where(EVENTS.c.resource == resource)
        if harvest_id is not None:
            query = query.where(EVENTS.c.harvest_id == harvest_id)
        if source is not None:
            query = query.where(EVENTS.c.source == event_source(source))
        if limit is not None:
            query = query.limit(limit)
        return self._read(lambda conn: [_event(r) for r in conn.execute(query)])

    def last_event_id(self, connection_id: int | None = None) -> int:
        """The newest event's id (0 when the log is empty): a cursor for ``list_events(since=)``."""
        query = select(func.max(EVENTS.c.id))
        if connection_id is not None:
            query = query.where(EVENTS.c.connection_id == connection_id)
        return self._read(lambda conn: int(conn.execute(query).scalar_one_or_none() or 0))

    def get_sync_state(self, connection_id: int, resource: str) -> SyncState:
        """The saved state, or a fresh one (never synced) when none was saved."""

        def run(conn: SAConnection) -> SyncState:
            query = select(*(SYNC.c[f] for f in SYNC_FIELDS)).where(
                SYNC.c.connection_id == connection_id, SYNC.c.resource == resource
            )
            row = conn.execute(query).first()
            if row is None:
                return SyncState(connection_id=connection_id, resource=resource)
            values = row._asdict()
            values["pending_teammates"] = frozenset(values["pending_teammates"] or ())
            return SyncState(**values)

        return self._read(run)


def load_members(conn: SAConnection, connection_id: int) -> dict[int, set[int]]:
    members: dict[int, set[int]] = {}
    query = select(MEMBERS.c.role_id, MEMBERS.c.user_id).where(
        MEMBERS.c.connection_id == connection_id
    )
    for role_id, user_id in conn.execute(query):
        members.setdefault(role_id, set()).add(user_id)
    return members


def load_teammates(conn: SAConnection, connection_id: int, manager_id: int) -> list[int]:
    query = (
        select(TEAMMATES.c.teammate_id)
        .where(TEAMMATES.c.connection_id == connection_id, TEAMMATES.c.manager_id == manager_id)
        .order_by(TEAMMATES.c.teammate_id)
    )
    return list(conn.execute(query).scalars())

