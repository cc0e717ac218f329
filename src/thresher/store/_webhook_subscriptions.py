"""Webhook subscriptions: where deliveries go, which events, how they are signed; and alerts.

Signing secrets arrive sealed (``thresher.webhooks.SecretKeeper``): this module stores and
returns them as given, never opened.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, exists, insert, literal, select, update

from ._errors import InvalidArgumentError
from ._webhook_base import DEL, EVT, SUBS, WebhookTables, db_now
from ._webhook_outbox import enqueue_alert
from ._webhook_records import StoredSubscription

__all__ = ["WebhookSubscriptions"]

_SUB_COLUMNS = [SUBS.c[f.name] for f in dataclasses.fields(StoredSubscription)]
#: What may change on a subscription after it is made.
_UPDATABLE = frozenset(
    {
        "url",
        "description",
        "kinds",
        "filters",
        "format",
        "allow_private",
        "enabled",
        "connection_id",
    }
)


def _subscription(row: Any) -> StoredSubscription:
    return StoredSubscription(*row)


class WebhookSubscriptions(WebhookTables):
    """Subscriptions, and the operational events (alerts) queued for them."""

    def add_subscription(
        self,
        *,
        url: str,
        connection_id: int | None,
        kinds: Sequence[str],
        filters: Mapping[str, Any],
        format: str,
        secret: str,
        description: str | None = None,
        allow_private: bool = False,
        enabled: bool = True,
    ) -> StoredSubscription:
        with self._write() as conn:
            now = db_now(conn)
            result = conn.execute(
                insert(SUBS)
                .values(
                    url=url,
                    connection_id=connection_id,
                    kinds=list(kinds),
                    filters=dict(filters),
                    format=format,
                    secret=secret,
                    description=description,
                    allow_private=allow_private,
                    enabled=enabled,
                    created_at=now,
                    updated_at=now,
                )
                .returning(SUBS.c.id)
            )
            sid = int(result.scalar_one())
            return _subscription(conn.execute(select(*_SUB_COLUMNS).where(SUBS.c.id == sid)).one())

    def get_subscription(self, subscription_id: int) -> StoredSubscription | None:
        with self._read() as conn:
            row = conn.execute(select(*_SUB_COLUMNS).where(SUBS.c.id == subscription_id)).first()
        return None if row is None else _subscription(row)

    def list_subscriptions(self, *, connection_id: int | None = None) -> list[StoredSubscription]:
        query = select(*_SUB_COLUMNS).order_by(SUBS.c.id)
        if connection_id is not None:
            query = query.where(SUBS.c.connection_id == connection_id)
        with self._read() as conn:
            return [_subscription(r) for r in conn.execute(query)]

    def update_subscription(self, subscription_id: int, **values: Any) -> StoredSubscription | None:
        """Change the given fields; enabling clears the failure and disable bookkeeping."""
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise InvalidArgumentError(f"cannot update {', '.join(sorted(unknown))} of a subscription")
        with self._write() as conn:
            now = db_now(conn)
            if values.get("enabled") is True:
                values.update(disabled_at=None, disabled_reason=None, failing_since=None)
            elif values.get("enabled") is False:
                values.update(disabled_at=now, disabled_reason="disabled by an operator")
            result = conn.execute(
                update(SUBS).where(SUBS.c.id == subscription_id).values(updated_at=now, **values)
            )
            if result.rowcount == 0:
                return None
            return _subscription(
                conn.execute(select(*_SUB_COLUMNS).where(SUBS.c.id == subscription_id)).one()
            )

    def rotate_secret(
        self, subscription_id: int, secret: str, *, keep_previous_for: float
    ) -> StoredSubscription | None:
        """Sign with ``secret`` from now on, and with the old one too for ``keep_previous_for``
        seconds (Standard Webhooks allows several signatures while receivers switch)."""
        with self._write() as conn:
            now = db_now(conn)
            result = conn.execute(
                update(SUBS)
                .where(SUBS.c.id == subscription_id)
                .values(
                    previous_secret=SUBS.c.secret,
                    previous_secret_until=now + dt.timedelta(seconds=keep_previous_for),
                    secret=secret,
                    updated_at=now,
                )
            )
            if result.rowcount == 0:
                return None
            return _subscription(
                conn.execute(select(*_SUB_COLUMNS).where(SUBS.c.id == subscription_id)).one()
            )

    def remove_subscription(self, subscription_id: int) -> bool:
        """Remove it with its deliveries (and their attempts); events no one else needs go too."""
        with self._write() as conn:
            gone = bool(conn.execute(delete(SUBS).where(SUBS.c.id == subscription_id)).rowcount)
            if gone:
                orphan = ~exists(select(literal(1)).where(DEL.c.event_id == EVT.c.id))
                conn.execute(delete(EVT).where(orphan))
        return gone

    # -- operational events -----------------------------------------------------------------

    def record_alert(
        self,
        kind: str,
        *,
        connection_id: int | None,
        details: Mapping[str, Any],
        exclude_subscription: int | None = None,
    ) -> int:
        """Queue an operational event (``sync.failed``, ``credentials.expired``...) for the
        subscriptions that want it, in a transaction of its own; returns deliveries queued."""
        with self._write() as conn:
            return enqueue_alert(
                conn,
                kind,
                connection_id=connection_id,
                details=details,
                exclude_subscription=exclude_subscription,
                now=db_now(conn),
            )
