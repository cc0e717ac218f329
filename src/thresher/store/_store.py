"""The store: opening it, connections, the write transaction and every query.

Guarantees the sync engine builds on:
- ``Store.transaction()`` is one database transaction. A page of users, its change events and the
  sync state that points past it commit together or not at all, so a crash resumes from the last
  committed page and never records an event twice.
- Every write method diffs against the stored row and records an event only for a real change.
  Re-reading an unchanged user (overlapping incremental windows, a resumed page, the sync that
  follows a write-through) records nothing.
- Writers of one connection are serialised (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a row lock on
  the connection), so the diff is never computed against a row another transaction is changing,
  and a connection's event ids grow in commit order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.engine import Engine

from thresher.harvest._models import Role, User

from . import _migrate
from ._bulk import Known, bulk_for, chunks
from ._database import WRITE, create_store_engine, db_errors, default_database_url, redact
from ._errors import DuplicateConnectionError, InvalidArgumentError, UnknownConnectionError
from ._fields import ROLE_FIELDS, USER_FIELDS, field_changes, role_fields, user_columns, user_fields
from ._records import (
    ChangeEvent,
    EventKind,
    EventResource,
    EventSource,
    StoredConnection,
    StoredRole,
    StoredUser,
    SyncState,
)
from ._schema import (
    EVENT_KINDS,
    EVENT_SOURCES,
    RUN_KINDS,
    ChangeEventRow,
    ConnectionRow,
    RoleMemberRow,
    RoleRow,
    SyncStateRow,
    TeammateRow,
    UserRow,
    table_of,
)
from ._types import utc

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_ID_URL", "USERS_RESOURCE", "Store", "StoreTransaction"]

#: Harvest's public endpoints (design.md contracts), the defaults of a new connection.
DEFAULT_BASE_URL = "https://api.harvestapp.com/v2"
DEFAULT_ID_URL = "https://id.getharvest.com"
#: The sync-state resource whose in-progress full run write-throughs count as seen by.
USERS_RESOURCE = "users"

_CONNECTIONS = table_of(ConnectionRow)
_USERS = table_of(UserRow)
_ROLES = table_of(RoleRow)
_MEMBERS = table_of(RoleMemberRow)
_TEAMMATES = table_of(TeammateRow)
_SYNC = table_of(SyncStateRow)
_EVENTS = table_of(ChangeEventRow)

_USER_RECORD_COLUMNS = [_USERS.c[f.name] for f in dataclasses.fields(StoredUser)]
_USER_DIFF_COLUMNS = [_USERS.c.harvest_id, _USERS.c.deleted_at, *(_USERS.c[f] for f in USER_FIELDS)]
_EVENT_COLUMNS = [_EVENTS.c[f.name] for f in dataclasses.fields(ChangeEvent)]
_CONNECTION_COLUMNS = [_CONNECTIONS.c[f.name] for f in dataclasses.fields(StoredConnection)]
_SYNC_FIELDS = [f.name for f in dataclasses.fields(SyncState)]

T = TypeVar("T")


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    try:
        return utc(value, what)
    except ValueError as exc:
        raise InvalidArgumentError(
            str(exc), hint="Pass timezone-aware datetimes, e.g. datetime.now(UTC)."
        ) from None


def _source(value: str) -> EventSource:
    if value not in EVENT_SOURCES:
        raise InvalidArgumentError(f"unknown event source {value!r}", hint="Use 'sync' or 'write'.")
    return cast(EventSource, value)


def _user(row: Any) -> StoredUser:
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


class _Reads:
    """Queries shared by :class:`Store` (each in its own short transaction) and
    :class:`StoreTransaction` (inside the caller's transaction, so it sees its uncommitted writes)."""

    def _read(self, fn: Callable[[SAConnection], T]) -> T:
        raise NotImplementedError

    def _dialect_name(self) -> str:
        raise NotImplementedError

    # -- connections ------------------------------------------------------------------------

    def list_connections(self) -> list[StoredConnection]:
        def run(conn: SAConnection) -> list[StoredConnection]:
            rows = conn.execute(select(*_CONNECTION_COLUMNS).order_by(_CONNECTIONS.c.name))
            return [_connection(r) for r in rows]

        return self._read(run)

    def get_connection_or_none(self, name: str) -> StoredConnection | None:
        def run(conn: SAConnection) -> StoredConnection | None:
            query = select(*_CONNECTION_COLUMNS).where(_CONNECTIONS.c.name == name)
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
            query = select(*_CONNECTION_COLUMNS).where(_CONNECTIONS.c.id == connection_id)
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
            query = select(*_USER_RECORD_COLUMNS).where(
                _USERS.c.connection_id == connection_id, _USERS.c.harvest_id == harvest_id
            )
            if not include_deleted:
                query = query.where(_USERS.c.deleted_at.is_(None))
            row = conn.execute(query).first()
            return None if row is None else _user(row)

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
        query = query.where(_USERS.c.connection_id == connection_id)
        if not include_deleted:
            query = query.where(_USERS.c.deleted_at.is_(None))
        if email is not None:
            query = query.where(_USERS.c.email_lower == email.strip().lower())
        if name_contains:
            full_name = _USERS.c.first_name + " " + _USERS.c.last_name
            query = query.where(full_name.icontains(name_contains.strip(), autoescape=True))
        if access_role is not None:
            query = query.where(self._json_list_contains(_USERS.c.access_roles, access_role))
        if role is not None:
            query = query.where(self._json_list_contains(_USERS.c.roles, role))
        if active is not None:
            query = query.where(_USERS.c.is_active.is_(active))
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
            select(*_USER_RECORD_COLUMNS),
            connection_id,
            email=email,
            name_contains=name_contains,
            access_role=access_role,
            role=role,
            active=active,
            include_deleted=include_deleted,
        ).order_by(_USERS.c.harvest_id)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        return self._read(lambda conn: [_user(r) for r in conn.execute(query)])

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
            select(func.count()).select_from(_USERS),
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
                select(*_USER_DIFF_COLUMNS)
                .where(_USERS.c.connection_id == connection_id, _USERS.c.deleted_at.is_(None))
                .order_by(_USERS.c.harvest_id)
            )
            return {row.harvest_id: user_fields(row._mapping) for row in conn.execute(query)}

        return self._read(run)

    # -- roles and teammates ----------------------------------------------------------------

    def list_roles(self, connection_id: int, *, include_deleted: bool = False) -> list[StoredRole]:
        def run(conn: SAConnection) -> list[StoredRole]:
            members = _load_members(conn, connection_id)
            query = select(_ROLES).where(_ROLES.c.connection_id == connection_id)
            if not include_deleted:
                query = query.where(_ROLES.c.deleted_at.is_(None))
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
                for r in conn.execute(query.order_by(_ROLES.c.harvest_id))
            ]

        return self._read(run)

    def get_teammates(self, connection_id: int, manager_id: int) -> list[int]:
        """The manager's teammates' Harvest ids, ascending."""
        return self._read(lambda conn: _load_teammates(conn, connection_id, manager_id))

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
    ) -> list[ChangeEvent]:
        """The change log in order (by id). ``since``: a datetime keeps events observed at or
        after it; an int keeps events after that event id (a consumer's cursor)."""
        query = select(*_EVENT_COLUMNS).order_by(_EVENTS.c.id)
        if connection_id is not None:
            query = query.where(_EVENTS.c.connection_id == connection_id)
        if isinstance(since, dt.datetime):
            query = query.where(_EVENTS.c.observed_at >= _aware(since, "since"))
        elif isinstance(since, int) and not isinstance(since, bool):
            query = query.where(_EVENTS.c.id > since)
        elif since is not None:
            raise InvalidArgumentError(f"since must be a datetime or an event id, not {since!r}")
        if kind is not None:
            if kind not in EVENT_KINDS:
                raise InvalidArgumentError(
                    f"unknown event kind {kind!r}", hint=f"Use one of: {', '.join(EVENT_KINDS)}."
                )
            query = query.where(_EVENTS.c.kind == kind)
        if resource is not None:
            query = query.where(_EVENTS.c.resource == resource)
        if harvest_id is not None:
            query = query.where(_EVENTS.c.harvest_id == harvest_id)
        if source is not None:
            query = query.where(_EVENTS.c.source == _source(source))
        if limit is not None:
            query = query.limit(limit)
        return self._read(lambda conn: [_event(r) for r in conn.execute(query)])

    def last_event_id(self, connection_id: int | None = None) -> int:
        """The newest event's id (0 when the log is empty): a cursor for ``list_events(since=)``."""
        query = select(func.max(_EVENTS.c.id))
        if connection_id is not None:
            query = query.where(_EVENTS.c.connection_id == connection_id)
        return self._read(lambda conn: int(conn.execute(query).scalar_one_or_none() or 0))

    def get_sync_state(self, connection_id: int, resource: str) -> SyncState:
        """The saved state, or a fresh one (never synced) when none was saved."""

        def run(conn: SAConnection) -> SyncState:
            query = select(*(_SYNC.c[f] for f in _SYNC_FIELDS)).where(
                _SYNC.c.connection_id == connection_id, _SYNC.c.resource == resource
            )
            row = conn.execute(query).first()
            if row is None:
                return SyncState(connection_id=connection_id, resource=resource)
            return SyncState(*row)

        return self._read(run)


def _load_members(conn: SAConnection, connection_id: int) -> dict[int, set[int]]:
    members: dict[int, set[int]] = {}
    query = select(_MEMBERS.c.role_id, _MEMBERS.c.user_id).where(
        _MEMBERS.c.connection_id == connection_id
    )
    for role_id, user_id in conn.execute(query):
        members.setdefault(role_id, set()).add(user_id)
    return members


def _load_teammates(conn: SAConnection, connection_id: int, manager_id: int) -> list[int]:
    query = (
        select(_TEAMMATES.c.teammate_id)
        .where(_TEAMMATES.c.connection_id == connection_id, _TEAMMATES.c.manager_id == manager_id)
        .order_by(_TEAMMATES.c.teammate_id)
    )
    return list(conn.execute(query).scalars())


class Store(_Reads):
    """The roster mirror of every connected Harvest account, with its change log.

    Open with :meth:`Store.open`; close with :meth:`close` (or use it as a context manager).
    Reads run in short transactions of their own; writes go through :meth:`transaction`.
    """

    def __init__(self, engine: Engine, *, url: str) -> None:
        self._engine = engine
        self._url = url

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        migrate: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> Store:
        """Open the store at ``url``, else ``THRESHER_DATABASE_URL``, else the default SQLite file.

        With ``migrate`` (the default) pending migrations are applied, so a fresh database just
        works; ``migrate=False`` opens as-is (``thresher db current``).
        """
        resolved = url or default_database_url(environ)
        with db_errors(resolved):
            engine = create_store_engine(resolved)
            store = cls(engine, url=resolved)
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                if migrate:
                    store.upgrade()
            except BaseException:
                engine.dispose()
                raise
        return store

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return redact(self._url)

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        return cast(Literal["sqlite", "postgresql"], self._engine.dialect.name)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools; the store's API is the supported surface)."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def _dialect_name(self) -> str:
        return self._engine.dialect.name

    def _read(self, fn: Callable[[SAConnection], T]) -> T:
        with db_errors(self._url), self._engine.connect() as conn:
            return fn(conn)

    @contextmanager
    def _write(self) -> Iterator[SAConnection]:
        with db_errors(self._url), self._engine.connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                yield conn

    # -- migrations -------------------------------------------------------------------------

    def upgrade(self) -> _migrate.Revisions:
        """Apply pending migrations; returns the revision before and after."""
        with db_errors(self._url):
            return _migrate.upgrade(self._engine)

    def current_revision(self) -> str | None:
        """The database's schema revision (None: no thresher schema yet)."""
        return self._read(_migrate.current_revision)

    @staticmethod
    def head_revision() -> str:
        """The newest revision this thresher knows."""
        return _migrate.head_revision()

    def pending_migrations(self) -> list[str]:
        """Revisions ``upgrade`` would apply, oldest first."""
        return _migrate.pending(self.current_revision())

    # -- connections ------------------------------------------------------------------------

    def add_connection(
        self,
        name: str,
        account_id: int,
        *,
        label: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        id_url: str = DEFAULT_ID_URL,
        credentials_ref: str | None = None,
        is_default: bool = False,
    ) -> StoredConnection:
        """Record a connection; ``is_default`` takes the default from any other."""
        name = name.strip()
        if not name:
            raise InvalidArgumentError("a connection needs a name")
        try:
            with self._write() as conn:
                taken = conn.execute(select(_CONNECTIONS.c.id).where(_CONNECTIONS.c.name == name))
                if taken.first() is not None:
                    raise DuplicateConnectionError(f"a connection named {name!r} already exists")
                if is_default:
                    conn.execute(update(_CONNECTIONS).values(is_default=False))
                conn.execute(
                    insert(_CONNECTIONS).values(
                        name=name,
                        account_id=account_id,
                        label=label,
                        base_url=base_url,
                        id_url=id_url,
                        credentials_ref=credentials_ref,
                        is_default=is_default,
                        created_at=_now(),
                    )
                )
        except sa_exc.IntegrityError as exc:  # pragma: no cover - a concurrent add of the same name
            raise DuplicateConnectionError(f"a connection named {name!r} already exists") from exc
        return self.get_connection(name)

    def update_connection(
        self,
        name: str,
        *,
        account_id: int | _Unset = UNSET,
        label: str | _Unset | None = UNSET,
        base_url: str | _Unset = UNSET,
        id_url: str | _Unset = UNSET,
        credentials_ref: str | _Unset | None = UNSET,
    ) -> StoredConnection:
        """Change the given fields of a connection (the others stay)."""
        given = {
            "account_id": account_id,
            "label": label,
            "base_url": base_url,
            "id_url": id_url,
            "credentials_ref": credentials_ref,
        }
        values = {k: v for k, v in given.items() if v is not UNSET}
        with self._write() as conn:
            found = conn.execute(select(_CONNECTIONS.c.id).where(_CONNECTIONS.c.name == name)).first()
            if found is None:
                raise UnknownConnectionError(f"no connection named {name!r}")
            if values:
                conn.execute(update(_CONNECTIONS).where(_CONNECTIONS.c.id == found.id).values(**values))
        return self.get_connection(name)

    def set_default_connection(self, name: str) -> StoredConnection:
        with self._write() as conn:
            found = conn.execute(select(_CONNECTIONS.c.id).where(_CONNECTIONS.c.name == name)).first()
            if found is None:
                raise UnknownConnectionError(f"no connection named {name!r}")
            conn.execute(update(_CONNECTIONS).values(is_default=False))
            conn.execute(
                update(_CONNECTIONS).where(_CONNECTIONS.c.name == name).values(is_default=True)
            )
        return self.get_connection(name)

    def remove_connection(self, name: str) -> None:
        """Remove a connection with its mirror, sync state and change log."""
        with self._write() as conn:
            result = conn.execute(delete(_CONNECTIONS).where(_CONNECTIONS.c.name == name))
            if result.rowcount == 0:
                raise UnknownConnectionError(f"no connection named {name!r}")

    # -- writes -----------------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """One database transaction: everything done through the yielded :class:`StoreTransaction`
        commits when the block ends, or rolls back if it raises."""
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[StoreTransaction]:
        with self._write() as conn:
            tx = StoreTransaction(conn, self._url)
            try:
                yield tx
            finally:
                tx._closed = True


class StoreTransaction(_Reads):
    """Writes (and reads) inside one open transaction; see :meth:`Store.transaction`."""

    def __init__(self, conn: SAConnection, url: str) -> None:
        self._conn = conn
        self._url = url
        self._locked: set[int] = set()
        self._closed = False
        self._bulk = bulk_for(conn.dialect.name)

    def _dialect_name(self) -> str:
        return self._conn.dialect.name

    def _read(self, fn: Callable[[SAConnection], T]) -> T:
        return fn(self._open())

    def _open(self) -> SAConnection:
        if self._closed:
            raise InvalidArgumentError("this transaction has ended; open a new one with store.transaction()")
        return self._conn

    def _lock(self, connection_id: int) -> SAConnection:
        """Serialise writers of one connection (PostgreSQL; SQLite's write lock already does)."""
        conn = self._open()
        if connection_id not in self._locked:
            query = select(_CONNECTIONS.c.id).where(_CONNECTIONS.c.id == connection_id)
            if conn.execute(query.with_for_update()).first() is None:
                raise UnknownConnectionError(f"no connection with id {connection_id}")
            self._locked.add(connection_id)
        return conn

    def _upsert(
        self,
        table: Table,
        rows: list[dict[str, Any]],
        keys: Sequence[str],
        *,
        keep: Iterable[str] = (),
    ) -> None:
        """Insert ``rows``, updating existing ones (every column but ``keys`` and ``keep``)."""
        if not rows:
            return
        stmt = (
            postgresql.insert(table) if self._dialect_name() == "postgresql" else sqlite.insert(table)
        )
        fixed = {*keys, *keep}
        set_ = {c: stmt.excluded[c] for c in rows[0] if c not in fixed}
        upsert = stmt.on_conflict_do_update(index_elements=[table.c[k] for k in keys], set_=set_)
        self._conn.execute(upsert, rows)

    def _record(self, pending: _Pending) -> list[ChangeEvent]:
        if not pending.rows:
            return []
        with db_errors(self._url):
            ids = self._bulk.insert_events(self._open(), pending.rows)
        return [ChangeEvent(id=i, **e) for i, e in zip(ids, pending.rows, strict=True)]

    # -- users ------------------------------------------------------------------------------

    def apply_users(
        self,
        connection_id: int,
        users: Sequence[User],
        *,
        observed_at: dt.datetime,
        source: EventSource = "sync",
        run_id: str | None = None,
    ) -> list[ChangeEvent]:
        """Upsert users as Harvest returned them; returns the events for what actually changed.

        - A new user, or a tombstoned one that reappears, is ``created`` (every field's after).
        - Otherwise a field-level diff: ``restored`` (is_active False→True), ``updated`` (other
          fields), ``roles_changed`` (the ``roles`` list), ``archived`` (True→False), in that
          order, each carrying only its own fields. No change, no event (``updated_at`` alone
          is stored but is no change: see ``USER_FIELDS``).
        - ``run_id`` marks the users as listed by that full run (``tombstone_missing_users``).
          Without one (incremental pages, write-throughs) a user counts as seen by the full run in
          progress, if any: Harvest just returned it, so reconciliation must not tombstone it.
        - A user repeated within ``users`` is diffed against its previous occurrence.
        """
        pending = _Pending(connection_id, _aware(observed_at, "observed_at"), _source(source))
        if not users:
            return []
        with _cycle_collection_paused():
            return self._apply_users(pending, users, run_id)

    def _apply_users(
        self, pending: _Pending, users: Sequence[User], run_id: str | None
    ) -> list[ChangeEvent]:
        connection_id = pending.connection_id
        bulk = self._bulk
        seen_at = bulk.encode_time(pending.observed_at)
        with db_errors(self._url):
            conn = self._lock(connection_id)
            stamp = run_id if run_id is not None else self._full_run_in_progress(conn, connection_id)
            known = bulk.load_users(conn, connection_id, list(dict.fromkeys(u.id for u in users)))
            rows: dict[int, dict[str, Any]] = {}
            unchanged: set[int] = set()
            for user in users:
                columns = user_columns(user)
                encoded = bulk.encode_user(columns)
                key = bulk.key(encoded)
                before = known.get(user.id)
                if before is not None and not before.deleted and before.key == key:
                    if user.id not in rows:
                        unchanged.add(user.id)
                    continue
                after = user_fields(columns)
                if before is None or before.deleted:
                    pending.add("user", user.id, "created", field_changes(None, after, USER_FIELDS))
                else:
                    # The keys differ; the fields may not (only updated_at moved): then no event.
                    for kind, changes in _user_change_events(bulk.fields(before), after):
                        pending.add("user", user.id, kind, changes)
                known[user.id] = Known(key=key, deleted=False, fields=after)
                unchanged.discard(user.id)
                encoded.update(
                    connection_id=connection_id,
                    first_seen_at=seen_at,
                    last_seen_at=seen_at,
                    last_seen_run=stamp,
                    deleted_at=None,
                )
                rows[user.id] = encoded
            bulk.upsert_users(conn, list(rows.values()))
            bulk.touch_users(conn, connection_id, sorted(unchanged), pending.observed_at, stamp)
        return self._record(pending)

    @staticmethod
    def _full_run_in_progress(conn: SAConnection, connection_id: int) -> str | None:
        query = select(_SYNC.c.run_id, _SYNC.c.run_kind).where(
            _SYNC.c.connection_id == connection_id, _SYNC.c.resource == USERS_RESOURCE
        )
        row = conn.execute(query).first()
        return row.run_id if row is not None and row.run_kind == "full" else None

    def tombstone_missing_users(
        self, connection_id: int, run_id: str, *, observed_at: dt.datetime
    ) -> list[ChangeEvent]:
        """Reconciliation after full run ``run_id`` listed every user: live users it did not see
        are gone from Harvest and become ``deleted`` tombstones (every field's before)."""
        pending = _Pending(connection_id, _aware(observed_at, "observed_at"), "sync")
        with db_errors(self._url):
            conn = self._lock(connection_id)
            query = (
                select(*_USER_DIFF_COLUMNS)
                .where(
                    _USERS.c.connection_id == connection_id,
                    _USERS.c.deleted_at.is_(None),
                    or_(_USERS.c.last_seen_run.is_(None), _USERS.c.last_seen_run != run_id),
                )
                .order_by(_USERS.c.harvest_id)
            )
            gone = [(row.harvest_id, user_fields(row._mapping)) for row in conn.execute(query)]
            self._tombstone(conn, connection_id, [hid for hid, _ in gone], pending.observed_at)
        for hid, fields in gone:
            pending.add("user", hid, "deleted", field_changes(fields, None, USER_FIELDS))
        return self._record(pending)

    def mark_user_deleted(
        self,
        connection_id: int,
        harvest_id: int,
        *,
        observed_at: dt.datetime,
        source: EventSource = "write",
    ) -> list[ChangeEvent]:
        """Write-through of a successful ``DELETE /v2/users/{id}``: tombstone the user and record
        ``deleted``. Nothing happens (no event) if the mirror has no live row for it."""
        pending = _Pending(connection_id, _aware(observed_at, "observed_at"), _source(source))
        with db_errors(self._url):
            conn = self._lock(connection_id)
            found = self._bulk.load_users(conn, connection_id, [harvest_id]).get(harvest_id)
            if found is None or found.deleted:
                return []
            before = self._bulk.fields(found)
            self._tombstone(conn, connection_id, [harvest_id], pending.observed_at)
        pending.add("user", harvest_id, "deleted", field_changes(before, None, USER_FIELDS))
        return self._record(pending)

    @staticmethod
    def _tombstone(
        conn: SAConnection, connection_id: int, ids: Sequence[int], observed: dt.datetime
    ) -> None:
        for chunk in chunks(ids):
            conn.execute(
                update(_USERS)
                .where(_USERS.c.connection_id == connection_id, _USERS.c.harvest_id.in_(chunk))
                .values(deleted_at=observed)
            )

    # -- roles and teammates ----------------------------------------------------------------

    def apply_roles(
        self,
        connection_id: int,
        roles: Sequence[Role],
        *,
        observed_at: dt.datetime,
        source: EventSource = "sync",
        complete: bool = True,
    ) -> list[ChangeEvent]:
        """Upsert roles and their members (role events: ``created``/``updated``/``deleted`` with
        ``name``, ``user_ids``, ``created_at``). Harvest cannot list roles changed since a time
        (§7.5), so a sync passes the whole list with ``complete=True``: roles missing from it
        become tombstones. A write-through of one role passes ``complete=False``."""
        pending = _Pending(connection_id, _aware(observed_at, "observed_at"), _source(source))
        observed = pending.observed_at
        with db_errors(self._url):
            conn = self._lock(connection_id)
            members = _load_members(conn, connection_id)
            # Live roles' tracked fields; None for tombstones (a reappearing role is created).
            known: dict[int, dict[str, Any] | None] = {
                r.harvest_id: role_fields(r.name, members.get(r.harvest_id, set()), r.created_at)
                if r.deleted_at is None
                else None
                for r in conn.execute(select(_ROLES).where(_ROLES.c.connection_id == connection_id))
            }
            rows: dict[int, dict[str, Any]] = {}
            new_members: dict[int, list[int]] = {}
            for role in roles:
                after = role_fields(role.name, role.user_ids, role.created_at)
                before = known.get(role.id)
                changes = field_changes(before, after, ROLE_FIELDS)
                if changes:
                    pending.add("role", role.id, "created" if before is None else "updated", changes)
                if before is None or before["user_ids"] != after["user_ids"]:
                    new_members[role.id] = after["user_ids"]
                known[role.id] = after
                rows[role.id] = {
                    "connection_id": connection_id,
                    "harvest_id": role.id,
                    "name": role.name,
                    "created_at": role.created_at,
                    "updated_at": role.updated_at,
                    "first_seen_at": observed,
                    "last_seen_at": observed,
                    "deleted_at": None,
                }
            gone = {
                hid: fields
                for hid, fields in sorted(known.items())
                if complete and fields is not None and hid not in rows
            }
            for hid, fields in gone.items():
                pending.add("role", hid, "deleted", field_changes(fields, None, ROLE_FIELDS))
            self._upsert(
                _ROLES, list(rows.values()), ("connection_id", "harvest_id"), keep=("first_seen_at",)
            )
            for chunk in chunks(list(gone)):
                conn.execute(
                    update(_ROLES)
                    .where(_ROLES.c.connection_id == connection_id, _ROLES.c.harvest_id.in_(chunk))
                    .values(deleted_at=observed)
                )
            for chunk in chunks([*new_members, *gone]):
                conn.execute(
                    delete(_MEMBERS).where(
                        _MEMBERS.c.connection_id == connection_id, _MEMBERS.c.role_id.in_(chunk)
                    )
                )
            member_rows = [
                {"connection_id": connection_id, "role_id": rid, "user_id": uid}
                for rid, uids in new_members.items()
                for uid in uids
            ]
            if member_rows:
                conn.execute(insert(_MEMBERS), member_rows)
        return self._record(pending)

    def set_teammates(
        self,
        connection_id: int,
        manager_id: int,
        teammate_ids: Iterable[int],
        *,
        observed_at: dt.datetime,
        source: EventSource = "sync",
    ) -> list[ChangeEvent]:
        """Replace a manager's teammates (``PATCH /v2/users/{id}/teammates`` replaces too);
        records ``teammates_changed`` on the manager, ``teammate_ids`` before/after, if the set
        changed."""
        pending = _Pending(connection_id, _aware(observed_at, "observed_at"), _source(source))
        after = sorted(set(teammate_ids))
        with db_errors(self._url):
            conn = self._lock(connection_id)
            before = _load_teammates(conn, connection_id, manager_id)
            if before == after:
                return []
            removed = sorted(set(before) - set(after))
            added = sorted(set(after) - set(before))
            for chunk in chunks(removed):
                conn.execute(
                    delete(_TEAMMATES).where(
                        _TEAMMATES.c.connection_id == connection_id,
                        _TEAMMATES.c.manager_id == manager_id,
                        _TEAMMATES.c.teammate_id.in_(chunk),
                    )
                )
            if added:
                conn.execute(
                    insert(_TEAMMATES),
                    [
                        {"connection_id": connection_id, "manager_id": manager_id, "teammate_id": t}
                        for t in added
                    ],
                )
        changes = {"teammate_ids": {"before": before, "after": after}}
        pending.add("user", manager_id, "teammates_changed", changes)
        return self._record(pending)

    # -- sync state -------------------------------------------------------------------------

    def save_sync_state(self, state: SyncState) -> None:
        """Save ``state``; it commits with whatever else this transaction wrote."""
        if state.run_kind is not None and state.run_kind not in RUN_KINDS:
            raise InvalidArgumentError(
                f"unknown run kind {state.run_kind!r}", hint="Use 'full' or 'incremental'."
            )
        row: dict[str, Any] = {f: getattr(state, f) for f in _SYNC_FIELDS}
        for f in ("high_water_mark", "run_started_at", "last_full_sync_at", "last_reconciled_at"):
            if row[f] is not None:
                row[f] = _aware(row[f], f"SyncState.{f}")
        row["updated_at"] = _now()
        with db_errors(self._url):
            self._lock(state.connection_id)
            self._upsert(_SYNC, [row], ("connection_id", "resource"))


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Pause the cycle collector while a page is diffed and written.

    A 2,000-user page allocates some 100,000 small dicts and lists (fields, encoded rows, events)
    that all live until the page is written. Each of the collector's full passes walks them and
    everything else alive, for nothing: none of them form cycles. That was a third of the time of
    a 10,000-user upsert. Reference counting still frees memory as usual; cycles, if any, are
    collected once the collector resumes. Re-entrant, and leaves a collector disabled by someone
    else disabled.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclasses.dataclass
class _Pending:
    """Events of one write call, recorded together once its rows are written."""

    connection_id: int
    observed_at: dt.datetime
    source: EventSource
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add(
        self, resource: EventResource, harvest_id: int, kind: EventKind, changes: dict[str, dict[str, Any]]
    ) -> None:
        self.rows.append(
            {
                "connection_id": self.connection_id,
                "resource": resource,
                "harvest_id": harvest_id,
                "kind": kind,
                "changes": changes,
                "observed_at": self.observed_at,
                "source": self.source,
            }
        )


def _user_change_events(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[EventKind, dict[str, dict[str, Any]]]]:
    changes = field_changes(before, after, USER_FIELDS)
    active = changes.pop("is_active", None)
    roles = changes.pop("roles", None)
    out: list[tuple[EventKind, dict[str, dict[str, Any]]]] = []
    # A restore comes first and an archive last: Harvest freezes names and emails of archived
    # users, so edits that arrive with either happened while the user was active.
    if active is not None and active["after"]:
        out.append(("restored", {"is_active": active}))
    if changes:
        out.append(("updated", changes))
    if roles is not None:
        out.append(("roles_changed", {"roles": roles}))
    if active is not None and not active["after"]:
        out.append(("archived", {"is_active": active}))
    return out

