"""Webhook subscriptions and the outbox's delivery rows: what ``thresher.webhooks`` reads and writes.

Claims (docs/webhooks.md, "Running dispatchers"):
- A dispatcher claims due deliveries by writing its id and a claim expiry on them. On PostgreSQL
  the claiming ``SELECT ... FOR UPDATE SKIP LOCKED`` lets many dispatchers claim at once without
  taking the same row; on SQLite one dispatcher per store holds the ``dispatcher`` lease
  (``webhook_leases``, the ``_leases`` machinery) and fences every claim and result with it.
- A delivery is claimable only when no earlier delivery of the same subscription and order key
  (one user's events) is still pending: a user's ``archived`` never overtakes its ``created``.
- Claims expire (a dispatcher killed mid-send); its deliveries are then sent again, under the same
  message id. The dispatcher renews its claims while it works.

Times are the database's on PostgreSQL (several machines share it), this machine's on SQLite.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.engine import Connection as SAConnection

from . import _leases
from ._arguments import aware
from ._database import read_connection, write_transaction
from ._errors import InvalidArgumentError
from ._records import Lease, LeaseHolder
from ._store import Store
from ._tables import (
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_EVENTS,
    WEBHOOK_LEASES,
    WEBHOOK_SUBSCRIPTIONS,
)
from ._webhook_outbox import enqueue_alert, enqueue_changes
from ._webhook_records import (
    DeliveryClaim,
    DeliveryResult,
    StoredAttempt,
    StoredDelivery,
    StoredSubscription,
)

__all__ = ["WebhookStore"]

_SUBS = WEBHOOK_SUBSCRIPTIONS
_DEL = WEBHOOK_DELIVERIES
_EVT = WEBHOOK_EVENTS
_ATT = WEBHOOK_ATTEMPTS
_SUB_COLUMNS = [_SUBS.c[f.name] for f in dataclasses.fields(StoredSubscription)]
_DISPATCHER = "dispatcher"
_STORE_WIDE = 0
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


def _now(conn: SAConnection) -> dt.datetime:
    return _leases._now(conn)


def _subscription(row: Any) -> StoredSubscription:
    return StoredSubscription(*row)


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


_DELIVERY_COLUMNS = [
    _DEL.c.id,
    _DEL.c.subscription_id,
    _EVT.c.message_id,
    _EVT.c.kind,
    _DEL.c.status,
    _DEL.c.attempts,
    _DEL.c.next_attempt_at,
    _DEL.c.last_status,
    _DEL.c.last_error,
    _DEL.c.last_attempt_at,
    _DEL.c.delivered_at,
    _DEL.c.created_at,
]


class WebhookStore:
    """The webhook tables of one store. Every database error is a :class:`StoreError`."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self._url = store.url
        self._dialect = store.dialect

    def _write(self) -> Any:
        return write_transaction(self._engine, self._url)

    def _read(self) -> Any:
        return read_connection(self._engine, self._url)

    # -- subscriptions ----------------------------------------------------------------------

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
            now = _now(conn)
            result = conn.execute(
                insert(_SUBS)
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
                .returning(_SUBS.c.id)
            )
            sid = int(result.scalar_one())
            return _subscription(conn.execute(select(*_SUB_COLUMNS).where(_SUBS.c.id == sid)).one())

    def get_subscription(self, subscription_id: int) -> StoredSubscription | None:
        with self._read() as conn:
            row = conn.execute(select(*_SUB_COLUMNS).where(_SUBS.c.id == subscription_id)).first()
        return None if row is None else _subscription(row)

    def list_subscriptions(self, *, connection_id: int | None = None) -> list[StoredSubscription]:
        query = select(*_SUB_COLUMNS).order_by(_SUBS.c.id)
        if connection_id is not None:
            query = query.where(_SUBS.c.connection_id == connection_id)
        with self._read() as conn:
            return [_subscription(r) for r in conn.execute(query)]

    def update_subscription(self, subscription_id: int, **values: Any) -> StoredSubscription | None:
        """Change the given fields; enabling clears the failure and disable bookkeeping."""
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise InvalidArgumentError(f"cannot update {', '.join(sorted(unknown))} of a subscription")
        with self._write() as conn:
            now = _now(conn)
            if values.get("enabled") is True:
                values.update(disabled_at=None, disabled_reason=None, failing_since=None)
            elif values.get("enabled") is False:
                values.update(disabled_at=now, disabled_reason="disabled by an operator")
            result = conn.execute(
                update(_SUBS).where(_SUBS.c.id == subscription_id).values(updated_at=now, **values)
            )
            if result.rowcount == 0:
                return None
            return _subscription(
                conn.execute(select(*_SUB_COLUMNS).where(_SUBS.c.id == subscription_id)).one()
            )

    def rotate_secret(
        self, subscription_id: int, secret: str, *, keep_previous_for: float
    ) -> StoredSubscription | None:
        """Sign with ``secret`` from now on, and with the old one too for ``keep_previous_for``
        seconds (Standard Webhooks allows several signatures while receivers switch)."""
        with self._write() as conn:
            now = _now(conn)
            result = conn.execute(
                update(_SUBS)
                .where(_SUBS.c.id == subscription_id)
                .values(
                    previous_secret=_SUBS.c.secret,
                    previous_secret_until=now + dt.timedelta(seconds=keep_previous_for),
                    secret=secret,
                    updated_at=now,
                )
            )
            if result.rowcount == 0:
                return None
            return _subscription(
                conn.execute(select(*_SUB_COLUMNS).where(_SUBS.c.id == subscription_id)).one()
            )

    def remove_subscription(self, subscription_id: int) -> bool:
        """Remove it with its deliveries (and their attempts); events no one else needs go too."""
        with self._write() as conn:
            gone = bool(conn.execute(delete(_SUBS).where(_SUBS.c.id == subscription_id)).rowcount)
            if gone:
                orphan = ~exists(select(literal(1)).where(_DEL.c.event_id == _EVT.c.id))
                conn.execute(delete(_EVT).where(orphan))
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
                now=_now(conn),
            )

    # -- the dispatcher's lease (SQLite) ----------------------------------------------------

    def acquire_dispatcher_lease(self, holder: LeaseHolder, *, ttl: float) -> Lease:
        """The store-wide ``dispatcher`` lease, or ``LeaseHeldError`` naming its holder. Taking it
        frees every claim left behind: only its holder dispatches, so any claim is a dead one's."""
        with self._write() as conn:
            lease = _leases.acquire(conn, _STORE_WIDE, _DISPATCHER, holder, ttl, table=WEBHOOK_LEASES)
            conn.execute(
                update(_DEL)
                .where(_DEL.c.status == "pending", _DEL.c.claimed_by.is_not(None))
                .values(claimed_by=None, claimed_until=None)
            )
            return lease

    def renew_dispatcher_lease(self, lease: Lease, *, ttl: float) -> Lease:
        with self._write() as conn:
            return _leases.renew(conn, lease, ttl, WEBHOOK_LEASES)

    def dispatcher_lease(self) -> Lease | None:
        """The store's dispatcher lease as stored (held or expired), or None if never taken."""
        with self._read() as conn:
            return _leases.current(conn, _STORE_WIDE, _DISPATCHER, WEBHOOK_LEASES)

    def release_dispatcher_lease(self, lease: Lease) -> None:
        with self._write() as conn:
            _leases.release(conn, lease, WEBHOOK_LEASES)

    # -- claiming and completing ------------------------------------------------------------

    def claim(
        self, holder: str, *, limit: int, ttl: float, lease: Lease | None = None
    ) -> list[DeliveryClaim]:
        """Claim up to ``limit`` due deliveries for ``ttl`` seconds, oldest first."""
        if limit <= 0:
            return []
        with self._write() as conn:
            if lease is not None:
                _leases.check(conn, lease, WEBHOOK_LEASES)
            now = _now(conn)
            earlier = _DEL.alias("earlier")
            blocked = exists(
                select(literal(1)).where(
                    earlier.c.subscription_id == _DEL.c.subscription_id,
                    earlier.c.order_key == _DEL.c.order_key,
                    earlier.c.status == "pending",
                    earlier.c.id < _DEL.c.id,
                )
            )
            query = (
                select(_DEL.c.id)
                .join(_SUBS, _SUBS.c.id == _DEL.c.subscription_id)
                .where(
                    _DEL.c.status == "pending",
                    _DEL.c.next_attempt_at <= now,
                    or_(_DEL.c.claimed_until.is_(None), _DEL.c.claimed_until < now),
                    _SUBS.c.enabled.is_(True),
                    ~blocked,
                )
                .order_by(_DEL.c.id)
                .limit(limit)
            )
            if self._dialect == "postgresql":
                query = query.with_for_update(skip_locked=True, of=_DEL)
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            conn.execute(
                update(_DEL)
                .where(_DEL.c.id.in_(ids))
                .values(claimed_by=holder, claimed_until=now + dt.timedelta(seconds=ttl))
            )
            rows = conn.execute(
                select(
                    _DEL.c.id,
                    _DEL.c.subscription_id,
                    _DEL.c.attempts,
                    _EVT.c.message_id,
                    _EVT.c.kind,
                    _EVT.c.payload,
                    _SUBS.c.url,
                    _SUBS.c.format,
                    _SUBS.c.secret,
                    _SUBS.c.previous_secret,
                    _SUBS.c.previous_secret_until,
                    _SUBS.c.allow_private,
                )
                .join(_EVT, _EVT.c.id == _DEL.c.event_id)
                .join(_SUBS, _SUBS.c.id == _DEL.c.subscription_id)
                .where(_DEL.c.id.in_(ids))
                .order_by(_DEL.c.id)
            )
            return [
                DeliveryClaim(
                    r.id,
                    r.subscription_id,
                    r.attempts,
                    r.message_id,
                    r.kind,
                    r.payload,
                    r.url,
                    r.format,
                    r.secret,
                    r.previous_secret if r.previous_secret_until and r.previous_secret_until > now else None,
                    r.allow_private,
                )
                for r in rows
            ]

    def renew_claims(self, holder: str, *, ttl: float) -> None:
        with self._write() as conn:
            now = _now(conn)
            conn.execute(
                update(_DEL)
                .where(_DEL.c.claimed_by == holder, _DEL.c.status == "pending")
                .values(claimed_until=now + dt.timedelta(seconds=ttl))
            )

    def release_claims(self, holder: str, delivery_ids: Iterable[int] | None = None) -> None:
        """Give claims back (a dispatcher stopping): others may send them at once."""
        query = update(_DEL).where(_DEL.c.claimed_by == holder, _DEL.c.status == "pending")
        if delivery_ids is not None:
            query = query.where(_DEL.c.id.in_(list(delivery_ids)))
        with self._write() as conn:
            conn.execute(query.values(claimed_by=None, claimed_until=None))

    def complete(
        self,
        results: Sequence[DeliveryResult],
        *,
        disable_after: float,
        lease: Lease | None = None,
    ) -> list[int]:
        """Record attempts: delivered, retried after ``retry_in``, or dead (with a
        ``delivery.dead_lettered`` alert). Subscriptions failing for ``disable_after`` seconds
        with no success are disabled (``subscription.disabled``); returns their ids."""
        if not results:
            return []
        with self._write() as conn:
            if lease is not None:
                _leases.check(conn, lease, WEBHOOK_LEASES)
            now = _now(conn)
            self._record_results(conn, results, now)
            return self._failing(conn, results, now, disable_after)

    @staticmethod
    def _record_results(conn: SAConnection, results: Sequence[DeliveryResult], now: dt.datetime) -> None:
        common = {"b_now": now}
        done = [
            {
                **common,
                "b_id": r.delivery_id,
                "b_status": "delivered" if r.ok else ("dead" if r.dead else "pending"),
                "b_code": r.status_code,
                "b_error": r.error,
                "b_next": now + dt.timedelta(seconds=0 if r.ok or r.dead else r.retry_in),
                "b_delivered": now if r.ok else None,
            }
            for r in results
        ]
        conn.execute(
            update(_DEL)
            .where(_DEL.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                attempts=_DEL.c.attempts + 1,
                last_status=bindparam("b_code"),
                last_error=bindparam("b_error"),
                last_attempt_at=bindparam("b_now"),
                next_attempt_at=bindparam("b_next"),
                delivered_at=bindparam("b_delivered"),
                claimed_by=None,
                claimed_until=None,
            ),
            done,
        )
        conn.execute(
            insert(_ATT),
            [
                {
                    "delivery_id": r.delivery_id,
                    "attempted_at": now,
                    "status_code": r.status_code,
                    "error": r.error,
                    "duration_ms": r.duration_ms,
                    "request": r.request,
                    "response": r.response,
                }
                for r in results
            ],
        )
        for r in results:
            if r.dead:
                row = conn.execute(
                    select(_EVT.c.message_id, _EVT.c.kind, _SUBS.c.connection_id)
                    .join(_DEL, _DEL.c.event_id == _EVT.c.id)
                    .join(_SUBS, _SUBS.c.id == _DEL.c.subscription_id)
                    .where(_DEL.c.id == r.delivery_id)
                ).one()
                enqueue_alert(
                    conn,
                    "delivery.dead_lettered",
                    connection_id=row.connection_id,
                    details={
                        "subscription_id": r.subscription_id,
                        "delivery_id": r.delivery_id,
                        "message_id": row.message_id,
                        "event_type": row.kind,
                        "last_status": r.status_code,
                        "last_error": r.error,
                    },
                    exclude_subscription=r.subscription_id,
                    now=now,
                )

    @staticmethod
    def _failing(
        conn: SAConnection, results: Sequence[DeliveryResult], now: dt.datetime, disable_after: float
    ) -> list[int]:
        succeeded = sorted({r.subscription_id for r in results if r.ok})
        failed = sorted({r.subscription_id for r in results if not r.ok} - set(succeeded))
        if succeeded:
            conn.execute(
                update(_SUBS).where(_SUBS.c.id.in_(succeeded)).values(last_success_at=now, failing_since=None)
            )
        if not failed:
            return []
        conn.execute(
            update(_SUBS)
            .where(_SUBS.c.id.in_(failed), _SUBS.c.failing_since.is_(None))
            .values(failing_since=now)
        )
        limit = now - dt.timedelta(seconds=disable_after)
        doomed = conn.execute(
            select(_SUBS.c.id, _SUBS.c.connection_id, _SUBS.c.url, _SUBS.c.failing_since).where(
                _SUBS.c.id.in_(failed), _SUBS.c.enabled.is_(True), _SUBS.c.failing_since <= limit
            )
        ).all()
        for sub in doomed:
            reason = f"every delivery failed since {sub.failing_since.isoformat()}"
            conn.execute(
                update(_SUBS)
                .where(_SUBS.c.id == sub.id)
                .values(enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now)
            )
            enqueue_alert(
                conn,
                "subscription.disabled",
                connection_id=sub.connection_id,
                details={"subscription_id": sub.id, "url": sub.url, "reason": reason},
                exclude_subscription=sub.id,
                now=now,
            )
        return [sub.id for sub in doomed]

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
        query = select(*_DELIVERY_COLUMNS).join(_EVT, _EVT.c.id == _DEL.c.event_id).order_by(_DEL.c.id.desc())
        if subscription_id is not None:
            query = query.where(_DEL.c.subscription_id == subscription_id)
        if failed:
            query = query.where(
                or_(_DEL.c.status == "dead", (_DEL.c.status == "pending") & (_DEL.c.attempts > 0))
            )
        if status is not None:
            query = query.where(_DEL.c.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def get_delivery(self, delivery_id: int) -> StoredDelivery | None:
        """One delivery with its attempts (request and response, truncated), oldest first."""
        with self._read() as conn:
            row = conn.execute(
                select(*_DELIVERY_COLUMNS)
                .join(_EVT, _EVT.c.id == _DEL.c.event_id)
                .where(_DEL.c.id == delivery_id)
            ).first()
            if row is None:
                return None
            attempts = conn.execute(
                select(
                    _ATT.c.attempted_at,
                    _ATT.c.status_code,
                    _ATT.c.error,
                    _ATT.c.duration_ms,
                    _ATT.c.request,
                    _ATT.c.response,
                )
                .where(_ATT.c.delivery_id == delivery_id)
                .order_by(_ATT.c.id)
            )
            return _delivery(row, tuple(StoredAttempt(*a) for a in attempts))

    def count_deliveries(self, *, subscription_id: int | None = None) -> dict[str, int]:
        """Deliveries by status."""
        query = select(_DEL.c.status, func.count()).group_by(_DEL.c.status)
        if subscription_id is not None:
            query = query.where(_DEL.c.subscription_id == subscription_id)
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
        query = update(_DEL)
        if delivery_ids is not None:
            query = query.where(_DEL.c.id.in_(list(delivery_ids)))
        if since is not None:
            query = query.where(_DEL.c.created_at >= aware(since, "since"))
        if subscription_id is not None:
            query = query.where(_DEL.c.subscription_id == subscription_id)
        with self._write() as conn:
            now = _now(conn)
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
            limit = _now(conn) - dt.timedelta(seconds=older_than)
            return int(conn.execute(delete(_ATT).where(_ATT.c.attempted_at < limit)).rowcount)
