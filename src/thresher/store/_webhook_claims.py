"""Claiming due deliveries and recording how they went: the dispatcher's side of the outbox.

Claims (docs/webhooks.md, "Running dispatchers"):
- A dispatcher claims due deliveries by writing its id and a claim expiry on them. On PostgreSQL
  the claiming ``SELECT ... FOR UPDATE SKIP LOCKED`` lets many dispatchers claim at once without
  taking the same row; on SQLite one dispatcher per store holds the ``dispatcher`` lease
  (``webhook_leases``, the ``_leases`` machinery) and fences every claim and result with it.
- A delivery is claimable only when no earlier delivery of the same subscription and order key
  (one user's events) is still pending: a user's ``archived`` never overtakes its ``created``.
- Claims expire (a dispatcher killed mid-send); its deliveries are then sent again, under the same
  message id. The dispatcher renews its claims while it works.
- ``exchange`` records a batch of results and claims the next batch in one transaction: a busy
  dispatcher pays one commit per batch, not two per delivery.
- On PostgreSQL a claim costs what its batch costs, not what the backlog does: the heads of their
  key are looked for among the most overdue deliveries only, and one statement locks, marks and
  reads them (``_claim_postgresql``); every pending delivery is read only when one user's long
  queue fills that window.
- A claim carries its event's payload as the bytes frozen at commit: no decode and re-encode.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    String,
    Text,
    any_,
    bindparam,
    cast,
    column,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

from . import _leases
from ._records import Lease, LeaseHolder
from ._tables import WEBHOOK_LEASES
from ._webhook_base import ATT, DEL, EVT, SUBS, WebhookTables, db_now
from ._webhook_outbox import NOTIFY_CHANNEL, enqueue_alert
from ._webhook_records import DeliveryClaim, DeliveryResult

__all__ = ["WebhookClaims"]

log = logging.getLogger("thresher.store")

_DISPATCHER = "dispatcher"
_STORE_WIDE = 0
#: Claimable deliveries looked at per free slot (PostgreSQL) before grouping every pending one.
_WINDOW = 8
_MIN_WINDOW = 64
_ENABLED = select(SUBS.c.id).where(SUBS.c.enabled.is_(True))
#: What a claim carries beside the delivery's id, subscription and attempts.
_CLAIM_COLUMNS = (
    EVT.c.message_id,
    EVT.c.kind,
    # The text as stored (frozen at commit), not a decoded dict to encode again.
    cast(EVT.c.payload, Text).label("body"),
    SUBS.c.url,
    SUBS.c.format,
    SUBS.c.secret,
    SUBS.c.previous_secret,
    SUBS.c.previous_secret_until,
    SUBS.c.allow_private,
)


def _claimable(now: dt.datetime | ColumnElement[dt.datetime]) -> tuple[ColumnElement[bool], ...]:
    """Pending, due, and not claimed by a dispatcher (or its claim expired)."""
    return (
        DEL.c.status == "pending",
        DEL.c.next_attempt_at <= now,
        or_(DEL.c.claimed_until.is_(None), DEL.c.claimed_until < now),
    )


def _claim_of(r: Any, now: dt.datetime) -> DeliveryClaim:
    return DeliveryClaim(
        r.id,
        r.subscription_id,
        r.attempts,
        r.message_id,
        r.kind,
        r.body.encode(),
        r.url,
        r.format,
        r.secret,
        r.previous_secret if r.previous_secret_until and r.previous_secret_until > now else None,
        r.allow_private,
    )


def _arrays(name: str, **columns: TypeEngine[Any]) -> TableValuedAlias:
    """``unnest(...) AS name(column, ...)``: a batch given as one array a column, each bound as
    ``{name}_{column}`` (``_bind_arrays``)."""
    return (
        func.unnest(*(bindparam(f"{name}_{c}", type_=ARRAY(t)) for c, t in columns.items()))
        .table_valued(*(column(c, t) for c, t in columns.items()))
        .render_derived(name=name)
    )


def _bind_arrays(name: str, rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The parameters of ``_arrays(name, ...)`` for ``rows`` (one dict a row, same keys)."""
    return {f"{name}_{c}": [row[c] for row in rows] for c in rows[0]}


def _pg_statements() -> tuple[Any, Any, Any, Any]:
    """The PostgreSQL claim and result statements, built once with parameters: building and
    fingerprinting them for every batch cost the dispatcher more CPU than running them.

    - heads: among the ``:window`` most overdue claimable deliveries (the (status,
      next_attempt_at) index's own order, so no further is read), how many there are and which
      are the first pending one of their key, each found with one probe of the (subscription,
      order key, id) index.
    - every head: the first pending delivery of every key, by grouping (linear in the pending
      rows; the NOT EXISTS form of SQLite is planned as a quadratic scan by PostgreSQL before
      the table has statistics: 266 ms per claim with 1,000 pending, seconds beyond).
    - claim: lock the oldest ``:limit`` of ``:ids`` still claimable, passing over those another
      dispatcher holds, mark them, and read them with event and subscription. The conditions are
      checked again on each row as it is locked (another dispatcher may have claimed it since the
      heads were read); they are written so that no index serves them, so the primary key leads
      (before the table has statistics the planner may otherwise read every pending delivery to
      find these few). The lock is materialized: evaluated once, so at most ``:limit`` rows are
      locked whatever plan the update gets.
    - record: a batch of results as one update over arrays: the server plans and runs one
      statement for the batch. (The attempt log stays an ``executemany``: psycopg builds array
      literals in Python, which for the logged requests and responses cost the dispatcher more
      CPU than the statements it saved.)
    """
    now = bindparam("now", type_=DateTime(timezone=True))
    claimable = _claimable(now)
    candidates = (
        select(DEL.c.id, DEL.c.subscription_id, DEL.c.order_key)
        .where(*claimable)
        .order_by(DEL.c.next_attempt_at)
        .limit(bindparam("window", type_=Integer))
        .cte("candidates")
    )
    earlier = DEL.alias("earlier")
    first = (
        select(earlier.c.id)
        .where(
            earlier.c.subscription_id == candidates.c.subscription_id,
            earlier.c.order_key == candidates.c.order_key,
            earlier.c.status == "pending",
        )
        .order_by(earlier.c.id)
        .limit(1)
        .scalar_subquery()
    )
    heads = select(func.count(), func.array_agg(candidates.c.id).filter(candidates.c.id == first))
    every_head = (
        select(DEL.c.id)
        .where(
            *claimable,
            DEL.c.id.in_(
                select(func.min(DEL.c.id))
                .where(DEL.c.status == "pending")
                .group_by(DEL.c.subscription_id, DEL.c.order_key)
            ),
        )
        .order_by(DEL.c.id)
        .limit(bindparam("window", type_=Integer))
    )
    locked = (
        select(DEL.c.id)
        .where(
            DEL.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))),
            func.coalesce(DEL.c.status, "") == "pending",
            func.coalesce(DEL.c.next_attempt_at, now) <= now,
            or_(DEL.c.claimed_until.is_(None), DEL.c.claimed_until < now),
            DEL.c.subscription_id.in_(_ENABLED),
        )
        .order_by(DEL.c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True, of=DEL)
        .cte("locked")
        .prefix_with("MATERIALIZED")
    )
    claimed = (
        update(DEL)
        .where(DEL.c.id == locked.c.id)
        .values(
            claimed_by=bindparam("holder", type_=String),
            claimed_until=bindparam("until", type_=DateTime(timezone=True)),
        )
        .returning(DEL.c.id, DEL.c.subscription_id, DEL.c.attempts, DEL.c.event_id)
        .cte("claimed")
    )
    claim = (
        select(claimed.c.id, claimed.c.subscription_id, claimed.c.attempts, *_CLAIM_COLUMNS)
        .join(EVT, EVT.c.id == claimed.c.event_id)
        .join(SUBS, SUBS.c.id == claimed.c.subscription_id)
        .order_by(claimed.c.id)
    )
    when = DateTime(timezone=True)
    outcome = _arrays(
        "outcome", id=BigInteger(), status=String(), code=Integer(), error=Text(), next=when,
        delivered=when,
    )
    record = (
        update(DEL)
        .where(DEL.c.id == outcome.c.id)
        .values(
            status=outcome.c.status,
            attempts=DEL.c.attempts + 1,
            last_status=outcome.c.code,
            last_error=outcome.c.error,
            last_attempt_at=now,
            next_attempt_at=outcome.c.next,
            delivered_at=outcome.c.delivered,
            claimed_by=None,
            claimed_until=None,
        )
    )
    return heads, every_head, claim, record


_PG_HEADS, _PG_EVERY_HEAD, _PG_CLAIM, _PG_RECORD = _pg_statements()


class WebhookClaims(WebhookTables):
    """The dispatcher lease (SQLite), claims, and results."""

    # -- the dispatcher's lease (SQLite) ----------------------------------------------------

    def acquire_dispatcher_lease(self, holder: LeaseHolder, *, ttl: float) -> Lease:
        """The store-wide ``dispatcher`` lease, or ``LeaseHeldError`` naming its holder. Taking it
        frees every claim left behind: only its holder dispatches, so any claim is a dead one's."""
        with self._write() as conn:
            lease = _leases.acquire(conn, _STORE_WIDE, _DISPATCHER, holder, ttl, table=WEBHOOK_LEASES)
            conn.execute(
                update(DEL)
                .where(DEL.c.status == "pending", DEL.c.claimed_by.is_not(None))
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
        self,
        holder: str,
        *,
        limit: int,
        ttl: float,
        lease: Lease | None = None,
        subscription_id: int | None = None,
    ) -> list[DeliveryClaim]:
        """Claim up to ``limit`` due deliveries (of one subscription, if given) for ``ttl``
        seconds, oldest first."""
        if limit <= 0:
            return []
        with self._write() as conn:
            if lease is not None:
                _leases.check(conn, lease, WEBHOOK_LEASES)
            return self._claim(conn, holder, limit, ttl, db_now(conn), subscription_id=subscription_id)

    def due_subscriptions(self) -> list[int]:
        """Ids of enabled subscriptions with a delivery that could be claimed now (due, and
        unclaimed or its claim expired): what the workers' delivery pass defers jobs for."""
        with self._read() as conn:
            now = db_now(conn)
            query = (
                select(DEL.c.subscription_id)
                .join(SUBS, SUBS.c.id == DEL.c.subscription_id)
                .where(
                    DEL.c.status == "pending",
                    DEL.c.next_attempt_at <= now,
                    or_(DEL.c.claimed_until.is_(None), DEL.c.claimed_until < now),
                    SUBS.c.enabled.is_(True),
                )
                .group_by(DEL.c.subscription_id)
                .order_by(func.min(DEL.c.id))
            )
            return [int(i) for i in conn.execute(query).scalars()]

    def exchange(
        self,
        results: Sequence[DeliveryResult],
        holder: str,
        *,
        limit: int,
        ttl: float,
        disable_after: float,
        lease: Lease | None = None,
        subscription_id: int | None = None,
    ) -> tuple[list[int], list[DeliveryClaim]]:
        """``complete(results)`` and ``claim(limit)`` in one transaction: the subscriptions
        disabled, and the new claims (a delivery just retried is not due again yet)."""
        if not results and limit <= 0:
            return [], []
        with self._write() as conn:
            if lease is not None:
                _leases.check(conn, lease, WEBHOOK_LEASES)
            now = db_now(conn)
            disabled: list[int] = []
            if results:
                self._record_results(conn, results, now)
                disabled = self._failing(conn, results, now, disable_after)
            claims = (
                self._claim(conn, holder, limit, ttl, now, subscription_id=subscription_id)
                if limit > 0
                else []
            )
            return disabled, claims

    def _claim(
        self,
        conn: SAConnection,
        holder: str,
        limit: int,
        ttl: float,
        now: dt.datetime,
        *,
        subscription_id: int | None = None,
    ) -> list[DeliveryClaim]:
        if self._dialect == "postgresql":
            if subscription_id is None:  # the dispatcher: statements built once (_pg_statements)
                return self._claim_postgresql(conn, holder, limit, ttl, now)
            # A worker's delivery job drains one subscription: each of its keys' first pending
            # delivery, by grouping (linear in that subscription's pending rows).
            heads = (
                select(func.min(DEL.c.id))
                .where(DEL.c.status == "pending", DEL.c.subscription_id == subscription_id)
                .group_by(DEL.c.subscription_id, DEL.c.order_key)
            )
            first_of_its_key: ColumnElement[bool] = DEL.c.id.in_(heads)
        else:
            earlier = DEL.alias("earlier")
            first_of_its_key = ~exists(
                select(literal(1)).where(
                    earlier.c.subscription_id == DEL.c.subscription_id,
                    earlier.c.order_key == DEL.c.order_key,
                    earlier.c.status == "pending",
                    earlier.c.id < DEL.c.id,
                )
            )
        query = (
            select(DEL.c.id)
            .join(SUBS, SUBS.c.id == DEL.c.subscription_id)
            .where(*_claimable(now), SUBS.c.enabled.is_(True), first_of_its_key)
            .order_by(DEL.c.id)
            .limit(limit)
        )
        if subscription_id is not None:  # a worker's delivery job drains one subscription
            query = query.where(DEL.c.subscription_id == subscription_id)
        if self._dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=DEL)
        ids = list(conn.execute(query).scalars())
        if not ids:
            return []
        conn.execute(
            update(DEL)
            .where(DEL.c.id.in_(ids))
            .values(claimed_by=holder, claimed_until=now + dt.timedelta(seconds=ttl))
        )
        rows = conn.execute(
            select(DEL.c.id, DEL.c.subscription_id, DEL.c.attempts, *_CLAIM_COLUMNS)
            .join(EVT, EVT.c.id == DEL.c.event_id)
            .join(SUBS, SUBS.c.id == DEL.c.subscription_id)
            .where(DEL.c.id.in_(ids))
            .order_by(DEL.c.id)
        )
        return [_claim_of(r, now) for r in rows]

    def _claim_postgresql(
        self, conn: SAConnection, holder: str, limit: int, ttl: float, now: dt.datetime
    ) -> list[DeliveryClaim]:
        """The heads of their key among the ``_WINDOW`` most overdue claimable deliveries a free
        slot, then the oldest of them claimed: two statements whose cost follows the batch, not
        the backlog (``_pg_statements``). Only when that window is full and yields too few heads
        (one user's long queue ahead of the rest) are the heads of every key grouped, which
        reads every pending delivery."""
        window = max(limit * _WINDOW, _MIN_WINDOW)
        until = now + dt.timedelta(seconds=ttl)
        looked_at, heads = conn.execute(_PG_HEADS, {"now": now, "window": window}).one()
        claims = self._claim_ids(conn, sorted(heads or ()), now=now, limit=limit, holder=holder, until=until)
        if len(claims) < limit and looked_at >= window:
            more = list(conn.execute(_PG_EVERY_HEAD, {"now": now, "window": window}).scalars())
            claims += self._claim_ids(
                conn, more, now=now, limit=limit - len(claims), holder=holder, until=until
            )
        return claims

    @staticmethod
    def _claim_ids(
        conn: SAConnection, ids: list[int], *, now: dt.datetime, limit: int, holder: str, until: dt.datetime
    ) -> list[DeliveryClaim]:
        if not ids:
            return []
        params = {"ids": ids, "now": now, "limit": limit, "holder": holder, "until": until}
        return [_claim_of(r, now) for r in conn.execute(_PG_CLAIM, params)]

    def listen(self, woken: Callable[[], None], stop: threading.Event, *, every: float = 1.0) -> None:
        """PostgreSQL only, blocking (run it in a thread): call ``woken`` whenever a commit queues
        deliveries (``NOTIFY``, see ``_webhook_outbox.enqueue``), until ``stop`` is set (looked at
        every ``every`` seconds). Ends, with a warning, if the connection drops: callers still poll."""
        if self._dialect != "postgresql":
            return
        pooled = self._engine.raw_connection()
        raw: Any = pooled.driver_connection  # (None once detached)
        pooled.detach()  # a connection of its own, closed here, never returned to the pool
        try:
            if raw.info.transaction_status:  # not idle: the pool's ping may have begun one
                raw.rollback()
            raw.autocommit = True
            raw.execute(f"LISTEN {NOTIFY_CHANNEL}")
            while not stop.is_set():
                for _ in raw.notifies(timeout=every, stop_after=1):
                    woken()
        except Exception as exc:  # a lost listener costs promptness only: polling goes on
            log.warning("webhook dispatcher stopped listening for commits (%s); polling only", exc)
        finally:
            pooled.close()

    def renew_claims(self, holder: str, *, ttl: float) -> None:
        with self._write() as conn:
            now = db_now(conn)
            conn.execute(
                update(DEL)
                .where(DEL.c.claimed_by == holder, DEL.c.status == "pending")
                .values(claimed_until=now + dt.timedelta(seconds=ttl))
            )

    def release_claims(self, holder: str, delivery_ids: Iterable[int] | None = None) -> None:
        """Give claims back (a dispatcher stopping): others may send them at once."""
        query = update(DEL).where(DEL.c.claimed_by == holder, DEL.c.status == "pending")
        if delivery_ids is not None:
            query = query.where(DEL.c.id.in_(list(delivery_ids)))
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
            now = db_now(conn)
            self._record_results(conn, results, now)
            return self._failing(conn, results, now, disable_after)

    @staticmethod
    def _record_results(conn: SAConnection, results: Sequence[DeliveryResult], now: dt.datetime) -> None:
        rows = [
            {
                "id": r.delivery_id,
                "status": "delivered" if r.ok else ("dead" if r.dead else "pending"),
                "code": r.status_code,
                "error": r.error,
                "next": now + dt.timedelta(seconds=0 if r.ok or r.dead else r.retry_in),
                "delivered": now if r.ok else None,
            }
            for r in results
        ]
        tried = [
            {
                "delivery_id": r.delivery_id,
                "status_code": r.status_code,
                "error": r.error,
                "duration_ms": r.duration_ms,
                "request": r.request,
                "response": r.response,
            }
            for r in results
        ]
        if conn.dialect.name == "postgresql":
            conn.execute(_PG_RECORD, {"now": now, **_bind_arrays("outcome", rows)})
        else:
            conn.execute(
                update(DEL)
                .where(DEL.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    attempts=DEL.c.attempts + 1,
                    last_status=bindparam("b_code"),
                    last_error=bindparam("b_error"),
                    last_attempt_at=bindparam("b_now"),
                    next_attempt_at=bindparam("b_next"),
                    delivered_at=bindparam("b_delivered"),
                    claimed_by=None,
                    claimed_until=None,
                ),
                [{f"b_{k}": v for k, v in row.items()} | {"b_now": now} for row in rows],
            )
        conn.execute(insert(ATT), [row | {"attempted_at": now} for row in tried])
        for r in results:
            if r.dead:
                row = conn.execute(
                    select(EVT.c.message_id, EVT.c.kind, SUBS.c.connection_id)
                    .join(DEL, DEL.c.event_id == EVT.c.id)
                    .join(SUBS, SUBS.c.id == DEL.c.subscription_id)
                    .where(DEL.c.id == r.delivery_id)
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
                update(SUBS).where(SUBS.c.id.in_(succeeded)).values(last_success_at=now, failing_since=None)
            )
        if not failed:
            return []
        conn.execute(
            update(SUBS)
            .where(SUBS.c.id.in_(failed), SUBS.c.failing_since.is_(None))
            .values(failing_since=now)
        )
        limit = now - dt.timedelta(seconds=disable_after)
        doomed = conn.execute(
            select(SUBS.c.id, SUBS.c.connection_id, SUBS.c.url, SUBS.c.failing_since).where(
                SUBS.c.id.in_(failed), SUBS.c.enabled.is_(True), SUBS.c.failing_since <= limit
            )
        ).all()
        for sub in doomed:
            reason = f"every delivery failed since {sub.failing_since.isoformat()}"
            conn.execute(
                update(SUBS)
                .where(SUBS.c.id == sub.id)
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
