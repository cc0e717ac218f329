"""SCIM bridge: identity-provider data Harvest has no field for, and the bridge's bearer tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Types are spelled out here rather than imported from ``_types`` (see r0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _connection_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connection_id"],
        ["connections.id"],
        name=f"fk_{table}_connection_id_connections",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "scim_users",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("harvest_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("employee_number", sa.Text(), nullable=True),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("emails", _JSON, nullable=True),
        sa.Column("hidden_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("connection_id", "harvest_id", name="pk_scim_users"),
        _connection_fk("scim_users"),
    )
    op.create_index(
        "ix_scim_users_connection_id_external_id", "scim_users", ["connection_id", "external_id"]
    )
    op.create_table(
        "scim_groups",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("connection_id", "role_id", name="pk_scim_groups"),
        _connection_fk("scim_groups"),
    )
    op.create_index(
        "ix_scim_groups_connection_id_external_id", "scim_groups", ["connection_id", "external_id"]
    )
    op.create_table(
        "scim_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("salt", sa.Text(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("allowed_cidrs", _JSON, nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scim_tokens"),
        sa.UniqueConstraint("name", name="uq_scim_tokens_name"),
        sa.UniqueConstraint("key", name="uq_scim_tokens_key"),
    )
    op.create_table(
        "scim_token_counts",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_id", "status", name="pk_scim_token_counts"),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["scim_tokens.id"],
            name="fk_scim_token_counts_token_id_scim_tokens",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("scim_token_counts")
    op.drop_table("scim_tokens")
    op.drop_index("ix_scim_groups_connection_id_external_id", table_name="scim_groups")
    op.drop_table("scim_groups")
    op.drop_index("ix_scim_users_connection_id_external_id", table_name="scim_users")
    op.drop_table("scim_users")
