"""The roster sync against the sandbox: exact mirror, incremental windows, tombstones,
resumable pages, faults, clock skew. Each conformance test runs for a Harvest and a Greenhouse
connection (``provider``, tests/providers.py); the clock-skew test reads Harvest's server time,
which Greenhouse's pages do not carry (docs/greenhouse.md §6, "Mirror and change log")."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from harvest_clients import client_for, connection_for, engine
from providers import Provider, make_provider
from thresher.harvest import AsyncHarvest
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.store import USERS_RESOURCE, Store, StoredUser, user_snapshot
from thresher.sync import RosterSync

pytestmark = pytest.mark.asyncio


def quiet_sandbox(users: int = 40, **config: object) -> Sandbox:
    return Sandbox(SandboxConfig(users=users, seed=7, rate_limit=None, **config))  # type: ignore[arg-type]


async def harvest_truth(client: AsyncHarvest) -> dict[int, dict[str, object]]:
    """Every user as Harvest (the sandbox) has it now, read independently of the store."""
    return {u.id: user_snapshot(u) async for u in client.list_users()}


def ordinary(store: Store, connection_id: int) -> list[StoredUser]:
    """Active users who are not administrators (Harvest's ``administrator``, Greenhouse's Site
    Admin, among them the connection's own user)."""
    admins = {"administrator", "site_admin"}
    return [u for u in store.list_users(connection_id, active=True) if not admins & set(u.access_roles)]


# -- conformance: the same tests for a Harvest and a Greenhouse connection (tests/providers.py) --


async def test_first_sync_mirrors_every_user_exactly(provider: Provider) -> None:
    store, conn = provider.store, provider.connection
    async with provider.client() as client:
        report = await provider.engine(client).run()
        truth = await provider.truth(client)
        assert report.kind == "full"
        assert store.snapshot_users(conn.id) == truth
        assert report.events["created"] == len(truth) >= 30
        # Archived (deactivated) users are part of the mirror (Nango's template filters them out).
        inactive = sum(1 for u in truth.values() if not u["is_active"])
        assert inactive > 0
        assert store.count_users(conn.id, active=False) == inactive
        # A second full listing reads again and records nothing.
        assert (await provider.engine(client).run(full=True)).changes == 0


async def test_incremental_sync_reads_only_changes_with_one_request_per_resource(
    provider: Provider,
) -> None:
    store, conn = provider.store, provider.connection
    async with provider.client() as client:
        sync = provider.engine(client)
        first = await sync.run()

        before = provider.requests()
        idle = await sync.run()
        assert idle.kind == "incremental"
        # One users page (and for Harvest one roles page); Greenhouse reuses its token.
        assert provider.requests() - before == provider.idle_requests
        assert idle.changes == 0

        members = ordinary(store, conn.id)
        await provider.archive(client, members[0].harvest_id)
        await provider.update(client, members[1].harvest_id, first_name="Renamed")
        created = await provider.create(client, "New", "Person", "new.person@example.com")
        changed = await sync.run()
        assert changed.kind == "incremental"
        assert changed.users_seen < first.users_seen  # a window, not a full listing
        assert changed.events == Counter({"archived": 1, "updated": 1, "created": 1})
        events = store.list_events(conn.id, kind="updated")
        assert events[-1].harvest_id == members[1].harvest_id
        assert events[-1].changes["first_name"]["after"] == "Renamed"
        assert store.get_user(conn.id, created) is not None
        assert store.snapshot_users(conn.id) == await provider.truth(client)


async def test_overlapping_windows_never_repeat_an_event(provider: Provider) -> None:
    store, conn = provider.store, provider.connection
    async with provider.client() as client:
        sync = provider.engine(client, overlap=dt.timedelta(hours=24))
        await sync.run()
        await provider.update(client, ordinary(store, conn.id)[3].harvest_id, last_name="Once")
        first = await sync.run()
        second = await sync.run()
        assert first.changes == 1
        assert second.users_seen >= 1  # the day-long overlap re-read the change...
        assert second.changes == 0  # ...and recorded nothing twice
        assert len(store.list_events(conn.id, kind="updated")) == 1


async def test_full_sync_turns_users_deleted_in_harvest_into_tombstones(provider: Provider) -> None:
    store, conn = provider.store, provider.connection
    async with provider.client() as client:
        sync = provider.engine(client)
        await sync.run()
        fresh = await provider.create(client, "Short", "Stay", "short.stay@example.com")
        await sync.run()
        await provider.delete(client, fresh)

        incremental = await sync.run()
        assert incremental.kind == "incremental"
        assert store.get_user(conn.id, fresh) is not None  # a deletion leaves no trace in a window

        full = await sync.run(full=True)
        assert full.events["deleted"] == 1
        assert store.get_user(conn.id, fresh) is None
        tomb = store.get_user(conn.id, fresh, include_deleted=True)
        assert tomb is not None
        assert tomb.deleted_at is not None
        assert store.snapshot_users(conn.id) == await provider.truth(client)


async def test_reconciliation_runs_by_itself_when_due(provider: Provider) -> None:
    async with provider.client() as client:
        await provider.engine(client).run()
        assert (await provider.engine(client).run()).kind == "incremental"
        due = provider.engine(client, reconcile_every=dt.timedelta(0))
        assert (await due.run()).kind == "full"


async def test_a_failed_run_resumes_from_its_last_committed_page(provider_name: str, store: Store) -> None:
    provider = make_provider(provider_name, store, users=60)
    conn = provider.connection
    transport = provider.transport()
    transport.fail(after=2)
    async with provider.client(transport, retry=False) as client:
        sync = provider.engine(client, per_page=20)
        with pytest.raises(provider.server_error):
            await sync.run()
        state = store.get_sync_state(conn.id, USERS_RESOURCE)
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
        truth = await provider.truth(client)
        assert store.snapshot_users(conn.id) == truth
        created = store.list_events(conn.id, kind="created", resource="user")
        assert len(created) == len(truth) == len({e.harvest_id for e in created})


# -- Harvest only ------------------------------------------------------------------------------


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
