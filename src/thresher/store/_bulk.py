"""Bulk reads and writes of users and events, one implementation per database.

A full sync writes thousands of users per page, and the store must upsert 10,000 into SQLite in
under a second, diff included. SQLAlchemy's per-value type processing (timezone handling, JSON,
decimals) costs more than the database itself at that size, so on SQLite users and events are
encoded once, in Python, into exactly what SQLAlchemy's own types store, and written with the
driver's ``executemany``; rows are compared in that encoding, and decoded into fields only when
they differ. PostgreSQL (whose driver adapts values natively) goes through SQLAlchemy as usual.
Both paths store identical values; the suite runs on both databases and reads back through the
ordinary typed queries.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Text, func, insert, select, text, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection as SAConnection

from thresher.harvest import User, normalize_email

from ._database import json_dumps, json_loads
from ._events import PendingEvents
from ._fields import USER_FIELDS, user_columns, user_fields
from ._tables import EVENTS as _EVENTS
from ._tables import USERS as _USERS
from ._types import canonical_decimal

__all__ = ["CHUNK", "Bulk", "State", "bulk_for", "chunks"]

#: Bound parameters per IN list: far below SQLite's 32766 and PostgreSQL's 65535.
CHUNK = 1000

#: The columns that decide whether a stored user differs from Harvest's: the tracked fields plus
#: ``updated_at``, which changes no event but must still be kept current.
KEY_COLUMNS: tuple[str, ...] = (*USER_FIELDS, "updated_at")
_DATETIMES = frozenset({"created_at", "updated_at"})
_BOOLS = frozenset({"has_access_to_all_future_projects", "is_contractor", "is_active"})
_DECIMALS = frozenset({"default_hourly_rate", "cost_rate"})
_LISTS = frozenset({"roles", "access_roles"})
_UPSERT_KEYS = ("connection_id", "harvest_id")
_USER_WRITE_COLUMNS: tuple[str, ...] = (
    "connection_id",
    "harvest_id",
    *USER_FIELDS,
    "email_lower",
    "updated_at",
    "first_seen_at",
    "last_seen_at",
    "last_seen_run",
    "deleted_at",
)


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


#: A user as stored, for comparison: ``deleted_at`` then the ``KEY_COLUMNS`` values, as the
#: implementation encodes them. A write row's state has ``deleted_at`` None, so a state equal to
#: a stored one means a live user with nothing to write.
State = tuple[Any, ...]
_STATE = operator.itemgetter("deleted_at", *KEY_COLUMNS)


class Bulk:
    """The PostgreSQL (and reference) implementation: SQLAlchemy typed statements."""

    def user_row(
        self, user: User, connection_id: int, seen_at: dt.datetime, run_id: str | None
    ) -> dict[str, Any]:
        """The ``users`` row a write of ``user`` stores (``first_seen_at`` applies to new rows)."""
        return {
            **user_columns(user),
            "connection_id": connection_id,
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
            "last_seen_run": run_id,
            "deleted_at": None,
        }

    def state(self, row: dict[str, Any]) -> State:
        """The :data:`State` of a row from :meth:`user_row`."""
        state: State = _STATE(row)
        return state

    def load_users(self, conn: SAConnection, connection_id: int, ids: Sequence[int]) -> dict[int, State]:
        cols = [_USERS.c.harvest_id, _USERS.c.deleted_at, *(_USERS.c[c] for c in KEY_COLUMNS)]
        return self._load(conn, connection_id, ids, cols)

    @staticmethod
    def _load(
        conn: SAConnection, connection_id: int, ids: Sequence[int], cols: list[Any]
    ) -> dict[int, State]:
        known: dict[int, State] = {}
        for chunk in chunks(ids):
            query = select(*cols).where(
                _USERS.c.connection_id == connection_id, _USERS.c.harvest_id.in_(chunk)
            )
            for row in conn.execute(query):
                known[row[0]] = row[1:]
        return known

    def fields(self, state: State) -> dict[str, Any]:
        """The tracked fields, JSON-safe, of a stored user."""
        return user_fields(dict(zip(KEY_COLUMNS, state[1:], strict=True)))

    def upsert_users(self, conn: SAConnection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        stmt = postgresql.insert(_USERS)
        upsert = stmt.on_conflict_do_update(index_elements=list(_UPSERT_KEYS), set_=_user_set(stmt))
        conn.execute(upsert, rows)

    def touch_users(
        self,
        conn: SAConnection,
        connection_id: int,
        ids: Sequence[int],
        observed_at: dt.datetime,
        run_id: str | None,
    ) -> None:
        """Mark unchanged users as seen, without rewriting them."""
        values: dict[str, Any] = {"last_seen_at": observed_at}
        if run_id is not None:
            values["last_seen_run"] = run_id
        for chunk in chunks(ids):
            conn.execute(
                update(_USERS)
                .where(_USERS.c.connection_id == connection_id, _USERS.c.harvest_id.in_(chunk))
                .values(**values)
            )

    def insert_events(self, conn: SAConnection, pending: PendingEvents) -> list[int]:
        # Ids drawn from the column's sequence up front, then one pipelined executemany: faster
        # than RETURNING, which batches rows into huge statements the driver must re-parse.
        ids = list(conn.execute(_PG_NEXT_EVENT_IDS, {"n": len(pending)}).scalars())
        rows = [
            {
                "id": i,
                "connection_id": pending.connection_id,
                "resource": resource,
                "harvest_id": hid,
                "kind": kind,
                "changes": changes,
                "observed_at": pending.observed_at,
                "source": pending.source,
            }
            for i, resource, hid, kind, changes in zip(
                ids, pending.resources, pending.harvest_ids, pending.kinds, pending.changes, strict=True
            )
        ]
        conn.execute(insert(_EVENTS), rows)
        return ids


def _user_set(stmt: Any) -> dict[str, Any]:
    # Every column but the keys and first_seen_at; last_seen_run only when this write has one.
    set_: dict[str, Any] = {
        c: stmt.excluded[c]
        for c in _USER_WRITE_COLUMNS
        if c not in _UPSERT_KEYS and c not in ("first_seen_at", "last_seen_run")
    }
    set_["last_seen_run"] = func.coalesce(stmt.excluded.last_seen_run, _USERS.c.last_seen_run)
    return set_


def _sqlite_time(value: dt.datetime) -> str:
    # Exactly SQLAlchemy's SQLite DATETIME storage format, in UTC: stored values must compare
    # (as text) and parse the same whichever path wrote them.
    v = value.astimezone(dt.UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 (mirrors SQLAlchemy)
        v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond,
    )


# One write call stamps every row with the same time: encode it once, not once per user.
_sqlite_seen_time = functools.lru_cache(maxsize=4)(_sqlite_time)


class SQLiteBulk(Bulk):
    """SQLite: values pre-encoded as SQLAlchemy would store them, written by ``executemany``.

    Rows and states hold only strings, numbers and None. Besides sparing SQLAlchemy's type
    processing, that keeps them out of CPython's cycle collector: it does not track a dict of
    such values, and stops tracking such a tuple at its first pass, while a page's worth of
    tracked containers, alive until the page is written, made its full passes over everything in
    the process a third of the time of a 10,000-user upsert.
    """

    def user_row(
        self, user: User, connection_id: int, seen_at: dt.datetime, run_id: str | None
    ) -> dict[str, Any]:
        # Spelled out, not looped over the column sets: this runs for every user of every page.
        rate, cost = user.default_hourly_rate, user.cost_rate
        seen = _sqlite_seen_time(seen_at)
        return {
            "connection_id": connection_id,
            "harvest_id": user.id,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "telephone": user.telephone,
            "timezone": user.timezone,
            "has_access_to_all_future_projects": int(user.has_access_to_all_future_projects),
            "is_contractor": int(user.is_contractor),
            "is_active": int(user.is_active),
            "weekly_capacity": user.weekly_capacity,
            "default_hourly_rate": None if rate is None else canonical_decimal(rate),
            "cost_rate": None if cost is None else canonical_decimal(cost),
            "roles": json_dumps(list(user.roles)),
            "access_roles": json_dumps(list(user.access_roles)),
            "avatar_url": user.avatar_url,
            "created_at": _sqlite_time(user.created_at),
            "email_lower": normalize_email(user.email),
            "updated_at": _sqlite_time(user.updated_at),
            "first_seen_at": seen,
            "last_seen_at": seen,
            "last_seen_run": run_id,
            "deleted_at": None,
        }

    def load_users(self, conn: SAConnection, connection_id: int, ids: Sequence[int]) -> dict[int, State]:
        # type_coerce to plain types: rows come back exactly as stored, with no processing.
        raw = [
            type_coerce(_USERS.c[c], Integer() if c in _BOOLS else Text())
            if c in _BOOLS | _DATETIMES | _DECIMALS | _LISTS
            else _USERS.c[c]
            for c in KEY_COLUMNS
        ]
        cols = [_USERS.c.harvest_id, type_coerce(_USERS.c.deleted_at, Text()), *raw]
        return self._load(conn, connection_id, ids, cols)

    def fields(self, state: State) -> dict[str, Any]:
        stored = dict(zip(KEY_COLUMNS, state[1:], strict=True))
        for c in _BOOLS:
            stored[c] = bool(stored[c])
        for c in _DECIMALS:
            stored[c] = None if stored[c] is None else Decimal(stored[c])
        for c in _LISTS:
            stored[c] = json_loads(stored[c])
        stored["created_at"] = dt.datetime.fromisoformat(stored["created_at"]).replace(tzinfo=dt.UTC)
        return user_fields(stored)

    def upsert_users(self, conn: SAConnection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.exec_driver_sql(_sqlite_user_upsert_sql(), rows)

    def insert_events(self, conn: SAConnection, pending: PendingEvents) -> list[int]:
        # executemany cannot return ids, so they are assigned here: the transaction holds
        # SQLite's write lock (BEGIN IMMEDIATE), so nobody else can take them meanwhile.
        last = conn.execute(
            text(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'change_events'), 0),"
                " coalesce((SELECT max(id) FROM change_events), 0))"
            )
        ).scalar_one()
        ids = list(range(int(last) + 1, int(last) + 1 + len(pending)))
        cid, observed, source = pending.connection_id, _sqlite_time(pending.observed_at), pending.source
        rows = [
            {
                "id": i,
                "connection_id": cid,
                "resource": resource,
                "harvest_id": hid,
                "kind": kind,
                "changes": json_dumps(changes),
                "observed_at": observed,
                "source": source,
            }
            for i, resource, hid, kind, changes in zip(
                ids, pending.resources, pending.harvest_ids, pending.kinds, pending.changes, strict=True
            )
        ]
        conn.exec_driver_sql(_sqlite_event_insert_sql(), rows)
        return ids


@functools.cache
def _sqlite_user_upsert_sql() -> str:
    stmt = sqlite.insert(_USERS)
    stmt = stmt.on_conflict_do_update(index_elements=list(_UPSERT_KEYS), set_=_user_set(stmt))
    return _named_sql(stmt, _USER_WRITE_COLUMNS)


@functools.cache
def _sqlite_event_insert_sql() -> str:
    columns = ("id", "connection_id", "resource", "harvest_id", "kind", "changes", "observed_at", "source")
    return _named_sql(insert(_EVENTS), columns)


def _named_sql(stmt: Any, columns: Sequence[str]) -> str:
    compiled = stmt.compile(dialect=sqlite.dialect(paramstyle="named"), column_keys=list(columns))
    return str(compiled)


_PG_NEXT_EVENT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('change_events', 'id')) FROM generate_series(1, :n)"
)
_SQLITE = SQLiteBulk()
_POSTGRESQL = Bulk()


def bulk_for(dialect_name: str) -> Bulk:
    return _SQLITE if dialect_name == "sqlite" else _POSTGRESQL
