"""Rate-limit benchmark: 1,000 concurrent GETs for one account against a server that
allows 100 requests per 1.5 s (Harvest's 100 per 15 s, time-scaled by 0.1).

Throughput ratio: the limit lets the first 100 requests go at once; after that, a perfect client
sends at exactly 100 per 1.5 s. So ratio = ((N - 100) / (last send - first send)) / (100 / 1.5):
1.0 is the limit exactly, below it time is wasted, and 429 responses mean the client overran it.

    python bench/ratelimit.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time

from _external import external_sandbox
from thresher.harvest import AsyncHarvest, LimiterRegistry, RequestRecord

LIMIT, WINDOW, SCALE = 100, 15.0, 0.1


async def hammer(api_url: str, id_url: str, token: str, account_id: int, n: int) -> dict[str, float]:
    records: list[tuple[float, RequestRecord]] = []

    def on_request(record: RequestRecord) -> None:
        records.append((time.perf_counter(), record))

    async with AsyncHarvest(
        access_token=token,
        account_id=account_id,
        user_agent="thresher-bench (bench@example.com)",
        base_url=api_url,
        id_url=id_url,
        rate_limit=LIMIT,
        rate_window=WINDOW,
        time_scale=SCALE,
        limiter_registry=LimiterRegistry(),
        on_request=on_request,
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client.me() for _ in range(n)))
        elapsed = time.perf_counter() - started
    # Send time = response time - duration; sort to find the first and last sends.
    sends = sorted(t - r.duration_ms / 1000 for t, r in records)
    window = WINDOW * SCALE
    span = sends[-1] - sends[0]
    ratio = ((n - LIMIT) / span) / (LIMIT / window) if span > 0 else float("inf")
    return {
        "requests": n,
        "http_requests": len(records),
        "http_429": sum(1 for _, r in records if r.status_code == 429),
        "elapsed_s": round(elapsed, 3),
        "throughput_ratio": round(ratio, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    # The sandbox runs in its own process, as Harvest would be remote; it counts each request
    # when it arrives, over a sliding window (its default).
    with external_sandbox("--users", "10", "--rate-limit", f"{LIMIT}/{WINDOW * SCALE}s") as creds:
        result = asyncio.run(
            hammer(
                creds["api_url"], creds["id_url"], creds["admin_token"], creds["account_id"], args.requests
            )
        )
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(
        f"{result['requests']} GETs in {result['elapsed_s']} s against {LIMIT} per {WINDOW * SCALE} s: "
        f"throughput {result['throughput_ratio']:.3f} of the limit, {result['http_429']} x 429"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
