"""SCIM bridge benchmark, against a sandbox in its own process.

Reports, with 10,000 users synced into SQLite:
- ``GET /Users?filter=userName eq "..."`` from one client: p50/p99 server time (target p99 <= 3 ms)
  and the Harvest requests those lookups made (target 0): they are answered from the mirror;
- an Okta-style push of 1,000 new users (lookup by userName, then POST /Users): Harvest requests
  made (target exactly 1,000: one POST /v2/users each, never a listing);
- ``GET /Groups/{id}`` of a group of 2,000 members: p50 server time (target < 20 ms); the ids of
  its members are read in one statement and written out without a model object each
  (``scim/_group_reads.py``). Also reported: the same read with ``excludedAttributes=members`` (as
  Okta and Entra check a group) and ``GET /Groups?filter=displayName eq ...`` (the list endpoint).

For those, the bridge runs in this process, driven through ``httpx.ASGITransport``; server time is
measured around the ASGI app, so it excludes the client's own work.

- the open loop: ``thresher scim serve`` in its own process (incremental syncs every 5 s), and
  ``userName eq`` lookups arriving at a fixed 200 per second for 10 s over HTTP, each sent at its
  scheduled time whatever the earlier ones are doing (a busy identity provider does not wait for
  answers) and timed from that time to its answer's last byte: first alone, then while 40 creates
  wait on the bridge's Harvest rate limit (4/1s, so they finish one after another through the
  10 s). Target: p99 <= 10 ms in both. Writes wait in worker threads and the sync runs on its
  own thread (``scim/_offload.py``, ``scim/_fresh.py``), so neither holds a lookup; a lookup's
  own reads run on the loop (SQLite in WAL mode never makes a reader wait) and its answer is
  written without pydantic models (``scim/_user_reads.py``). Also reported: the server's CPU per
  lookup (its rusage over the lookups), which, unlike the latencies, does not depend on what else
  the machine runs.

    python bench/scim.py [--users 10000] [--push 1000] [--members 2000]
    python bench/scim.py --only open-loop [--rate 200] [--seconds 10] [--creates 40]

Last line: JSON with the figures and the load average when they were taken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

from _external import client_for, external_sandbox
from thresher.harvest import RequestRecord
from thresher.provision import WriteThrough
from thresher.scim import ScimBridge, TokenStore
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


class Timed:
    """An ASGI wrapper that records how long the app takes per HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.samples: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.samples.append(time.perf_counter() - started)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    creds: dict[str, Any], db: Path, users: int, push: int, members: int
) -> dict[str, Any]:
    requests: list[RequestRecord] = []
    async with client_for(creds, rate_limit=1_000_000, on_request=requests.append) as client:
        with Store.open(f"sqlite:///{db}") as store:
            conn = store.add_connection("bench", account_id=creds["account_id"], base_url=creds["api_url"])
            sync = RosterSync(store, client, conn, SyncOptions(teammates="off"))
            await sync.run(full=True)
            assert store.count_users(conn.id) == users, "the mirror is incomplete"
            member_ids = [u.harvest_id for u in store.list_users(conn.id, limit=members)]
            group = await client.create_role("Bench company", member_ids)
            await sync.run()  # mirrors the new role
            tokens = TokenStore(store)
            _, secret = tokens.create("bench")
            bridge = ScimBridge(WriteThrough(client, store, conn), tokens)
            timed = Timed(bridge.app)
            emails = [u.email for u in store.list_users(conn.id)]
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=timed),
                base_url="http://bridge.bench/scim/v2",
                headers={"Authorization": f"Bearer {secret}"},
            ) as http:
                # Lookups of existing users, in random case, as IdPs send them.
                rng = random.Random(6)
                sample = rng.sample(emails, 1000)
                for email in sample[:50]:  # warm-up
                    await http.get("/Users", params={"filter": f'userName eq "{email}"'})
                timed.samples.clear()
                requests.clear()
                for email in sample:
                    probe = email.upper() if rng.random() < 0.5 else email
                    r = await http.get("/Users", params={"filter": f'userName eq "{probe}"'})
                    assert r.json()["totalResults"] == 1, r.text
                lookups = list(timed.samples)
                lookup_requests = len(requests)

                # Okta push: lookup (absent), then create.
                requests.clear()
                timed.samples.clear()
                started = time.perf_counter()
                for i in range(push):
                    email = f"pushed{i}@okta-bench.example.com"
                    r = await http.get(
                        "/Users", params={"filter": f'userName eq "{email}"', "startIndex": 1, "count": 100}
                    )
                    assert r.json()["totalResults"] == 0
                    r = await http.post(
                        "/Users",
                        json={
                            "schemas": [USER],
                            "userName": email,
                            "name": {"givenName": "Pushed", "familyName": f"User {i}"},
                            "emails": [{"primary": True, "value": email, "type": "work"}],
                            "externalId": f"00u{i}",
                            "active": True,
                            "password": "placeholder",
                        },
                    )
                    assert r.status_code == 201, r.text
                push_s = time.perf_counter() - started
                push_requests = len(requests)
                push_methods = sorted({f"{r.method} {r.path}" for r in requests})[:3]

                # One large group, read the way an IdP checks it after a push.
                for _ in range(5):  # warm-up
                    await http.get(f"/Groups/{group.id}")
                timed.samples.clear()
                for _ in range(50):
                    r = await http.get(f"/Groups/{group.id}")
                    assert len(r.json()["members"]) == len(member_ids), r.text
                group_reads = list(timed.samples)
                timed.samples.clear()
                for _ in range(50):
                    r = await http.get(f"/Groups/{group.id}", params={"excludedAttributes": "members"})
                    assert "members" not in r.json(), r.text
                group_reads_excluded = list(timed.samples)
                timed.samples.clear()
                for _ in range(50):
                    r = await http.get("/Groups", params={"filter": 'displayName eq "bench company"'})
                    assert len(r.json()["Resources"][0]["members"]) == len(member_ids), r.text
                group_searches = list(timed.samples)
    return {
        "lookup_p50_ms": round(statistics.median(lookups) * 1000, 3),
        "lookup_p99_ms": round(_percentile(lookups, 0.99) * 1000, 3),
        "lookup_harvest_requests": lookup_requests,
        "push_users": push,
        "push_harvest_requests": push_requests,
        "push_request_kinds": push_methods,
        "push_s": round(push_s, 2),
        "group_members": len(member_ids),
        "group_read_p50_ms": round(statistics.median(group_reads) * 1000, 3),
        "group_read_max_ms": round(max(group_reads) * 1000, 3),
        "group_read_excluded_p50_ms": round(statistics.median(group_reads_excluded) * 1000, 3),
        "group_search_p50_ms": round(statistics.median(group_searches) * 1000, 3),
    }


# -- open loop: lookups at a fixed rate over real HTTP, with and without creates waiting --------

_SERVING = re.compile(rb"on http://127\.0\.0\.1:(\d+)/scim/v2")


class _Connection:
    """One keep-alive HTTP/1.1 connection to the bridge, spoken raw: the load generator must cost
    far less than the server it measures, or its own delays would show up as latency."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 "):
            raise RuntimeError(f"not an HTTP answer: {head[:200]!r}")
        status = int(head[9:12])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if not chunked:
            return status, await self.reader.readexactly(length)
        body = b""
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await self.reader.readexactly(size + 2))[:-2]
        await self.reader.readuntil(b"\r\n")  # the empty trailer
        return status, body

    def close(self) -> None:
        self.writer.close()


def _get(path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/scim+json\r\n\r\n"
    ).encode()


def _post(path: str, token: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/scim+json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _open_loop_lookups(
    port: int, token: str, emails: list[str], *, rate: float, seconds: float, seed: int
) -> list[float]:
    """``userName eq`` lookups at ``rate`` per second for ``seconds``, each sent at its scheduled
    time whatever the earlier ones are doing (a new connection when every open one is busy), and
    timed from that scheduled time to the last byte of its answer."""
    rng = random.Random(seed)
    idle: list[_Connection] = [await _Connection.open(port) for _ in range(8)]
    latencies: list[float] = []
    failures: list[str] = []
    loop = asyncio.get_running_loop()

    async def one(scheduled: float, email: str) -> None:
        conn = idle.pop() if idle else await _Connection.open(port)
        query = urllib.parse.quote(f'userName eq "{email}"')
        request = _get(f"/scim/v2/Users?filter={query}", token)
        try:
            status, body = await conn.exchange(request)
        except (asyncio.IncompleteReadError, ConnectionError):
            # uvicorn closes a keep-alive connection idle for 5 s (a fast server leaves most of
            # the pool idle): send it again on a new one, still timed from its scheduled time.
            conn.close()
            conn = await _Connection.open(port)
            status, body = await conn.exchange(request)
        latencies.append(loop.time() - scheduled)
        idle.append(conn)
        if status != 200 or b'"totalResults":1' not in body.replace(b" ", b""):
            failures.append(f"{status} {body[:200]!r}")

    tasks: list[asyncio.Task[None]] = []
    start = loop.time() + 0.05
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, rng.choice(emails))))
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    assert not failures, failures[:3]
    return latencies


async def _creates(port: int, token: str, count: int) -> list[tuple[int, bytes]]:
    """``count`` Okta-style creates at once, each on its own connection; their answers."""

    async def one(i: int) -> tuple[int, bytes]:
        conn = await _Connection.open(port)
        email = f"waiting{i}@open-loop.example.com"
        body = {
            "schemas": [USER],
            "userName": email,
            "name": {"givenName": "Waiting", "familyName": f"User {i}"},
            "emails": [{"primary": True, "value": email, "type": "work"}],
            "externalId": f"00w{i}",
            "active": True,
        }
        try:
            return await conn.exchange(_post("/scim/v2/Users", token, body))
        finally:
            conn.close()

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def open_loop(
    creds: dict[str, Any], db: Path, *, rate: float, seconds: float, creates: int, create_rate: str
) -> dict[str, Any]:
    """``thresher scim serve`` in its own process on a synced SQLite store, its Harvest budget
    ``create_rate`` (so ``creates`` creates sent at once wait for it, finishing one after
    another through the measurement); lookups first alone, then while the creates wait."""
    env = {
        **os.environ,
        "HARVEST_ACCESS_TOKEN": creds["admin_token"],
        "HARVEST_ACCOUNT_ID": str(creds["account_id"]),
        "HARVEST_BASE_URL": creds["api_url"],
        "HARVEST_ID_URL": creds["id_url"],
        "HARVEST_USER_AGENT": "thresher-bench (bench@example.com)",
        "THRESHER_DATABASE_URL": f"sqlite:///{db}",
    }
    os.environ.update(env)  # the first full sync, here, through the same "env" connection
    from thresher.connections import open_client, resolve

    with Store.open(env["THRESHER_DATABASE_URL"]) as store:
        resolved = resolve(store)

        async def first_sync() -> None:
            async with open_client(store, resolved, shared_budget=False) as client:
                await RosterSync(store, client, resolved.connection, SyncOptions(teammates="off")).run(
                    full=True
                )

        asyncio.run(first_sync())
        emails = [u.email for u in store.list_users(resolved.connection.id)]
        _, token = TokenStore(store).create("open-loop")
    cmd = [
        sys.executable, "-m", "thresher", "scim", "serve", "--port", "0", "--no-access-log",
        "--sync-interval", "5",
    ]
    proc = subprocess.Popen(
        cmd, env={**env, "HARVEST_RATE_LIMIT": create_rate}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        port = 0
        while not port:
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError(f"thresher scim serve exited with {proc.wait()}")
            found = _SERVING.search(line)
            port = int(found.group(1)) if found else 0
        # Keep reading its log, so a full pipe never stalls the server.
        threading.Thread(target=proc.stderr.read, daemon=True).start()

        async def run() -> dict[str, Any]:
            await _open_loop_lookups(port, token, emails, rate=rate, seconds=2.0, seed=1)  # warm-up
            cpu = _cpu_seconds(proc.pid)
            alone = await _open_loop_lookups(port, token, emails, rate=rate, seconds=seconds, seed=2)
            # The server's CPU per lookup: its capacity, whatever else the machine runs.
            cpu_ms = (_cpu_seconds(proc.pid) - cpu) / len(alone) * 1000
            pending = asyncio.create_task(_creates(port, token, creates))
            await asyncio.sleep(1.0)  # the creates are in, waiting for Harvest's budget
            busy = await _open_loop_lookups(port, token, emails, rate=rate, seconds=seconds, seed=3)
            answers = await pending
            statuses = [status for status, _ in answers]
            errors = sorted({body.decode(errors="replace")[:300] for st, body in answers if st >= 300})
            return {
                "rate_per_s": rate,
                "seconds": seconds,
                "alone": {**_summary(alone), "server_cpu_ms_per_lookup": round(cpu_ms, 2)},
                "creates": creates,
                "create_rate_limit": create_rate,
                "create_statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
                "create_errors": errors,
                "with_creates": _summary(busy),
            }

        return asyncio.run(run())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--push", type=int, default=1_000)
    parser.add_argument("--members", type=int, default=2_000, help="members of the group read")
    parser.add_argument("--rate", type=float, default=200.0, help="open loop: lookups per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="open loop: seconds per phase")
    parser.add_argument("--creates", type=int, default=40, help="open loop: creates waiting")
    parser.add_argument(
        "--create-rate", default="4/1s", help="open loop: the bridge's Harvest rate limit"
    )
    parser.add_argument("--only", choices=["single", "open-loop"], help="run one part only")
    args = parser.parse_args()
    figures: dict[str, Any] = {"users": args.users}
    print(f"SCIM bridge, {args.users} users synced (SQLite, {platform.python_implementation()})")
    if args.only != "open-loop":
        with (
            tempfile.TemporaryDirectory() as tmp,
            external_sandbox("--users", str(args.users), "--rate-limit", "off", "--seed", "3") as creds,
        ):
            result = asyncio.run(
                measure(creds, Path(tmp) / "scim.db", args.users, args.push, args.members)
            )
        _print_single(result)
        figures.update(result)
        figures["lookup_p99_ok"] = (
            result["lookup_p99_ms"] <= 3.0 and result["lookup_harvest_requests"] == 0
        )
        figures["push_ok"] = result["push_harvest_requests"] == result["push_users"]
        figures["group_read_ok"] = result["group_read_p50_ms"] < 20.0
    if args.only != "single":
        with (
            tempfile.TemporaryDirectory() as tmp,
            external_sandbox("--users", str(args.users), "--rate-limit", "off", "--seed", "4") as creds,
        ):
            loop = open_loop(
                creds, Path(tmp) / "open-loop.db", rate=args.rate, seconds=args.seconds,
                creates=args.creates, create_rate=args.create_rate,
            )
        alone, busy = loop["alone"], loop["with_creates"]
        print(
            f"  open loop, {loop['rate_per_s']:g} userName eq lookups/s for {loop['seconds']:g} s over "
            f"HTTP (thresher scim serve), latency from the scheduled time: p50 {alone['p50_ms']} ms, "
            f"p99 {alone['p99_ms']} ms, max {alone['max_ms']} ms (target p99 <= 10 ms); server CPU "
            f"{alone['server_cpu_ms_per_lookup']} ms per lookup"
        )
        print(
            f"  the same while {loop['creates']} creates wait on a {loop['create_rate_limit']} "
            f"rate limit: p50 {busy['p50_ms']} ms, p99 {busy['p99_ms']} ms, max {busy['max_ms']} ms "
            f"(target p99 <= 10 ms); creates answered {loop['create_statuses']}"
        )
        figures["open_loop"] = loop
        figures["open_loop_ok"] = alone["p99_ms"] <= 10.0 and busy["p99_ms"] <= 10.0
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures))


def _print_single(result: dict[str, Any]) -> None:
    print(
        f"  userName eq lookups, one client: p50 {result['lookup_p50_ms']} ms, p99 "
        f"{result['lookup_p99_ms']} ms server time (target p99 <= 3 ms); Harvest requests: "
        f"{result['lookup_harvest_requests']} (target 0)"
    )
    print(
        f"  Okta push of {result['push_users']} new users: {result['push_harvest_requests']} Harvest "
        f"requests (target {result['push_users']}), {result['push_s']} s"
    )
    print(
        f"  GET /Groups/{{id}} with {result['group_members']} members: p50 "
        f"{result['group_read_p50_ms']} ms, max {result['group_read_max_ms']} ms server time "
        "(target < 20 ms)"
    )
    print(
        f"  the same with excludedAttributes=members: p50 {result['group_read_excluded_p50_ms']} ms; "
        f"GET /Groups?filter=displayName eq ...: p50 {result['group_search_p50_ms']} ms"
    )


if __name__ == "__main__":
    main()
