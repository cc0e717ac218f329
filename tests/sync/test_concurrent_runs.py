"""Several ``thresher sync`` processes on one store, on SQLite and PostgreSQL: concurrent full
runs never tombstone a live user (one runs, the others exit 75 or wait), and a run paused past
its lease's expiry (SIGSTOP) is superseded and writes nothing when it wakes up (SIGCONT).

Everything synchronises on observable state (the store's sync state and lease rows), never on
sleeps; each wait is bounded by a generous deadline."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from thresher.harvest import AsyncHarvest
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.store import Store, StoredConnection, user_snapshot

UA = "thresher-concurrency-tests (tests@example.com)"
BUSY = "another sync of 'env' is running (pid "
TIMEOUT = 90


@dataclasses.dataclass
class Site:
    running: RunningSandbox
    database_url: str
    env: dict[str, str]
    connection: StoredConnection

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "thresher", "sync", "--json", *args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def client(self) -> AsyncHarvest:
        creds = self.running.sandbox.credentials
        return AsyncHarvest(
            access_token=creds.admin_token, account_id=creds.account_id, user_agent=UA,
            base_url=self.running.api_url, id_url=self.running.id_url,
        )

    def truth(self) -> tuple[dict[int, dict[str, Any]], dict[int, list[int]]]:
        async def read() -> tuple[dict[int, dict[str, Any]], dict[int, list[int]]]:
            async with self.client() as client:
                users = [u async for u in client.list_users()]
                teammates = {
                    u.id: sorted([t.id async for t in client.list_teammates(u.id)])
                    for u in users
                    if u.is_people_manager
                }
                return {u.id: user_snapshot(u) for u in users}, teammates

        return asyncio.run(read())

    def mirror(self, store: Store) -> tuple[dict[int, dict[str, Any]], dict[int, list[int]]]:
        cid = self.connection.id
        managers = store.list_users(cid, access_role="people_manager")
        teammates = {m.harvest_id: sorted(store.get_teammates(cid, m.harvest_id)) for m in managers}
        return store.snapshot_users(cid), teammates


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    sandbox = Sandbox(SandboxConfig(users=240, seed=5, rate_limit=None, latency_ms=40))
    creds = sandbox.credentials
    with run_sandbox(sandbox) as running:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "THRESHER_"))}
        env = {
            **inherited,
            "HARVEST_ACCESS_TOKEN": creds.admin_token,
            "HARVEST_ACCOUNT_ID": str(creds.account_id),
            "HARVEST_USER_AGENT": UA,
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "THRESHER_DATABASE_URL": database_url,
        }
        # The `env` connection exists (as after any earlier command); its first sync is the race.
        with Store.open(database_url) as store:
            conn = store.add_connection(
                "env", account_id=creds.account_id, base_url=running.api_url, id_url=running.id_url
            )
        yield Site(running, database_url, env, conn)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


def test_concurrent_full_syncs_leave_an_exact_mirror_and_delete_nobody(site: Site) -> None:
    rounds = [
        [["--full", "--page-size", "20"]] * 2,
        [["--full", "--page-size", "20"]] * 2 + [["--full", "--page-size", "20", "--wait"]] * 2,
    ]
    for runs in rounds:
        procs = [site.popen(*args) for args in runs]
        results = [_finish(p) for p in procs]
        for args, (code, out, err) in zip(runs, results, strict=True):
            assert code in (0, 75), err
            if code == 75:
                assert "--wait" not in args
                assert BUSY in err, err
            else:
                report = json.loads(out)
                assert report["kind"] == "full"
                assert report["caught_up"] is True
        assert any(code == 0 for code, _, _ in results)
    with Store.open(site.database_url) as store:
        assert site.mirror(store) == site.truth()
        assert store.list_events(site.connection.id, kind="deleted") == []
        created = store.list_events(site.connection.id, kind="created", resource="user")
        assert len(created) == 240 == len({e.harvest_id for e in created})


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def _lock_probe(database_url: str, connection_id: int) -> Iterator[Callable[[], bool]]:
    """Whether some process holds a write transaction open on the store right now (a process
    stopped inside one would block every other writer)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":

        def sqlite_locked() -> bool:
            con = sqlite3.connect(str(url.database), timeout=0.05, isolation_level=None)
            try:
                con.execute("BEGIN IMMEDIATE")
                con.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                con.close()

        yield sqlite_locked
        return
    engine = create_engine(url)

    def postgres_locked() -> bool:
        # Every transaction of a sync run locks its lease row first (the fencing check).
        try:
            with engine.begin() as conn:
                conn.execute(
                    text("SELECT 1 FROM leases WHERE connection_id = :c FOR UPDATE NOWAIT"),
                    {"c": connection_id},
                )
            return False
        except sa_exc.OperationalError:
            return True

    try:
        yield postgres_locked
    finally:
        engine.dispose()


def test_a_run_paused_past_its_lease_is_superseded_and_writes_nothing_after(site: Site) -> None:
    cid = site.connection.id
    with Store.open(site.database_url) as store, _lock_probe(site.database_url, cid) as locked:

        def holds_lease_mid_listing(pid: int) -> bool:
            lease = store.get_lease(cid, "sync")
            state = store.get_sync_state(cid, "users")
            return lease is not None and lease.pid == pid and state.in_progress

        paused = site.popen("--full", "--page-size", "10", "--lease-ttl", "2")
        try:
            _wait_for("the first page", lambda: holds_lease_mid_listing(paused.pid))
            for _ in range(50):
                os.kill(paused.pid, signal.SIGSTOP)
                if not locked():
                    break
                # Stopped inside a transaction: let it commit, then stop it again.
                os.kill(paused.pid, signal.SIGCONT)
                time.sleep(0.01)
            else:
                raise AssertionError("the paused process always held a write transaction")
            assert paused.poll() is None

            def expired() -> bool:
                lease = store.get_lease(cid, "sync")
                assert lease is not None
                return lease.expires_at < dt.datetime.now(dt.UTC)

            _wait_for("the paused run's lease to expire", expired)
            taker = site.popen()
            code, out, err = _finish(taker)
            assert code == 0, err
            report = json.loads(out)
            assert report["resumed"] is True
            assert report["caught_up"] is True
            events_before = store.last_event_id(cid)
            state_before = store.get_sync_state(cid, "users")
            mirror_before = site.mirror(store)
        finally:
            os.kill(paused.pid, signal.SIGCONT)
        code, _, err = _finish(paused)
        assert code == 1, err
        assert "superseded by another sync; nothing after page" in err
        assert store.last_event_id(cid) == events_before
        assert store.get_sync_state(cid, "users") == state_before
        assert site.mirror(store) == mirror_before == site.truth()
