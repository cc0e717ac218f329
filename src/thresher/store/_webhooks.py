"""Webhook subscriptions and the outbox's delivery rows: what ``thresher.webhooks`` reads and writes.

One class, :class:`WebhookStore`, assembled from a module per job (``_webhook_base`` says which);
docs/webhooks.md, "Running dispatchers", describes claims and their guarantees.
"""

from __future__ import annotations

from ._webhook_claims import WebhookClaims
from ._webhook_deliveries import WebhookDeliveries

__all__ = ["WebhookStore"]


class WebhookStore(WebhookDeliveries, WebhookClaims):
    """The webhook tables of one store. Every database error is a :class:`StoreError`."""
