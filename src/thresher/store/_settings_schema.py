"""The per-connection configuration table (migrations r0009, r0011): what a platform sets for each
customer's connection, read by the workers (``thresher.jobs``) on every scheduling pass.

Registered on the same ``Base`` as the rest of the schema (``_schema``), so the migration test
compares it too. No secret is kept here: credentials stay sealed in ``connections``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Double, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ._schema import Base, table_of

__all__ = ["CONNECTION_SETTINGS", "ConnectionSettingsRow"]


class ConnectionSettingsRow(Base):
    """One connection's schedule and switches; a connection without a row has the defaults."""

    __tablename__ = "connection_settings"

    connection_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    #: Seconds between incremental syncs (the freshness the platform promises its customer).
    interval_s: Mapped[float] = mapped_column(Double)
    #: Seconds between full listings (the reconcile that detects deletes).
    reconcile_s: Mapped[float] = mapped_column(Double)
    #: ``changed``, ``all`` or ``off`` (``thresher.sync.SyncOptions.teammates``).
    teammates: Mapped[str] = mapped_column(String(16))
    #: What a SCIM DELETE does: ``archive`` or ``delete`` (docs/scim-idps.md); NULL (r0011):
    #: what the bridge was started with (``--delete-mode``).
    scim_delete_mode: Mapped[str | None] = mapped_column(String(16))
    paused: Mapped[bool] = mapped_column(Boolean)
    paused_reason: Mapped[str | None]
    paused_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]


CONNECTION_SETTINGS = table_of(ConnectionSettingsRow)
