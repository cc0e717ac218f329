"""The write transaction: upserts diffed against the stored rows, and the change events they make.

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

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection as SAConnection

from thresher.harvest import Role, User

from . import _leases
from ._arguments import aware, event_source, now
from ._bulk import bulk_for, chunks
from ._database import db_errors
from ._errors import InvalidArgumentError, UnknownConnectionError
from ._events import PendingEvents, user_change_events
from ._fields import ROLE_FIELDS, USER_FIELDS, field_changes, role_fields, user_fields, user_snapshot
from ._queries import SYNC_FIELDS, USER_DIFF_COLUMNS, Queries, load_members, load_teammates
from ._records import USERS_RESOURCE, ChangeEvent, EventSource, Lease, SyncState
from ._schema import RUN_KINDS
from ._tables import CONNECTIONS, MEMBERS, ROLES, SYNC, TEAMMATES, USERS
from ._webhook_outbox import enqueue_changes

__all__ = ["StoreTransaction"]

T = TypeVar("T")


class StoreTransaction(Queries):
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
            query = select(CONNECTIONS.c.id).where(CONNECTIONS.c.id == connection_id)
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

    def _record(self, pending: PendingEvents) -> list[ChangeEvent]:
        if not pending:
            return []
        with db_errors(self._url):
            conn = self._open()
            events = pending.events(self._bulk.insert_events(conn, pending))
            # The outbox: deliveries commit with the events or not at all (_webhook_outbox).
            enqueue_changes(conn, events)
        return events

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
        pending = PendingEvents(connection_id, aware(observed_at, "observed_at"), event_source(source))
        if not users:
            return []
        with db_errors(self._url):
            conn = self._lock(connection_id)
            stamp = run_id if run_id is not None else self._full_run_in_progress(conn, connection_id)
            bulk = self._bulk
            known = bulk.load_users(conn, connection_id, list(dict.fromkeys(u.id for u in users)))
            rows: dict[int, dict[str, Any]] = {}
            unchanged: set[int] = set()
            for user in users:
                row = bulk.user_row(user, connection_id, pending.observed_at, stamp)
                state = bulk.state(row)
                before = known.get(user.id)
                if before == state:  # stored, live and the same
                    if user.id not in rows:
                        unchanged.add(user.id)
                    continue
                after = user_snapshot(user)
                if before is None or before[0] is not None:
                    pending.add("user", user.id, "created", field_changes(None, after, USER_FIELDS))
                else:
                    # The states differ; the fields may not (only updated_at moved): then no event.
                    for kind, changes in user_change_events(bulk.fields(before), after):
                        pending.add("user", user.id, kind, changes)
                known[user.id] = state
                unchanged.discard(user.id)
                rows[user.id] = row
            bulk.upsert_users(conn, list(rows.values()))
            bulk.touch_users(conn, connection_id, sorted(unchanged), pending.observed_at, stamp)
        return self._record(pending)

    @staticmethod
    def _full_run_in_progress(conn: SAConnection, connection_id: int) -> str | None:
        query = select(SYNC.c.run_id, SYNC.c.run_kind).where(
            SYNC.c.connection_id == connection_id, SYNC.c.resource == USERS_RESOURCE
        )
        row = conn.execute(query).first()
        return row.run_id if row is not None and row.run_kind == "full" else None

    def tombstone_missing_users(
        self, connection_id: int, run_id: str, *, observed_at: dt.datetime
    ) -> list[ChangeEvent]:
        """Reconciliation after full run ``run_id`` listed every user: live users it did not see
        are gone from Harvest and become ``deleted`` tombstones (every field's before)."""
        pending = PendingEvents(connection_id, aware(observed_at, "observed_at"), "sync")
        with db_errors(self._url):
            conn = self._lock(connection_id)
            query = (
                select(*USER_DIFF_COLUMNS)
                .where(
                    USERS.c.connection_id == connection_id,
                    USERS.c.deleted_at.is_(None),
                    or_(USERS.c.last_seen_run.is_(None), USERS.c.last_seen_run != run_id),
                )
                .order_by(USERS.c.harvest_id)
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
        pending = PendingEvents(connection_id, aware(observed_at, "observed_at"), event_source(source))
        with db_errors(self._url):
            conn = self._lock(connection_id)
            found = self._bulk.load_users(conn, connection_id, [harvest_id]).get(harvest_id)
            if found is None or found[0] is not None:
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
                update(USERS)
                .where(USERS.c.connection_id == connection_id, USERS.c.harvest_id.in_(chunk))
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
        pending = PendingEvents(connection_id, aware(observed_at, "observed_at"), event_source(source))
        observed = pending.observed_at
        with db_errors(self._url):
            conn = self._lock(connection_id)
            members = load_members(conn, connection_id)
            # Live roles' tracked fields; None for tombstones (a reappearing role is created).
            known: dict[int, dict[str, Any] | None] = {
                r.harvest_id: role_fields(r.name, members.get(r.harvest_id, set()), r.created_at)
                if r.deleted_at is None
                else None
                for r in conn.execute(select(ROLES).where(ROLES.c.connection_id == connection_id))
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
                ROLES, list(rows.values()), ("connection_id", "harvest_id"), keep=("first_seen_at",)
            )
            for chunk in chunks(list(gone)):
                conn.execute(
                    update(ROLES)
                    .where(ROLES.c.connection_id == connection_id, ROLES.c.harvest_id.in_(chunk))
                    .values(deleted_at=observed)
                )
            for chunk in chunks([*new_members, *gone]):
                conn.execute(
                    delete(MEMBERS).where(
                        MEMBERS.c.connection_id == connection_id, MEMBERS.c.role_id.in_(chunk)
                    )
                )
            member_rows = [
                {"connection_id": connection_id, "role_id": rid, "user_id": uid}
                for rid, uids in new_members.items()
                for uid in uids
            ]
            if member_rows:
                conn.execute(insert(MEMBERS), member_rows)
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
        pending = PendingEvents(connection_id, aware(observed_at, "observed_at"), event_source(source))
        after = sorted(set(teammate_ids))
        with db_errors(self._url):
            conn = self._lock(connection_id)
            before = load_teammates(conn, connection_id, manager_id)
            if before == after:
                return []
            removed = sorted(set(before) - set(after))
            added = sorted(set(after) - set(before))
            for chunk in chunks(removed):
                conn.execute(
                    delete(TEAMMATES).where(
                        TEAMMATES.c.connection_id == connection_id,
                        TEAMMATES.c.manager_id == manager_id,
                        TEAMMATES.c.teammate_id.in_(chunk),
                    )
                )
            if added:
                conn.execute(
                    insert(TEAMMATES),
                    [
                        {"connection_id": connection_id, "manager_id": manager_id, "teammate_id": t}
                        for t in added
                    ],
                )
        changes = {"teammate_ids": {"before": before, "after": after}}
        pending.add("user", manager_id, "teammates_changed", changes)
        return self._record(pending)

    # -- leases -----------------------------------------------------------------------------

    def check_lease(self, lease: Lease) -> None:
        """The fencing check: raise ``LeaseLostError`` unless ``lease`` still holds, so this
        transaction's writes commit only while their writer holds the lease."""
        with db_errors(self._url):
            _leases.check(self._open(), lease)

    # -- sync state -------------------------------------------------------------------------

    def save_sync_state(self, state: SyncState) -> None:
        """Save ``state``; it commits with whatever else this transaction wrote."""
        if state.run_kind is not None and state.run_kind not in RUN_KINDS:
            raise InvalidArgumentError(
                f"unknown run kind {state.run_kind!r}", hint="Use 'full' or 'incremental'."
            )
        row: dict[str, Any] = {f: getattr(state, f) for f in SYNC_FIELDS}
        row["pending_teammates"] = sorted(state.pending_teammates) or None
        for f in ("high_water_mark", "run_started_at", "last_full_sync_at", "last_reconciled_at"):
            if row[f] is not None:
                row[f] = aware(row[f], f"SyncState.{f}")
        row["updated_at"] = now()
        with db_errors(self._url):
            self._lock(state.connection_id)
            self._upsert(SYNC, [row], ("connection_id", "resource"))
