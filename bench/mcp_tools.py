"""Benchmark: the MCP server's read tools on a 10,000-user mirror, in process.

Syncs a sandbox of 10,000 users (served by its own process) into SQLite, then calls ``find_users``
(by part of a name, by access role, by exact email, paged) and ``get_user`` (random users) through
the official SDK's client connected to the server in memory, timing each call as the agent sees it.

Targets: p99 <= 10 ms per call, and 0 Harvest requests while reading (the mirror answers).

    python bench/mcp_tools.py [--users 10000] [--calls 500]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import Client

from _external import client_for, external_sandbox
from thresher.harvest import RequestRecord
from thresher.mcp import McpContext, MirrorFreshness, build_server
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(value: float) -> float:
    return round(value * 1000, 2)


async def measure(creds: dict[str, Any], db: Path, users: int, calls: int) -> dict[str, Any]:
    requests: list[RequestRecord] = []
    async with client_for(creds, rate_limit=1_000_000, on_request=requests.append) as client:
        with Store.open(f"sqlite:///{db}") as store:
            conn = store.add_connection("bench", account_id=int(creds["account_id"]))
            sync = RosterSync(store, client, conn, SyncOptions(teammates="off"))
            started = time.perf_counter()
            await sync.run(full=True)
            sync_s = time.perf_counter() - started
            assert store.count_users(conn.id, include_deleted=True) == users, "the mirror is incomplete"
            everyone = store.list_users(conn.id)
            freshness = MirrorFreshness(store, conn, sync, max_age=dt.timedelta(hours=1))
            server = build_server(McpContext(store, conn, client, freshness))
            rng = random.Random(7)
            find_args = []
            for i in range(calls):
                pick = everyone[rng.randrange(len(everyone))]
                find_args.append(
                    [
                        {"query": pick.last_name[:4]},
                        {"access_role": "manager", "limit": 20},
                        {"email": pick.email},
                        {"status": "any", "limit": 50, "offset": rng.randrange(users // 2)},
                    ][i % 4]
                )
            get_args = [
                {"user": str(everyone[rng.randrange(len(everyone))].harvest_id)} for _ in range(calls)
            ]
            async with Client(server) as agent:
                for args in find_args[:20] + get_args[:20]:  # warm-up: caches, prepared statements
                    await agent.call_tool("find_users" if "user" not in args else "get_user", args)
                before = len(requests)
                timings: dict[str, list[float]] = {"find_users": [], "get_user": []}
                for tool, batch in (("find_users", find_args), ("get_user", get_args)):
                    for args in batch:
                        t0 = time.perf_counter()
                        result = await agent.call_tool(tool, args)
                        timings[tool].append(time.perf_counter() - t0)
                        assert not result.is_error, result
                harvest_requests = len(requests) - before
    out: dict[str, Any] = {"sync_s": round(sync_s, 2), "harvest_requests": harvest_requests}
    for tool, samples in timings.items():
        out[f"{tool}_p50_ms"] = _ms(_percentile(samples, 0.5))
        out[f"{tool}_p99_ms"] = _ms(_percentile(samples, 0.99))
        out[f"{tool}_calls"] = len(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=500, help="calls of each tool")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        external_sandbox("--users", str(args.users), "--rate-limit", "off", "--seed", "3") as creds,
    ):
        result = asyncio.run(measure(creds, Path(tmp) / "mcp.db", args.users, args.calls))
    load = os.getloadavg()[0]
    print(
        f"MCP server, {args.users} users mirrored (SQLite, {platform.python_implementation()}), "
        f"load {load:.2f}"
    )
    for tool in ("find_users", "get_user"):
        print(
            f"  {tool}: p50 {result[f'{tool}_p50_ms']} ms, p99 {result[f'{tool}_p99_ms']} ms over "
            f"{result[f'{tool}_calls']} calls through the SDK's client in memory (target p99 <= 10 ms)"
        )
    print(f"  Harvest requests while reading: {result['harvest_requests']} (target 0)")
    figures = {
        "users": args.users,
        **result,
        "load_average": round(load, 2),
        "p99_ok": max(result["find_users_p99_ms"], result["get_user_p99_ms"]) <= 10.0,
        "requests_ok": result["harvest_requests"] == 0,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
