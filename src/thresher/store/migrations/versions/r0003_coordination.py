"""Coordination between processes sharing one store: run leases with fencing tokens, one rate
budget per Harvest account, the teammates still to read after an interrupted sync, and a version
on each connection's credentials.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Types are spelled out here rather than imported from ``_types`` (see r0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", _TS, nullable=False),
        sa.Column("heartbeat_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "purpose", name="pk_leases"),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name="fk_leases_connection_id_connections",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "rate_budgets",
        sa.Column("account_key", sa.String(400), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("paused_until", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", name="pk_rate_budgets"),
    )
    op.create_table(
        "rate_budget_slots",
        sa.Column("account_key", sa.String(400), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_key", "slot", name="pk_rate_budget_slots"),
        sa.ForeignKeyConstraint(
            ["account_key"], ["rate_budgets.account_key"],
            name="fk_rate_budget_slots_account_key_rate_budgets", ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("sync_state") as batch:
        batch.add_column(sa.Column("pending_teammates", _JSON, nullable=True))
    with op.batch_alter_table("connections") as batch:
        batch.add_column(
            sa.Column("credentials_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("credentials_version")
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("pending_teammates")
    op.drop_table("rate_budget_slots")
    op.drop_table("rate_budgets")
    op.drop_table("leases")
