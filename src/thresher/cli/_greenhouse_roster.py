"""``thresher plan`` and ``thresher apply`` on a Greenhouse Recruiting connection: the roster with
Greenhouse's column set (``thresher.provision.GREENHOUSE_COLUMNS``; docs/greenhouse.md §6).

``_roster.py`` hands a Greenhouse connection over here right after resolving it. Saved plans
work as Harvest's (``thresher.provision`` ``save_plan``, ``check_saved_plan``, with Greenhouse's
``PlanBasis``): ``plan FILE -o PLAN.json`` records the plan and what it was computed against;
``apply PLAN.json`` syncs the mirror, refuses the whole plan if Greenhouse moved meanwhile
(``PlanStaleError``, exit 1, nothing written), and otherwise carries out exactly that plan
without asking again (it was reviewed).
"""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._console import err_console, escape, out, print_json

if TYPE_CHECKING:
    from thresher.greenhouse import AsyncGreenhouse
    from thresher.provision import Plan
    from thresher.store import Store, StoredConnection

__all__ = ["greenhouse_apply", "greenhouse_plan"]


def _summary(plan: Plan) -> str:
    if not plan:
        return "No changes: Greenhouse already matches the file."
    counts = ", ".join(f"{n} {k}" for k, n in sorted(plan.counts().items()))
    return f"{len(plan.changes)} change(s): {counts}. Creates send no invitation email."


def _cell(value: object) -> str:
    return "—" if value is None else str(value)


def _show(plan: Plan, json_out: bool) -> None:
    from rich.table import Table

    if json_out:
        print_json({**plan.as_dict(), "provider": "greenhouse"})
        return
    if plan:
        table = Table("action")
        table.add_column("who", overflow="fold")
        table.add_column("changes", overflow="fold")
        for change in plan.changes:
            parts = [
                f"{key}: {_cell(after)}"
                if change.action == "create"
                else f"{key}: {_cell(before)} → {_cell(after)}"
                for key, (before, after) in change.diffs.items()
            ]
            table.add_row(change.action, escape(change.email), escape("; ".join(parts)))
        out.print(table)
    for warning in plan.warnings:
        err_console.print(f"[yellow]Warning:[/] {escape(warning)}")
    out.print(_summary(plan))


async def _fresh_plan(
    client: AsyncGreenhouse,
    store: Store,
    connection: StoredConnection,
    file: Path,
    *,
    prune: bool,
    max_archive: int | None,
    refresh: bool,
) -> Plan:
    from thresher.provision import load_greenhouse_roster, make_greenhouse_plan
    from thresher.sync import GreenhouseSync, SyncOptions

    rows = load_greenhouse_roster(file)
    if refresh:
        # Incremental when the mirror has a mark: an interrupted apply's writes are seen.
        await GreenhouseSync(store, client, connection, SyncOptions()).run()
    own = int(connection.sub) if connection.sub and connection.sub.isdigit() else None
    return make_greenhouse_plan(
        store, connection.id, rows, prune=prune, own_user_id=own, max_archive=max_archive
    )


def greenhouse_plan(
    store: Store,
    connection: StoredConnection,
    file: Path,
    *,
    prune: bool,
    max_archive: int | None,
    refresh: bool | None,
    output: Path | None,
    json_out: bool,
) -> Plan:
    from thresher.connections import open_greenhouse
    from thresher.provision import load_greenhouse_roster, save_plan

    load_greenhouse_roster(file)  # a bad file costs no request

    async def go() -> Plan:
        async with open_greenhouse(store, connection) as client:
            return await _fresh_plan(
                client,
                store,
                connection,
                file,
                prune=prune,
                max_archive=max_archive,
                refresh=refresh is not False,
            )

    plan = asyncio.run(go())
    _show(plan, json_out)
    if output is not None:
        save_plan(output, plan, store, connection, source=str(file))
        shown = escape(str(output))
        err_console.print(f"Saved the plan to {shown}; carry it out with: thresher apply {shown}")
    return plan


def _apply_saved(store: Store, connection: StoredConnection, path: Path, *, json_out: bool) -> None:
    """``apply PLAN.json``: exactly the saved plan, only while Greenhouse still matches it."""
    from thresher.connections import open_greenhouse
    from thresher.provision import apply_greenhouse_plan, check_saved_plan, load_saved_plan
    from thresher.sync import GreenhouseSync, SyncOptions

    saved = load_saved_plan(path)

    async def go() -> dict[str, int]:
        async with open_greenhouse(store, connection) as client:
            # The mirror must show Greenhouse as it is now before the plan is compared with it.
            await GreenhouseSync(store, client, connection, SyncOptions()).run()
            check_saved_plan(store, connection, saved, str(path))
            if not json_out:
                _show(saved.plan, False)
            if not saved.plan:
                return {}
            return await apply_greenhouse_plan(client, store, connection, saved.plan)

    applied = asyncio.run(go())
    if json_out:
        print_json({**saved.plan.as_dict(), "provider": "greenhouse", "applied": applied})
    elif saved.plan:
        out.print("Applied " + ", ".join(f"{n} {k}" for k, n in sorted(applied.items())) + ".")


def greenhouse_apply(
    store: Store,
    connection: StoredConnection,
    file: Path,
    *,
    prune: bool,
    max_archive: int | None,
    yes: bool,
    json_out: bool,
) -> None:
    from thresher._errors import ThresherError
    from thresher.provision import apply_greenhouse_plan

    if file.suffix.casefold() == ".json":
        if prune or max_archive is not None:
            raise typer.BadParameter("a saved plan already says what to deactivate", param_hint="--prune")
        _apply_saved(store, connection, file, json_out=json_out)
        return

    from thresher.connections import open_greenhouse
    from thresher.provision import load_greenhouse_roster

    load_greenhouse_roster(file)  # a bad file costs no request

    async def go() -> tuple[Plan, dict[str, int]]:
        async with open_greenhouse(store, connection) as client:
            plan = await _fresh_plan(
                client, store, connection, file, prune=prune, max_archive=max_archive, refresh=True
            )
            if not json_out:
                _show(plan, False)
            if not plan:
                return plan, {}
            if not yes:
                if not sys.stdin.isatty():
                    raise ThresherError(
                        "apply needs confirmation", hint="Review 'thresher plan FILE', then pass --yes."
                    )
                if not await asyncio.to_thread(typer.confirm, "Apply these changes?"):
                    raise typer.Abort()
            return plan, await apply_greenhouse_plan(client, store, connection, plan)

    plan, applied = asyncio.run(go())
    if json_out:
        print_json({**plan.as_dict(), "provider": "greenhouse", "applied": applied})
    elif plan:
        out.print("Applied " + ", ".join(f"{n} {k}" for k, n in sorted(applied.items())) + ".")
