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
    "DELIVERY_STATUSES",
    "EVENT_KINDS",
    "EVENT_RESOURCES",
    "EVENT_SOURCES",
    "PROVIDERS",
    "RUN_KINDS",
    "WEBHOOK_FORMATS",
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
    "WebhookAttemptRow",
    "WebhookDeliveryRow",
    "WebhookEventRow",
    "WebhookLeaseRow",
    "WebhookSubscriptionRow",
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
EVENT_SOURCES = ("sync", "write", "mcp")
EVENT_RESOURCES = ("user", "role")
RUN_KINDS = ("full", "incremental")
#: What a delivery is sent as: Standard Webhooks JSON, or a Slack incoming-webhook message.
WEBHOOK_FORMATS = ("standard", "slack")
#: ``pending`` until a 2xx answer (``delivered``) or the retry schedule ran out (``dead``).
DELIVERY_STATUSES = ("pending", "delivered", "dead")
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
    #: What the token opens: the SCIM bridge (``scim``) or the MCP server (``mcp``); r0006.
    scope: Mapped[str] = mapped_column(String(16), default="scim", server_default="scim")


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


class WebhookSubscriptionRow(Base):
    """Where to send which events: one connection's, or every connection's (``connection_id`` NULL)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("connections.id", ondelete="CASCADE")
    )
    url: Mapped[str]
    description: Mapped[str | None]
    #: Event types and patterns (``user.*``, ``*``) this subscription receives.
    kinds: Mapped[list[str]]
    #: ``access_role``, ``role``, ``email_domain``: each set one narrows user events.
    filters: Mapped[dict[str, Any]]
    format: Mapped[str] = mapped_column(String(16))
    #: Opaque to the store: the signing secret sealed by ``thresher.webhooks`` (Fernet).
    secret: Mapped[str]
    #: The secret before the last rotation, still signed with until ``previous_secret_until``.
    previous_secret: Mapped[str | None]
    previous_secret_until: Mapped[dt.datetime | None]
    allow_private: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    disabled_at: Mapped[dt.datetime | None]
    disabled_reason: Mapped[str | None]
    #: The first failure since the last success (None: not failing); auto-disable counts from it.
    failing_since: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]

    __table_args__ = (CheckConstraint(_in("format", WEBHOOK_FORMATS), name="format"),)


class WebhookEventRow(Base):
    """An event as it is sent: the payload is frozen when the change commits."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    #: The ``webhook-id`` receivers deduplicate on: the same for every attempt and subscription.
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("connections.id", ondelete="CASCADE")
    )
    #: The change-log entry it reports (None: an operational event).
    change_id: Mapped[int | None]
    #: Deliveries with one key go out in id order (one user's events, ``connection:resource:id``).
    order_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]

    __table_args__ = (Index(None, "change_id"), Index(None, "created_at"))


class WebhookDeliveryRow(Base):
    """The outbox: one event for one subscription, written in the change's own transaction."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("webhook_events.id", ondelete="CASCADE")
    )
    order_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime]
    #: The dispatcher sending it now, and until when its claim holds (renewed while it sends).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[dt.datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None]
    last_attempt_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "subscription_id", "order_key", "id"),
        Index(None, "event_id"),
    )


class WebhookAttemptRow(Base):
    """One try of a delivery: its request and response, truncated, kept for the retention time."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[dt.datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None]
    duration_ms: Mapped[float] = mapped_column(Double)
    request: Mapped[str]
    response: Mapped[str | None]

    __table_args__ = (Index(None, "delivery_id"), Index(None, "attempted_at"))


class WebhookLeaseRow(Base):
    """Store-wide leases (``leases`` has one per connection): the SQLite store's one dispatcher.

    Same columns as ``leases`` so ``_leases`` serves both; ``connection_id`` is always 0."""

    __tablename__ = "webhook_leases"

    connection_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    host: Mapped[str]
    pid: Mapped[int]
    token: Mapped[int]
    acquired_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


def table_of(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table
