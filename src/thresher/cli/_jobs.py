"""``thresher jobs``: the job queue at a glance: queued, running and failed jobs per queue and per
connection, paused connections with their reasons, workers alive, and the queue lag.

Heavy stacks are imported inside the command.
"""

# ruff: noqa: PLC0415 - heavy stacks are imported inside the command (tests/cli/test_startup.py)

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._console import out, print_json
from ._options import DATABASE_URL, JSON

if TYPE_CHECKING:
    from thresher.jobs import ConnectionJobs

__all__ = ["jobs"]


def jobs(
    json_out: bool = JSON,
    all_connections: bool = typer.Option(
        False, "--all", help="List every connection, not only those with jobs or paused."
    ),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show the job queue: depth, running and failed jobs, per queue and per connection.

    Example: thresher jobs --json
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
    rows = [c for c in status.connections if all_connections or c.paused or c.queued or c.running or c.failed]
    columns: list[Column[ConnectionJobs]] = [
        Column("connection", lambda c: c.name, whole=True),
        Column("queued", lambda c: str(c.queued), whole=True),
        Column("running", lambda c: str(c.running), whole=True),
        Column("failed", lambda c: str(c.failed), whole=True),
        Column("paused", lambda c: (c.paused_reason or "yes") if c.paused else ""),
    ]
    lag = ", ".join(f"{q} {s:.1f} s" for q, s in sorted(status.lag_s.items())) or "none"
    summary = (
        f"{status.total('todo')} queued, {status.total('doing')} running, {status.total('failed')} failed; "
        f"{status.workers} worker(s); oldest waiting job: {lag}"
    )
    print_records(rows, columns, fmt, lambda c: c.__dict__, summary=summary)
    if not rows and fmt.value == "table":
        out.print(summary)
