"""The transactional outbox: a change's deliveries are written in the change's own transaction.

``StoreTransaction._record`` calls :func:`enqueue_changes` right after inserting change events,
so a change is never committed without its deliveries, and never delivered without being
committed (docs/webhooks.md, "Guarantees"). Payloads are frozen here, from the rows as this
transaction just wrote them: a later change to the user cannot alter what an earlier event says.

With no enabled subscription for the connection this costs one indexed read per write call.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select, text
from sqlalchemy.engine import Connection as SAConnection

from thresher._origin import current_origin

from ._bulk import chunks
from ._fields import USER_FIELDS, iso, user_fields
from ._records import ChangeEvent
from ._tables import CONNECTIONS, USERS, WEBHOOK_DELIVERIES, WEBHOOK_EVENTS, WEBHOOK_SUBSCRIPTIONS

__all__ = [
    "NOTIFY_CHANNEL",
    "enqueue",
    "enqueue_alert",
    "enqueue_changes",
    "kind_matches",
    "new_message_id",
    "webhook_type",
]

# Harvest's own clock (the user's updated_at) dates these; the others are dated when observed.
_HARVEST_DATED = {"created", "updated", "archived", "restored", "roles_changed"}


#: The PostgreSQL channel a commit that queued deliveries notifies (``WebhookClaims.listen``).
NOTIFY_CHANNEL = "thresher_webhooks"


def new_message_id() -> str:
    """A ``webhook-id``: unique, opaque, stable across every attempt of one event."""
    return f"msg_{uuid.uuid4().hex}"


def webhook_type(event: ChangeEvent) -> str:
    if event.resource == "role":
        return f"role.{event.kind}"
    if event.kind == "teammates_changed":
        return "teammates.changed"
    return f"user.{event.kind}"


def kind_matches(patterns: Iterable[str], kind: str) -> bool:
    """``*`` matches every type, ``user.*`` every ``user.`` type, anything else itself."""
    for pattern in patterns:
        if pattern in ("*", kind):
            return True
        if pattern.endswith(".*") and kind.startswith(pattern[:-1]):
            return True
    return False


def _passes(filters: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Filters narrow user events by the user's state; role events by the role's name only."""
    if not filters:
        return True
    data = payload["data"]
    user = data.get("user")
    if data.get("resource") == "role":
        names = {c.get("after") or c.get("before") for c in [data["changes"].get("name", {})]}
        return set(filters) <= {"role"} and filters.get("role") in names
    if user is None:
        return False
    access = filters.get("access_role")
    if access is not None and access not in (user.get("access_roles") or []):
        return False
    role = filters.get("role")
    if role is not None and role not in (user.get("roles") or []):
        return False
    domain = filters.get("email_domain")
    email = str(user.get("email") or "")
    return domain is None or email.rpartition("@")[2].casefold() == str(domain).casefold()


def _subscriptions(conn: SAConnection, connection_id: int | None) -> list[Any]:
    table = WEBHOOK_SUBSCRIPTIONS
    where: list[ColumnElement[bool]] = [table.c.enabled.is_(True)]
    if connection_id is None:  # a store-wide event: for subscriptions to every connection
        where.append(table.c.connection_id.is_(None))
    else:
        where.append(or_(table.c.connection_id.is_(None), table.c.connection_id == connection_id))
    query = select(table.c.id, table.c.kinds, table.c.filters, table.c.connection_id).where(*where)
    return list(conn.execute(query.order_by(table.c.id)))


def _connection_info(conn: SAConnection, connection_id: int | None) -> dict[str, Any] | None:
    if connection_id is None:
        return None
    row = conn.execute(
        select(CONNECTIONS.c.id, CONNECTIONS.c.name, CONNECTIONS.c.account_id).where(
            CONNECTIONS.c.id == connection_id
        )
    ).first()
    return None if row is None else {"id": row.id, "name": row.name, "account_id": row.account_id}


def _users(conn: SAConnection, connection_id: int, ids: Sequence[int]) -> dict[int, Any]:
    columns = [USERS.c.harvest_id, USERS.c.deleted_at, USERS.c.updated_at, *(USERS.c[f] for f in USER_FIELDS)]
    found: dict[int, Any] = {}
    for chunk in chunks(sorted(set(ids))):
        query = select(*columns).where(USERS.c.connection_id == connection_id, USERS.c.harvest_id.in_(chunk))
        found.update((row.harvest_id, row) for row in conn.execute(query))
    return found


def _user_view(row: Any) -> dict[str, Any]:
    fields = user_fields(row._mapping)
    status = "deleted" if row.deleted_at is not None else ("active" if fields["is_active"] else "archived")
    return {"id": row.harvest_id, **fields, "updated_at": iso(row.updated_at), "status": status}


def enqueue_changes(conn: SAConnection, events: Sequence[ChangeEvent], *, only: int | None = None) -> int:
    """Queue ``events`` (of one connection) for every enabled subscription that wants them;
    returns the deliveries made. ``only``: a replay to that subscription alone."""
    if not events:
        return 0
    connection_id = events[0].connection_id
    subscriptions = _subscriptions(conn, connection_id)
    if only is not None:
        subscriptions = [s for s in subscriptions if s.id == only]
    if not subscriptions:
        return 0
    wanted = [
        (event, kind)
        for event in events
        for kind in [webhook_type(event)]
        if any(kind_matches(s.kinds, kind) for s in subscriptions)
    ]
    if not wanted:
        return 0
    users = _users(conn, connection_id, [e.harvest_id for e, _ in wanted if e.resource == "user"])
    connection = _connection_info(conn, connection_id)
    # A replay cannot know which front end made a write long ago.
    origin = current_origin() if only is None else "unknown"
    items: list[tuple[dict[str, Any], list[int]]] = []
    for event, kind in wanted:
        row = users.get(event.harvest_id) if event.resource == "user" else None
        occurred = event.observed_at
        if row is not None and event.kind in _HARVEST_DATED:
            occurred = row.updated_at
        payload = _payload(
            kind,
            occurred,
            {
                "connection": connection,
                "source": "sync" if event.source == "sync" else origin,
                "change_id": event.id,
                "resource": event.resource,
                "harvest_id": event.harvest_id,
                "changes": event.changes,
                "user": None if row is None else _user_view(row),
                "observed_at": iso(event.observed_at),
                "replayed": only is not None,
            },
        )
        targets = [s.id for s in subscriptions if kind_matches(s.kinds, kind) and _passes(s.filters, payload)]
        if targets:
            items.append((payload, targets))
    return enqueue(
        conn,
        [(p, f"{connection_id}:{p['data']['resource']}:{p['data']['harvest_id']}", t) for p, t in items],
        connection_id=connection_id,
    )


def _payload(kind: str, occurred: dt.datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The body every format starts from: Standard Webhooks' ``{type, timestamp, data}`` plus
    the message id (docs/webhook-event.schema.json)."""
    return {"id": new_message_id(), "type": kind, "timestamp": iso(occurred), "data": data}


def enqueue(
    conn: SAConnection,
    items: Sequence[tuple[dict[str, Any], str, Sequence[int]]],
    *,
    connection_id: int | None,
    now: dt.datetime | None = None,
) -> int:
    """Write events (payload, order key) and one pending delivery per subscription id."""
    if not items:
        return 0
    stamp = now or dt.datetime.now(dt.UTC)
    rows = [
        {
            "message_id": payload["id"],
            "kind": payload["type"],
            "connection_id": connection_id,
            "change_id": payload["data"].get("change_id"),
            "order_key": order_key,
            "payload": payload,
            "occurred_at": dt.datetime.fromisoformat(payload["timestamp"]),
            "created_at": stamp,
        }
        for payload, order_key, _ in items
    ]
    returning = insert(WEBHOOK_EVENTS).returning(WEBHOOK_EVENTS.c.id, sort_by_parameter_order=True)
    event_ids = list(conn.execute(returning, rows).scalars())
    deliveries = [
        {
            "subscription_id": sid,
            "event_id": event_id,
            "order_key": order_key,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": stamp,
            "created_at": stamp,
        }
        for event_id, (_, order_key, targets) in zip(event_ids, items, strict=True)
        for sid in targets
    ]
    conn.execute(insert(WEBHOOK_DELIVERIES), deliveries)
    if conn.dialect.name == "postgresql":
        # Wakes listening dispatchers when this transaction commits (never before, never if it
        # rolls back); PostgreSQL folds repeats within one transaction into one notification.
        conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return len(deliveries)


def enqueue_alert(
    conn: SAConnection,
    kind: str,
    *,
    connection_id: int | None,
    details: Mapping[str, Any],
    exclude_subscription: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Queue an operational event for the subscriptions that want it (never for the one it is
    about: a subscription that is failing would only fail to hear it)."""
    stamp = now or dt.datetime.now(dt.UTC)
    targets = [
        s.id
        for s in _subscriptions(conn, connection_id)
        if kind_matches(s.kinds, kind) and s.id != exclude_subscription
    ]
    if not targets:
        return 0
    payload = _payload(kind, stamp, {"connection": _connection_info(conn, connection_id), **dict(details)})
    # Alerts have no order among themselves: a key of their own each.
    return enqueue(
        conn, [(payload, f"alert:{payload['id']}", targets)], connection_id=connection_id, now=stamp
    )
