"""Consistent after a partial failure: Harvest accepted a user the store could not record.

The failure is real, not a mock of thresher: the database driver's own "disk full" error, raised
by an event hook on the store's SQLAlchemy engine (third-party code) for the statements chosen.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from harvest_clients import engine
from thresher.store import Store

from .conftest import Harness, is_scim_error

USER = "urn:ietf:params:scim:schemas:core:2.0:User"

MIRROR_AND_RECORD = re.compile(r"^\s*(INSERT INTO|UPDATE) (scim_)?users\b", re.IGNORECASE)
RECORD = re.compile(r"^\s*(INSERT INTO|UPDATE) scim_users\b", re.IGNORECASE)
EVERY_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _disk_full(store: Store) -> Exception:
    if store.engine.dialect.name == "sqlite":
        return sqlite3.OperationalError("database or disk is full")
    import psycopg

    return psycopg.errors.DiskFull("could not extend file: No space left on device")


@contextlib.contextmanager
def failing_writes(
    store: Store, statements: re.Pattern[str], times: int | None = None
) -> Iterator[list[str]]:
    """Make the driver fail the matching statements (``times`` of them; None: all) while inside."""
    failed: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statements.search(statement) and (times is None or len(failed) < times):
            failed.append(statement.split("(", maxsplit=1)[0].strip())
            raise _disk_full(store)

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        yield failed
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)


def new_user() -> tuple[dict[str, Any], str]:
    tag = uuid.uuid4().hex[:8]
    email = f"jdoe.{tag}@example.com"
    body = {
        "schemas": [USER],
        "userName": f"jdoe{tag}",
        "externalId": f"idp-{tag}",
        "name": {"givenName": "Jo", "familyName": "Doe"},
        "emails": [{"value": email, "type": "work"}],
    }
    return body, email


def _harvest_users_with(h: Harness, email: str) -> list[int]:
    return [u.id for u in h.sandbox.state.users.values() if u.email == email]


async def _found(h: Harness, flt: str) -> list[dict[str, Any]]:
    r = await h.http.get("/Users", params={"filter": flt})
    assert r.status_code == 200, r.text
    return r.json()["Resources"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("failing", [MIRROR_AND_RECORD, RECORD], ids=["mirror-and-record", "record"])
async def test_a_retried_post_after_a_store_failure_returns_the_same_user(
    bridge: Harness, failing: re.Pattern[str]
) -> None:
    body, email = new_user()
    with failing_writes(bridge.store, failing) as failed:
        r = await bridge.http.post("/Users", json=body)
    assert failed
    detail = is_scim_error(r, 503)["detail"]
    assert "retry" in detail
    (harvest_id,) = _harvest_users_with(bridge, email)  # Harvest did create the user

    # The identity provider retries the same request: the same user, linked, with its externalId.
    r = await bridge.http.post("/Users", json=body)
    assert r.status_code in (200, 201), r.text
    assert r.json()["id"] == str(harvest_id)
    assert r.json()["externalId"] == body["externalId"]
    assert r.json()["userName"] == body["userName"]
    assert _harvest_users_with(bridge, email) == [harvest_id]
    assert [i.to for i in bridge.sandbox.state.outbox].count(email) == 1  # one invitation only
    for flt in (f'externalId eq "{body["externalId"]}"', f'userName eq "{body["userName"]}"'):
        assert [u["id"] for u in await _found(bridge, flt)] == [str(harvest_id)]
    assert bridge.bridge.storage.local.pending() == []
    # A third POST is a real duplicate now.
    is_scim_error(await bridge.http.post("/Users", json=body), 409)


async def test_a_failed_save_is_retried_at_once(bridge: Harness) -> None:
    body, _ = new_user()
    with failing_writes(bridge.store, RECORD, times=1) as failed:
        r = await bridge.http.post("/Users", json=body)
    assert len(failed) == 1
    assert r.status_code == 201, r.text
    assert r.json()["externalId"] == body["externalId"]
    assert bridge.bridge.storage.local.pending() == []


@pytest.mark.parametrize("failing", [MIRROR_AND_RECORD, RECORD], ids=["mirror-and-record", "record"])
async def test_without_a_retry_the_pending_write_is_completed_later(
    bridge: Harness, failing: re.Pattern[str]
) -> None:
    body, email = new_user()
    with failing_writes(bridge.store, failing):
        is_scim_error(await bridge.http.post("/Users", json=body), 503)
    (pending,) = bridge.bridge.storage.local.pending()
    assert (pending.email, pending.extras.external_id) == (email, body["externalId"])
    if failing is MIRROR_AND_RECORD:
        # The mirror does not hold the user until the next sync reads it from Harvest.
        assert await _found(bridge, f'externalId eq "{body["externalId"]}"') == []
        await engine(bridge.store, bridge.harvest, bridge.connection).run(full=True)
        # What the bridge's sync loop does after each sync (requests do it too, at most every 5 s).
        assert bridge.bridge.storage.complete_pending() == 1
    (harvest_id,) = _harvest_users_with(bridge, email)
    found = await _found(bridge, f'externalId eq "{body["externalId"]}"')
    assert [(u["id"], u["userName"]) for u in found] == [(str(harvest_id), body["userName"])]
    # The completed creation is kept a while: the identity provider's late retry gets the user.
    (done,) = bridge.bridge.storage.local.pending()
    assert (done.harvest_id, done.completed_at is not None) == (harvest_id, True)
    r = await bridge.http.post("/Users", json=body)
    assert (r.status_code, r.json()["id"]) == (201, str(harvest_id))
    assert bridge.bridge.storage.local.pending() == []
    is_scim_error(await bridge.http.post("/Users", json=body), 409)


async def test_nothing_reaches_harvest_when_the_store_cannot_record_the_write(bridge: Harness) -> None:
    body, email = new_user()
    with failing_writes(bridge.store, EVERY_WRITE):
        r = await bridge.http.post("/Users", json=body)
    assert "nothing was sent to Harvest" in is_scim_error(r, 503)["detail"]
    assert bridge.harvest_requests() == 0
    assert _harvest_users_with(bridge, email) == []
    r = await bridge.http.post("/Users", json=body)
    assert r.status_code == 201, r.text


async def test_an_update_harvest_accepted_is_recorded_by_the_retry(bridge: Harness) -> None:
    body, _ = new_user()
    uid = (await bridge.http.post("/Users", json=body)).json()["id"]
    new_email = f"moved.{uuid.uuid4().hex[:8]}@example.com"
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": new_email},
            {"op": "replace", "path": "userName", "value": "jdoe-renamed-" + uid},
        ],
    }
    with failing_writes(bridge.store, RECORD):
        is_scim_error(await bridge.http.patch(f"/Users/{uid}", json=patch), 503)
    assert bridge.sandbox.state.users[int(uid)].email == new_email
    r = await bridge.http.patch(f"/Users/{uid}", json=patch)
    assert r.status_code in (200, 204), r.text
    got = (await bridge.http.get(f"/Users/{uid}")).json()
    assert got["userName"] == "jdoe-renamed-" + uid
    assert [e["value"] for e in got["emails"]] == [new_email]
    assert bridge.bridge.storage.local.pending() == []
