"""Benchmark: a full listing of a 10,000-user Greenhouse organisation through the client, at the
documented page sizes and rate limit, against the Greenhouse sandbox in its own process.

    python bench/greenhouse_sync.py [--users 10000] [--rate-limit 75/30s]

Greenhouse serves at most 500 users a page (100 by default) and counts requests per fixed 30-second
window (75 in its docs' example; docs/greenhouse.md §3). The sandbox plays exactly that
(``thresher sandbox serve --provider greenhouse``); the client mints its token, follows
``Link: rel="next"`` and paces itself by the ``X-RateLimit-*`` headers. Two runs, each with its own
credential so that one's window does not spill into the other's:

* ``per_page=500`` (the maximum): 20 pages, inside one window;
* ``per_page=100`` (the default): 100 pages, so the client must wait out a window.

Figures per run: ``requests`` (API requests; token mints apart), ``throttled`` (429s seen, target
0), ``seconds`` (wall time of the listing, token included) and ``users``. The store/sync provider
layer is not built yet: this lists users through the client, which is what a full sync costs on
the wire. Prints a summary, then one line of JSON (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from typing import Any

from _external import external_sandbox
from thresher.greenhouse import AsyncGreenhouse, GreenhouseSettings, RequestRecord, parse_rate_limit


async def _list(env: dict[str, str], credential: dict[str, Any], per_page: int, rate: str) -> dict[str, Any]:
    records: list[RequestRecord] = []
    limit, window = parse_rate_limit(rate)
    settings = GreenhouseSettings.from_env(
        env,
        client_id=credential["client_id"],
        client_secret=credential["client_secret"],
        per_page=per_page,
        rate_limit=limit,
        rate_window=window,
    )
    started = time.perf_counter()
    async with AsyncGreenhouse(settings, on_request=records.append) as gh:
        users = 0
        async for page in gh.user_pages():
            users += len(page)
        throttled = gh.limiter.throttled
    seconds = time.perf_counter() - started
    api = [r for r in records if r.path.startswith("/v3/")]
    return {
        "per_page": per_page,
        "users": users,
        "requests": len(api),
        "token_requests": len(records) - len(api),
        "throttled": throttled,
        "seconds": round(seconds, 3),
        "waited_s": round(sum(r.limiter_wait_s for r in api), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate-limit", default="75/30s", help="the sandbox's (and the client's) limit")
    args = parser.parse_args()
    with external_sandbox(
        "--provider", "greenhouse", "--users", str(args.users), "--rate-limit", args.rate_limit
    ) as creds:
        env = creds["env"]
        by_name = {c["name"]: c for c in creds["credentials"]}
        runs = [
            asyncio.run(_list(env, by_name["full"], 500, args.rate_limit)),
            asyncio.run(_list(env, by_name["read-only"], 100, args.rate_limit)),
        ]
    for run in runs:
        print(
            f"per_page={run['per_page']:>3}: {run['users']} users in {run['requests']} requests "
            f"(+{run['token_requests']} token), {run['seconds']:.2f} s, {run['throttled']} throttled, "
            f"{run['waited_s']:.2f} s waiting on the rate limit"
        )
    print(
        json.dumps(
            {
                "bench": "greenhouse_sync",
                "users": args.users,
                "rate_limit": args.rate_limit,
                "runs": runs,
                "load_average": os.getloadavg()[0],
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
