"""The scheduling pass: which connections are due a sync, claimed once across every worker.

It reuses the service's shared schedule (``serve_schedules``, job ``sync``; ``thresher sync
schedule`` shows it), so ``thresher serve`` and the workers never keep two schedules: a due row is
claimed with one conditional update (``ServeRecords.claim``), and only the claimer defers the job.
The queueing lock of each connection's sync (procrastinate) is the second guard, the run lease
(``thresher.sync``) the third.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from thresher.connections import resolve
from thresher.store import (
    ConnectionSettings,
    ConnectionSettingsStore,
    DatabaseError,
    ServeRecords,
    Store,
)

__all__ = ["JOB", "due_connections", "next_wait", "tokens_expiring"]

log = logging.getLogger("thresher.jobs")
#: The job name in ``serve_schedules`` (the same as ``thresher serve``'s scheduler).
JOB = "sync"


@dataclasses.dataclass(frozen=True)
class Due:
    connection_id: int
    name: str
    overdue_s: float


def due_connections(store: Store, holder: str, *, now: dt.datetime, lead: float) -> list[Due]:
    """Claim every unpaused connection whose sync is due; each is claimed by one caller only.

    The next run becomes due ``interval - lead`` seconds from now (at least half the interval),
    so a connection's data is never older than its interval when passes and queues are timely.
    Most overdue first, so a backlog drains oldest first."""
    records = ServeRecords(store)
    settings = ConnectionSettingsStore(store)
    configs = settings.all()
    schedules = records.schedules()
    # Due connections grouped by their next wait (few distinct intervals): one claim per group.
    due: dict[float, dict[int, Due]] = {}
    for connection in store.list_connections():
        config = configs.get(connection.id) or ConnectionSettings(connection.id)
        if config.paused:
            continue
        when = schedules.get((connection.id, JOB))
        if when is None:
            try:
                records.ensure_schedule(connection.id, JOB, due_at=now)
            except DatabaseError:  # a serve process made the row at the same moment
                log.debug("schedule row of %s made elsewhere", connection.name)
            when = now
        if when <= now:
            overdue = (now - when).total_seconds()
            due.setdefault(next_wait(config, lead), {})[connection.id] = Due(
                connection.id, connection.name, overdue
            )
    claimed: list[Due] = []
    for wait, group in due.items():
        ids = settings.claim_due(
            list(group), JOB, holder, now=now, next_due=now + dt.timedelta(seconds=wait)
        )
        claimed += [group[i] for i in ids]
    claimed.sort(key=lambda d: -d.overdue_s)
    return claimed


def next_wait(config: ConnectionSettings, lead: float) -> float:
    """Seconds from a claim (or a run's start) to the connection's next due time."""
    return max(config.interval_s - lead, config.interval_s / 2)


def tokens_expiring(store: Store, *, within: float) -> list[int]:
    """Ids of connections with an OAuth token that expires within ``within`` seconds."""
    found = []
    for connection in store.list_connections():
        if connection.credentials_ref is None:
            continue
        try:
            creds = resolve(store, connection.name).credentials
        except Exception as exc:  # unreadable credentials: the sync job pauses the connection
            log.debug("credentials of %s unreadable: %s", connection.name, exc)
            continue
        if creds is not None and creds.kind == "oauth" and creds.oauth_token.expires_within(within):
            found.append(connection.id)
    return found
