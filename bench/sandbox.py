"""Benchmark of the sandbox: seeding, a 2,000-user page, a 2,000-entry time-entries page, and
requests per second.

    python bench/sandbox.py [--users 100000] [--requests 3000] [--concurrency 8]

Figures:

* ``seed_s``: building a ``Sandbox`` of 100,000 users (the generator; target <= 5 s), with no
  other thread running, so the cycle collector is paused meanwhile (``src/thresher/sandbox/_collector.py``);
  ``seed_cpu_s`` the CPU time it took, which other processes on a shared machine do not inflate;
* ``page_ms``: server time of ``GET /v2/users?per_page=2000`` on that account, measured
  in-process at the ASGI interface (no sockets): median over the 50 pages of a full cursor walk
  right after seeding (the sandbox serialises every user's JSON when it seeds; target <= 20 ms);
  ``page_ms_uncached`` the same walk after dropping that cache, so every user is rendered, as
  after changes to many users;
* ``entries_page_ms``: server time of ``GET /v2/time_entries?per_page=2000`` on that account (about
  100,000 entries), in-process like ``page_ms``: median over the pages of a full walk once every
  entry's JSON is cached; ``entries_page_ms_uncached`` the first walk, which renders every entry
  (each embeds its user, project, client, task and both assignments). Target <= 30 ms for both;
  ``entries_page_cpu_ms`` and ``entries_page_cpu_ms_uncached`` the same medians in CPU time;
* ``me_rps``: ``GET /v2/users/me`` per second over real HTTP on loopback: the server is
  ``thresher sandbox serve`` (uvicorn with httptools) in its own process, the client one
  ``httpx.Client`` shared by ``--concurrency`` threads in this one. Both share the machine's cores,
  and on a 2-core machine the client, not the server, is the limit: httpx spends several times
  more CPU per request than the sandbox does. (``httpx.AsyncClient`` is slower still: its pool
  serialises on a lock.) So ``me_rps_stdlib`` measures the server with the lightest client there
  is, one ``http.client`` keep-alive connection per thread, and carries the target (>= 1,000).

Prints a summary, then one line of JSON (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from thresher.sandbox import Sandbox, SandboxConfig

USER_AGENT = "thresher-bench (bench@example.com)"


async def _asgi_get(app: Any, url: str, headers: dict[str, str]) -> tuple[int, bytes, float, float]:
    """One GET through the ASGI interface; returns status, body, and the seconds spent in the app
    by the clock and in CPU time (this thread's: the steadier figure on a shared machine)."""
    parts = urlsplit(url)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "server": ("bench", 80),
        "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"bench")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    chunks: list[bytes] = []
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    started, cpu = time.perf_counter(), time.thread_time()
    await app(scope, receive, send)
    return status, b"".join(chunks), time.perf_counter() - started, time.thread_time() - cpu


async def _walk(sandbox: Sandbox, path: str = "/v2/users") -> tuple[list[float], list[float]]:
    """Seconds per page of a full walk of ``GET path?per_page=2000``, following ``links.next``: by
    the clock, and in CPU time."""
    creds = sandbox.credentials
    headers = {
        "Authorization": f"Bearer {creds.admin_token}",
        "Harvest-Account-Id": str(creds.account_id),
        "User-Agent": USER_AGENT,
    }
    url: str | None = f"http://bench{path}?per_page=2000"
    times, cpu_times = [], []
    while url is not None:
        status, body, seconds, cpu = await _asgi_get(sandbox.app, url, headers)
        assert status == 200, body[:200]
        times.append(seconds)
        cpu_times.append(cpu)
        url = json.loads(body)["links"]["next"]
    return times, cpu_times


@contextlib.contextmanager
def _served(tmp: Path) -> Iterator[dict[str, Any]]:
    """``thresher sandbox serve`` in a subprocess; yields its credentials document."""
    credentials = tmp / "credentials.json"
    command = [
        sys.executable,
        "-c",
        "from thresher.cli import main; main()",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--rate-limit",
        "off",
        "--credentials-json",
        str(credentials),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not credentials.exists() or not credentials.stat().st_size:
            if process.poll() is not None or time.monotonic() > deadline:
                errors = process.stderr.read().decode() if process.stderr else ""
                raise SystemExit(f"thresher sandbox serve did not start: {errors}")
            time.sleep(0.05)
        time.sleep(0.05)
        yield json.loads(credentials.read_text())
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def _rps(base_url: str, headers: dict[str, str], total: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with (
        httpx.Client(base_url=base_url, headers=headers, limits=limits) as client,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        list(pool.map(lambda _: client.get("/v2/users/me").raise_for_status(), range(concurrency * 4)))
        per_worker = total // concurrency

        def worker(_: int) -> None:
            for _ in range(per_worker):
                response = client.get("/v2/users/me")
                assert response.status_code == 200

        started = time.perf_counter()
        list(pool.map(worker, range(concurrency)))
        return per_worker * concurrency / (time.perf_counter() - started)


def _rps_stdlib(base_url: str, headers: dict[str, str], total: int, concurrency: int) -> float:
    """``_rps`` with one ``http.client`` connection per thread: the client costs the least CPU
    it can, so the figure is the server's."""
    parts = urlsplit(base_url)
    per_worker = total // concurrency

    def worker(requests: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            for _ in range(requests):
                connection.request("GET", "/v2/users/me", headers=headers)
                response = connection.getresponse()
                response.read()
                assert response.status == 200
        finally:
            connection.close()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, [4] * concurrency))
        started = time.perf_counter()
        list(pool.map(worker, [per_worker] * concurrency))
        return per_worker * concurrency / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    big = Sandbox(SandboxConfig(users=args.users, seed=1, rate_limit=None))
    seed_s, seed_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    print(f"Seeded {args.users:,} users in {seed_s:.2f} s, {seed_cpu_s:.2f} s of CPU (target <= 5 s).")

    first, _ = asyncio.run(_walk(big))
    big.state.user_json.clear()
    uncached, _ = asyncio.run(_walk(big))
    page_ms, page_uncached = statistics.median(first) * 1000, statistics.median(uncached) * 1000
    print(
        f"GET /v2/users?per_page=2000, {len(first)} pages after seeding: median {page_ms:.1f} ms, "
        f"worst {max(first) * 1000:.1f} ms (target <= 20 ms); with every user rendered afresh: "
        f"median {page_uncached:.1f} ms, worst {max(uncached) * 1000:.1f} ms."
    )
    entries_cold, entries_cold_cpu = asyncio.run(_walk(big, "/v2/time_entries"))
    entries_warm, entries_warm_cpu = asyncio.run(_walk(big, "/v2/time_entries"))
    cold_cpu_ms = statistics.median(entries_cold_cpu) * 1000
    warm_cpu_ms = statistics.median(entries_warm_cpu) * 1000
    entries = len(big.state.time_entry_index)
    entries_ms = statistics.median(entries_warm) * 1000
    entries_cold_ms = statistics.median(entries_cold) * 1000
    print(
        f"GET /v2/time_entries?per_page=2000, {len(entries_warm)} pages of {entries:,} entries: median "
        f"{entries_ms:.1f} ms, worst {max(entries_warm) * 1000:.1f} ms (target <= 30 ms); first walk, "
        f"every entry rendered: median {entries_cold_ms:.1f} ms, worst {max(entries_cold) * 1000:.1f} ms "
        f"(target <= 30 ms). CPU time per page: {cold_cpu_ms:.1f} ms first, {warm_cpu_ms:.1f} ms cached."
    )
    del big
    gc.collect()

    with tempfile.TemporaryDirectory() as tmp, _served(Path(tmp)) as creds:
        headers = {
            "Authorization": f"Bearer {creds['admin_token']}",
            "Harvest-Account-Id": str(creds["account_id"]),
            "User-Agent": USER_AGENT,
        }
        rps = _rps(creds["base_url"], headers, args.requests, args.concurrency)
        rps_stdlib = _rps_stdlib(creds["base_url"], headers, args.requests, args.concurrency)
    print(
        f"GET /v2/users/me over loopback HTTP, {args.concurrency} client threads: {rps:,.0f} requests/s "
        f"with httpx, {rps_stdlib:,.0f} with http.client (target >= 1,000; client and server processes "
        f"share this machine's {os.cpu_count()} cores)."
    )

    print(
        json.dumps(
            {
                "bench": "sandbox",
                "users": args.users,
                "seed_s": round(seed_s, 3),
                "seed_cpu_s": round(seed_cpu_s, 3),
                "page_ms": round(page_ms, 2),
                "page_ms_worst": round(max(first) * 1000, 2),
                "page_ms_uncached": round(page_uncached, 2),
                "page_ms_uncached_worst": round(max(uncached) * 1000, 2),
                "time_entries": entries,
                "entries_page_ms": round(entries_ms, 2),
                "entries_page_ms_worst": round(max(entries_warm) * 1000, 2),
                "entries_page_ms_uncached": round(entries_cold_ms, 2),
                "entries_page_ms_uncached_worst": round(max(entries_cold) * 1000, 2),
                "entries_page_cpu_ms": round(warm_cpu_ms, 2),
                "entries_page_cpu_ms_uncached": round(cold_cpu_ms, 2),
                "me_rps": round(rps, 1),
                "me_rps_stdlib": round(rps_stdlib, 1),
                "targets": {
                    "seed_s": 5, "page_ms": 20, "entries_page_ms": 30, "entries_page_ms_uncached": 30,
                    "me_rps_stdlib": 1000,
                },
                "ok": seed_s <= 5 and page_ms <= 20 and entries_ms <= 30 and entries_cold_ms <= 30
                and rps_stdlib >= 1000,
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
