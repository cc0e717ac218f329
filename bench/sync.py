"""Sync benchmark, against a sandbox in its own process with 100 ms latency per request.

Reports: requests and wall time for a full sync of 10,000 users (target 5 requests, <= 3 s), and
its users phase alone (target <= 0.7 s: pages are pipelined, so the floor is 5 sequential round
trips, 0.5 s);
requests for an incremental sync with no change (target 1 per resource: users, roles); time to
upsert 10,000 users into SQLite (target <= 1 s); peak Python memory of a full sync of 10,000 vs
100,000 users (target: flat, one page at a time).

Teammate lists are per manager in Harvest (one request each) and are measured separately (the
teammates phase, read concurrently under the client's real 100 per 15 s limit): they are re-read
only for people managers whose record changed, and for all on a full run.

    python bench/sync.py [--skip-100k]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from _external import client_for, external_sandbox
from thresher.harvest import RequestRecord
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions


async def measure(creds: dict[str, Any], users: int, db: Path, *, teammates: bool) -> dict[str, Any]:
    requests: list[RequestRecord] = []
    async with client_for(creds, on_request=requests.append) as client:
        with Store.open(f"sqlite:///{db}") as store:
            conn = store.add_connection("bench", account_id=creds["account_id"], base_url=creds["api_url"])
            options = SyncOptions(teammates="off")
            sync = RosterSync(store, client, conn, options)

            started = time.perf_counter()
            full = await sync.run()
            full_s = time.perf_counter() - started
            user_requests = sum(1 for r in requests if r.path.endswith("/users"))
            assert store.count_users(conn.id) == users, "the mirror is incomplete"

            # Memory: a second full sync into an empty store, traced (tracing slows Python, so
            # it is kept out of the timing above).
            conn2 = store.add_connection("bench-memory", account_id=creds["account_id"])
            tracemalloc.start()
            await RosterSync(store, client, conn2, options).run()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()

            requests.clear()
            idle = await sync.run()
            idle_users = sum(1 for r in requests if r.path.endswith("/users"))
            idle_roles = sum(1 for r in requests if r.path.endswith("/roles"))
            assert idle.changes == 0

            teammate_lists, teammates_s = 0, 0.0
            if teammates:
                # One request per people manager, under the client's real 100 per 15 s limit:
                # measured on the 10,000-user account only (the 100,000 one would take minutes).
                requests.clear()
                manager_sync = RosterSync(store, client, conn, SyncOptions(teammates="all"))
                report = await manager_sync.run()
                teammate_lists, teammates_s = report.teammate_lists, report.teammates_s
    return {
        "users": users,
        "full_sync_user_requests": user_requests,
        "full_sync_requests": full.requests,
        "full_sync_s": round(full_s, 3),
        "full_sync_users_s": round(full.users_s, 3),
        "full_sync_peak_mb": round(peak / 2**20, 1),
        "incremental_user_requests": idle_users,
        "incremental_role_requests": idle_roles,
        "teammate_lists": teammate_lists,
        "teammates_s": round(teammates_s, 3),
        "events_created": full.events["created"],
    }


def upsert_time(creds: dict[str, Any], db: Path) -> float:
    """10,000 users fetched once, then timed into an empty SQLite store."""

    async def fetch() -> list[Any]:
        async with client_for(creds) as client:
            return [u async for u in client.list_users()]

    users = asyncio.run(fetch())
    with Store.open(f"sqlite:///{db}") as store:
        conn = store.add_connection("upsert", account_id=creds["account_id"])
        started = time.perf_counter()
        with store.transaction() as tx:
            tx.apply_users(conn.id, users, observed_at=dt.datetime.now(dt.UTC))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-100k", action="store_true", help="Only the 10,000-user account.")
    args = parser.parse_args()
    sizes = [10_000] if args.skip_100k else [10_000, 100_000]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            with external_sandbox(
                "--users", str(n), "--rate-limit", "off", "--latency-ms", "100", "--seed", "3"
            ) as creds:
                results[str(n)] = asyncio.run(
                    measure(creds, n, Path(tmp) / f"sync-{n}.db", teammates=n == 10_000)
                )
                if n == 10_000:
                    results["upsert_10k_s"] = round(upsert_time(creds, Path(tmp) / "upsert.db"), 3)
    ten = results["10000"]
    figures: dict[str, Any] = {
        "full_sync_10k_requests": ten["full_sync_user_requests"],
        "full_sync_10k_s": ten["full_sync_s"],
        "users_phase_10k_s": ten["full_sync_users_s"],
        "incremental_requests_per_resource": max(
            ten["incremental_user_requests"], ten["incremental_role_requests"]
        ),
        "upsert_10k_sqlite_s": results["upsert_10k_s"],
        "peak_mb_10k": ten["full_sync_peak_mb"],
        "teammate_lists_10k": ten["teammate_lists"],
        "teammates_10k_s": ten["teammates_s"],
        "latency_ms": 100,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    if "100000" in results:
        hundred = results["100000"]
        figures["peak_mb_100k"] = hundred["full_sync_peak_mb"]
        figures["full_sync_100k_requests"] = hundred["full_sync_user_requests"]
        figures["full_sync_100k_s"] = hundred["full_sync_s"]
        figures["users_phase_100k_s"] = hundred["full_sync_users_s"]
    print(
        f"Full sync of 10,000 users: {figures['full_sync_10k_requests']} user requests in "
        f"{figures['full_sync_10k_s']} s (100 ms latency each; users phase "
        f"{figures['users_phase_10k_s']} s); incremental with no change: "
        f"{ten['incremental_user_requests']} users + {ten['incremental_role_requests']} roles request(s); "
        f"SQLite upsert of 10,000: {figures['upsert_10k_sqlite_s']} s; peak memory "
        f"{figures['peak_mb_10k']} MB for 10k"
        + (f" vs {figures['peak_mb_100k']} MB for 100k" if "peak_mb_100k" in figures else "")
        + f"; {ten['teammate_lists']} teammate lists in {ten['teammates_s']} s."
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
