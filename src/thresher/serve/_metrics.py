"""The service's Prometheus metrics, in a registry of its own (no global state: two services in
one process, as in the tests, keep separate counts).

``mcp_tool_calls`` is counted by the MCP server at /mcp (``_mcp.py``); ``webhook_deliveries`` is
the labelled hook of the webhook dispatcher, a part that plugs in later (``Component``), there
from the start so dashboards and alerts can be written against it.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from thresher.harvest import RequestRecord

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "harvest_route"]

_ID = re.compile(r"/\d+(?=/|$)")


def harvest_route(path: str) -> str:
    """``/v2/users/123/teammates`` -> ``/v2/users/{id}/teammates``: a bounded label set."""
    return _ID.sub("/{id}", path)


class Metrics:
    """Every metric the service exports (``GET /metrics``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.harvest_requests = Counter(
            "thresher_harvest_requests", "Requests sent to Harvest.",
            ["connection", "route", "status"], registry=r,
        )
        self.harvest_rate_limited = Counter(
            "thresher_harvest_rate_limited", "Harvest answers 429 Too Many Requests.",
            ["connection"], registry=r,
        )
        self.budget_headroom = Gauge(
            "thresher_rate_budget_headroom",
            "Requests the account's shared budget could still send in its window.",
            ["connection"], registry=r,
        )
        self.sync_runs = Counter(
            "thresher_sync_runs", "Scheduled sync runs by kind and outcome.",
            ["connection", "kind", "outcome"], registry=r,
        )
        self.jobs = Gauge(
            "thresher_jobs", "The job queue (--no-background): queued, running, failed, workers, "
            "paused_connections and lag_seconds:QUEUE (thresher.jobs.queue_gauges).",
            ["gauge"], registry=r,
        )
        self.sync_lag = Gauge(
            "thresher_sync_lag_seconds", "Seconds since the last successful sync started.",
            ["connection"], registry=r,
        )
        self.sync_duration = Histogram(
            "thresher_sync_duration_seconds", "Duration of successful sync runs.",
            ["connection", "kind"], registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
        )
        self.change_events = Counter(
            "thresher_change_events", "Change events recorded in the store, by kind.",
            ["connection", "kind"], registry=r,
        )
        self.scim_requests = Counter(
            "thresher_scim_requests", "SCIM requests answered, by token and HTTP status.",
            ["token", "status"], registry=r,
        )
        self.http_requests = Counter(
            "thresher_http_requests", "Requests the service answered, by area and HTTP status.",
            ["area", "status"], registry=r,
        )
        # The webhook dispatcher's hook (it plugs in later), and the MCP server's tool calls.
        self.webhook_deliveries = Counter(
            "thresher_webhook_deliveries", "Webhook delivery attempts by outcome.",
            ["subscription", "outcome"], registry=r,
        )
        self.mcp_tool_calls = Counter(
            "thresher_mcp_tool_calls", "MCP tool calls by tool and outcome.",
            ["tool", "outcome"], registry=r,
        )

    def harvest_request(self, connection: str, record: RequestRecord) -> None:
        """The client's ``on_request`` hook."""
        status = str(record.status_code) if record.status_code is not None else "error"
        self.harvest_requests.labels(connection, harvest_route(record.path), status).inc()
        if record.status_code == 429:
            self.harvest_rate_limited.labels(connection).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
