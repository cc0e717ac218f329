"""The service's tables (``thresher serve``): admin users, their sessions and API tokens, the
sync schedule shared by every serve process, its run history, and API usage counters.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Types are spelled out here rather than imported from ``_types`` (see r0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _connection_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connection_id"], ["connections.id"], name=f"fk_{table}_connection_id_connections",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "admin_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_login_at", _TS, nullable=True),
        sa.Column("disabled_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_users"),
        sa.UniqueConstraint("username", name="uq_admin_users_username"),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["admin_users.id"], name="fk_admin_sessions_user_id_admin_users",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "admin_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("salt", sa.Text(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_tokens"),
        sa.UniqueConstraint("name", name="uq_admin_tokens_name"),
        sa.UniqueConstraint("key", name="uq_admin_tokens_key"),
    )
    op.create_table(
        "serve_schedules",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(16), nullable=False),
        sa.Column("next_due_at", _TS, nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("connection_id", "job", name="pk_serve_schedules"),
        _connection_fk("serve_schedules"),
    )
    op.create_table(
        "serve_runs",
        sa.Column("id", _SERIAL, nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("users_seen", sa.BigInteger(), nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_serve_runs"),
        _connection_fk("serve_runs"),
    )
    op.create_index("ix_serve_runs_connection_id_id", "serve_runs", ["connection_id", "id"])
    op.create_table(
        "usage_counts",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "subject", "status", name="pk_usage_counts"),
    )
    op.create_table(
        "headroom_samples",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("sampled_at", _TS, nullable=False),
        sa.Column("headroom", sa.Integer(), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "sampled_at", name="pk_headroom_samples"),
        _connection_fk("headroom_samples"),
    )


def downgrade() -> None:
    op.drop_table("headroom_samples")
    op.drop_table("usage_counts")
    op.drop_index("ix_serve_runs_connection_id_id", table_name="serve_runs")
    op.drop_table("serve_runs")
    op.drop_table("serve_schedules")
    op.drop_table("admin_tokens")
    op.drop_table("admin_sessions")
    op.drop_table("admin_users")
