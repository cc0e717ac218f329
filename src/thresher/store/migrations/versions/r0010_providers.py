"""Providers: a connection is a Harvest or a Greenhouse Recruiting account.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

``connections`` gains ``provider`` ('harvest' for every existing row, so the Harvest path reads
exactly what it read before), and what a Greenhouse connection needs besides the sealed
credentials blob: the OAuth ``client_id`` (not a secret: it is shown in Greenhouse's Dev Center)
and ``sub``, the Greenhouse user the tokens act as (docs/greenhouse.md §1). The client secret is
sealed in ``credentials_ref`` like every other secret; ``base_url`` is the API and ``id_url`` the
token endpoint.

``greenhouse_users`` holds the Greenhouse-only fields of a mirrored Greenhouse user (the common
ones live in ``users``, keyed by the same id): docs/greenhouse.md §6.

Types are spelled out here rather than imported from ``_types`` (see r0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Plain ADD COLUMNs, no CHECK constraint: on SQLite a constraint would make batch mode
    # rebuild ``connections``, and dropping the old table cascades to every mirror row. The store
    # checks the value instead (``Store.add_connection``).
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("provider", sa.String(16), nullable=False, server_default="harvest"))
        batch.add_column(sa.Column("client_id", sa.Text(), nullable=True))
        batch.add_column(sa.Column("sub", sa.Text(), nullable=True))
    op.create_table(
        "greenhouse_users",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("greenhouse_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "greenhouse_id", name="pk_greenhouse_users"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_greenhouse_users_connection_id_connections",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("greenhouse_users")
    # Plain DROP COLUMNs (SQLite >= 3.35), not batch mode's rebuild, for the same reason.
    for column in ("sub", "client_id", "provider"):
        op.drop_column("connections", column)
