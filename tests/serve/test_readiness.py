"""``/readyz`` says which check fails and why (503 and a JSON body); ``/healthz`` stays up.

The service runs in process over ``httpx.ASGITransport`` (no lifespan, so no background work
changes the store under the test): a real SQLite store, brought into each failing state.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine

from thresher.serve import ServeSettings, Service
from thresher.store import ServeRecords, Store
from thresher.store._migrate import config

OLDER_REVISION = "0006"  # a schema one migration behind r0007 (the serve tables)


def _settings(**extra: Any) -> ServeSettings:
    return ServeSettings.model_validate({"scim": {"enabled": False}, **extra})


async def _readyz(service: Service) -> tuple[int, dict[str, Any]]:
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://serve.test") as http:
        health = await http.get("/healthz")
        assert health.status_code == 200  # the process is up whatever the store says
        ready = await http.get("/readyz")
    body: dict[str, Any] = ready.json()
    assert body["ready"] is (ready.status_code == 200)
    return ready.status_code, body


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    return folder


@pytest.fixture
def store(store_dir: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{store_dir / 'thresher.db'}") as opened:
        yield opened


def _run(
    store: Store, name: str, *, age: dt.timedelta, outcome: str = "ok", error: str | None = None
) -> None:
    records = ServeRecords(store)
    started = dt.datetime.now(dt.UTC) - age
    run_id = records.start_run(store.get_connection(name).id, "incremental", "tests", started_at=started)
    records.finish_run(run_id, outcome, finished_at=started + dt.timedelta(seconds=1), error=error)


async def test_ready_when_the_store_is_at_head_and_every_connection_is_fresh(store: Store) -> None:
    store.add_connection("acme", 1001)
    _run(store, "acme", age=dt.timedelta(seconds=5))
    status, body = await _readyz(Service(_settings(), store))
    assert status == 200, body
    assert body["checks"]["store"]["ok"] is True
    assert body["checks"]["migrations"] == {"ok": True, "detail": f"at {Store.head_revision()}, head "
                                            f"{Store.head_revision()}"}
    assert body["checks"]["scheduler"] == {"ok": True, "detail": "1 connection(s) fresh"}


async def test_a_connection_whose_last_good_sync_is_too_old_names_it(store: Store) -> None:
    store.add_connection("acme", 1001)
    store.add_connection("fresh", 1002)
    store.add_connection("broken", 1003)
    store.add_connection("new", 1004)
    store.add_connection("paused", 1005)
    _run(store, "acme", age=dt.timedelta(hours=2))
    _run(store, "fresh", age=dt.timedelta(seconds=5))
    _run(store, "broken", age=dt.timedelta(seconds=5), outcome="failed", error="Harvest said 401")
    settings = _settings(connections={
        "acme": {"max_lag": 600},
        "paused": {"enabled": False},  # never synced, but switched off: not a reason
    })
    status, body = await _readyz(Service(settings, store))
    assert status == 503
    check = body["checks"]["scheduler"]
    assert check["ok"] is False
    detail = check["detail"]
    assert re.search(r"acme: last good sync 72\d\d s ago, over max_lag 600 s", detail), detail
    assert "broken: its last sync failed (Harvest said 401)" in detail
    assert "new: never synced" in detail
    assert "fresh" not in detail
    assert "paused" not in detail
    assert body["checks"]["store"]["ok"] is True
    assert body["checks"]["migrations"]["ok"] is True


async def test_a_schema_behind_head_is_not_ready(store_dir: Path) -> None:
    url = f"sqlite:///{store_dir / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(config(conn), OLDER_REVISION)
    engine.dispose()
    # Opened as thresher db current does (no migration), as a newer thresher meeting an old schema.
    with Store.open(url, migrate=False) as old:
        status, body = await _readyz(Service(_settings(dashboard={"enabled": False}), old))
    assert status == 503
    assert body["checks"]["migrations"] == {
        "ok": False, "detail": f"at {OLDER_REVISION}, head {Store.head_revision()}"
    }


async def test_an_unreachable_store_is_not_ready_and_says_so(store: Store, store_dir: Path) -> None:
    service = Service(_settings(), store)
    assert (await _readyz(service))[0] == 200
    # The database goes away under the running service (its pooled connections closed first).
    store.close()
    shutil.rmtree(store_dir)
    status, body = await _readyz(service)
    assert status == 503
    assert body["checks"]["store"]["ok"] is False
    assert "cannot use the database" in body["checks"]["store"]["detail"]
    assert set(body["checks"]) == {"store"}  # nothing else is asked of a store that is not there
