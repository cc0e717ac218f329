"""The roster sync against the sandbox: exact mirror, incremental windows, tombstones,
resumable pages, faults, clock skew."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from harvest_clients import client_for, connection_for, engine
from sync.faulty import Faulty, faulty_client
from thresher.harvest import AsyncHarvest, ServerError, UserCreate
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import Store, user_snapshot
from thresher.sync import RosterSync

pytestmark = pytest.mark.asyncio


def quiet_sandbox(users: int = 40, **config: object) -> Sandbox:
    return Sandbox(SandboxConfig(users=users, seed=7, rate_limit=None, **config))  # type: ignore[arg-type]


async def harvest_truth(client: AsyncHarvest) -> dict[int, dict[str, object]]:
    """Every user as Harvest (the sandbox) has it now, read independently of the store."""
    return {u.id: user_snapshot(u) async for u in client.list_users()}


async def test_first_sync_mirrors_every_user_exactly(store: Store) -> None:
    sandbox = quiet_sandbox()
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        report = await engine(store, client, conn).run()
        assert report.kind == "full"
        assert store.snapshot_users(conn.id) == await harvest_truth(client)
        assert report.events["created"] == 40
        # Archived users are part of the mirror (Nango's template filters them out).
        assert store.count_users(conn.id, active=False) == sum(
            1 for u in (await harvest_truth(client)).values() if not u["is_active"]
        )


async def test_incremental_sync_reads_only_changes_with_one_request_per_resource(
    store: Store,
) -> None:
    sandbox = quiet_sandbox()
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        sync = engine(store, client, conn)
        await sync.run()

        idle = await sync.run()
        assert idle.kind == "incremental"
        assert idle.requests == 2  # one users page, one roles page
        assert idle.changes == 0

        members = [u for u in store.list_users(conn.id, active=True) if u.access_roles == ["member"]]
        await client.archive_user(members[0].harvest_id)
        await client.update_user(members[1].harvest_id, {"first_name": "Renamed"})
        created = await client.create_user(
            UserCreate(first_name="New", last_name="Person", email="new.person@example.com")
        )
        changed = await sync.run()
        assert changed.kind == "incremental"
        assert changed.users_seen < 40  # a window, not a full listing
        assert changed.events == Counter({"archived": 1, "updated": 1, "created": 1})
        events = store.list_events(conn.id, kind="updated")
        assert events[-1].harvest_id == members[1].harvest_id
        assert events[-1].changes["first_name"]["after"] == "Renamed"
        assert store.get_user(conn.id, created.id) is not None
        assert store.snapshot_users(conn.id) == await harvest_truth(client)


async def test_overlapping_windows_never_repeat_an_event(store: Store) -> None:
    sandbox = quiet_sandbox()
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        sync = engine(store, client, conn, overlap=dt.timedelta(hours=24))
        await sync.run()
        await client.update_user(store.list_users(conn.id)[3].harvest_id, {"last_name": "Once"})
        first = await sync.run()
        second = await sync.run()
        assert first.changes == 1
        assert second.users_seen >= 1  # the day-long overlap re-read the change...
        assert second.changes == 0  # ...and recorded nothing twice
        assert len(store.list_events(conn.id, kind="updated")) == 1


async def test_full_sync_turns_users_deleted_in_harvest_into_tombstones(store: Store) -> None:
    sandbox = quiet_sandbox()
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        sync = engine(store, client, conn)
        await sync.run()
        fresh = await client.create_user(
            UserCreate(first_name="Short", last_name="Stay", email="short.stay@example.com")
        )
        await sync.run()
        await client.delete_user(fresh.id)

        incremental = await sync.run()
        assert incremental.kind == "incremental"
        assert store.get_user(conn.id, fresh.id) is not None  # a DELETE leaves no trace in a window

        full = await sync.run(full=True)
        assert full.events["deleted"] == 1
        assert store.get_user(conn.id, fresh.id) is None
        tomb = store.get_user(conn.id, fresh.id, include_deleted=True)
        assert tomb is not None
        assert tomb.deleted_at is not None
        assert store.snapshot_users(conn.id) == await harvest_truth(client)


async def test_reconciliation_runs_by_itself_when_due(store: Store) -> None:
    sandbox = quiet_sandbox(users=10)
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        await engine(store, client, conn).run()
        assert (await engine(store, client, conn).run()).kind == "incremental"
        due = engine(store, client, conn, reconcile_every=dt.timedelta(0))
        assert (await due.run()).kind == "full"


async def test_a_failed_run_resumes_from_its_last_committed_page(store: Store) -> None:
    sandbox = quiet_sandbox(users=60)
    conn = connection_for(store, sandbox)
    transport = Faulty(sandbox)
    transport.fail("users", after=2)
    async with faulty_client(sandbox, transport) as client:
        sync = engine(store, client, conn, per_page=20)
        with pytest.raises(ServerError):
            await sync.run()
        state = store.get_sync_state(conn.id, "users")
        assert state.in_progress
        assert state.resume_url is not None
        assert store.count_users(conn.id) == 40

        transport.heal()
        resumed = await sync.run()
        assert resumed.resumed
        assert resumed.caught_up
        assert resumed.kind == "full"
        # The page that was not committed, then the catch-up window from the run's start.
        assert resumed.users_seen >= 20
        assert store.snapshot_users(conn.id) == await harvest_truth(client)
        created = store.list_events(conn.id, kind="created", resource="user")
        assert len(created) == 60 == len({e.harvest_id for e in created})


@pytest.mark.parametrize("offset", [-60.0, 60.0])
async def test_no_change_is_lost_when_the_servers_clock_is_skewed(store: Store, offset: float) -> None:
    sandbox = quiet_sandbox(users=10)
    async with client_for(sandbox) as client:
        conn = connection_for(store, sandbox)
        sync: RosterSync = engine(store, client, conn, overlap=dt.timedelta(seconds=1))
        sandbox.set_clock_offset(offset)
        await sync.run()
        target = store.list_users(conn.id, active=True)[2]
        await client.update_user(target.harvest_id, {"first_name": "Skewed"})
        report = await sync.run()
        assert report.kind == "incremental"
        assert report.events["updated"] == 1
        # And when the clock jumps the other way between runs.
        sandbox.set_clock_offset(-offset)
        await client.update_user(target.harvest_id, {"first_name": "Skewed again"})
        report = await sync.run()
        assert report.events["updated"] == 1
        assert store.snapshot_users(conn.id) == await harvest_truth(client)
