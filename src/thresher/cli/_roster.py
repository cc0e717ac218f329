"""``thresher plan`` and ``thresher apply``: make Harvest match a declarative roster file.

``plan`` works like terraform's: it says how old the mirror it plans against is, refreshes it
first (an incremental sync) when older than ``--refresh-after``, can save the plan (``-o``) for
``apply PLAN.json`` to carry out only while Harvest still matches, and with
``--detailed-exitcode`` exits 0 (no changes), 2 (changes) or 1 (error).
"""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from thresher._errors import ThresherError

from ._console import ConfirmationRequiredError, err_console, escape, out, print_json, real_console
from ._options import CONNECTION, DATABASE_URL, FORMAT, JSON
from ._output import Column, OutputFormat, choose_format, print_records
from ._plumbing import open_store

if TYPE_CHECKING:
    from thresher.connections import ResolvedConnection
    from thresher.harvest import AsyncHarvest
    from thresher.provision import Change, Plan, RosterRow, SavedPlan, WriteThrough
    from thresher.store import Store
    from thresher.sync import SyncOptions

__all__ = ["apply_command", "plan_command"]

ROSTER = typer.Argument(..., help="Roster file (.csv, .tsv, .yaml or .yml).")
APPLY_SOURCE = typer.Argument(
    ..., help="Roster file (.csv, .tsv, .yaml, .yml), or a plan saved by 'plan -o' (.json)."
)
MAX_ARCHIVE = typer.Option(
    None, "--max-archive", min=0,
    help="Most users a prune may archive (default: 10 or 10% of active users, the larger).",
)
PRUNE_HELP = "Also archive active users missing from the file (never the token's own)."
#: Seconds between progress lines when stderr is not a terminal (hidden; tests use 0).
PROGRESS_EVERY = typer.Option(5.0, "--progress-every", hidden=True, min=0)
OUTPUT = typer.Option(None, "--out", "-o", help="Save the plan here for 'thresher apply PLAN.json'.")


def _refresh_options() -> SyncOptions:
    """Incremental only: a refresh before planning reads what changed, not the whole roster."""
    from thresher.sync import SyncOptions

    return SyncOptions(reconcile_every=dt.timedelta(days=36500))


# -- showing a plan --------------------------------------------------------------------------


def _describe_change(change: Change) -> str:
    from thresher.provision import membership_diff

    parts = []
    for key, (before, after) in change.diffs.items():
        if key in ("members", "teammates"):
            added, removed = membership_diff(before, after)
            parts.append(" ".join([*(f"+{a}" for a in added), *(f"-{r}" for r in removed)])
                         or f"{key}: none")
        elif change.action == "create":
            parts.append(f"{key}: {_fmt(after)}")
        else:
            parts.append(f"{key}: {_fmt(before)} → {_fmt(after)}")
    return "; ".join(parts)


#: A plan as a list (``_output``): emails never cut, the changes wrap.
PLAN_COLUMNS: list[Column[Change]] = [
    Column("action", lambda c: c.action, whole=True),
    Column("who", lambda c: c.email, whole=True),
    Column("changes", _describe_change),
]


def _fmt(value: Any) -> str:
    if isinstance(value, frozenset | set | tuple | list):
        return "[" + ", ".join(sorted(str(v) for v in value)) + "]"
    return "—" if value is None else str(value)


def _summary(plan: Plan) -> str:
    if not plan:
        return "No changes: Harvest already matches the file."
    counts = ", ".join(f"{n} {k}" for k, n in sorted(plan.counts().items()))
    invites = plan.invitations
    mail = (f" Harvest will email {invites} invitation(s), one per created user." if invites else "")
    return f"{len(plan.changes)} change(s): {counts}.{mail}"


def _show_plan(
    plan: Plan, output: OutputFormat, extra: dict[str, Any] | None = None
) -> None:
    """The plan in ``output``: a table on a terminal, tab-separated rows with a header when piped
    (the summary then goes to stderr, so stdout holds only rows), JSON, or a change per line."""
    if output is OutputFormat.JSON:
        print_json({**plan.as_dict(), **(extra or {})})
        return
    if output is OutputFormat.JSONL:
        print_records(plan.changes, PLAN_COLUMNS, output, lambda c: c.as_dict())
        return
    if plan or output is OutputFormat.PLAIN:
        print_records(plan.changes, PLAN_COLUMNS, output, lambda c: c.as_dict())
    for warning in plan.warnings:
        err_console.print(f"[yellow]Warning:[/] {escape(warning)}")
    if output is OutputFormat.PLAIN:
        _note(_summary(plan))
    else:
        out.print(_summary(plan))


def _note(message: str) -> None:
    """A status line for people, on stderr so stdout stays the result."""
    err_console.print(escape(message), soft_wrap=True, highlight=False)


# -- the mirror's age ------------------------------------------------------------------------


def _synced_at(store: Store, connection_id: int) -> dt.datetime | None:
    """When the last completed sync started, by Harvest's clock (the mirror is as of then)."""
    from thresher.store import USERS_RESOURCE

    with store.transaction() as tx:
        return tx.get_sync_state(connection_id, USERS_RESOURCE).high_water_mark


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min ago"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", re.IGNORECASE)
_UNITS = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _duration(value: str) -> float:
    match = _DURATION.fullmatch(value)
    if match is None:
        raise typer.BadParameter(f"{value!r} is not a duration (like 300, 30s, 5m, 1h)")
    unit = match.group(2).lower() if match.group(2) else None
    return float(match.group(1)) * _UNITS[unit]


async def _me(client: AsyncHarvest, resolved: ResolvedConnection) -> int:
    if resolved.own_user_id is not None:
        return resolved.own_user_id
    return (await client.me()).id


def _needs_owner(rows: list[RosterRow], prune: bool) -> bool:
    return prune or any(not r.active for r in rows)


async def _refresh(
    store: Store, resolved: ResolvedConnection, *, sync: bool, owner: bool
) -> int | None:
    """Sync incrementally (``sync``) and/or ask who owns the token (``owner``), one client."""
    from thresher.connections import open_client
    from thresher.sync import RosterSync

    async with open_client(store, resolved) as client:
        if sync:
            await RosterSync(store, client, resolved.connection, _refresh_options()).run()
        return await _me(client, resolved) if owner else resolved.own_user_id


# -- plan ------------------------------------------------------------------------------------


def plan_command(
    file: Path = ROSTER,
    prune: bool = typer.Option(False, "--prune", help=PRUNE_HELP),
    max_archive: int | None = MAX_ARCHIVE,
    refresh: bool | None = typer.Option(
        None, "--refresh/--no-refresh",
        help="Sync the mirror first, or never (default: when older than --refresh-after).",
    ),
    refresh_after: str = typer.Option(
        "5m", "--refresh-after", help="Refresh a mirror older than this (300, 30s, 5m, 1h)."
    ),
    output: Path | None = OUTPUT,
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 when there are no changes, 2 when there are, 1 on error."
    ),
    connection: str | None = CONNECTION, fmt: OutputFormat | None = FORMAT, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show what 'apply' would change, computed from the roster mirror (refreshed first when stale).

    Columns: email, first_name, last_name, access_roles, roles, weekly_capacity_hours, timezone,
    is_contractor, manager_email, billable_rate, cost_rate, active. Blank cells are left alone.
    CSV may be comma, semicolon or tab separated, in UTF-8, UTF-16 or Windows-1252.
    Piped, the plan is tab-separated rows (action, who, changes) and its summary goes to stderr.

    Example: thresher plan roster.csv --prune -o plan.json
    """
    threshold = _duration(refresh_after)
    shown = choose_format(fmt, json_out)
    try:
        plan = _plan(file, prune=prune, max_archive=max_archive, refresh=refresh,
                     threshold=threshold, output=output, connection=connection,
                     shown=shown, database_url=database_url)
    except ThresherError as exc:
        if detailed_exitcode:
            exc.exit_code = 1  # terraform's convention: 2 means "changes", never an error
        raise
    if detailed_exitcode and plan:
        raise typer.Exit(2)


def _plan(
    file: Path, *, prune: bool, max_archive: int | None, refresh: bool | None, threshold: float,
    output: Path | None, connection: str | None, shown: OutputFormat, database_url: str | None,
) -> Plan:
    import asyncio

    from thresher.connections import resolve
    from thresher.provision import load_roster, make_plan, save_plan

    store = open_store(database_url)
    resolved = resolve(store, connection, any_provider=True)
    conn = resolved.connection
    if conn.provider == "greenhouse":
        from ._greenhouse_roster import greenhouse_plan

        return greenhouse_plan(store, conn, file, prune=prune, max_archive=max_archive,
                               refresh=refresh, output=output,
                               json_out=shown in (OutputFormat.JSON, OutputFormat.JSONL))
    rows = load_roster(file, store, conn.id)  # a bad file costs no request
    synced_at = _synced_at(store, conn.id)
    age = None if synced_at is None else (dt.datetime.now(dt.UTC) - synced_at).total_seconds()
    due = refresh if refresh is not None else (age is None or age > threshold)
    owner = resolved.own_user_id is None and _needs_owner(rows, prune)
    own = resolved.own_user_id
    if due or owner:
        if due:
            _note("Mirror never synced; syncing it first." if age is None else
                  f"Mirror synced {_ago(age)}; refreshing it first (incremental sync).")
        own = asyncio.run(_refresh(store, resolved, sync=due, owner=owner))
        if due:
            rows = load_roster(file, store, conn.id)
            synced_at = _synced_at(store, conn.id)
            age = None if synced_at is None else max(
                0.0, (dt.datetime.now(dt.UTC) - synced_at).total_seconds())
    elif age is not None:
        _note(f"Mirror synced {_ago(age)} (not refreshed: --refresh to sync first).")
    plan = make_plan(store, conn.id, rows, prune=prune, own_user_id=own, max_archive=max_archive)
    mirror = {
        "synced_at": synced_at.isoformat() if synced_at else None,
        "age_s": None if age is None else round(age, 1),
        "refreshed": bool(due),
    }
    _show_plan(plan, shown, {"mirror": mirror})
    if output is not None:
        save_plan(output, plan, store, conn, source=str(file))
        _note(f"Saved the plan to {output}; carry it out with: thresher apply {output}")
    return plan


# -- progress --------------------------------------------------------------------------------


class _Lines:
    """Progress as plain lines (done/total, rate, ETA) at most every ``every`` seconds, for logs
    and pipes where a redrawn bar would be noise or invisible."""

    def __init__(self, total: int, every: float, write: Callable[[str], None]) -> None:
        self.total, self.every, self.write = total, every, write
        self.started = self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        self.write(
            f"apply: {done}/{total} ({100 * done // max(total, 1)}%), {rate:.1f}/s, "
            f"elapsed {_clock(elapsed)}, ETA {_clock(eta)}"
        )


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _stderr_line(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _progress(total: int, every: float, json_out: bool) -> Iterator[Callable[[int, int], None]]:
    if err_console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]Applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=real_console(err_console), transient=True, disable=json_out,
        ) as bar:
            task = bar.add_task("apply", total=total)
            yield lambda done, _total: bar.update(task, completed=done)
        return
    _stderr_line(f"apply: {total} change(s) to make")
    yield _Lines(total, every, _stderr_line)


# -- apply -----------------------------------------------------------------------------------


async def _run(writes: WriteThrough, plan: Plan, every: float, json_out: bool) -> dict[str, int]:
    from thresher.provision import apply_plan

    with _progress(len(plan.changes), every, json_out) as progress:
        return await apply_plan(writes, plan, progress=progress)


async def _apply(
    store: Store, resolved: ResolvedConnection, file: Path, *, prune: bool, max_archive: int | None,
    yes: bool, json_out: bool, every: float,
) -> tuple[Plan, dict[str, int]]:
    import asyncio

    from thresher.connections import open_client
    from thresher.provision import WriteThrough, load_roster, make_plan
    from thresher.sync import RosterSync, SyncOptions

    conn = resolved.connection
    async with open_client(store, resolved) as client:
        writes = WriteThrough(client, store, conn)
        # Re-plan from a fresh sync: an interrupted apply's writes are seen, never repeated.
        await RosterSync(store, client, conn, SyncOptions()).run()
        rows = load_roster(file, store, conn.id)
        me = await _me(client, resolved) if _needs_owner(rows, prune) else resolved.own_user_id
        plan = make_plan(store, conn.id, rows, prune=prune, own_user_id=me, max_archive=max_archive)
        if not json_out:
            _show_plan(plan, choose_format(None))
        if not plan:
            return plan, {}
        if not yes:
            if not sys.stdin.isatty():
                raise ConfirmationRequiredError(
                    "apply needs confirmation", hint="Review 'thresher plan FILE', then pass --yes."
                )
            if not await asyncio.to_thread(typer.confirm, "Apply these changes?"):
                raise typer.Abort()
        return plan, await _run(writes, plan, every, json_out)


async def _apply_saved(
    store: Store, resolved: ResolvedConnection, path: Path, saved: SavedPlan, *, json_out: bool,
    every: float,
) -> tuple[Plan, dict[str, int]]:
    from thresher.connections import open_client
    from thresher.provision import WriteThrough, check_saved_plan
    from thresher.sync import RosterSync

    conn = resolved.connection
    async with open_client(store, resolved) as client:
        # The mirror must show Harvest as it is now before the plan is compared with it.
        await RosterSync(store, client, conn, _refresh_options()).run()
        check_saved_plan(store, conn, saved, str(path))
        if not json_out:
            _show_plan(saved.plan, choose_format(None))
        if not saved.plan:
            return saved.plan, {}
        return saved.plan, await _run(WriteThrough(client, store, conn), saved.plan, every, json_out)


def apply_command(
    file: Path = APPLY_SOURCE,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    prune: bool = typer.Option(False, "--prune", help=PRUNE_HELP),
    max_archive: int | None = MAX_ARCHIVE,
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
    every: float = PROGRESS_EVERY,
) -> None:
    """Make Harvest match a roster file: sync, plan, then create, update, restore and archive in
    dependency order. Never deletes; safe to re-run after an interruption.

    Given a plan saved by 'thresher plan FILE -o PLAN.json', carry out exactly that plan, and only
    if Harvest still matches what it was computed against (no question asked: it was reviewed).

    Example: thresher apply roster.yaml --yes --prune
    """
    import asyncio

    from thresher.connections import resolve
    from thresher.provision import load_roster, load_saved_plan

    store = open_store(database_url)
    resolved = resolve(store, connection, any_provider=True)
    if resolved.connection.provider == "greenhouse":
        from ._greenhouse_roster import greenhouse_apply

        greenhouse_apply(store, resolved.connection, file, prune=prune, max_archive=max_archive,
                         yes=yes, json_out=json_out)
        return
    if file.suffix.casefold() == ".json":
        if prune or max_archive is not None:
            raise typer.BadParameter("a saved plan already says what to archive", param_hint="--prune")
        saved = load_saved_plan(file)
        plan, applied = asyncio.run(
            _apply_saved(store, resolved, file, saved, json_out=json_out, every=every)
        )
    else:
        load_roster(file, store, resolved.connection.id)  # refuse a bad file before any request
        plan, applied = asyncio.run(_apply(
            store, resolved, file, prune=prune, max_archive=max_archive, yes=yes,
            json_out=json_out, every=every,
        ))
    if json_out:
        print_json({**plan.as_dict(), "applied": applied})
    elif plan:
        out.print("Applied " + ", ".join(f"{n} {k}" for k, n in sorted(applied.items())) + ".")
