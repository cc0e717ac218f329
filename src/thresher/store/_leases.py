"""Leases with fencing tokens: at most one holder per (connection, purpose) across processes.

A lease is a row: its holder (a random id per run), host, pid, when it was taken, when it
expires, and a token that grows with every acquisition by a new holder. The holder renews it by
heartbeat well before it expires; a holder that died (SIGKILL, power loss) stops renewing and its
lease is taken over once expired. Every commit a holder makes checks, in the same transaction,
that the row still carries its holder and token (``check_lease``): a process that was paused or
cut off while another took its lease over then fails instead of writing. This is the fencing
token argument of docs/architecture.md ("Coordination between processes").

Times come from the database on PostgreSQL (several machines share it) and from this machine on
SQLite (one machine by construction).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection as SAConnection

from ._errors import LeaseHeldError, LeaseLostError
from ._records import Lease, LeaseHolder
from ._tables import LEASES

__all__ = ["Lease", "LeaseHolder", "acquire", "check", "current", "release", "renew"]

_NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _now(conn: SAConnection) -> dt.datetime:
    if conn.dialect.name == "postgresql":
        value: dt.datetime = conn.execute(select(func.clock_timestamp())).scalar_one()
        return value.astimezone(dt.UTC)
    return dt.datetime.now(dt.UTC)


def _lease(row: Any) -> Lease:
    return Lease(**{f.name: getattr(row, f.name) for f in dataclasses.fields(Lease)})


def _locked_row(conn: SAConnection, connection_id: int, purpose: str, table: Table) -> Any:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        insert(table)
        .values(
            connection_id=connection_id, purpose=purpose, holder="", host="", pid=0, token=0,
            acquired_at=_NEVER, heartbeat_at=_NEVER, expires_at=_NEVER,
        )
        .on_conflict_do_nothing()
    )
    query = select(table).where(table.c.connection_id == connection_id, table.c.purpose == purpose)
    return conn.execute(query.with_for_update()).one()


def acquire(
    conn: SAConnection,
    connection_id: int,
    purpose: str,
    holder: LeaseHolder,
    ttl: float,
    *,
    table: Table = LEASES,
) -> Lease:
    """Take the lease (inside a write transaction), or raise ``LeaseHeldError`` naming the holder.

    ``table``: ``leases`` (per connection) or ``webhook_leases`` (store-wide, same columns)."""
    row = _locked_row(conn, connection_id, purpose, table)
    now = _now(conn)
    if row.holder != holder.id and row.expires_at > now:
        raise LeaseHeldError(_lease(row))
    token = row.token if row.holder == holder.id else row.token + 1
    values = {
        "holder": holder.id, "host": holder.host, "pid": holder.pid, "token": token,
        "acquired_at": now if row.holder != holder.id else row.acquired_at,
        "heartbeat_at": now, "expires_at": now + dt.timedelta(seconds=ttl),
    }
    conn.execute(
        update(table)
        .where(table.c.connection_id == connection_id, table.c.purpose == purpose)
        .values(**values)
    )
    return Lease(connection_id=connection_id, purpose=purpose, **values)


def renew(conn: SAConnection, lease: Lease, ttl: float, table: Table = LEASES) -> Lease:
    """Extend a held lease; ``LeaseLostError`` when another holder took it over meanwhile."""
    now = _now(conn)
    expires = now + dt.timedelta(seconds=ttl)
    result = conn.execute(
        update(table)
        .where(
            table.c.connection_id == lease.connection_id,
            table.c.purpose == lease.purpose,
            table.c.holder == lease.holder,
            table.c.token == lease.token,
        )
        .values(heartbeat_at=now, expires_at=expires)
    )
    if result.rowcount == 0:
        raise LeaseLostError(lease)
    return dataclasses.replace(lease, heartbeat_at=now, expires_at=expires)


def release(conn: SAConnection, lease: Lease, table: Table = LEASES) -> None:
    """Give the lease up (it expires now); the token stays, so the next holder's is larger."""
    conn.execute(
        update(table)
        .where(
            table.c.connection_id == lease.connection_id,
            table.c.purpose == lease.purpose,
            table.c.holder == lease.holder,
            table.c.token == lease.token,
        )
        .values(expires_at=_NEVER)
    )


def check(conn: SAConnection, lease: Lease, table: Table = LEASES) -> None:
    """Raise ``LeaseLostError`` unless ``lease`` is still the row's (the fencing check).

    The row is locked for the rest of the transaction (PostgreSQL), so a takeover cannot slip in
    between this check and the commit; SQLite's write transaction already excludes it."""
    query = select(table.c.holder, table.c.token).where(
        table.c.connection_id == lease.connection_id, table.c.purpose == lease.purpose
    )
    row = conn.execute(query.with_for_update()).first()
    if row is None or row.holder != lease.holder or row.token != lease.token:
        raise LeaseLostError(lease)


def current(
    conn: SAConnection, connection_id: int, purpose: str, table: Table = LEASES
) -> Lease | None:
    """The lease row as it is (held or expired), or None if nobody ever took it."""
    query = select(table).where(
        table.c.connection_id == connection_id, table.c.purpose == purpose
    )
    row = conn.execute(query).first()
    return None if row is None or not row.holder else _lease(row)
