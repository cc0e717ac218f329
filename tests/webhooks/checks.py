"""What every end-to-end webhook test checks of what a receiver got."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from standardwebhooks import WebhookVerificationError

from thresher.webhooks import signature_headers

from .receiver import Received, Receiver, verify


def verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every 2xx delivery, verified by the published library, in the order received."""
    return [verify(secret, r) for r in receiver.delivered()]


def assert_per_user_order(payloads: list[dict[str, Any]]) -> None:
    """A user's (or role's) events arrive in change-log order."""
    seen: dict[tuple[Any, ...], list[int]] = collections.defaultdict(list)
    for p in payloads:
        data = p["data"]
        if "change_id" in data:
            seen[(data["connection"]["id"], data["resource"], data["harvest_id"])].append(data["change_id"])
    for key, ids in seen.items():
        assert ids == sorted(ids), f"{key} out of order: {ids}"


def assert_forgeries_refused(received: Received, secret: str) -> None:
    """A tampered body and a stale timestamp fail the library's checks."""
    tampered = received.body.replace(b'"data"', b'"data" ', 1)
    with pytest.raises(WebhookVerificationError):
        verify(secret, Received(received.headers, tampered, 200))
    import datetime as dt

    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    stale = {**received.headers, **signature_headers(received.message_id, received.body, [secret], now=old)}
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(secret, Received(stale, received.body, 200))
