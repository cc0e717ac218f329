"""Acceptance of the workers (issue 17): several ``thresher worker`` processes on one PostgreSQL
store sync every connection of a multi-account sandbox on schedule, never two at once, and take
over the work of a worker killed in the middle of a sync without losing or repeating a change."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import signal
import time
from collections import Counter

import httpx
import pytest

from thresher.sandbox import Sandbox
from thresher.store import ServeRecords, Store, StoredRun

from .conftest import USER_AGENT, Fleet, Worker, make_fleet, start_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

LEASE_TTL = 30.0
WORKER_ENV = {
    "THRESHER_JOBS_TICK": "1",
    "THRESHER_JOBS_HEARTBEAT": "1",
    "THRESHER_JOBS_STALLED_AFTER": "4",
    "THRESHER_JOBS_LEASE_TTL": str(LEASE_TTL),
    "THRESHER_JOBS_PAGE_SIZE": "5",
}
_TAG = re.compile(r"job/(\S+)")


def _runs(store: Store) -> dict[int, list[StoredRun]]:
    by: dict[int, list[StoredRun]] = {}
    for run in ServeRecords(store).recent_runs(limit=100_000):
        by.setdefault(run.connection_id, []).append(run)
    for runs in by.values():
        runs.sort(key=lambda r: r.id)
    return by


def _ok_counts(database_url: str) -> dict[int, int]:
    with Store.open(database_url) as store:
        return {cid: sum(r.outcome == "ok" for r in runs) for cid, runs in _runs(store).items()}


def _interleaved(sandbox: Sandbox) -> list[str]:
    """Job tags whose requests to this account were interrupted by another job's: with one run
    of a connection at a time, each run's requests form one unbroken block of the log."""
    with sandbox.lock:
        tags = [m.group(1) for r in sandbox.state.request_log if r.user_agent
                and (m := _TAG.search(r.user_agent))]
    finished: set[str] = set()
    broken = []
    previous = None
    for tag in tags:
        if tag != previous:
            if tag in finished:
                broken.append(tag)
            if previous is not None:
                finished.add(previous)
            previous = tag
    return broken


def _stop_all(workers: list[Worker]) -> list[int]:
    return [w.stop() for w in workers]


def test_fifty_connections_three_workers_each_synced_on_schedule_never_twice_at_once(
    jobs_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    interval = 3.0
    with make_fleet(jobs_database_url, 50, users=10, interval_s=interval, monkeypatch=monkeypatch) as fleet:
        started = time.monotonic()
        workers = [start_worker(jobs_database_url, "--concurrency", "4", env=WORKER_ENV) for _ in range(3)]
        try:
            wait_for(
                lambda: (c := _ok_counts(jobs_database_url)) and len(c) == 50 and min(c.values()) >= 3,
                timeout=150, what="three good syncs of each of the 50 connections",
            )
        finally:
            codes = _stop_all(workers)
        elapsed = time.monotonic() - started
        assert codes == [0, 0, 0], [w.output for w in workers]
        for worker in workers:
            assert "Traceback" not in worker.output, worker.output
        # Every run's requests are one unbroken block in its account's request log.
        for sandbox in fleet.multi.sandboxes:
            assert _interleaved(sandbox) == [], sandbox.credentials.account_id
        with Store.open(jobs_database_url) as store:
            by_connection = _runs(store)
            holders = {r.holder for runs in by_connection.values() for r in runs}
            assert len(holders) == 3  # the work was shared
            for connection in store.list_connections():
                runs = by_connection[connection.id]
                assert all(r.outcome in ("ok", "busy") for r in runs), [(r.outcome, r.error) for r in runs]
                # One run of a connection at a time: each starts after the previous one ended
                # (the queue's lock per connection), and each took the run lease in turn.
                for before, after in itertools.pairwise(runs):
                    assert before.finished_at is not None
                    assert after.started_at >= before.finished_at, (connection.name, before, after)
                lease = store.get_lease(connection.id, "sync")
                assert lease is not None
                assert lease.token >= sum(r.outcome == "ok" for r in runs)
                # On schedule, never more often: a sync is claimed at most every interval/2.
                assert len(runs) <= elapsed / (interval / 2) + 2
                assert store.count_users(connection.id, active=True) + store.count_users(
                    connection.id, active=False
                ) == 10


def _patch_users(fleet: Fleet, account_id: int, count: int) -> dict[int, str]:
    sandbox = fleet.multi.account(account_id)
    creds = sandbox.credentials
    headers = {
        "Authorization": f"Bearer {creds.admin_token}", "Harvest-Account-Id": str(account_id),
        "User-Agent": USER_AGENT,
    }
    renamed = {}
    with httpx.Client(base_url=fleet.running.api_url, headers=headers, timeout=30) as http:
        active = sorted(u.id for u in sandbox.state.users.values() if u.is_active)
        for user_id in active[:count]:
            name = f"Renamed{user_id}"
            response = http.patch(f"/users/{user_id}", json={"first_name": name})
            assert response.status_code == 200, response.text
            renamed[user_id] = name
    return renamed


def test_a_worker_killed_mid_sync_is_taken_over_without_lost_or_repeated_changes(
    jobs_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_fleet(jobs_database_url, 8, users=30, interval_s=3.0, monkeypatch=monkeypatch) as fleet:
        workers = [start_worker(jobs_database_url, "--concurrency", "4", env=WORKER_ENV) for _ in range(3)]
        pids = {w.process.pid: w for w in workers}
        try:
            wait_for(lambda: (c := _ok_counts(jobs_database_url)) and len(c) == 8 and min(c.values()) >= 1,
                     timeout=120, what="a first sync of every connection")
            account_id = next(iter(fleet.names))
            with Store.open(jobs_database_url) as store:
                connection = store.get_connection(fleet.names[account_id])
                patched_at = dt.datetime.now(dt.UTC)
                renamed = _patch_users(fleet, account_id, 12)
                # Slow answers: the next sync of this account (3 pages of changes, roles,
                # teammates) takes seconds, long enough to be killed in the middle.
                fleet.multi.account(account_id).set_faults("delay:1@700ms")

                def held() -> int | None:
                    lease = store.get_lease(connection.id, "sync")
                    now = dt.datetime.now(dt.UTC)
                    if not lease or lease.pid not in pids or lease.acquired_at <= patched_at:
                        return None
                    return lease.pid if lease.expires_at > now else None

                victim = wait_for(held, timeout=60, what="a worker syncing the slow account")
                time.sleep(1.0)  # into the run: its first slow pages are on their way
                os.kill(victim, signal.SIGKILL)
                killed_at = dt.datetime.now(dt.UTC)
                assert pids[victim].process.wait(30) == -signal.SIGKILL

                def taken_over() -> StoredRun | None:
                    for run in _runs(store).get(connection.id, []):
                        if run.outcome == "ok" and run.started_at > killed_at and not run.holder.endswith(
                            f":{victim}"
                        ):
                            return run
                    return None

                run = wait_for(taken_over, timeout=120, what="another worker to finish the connection")
                assert run.finished_at is not None
                assert (run.finished_at - killed_at).total_seconds() <= LEASE_TTL, run
                fleet.multi.account(account_id).set_faults(None)

                # Nothing lost: the mirror has every change made before the kill.
                for user_id, name in renamed.items():
                    stored = store.get_user(connection.id, user_id)
                    assert stored is not None
                    assert stored.first_name == name
                # Nothing repeated: one event per change, whatever the kill interrupted.
                events = store.list_events(connection.id)
                keys = Counter(
                    (e.resource, e.harvest_id, e.kind, json.dumps(e.changes, sort_keys=True)) for e in events
                )
                assert [k for k, n in keys.items() if n > 1] == []
                renames = [
                    e for e in events if e.kind == "updated" and "first_name" in e.changes
                    and e.harvest_id in renamed
                ]
                assert sorted(e.harvest_id for e in renames) == sorted(renamed)
            assert _interleaved(fleet.multi.account(account_id)) == []
        finally:
            survivors = [w for w in workers if w.process.poll() is None]
            codes = _stop_all(workers)  # the killed one's pipe is closed too
        assert sorted(codes) == sorted([-signal.SIGKILL] + [0] * len(survivors)), [w.output for w in workers]
        assert len(survivors) == 2
