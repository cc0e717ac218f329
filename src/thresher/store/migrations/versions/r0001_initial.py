"""The roster store: connections, users, roles, teammates, sync state and the change log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Types are spelled out here rather than imported from ``_types``: a migration must keep creating
the same schema even after the live code's types change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
# Exact decimals: NUMERIC on PostgreSQL, canonical text on SQLite (whose NUMERIC is a float).
_DEC = sa.Numeric().with_variant(sa.Text(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_KINDS = (
    "kind IN ('created', 'updated', 'archived', 'restored', 'deleted', 'roles_changed', "
    "'teammates_changed')"
)


def _connection_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connection_id"],
        ["connections.id"],
        name=f"fk_{table}_connection_id_connections",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("id_url", sa.Text(), nullable=False),
        sa.Column("credentials_ref", sa.Text(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connections"),
        sa.UniqueConstraint("name", name="uq_connections_name"),
    )
    op.create_index(
        "uq_connections_is_default",
        "connections",
        ["is_default"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )

    op.create_table(
        "users",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("harvest_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("first_name", sa.Text(), nullable=False),
        sa.Column("last_name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("email_lower", sa.Text(), nullable=False),
        sa.Column("telephone", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.Column("has_access_to_all_future_projects", sa.Boolean(), nullable=False),
        sa.Column("is_contractor", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("weekly_capacity", sa.BigInteger(), nullable=True),
        sa.Column("default_hourly_rate", _DEC, nullable=True),
        sa.Column("cost_rate", _DEC, nullable=True),
        sa.Column("roles", _JSON, nullable=False),
        sa.Column("access_roles", _JSON, nullable=False),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("deleted_at", _TS, nullable=True),
        sa.Column("last_seen_run", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("connection_id", "harvest_id", name="pk_users"),
        _connection_fk("users"),
    )
    op.create_index(
        "ix_users_connection_id_email_lower", "users", ["connection_id", "email_lower"]
    )

    op.create_table(
        "roles",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("harvest_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("deleted_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("connection_id", "harvest_id", name="pk_roles"),
        _connection_fk("roles"),
    )

    op.create_table(
        "role_members",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("connection_id", "role_id", "user_id", name="pk_role_members"),
        sa.ForeignKeyConstraint(
            ["connection_id", "role_id"],
            ["roles.connection_id", "roles.harvest_id"],
            name="fk_role_members_connection_id_role_id_roles",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_role_members_connection_id_user_id", "role_members", ["connection_id", "user_id"]
    )

    op.create_table(
        "teammates",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("manager_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("teammate_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("connection_id", "manager_id", "teammate_id", name="pk_teammates"),
        _connection_fk("teammates"),
    )
    op.create_index(
        "ix_teammates_connection_id_teammate_id", "teammates", ["connection_id", "teammate_id"]
    )

    op.create_table(
        "sync_state",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("high_water_mark", _TS, nullable=True),
        sa.Column("resume_url", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("run_started_at", _TS, nullable=True),
        sa.Column("run_kind", sa.String(16), nullable=True),
        sa.Column("last_full_sync_at", _TS, nullable=True),
        sa.Column("last_reconciled_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "resource", name="pk_sync_state"),
        sa.CheckConstraint(
            "run_kind IN ('full', 'incremental')", name=op.f("ck_sync_state_run_kind")
        ),
        _connection_fk("sync_state"),
    )

    op.create_table(
        "change_events",
        sa.Column("id", _SERIAL, nullable=False, autoincrement=True),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(16), nullable=False),
        sa.Column("harvest_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("changes", _JSON, nullable=False),
        sa.Column("observed_at", _TS, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_events"),
        sa.CheckConstraint(_KINDS, name=op.f("ck_change_events_kind")),
        sa.CheckConstraint("source IN ('sync', 'write')", name=op.f("ck_change_events_source")),
        sa.CheckConstraint("resource IN ('user', 'role')", name=op.f("ck_change_events_resource")),
        _connection_fk("change_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_change_events_connection_id_id", "change_events", ["connection_id", "id"])
    op.create_index(
        "ix_change_events_connection_id_resource_harvest_id",
        "change_events",
        ["connection_id", "resource", "harvest_id"],
    )
    op.create_index("ix_change_events_kind", "change_events", ["kind"])
    op.create_index("ix_change_events_observed_at", "change_events", ["observed_at"])


def downgrade() -> None:
    for table in ("change_events", "sync_state", "teammates", "role_members", "roles", "users"):
        op.drop_table(table)
    op.drop_index("uq_connections_is_default", table_name="connections")
    op.drop_table("connections")
