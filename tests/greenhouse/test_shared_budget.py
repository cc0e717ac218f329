"""Several processes on one Greenhouse credential share one rate budget through the store
(docs/greenhouse.md §3): together they stay inside the credential's window.

Greenhouse counts requests per credential in fixed windows, however many processes send them.
The sandbox here admits 5 requests per 1 s window (its first request opens a window), and every
process is told the same (``GREENHOUSE_RATE_LIMIT=5/1s``). Each process alone keeps inside that;
two of them, without the shared budget, overrun it from their first burst. Statuses are counted
at the sandbox's request log, never timed; how close to the limit the processes run together is
not asserted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from thresher.connections import greenhouse_budget, open_greenhouse
from thresher.greenhouse import RateLimiter
from thresher.greenhouse_sandbox import GreenhouseSandboxConfig
from thresher.store import RateBudget, Store

from .conftest import Target
from .provider_harness import save_site

RATE = "5/1s"
LIMIT, WINDOW = 5, 1.0
SECRET_KEY = "greenhouse-shared-budget-tests"
#: Each process alone is held to the limit; this only keeps a hung one from hanging the suite.
TIMEOUT = 120

#: A process on the saved connection: waits for the go file (so the processes overlap), then
#: sends its requests at once and lets the budget pace them.
WORKER = """
import asyncio, pathlib, sys, time
from thresher.connections import open_greenhouse
from thresher.store import RateBudget, Store

async def main(go: pathlib.Path, n: int, ready: pathlib.Path) -> None:
    with Store.open() as store:
        async with open_greenhouse(store, "gh") as client:
            ready.touch()
            deadline = time.monotonic() + 60
            while not go.exists():
                assert time.monotonic() < deadline, "no go file"
                await asyncio.sleep(0.02)
            async def one() -> None:
                [r async for r in client.list_user_roles()]
            await asyncio.gather(*(one() for _ in range(n)))

asyncio.run(main(pathlib.Path(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])))
"""


@pytest.fixture
def gh_config() -> GreenhouseSandboxConfig:
    return GreenhouseSandboxConfig(users=8, seed=11, rate_limit=RATE)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("GREENHOUSE_RATE_LIMIT", RATE)
    monkeypatch.delenv("THRESHER_SHARED_BUDGET", raising=False)
    monkeypatch.delenv("GREENHOUSE_SUB", raising=False)


def _statuses(target: Target, path: str = "/v3/user_roles") -> list[int]:
    return [r["status"] for r in target.log() if r["path"] == path]


def test_two_processes_on_one_credential_stay_inside_its_window(
    live_target: Target, sqlite_url: str, tmp_path: Path
) -> None:
    """Two real processes, 10 requests each at once: 20 answers of 200 and not one 429 at the
    sandbox, which enforces 5 per window. (SQLite, the default store; the in-process tests below
    run on PostgreSQL too, with the budget's transactions in worker threads.)"""
    database_url = sqlite_url
    with Store.open(database_url) as store:
        save_site(live_target, store)
    go = tmp_path / "go"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {
        **os.environ,
        "THRESHER_DATABASE_URL": database_url,
        "THRESHER_SECRET_KEY": SECRET_KEY,
        "GREENHOUSE_RATE_LIMIT": RATE,
        "THRESHER_SHARED_BUDGET": "on",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(go), "10", str(tmp_path / f"ready-{i}")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        # Both processes are up before either sends a request.
        deadline = time.monotonic() + TIMEOUT
        while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
            assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        go.touch()
        outcomes = [w.communicate(timeout=TIMEOUT) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    assert [w.returncode for w in workers] == [0, 0], outcomes
    statuses = _statuses(live_target)
    assert statuses.count(429) == 0, statuses
    assert statuses == [200] * 20


async def _burst(target: Target, store: Store, *, shared: bool, window: float, each: int) -> None:
    """Two clients of one credential with limiters of their own (as two processes have), each
    sending ``each`` requests at once; a request that fails in the end is left to the counts."""
    site = save_site(target, store)

    async def one_client() -> None:
        async with open_greenhouse(
            store,
            site.name,
            transport=target.transport(),
            limiter=RateLimiter(LIMIT, window),
            shared_budget=shared,
        ) as client:

            async def one() -> None:
                [r async for r in client.list_user_roles()]

            await asyncio.gather(*(one() for _ in range(each)), return_exceptions=True)

    await asyncio.gather(one_client(), one_client())


async def test_without_the_shared_budget_two_clients_overrun_the_window(
    asgi_target: Target, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: each client alone keeps to 5 per window, yet their first bursts land in
    one window (the sandbox's first request opens it; 3 s is far longer than 10 requests take
    in-process), so the sandbox refuses some."""
    monkeypatch.setenv("GREENHOUSE_RATE_LIMIT", "5/3s")
    asgi_target.sandbox.apply_settings({"rate_limit": "5/3s"})
    with Store.open(sqlite_url) as store:
        await _burst(asgi_target, store, shared=False, window=3.0, each=LIMIT)
    assert _statuses(asgi_target).count(429) > 0


async def test_with_the_shared_budget_the_same_clients_are_never_refused(
    asgi_target: Target, store: Store
) -> None:
    """Twice the control's requests at a third of its window: none refused."""
    await _burst(asgi_target, store, shared=True, window=WINDOW, each=2 * LIMIT)
    statuses = _statuses(asgi_target)
    assert statuses.count(429) == 0, statuses
    assert statuses == [200] * (4 * LIMIT)


async def test_a_window_greenhouse_says_is_spent_pauses_every_process(
    asgi_target: Target, store: Store
) -> None:
    """An answer with ``X-RateLimit-Remaining: 0`` (another tool on the credential, or a limit
    below the configured one) holds the shared budget until ``X-RateLimit-Reset``, so the other
    processes wait too; here 3 requests spend a 3-per-30-s window."""
    asgi_target.sandbox.apply_settings({"rate_limit": "3/30s"})
    site = save_site(asgi_target, store)
    async with open_greenhouse(
        store, site.name, transport=asgi_target.transport(), limiter=RateLimiter(LIMIT, WINDOW)
    ) as client:
        for _ in range(3):
            [r async for r in client.list_user_roles()]
        budget = greenhouse_budget(store, client.settings)
    assert _statuses(asgi_target) == [200, 200, 200]
    # Paused until the window's end, about 30 s away (10 s is a bound a stall cannot break).
    assert isinstance(budget, RateBudget)
    assert budget.state().paused_until > time.time() + 10
