"""The SCIM bridge on a Greenhouse connection: lookups from the mirror, ``active`` to
deactivate/activate, creates and replacements through Greenhouse with write-through, DELETE as a
deactivation, Groups not offered; and scim2-tester's whole suite, as for Harvest
(tests/scim/test_scim2_tester.py). The bridge is served on 127.0.0.1 over the Greenhouse sandbox
(itself on 127.0.0.1), a real store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from scim2_tester import Status, check_server

from thresher._serving import serve_in_thread
from thresher.connections import open_greenhouse
from thresher.scim import GreenhouseScimBridge, TokenStore, greenhouse_provider
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


def test_users_are_read_from_the_mirror_and_groups_are_not_offered(bridge: Bridge) -> None:
    state = bridge.target.sandbox.state
    before = len(bridge.target.sandbox.requests)
    with bridge.http() as http:
        listed = http.get("/Users", params={"count": 1000}).json()
        admin = state.users[state.admin_id]
        found = http.get("/Users", params={"filter": f'userName eq "{admin.primary_email}"'}).json()
        types = http.get("/ResourceTypes").json()
        groups = http.get("/Groups")
    assert len(bridge.target.sandbox.requests) == before  # no Greenhouse request for lookups
    assert listed["totalResults"] == sum(1 for u in state.users.values() if not u.service_account)
    assert found["totalResults"] == 1
    assert found["Resources"][0]["id"] == str(admin.id)
    assert [t["id"] for t in types["Resources"]] == ["User"]
    assert groups.status_code == 404
    assert all("harvest" not in s for r in listed["Resources"] for s in r["schemas"])


def test_create_patch_active_put_and_delete_reach_greenhouse(bridge: Bridge) -> None:
    state = bridge.target.sandbox.state
    with bridge.http() as http:
        created = http.post(
            "/Users",
            json=_new_user(
                "grace@example.com",
                externalId="okta-1",
                **{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E-7"}},
            ),
        )
        assert created.status_code == 201, created.text
        uid = int(created.json()["id"])
        assert state.users[uid].employee_id == "E-7"
        assert created.json()["externalId"] == "okta-1"
        off = http.patch(
            f"/Users/{uid}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
        )
        assert off.status_code in (200, 204), off.text
        assert http.get(f"/Users/{uid}").json()["active"] is False
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
        duplicate = http.post("/Users", json=_new_user("grace@example.com"))
        assert duplicate.status_code == 409
        assert http.delete(f"/Users/{uid}").status_code == 204
        assert state.users[uid].deactivated  # Greenhouse deletes nobody
        assert http.get(f"/Users/{uid}").status_code == 404
    mirrored = bridge.store.get_user(bridge.store.get_connection("gh").id, uid)
    assert mirrored is not None
    assert mirrored.is_active is False


def test_scim2_tester_passes_on_a_greenhouse_connection(bridge: Bridge) -> None:
    from scim2_client.client import BaseSyncSCIMClient, RawResponse

    class SyncSCIMClient(BaseSyncSCIMClient):
        def __init__(self, client: httpx.Client, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.client = client

        def _stays_under_base_url(self, endpoint: str) -> bool:
            base = self.client.base_url
            url = self.client.build_request("GET", endpoint).url
            return bool(url.host == base.host and url.raw_path.startswith(base.raw_path))

        def _parse_json(self, response: RawResponse) -> Any:
            assert isinstance(response, httpx.Response)
            return response.json()

        def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
            return self.client.request(method, url, **kwargs)

    with httpx.Client(
        base_url=bridge.base_url, headers={"Authorization": f"Bearer {bridge.token}"}, timeout=30
    ) as http:
        results = check_server(SyncSCIMClient(http, provider=greenhouse_provider()))
    failures = [f"{r.title}: {r.reason}" for r in results if r.status == Status.ERROR]
    assert not failures, "\n".join(failures)
    assert sum(r.status == Status.SUCCESS for r in results) > 20


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
