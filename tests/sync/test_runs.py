"""Runs that tell the truth: the sync lease (busy, waiting, a dead holder, a takeover mid-run), a
resumed run that catches up, ``full`` over a saved incremental listing, and a resumable
teammates phase. In-process, against the sandbox; the subprocess versions are in
test_concurrent_runs.py and test_faults_and_crashes.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
import sys

import pytest

from harvest_clients import client_for, connection_for, engine
from sync.faulty import Faulty, faulty_client
from thresher.harvest import AsyncHarvest, ServerError, UserCreate
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import LeaseHolder, Store, StoredConnection, user_snapshot
from thresher.sync import SyncBusyError, SyncSupersededError

pytestmark = pytest.mark.asyncio


def quiet_sandbox(users: int = 60) -> Sandbox:
    return Sandbox(SandboxConfig(users=users, seed=7, rate_limit=None))


async def harvest_truth(client: AsyncHarvest) -> dict[int, dict[str, object]]:
    return {u.id: user_snapshot(u) async for u in client.list_users()}


async def harvest_teammates(client: AsyncHarvest) -> dict[int, list[int]]:
    managers = [u.id async for u in client.list_users() if u.is_people_manager]
    return {m: sorted([t.id async for t in client.list_teammates(m)]) for m in managers}


def mirror_teammates(store: Store, conn: StoredConnection) -> dict[int, list[int]]:
    managers = store.list_users(conn.id, access_role="people_manager")
    return {m.harvest_id: sorted(store.get_teammates(conn.id, m.harvest_id)) for m in managers}


# -- the lease ------------------------------------------------------------------------------


async def test_a_held_lease_makes_the_run_busy_naming_the_holder(store: Store) -> None:
    sandbox = quiet_sandbox(users=10)
    conn = connection_for(store, sandbox)
    other = store.acquire_lease(conn.id, "sync", LeaseHolder(pid=4242, host="elsewhere"), ttl=600)
    async with client_for(sandbox) as client:
        sync = engine(store, client, conn, lease_poll=0.02)
        with pytest.raises(SyncBusyError) as busy:
            await sync.run()
        assert re.fullmatch(
            r"another sync of 'sandbox' is running \(pid 4242 on elsewhere, since \d\d:\d\d:\d\d\)",
            str(busy.value),
        )
        assert busy.value.exit_code == 75
        assert busy.value.hint
        with pytest.raises(SyncBusyError, match="gave up after waiting"):
            await sync.run(wait=True, wait_timeout=0.1)
        assert store.count_users(conn.id) == 0  # a busy run reads and writes nothing

        # A waiting run starts once the holder lets go.
        waiting = asyncio.create_task(sync.run(wait=True, wait_timeout=60))
        store.release_lease(other)
        report = await waiting
        assert report.kind == "full"
        assert store.snapshot_users(conn.id) == await harvest_truth(client)
        lease = store.get_lease(conn.id, "sync")
        assert lease is not None
        assert lease.token == other.token + 1
        assert lease.expires_at <= lease.acquired_at  # released at the end


async def test_a_lease_whose_holder_process_died_here_is_taken_over_at_once(store: Store) -> None:
    sandbox = quiet_sandbox(users=10)
    conn = connection_for(store, sandbox)
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()  # reaped: its pid names no process now
    store.acquire_lease(conn.id, "sync", LeaseHolder(pid=gone.pid, host=socket.gethostname()), ttl=600)
    async with client_for(sandbox) as client:
        report = await engine(store, client, conn).run()
        assert report.kind == "full"
        assert store.count_users(conn.id) == 10


async def test_a_run_whose_lease_was_taken_over_stops_and_writes_nothing_more(store: Store) -> None:
    sandbox = quiet_sandbox(users=60)
    conn = connection_for(store, sandbox)
    async with client_for(sandbox) as client:
        sync = engine(store, client, conn, per_page=20)

        def take_over(stage: str, done: int, total: int | None) -> None:
            # After the first page committed: this run "stalled past its expiry" and another
            # took the lease over.
            if stage == "users" and done == 20:
                held = store.get_lease(conn.id, "sync")
                assert held is not None
                store.renew_lease(held, ttl=-1)
                store.acquire_lease(conn.id, "sync", LeaseHolder(), ttl=600)

        expected = r"superseded by another sync; nothing after page 1 was written"
        with pytest.raises(SyncSupersededError, match=expected):
            await sync.run(progress=take_over)
        assert store.count_users(conn.id) == 20
        state = store.get_sync_state(conn.id, "users")
        assert state.in_progress  # the run that took over resumes from page 2
        lease = store.get_lease(conn.id, "sync")
        assert lease is not None
        assert lease.expires_at > lease.acquired_at  # the new holder's lease was left alone


# -- resumed and full runs --------------------------------------------------------------------


async def test_a_resumed_run_catches_up_with_users_created_after_the_first_run_started(
    store: Store,
) -> None:
    sandbox = quiet_sandbox(users=60)
    conn = connection_for(store, sandbox)
    transport = Faulty(sandbox)
    async with faulty_client(sandbox, transport) as client, client_for(sandbox) as admin:
        sync = engine(store, client, conn, per_page=20)
        transport.fail("users", after=2)
        with pytest.raises(ServerError):
            await sync.run()
        assert store.get_sync_state(conn.id, "users").in_progress
        # Made after the interrupted listing started: the rest of its cursor never shows it.
        late = await admin.create_user(
            UserCreate(first_name="Late", last_name="Comer", email="late@example.com")
        )
        changed = store.list_users(conn.id)[0]
        await admin.update_user(changed.harvest_id, {"last_name": "Changed"})

        transport.heal()
        report = await sync.run()
        assert report.resumed
        assert report.caught_up
        assert report.kind == "full"
        assert report.as_dict()["resumed"] is True
        assert report.as_dict()["caught_up"] is True
        assert store.get_user(conn.id, late.id) is not None
        assert store.snapshot_users(conn.id) == await harvest_truth(admin)
        assert not store.get_sync_state(conn.id, "users").in_progress


async def test_full_discards_a_saved_incremental_listing_and_reconciles(store: Store) -> None:
    sandbox = quiet_sandbox(users=60)
    conn = connection_for(store, sandbox)
    transport = Faulty(sandbox)
    async with faulty_client(sandbox, transport) as client, client_for(sandbox) as admin:
        doomed = await admin.create_user(
            UserCreate(first_name="Soon", last_name="Gone", email="gone@example.com")
        )
        # Ten years of overlap: the incremental window re-reads everyone, over several pages.
        sync = engine(store, client, conn, per_page=20, overlap=dt.timedelta(days=3650))
        await sync.run()
        transport.fail("users", after=1)
        with pytest.raises(ServerError):
            await sync.run()
        state = store.get_sync_state(conn.id, "users")
        assert state.in_progress
        assert state.run_kind == "incremental"

        await admin.delete_user(doomed.id)
        transport.heal()
        report = await sync.run(full=True)
        assert report.kind == "full"
        assert not report.resumed
        assert report.events["deleted"] == 1
        assert store.get_user(conn.id, doomed.id) is None
        assert store.snapshot_users(conn.id) == await harvest_truth(admin)


async def test_full_resumes_a_saved_full_listing(store: Store) -> None:
    sandbox = quiet_sandbox(users=60)
    conn = connection_for(store, sandbox)
    transport = Faulty(sandbox)
    async with faulty_client(sandbox, transport) as client:
        sync = engine(store, client, conn, per_page=20)
        transport.fail("users", after=2)
        with pytest.raises(ServerError):
            await sync.run()
        transport.heal()
        report = await sync.run(full=True)
        assert report.resumed
        assert report.kind == "full"
        created = store.list_events(conn.id, kind="created", resource="user")
        assert len(created) == 60 == len({e.harvest_id for e in created})


# -- teammates ----------------------------------------------------------------------------------


async def test_an_interrupted_teammates_phase_resumes_with_exactly_the_lists_pending(
    store: Store,
) -> None:
    sandbox = Sandbox(SandboxConfig(users=240, seed=5, rate_limit=None))
    conn = connection_for(store, sandbox)
    transport = Faulty(sandbox)
    async with faulty_client(sandbox, transport) as client, client_for(sandbox) as admin:
        truth = await harvest_teammates(admin)
        assert len(truth) > 10
        transport.fail("teammates", after=5)
        with pytest.raises(ServerError):
            await engine(store, client, conn, teammate_concurrency=3).run()
        pending = store.get_sync_state(conn.id, "users").pending_teammates
        read = {m for m, ids in mirror_teammates(store, conn).items() if ids}
        assert pending
        assert pending == set(truth) - read  # every list either committed or still pending

        # Turned off, the phase leaves them pending, and the report says so.
        transport.heal()
        idle = await engine(store, client, conn, teammates="off").run()
        assert idle.pending_teammates == len(pending)

        report = await engine(store, client, conn).run()
        assert report.kind == "incremental"
        assert report.teammate_lists == len(pending)
        assert report.pending_teammates == 0
        assert report.events["teammates_changed"] == len(pending)
        assert mirror_teammates(store, conn) == truth
        assert not store.get_sync_state(conn.id, "users").pending_teammates


async def test_a_changed_teammate_list_is_reread_by_an_incremental_run(store: Store) -> None:
    sandbox = Sandbox(SandboxConfig(users=60, seed=5, rate_limit=None))
    conn = connection_for(store, sandbox)
    async with client_for(sandbox) as client:
        sync = engine(store, client, conn)
        await sync.run()
        truth = await harvest_teammates(client)
        manager, teammates = next(iter(truth.items()))
        await client.set_teammates(manager, teammates[:1])
        report = await sync.run()
        assert report.kind == "incremental"
        assert report.teammate_lists == 1
        assert report.events["teammates_changed"] == 1
        assert mirror_teammates(store, conn) == await harvest_teammates(client)
