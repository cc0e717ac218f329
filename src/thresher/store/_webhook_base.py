"""What the webhook store's modules share: its tables' short names, the clock, and transactions.

``WebhookStore`` (``_webhooks.py``) is assembled from one module per job: subscriptions
(``_webhook_subscriptions``), claiming and completing deliveries (``_webhook_claims``), and the
operators' view of deliveries (``_webhook_deliveries``). Outbox insertion, inside a change's own
write transaction, is ``_webhook_outbox``.

Times are the database's on PostgreSQL (several machines share it), this machine's on SQLite.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Connection as SAConnection

from . import _leases
from ._database import read_connection, write_transaction
from ._store import Store
from ._tables import (
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_EVENTS,
    WEBHOOK_SUBSCRIPTIONS,
)

__all__ = ["ATT", "DEL", "EVT", "SUBS", "WebhookTables", "db_now"]

SUBS = WEBHOOK_SUBSCRIPTIONS
DEL = WEBHOOK_DELIVERIES
EVT = WEBHOOK_EVENTS
ATT = WEBHOOK_ATTEMPTS


def db_now(conn: SAConnection) -> dt.datetime:
    return _leases._now(conn)


class WebhookTables:
    """The webhook tables of one store. Every database error is a :class:`StoreError`."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self._url = store.url
        self._dialect = store.dialect

    def _write(self) -> Any:
        return write_transaction(self._engine, self._url)

    def _read(self) -> Any:
        return read_connection(self._engine, self._url)
