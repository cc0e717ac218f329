"""Tables of the service (``thresher serve``, migration r0007): admins and their sessions, admin
API tokens, the shared sync schedule and run history, and API usage counters.

Registered on the same ``Base`` as the rest of the schema (``_schema``), so the migration test
compares them too. Secrets are never stored: sessions and tokens by salted or plain SHA-256
digests of random values, passwords as argon2 hashes made by ``thresher.serve``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Double, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ._schema import _SERIAL, Base, table_of

__all__ = [
    "ADMIN_SESSIONS",
    "ADMIN_TOKENS",
    "ADMIN_USERS",
    "HEADROOM_SAMPLES",
    "SERVE_RUNS",
    "SERVE_SCHEDULES",
    "USAGE_COUNTS",
    "AdminSessionRow",
    "AdminTokenRow",
    "AdminUserRow",
    "HeadroomSampleRow",
    "ServeRunRow",
    "ServeScheduleRow",
    "UsageCountRow",
]


def _connection_key() -> Mapped[int]:
    return mapped_column(Integer, ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)


class AdminUserRow(Base):
    """A person who may sign in to the dashboard (``thresher admin create``)."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    #: An argon2id hash (PHC string); never the password.
    password_hash: Mapped[str]
    created_at: Mapped[dt.datetime]
    last_login_at: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]


class AdminSessionRow(Base):
    """A signed-in browser: the SHA-256 of its cookie's random value, never the value."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("admin_users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class AdminTokenRow(Base):
    """A bearer token of the status API (admin scope): salted digest, like ``scim_tokens``."""

    __tablename__ = "admin_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    salt: Mapped[str]
    digest: Mapped[str]
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class ServeScheduleRow(Base):
    """When a connection's next scheduled job (``sync`` or ``reconcile``) is due, for every
    ``serve`` process on the store: one claims it with a conditional update, the others skip."""

    __tablename__ = "serve_schedules"

    connection_id: Mapped[int] = _connection_key()
    job: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_due_at: Mapped[dt.datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None]


class ServeRunRow(Base):
    """One scheduled (or "sync now") run and how it ended, for the dashboard and ``/readyz``."""

    __tablename__ = "serve_runs"
    __table_args__ = (Index(None, "connection_id", "id"),)

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("connections.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    holder: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    #: running, ok, failed, busy (another process held the lease) or superseded.
    outcome: Mapped[str] = mapped_column(String(16))
    users_seen: Mapped[int] = mapped_column(default=0)
    changes: Mapped[int] = mapped_column(default=0)
    requests: Mapped[int] = mapped_column(default=0)
    duration_s: Mapped[float] = mapped_column(Double, default=0.0)
    error: Mapped[str | None]


class UsageCountRow(Base):
    """Requests per UTC day, channel (harvest, scim, mcp), subject (connection or token name)
    and HTTP status (0: no response)."""

    __tablename__ = "usage_counts"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int]


class HeadroomSampleRow(Base):
    """Free places in a connection's rate budget at one moment (sampled while serving)."""

    __tablename__ = "headroom_samples"

    connection_id: Mapped[int] = _connection_key()
    sampled_at: Mapped[dt.datetime] = mapped_column(primary_key=True)
    headroom: Mapped[int] = mapped_column(Integer)
    rate_limit: Mapped[int] = mapped_column(Integer)


ADMIN_USERS = table_of(AdminUserRow)
ADMIN_SESSIONS = table_of(AdminSessionRow)
ADMIN_TOKENS = table_of(AdminTokenRow)
SERVE_SCHEDULES = table_of(ServeScheduleRow)
SERVE_RUNS = table_of(ServeRunRow)
USAGE_COUNTS = table_of(UsageCountRow)
HEADROOM_SAMPLES = table_of(HeadroomSampleRow)
