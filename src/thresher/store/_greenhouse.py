"""Greenhouse-only fields of mirrored Greenhouse Recruiting users (migration r0010).

A Greenhouse user is mirrored in ``users`` like a Harvest one, through the fields both products
share (names, email, active, a ``site_admin`` access role; ``thresher.sync`` maps them), so the
roster, ``users list/show``, the change log and reconciliation work unchanged. What only
Greenhouse has (docs/greenhouse.md §2: ``employee_id``, ``job_title``, office and department
ids; Site Admin is the shared ``access_roles``) is kept here as JSON, diffed like the shared
fields, and its changes recorded as ``updated`` events in the same change log and the same
transaction as the page that brought them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from ._arguments import aware, event_source
from ._bulk import chunks
from ._database import db_errors, read_connection
from ._events import PendingEvents
from ._fields import field_changes
from ._records import ChangeEvent, EventSource
from ._schema import Base, _connection_fk, table_of
from ._transaction import StoreTransaction

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["GREENHOUSE_FIELDS", "GreenhouseUserRow", "apply_greenhouse_fields", "greenhouse_fields"]

#: The Greenhouse-only user fields the change log tracks, in the order events list them.
GREENHOUSE_FIELDS: tuple[str, ...] = (
    "employee_id",
    "job_title",
    "office_ids",
    "department_ids",
)


class GreenhouseUserRow(Base):
    """The Greenhouse-only fields of one mirrored Greenhouse user (``users`` holds the rest)."""

    __tablename__ = "greenhouse_users"

    connection_id: Mapped[int] = _connection_fk()
    greenhouse_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    fields: Mapped[dict[str, Any]]


GREENHOUSE_USERS = table_of(GreenhouseUserRow)


def _load(conn: Any, connection_id: int, ids: list[int]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for part in chunks(ids):
        query = select(GREENHOUSE_USERS.c.greenhouse_id, GREENHOUSE_USERS.c.fields).where(
            GREENHOUSE_USERS.c.connection_id == connection_id,
            GREENHOUSE_USERS.c.greenhouse_id.in_(part),
        )
        found.update({row[0]: dict(row[1]) for row in conn.execute(query)})
    return found


def apply_greenhouse_fields(
    tx: StoreTransaction,
    connection_id: int,
    values: Mapping[int, Mapping[str, Any]],
    *,
    observed_at: dt.datetime,
    source: EventSource = "sync",
) -> list[ChangeEvent]:
    """Save the Greenhouse-only fields of ``values`` (by Greenhouse user id, JSON-safe values
    for ``GREENHOUSE_FIELDS``) in ``tx``; an ``updated`` event for each user whose stored fields
    differ. A user seen for the first time records none: its ``created`` event comes from
    ``apply_users`` and its fields are in ``greenhouse_fields`` from then on."""
    pending = PendingEvents(connection_id, aware(observed_at, "observed_at"), event_source(source))
    if not values:
        return []
    with db_errors(tx._url):
        conn = tx._lock(connection_id)
        known = _load(conn, connection_id, list(values))
        rows: list[dict[str, Any]] = []
        for greenhouse_id, given in values.items():
            after = {f: given.get(f) for f in GREENHOUSE_FIELDS}
            before = known.get(greenhouse_id)
            if before is not None:
                changes = field_changes(
                    {f: before.get(f) for f in GREENHOUSE_FIELDS}, after, GREENHOUSE_FIELDS
                )
                if not changes:
                    continue
                pending.add("user", greenhouse_id, "updated", changes)
            rows.append({"connection_id": connection_id, "greenhouse_id": greenhouse_id, "fields": after})
        if rows:
            insert = postgresql.insert if tx._dialect_name() == "postgresql" else sqlite.insert
            stmt = insert(GREENHOUSE_USERS)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[GREENHOUSE_USERS.c.connection_id, GREENHOUSE_USERS.c.greenhouse_id],
                    set_={"fields": stmt.excluded.fields},
                ),
                rows,
            )
    return tx._record(pending)


def greenhouse_fields(
    store: Store, connection_id: int, ids: Iterable[int] | None = None
) -> dict[int, dict[str, Any]]:
    """The stored Greenhouse-only fields by user id (every user of the connection when ``ids`` is
    None)."""
    with read_connection(store.engine, store.url) as conn:
        if ids is not None:
            return _load(conn, connection_id, list(ids))
        query = select(GREENHOUSE_USERS.c.greenhouse_id, GREENHOUSE_USERS.c.fields).where(
            GREENHOUSE_USERS.c.connection_id == connection_id
        )
        return {row[0]: dict(row[1]) for row in conn.execute(query)}
