"""What the webhook tables hand out: subscriptions, claimed deliveries, results, and views."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

import orjson

from ._fields import iso

__all__ = [
    "ALERT_TYPES",
    "CHANGE_TYPES",
    "TEST_TYPE",
    "WEBHOOK_TYPES",
    "DeliveryClaim",
    "DeliveryResult",
    "DeliveryStatus",
    "StoredAttempt",
    "StoredDelivery",
    "StoredSubscription",
    "WebhookFormat",
]

#: The event types a change in the log becomes (docs/webhooks.md, "Event types").
CHANGE_TYPES: tuple[str, ...] = (
    "user.created",
    "user.updated",
    "user.archived",
    "user.restored",
    "user.deleted",
    "user.roles_changed",
    "teammates.changed",
    "role.created",
    "role.updated",
    "role.deleted",
)
#: Operational events: recorded by the sync, the connections and the dispatcher itself.
ALERT_TYPES: tuple[str, ...] = (
    "sync.failed",
    "credentials.expired",
    "rate_limit.exhausted",
    "subscription.disabled",
    "delivery.dead_lettered",
    "connection.paused",
)
#: What ``thresher webhooks test`` sends; never queued.
TEST_TYPE = "webhook.test"
WEBHOOK_TYPES: tuple[str, ...] = (*CHANGE_TYPES, *ALERT_TYPES)

WebhookFormat = Literal["standard", "slack"]
DeliveryStatus = Literal["pending", "delivered", "dead"]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else iso(value)


@dataclasses.dataclass(frozen=True, slots=True)
class StoredSubscription:
    """A subscription's row. ``secret`` and ``previous_secret`` are sealed (opaque to the store)."""

    id: int
    connection_id: int | None
    url: str
    description: str | None
    kinds: list[str]
    filters: dict[str, Any]
    format: WebhookFormat
    secret: str
    previous_secret: str | None
    previous_secret_until: dt.datetime | None
    allow_private: bool
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    failing_since: dt.datetime | None
    last_success_at: dt.datetime | None

    def __repr__(self) -> str:
        return f"StoredSubscription(id={self.id}, url={self.url!r}, enabled={self.enabled}, secret=***)"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, without the secrets."""
        return {
            "id": self.id,
            "connection_id": self.connection_id,
            "url": self.url,
            "description": self.description,
            "events": list(self.kinds),
            "filters": dict(self.filters),
            "format": self.format,
            "allow_private_targets": self.allow_private,
            "enabled": self.enabled,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "disabled_at": _iso(self.disabled_at),
            "disabled_reason": self.disabled_reason,
            "failing_since": _iso(self.failing_since),
            "last_success_at": _iso(self.last_success_at),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryClaim:
    """A delivery a dispatcher claimed: everything it needs to send it, secrets still sealed."""

    delivery_id: int
    subscription_id: int
    attempts: int
    message_id: str
    kind: str
    #: The event's JSON as frozen at commit: what is sent (and signed) unless reformatted.
    body: bytes
    url: str
    format: WebhookFormat
    secret: str
    previous_secret: str | None
    allow_private: bool

    @property
    def payload(self) -> dict[str, Any]:
        """The event, decoded (the Slack format and tests read it)."""
        value: dict[str, Any] = orjson.loads(self.body)
        return value

    def __repr__(self) -> str:
        return f"DeliveryClaim(delivery_id={self.delivery_id}, url={self.url!r}, kind={self.kind!r})"


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one attempt went. ``retry_in`` (seconds) schedules the next one; ``dead`` gives up."""

    delivery_id: int
    subscription_id: int
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float
    request: str
    response: str | None
    retry_in: float = 0.0
    dead: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class StoredAttempt:
    attempted_at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: float
    request: str
    response: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempted_at": iso(self.attempted_at),
            "status_code": self.status_code,
            "error": self.error,
            "duration_ms": round(self.duration_ms, 1),
            "request": self.request,
            "response": self.response,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class StoredDelivery:
    """A delivery as ``thresher webhooks deliveries`` shows it (``attempt_log`` only on request)."""

    id: int
    subscription_id: int
    message_id: str
    kind: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime
    last_status: int | None
    last_error: str | None
    last_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime
    attempt_log: tuple[StoredAttempt, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "message_id": self.message_id,
            "type": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at) if self.status == "pending" else None,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "last_attempt_at": _iso(self.last_attempt_at),
            "delivered_at": _iso(self.delivered_at),
            "created_at": iso(self.created_at),
        }
        if self.attempt_log:
            data["attempt_log"] = [a.as_dict() for a in self.attempt_log]
        return data
