"""Tokens for the MCP server: a ``scope`` on each bearer token, and ``mcp`` as a change source.

A token row now says which service it opens (``scim``, every token made before this revision,
or ``mcp``), so the bridge and the MCP server share one token machinery without either accepting
the other's tokens. Writes an agent applies through the MCP server are recorded in the change log
with the source ``mcp``.

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10

Types are spelled out here rather than imported from ``_types`` (see r0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def _sources(values: tuple[str, ...]) -> str:
    return f"source IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("scim_tokens") as batch:
        batch.add_column(sa.Column("scope", sa.String(16), nullable=False, server_default="scim"))
    # SQLite cannot alter a CHECK constraint: batch mode copies the table with the new one.
    with op.batch_alter_table("change_events") as batch:
        batch.drop_constraint(op.f("ck_change_events_source"), type_="check")
        batch.create_check_constraint(op.f("ck_change_events_source"), _sources(("sync", "write", "mcp")))


def downgrade() -> None:
    # The agents' writes stay in the log, as the writes they were.
    op.execute("UPDATE change_events SET source = 'write' WHERE source = 'mcp'")
    with op.batch_alter_table("change_events") as batch:
        batch.drop_constraint(op.f("ck_change_events_source"), type_="check")
        batch.create_check_constraint(op.f("ck_change_events_source"), _sources(("sync", "write")))
    with op.batch_alter_table("scim_tokens") as batch:
        batch.drop_column("scope")
