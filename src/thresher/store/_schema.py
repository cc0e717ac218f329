"""The store's tables (SQLAlchemy typed declarative), portable across SQLite and PostgreSQL.

This module describes the schema the code expects; the database only ever changes through the
migrations in ``migrations/versions`` (a test checks the two agree on both databases). The store
reads and writes through Core statements on these tables, not the ORM session: bulk upserts of
thousands of rows need ``executemany``, not unit-of-work bookkeeping.

Ids from Harvest (``harvest_id``, ``manager_id``...) are plain integers without foreign keys to
``users``: a role or a teammate list may name a user the mirror has not listed yet.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ._types import JSON_TYPE, ExactDecimal, UTCDateTime

__all__ = [
    "EVENT_KINDS",
    "EVENT_RESOURCES",
    "EVENT_SOURCES",
    "PROVIDERS",
    "RUN_KINDS",
    "Base",
    "ChangeEventRow",
    "ConnectionRow",
    "LeaseRow",
    "RateBudgetRow",
    "RateBudgetSlotRow",
    "RoleMemberRow",
    "RoleRow",
    "ScimGroupRow",
    "ScimPendingUserRow",
    "ScimTokenCountRow",
    "ScimTokenRow",
    "ScimUserRow",
    "SyncStateRow",
    "TeammateRow",
    "UserRow",
    "table_of",
]

EVENT_KINDS = (
    "created",
    "updated",
    "archived",
    "restored",
    "deleted",
    "roles_changed",
    "teammates_changed",
)
EVENT_SOURCES = ("sync", "write")
EVENT_RESOURCES = ("user", "role")
RUN_KINDS = ("full", "incremental")
#: The products a connection can be an account of (r0010).
PROVIDERS = ("harvest", "greenhouse")

# Named constraints: Alembic's batch mode (how SQLite alters tables) needs names to find them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-numbers a column declared exactly INTEGER PRIMARY KEY.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        dt.datetime: UTCDateTime(),
        Decimal: ExactDecimal(),
        str: Text(),
        int: BigInteger(),
        bool: Boolean(),
        list[str]: JSON_TYPE,
        dict[str, Any]: JSON_TYPE,
    }


def _connection_fk() -> Mapped[int]:
    return mapped_column(
        Integer, ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )


class ConnectionRow(Base):
    """A Harvest account the store mirrors (many per store)."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[int]
    label: Mapped[str | None]
    base_url: Mapped[str]
    id_url: Mapped[str]
    #: Opaque to the store: an encrypted blob or a reference into a secret manager.
    credentials_ref: Mapped[str | None]
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]
    #: Grows with every save of ``credentials_ref``: a process whose copy is older re-reads it.
    credentials_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Which product the account is of (r0010): ``harvest`` (getharvest.com) or ``greenhouse``
    #: (Greenhouse Recruiting, docs/greenhouse.md); the Harvest columns mean the same as before.
    provider: Mapped[str] = mapped_column(String(16), default="harvest", server_default="harvest")
    #: Greenhouse only: the OAuth client id (the secret is sealed in ``credentials_ref``).
    client_id: Mapped[str | None]
    #: Greenhouse only: the user id tokens act as (docs/greenhouse.md §1); None: the credential's
    #: Integration Service User.
    sub: Mapped[str | None]

    __table_args__ = (
        # At most one default connection.
        Index(
            "uq_connections_is_default",
            "is_default",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )


class UserRow(Base):
    """A Harvest user of one connection; a deleted user stays as a tombstone (``deleted_at``)."""

    __tablename__ = "users"

    connection_id: Mapped[int] = _connection_fk()
    harvest_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    first_name: Mapped[str]
    last_name: Mapped[str]
    email: Mapped[str]
    #: ``normalize_email(email)``: Harvest cannot look users up by email, the mirror can (any case).
    email_lower: Mapped[str]
    telephone: Mapped[str | None]
    timezone: Mapped[str | None]
    has_access_to_all_future_projects: Mapped[bool]
    is_contractor: Mapped[bool]
    is_active: Mapped[bool]
    weekly_capacity: Mapped[int | None]
    default_hourly_rate: Mapped[Decimal | None]
    cost_rate: Mapped[Decimal | None]
    roles: Mapped[list[str]]
    access_roles: Mapped[list[str]]
    avatar_url: Mapped[str | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    first_seen_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    deleted_at: Mapped[dt.datetime | None]
    #: The last full sync run that listed this user; reconciliation tombstones the others.
    last_seen_run: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index(None, "connection_id", "email_lower"),)


class RoleRow(Base):
    """A business role (a label, not a permission; docs/harvest-api.md §7.5)."""

    __tablename__ = "roles"

    connection_id: Mapped[int] = _connection_fk()
    harvest_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    first_seen_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    deleted_at: Mapped[dt.datetime | None]


class RoleMemberRow(Base):
    """Role ↔ user membership, by Harvest ids (a role's ``user_ids``)."""

    __tablename__ = "role_members"

    connection_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)

    __table_args__ = (
        ForeignKeyConstraint(
            ["connection_id", "role_id"],
            ["roles.connection_id", "roles.harvest_id"],
            ondelete="CASCADE",
        ),
        Index(None, "connection_id", "user_id"),
    )


class TeammateRow(Base):
    """A manager's teammate (docs/harvest-api.md §7.1), by Harvest ids."""

    __tablename__ = "teammates"

    connection_id: Mapped[int] = _connection_fk()
    manager_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    teammate_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)

    __table_args__ = (Index(None, "connection_id", "teammate_id"),)


class SyncStateRow(Base):
    """Where a connection's sync of one resource stands (see :class:`thresher.store.SyncState`)."""

    __tablename__ = "sync_state"

    connection_id: Mapped[int] = _connection_fk()
    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    high_water_mark: Mapped[dt.datetime | None]
    resume_url: Mapped[str | None]
    run_id: Mapped[str | None] = mapped_column(String(64))
    run_started_at: Mapped[dt.datetime | None]
    run_kind: Mapped[str | None] = mapped_column(String(16))
    last_full_sync_at: Mapped[dt.datetime | None]
    last_reconciled_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]
    #: Managers whose teammate lists still need reading: written with the user page that made
    #: them due and cleared with each list read, so an interrupted teammates phase resumes.
    pending_teammates: Mapped[list[int] | None] = mapped_column(JSON_TYPE)

    __table_args__ = (CheckConstraint(_in("run_kind", RUN_KINDS), name="run_kind"),)


class ChangeEventRow(Base):
    """One change the mirror observed; ``id`` is the log's order."""

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    connection_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("connections.id", ondelete="CASCADE")
    )
    resource: Mapped[str] = mapped_column(String(16))
    harvest_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    #: ``{field: {"before": x, "after": y}}`` with JSON-safe values.
    changes: Mapped[dict[str, Any]]
    observed_at: Mapped[dt.datetime]
    source: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint(_in("kind", EVENT_KINDS), name="kind"),
        CheckConstraint(_in("source", EVENT_SOURCES), name="source"),
        CheckConstraint(_in("resource", EVENT_RESOURCES), name="resource"),
        Index(None, "connection_id", "id"),
        Index(None, "connection_id", "resource", "harvest_id"),
        Index(None, "kind"),
        Index(None, "observed_at"),
        # Ids only ever grow, even after the newest rows are deleted with their connection.
        {"sqlite_autoincrement": True},
    )


class ScimUserRow(Base):
    """What a SCIM identity provider sent for a user that Harvest has no field for."""

    __tablename__ = "scim_users"

    connection_id: Mapped[int] = _connection_fk()
    harvest_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    external_id: Mapped[str | None]
    employee_number: Mapped[str | None]
    department: Mapped[str | None]
    #: The ``emails`` the identity provider sent (Harvest keeps one address: the primary one).
    emails: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON_TYPE)
    #: Set when a SCIM DELETE archived the user instead (Harvest refused, or by configuration):
    #: the bridge answers 404 for it from then on, as RFC 7644 §3.6 asks.
    hidden_at: Mapped[dt.datetime | None]
    #: The SCIM ``userName`` as the identity provider sent it (r0004); None: the Harvest email.
    user_name: Mapped[str | None]
    #: ``user_name`` lower-cased: userName is unique without regard to case (RFC 7643 §4.1.1).
    user_name_key: Mapped[str | None]

    __table_args__ = (
        Index(None, "connection_id", "external_id"),
        Index(None, "connection_id", "user_name_key", unique=True),
    )


class ScimPendingUserRow(Base):
    """A SCIM write sent to Harvest whose SCIM-only record is not saved yet (r0004).

    Written before the Harvest request and deleted with the record it leads to, so a write that
    Harvest accepted but the store could not record survives a crash: the bridge completes it
    later, or when the identity provider retries (docs/scim-idps.md §8.1).
    """

    __tablename__ = "scim_pending_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("connections.id", ondelete="CASCADE")
    )
    #: The Harvest user, when known (updates); None for a creation.
    harvest_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The email the write gives the Harvest user: how a creation finds its user.
    email: Mapped[str]
    user_name_key: Mapped[str | None]
    #: The ``scim_users`` values to save once the user is found.
    record: Mapped[dict[str, Any]] = mapped_column(JSON_TYPE)
    created_at: Mapped[dt.datetime]
    #: Set when the bridge completed a creation itself: the entry stays a while, so the identity
    #: provider's retry of that creation is answered with the user, not a 409.
    completed_at: Mapped[dt.datetime | None]

    __table_args__ = (Index(None, "connection_id", "user_name_key"),)


class ScimGroupRow(Base):
    """The identity provider's ``externalId`` of a group (a Harvest role)."""

    __tablename__ = "scim_groups"

    connection_id: Mapped[int] = _connection_fk()
    role_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    external_id: Mapped[str | None]

    __table_args__ = (Index(None, "connection_id", "external_id"),)


class ScimTokenRow(Base):
    """A bearer token of the SCIM bridge: only a salted digest of its secret is kept."""

    __tablename__ = "scim_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: The public part of the token, used to find its row before comparing digests.
    key: Mapped[str] = mapped_column(String(32), unique=True)
    salt: Mapped[str]
    digest: Mapped[str]
    allowed_cidrs: Mapped[list[str]]
    read_only: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class ScimTokenCountRow(Base):
    """How many requests a token made, by HTTP status."""

    __tablename__ = "scim_token_counts"

    token_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("scim_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int]


class LeaseRow(Base):
    """Who may run something once per connection now (a sync); see ``_leases``."""

    __tablename__ = "leases"

    connection_id: Mapped[int] = _connection_fk()
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    host: Mapped[str]
    pid: Mapped[int]
    #: The fencing token: grows with every acquisition by a new holder.
    token: Mapped[int]
    acquired_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class RateBudgetRow(Base):
    """One Harvest account's request budget, shared by every process (see ``_budget``)."""

    __tablename__ = "rate_budgets"

    account_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    #: The slot the next request takes in ``rate_budget_slots`` (a ring of ``limit`` slots).
    cursor: Mapped[int] = mapped_column(Integer)
    #: Epoch seconds before which nobody sends (a 429's Retry-After).
    paused_until: Mapped[float] = mapped_column(Double)


class RateBudgetSlotRow(Base):
    """When each of the account's last ``limit`` requests was sent (or answered), epoch seconds."""

    __tablename__ = "rate_budget_slots"

    account_key: Mapped[str] = mapped_column(
        String(400), ForeignKey("rate_budgets.account_key", ondelete="CASCADE"), primary_key=True
    )
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sent_at: Mapped[float] = mapped_column(Double)


def table_of(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table
