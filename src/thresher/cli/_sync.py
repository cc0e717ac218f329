"""``thresher sync`` and ``thresher changes``: keep the roster mirror current and read its log."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import datetime as dt
import re
import time
from typing import TYPE_CHECKING

import typer

from ._console import UsageError, err_console, out, print_json, real_console
from ._options import CONNECTION, DATABASE_URL, json_option
from ._output import print_jsonl
from ._plumbing import event_dict, open_store

if TYPE_CHECKING:
    from rich.progress import TaskID

    from thresher.store import ChangeEvent, Store
    from thresher.sync import SyncOptions, SyncReport

__all__ = ["changes", "parse_since", "sync", "sync_once"]


async def sync_once(
    store: Store,
    connection_name: str | None,
    *,
    full: bool,
    options: SyncOptions,
    show_progress: bool,
    wait: bool = False,
    wait_timeout: float | None = None,
) -> SyncReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from thresher.connections import GREENHOUSE, open_client, open_greenhouse, resolve
    from thresher.sync import GreenhouseSync, RosterSync

    resolved = resolve(store, connection_name, any_provider=True)
    if resolved.connection.provider == GREENHOUSE:
        # Greenhouse Recruiting (docs/greenhouse.md §6): the same mirror, its own client and run.
        async with open_greenhouse(store, resolved.connection) as greenhouse:
            run = GreenhouseSync(store, greenhouse, resolved.connection, options).run
            return await run(full=full, wait=wait, wait_timeout=wait_timeout)
    async with open_client(store, resolved) as client:
        engine = RosterSync(store, client, resolved.connection, options)
        if not show_progress:
            return await engine.run(full=full, wait=wait, wait_timeout=wait_timeout)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=real_console(err_console),
            transient=True,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int | None) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(f"Syncing {stage}", total=total)
                bar.update(tasks[stage], completed=done, total=total)

            return await engine.run(full=full, wait=wait, wait_timeout=wait_timeout, progress=progress)


def _print_report(report: SyncReport) -> None:
    changes = ", ".join(f"{n} {kind}" for kind, n in sorted(report.events.items()))
    if report.pending_teammates:
        pending = f"{report.pending_teammates} teammate list(s) still to read"
        changes = f"{changes}, {pending}" if changes else pending
    changes = changes or "no changes"
    resumed = " (resumed, then caught up)" if report.resumed else ""
    out.print(
        f"{report.kind.capitalize()} sync of [bold]{report.connection}[/]{resumed}: "
        f"{report.users_seen} users read in {report.pages} page(s), {report.requests} request(s), "
        f"{changes}, {report.duration_s:.2f} s"
    )


def sync(
    connection: str | None = CONNECTION,
    full: bool = typer.Option(False, "--full", help="List every user and detect deletes now."),
    watch: bool = typer.Option(False, "--watch", help="Keep syncing every --interval seconds."),
    interval: float = typer.Option(60.0, "--interval", min=1.0, help="Seconds between --watch runs."),
    overlap: float = typer.Option(60.0, "--overlap", min=0.0, help="Seconds re-read before the mark."),
    reconcile_every: float = typer.Option(
        3600.0, "--reconcile-every", min=0.0, help="Seconds between full reconciliations."
    ),
    page_size: int | None = typer.Option(
        None, "--page-size", min=1, max=2000, help="Users per page (default: Harvest's maximum, 2000)."
    ),
    wait: bool | None = typer.Option(
        None,
        "--wait/--no-wait",
        help="When another sync of the connection runs, wait for it (default with --watch) or "
        "exit at once with code 75 (default otherwise).",
    ),
    wait_timeout: float | None = typer.Option(
        None, "--wait-timeout", min=0.0, help="With --wait, give up (code 75) after this many seconds."
    ),
    lease_ttl: float = typer.Option(
        30.0,
        "--lease-ttl",
        min=1.0,
        help="Seconds a run that stopped heart-beating (another machine died, a frozen process) "
        "keeps other syncs of the connection out.",
    ),
    json_out: bool = json_option("the run report(s)"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Sync a connection's users, roles and teammates into the roster mirror.

    The first run lists everyone; later runs read only what changed, and a full reconciliation
    (every --reconcile-every seconds, or --full) turns users gone from Harvest into tombstones.
    An interrupted run resumes from its last committed page, then catches up with what changed
    since it started.

    One sync per connection runs at a time. When another is running, the command exits with
    code 75 and says which process runs it (or waits, with --wait). A run that stalled so long
    that another took over exits with code 1 ("superseded"); the other run carries on.

    Example: thresher sync --watch --interval 60
    """
    import asyncio

    from thresher.sync import SyncOptions

    store = open_store(database_url)
    options = SyncOptions(
        overlap=dt.timedelta(seconds=overlap),
        reconcile_every=dt.timedelta(seconds=reconcile_every),
        per_page=page_size,
        lease_ttl=lease_ttl,
    )
    show_progress = not json_out and err_console.is_terminal
    waiting = watch if wait is None else wait
    while True:
        report = asyncio.run(
            sync_once(
                store, connection, full=full, options=options, show_progress=show_progress,
                wait=waiting, wait_timeout=wait_timeout,
            )
        )
        if json_out and watch:
            print_jsonl([report.as_dict()])  # a stream: one report per line (JSON Lines)
        elif json_out:
            print_json(report.as_dict())
        else:
            _print_report(report)
        if not watch:
            return
        full = False
        asyncio.run(asyncio.sleep(interval))


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, *, now: dt.datetime | None = None) -> dt.datetime | int:
    """``--since``: an ISO date/datetime, a span back from now (``90m``, ``2d``), or ``#ID``."""
    text = value.strip()
    if text.startswith("#") and text[1:].isdigit():
        return int(text[1:])
    match = _RELATIVE.match(text)
    if match:
        span = dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or dt.datetime.now(dt.UTC)) - span
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {value!r} is not a date, a span or an event id",
            hint="Use e.g. --since 2026-11-01, --since 2026-11-01T09:00:00Z, --since 2h or --since #120.",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def changes(
    since: str | None = typer.Option(None, "--since", help="ISO date/time, a span (2h, 7d) or #EVENT_ID."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="created, updated, archived, restored, deleted, roles_changed or teammates_changed.",
    ),
    connection: str | None = CONNECTION,
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many events (the newest)."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing new events as they are recorded (Ctrl-C stops)."
    ),
    poll: float = typer.Option(2.0, "--poll", min=0.2, help="Seconds between checks with --follow."),
    json_out: bool = json_option("events"),
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show the change log the sync and every write recorded, newest first, with each user's
    email; --follow then prints new events as they come (JSON Lines with --json).

    Example: thresher changes --since 24h --kind archived
    """
    from rich.table import Table

    store = open_store(database_url)
    connection_id = None
    if connection is not None:
        connection_id = store.get_connection(connection).id
    events = store.list_events(
        connection_id, since=parse_since(since) if since else None, kind=kind, limit=limit,
        newest_first=True,
    )
    emails = _Emails(store)
    if json_out and not follow:
        print_json([{**event_dict(e), "email": emails.of(e)} for e in events])
        return
    if json_out:
        print_jsonl([{**event_dict(e), "email": emails.of(e)} for e in reversed(events)])
    elif not events and not follow:
        out.print("No changes recorded.")
        return
    elif events:
        table = Table("#", "observed", "kind", "user", "email", "fields", "source")
        for e in events:
            table.add_row(*_event_cells(e, emails))
        out.print(table, crop=False)
    if not follow:
        return
    cursor = max((e.id for e in events), default=store.last_event_id(connection_id))
    while True:
        time.sleep(poll)
        fresh = store.list_events(connection_id, since=cursor, kind=kind)
        if not fresh:
            continue
        cursor = fresh[-1].id
        if json_out:
            print_jsonl([{**event_dict(e), "email": emails.of(e)} for e in fresh])
        else:
            for e in fresh:
                out.print("  ".join(_event_cells(e, emails)), highlight=False)


class _Emails:
    """Each event's user email, from the mirror (tombstones included), read once per connection."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_connection: dict[int, dict[int, str]] = {}

    def of(self, event: ChangeEvent) -> str | None:
        if event.resource != "user":
            return None
        known = self._by_connection.get(event.connection_id)
        if known is None or event.harvest_id not in known:
            users = self._store.list_users(event.connection_id, include_deleted=True)
            known = self._by_connection[event.connection_id] = {u.harvest_id: u.email for u in users}
        return known.get(event.harvest_id)


def _event_cells(e: ChangeEvent, emails: _Emails) -> tuple[str, ...]:
    fields = ", ".join(sorted(e.changes)) if e.kind in ("updated", "roles_changed") else ""
    observed = e.observed_at.strftime("%Y-%m-%d %H:%M:%S")
    return (str(e.id), observed, e.kind, str(e.harvest_id), emails.of(e) or "", fields, e.source)
