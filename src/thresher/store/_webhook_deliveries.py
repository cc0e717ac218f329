"""Deliveries as operators see them: listing, one with its attempt log, counts, redelivery,
replay of the change log to a subscription, and pruning old attempt logs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from ._arguments import aware
from ._errors import InvalidArgumentError
from ._store import Store
from ._webhook_base import ATT, DEL, EVT, db_now
from ._webhook_outbox import enqueue_changes
from ._webhook_records import StoredAttempt, StoredDelivery
from ._webhook_subscriptions import WebhookSubscriptions

__all__ = ["WebhookDeliveries"]

_DELIVERY_COLUMNS = [
    DEL.c.id,
    DEL.c.subscription_id,
    EVT.c.message_id,
    EVT.c.kind,
    DEL.c.status,
    DEL.c.attempts,
    DEL.c.next_attempt_at,
    DEL.c.last_status,
    DEL.c.last_error,
    DEL.c.last_attempt_at,
    DEL.c.delivered_at,
    DEL.c.created_at,
]


def _delivery(row: Any, attempts: tuple[StoredAttempt, ...] = ()) -> StoredDelivery:
    return StoredDelivery(
        row.id,
        row.subscription_id,
        row.message_id,
        row.kind,
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.last_status,
        row.last_error,
        row.last_attempt_at,
        row.delivered_at,
        row.created_at,
        attempts,
    )


class WebhookDeliveries(WebhookSubscriptions):
    """What operators ask of deliveries (``thresher webhooks deliveries|redeliver|replay``)."""

    # -- operations -------------------------------------------------------------------------

    def list_deliveries(
        self,
        *,
        subscription_id: int | None = None,
        failed: bool = False,
        status: str | None = None,
        limit: int | None = 100,
    ) -> list[StoredDelivery]:
        """Newest first. ``failed``: dead ones and pending ones that failed at least once."""
        query = select(*_DELIVERY_COLUMNS).join(EVT, EVT.c.id == DEL.c.event_id).order_by(DEL.c.id.desc())
        if subscription_id is not None:
            query = query.where(DEL.c.subscription_id == subscription_id)
        if failed:
            query = query.where(
                or_(DEL.c.status == "dead", (DEL.c.status == "pending") & (DEL.c.attempts > 0))
            )
        if status is not None:
            query = query.where(DEL.c.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def get_delivery(self, delivery_id: int) -> StoredDelivery | None:
        """One delivery with its attempts (request and response, truncated), oldest first."""
        with self._read() as conn:
            row = conn.execute(
                select(*_DELIVERY_COLUMNS)
                .join(EVT, EVT.c.id == DEL.c.event_id)
                .where(DEL.c.id == delivery_id)
            ).first()
            if row is None:
                return None
            attempts = conn.execute(
                select(
                    ATT.c.attempted_at,
                    ATT.c.status_code,
                    ATT.c.error,
                    ATT.c.duration_ms,
                    ATT.c.request,
                    ATT.c.response,
                )
                .where(ATT.c.delivery_id == delivery_id)
                .order_by(ATT.c.id)
            )
            return _delivery(row, tuple(StoredAttempt(*a) for a in attempts))

    def count_deliveries(self, *, subscription_id: int | None = None) -> dict[str, int]:
        """Deliveries by status."""
        query = select(DEL.c.status, func.count()).group_by(DEL.c.status)
        if subscription_id is not None:
            query = query.where(DEL.c.subscription_id == subscription_id)
        with self._read() as conn:
            counts = {status: int(n) for status, n in conn.execute(query)}
        return {s: counts.get(s, 0) for s in ("pending", "delivered", "dead")}

    def redeliver(
        self,
        *,
        delivery_ids: Sequence[int] | None = None,
        since: dt.datetime | None = None,
        subscription_id: int | None = None,
    ) -> int:
        """Send deliveries again (same message id, schedule restarted); returns how many."""
        if delivery_ids is None and since is None:
            raise InvalidArgumentError("say which deliveries to send again: ids or a time")
        query = update(DEL)
        if delivery_ids is not None:
            query = query.where(DEL.c.id.in_(list(delivery_ids)))
        if since is not None:
            query = query.where(DEL.c.created_at >= aware(since, "since"))
        if subscription_id is not None:
            query = query.where(DEL.c.subscription_id == subscription_id)
        with self._write() as conn:
            now = db_now(conn)
            result = conn.execute(
                query.values(
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    claimed_by=None,
                    claimed_until=None,
                    delivered_at=None,
                )
            )
            return int(result.rowcount)

    def replay(self, store: Store, subscription_id: int, *, since: dt.datetime | int) -> int:
        """Queue the change log from ``since`` (a time, or after an event id) for one
        subscription, as if it had existed then; returns deliveries queued."""
        sub = self.get_subscription(subscription_id)
        if sub is None:
            return 0
        events = store.list_events(sub.connection_id, since=since)
        by_connection: dict[int, list[Any]] = {}
        for event in events:
            by_connection.setdefault(event.connection_id, []).append(event)
        queued = 0
        with self._write() as conn:
            for batch in by_connection.values():
                queued += enqueue_changes(conn, batch, only=subscription_id)
        return queued

    def prune(self, *, older_than: float) -> int:
        """Forget attempts (their requests and responses) older than ``older_than`` seconds."""
        with self._write() as conn:
            limit = db_now(conn) - dt.timedelta(seconds=older_than)
            return int(conn.execute(delete(ATT).where(ATT.c.attempted_at < limit)).rowcount)
