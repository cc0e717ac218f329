"""``thresher demo``: the main job, end to end, on an embedded sandbox and SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from pathlib import Path

import typer

from thresher.harvest import AsyncHarvest, HarvestSettings, UserCreate
from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions

from ._app import app
from ._console import err_console, out, print_json
from ._sync import event_dict
from ._users import roster_table, user_dict

DEMO_USER_AGENT = "thresher-demo (https://github.com/thresher/thresher)"


async def _run_demo(
    sandbox: Sandbox, api_url: str, id_url: str, store: Store, *, quiet: bool
) -> dict[str, object]:
    creds = sandbox.credentials
    settings = HarvestSettings(
        access_token=creds.admin_token,
        account_id=creds.account_id,
        user_agent=DEMO_USER_AGENT,
        base_url=api_url,
        id_url=id_url,
    )
    connection = store.add_connection("demo", account_id=creds.account_id, base_url=api_url, id_url=id_url)

    def say(text: str) -> None:
        if not quiet:
            out.print(text)

    async with AsyncHarvest(settings) as client:
        engine = RosterSync(store, client, connection, SyncOptions(overlap=dt.timedelta(seconds=5)))
        first = await engine.run()
        say(
            f"[bold]1. Full sync[/]: {first.users_seen} users in {first.requests} request(s), "
            f"{first.duration_s:.2f} s."
        )
        roster = store.list_users(connection.id)
        if not quiet:
            out.print(roster_table(roster[:15]))
            if len(roster) > 15:
                out.print(f"... and {len(roster) - 15} more.")

        # 2. Changes made in Harvest (here: the sandbox), the way an admin would make them.
        members = [u for u in roster if u.is_active and u.access_roles == ["member"]]
        leaver, renamed = members[0], members[1]
        mark = store.last_event_id(connection.id)
        await client.archive_user(leaver.harvest_id)
        await client.update_user(renamed.harvest_id, {"last_name": renamed.last_name + "-Smith"})
        joiner = await client.create_user(
            UserCreate(
                first_name="Ada",
                last_name="Lovelace",
                email="ada.lovelace@example.com",
                timezone="Europe/London",
                weekly_capacity_hours=35,
            )
        )
        say(
            f"[bold]2. Changed in Harvest[/]: archived {leaver.email}, renamed {renamed.email}, "
            f"created {joiner.email} (its invitation went to the sandbox outbox, not to a person)."
        )
        second = await engine.run()
        events = store.list_events(connection.id, since=mark)
        say(
            f"[bold]3. Incremental sync[/]: {second.users_seen} changed user(s) read in "
            f"{second.requests} request(s); change log:"
        )
        for e in events:
            fields = ", ".join(sorted(e.changes)) if e.kind == "updated" else ""
            say(f"   #{e.id} {e.kind:<9} user {e.harvest_id} {fields}")
        say(f"4. Store: {store.count_users(connection.id)} users mirrored; try 'thresher users list --help'.")
    return {
        "first_sync": first.as_dict(),
        "second_sync": second.as_dict(),
        "roster": [user_dict(u) for u in store.list_users(connection.id, include_deleted=True)],
        "events": [event_dict(e) for e in events],
    }


@app.command()
def demo(
    users: int = typer.Option(25, min=3, help="How many users the embedded sandbox is seeded with."),
    seed: int = typer.Option(1, help="Seed of the generated account (same seed, same people)."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Store URL; default: a new SQLite file in a temporary folder."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the roster and change log as JSON."),
) -> None:
    """Run thresher end to end against an embedded sandbox (no real Harvest, no email).

    Starts a local Harvest on 127.0.0.1, mirrors its roster into SQLite, makes changes in
    Harvest and shows the change log the next sync records.

    Example: thresher demo --users 50
    """
    sandbox = Sandbox(SandboxConfig(users=users, seed=seed))
    with tempfile.TemporaryDirectory(prefix="thresher-demo-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'demo.db'}"
        store = Store.open(url)
        with run_sandbox(sandbox) as running:
            if not json_out:
                out.print(
                    f"Sandbox (a local Harvest) at [bold]{running.api_url}[/], account "
                    f"{sandbox.credentials.account_id}; store {url}"
                )
            result = asyncio.run(
                _run_demo(sandbox, running.api_url, running.id_url, store, quiet=json_out)
            )
        store.close()
    if json_out:
        print_json(result)
    else:
        err_console.print(
            "Next: 'thresher sandbox serve' runs this sandbox for your own integration tests."
        )
