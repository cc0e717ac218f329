"""What the queue holds: depth, running and failed jobs, per queue and per connection, and the
gauges ``thresher serve``'s ``/metrics`` can export (``queue_gauges``).

Read straight from procrastinate's tables in the store's database with one query each, so
``thresher jobs`` needs no worker and no procrastinate app.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import text

from thresher.store import ConnectionSettingsStore, Store
from thresher.webhooks import redacted_url

from ._errors import JobsConfigError

__all__ = ["ConnectionJobs", "QueueStatus", "SubscriptionJobs", "queue_gauges", "queue_status"]

_BY_QUEUE = text("""
SELECT queue_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2
""")
_BY_CONNECTION = text("""
SELECT (args->>'connection_id')::bigint, status::text, count(*)
  FROM procrastinate_jobs
 WHERE args ? 'connection_id' AND status IN ('todo', 'doing', 'failed')
 GROUP BY 1, 2
""")
# How long the oldest job that could run now has waited since it was deferred.
_LAG = text("""
SELECT j.queue_name, EXTRACT(EPOCH FROM now() - min(e.at))
  FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
 WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
 GROUP BY 1
""")
_WORKERS = text("SELECT count(*) FROM procrastinate_workers")
# The webhook outbox per subscription: only undelivered rows are read (the status index).
_OUTBOX = text("""
SELECT s.id, s.url, s.enabled,
       count(d.id) FILTER (WHERE d.status = 'pending'),
       count(d.id) FILTER (WHERE d.status = 'pending' AND d.next_attempt_at <= now()),
       count(d.id) FILTER (WHERE d.status = 'dead'),
       EXTRACT(EPOCH FROM now() - min(d.next_attempt_at)
               FILTER (WHERE d.status = 'pending' AND d.next_attempt_at <= now()))
  FROM webhook_subscriptions s
  LEFT JOIN webhook_deliveries d ON d.subscription_id = s.id AND d.status IN ('pending', 'dead')
 GROUP BY s.id, s.url, s.enabled
 ORDER BY s.id
""")
_BY_SUBSCRIPTION = text("""
SELECT (args->>'subscription_id')::bigint, status::text, count(*)
  FROM procrastinate_jobs
 WHERE args ? 'subscription_id' AND status IN ('todo', 'doing', 'failed')
 GROUP BY 1, 2
""")


@dataclasses.dataclass
class ConnectionJobs:
    connection_id: int
    name: str
    queued: int = 0
    running: int = 0
    failed: int = 0
    paused: bool = False
    paused_reason: str | None = None


@dataclasses.dataclass
class SubscriptionJobs:
    """One webhook subscription's outbox and delivery jobs."""

    subscription_id: int
    #: The target with any credentials in it hidden (``redacted_url``).
    url: str
    enabled: bool
    #: Deliveries not yet sent (due now or waiting for a retry), due now, and dead-lettered.
    pending: int = 0
    due: int = 0
    dead: int = 0
    #: Seconds the longest-due delivery has waited past its time (0: none due).
    oldest_due_s: float = 0.0
    queued: int = 0
    running: int = 0
    failed: int = 0


@dataclasses.dataclass
class QueueStatus:
    #: queue -> status (todo, doing, failed, ...) -> jobs
    queues: dict[str, dict[str, int]]
    #: queue -> seconds the oldest runnable job has waited
    lag_s: dict[str, float]
    workers: int
    connections: list[ConnectionJobs]
    #: The webhook queue: every subscription's outbox and delivery jobs.
    webhooks: list[SubscriptionJobs] = dataclasses.field(default_factory=list)

    def total(self, status: str) -> int:
        return sum(by.get(status, 0) for by in self.queues.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued": self.total("todo"), "running": self.total("doing"), "failed": self.total("failed"),
            "workers": self.workers, "queues": self.queues, "lag_s": self.lag_s,
            "connections": [dataclasses.asdict(c) for c in self.connections],
            "webhooks": [dataclasses.asdict(w) for w in self.webhooks],
        }


def queue_status(store: Store) -> QueueStatus:
    """The queue now; :class:`JobsConfigError` on SQLite or before any worker created it."""
    if store.dialect != "postgresql":
        raise JobsConfigError(
            "the job queue lives in a PostgreSQL store; this one is SQLite",
            hint="Set THRESHER_DATABASE_URL=postgresql+psycopg://... (docs/scale-out.md).",
        )
    with store.engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            raise JobsConfigError(
                "no job queue in this database yet",
                hint="Start a worker once ('thresher worker'): it creates the queue's tables.",
            )
        queues: dict[str, dict[str, int]] = {}
        for queue, status, count in conn.execute(_BY_QUEUE):
            queues.setdefault(queue, {})[status] = int(count)
        per: dict[int, dict[str, int]] = {}
        for connection_id, status, count in conn.execute(_BY_CONNECTION):
            per.setdefault(int(connection_id), {})[status] = int(count)
        lag = {queue: round(float(seconds), 3) for queue, seconds in conn.execute(_LAG)}
        workers = int(conn.execute(_WORKERS).scalar() or 0)
        jobs: dict[int, dict[str, int]] = {}
        for subscription_id, status, count in conn.execute(_BY_SUBSCRIPTION):
            jobs.setdefault(int(subscription_id), {})[status] = int(count)
        webhooks = [
            SubscriptionJobs(
                int(sid), redacted_url(url), bool(enabled), int(pending), int(due), int(dead),
                round(float(oldest or 0.0), 3), jobs.get(int(sid), {}).get("todo", 0),
                jobs.get(int(sid), {}).get("doing", 0), jobs.get(int(sid), {}).get("failed", 0),
            )
            for sid, url, enabled, pending, due, dead, oldest in conn.execute(_OUTBOX)
        ]
    configs = ConnectionSettingsStore(store).all()
    connections = []
    for stored in store.list_connections():
        counts = per.get(stored.id, {})
        config = configs.get(stored.id)
        connections.append(ConnectionJobs(
            stored.id, stored.name, counts.get("todo", 0), counts.get("doing", 0), counts.get("failed", 0),
            paused=bool(config and config.paused), paused_reason=config.paused_reason if config else None,
        ))
    return QueueStatus(queues, lag, workers, connections, webhooks)


def queue_gauges(store: Store) -> dict[str, float]:
    """Flat gauges for a metrics endpoint: ``thresher_jobs_queued{queue=...}`` style names are
    the caller's choice; keys here are ``queued``, ``running``, ``failed``, ``workers``,
    ``paused_connections``, ``lag_seconds:<queue>``, ``webhooks_due`` (deliveries due now),
    ``webhooks_oldest_due_seconds`` and ``webhooks_dead``."""
    status = queue_status(store)
    gauges: dict[str, float] = {
        "queued": status.total("todo"), "running": status.total("doing"),
        "failed": status.total("failed"), "workers": status.workers,
        "paused_connections": sum(1 for c in status.connections if c.paused),
        "webhooks_due": sum(w.due for w in status.webhooks),
        "webhooks_oldest_due_seconds": max((w.oldest_due_s for w in status.webhooks), default=0.0),
        "webhooks_dead": sum(w.dead for w in status.webhooks),
    }
    for queue, seconds in status.lag_s.items():
        gauges[f"lag_seconds:{queue}"] = seconds
    return gauges
