"""A connection's SCIM delete mode may be unset: NULL follows the bridge's ``--delete-mode``
(``scim serve``) or serve's ``[scim] delete_mode``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

Before this, any stored setting (``thresher connections config NAME --interval 300``) stored a
delete mode too (the default, ``archive``), which then overrode the flag. Rows written from now on
keep NULL unless a mode is chosen. Existing rows keep their value: whether it was chosen or came
along with another setting cannot be told, so behaviour does not change for them;
``thresher connections config NAME --scim-delete-mode default`` clears one (docs/scale-out.md,
"SCIM delete mode"). The downgrade writes ``archive`` into NULLs, what r0009 meant by them.

``connection_settings`` is rebuilt on SQLite (batch mode): no table refers to it, so nothing
cascades. Types are spelled out here rather than imported from ``_types`` (see r0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("connection_settings") as batch:
        batch.alter_column("scim_delete_mode", existing_type=sa.String(16), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE connection_settings SET scim_delete_mode = 'archive' WHERE scim_delete_mode IS NULL")
    with op.batch_alter_table("connection_settings") as batch:
        batch.alter_column("scim_delete_mode", existing_type=sa.String(16), nullable=False)
