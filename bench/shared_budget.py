"""Shared rate budget benchmark: three thresher processes on one account and one store, against a
sandbox allowing 100 requests per 1.5 s (Harvest's 100 per 15 s, time-scaled by 0.1).

``--mix cli`` (the default) runs what a deployment runs:

* ``thresher scim serve`` under a create load (SCIM ``POST /Users`` from this script),
* ``thresher sync --watch`` (a full reconciliation every run, small pages),
* ``thresher apply`` of a roster creating 300 users;

``--mix gets`` runs three embedders (``open_client``), each firing 400 GETs at once, so work is
queued from the first request to the last whatever the machine's speed.

The sandbox runs in this process and stamps each API request when it arrives. Throughput while
work is queued: requests admitted from one window after the load began (the first window may
hold a burst) to its end (``apply`` exiting; the last GET), per second, over the limit's
100 / 1.5 s (1.0 is the limit exactly; the budget keeps a 0.5% margin). With the CLI mix the
processes' own speed may be the bound on a small machine: ``--no-shared-budget`` shows what they
reach without the budget. 429 responses mean the processes together overran the limit.

    python bench/shared_budget.py [--mix cli|gets] [--users 300] [--no-shared-budget]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx

from thresher._serving import serve_in_thread
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig

LIMIT, WINDOW = 100, 1.5
UA = "thresher-bench (bench@example.com)"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class Arrivals:
    """An ASGI wrapper stamping every API request as it arrives, with the status it got."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.log: list[tuple[float, str, str, int]] = []  # (arrival, method, path, status)

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        arrived = time.monotonic()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self.lock:
                    self.log.append((arrived, scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, capture)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def thresher(env: dict[str, str], *args: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "thresher", *args], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen,
    )


def run(env: dict[str, str], *args: str) -> str:
    process = thresher(env, *args)
    out, err = process.communicate(timeout=600)
    if process.returncode != 0:
        raise RuntimeError(f"thresher {' '.join(args)} failed: {err.strip()}")
    return out


def scim_load(url: str, token: str, stop: threading.Event, created: list[int]) -> None:
    """Create SCIM users one after another until ``stop`` (four of these run at once)."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        while not stop.is_set():
            email = f"scim.{threading.get_ident()}.{time.monotonic_ns()}@example.com"
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": email,
                "name": {"givenName": "Sam", "familyName": "Scim"},
            }
            try:
                response = http.post("/Users", json=body)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            created.append(response.status_code)


#: An embedder: waits for the go file (so the processes overlap), then fires its GETs at once.
EMBEDDER = """
import asyncio, pathlib, sys, time
from thresher.connections import open_client
from thresher.store import Store

async def main(go: pathlib.Path, n: int) -> None:
    while not go.exists():
        await asyncio.sleep(0.02)
    with Store.open() as store:
        async with open_client(store) as client:
            await asyncio.gather(*(client.me() for _ in range(n)))

asyncio.run(main(pathlib.Path(sys.argv[1]), int(sys.argv[2])))
"""


def gets_load(env: dict[str, str], tmp: Path, n: int) -> tuple[float, float]:
    """Three embedders with ``n`` GETs each; returns when the load began and ended."""
    go = tmp / "go"
    embedders = [
        subprocess.Popen([sys.executable, "-c", EMBEDDER, str(go), str(n)], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    time.sleep(3.0)  # let them start up; they wait for the go file
    started = time.monotonic()
    go.touch()
    for process in embedders:
        _, err = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"an embedder failed: {err.strip()}")
    return started, time.monotonic()


def measure(log: list[tuple[float, str, str, int]], started: float, finished: float) -> dict[str, Any]:
    """Admitted requests per second while the load ran, over the limit (see the docstring)."""
    during = [t for t, *_ in log if started <= t <= finished]
    window_start = min(during) + WINDOW
    window_end = max(during)
    admitted = [t for t, _, _, status in log if window_start <= t <= window_end and status != 429]
    span = window_end - window_start
    ratio = (len(admitted) / span) / (LIMIT / WINDOW) if span > 0 else float("nan")
    return {"measured_s": round(span, 3), "throughput_ratio": round(ratio, 3)}


def bench(mix: str, users: int, shared: bool) -> dict[str, Any]:
    arrivals = Arrivals(None)
    sandbox = Sandbox(SandboxConfig(users=50, seed=31, rate_limit=f"{LIMIT}/{WINDOW}s"))
    arrivals.app = sandbox.app
    with tempfile.TemporaryDirectory(prefix="thresher-bench-") as tmp, serve_in_thread(
        arrivals, "127.0.0.1", 0, name="bench-sandbox"
    ) as port:
        running = RunningSandbox(sandbox, "127.0.0.1", port)
        creds = sandbox.credentials
        env = {
            **os.environ,
            "HARVEST_ACCESS_TOKEN": creds.admin_token,
            "HARVEST_ACCOUNT_ID": str(creds.account_id),
            "HARVEST_USER_AGENT": UA,
            "HARVEST_BASE_URL": running.api_url,
            "HARVEST_ID_URL": running.id_url,
            "HARVEST_RATE_LIMIT": f"{LIMIT}/{WINDOW}s",
            "THRESHER_DATABASE_URL": f"sqlite:///{Path(tmp) / 'store.db'}",
            "THRESHER_SECRET_KEY": "bench-secret-key-for-the-shared-budget",
            "THRESHER_SHARED_BUDGET": "on" if shared else "off",
        }
        run(env, "sync")  # records the connection and the mirror before the load
        scim_statuses: list[int] = []
        if mix == "gets":
            started, finished = gets_load(env, Path(tmp), 400)
        else:
            started, finished = cli_load(env, Path(tmp), users, scim_statuses)
    with arrivals.lock:
        log = list(arrivals.log)
    return {
        "mix": mix,
        "shared_budget": shared,
        "limit": f"{LIMIT}/{WINDOW}s",
        "roster_users": users if mix == "cli" else 0,
        "api_requests": len(log),
        "http_429": sum(1 for *_, status in log if status == 429),
        "scim_creates": sum(1 for s in scim_statuses if s == 201),
        "load_s": round(finished - started, 3),
        **measure(log, started, finished),
    }


def cli_load(
    env: dict[str, str], tmp: Path, users: int, scim_statuses: list[int]
) -> tuple[float, float]:
    """scim serve under a create load, sync --watch and apply; returns apply's start and end."""
    token = json.loads(run(env, "scim", "token", "create", "--name", "bench", "--json"))["token"]
    roster = tmp / "roster.csv"
    roster.write_text(
        "email,first_name,last_name\n"
        + "".join(f"roster.{i}@example.com,Roster,Person{i}\n" for i in range(users))
    )
    scim_port = free_port()
    stop = threading.Event()
    loaders = [
        threading.Thread(
            target=scim_load,
            args=(f"http://127.0.0.1:{scim_port}/scim/v2", token, stop, scim_statuses),
        )
        for _ in range(4)
    ]
    processes: list[subprocess.Popen[str]] = []
    try:
        processes.append(thresher(env, "scim", "serve", "--port", str(scim_port)))
        processes.append(
            thresher(env, "sync", "--watch", "--interval", "1", "--reconcile-every", "0",
                     "--page-size", "20")
        )
        for loader in loaders:
            loader.start()
        started = time.monotonic()
        apply = thresher(env, "apply", str(roster), "--yes", "--json")
        _, apply_err = apply.communicate(timeout=600)
        finished = time.monotonic()
        if apply.returncode != 0:
            raise RuntimeError(f"thresher apply failed: {apply_err.strip()}")
    finally:
        stop.set()
        for loader in loaders:
            loader.join(timeout=120)
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
    return started, finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=["cli", "gets"], default="cli")
    parser.add_argument("--users", type=int, default=300, help="users the roster creates")
    parser.add_argument("--no-shared-budget", action="store_true",
                        help="THRESHER_SHARED_BUDGET=off: each process paces itself alone")
    args = parser.parse_args()
    result = bench(args.mix, args.users, not args.no_shared_budget)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    what = (
        f"scim serve (create load) + sync --watch + apply of {result['roster_users']} users"
        if args.mix == "cli" else "three embedders firing 400 GETs each"
    )
    print(
        f"{what}, shared budget {'on' if result['shared_budget'] else 'off'}, limit {result['limit']}: "
        f"{result['api_requests']} API requests, {result['http_429']} x 429, "
        f"{result['scim_creates']} SCIM creates; throughput while queued "
        f"{result['throughput_ratio']:.3f} of the limit over {result['measured_s']} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
