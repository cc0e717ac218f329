"""Several processes on one account share one rate budget through the store (docs/architecture.md,
"Coordination between processes"): together they stay inside Harvest's limit.

Three processes run against one sandbox over HTTP, time-scaled to 100 requests per 1.5 s
(``HARVEST_RATE_LIMIT=100/1.5s``): ``thresher apply`` of a roster creating users, and two
embedders each firing GETs through ``thresher.connections.open_client``. Each process alone would
keep inside the limit; together, without the shared budget, they overrun it. The
sandbox's request log must hold no 429. How close to the limit they run together is a throughput
figure, measured by ``bench/shared_budget.py``, not asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from thresher.connections import open_client
from thresher.harvest import ConfigurationError
from thresher.sandbox import RunningSandbox, Sandbox, SandboxConfig, run_sandbox
from thresher.store import Store

UA = "thresher-tests (tests@example.com)"
RATE = "100/1.5s"
#: Each process alone is held to the limit; this only keeps a hung one from hanging the suite.
TIMEOUT = 180

#: An embedder: waits for the go file (so the three processes overlap), then sends its GETs.
EMBEDDER = """
import asyncio, pathlib, sys, time
from thresher.connections import open_client
from thresher.harvest import ConfigurationError
from thresher.store import Store

async def main(go: pathlib.Path, n: int) -> None:
    deadline = time.monotonic() + 120
    while not go.exists():
        assert time.monotonic() < deadline, "no go file"
        await asyncio.sleep(0.02)
    with Store.open() as store:
        async with open_client(store) as client:
            await asyncio.gather(*(client.me() for _ in range(n)))

asyncio.run(main(pathlib.Path(sys.argv[1]), int(sys.argv[2])))
"""


@pytest.fixture
def running() -> Iterator[RunningSandbox]:
    config = SandboxConfig(users=20, seed=23, rate_limit=RATE)
    with run_sandbox(Sandbox(config)) as served:
        yield served


@pytest.fixture
def env(running: RunningSandbox, tmp_path: Path) -> dict[str, str]:
    creds = running.sandbox.credentials
    return {
        **os.environ,
        "HARVEST_ACCESS_TOKEN": creds.admin_token,
        "HARVEST_ACCOUNT_ID": str(creds.account_id),
        "HARVEST_USER_AGENT": UA,
        "HARVEST_BASE_URL": running.api_url,
        "HARVEST_ID_URL": running.id_url,
        "HARVEST_RATE_LIMIT": RATE,
        "THRESHER_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "THRESHER_SECRET_KEY": "test-secret-key-for-the-shared-budget",
        "THRESHER_SHARED_BUDGET": "on",
    }


def thresher(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thresher", *args], env=env, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )


def statuses(running: RunningSandbox) -> list[int]:
    """Statuses of the API requests in the sandbox's request log."""
    creds = running.sandbox.credentials
    response = httpx.get(
        f"{running.base_url}/sandbox/requests",
        headers={"Authorization": f"Bearer {creds.control_token}"}, timeout=30,
    )
    response.raise_for_status()
    return [r["status"] for r in response.json()["requests"] if r["path"].startswith("/v2/")]


def test_three_processes_on_one_account_draw_no_429(
    running: RunningSandbox, env: dict[str, str], tmp_path: Path
) -> None:
    first = thresher(env, "sync")  # records the connection and the mirror before the rush
    assert first.returncode == 0, first.stderr
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "email,first_name,last_name\n"
        + "".join(f"new.{i}@example.com,New,Person{i}\n" for i in range(60))
    )
    go = tmp_path / "go"
    embedders = [
        subprocess.Popen(
            [sys.executable, "-c", EMBEDDER, str(go), "80"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    try:
        go.touch()
        applied = thresher(env, "apply", str(roster), "--yes", "--json")
        outputs = [p.communicate(timeout=TIMEOUT) for p in embedders]
    finally:
        for process in embedders:
            process.kill()
            process.wait()
    assert applied.returncode == 0, applied.stderr
    for process, (_, stderr) in zip(embedders, outputs, strict=True):
        assert process.returncode == 0, stderr
    seen = statuses(running)
    assert seen.count(429) == 0
    # The load was real: three times the limit and more, every create and every GET answered.
    assert sum(1 for s in seen if s < 400) >= 60 + 2 * 80
    with Store.open(env["THRESHER_DATABASE_URL"]) as store:
        assert store.get_connection("env").account_id == running.sandbox.credentials.account_id


async def test_open_client_shares_the_store_budget_unless_turned_off(
    running: RunningSandbox, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("HARVEST_ACCESS_TOKEN", "HARVEST_ACCOUNT_ID", "HARVEST_USER_AGENT",
                 "HARVEST_BASE_URL", "HARVEST_ID_URL", "HARVEST_RATE_LIMIT"):
        monkeypatch.setenv(name, env[name])
    key = f"{running.api_url} account {running.sandbox.credentials.account_id}"
    with Store.open(f"sqlite:///{tmp_path / 'budget.db'}") as store:
        budget = store.rate_budget(key, limit=100, window=1.5)

        async def one_request(*, shared_budget: bool = True) -> None:
            async with open_client(store, shared_budget=shared_budget) as client:
                assert client.settings.window == 1.5  # HARVEST_RATE_LIMIT
                await client.me()

        await one_request(shared_budget=False)
        monkeypatch.setenv("THRESHER_SHARED_BUDGET", "off")
        await one_request()
        assert budget.state().slots == ()
        monkeypatch.setenv("THRESHER_SHARED_BUDGET", "sometimes")
        with pytest.raises(ConfigurationError, match="THRESHER_SHARED_BUDGET"):
            await one_request()
        monkeypatch.delenv("THRESHER_SHARED_BUDGET")
        await one_request()
        state = budget.state()
        assert len(state.slots) == 100
        assert sum(1 for t in state.slots if t > 0) == 1  # one request, answered and dated
