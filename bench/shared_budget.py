"""Shared rate budget benchmark: three thresher processes on one account and one store, against a
sandbox allowing 100 requests per 1.5 s (Harvest's 100 per 15 s, time-scaled by 0.1):

* ``thresher scim serve`` under a create load (SCIM ``POST /Users`` from this script),
* ``thresher sync --watch`` (a full reconciliation every run, small pages),
* ``thresher apply`` of a roster creating 300 users.

The sandbox runs in this process and stamps each API request when it arrives. Throughput while
work is queued: admitted requests between one window after ``apply`` started sending and its last
request, per second, over the limit's 100 / 1.5 s (1.0 is the limit exactly; the budget keeps a
0.5% margin). 429 responses mean the processes together overran the limit.

    python bench/shared_budget.py [--users 300] [--no-shared-budget]
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


def bench(users: int, shared: bool) -> dict[str, Any]:
    arrivals = Arrivals(None)
    sandbox = Sandbox(SandboxConfig(users=50, seed=31, rate_limit=f"{LIMIT}/{WINDOW}s"))
    arrivals.app = sandbox.app
    processes: list[subprocess.Popen[str]] = []
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
        run(env, "sync")
        token = json.loads(run(env, "scim", "token", "create", "--name", "bench", "--json"))["token"]
        roster = Path(tmp) / "roster.csv"
        roster.write_text(
            "email,first_name,last_name\n"
            + "".join(f"roster.{i}@example.com,Roster,Person{i}\n" for i in range(users))
        )
        scim_port = free_port()
        stop = threading.Event()
        scim_statuses: list[int] = []
        loaders = [
            threading.Thread(
                target=scim_load,
                args=(f"http://127.0.0.1:{scim_port}/scim/v2", token, stop, scim_statuses),
            )
            for _ in range(4)
        ]
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
    with arrivals.lock:
        log = list(arrivals.log)
    # Steady state: from one window after apply began (the budget's first window may hold a
    # burst), to apply's last request; work is queued throughout.
    applied = [t for t, method, path, _ in log if started <= t <= finished]
    window_start, window_end = min(applied) + WINDOW, finished
    admitted = [t for t, _, _, status in log if window_start <= t <= window_end and status != 429]
    span = window_end - window_start
    ratio = (len(admitted) / span) / (LIMIT / WINDOW) if span > 0 else float("nan")
    return {
        "shared_budget": shared,
        "limit": f"{LIMIT}/{WINDOW}s",
        "roster_users": users,
        "api_requests": len(log),
        "http_429": sum(1 for *_, status in log if status == 429),
        "scim_creates": sum(1 for s in scim_statuses if s == 201),
        "apply_s": round(finished - started, 3),
        "measured_s": round(span, 3),
        "throughput_ratio": round(ratio, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300, help="users the roster creates")
    parser.add_argument("--no-shared-budget", action="store_true",
                        help="THRESHER_SHARED_BUDGET=off: each process paces itself alone")
    args = parser.parse_args()
    result = bench(args.users, not args.no_shared_budget)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(
        f"scim serve (create load) + sync --watch + apply of {result['roster_users']} users, "
        f"shared budget {'on' if result['shared_budget'] else 'off'}, limit {result['limit']}: "
        f"{result['api_requests']} API requests, {result['http_429']} x 429, "
        f"{result['scim_creates']} SCIM creates; throughput while queued "
        f"{result['throughput_ratio']:.3f} of the limit over {result['measured_s']} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
