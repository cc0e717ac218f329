"""``thresher plan`` and ``thresher apply``: make Harvest match a declarative roster file."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from thresher._errors import ThresherError
from thresher.connections import ResolvedConnection, open_client, resolve
from thresher.provision import Plan, WriteThrough, apply_plan, load_roster, make_plan
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions

from ._console import err_console, out, print_json
from ._options import CONNECTION, DATABASE_URL, JSON
from ._plumbing import open_store, own_user_id

__all__ = ["apply_command", "plan_command"]

ROSTER = typer.Argument(..., help="Roster file (.csv, .yaml or .yml).")


def _plan_table(plan: Plan) -> Table:
    table = Table("action", "who", "changes")
    for change in plan.changes:
        parts = []
        for key, (before, after) in change.diffs.items():
            b, a = _fmt(before), _fmt(after)
            parts.append(f"{key}: {a}" if change.action == "create" else f"{key}: {b} → {a}")
        table.add_row(change.action, escape(change.email), escape("; ".join(parts)))
    return table


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


def _show_plan(plan: Plan, json_out: bool) -> None:
    if json_out:
        print_json(plan.as_dict())
        return
    if plan:
        out.print(_plan_table(plan))
    for warning in plan.warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}")
    out.print(_summary(plan))


def plan_command(
    file: Path = ROSTER,
    prune: bool = typer.Option(False, "--prune", help="Also archive active users missing from the file."),
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Show what 'apply' would change, computed from the roster mirror (no Harvest request).

    Columns: email, first_name, last_name, access_roles, roles, weekly_capacity_hours, timezone,
    is_contractor, manager_email, billable_rate, cost_rate, active. Blank cells are left alone.

    Example: thresher plan roster.csv --prune
    """
    store = open_store(database_url)
    resolved = resolve(store, connection)
    conn_id = resolved.connection.id
    rows = load_roster(file, store, conn_id)
    _show_plan(make_plan(store, conn_id, rows, prune=prune, own_user_id=resolved.own_user_id), json_out)


async def _apply(
    store: Store, resolved: ResolvedConnection, file: Path, *, prune: bool, yes: bool, json_out: bool,
) -> tuple[Plan, dict[str, int]]:
    conn = resolved.connection
    async with open_client(store, resolved) as client:
        writes = WriteThrough(client, store, conn)
        # Re-plan from a fresh sync: an interrupted apply's writes are seen, never repeated.
        await RosterSync(store, client, conn, SyncOptions()).run()
        me = await own_user_id(writes, resolved)
        rows = load_roster(file, store, conn.id)
        plan = make_plan(store, conn.id, rows, prune=prune, own_user_id=me)
        if not json_out:
            _show_plan(plan, False)
        if not plan:
            return plan, {}
        if not yes:
            if not sys.stdin.isatty():
                raise ThresherError(
                    "apply needs confirmation", hint="Review 'thresher plan FILE', then pass --yes."
                )
            if not await asyncio.to_thread(typer.confirm, "Apply these changes?"):
                raise typer.Abort()
        with Progress(
            TextColumn("[bold]Applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, transient=True, disable=json_out or not err_console.is_terminal,
        ) as bar:
            task = bar.add_task("apply", total=len(plan.changes))
            applied = await apply_plan(
                writes, plan, progress=lambda done, total: bar.update(task, completed=done)
            )
        return plan, applied


def apply_command(
    file: Path = ROSTER,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    prune: bool = typer.Option(
        False, "--prune", help="Archive active users missing from the file (never the token's own)."
    ),
    connection: str | None = CONNECTION, json_out: bool = JSON,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Make Harvest match a roster file: sync, plan, then create, update, restore and archive in
    dependency order. Never deletes; safe to re-run after an interruption.

    Example: thresher apply roster.yaml --yes --prune
    """
    store = open_store(database_url)
    resolved = resolve(store, connection)
    load_roster(file, store, resolved.connection.id)  # refuse a bad file before any request
    plan, applied = asyncio.run(
        _apply(store, resolved, file, prune=prune, yes=yes, json_out=json_out)
    )
    if json_out:
        print_json({**plan.as_dict(), "applied": applied})
    elif plan:
        out.print("Applied " + ", ".join(f"{n} {k}" for k, n in sorted(applied.items())) + ".")
