"""Per-connection configuration (``thresher connections config``, ``thresher.jobs``): each
connection's sync interval, reconcile schedule, teammates switch, SCIM delete mode and pause.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01

Types are spelled out here rather than imported from ``_types`` (see r0001). Chained after the
service's r0007, the newest revision on main when this was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connection_settings",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("interval_s", sa.Double(), nullable=False),
        sa.Column("reconcile_s", sa.Double(), nullable=False),
        sa.Column("teammates", sa.String(16), nullable=False),
        sa.Column("scim_delete_mode", sa.String(16), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("paused_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", name="pk_connection_settings"),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"],
            name="fk_connection_settings_connection_id_connections", ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("connection_settings")
