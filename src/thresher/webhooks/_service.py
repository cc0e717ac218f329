"""Managing subscriptions and their deliveries: what the CLI (and the service, later) calls.

Subscriptions are checked when made or changed (URL rules and SSRF, ``_targets``; event types;
filters); their signing secret is made here, sealed (``_secrets``) before it reaches the store,
and returned once, at creation and rotation.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson

from thresher.store import (
    TEST_TYPE,
    WEBHOOK_TYPES,
    DeliveryClaim,
    DeliveryResult,
    Store,
    StoredDelivery,
    StoredSubscription,
    WebhookStore,
    new_message_id,
)

from ._errors import InvalidSubscriptionError, UnknownSubscriptionError
from ._http import DeliveryClient
from ._secrets import SecretKeeper
from ._sender import Sender
from ._settings import DispatchSettings
from ._signing import generate_secret
from ._targets import check_target

__all__ = ["DEFAULT_EVENTS", "FILTER_KEYS", "WebhookService", "validate_events"]

#: What a subscription receives when no event types are given: every change, no alerts.
DEFAULT_EVENTS: tuple[str, ...] = ("user.*", "teammates.changed", "role.*")
FILTER_KEYS = ("access_role", "role", "email_domain")
FORMATS = ("standard", "slack")
#: How long the secret before a rotation still signs (receivers switch over meanwhile).
ROTATION_OVERLAP = 24 * 3600.0


def validate_events(events: Sequence[str]) -> list[str]:
    """Exact types, ``prefix.*`` or ``*``; unknown ones are refused, naming the known ones."""
    prefixes = {t.split(".")[0] for t in WEBHOOK_TYPES}
    out: list[str] = []
    for raw in events:
        event = raw.strip()
        known = event == "*" or event in WEBHOOK_TYPES or (event.endswith(".*") and event[:-2] in prefixes)
        if not known:
            raise InvalidSubscriptionError(
                f"unknown event type {event!r}",
                hint=f"Use one of {', '.join(WEBHOOK_TYPES)}, a group such as user.* or role.*, or *.",
            )
        if event not in out:
            out.append(event)
    if not out:
        raise InvalidSubscriptionError("a subscription needs at least one event type")
    return out


def _filters(values: dict[str, str | None]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, raw in values.items():
        if raw is None:
            continue
        value = raw.strip().lstrip("@").casefold() if key == "email_domain" else raw.strip()
        if not value:
            raise InvalidSubscriptionError(f"the {key.replace('_', ' ')} filter is empty")
        out[key] = value
    return out


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidSubscriptionError(f"unknown format {fmt!r}", hint="Use standard or slack.")
    return fmt


class WebhookService:
    """Subscriptions and deliveries of one store."""

    def __init__(self, store: Store, *, keeper: SecretKeeper | None = None) -> None:
        self.store = store
        self.records = WebhookStore(store)
        self.keeper = keeper or SecretKeeper()

    def _connection_id(self, connection: str | None) -> int | None:
        return None if connection is None else self.store.get_connection(connection).id

    def get(self, subscription_id: int) -> StoredSubscription:
        found = self.records.get_subscription(subscription_id)
        if found is None:
            raise UnknownSubscriptionError(f"there is no webhook subscription {subscription_id}")
        return found

    def list(self, *, connection: str | None = None) -> builtins.list[StoredSubscription]:
        return self.records.list_subscriptions(connection_id=self._connection_id(connection))

    def add(
        self,
        url: str,
        *,
        connection: str | None = None,
        events: Sequence[str] | None = None,
        access_role: str | None = None,
        role: str | None = None,
        email_domain: str | None = None,
        description: str | None = None,
        fmt: str = "standard",
        allow_private: bool = False,
        enabled: bool = True,
        replay_from: dt.datetime | int | None = None,
    ) -> tuple[StoredSubscription, str, int]:
        """Make a subscription; returns it, its signing secret (shown once), and how many past
        events ``replay_from`` queued for it."""
        check_target(url, allow_private=allow_private)
        kinds = validate_events(events or DEFAULT_EVENTS)
        filters = _filters({"access_role": access_role, "role": role, "email_domain": email_domain})
        secret = generate_secret()
        sub = self.records.add_subscription(
            url=url,
            connection_id=self._connection_id(connection),
            kinds=kinds,
            filters=filters,
            format=_format(fmt),
            secret=self.keeper.seal(secret),
            description=description,
            allow_private=allow_private,
            enabled=enabled,
        )
        replayed = 0 if replay_from is None else self.records.replay(self.store, sub.id, since=replay_from)
        return sub, secret, replayed

    def update(
        self,
        subscription_id: int,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        filters: dict[str, str | None] | None = None,
        description: str | None = None,
        fmt: str | None = None,
        allow_private: bool | None = None,
        enabled: bool | None = None,
    ) -> StoredSubscription:
        """Change what is given. ``filters``: a value sets that filter, an empty string clears it."""
        current = self.get(subscription_id)
        values: dict[str, Any] = {}
        private = current.allow_private if allow_private is None else allow_private
        if url is not None or allow_private is not None:
            check_target(url or current.url, allow_private=private)
        if url is not None:
            values["url"] = url
        if allow_private is not None:
            values["allow_private"] = allow_private
        if events is not None:
            values["kinds"] = validate_events(events)
        if filters is not None:
            merged: dict[str, Any] = dict(current.filters)
            for key, value in filters.items():
                if value is None:
                    continue
                merged.pop(key, None)
                if value != "":
                    merged.update(_filters({key: value}))
            values["filters"] = merged
        if description is not None:
            values["description"] = description or None
        if fmt is not None:
            values["format"] = _format(fmt)
        if enabled is not None:
            values["enabled"] = enabled
        if not values:
            return current
        updated = self.records.update_subscription(subscription_id, **values)
        if updated is None:
            raise UnknownSubscriptionError(f"there is no webhook subscription {subscription_id}")
        return updated

    def remove(self, subscription_id: int) -> None:
        if not self.records.remove_subscription(subscription_id):
            raise UnknownSubscriptionError(f"there is no webhook subscription {subscription_id}")

    def rotate_secret(self, subscription_id: int, *, keep_previous_for: float = ROTATION_OVERLAP) -> str:
        """A new signing secret (returned once); the old one still signs for ``keep_previous_for``."""
        secret = generate_secret()
        if (
            self.records.rotate_secret(
                subscription_id, self.keeper.seal(secret), keep_previous_for=keep_previous_for
            )
            is None
        ):
            raise UnknownSubscriptionError(f"there is no webhook subscription {subscription_id}")
        return secret

    async def send_test(
        self,
        subscription_id: int,
        *,
        settings: DispatchSettings | None = None,
    ) -> DeliveryResult:
        """Send a ``webhook.test`` event now, signed like any delivery; nothing is queued."""
        sub = self.get(subscription_id)
        settings = settings or DispatchSettings(retry_schedule=())
        now = dt.datetime.now(dt.UTC)
        message_id = new_message_id()
        payload = {
            "id": message_id,
            "type": TEST_TYPE,
            "timestamp": now.isoformat(),
            "data": {"subscription_id": sub.id, "message": "A test delivery from thresher."},
        }
        claim = DeliveryClaim(
            0,
            sub.id,
            0,
            message_id,
            TEST_TYPE,
            orjson.dumps(payload),
            sub.url,
            sub.format,
            sub.secret,
            sub.previous_secret if sub.previous_secret_until and sub.previous_secret_until > now else None,
            sub.allow_private,
        )
        client = DeliveryClient()
        try:
            return await Sender(client, settings, self.keeper).send(claim)
        finally:
            await client.aclose()

    # -- deliveries -------------------------------------------------------------------------

    def deliveries(
        self, *, subscription_id: int | None = None, failed: bool = False, limit: int | None = 100
    ) -> builtins.list[StoredDelivery]:
        if subscription_id is not None:
            self.get(subscription_id)
        return self.records.list_deliveries(subscription_id=subscription_id, failed=failed, limit=limit)

    def delivery(self, delivery_id: int) -> StoredDelivery:
        found = self.records.get_delivery(delivery_id)
        if found is None:
            raise UnknownSubscriptionError(
                f"there is no webhook delivery {delivery_id}", hint="See 'thresher webhooks deliveries'."
            )
        return found

    def redeliver(
        self,
        *,
        delivery_ids: Sequence[int] | None = None,
        since: dt.datetime | None = None,
        subscription_id: int | None = None,
    ) -> int:
        if subscription_id is not None:
            self.get(subscription_id)
        return self.records.redeliver(delivery_ids=delivery_ids, since=since, subscription_id=subscription_id)

    def replay(self, subscription_id: int, *, since: dt.datetime | int) -> int:
        """Queue the change log from ``since`` for one subscription (its filters apply)."""
        self.get(subscription_id)
        return self.records.replay(self.store, subscription_id, since=since)
