"""``thresher demo``: the main job, end to end, on an embedded sandbox and SQLite."""

# Heavy stacks (SQLAlchemy, pydantic models, httpx, SCIM) are imported inside the functions that
# use them, so `thresher --help` starts fast (tests/cli/test_startup.py, bench/cli_startup.py).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import datetime as dt
import shlex
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._console import err_console, out, print_json
from ._options import json_option
from ._plumbing import event_dict, roster_table, user_dict

if TYPE_CHECKING:
    from thresher.connections import ResolvedConnection
    from thresher.harvest import HarvestSettings
    from thresher.sandbox import RunningSandbox, Sandbox
    from thresher.store import Store

__all__ = ["demo"]

DEMO_USER_AGENT = "thresher-demo (https://github.com/thresher/thresher)"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#: The person the demo's identity provider provisions through the bridge.
SCIM_EMAIL = "grace.hopper@example.com"


def _settings(running: RunningSandbox) -> HarvestSettings:
    from thresher.harvest import HarvestSettings

    return HarvestSettings(
        access_token=running.sandbox.credentials.admin_token,
        account_id=running.sandbox.credentials.account_id,
        user_agent=DEMO_USER_AGENT,
        base_url=running.api_url,
        id_url=running.id_url,
    )


async def _run_demo(
    store: Store, resolved: ResolvedConnection, say: Callable[[str], None], *, quiet: bool
) -> dict[str, object]:
    from thresher.connections import open_client
    from thresher.harvest import UserCreate
    from thresher.sync import RosterSync, SyncOptions

    connection = resolved.connection
    async with open_client(store, resolved) as client:
        engine = RosterSync(store, client, connection, SyncOptions(overlap=dt.timedelta(seconds=5)))
        first = await engine.run()
        say(
            f"[bold]1. Full sync[/]: {first.users_seen} users in {first.requests} request(s), "
            f"{first.duration_s:.2f} s."
        )
        roster = store.list_users(connection.id)
        if not quiet:
            out.print(roster_table(roster[:15]), crop=False)
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
        say(f"[bold]4. Store[/]: {store.count_users(connection.id)} users mirrored.")
    return {
        "first_sync": first.as_dict(),
        "second_sync": second.as_dict(),
        "roster": [user_dict(u) for u in store.list_users(connection.id, include_deleted=True)],
        "events": [event_dict(e) for e in events],
    }


@contextlib.contextmanager
def _serve_bridge(
    store: Store, resolved: ResolvedConnection, *, port: int, keep_fresh: bool
) -> Iterator[tuple[str, str]]:
    """The SCIM bridge over the demo's connection on 127.0.0.1; yields its base URL and a token."""
    from thresher._serving import serve_in_thread
    from thresher.connections import open_client
    from thresher.provision import WriteThrough
    from thresher.scim import ScimBridge, TokenStore

    connection = resolved.connection
    tokens = TokenStore(store)
    _, token = tokens.create(
        _unused(connection.name, {t.name for t in tokens.list_tokens(include_revoked=True)})
    )
    client = open_client(store, resolved)
    bridge = ScimBridge(
        WriteThrough(client, store, connection),
        tokens,
        # While serving, incremental syncs carry changes made in the sandbox to the lookups.
        sync_client=(lambda: open_client(store, resolved)) if keep_fresh else None,
        sync_interval=5.0,
        close_client=True,
    )
    with serve_in_thread(bridge.app, "127.0.0.1", port, name="thresher-scim") as bound:
        yield f"http://127.0.0.1:{bound}/scim/v2", token


async def _scim_steps(
    scim_url: str, token: str, sandbox: Sandbox, say: Callable[[str], None]
) -> dict[str, object]:
    """What an identity provider does on assignment and unassignment, over real HTTP."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "User-Agent": "Okta SCIM Client 1.0.0"}
    async with httpx.AsyncClient(base_url=scim_url, headers=headers, timeout=30) as http:
        query: dict[str, str | int] = {"filter": f'userName eq "{SCIM_EMAIL}"', "startIndex": 1, "count": 100}
        found = (await http.get("/Users", params=query)).raise_for_status().json()
        created = (
            await http.post(
                "/Users",
                json={
                    "schemas": [SCIM_USER],
                    "userName": SCIM_EMAIL,
                    "name": {"givenName": "Grace", "familyName": "Hopper"},
                    "emails": [{"primary": True, "value": SCIM_EMAIL, "type": "work"}],
                    "externalId": "00u1grace",
                    "timezone": "America/New_York",
                    "active": True,
                },
            )
        ).raise_for_status().json()
        uid = int(created["id"])
        invitations = [i for i in sandbox.state.outbox if i.user_id == uid]
        say(
            f"[bold]5. SCIM bridge[/] at {scim_url}: an identity provider looked up {SCIM_EMAIL} "
            f"({found['totalResults']} found, answered from the mirror), created it (201, Harvest id "
            f"{uid}, {len(invitations)} invitation in the outbox, timezone "
            f"{sandbox.state.users[uid].timezone!r} in Harvest)."
        )
        deactivate = {"schemas": [SCIM_PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
        (await http.patch(f"/Users/{uid}", json=deactivate)).raise_for_status()
        archived = not sandbox.state.users[uid].is_active
        say(
            "   Then unassigned it: PATCH active=false; in Harvest the user is now "
            + ("archived, their time kept." if archived else "STILL ACTIVE (unexpected).")
        )
    return {
        "scim_url": scim_url,
        "created": created,
        "invitations": len(invitations),
        "archived_in_harvest": archived,
    }


def _unused(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... when an earlier demo left its connection and token
    in a store the user gave with --database-url (each run's sandbox is a new account)."""
    return next(n for n in (name, *(f"{name}-{i}" for i in range(2, 10_000))) if n not in taken)


def _curl(scim_url: str, token: str) -> str:
    query = urllib.parse.quote(f'userName eq "{SCIM_EMAIL}"')
    return (
        f"curl -s -H {shlex.quote('Authorization: Bearer ' + token)} "
        f"{shlex.quote(f'{scim_url}/Users?filter={query}')}"
    )


def demo(
    users: int = typer.Option(25, min=3, help="How many users the embedded sandbox is seeded with."),
    seed: int = typer.Option(1, help="Seed of the generated account (same seed, same people)."),
    # Not the shared --database-url: the demo never touches THRESHER_DATABASE_URL's store unasked.
    database_url: str | None = typer.Option(
        None, "--database-url", help="Store URL; default: a new SQLite file in a temporary folder."
    ),
    serve: bool = typer.Option(
        False, "--serve",
        help="Then run the whole service (dashboard, SCIM, API, metrics) on the sandbox until Ctrl-C, "
        "and print the dashboard's URL and a one-time admin login.",
    ),
    scim_port: int = typer.Option(
        0, "--scim-port", min=0, max=65535, help="Port of the demo's SCIM bridge (0: a free one)."
    ),
    json_out: bool = json_option("the roster, change log and SCIM result"),
) -> None:
    """Run thresher end to end against an embedded sandbox (no real Harvest, no email).

    Starts a local Harvest on 127.0.0.1, mirrors its roster into SQLite, makes changes in
    Harvest and shows the change log the next sync records, then serves the SCIM 2.0 bridge and
    provisions and deprovisions a person through it the way an identity provider would. Prints a
    bridge token and a curl command to try; --serve keeps everything running for that.

    Example: thresher demo --users 50 --serve
    """
    import asyncio

    from thresher.connections import save_connection
    from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox
    from thresher.store import Store

    def say(text: str) -> None:
        if not json_out:
            out.print(text)

    sandbox = Sandbox(SandboxConfig(users=users, seed=seed))
    with tempfile.TemporaryDirectory(prefix="thresher-demo-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'demo.db'}"
        store = Store.open(url)
        try:
            with run_sandbox(sandbox) as running:
                say(
                    f"Sandbox (a local Harvest) at [bold]{running.api_url}[/], account "
                    f"{sandbox.credentials.account_id}; store {url}"
                )
                # The sandbox's token dies with it: the connection is recorded without credentials.
                resolved = save_connection(
                    store, _unused("demo", {c.name for c in store.list_connections()}),
                    _settings(running),
                )
                result = asyncio.run(_run_demo(store, resolved, say, quiet=json_out))
                # With --serve, the whole service (below) keeps the mirror fresh instead.
                with _serve_bridge(store, resolved, port=scim_port, keep_fresh=False) as (
                    scim_url,
                    token,
                ):
                    result["scim"] = asyncio.run(_scim_steps(scim_url, token, sandbox, say))
                    result["scim_token"] = token
                    curl = _curl(scim_url, token)
                    if json_out:
                        print_json(result)
                    else:
                        out.print("[bold]Try the bridge[/] (demo token, valid while the demo runs):")
                        out.print(curl, markup=False, highlight=False, soft_wrap=True)
                    if serve:
                        _serve_until_ctrl_c(store, resolved, running, scim_url)
        finally:
            store.close()
    if not json_out and not serve:
        err_console.print(
            "Next: 'thresher demo --serve' keeps the sandbox and bridge up to try that command; "
            "'thresher sandbox serve' runs the sandbox for your own integration tests."
        )


@contextlib.contextmanager
def _serve_service(
    store: Store, resolved: ResolvedConnection
) -> Iterator[tuple[str, str, str, str | None]]:
    """``thresher serve`` on the demo's store and sandbox: yields its URL, a one-time admin and
    a demo MCP token (None if the MCP server is off)."""
    from thresher._serving import serve_in_thread
    from thresher.mcp import McpTokens
    from thresher.serve import ServeSettings, Service

    settings = ServeSettings(host="127.0.0.1", port=0, sync={"interval": 5})
    service = Service(settings, store, resolved={resolved.connection.name: resolved})
    username, password = service.auth.one_time_admin()
    mcp_token = None
    if any(c.name == "mcp" for c in service.components):
        _, mcp_token = McpTokens(store).create("demo-agent")
    with serve_in_thread(service.app, "127.0.0.1", 0, name="thresher-serve") as port:
        yield f"http://127.0.0.1:{port}", username, password, mcp_token


def _serve_until_ctrl_c(
    store: Store, resolved: ResolvedConnection, running: RunningSandbox, scim_url: str
) -> None:
    # Ctrl-C may come while the service still starts: that is a stop as well, not an error.
    try:
        with _serve_service(store, resolved) as (url, username, password, mcp_token):
            err_console.print(
                f"Dashboard: [bold]{url}/[/] (sign in as [bold]{username}[/] with "
                f"password [bold]{password}[/]: a one-time demo admin); status API "
                f"{url}/api/v1/status, metrics {url}/metrics.",
                soft_wrap=True,
            )
            if mcp_token is not None:
                err_console.print(
                    f"MCP server: {url}/mcp (streamable HTTP; demo token {mcp_token})",
                    soft_wrap=True, markup=False, highlight=False,
                )
            _wait_for_ctrl_c(running, f"{url}/scim/v2 (and {scim_url})")
    except KeyboardInterrupt:
        err_console.print("Stopped.")


def _wait_for_ctrl_c(running: RunningSandbox, scim_url: str) -> None:
    creds = running.sandbox.credentials
    err_console.print(
        f"Serving until Ctrl-C: SCIM bridge {scim_url}; Harvest sandbox with "
        f"HARVEST_BASE_URL={running.api_url} HARVEST_ID_URL={running.id_url} "
        f"HARVEST_ACCOUNT_ID={creds.account_id} (admin token: 'thresher sandbox serve' prints one)."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        err_console.print("Stopped.")
