"""SCIM userNames that need not be emails, and the bridge's pending writes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10

``scim_users`` gains ``user_name`` (as the identity provider sent it) and ``user_name_key`` (lower
case, unique per connection: RFC 7643 §4.1.1 compares userNames without case). Until now the
userName was the Harvest email, so existing records get the mirrored email. ``scim_pending_users``
holds the writes Harvest may have accepted whose record is not saved yet.

Types are spelled out here rather than imported from ``_types`` (see r0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _existing_user_names() -> None:
    """userName = the mirrored email, for every record whose user the mirror knows. The key is
    lower-cased in Python (``str.lower``, as the bridge does; SQLite's ``lower`` is ASCII only).
    Should two records share a key (a deleted user's address reused), the live user keeps it
    and the other falls back to its Harvest email (a NULL userName)."""
    bind = op.get_bind()
    scim_users = sa.table(
        "scim_users",
        sa.column("connection_id", sa.Integer()),
        sa.column("harvest_id", sa.BigInteger()),
        sa.column("user_name", sa.Text()),
        sa.column("user_name_key", sa.Text()),
    )
    users = sa.table(
        "users",
        sa.column("connection_id", sa.Integer()),
        sa.column("harvest_id", sa.BigInteger()),
        sa.column("email", sa.Text()),
        sa.column("deleted_at", _TS),
    )
    rows = bind.execute(
        sa.select(scim_users.c.connection_id, scim_users.c.harvest_id, users.c.email, users.c.deleted_at)
        .select_from(
            scim_users.join(
                users,
                (users.c.connection_id == scim_users.c.connection_id)
                & (users.c.harvest_id == scim_users.c.harvest_id),
            )
        )
        .order_by(users.c.deleted_at.is_not(None), scim_users.c.harvest_id)
    ).all()
    taken: set[tuple[int, str]] = set()
    for connection_id, harvest_id, email, _deleted_at in rows:
        key = email.lower()
        if (connection_id, key) in taken:
            continue
        taken.add((connection_id, key))
        bind.execute(
            sa.update(scim_users)
            .where(scim_users.c.connection_id == connection_id, scim_users.c.harvest_id == harvest_id)
            .values(user_name=email, user_name_key=key)
        )


def upgrade() -> None:
    with op.batch_alter_table("scim_users") as batch:
        batch.add_column(sa.Column("user_name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("user_name_key", sa.Text(), nullable=True))
    _existing_user_names()
    op.create_index(
        "ix_scim_users_connection_id_user_name_key",
        "scim_users",
        ["connection_id", "user_name_key"],
        unique=True,
    )
    op.create_table(
        "scim_pending_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("harvest_id", sa.BigInteger(), nullable=True, autoincrement=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("user_name_key", sa.Text(), nullable=True),
        sa.Column("record", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("completed_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scim_pending_users"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_scim_pending_users_connection_id_connections",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_scim_pending_users_connection_id_user_name_key",
        "scim_pending_users",
        ["connection_id", "user_name_key"],
    )


def downgrade() -> None:
    op.drop_index("ix_scim_pending_users_connection_id_user_name_key", table_name="scim_pending_users")
    op.drop_table("scim_pending_users")
    op.drop_index("ix_scim_users_connection_id_user_name_key", table_name="scim_users")
    with op.batch_alter_table("scim_users") as batch:
        batch.drop_column("user_name_key")
        batch.drop_column("user_name")
