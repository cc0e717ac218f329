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
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from thresher.greenhouse import User as GreenhouseUser
from thresher.harvest import User as MirrorUser

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

__all__ = [
    "GREENHOUSE_FIELDS",
    "SITE_ADMIN",
    "GreenhouseUserRow",
    "apply_greenhouse_fields",
    "apply_greenhouse_users",
    "greenhouse_fields",
    "greenhouse_fields_of",
    "mirror_user",
]

#: The access role a Greenhouse Site Admin has in the mirror (``users list``, ``StoredUser``).
SITE_ADMIN = "site_admin"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: The Greenhouse-only user fields the change log tracks, in the order events list them.
GREENHOUSE_FIELDS: tuple[str, ...] = (
    "employee_id",
    "job_title",
    "office_ids",
    "department_ids",
)


def mirror_user(user: GreenhouseUser) -> MirrorUser:
    """A Greenhouse user in the mirror's shape (the ``users`` row ``apply_users`` takes): names,
    primary email ("" for a service account), active (not ``deactivated``) and ``site_admin``
    as an access role; the Harvest-only fields empty."""
    created = user.created_at or user.updated_at or _EPOCH
    return MirrorUser(
        id=user.id,
        first_name=user.first_name or "",
        last_name=user.last_name or "",
        email=user.primary_email or "",
        telephone=None,
        is_active=not user.deactivated,
        access_roles=[SITE_ADMIN] if user.site_admin else [],
        created_at=created,
        updated_at=user.updated_at or created,
    )


def greenhouse_fields_of(user: GreenhouseUser) -> dict[str, Any]:
    """The Greenhouse-only fields the change log tracks (``GREENHOUSE_FIELDS``), JSON-safe."""
    return {
        "employee_id": user.employee_id,
        "job_title": user.job_title,
        "office_ids": sorted(user.office_ids),
        "department_ids": sorted(user.department_ids),
    }


def apply_greenhouse_users(
    tx: StoreTransaction,
    connection_id: int,
    users: Sequence[GreenhouseUser],
    *,
    observed_at: dt.datetime,
    source: EventSource = "sync",
    run_id: str | None = None,
) -> list[ChangeEvent]:
    """``apply_users`` for Greenhouse users, then their Greenhouse-only fields: the events of
    both, in one transaction (the sync's pages and every Greenhouse write-through)."""
    events = tx.apply_users(
        connection_id,
        [mirror_user(u) for u in users],
        observed_at=observed_at,
        source=source,
        run_id=run_id,
    )
    return events + apply_greenhouse_fields(
        tx,
        connection_id,
        {u.id: greenhouse_fields_of(u) for u in users},
        observed_at=observed_at,
        source=source,
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
