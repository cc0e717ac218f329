"""Lookups never wait behind writes or the sync (issue 12 item 9; ``scim/_offload.py``, ``_fresh.py``).

Each test holds something a write or the sync needs (Harvest's rate budget, the database's
write lock, the sync's Harvest connection) until a lookup has answered, and asserts on the order
in which things finished, never on how long they took.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from harvest_clients import FAST_RETRY, UA, connection_for, engine, settings_for
from thresher._serving import serve_in_thread
from thresher.harvest import AsyncHarvest, HarvestSettings, LimiterRegistry
from thresher.provision import WriteThrough
from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox
from thresher.scim import LocalRecords, ScimBridge, TokenStore
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions

from .conftest import BASE, CountingTransport, Harness

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
TIMEOUT = 60.0


def _new_user(tag: str) -> dict[str, Any]:
    email = f"{tag}@concurrency.example.com"
    return {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": "Con", "familyName": tag},
        "emails": [{"value": email, "type": "work", "primary": True}],
        "externalId": f"ext-{tag}",
    }


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait (yielding to the loop) until ``condition`` holds; fail after a generous timeout."""
    for _ in range(int(TIMEOUT / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


def _finished(
    order: list[str], name: str, coroutine: Awaitable[httpx.Response]
) -> asyncio.Task[httpx.Response]:
    """``coroutine`` as a task that records ``name`` in ``order`` when it finishes."""

    async def run() -> httpx.Response:
        response = await coroutine
        order.append(name)
        return response

    return asyncio.ensure_future(run())


async def _lookup(http: httpx.AsyncClient, email: str) -> httpx.Response:
    return await http.get("/Users", params={"filter": f'userName eq "{email}"'})


# -- creates waiting for Harvest's rate budget ---------------------------------------------------


@pytest.fixture
async def budgeted(store: Store) -> AsyncIterator[Harness]:
    """A bridge whose Harvest client may send 2 requests an hour (the mirror is synced apart)."""
    sandbox = Sandbox(SandboxConfig(users=6, seed=9, rate_limit=None))
    connection = connection_for(store, sandbox)
    unlimited = AsyncHarvest(
        settings_for(sandbox),
        transport=httpx.ASGITransport(app=sandbox.app),
        limiter_registry=LimiterRegistry(),
        retry=FAST_RETRY,
    )
    async with unlimited:
        await engine(store, unlimited, connection).run(full=True)
    settings = settings_for(sandbox).replace(rate_limit=2, rate_window=3600.0)
    transport = CountingTransport(sandbox.app)
    async with AsyncHarvest(
        settings, transport=transport, limiter_registry=LimiterRegistry(), retry=FAST_RETRY
    ) as harvest:
        tokens = TokenStore(store)
        _, secret = tokens.create("idp")
        # The creates must wait, not be refused with 429 (``max_rate_wait``).
        bridge = ScimBridge(WriteThrough(harvest, store, connection), tokens, max_rate_wait=7200.0)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bridge.app),
            base_url=BASE,
            headers={"Authorization": f"Bearer {secret}"},
        ) as http:
            yield Harness(sandbox, store, connection, harvest, transport, bridge, secret, http)


async def test_lookups_answer_while_creates_wait_for_the_rate_budget(budgeted: Harness) -> None:
    h = budgeted
    await h.harvest.me()
    await h.harvest.me()  # the hour's budget is spent: the next request waits for the window
    limiter = h.harvest.rate_forecast.limiter
    assert limiter is not None
    order: list[str] = []
    creates = [_finished(order, "create", h.http.post("/Users", json=_new_user(f"w{i}"))) for i in range(3)]
    try:
        # Every create is in line for the budget, its pending entry committed (``_user_writes``).
        await _until(lambda: limiter.waiting == 3, "the three creates wait for Harvest's budget")
        assert len(LocalRecords(h.store, h.connection.id).pending()) == 3
        # ...and none holds a database connection while it waits.
        assert h.store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        someone = h.store.list_users(h.connection.id)[0]
        lookup = await _finished(order, "lookup", _lookup(h.http, someone.email))
        assert lookup.status_code == 200, lookup.text
        assert [r["id"] for r in lookup.json()["Resources"]] == [str(someone.harvest_id)]
        assert order == ["lookup"]
        assert not any(task.done() for task in creates)
        assert limiter.waiting == 3
    finally:
        for task in creates:
            task.cancel()
        for task in creates:
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -- a create waiting for the database ---------------------------------------------------------


@contextlib.contextmanager
def _write_lock(store: Store) -> Iterator[None]:
    """Another connection holds what a create must write (SQLite: the database's write lock;
    PostgreSQL: a lock on the pending writes' table that lets reads through)."""
    if store.dialect == "sqlite":
        path = store.engine.url.database
        assert path is not None
        raw = sqlite3.connect(path, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            yield
            raw.execute("ROLLBACK")
        finally:
            raw.close()
        return
    with store.engine.connect() as other:
        transaction = other.begin()
        other.exec_driver_sql("LOCK TABLE scim_pending_users IN SHARE ROW EXCLUSIVE MODE")
        try:
            yield
        finally:
            transaction.rollback()


async def test_creates_waiting_for_the_database_do_not_hold_lookups(bridge: Harness) -> None:
    """More creates than the bridge has writing threads, every one blocked on the database:
    lookups run in a lane of their own (``_offload``) and answer first."""
    h = bridge
    someone = h.store.list_users(h.connection.id)[0]
    assert (await _lookup(h.http, someone.email)).status_code == 200  # warm: no first-use work left
    pool: Any = h.store.engine.pool
    lane = h.bridge.work.threads
    assert lane is not None
    order: list[str] = []
    with _write_lock(h.store):
        held = pool.checkedout()  # the lock's own connection, on PostgreSQL
        creates = [
            _finished(order, "create", h.http.post("/Users", json=_new_user(f"locked{i}")))
            for i in range(lane + 1)
        ]
        # Every writing thread waits for the lock, holding its connection; one create waits
        # for a thread.
        await _until(lambda: pool.checkedout() == held + lane, "the creates wait for the database")
        lookup = await _finished(order, "lookup", _lookup(h.http, someone.email))
        assert lookup.status_code == 200, lookup.text
        assert lookup.json()["totalResults"] == 1
        assert order == ["lookup"]
        assert not any(task.done() for task in creates)
    created = await asyncio.wait_for(asyncio.gather(*creates), TIMEOUT)
    assert [r.status_code for r in created] == [201] * (lane + 1), [r.text for r in created]
    assert order == ["lookup"] + ["create"] * (lane + 1)


# -- the periodic sync ---------------------------------------------------------------------------


class _StallingTransport(httpx.AsyncBaseTransport):
    """Stalls the event loop it runs on at its first request, as a sync's synchronous parsing and
    store writes do, until released; then passes requests to the network."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(TIMEOUT)  # blocks this loop on purpose
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_the_periodic_sync_runs_off_the_request_loop(store: Store) -> None:
    stalling = _StallingTransport()
    with run_sandbox(Sandbox(SandboxConfig(users=5, seed=4, rate_limit=None))) as running:
        creds = running.sandbox.credentials
        connection = store.add_connection(
            "sandbox", account_id=creds.account_id, base_url=running.api_url, id_url=running.base_url
        )
        settings = HarvestSettings(
            access_token=creds.admin_token,
            account_id=creds.account_id,
            user_agent=UA,
            base_url=running.api_url,
            id_url=running.base_url,
            rate_limit=100_000,
            rate_window=1.0,
        )

        def client(transport: httpx.AsyncBaseTransport | None = None) -> AsyncHarvest:
            return AsyncHarvest(
                settings, transport=transport, limiter_registry=LimiterRegistry(), retry=FAST_RETRY
            )

        async def first_sync() -> None:
            async with client() as harvest:
                await RosterSync(store, harvest, connection, SyncOptions()).run(full=True)

        asyncio.run(first_sync())
        someone = store.list_users(connection.id)[0]
        _, secret = TokenStore(store).create("sync-test")
        bridge = ScimBridge(
            WriteThrough(client(), store, connection),
            TokenStore(store),
            close_client=True,
            sync_client=lambda: client(stalling),
            sync_interval=3600.0,
        )
        try:
            with serve_in_thread(bridge.app, name="thresher-scim") as port:
                assert stalling.entered.wait(TIMEOUT), "the sync never started"
                # The sync's loop is stalled mid-run; the bridge answers anyway.
                response = httpx.get(
                    f"http://127.0.0.1:{port}/scim/v2/Users",
                    params={"filter": f'userName eq "{someone.email}"'},
                    headers={"Authorization": f"Bearer {secret}"},
                    timeout=TIMEOUT,
                )
                assert response.status_code == 200, response.text
                assert response.json()["totalResults"] == 1
                assert bridge.sync is not None
                assert bridge.sync.runs == 0
                stalling.release.set()
                for _ in range(int(TIMEOUT / 0.01)):
                    if bridge.sync.runs:
                        break
                    threading.Event().wait(0.01)
                assert bridge.sync.runs == 1
        finally:
            stalling.release.set()
