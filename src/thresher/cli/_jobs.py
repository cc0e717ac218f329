"""``thresher jobs``: the job queue at a glance: queued, running and failed jobs per queue and per
connection, paused connections with their reasons, workers alive, and the queue lag;
``--webhooks``: the webhook queue per subscription (outbox, delivery jobs).

Heavy stacks are imported inside the command.
"""

# ruff: noqa: PLC0415 - heavy stacks are imported inside the command (tests/cli/test_startup.py)

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._console import out, print_json
from ._options import DATABASE_URL, JSON

if TYPE_CHECKING:
    from thresher.jobs import ConnectionJobs, QueueStatus, SubscriptionJobs

    from ._output import OutputFormat

__all__ = ["jobs"]


def jobs(
    json_out: bool = JSON,
    all_connections: bool = typer.Option(
        False, "--all", help="List every connection, not only those with jobs or paused."
    ),
    webhooks: bool = typer.Option(
        False, "--webhooks", help="List the webhook queue per subscription instead of connections."
    ),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show the job queue: depth, running and failed jobs, per queue and per connection.

    Example: thresher jobs --json, thresher jobs --webhooks
    """
    from thresher.jobs import queue_status

    from ._output import Column, choose_format, print_records
    from ._plumbing import open_store

    store = open_store(database_url)
    try:
        status = queue_status(store)
    finally:
        store.close()
    fmt = choose_format(None, json_out)
    if json_out:
        print_json(status.as_dict())
        return
    if webhooks:
        _webhooks(status, fmt)
        return
    rows = [c for c in status.connections if all_connections or c.paused or c.queued or c.running or c.failed]
    columns: list[Column[ConnectionJobs]] = [
        Column("connection", lambda c: c.name, whole=True),
        Column("queued", lambda c: str(c.queued), whole=True),
        Column("running", lambda c: str(c.running), whole=True),
        Column("failed", lambda c: str(c.failed), whole=True),
        Column("paused", lambda c: (c.paused_reason or "yes") if c.paused else ""),
    ]
    lag = ", ".join(f"{q} {s:.1f} s" for q, s in sorted(status.lag_s.items())) or "none"
    due = sum(w.due for w in status.webhooks)
    oldest = max((w.oldest_due_s for w in status.webhooks), default=0.0)
    summary = (
        f"{status.total('todo')} queued, {status.total('doing')} running, {status.total('failed')} failed; "
        f"{status.workers} worker(s); oldest waiting job: {lag}; webhooks: {due} due"
        + (f" (oldest {oldest:.1f} s)" if due else "")
        + f", {sum(w.dead for w in status.webhooks)} dead-lettered (thresher jobs --webhooks)"
    )
    print_records(rows, columns, fmt, lambda c: c.__dict__, summary=summary)
    if not rows and fmt.value == "table":
        out.print(summary)


def _webhooks(status: QueueStatus, fmt: OutputFormat) -> None:
    from ._output import Column, print_records

    columns: list[Column[SubscriptionJobs]] = [
        Column("subscription", lambda w: str(w.subscription_id), whole=True),
        Column("url", lambda w: w.url + ("" if w.enabled else " (disabled)")),
        Column("pending", lambda w: str(w.pending), whole=True),
        Column("due", lambda w: str(w.due), whole=True),
        Column("oldest due", lambda w: f"{w.oldest_due_s:.1f} s" if w.due else "", whole=True),
        Column("dead", lambda w: str(w.dead), whole=True),
        Column("jobs queued", lambda w: str(w.queued), whole=True),
        Column("running", lambda w: str(w.running), whole=True),
        Column("failed", lambda w: str(w.failed), whole=True),
    ]
    queue = status.queues.get("webhooks", {})
    summary = (
        f"webhooks queue: {queue.get('todo', 0)} queued, {queue.get('doing', 0)} running, "
        f"{queue.get('failed', 0)} failed; lag {status.lag_s.get('webhooks', 0.0):.1f} s"
    )
    print_records(status.webhooks, columns, fmt, lambda w: w.__dict__, summary=summary)
    if not status.webhooks and fmt.value == "table":
        out.print(summary)
