"""The SCIM bridge on a Greenhouse connection, what only Greenhouse does: replacements and a new
primary email through Greenhouse, DELETE as a deactivation, the mirror kept fresh by Greenhouse
syncs. Lookups, creates, ``active``, Groups not offered, scim2-tester and scim2-cli are the shared
conformance tests of tests/scim (test_provisioning.py, test_scim2_tester.py,
test_generic_client.py), run for this provider too. The bridge is served on 127.0.0.1 over the
Greenhouse sandbox (itself on 127.0.0.1), a real store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from thresher._serving import serve_in_thread
from thresher.connections import open_greenhouse
from thresher.scim import GreenhouseScimBridge, TokenStore
from thresher.store import Store
from thresher.sync import GreenhouseSync

from .conftest import Target
from .provider_harness import save_site

SCIM = "application/scim+json"


@dataclasses.dataclass(frozen=True)
class Bridge:
    base_url: str
    token: str
    target: Target
    store: Store

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=30,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": SCIM},
        )


@contextlib.contextmanager
def serve(target: Target, store: Store) -> Iterator[Bridge]:
    site = save_site(target, store)
    asyncio.run(site.sync())
    tokens = TokenStore(store)
    _, secret = tokens.create("tests")
    connection = store.get_connection(site.name)
    client = open_greenhouse(store, connection)
    bridge = GreenhouseScimBridge(client, store, connection, tokens, close_client=True)
    with serve_in_thread(bridge.app, name="thresher-gh-scim") as port:
        yield Bridge(f"http://127.0.0.1:{port}/scim/v2", secret, target, store)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHER_SECRET_KEY", "greenhouse-scim-tests-secret")
    monkeypatch.setenv("GREENHOUSE_RATE_LIMIT", "10000/1s")
    monkeypatch.delenv("GREENHOUSE_SUB", raising=False)


@pytest.fixture
def bridge(live_target: Target, store: Store) -> Iterator[Bridge]:
    with serve(live_target, store) as running:
        yield running


def _new_user(email: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "emails": [{"value": email, "type": "work", "primary": True}],
        "active": True,
        **extra,
    }


def test_put_emails_and_delete_reach_greenhouse_its_own_way(bridge: Bridge) -> None:
    # Create, PATCH active, duplicates and reads are tests/scim/test_provisioning.py's conformance
    # tests (``site``, run for Greenhouse too); here what only Greenhouse does (docs/greenhouse.md
    # §6): a new primary email is added, never replaced, and DELETE deactivates.
    state = bridge.target.sandbox.state
    with bridge.http() as http:
        created = http.post("/Users", json=_new_user("grace@example.com", active=False))
        assert created.status_code == 201, created.text
        uid = int(created.json()["id"])
        assert state.users[uid].deactivated
        renamed = http.put(
            f"/Users/{uid}",
            json=_new_user(
                "grace@example.com",
                name={"givenName": "Amazing", "familyName": "Grace"},
                active=True,
            ),
        )
        assert renamed.status_code == 200, renamed.text
        assert (state.users[uid].first_name, state.users[uid].deactivated) == ("Amazing", False)
        moved = http.put(
            f"/Users/{uid}",
            json={
                **_new_user("grace@example.com"),
                "emails": [{"value": "grace.h@example.com", "type": "work", "primary": True}],
            },
        )
        assert moved.status_code == 200, moved.text
        assert "grace.h@example.com" in state.users[uid].emails  # added; the primary stays
        assert state.users[uid].primary_email == "grace@example.com"
        assert moved.json()["emails"][0]["value"] == "grace.h@example.com"
        assert http.delete(f"/Users/{uid}").status_code == 204
        assert state.users[uid].deactivated  # Greenhouse deletes nobody
        assert http.get(f"/Users/{uid}").status_code == 404
    mirrored = bridge.store.get_user(bridge.store.get_connection("gh").id, uid)
    assert mirrored is not None
    assert mirrored.is_active is False


def test_the_bridge_keeps_the_mirror_fresh_with_greenhouse_syncs(live_target: Target, store: Store) -> None:
    site = save_site(live_target, store)
    asyncio.run(site.sync())
    connection = store.get_connection(site.name)
    client = open_greenhouse(store, connection)
    bridge = GreenhouseScimBridge(
        client,
        store,
        connection,
        TokenStore(store),
        sync=GreenhouseSync(store, client, connection),
        sync_interval=0.05,
        close_client=True,
    )
    state = live_target.sandbox.state
    uid = next(
        u.id
        for u in state.users.values()
        if not u.deactivated and u.id != state.admin_id and not u.service_account
    )
    with serve_in_thread(bridge.app, name="thresher-gh-scim-sync"):
        state.users[uid].deactivated = True  # changed in Greenhouse directly
        state.users[uid].updated_at = int(live_target.sandbox.now()) + 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            mirrored = store.get_user(connection.id, uid)
            if mirrored is not None and not mirrored.is_active:
                break
            time.sleep(0.05)
    mirrored = store.get_user(connection.id, uid)
    assert mirrored is not None
    assert mirrored.is_active is False
