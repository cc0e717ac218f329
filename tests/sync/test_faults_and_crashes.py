"""Convergence under faults (property test) and under SIGKILL (subprocess)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvest_clients import client_for, connection_for, engine
from thresher.harvest import AsyncHarvest, HarvestError, UserCreate
from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox
from thresher.store import Store, replay, user_snapshot

FAULTS = "500:0.08,502:0.04,503:0.04,drop:0.04,429burst:0.01x2"

Op = tuple[str, int]
operation = st.one_of(
    st.tuples(st.sampled_from(["create", "update", "archive", "restore", "delete"]), st.integers(0, 10**6)),
    st.tuples(st.sampled_from(["sync", "full_sync"]), st.just(0)),
)


async def _truth(client: AsyncHarvest) -> dict[int, dict[str, object]]:
    return {u.id: user_snapshot(u) async for u in client.list_users()}


async def _apply(client: AsyncHarvest, op: str, n: int, created: list[int]) -> None:
    users = [u async for u in client.list_users()]
    if op == "create":
        user = await client.create_user(
            UserCreate(first_name="Prop", last_name=f"User{n}", email=f"prop{n}.{len(created)}@example.com")
        )
        created.append(user.id)
        return
    if op == "delete":
        # Only users this test made: seeded users may have time entries (Harvest refuses, §6.4).
        alive = [i for i in created if any(u.id == i for u in users)]
        if alive:
            await client.delete_user(alive[n % len(alive)])
        return
    target = users[n % len(users)]
    if op == "update":
        if target.is_active:
            await client.update_user(target.id, {"last_name": f"Changed{n}"})
        else:
            await client.update_user(target.id, {"weekly_capacity": 3600 * (n % 40 + 1)})
    elif op == "archive" and target.is_active and "administrator" not in target.access_roles:
        await client.archive_user(target.id)
    elif op == "restore" and not target.is_active:
        await client.restore_user(target.id)


async def _scenario(ops: list[Op], db_url: str) -> None:
    sandbox = Sandbox(SandboxConfig(users=30, seed=3, rate_limit=None))
    created: list[int] = []
    with Store.open(db_url) as store:
        conn = connection_for(store, sandbox)
        async with client_for(sandbox) as client:
            sync = engine(store, client, conn, per_page=7)
            await sync.run()
            first = store.snapshot_users(conn.id)
            mark = store.last_event_id(conn.id)
            for op, n in ops:
                if op in ("sync", "full_sync"):
                    sandbox.set_faults(FAULTS)
                    try:
                        await sync.run(full=op == "full_sync")
                    except HarvestError:
                        pass  # retries ran out; the next run resumes from the last page
                    finally:
                        sandbox.set_faults(None)
                else:
                    await _apply(client, op, n, created)
            await sync.run()  # finish any interrupted run, then reconcile
            await sync.run(full=True)
            final = store.snapshot_users(conn.id)
            assert final == await _truth(client)
            events = store.list_events(conn.id, since=mark, resource="user")
            assert replay(first, events) == final


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=3, max_size=18))
def test_store_equals_harvest_after_random_changes_and_faulty_syncs(ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(ops, f"sqlite:///{Path(tmp) / 'prop.db'}"))


def _phase(db_path: Path, pid: int | None = None) -> str | None:
    """Where the sync stands, read straight from the SQLite file (cheap enough to poll, and it
    never creates the database: the sync process under test must be the one that does):
    "listing" (a resume point is saved), "teammates" (the listing is done, lists are pending) or
    None. With ``pid``, None unless that process holds the sync lease."""
    if not db_path.exists():
        return None
    con = sqlite3.connect(db_path, timeout=5)
    try:
        if pid is not None:
            lease = con.execute("SELECT pid FROM leases WHERE purpose = 'sync'").fetchone()
            if lease is None or lease[0] != pid:
                return None
        row = con.execute(
            "SELECT run_id, pending_teammates FROM sync_state WHERE resource = 'users'"
        ).fetchone()
    except sqlite3.Error:
        return None  # not created yet
    finally:
        con.close()
    if row is None:
        return None
    if row[0] is not None:
        return "listing"
    return "teammates" if row[1] not in (None, "null", "[]") else None


def _wait_for_phase(proc: subprocess.Popen[bytes], db_path: Path, phase: str) -> bool:
    """Wait (bounded) until ``proc`` holds the lease in ``phase``; False if it ended first."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if _phase(db_path, proc.pid) == phase:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow
@pytest.mark.timeout(400)  # ~24 CLI start-ups; a loaded 2-core machine makes each take seconds
def test_sigkilled_sync_converges_without_duplicate_or_missing_events(tmp_path: Path) -> None:
    """~22 runs SIGKILLed at varied moments (mid-listing, in the teammates phase, anywhere)
    while the roster and teammate lists change between runs: the next successful sync, not a
    later one, leaves the mirror exactly as Harvest, teammates included, with a change log that
    replays to it."""
    rng = random.Random(20261122)
    db_path = tmp_path / "crash.db"
    db_url = f"sqlite:///{db_path}"
    sandbox = Sandbox(SandboxConfig(users=240, seed=5, rate_limit=None, latency_ms=20))
    creds = sandbox.credentials
    with run_sandbox(sandbox) as running:
        env = {
            **os.environ,
            "HARVEST_ACCESS_TOKEN": creds.admin_token,
            "HARVEST_ACCOUNT_ID": str(creds.account_id),
            "HARVEST_USER_AGENT": "thresher-crash-test (tests@example.com)",
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "THRESHER_DATABASE_URL": db_url,
        }
        cmd = [sys.executable, "-m", "thresher", "sync", "--page-size", "12", "--json"]
        headers = {
            "Authorization": f"Bearer {creds.admin_token}",
            "Harvest-Account-Id": str(creds.account_id),
            "User-Agent": env["HARVEST_USER_AGENT"],
        }
        kills = mid_listing = in_teammates = 0
        with httpx.Client(base_url=running.api_url, headers=headers) as http:
            for round_ in range(22):
                # Harvest changes between (and during) runs.
                users = http.get("/users", params={"per_page": 2000}).json()["users"]
                target = users[rng.randrange(len(users))]
                http.patch(f"/users/{target['id']}", json={"weekly_capacity": 3600 * rng.randint(1, 40)})
                if round_ % 5 == 0:
                    http.post(
                        "/users",
                        json={
                            "first_name": "Crash",
                            "last_name": f"Test{round_}",
                            "email": f"crash{round_}@example.com",
                        },
                    )
                if round_ % 3 == 1:
                    # A new teammate list (an empty one demotes the people manager, §6.3).
                    managers = [u for u in users if "manager" in u["access_roles"]]
                    manager = managers[rng.randrange(len(managers))]
                    others = [u["id"] for u in users if u["id"] != manager["id"]]
                    picked = [] if round_ % 9 == 7 else rng.sample(others, rng.randint(1, 4))
                    http.patch(f"/users/{manager['id']}/teammates", json={"teammate_ids": picked})
                # Most rounds reconcile (a long, many-page listing); a few are incremental.
                full = [] if round_ % 4 == 3 else ["--full"]
                proc = subprocess.Popen(
                    [*cmd, *full], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                if round_ % 3 == 0 and full:
                    # In the teammates phase: after this run's listing, while lists are pending.
                    if _wait_for_phase(proc, db_path, "listing"):
                        _wait_for_phase(proc, db_path, "teammates")
                    time.sleep(rng.uniform(0.0, 0.05))
                elif round_ % 3 == 1:
                    # Mid-listing: once a page is committed, at a random later point.
                    _wait_for_phase(proc, db_path, "listing")
                    time.sleep(rng.uniform(0.0, 0.5))
                else:
                    time.sleep(rng.uniform(0.0, 2.5))  # anywhere, start-up included
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                proc.wait(timeout=30)
                phase = _phase(db_path)
                mid_listing += phase == "listing"
                in_teammates += phase == "teammates"
        assert kills >= 18, f"only {kills} runs were killed; lengthen the runs"
        assert mid_listing >= 5, f"only {mid_listing} kills landed mid-listing"
        assert in_teammates >= 3, f"only {in_teammates} kills landed in the teammates phase"

        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr

        async def truth() -> tuple[dict[int, dict[str, object]], dict[int, list[int]]]:
            async with AsyncHarvest(
                access_token=creds.admin_token,
                account_id=creds.account_id,
                user_agent=env["HARVEST_USER_AGENT"],
                base_url=running.api_url,
                id_url=running.id_url,
            ) as client:
                users = [u async for u in client.list_users()]
                teammates = {
                    u.id: sorted([t.id async for t in client.list_teammates(u.id)])
                    for u in users
                    if u.is_people_manager
                }
                return {u.id: user_snapshot(u) for u in users}, teammates

        expected_users, expected_teammates = asyncio.run(truth())
        with Store.open(db_url) as store:
            conn = store.get_connection("env")
            final = store.snapshot_users(conn.id)
            assert final == expected_users
            managers = store.list_users(conn.id, access_role="people_manager")
            assert {
                m.harvest_id: sorted(store.get_teammates(conn.id, m.harvest_id)) for m in managers
            } == expected_teammates
            # Demoted people managers keep no teammates in the mirror either (§6.3).
            for user in store.list_users(conn.id):
                if user.harvest_id not in expected_teammates:
                    assert store.get_teammates(conn.id, user.harvest_id) == []
            events = store.list_events(conn.id, resource="user")
            # Every user's history replays from nothing to exactly what the mirror holds: a
            # duplicate event (a second `created`, a repeated change) or a missing one breaks it.
            assert replay({}, events) == final
            created = [e.harvest_id for e in events if e.kind == "created"]
            assert len(created) == len(set(created))
            last = store.last_event_id(conn.id)

        # A full reconciliation now finds nothing the successful sync had missed.
        done = subprocess.run(
            [*cmd, "--full"], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        with Store.open(db_url) as store:
            assert store.last_event_id(conn.id) == last
