"""What the webhooks page and API show until the webhooks part plugs in: the rows of its tables
when they exist (any table whose name starts with ``webhook``), without secret columns."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import MetaData, Table, inspect, select

from thresher.store import Store

__all__ = ["WebhookTables", "webhook_tables"]

_SECRET_WORDS = ("secret", "token", "key", "signature", "password", "payload", "body", "headers")


@dataclasses.dataclass
class WebhookTables:
    tables: dict[str, list[dict[str, Any]]]


def _safe(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def webhook_tables(store: Store, *, limit: int = 50) -> WebhookTables | None:
    """The newest ``limit`` rows of each webhook table (None when there are none)."""
    engine = store.engine
    names = [n for n in inspect(engine).get_table_names() if n.startswith("webhook")]
    if not names:
        return None
    found: dict[str, list[dict[str, Any]]] = {}
    metadata = MetaData()
    with engine.connect() as conn:
        for name in sorted(names):
            table = Table(name, metadata, autoload_with=conn)
            columns = [c for c in table.columns if not any(w in c.name.lower() for w in _SECRET_WORDS)]
            query = select(*columns).limit(limit)
            pk = list(table.primary_key.columns)
            if pk:
                query = query.order_by(pk[0].desc())
            found[name] = [
                {k: _safe(v) for k, v in row._mapping.items()} for row in conn.execute(query)
            ]
    return WebhookTables(found)
