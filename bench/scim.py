"""SCIM bridge benchmark, against a sandbox in its own process.

Reports, with 10,000 users synced into SQLite:
- ``GET /Users?filter=userName eq "..."``: p50/p99 server time (target p99 <= 5 ms) and the
  Harvest requests those lookups made (target 0): they are answered from the mirror;
- an Okta-style push of 1,000 new users (lookup by userName, then POST /Users): Harvest requests
  made (target exactly 1,000: one POST /v2/users each, never a listing);
- ``GET /Groups/{id}`` of a group of 2,000 members: p50 server time (target < 20 ms); the ids of
  its members are read in one statement and written out without a model object each
  (``scim/_group_reads.py``). Also reported: the same read with ``excludedAttributes=members`` (as
  Okta and Entra check a group) and ``GET /Groups?filter=displayName eq ...`` (the list endpoint).

The bridge runs in this process, driven through ``httpx.ASGITransport``; server time is measured
around the ASGI app, so it excludes the client's own work.

    python bench/scim.py [--users 10000] [--push 1000] [--members 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--push", type=int, default=1_000)
    parser.add_argument("--members", type=int, default=2_000, help="members of the group read")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        external_sandbox("--users", str(args.users), "--rate-limit", "off", "--seed", "3") as creds,
    ):
        result = asyncio.run(
            measure(creds, Path(tmp) / "scim.db", args.users, args.push, args.members)
        )
    print(f"SCIM bridge, {args.users} users synced (SQLite, {platform.python_implementation()})")
    print(
        f"  userName eq lookups: p50 {result['lookup_p50_ms']} ms, p99 {result['lookup_p99_ms']} ms "
        f"server time (target <= 5 ms); Harvest requests: {result['lookup_harvest_requests']} (target 0)"
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
    figures = {
        "users": args.users,
        **result,
        "lookup_p99_ok": result["lookup_p99_ms"] <= 5.0 and result["lookup_harvest_requests"] == 0,
        "push_ok": result["push_harvest_requests"] == result["push_users"],
        "group_read_ok": result["group_read_p50_ms"] < 20.0,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
