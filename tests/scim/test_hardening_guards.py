"""The bridge keeps its own identity, answers in time, and tells clients when to come back.

* DELETE, ``active=false`` or a demotion of the user who owns the bridge's Harvest token: 400
  ``mutability`` (scim/_guards.py), as ``thresher offboard`` refuses;
* a create that would wait past ``max_rate_wait`` for Harvest's rate budget: 429 with
  ``Retry-After``, and nothing sent to Harvest;
* every 503 carries ``Retry-After``; a revoked token is refused on its very next request.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from harvest_clients import FAST_RETRY, settings_for
from thresher.harvest import AsyncHarvest, LimiterRegistry
from thresher.provision import WriteThrough
from thresher.scim import ScimBridge, TokenStore
from thresher.store import Store

from .conftest import BASE, CountingTransport, Harness, is_scim_error

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HARVEST = "urn:thresher:params:scim:schemas:extension:harvest:2.0:User"


def _new_user(email: str) -> dict[str, Any]:
    return {"schemas": [USER], "userName": email, "name": {"givenName": "Ro", "familyName": "Bot"}}


def _deactivate() -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}


async def test_the_bridge_never_removes_its_own_user(bridge: Harness) -> None:
    me = (await bridge.harvest.me()).id
    bridge.transport.requests.clear()
    r = await bridge.http.delete(f"/Users/{me}")
    body = is_scim_error(r, 400)
    assert body["scimType"] == "mutability"
    assert "token the bridge uses" in body["detail"]
    # Learning who owns the token cost one GET /v2/users/me, and nothing was written.
    assert bridge.transport.requests == [("GET", "/v2/users/me")]
    assert bridge.sandbox.state.users[me].is_active

    body = is_scim_error(await bridge.http.patch(f"/Users/{me}", json=_deactivate()), 400)
    assert body["scimType"] == "mutability"
    current = (await bridge.http.get(f"/Users/{me}")).json()
    replaced = {k: v for k, v in current.items() if k not in ("meta", "id", "groups")} | {"active": False}
    body = is_scim_error(await bridge.http.put(f"/Users/{me}", json=replaced), 400)
    assert body["scimType"] == "mutability"
    demote = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": f"{HARVEST}:accessRoles", "value": ["member"]}],
    }
    body = is_scim_error(await bridge.http.patch(f"/Users/{me}", json=demote), 400)
    assert "demoting" in body["detail"]
    assert bridge.transport.requests == [("GET", "/v2/users/me")]  # asked once, remembered
    assert bridge.sandbox.state.users[me].is_active
    assert "administrator" in bridge.sandbox.state.users[me].access_roles

    # Other changes to the bridge's own user go through (a rename is harmless).
    rename = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "name.familyName", "value": "Keeper"}],
    }
    assert (await bridge.http.patch(f"/Users/{me}", json=rename)).status_code in (200, 204)
    assert bridge.sandbox.state.users[me].last_name == "Keeper"


async def test_other_users_are_removed_without_asking_who_owns_the_token(bridge: Harness) -> None:
    created = await bridge.http.post("/Users", json=_new_user(f"leaver.{uuid.uuid4().hex[:8]}@example.com"))
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    bridge.transport.requests.clear()
    assert (await bridge.http.patch(f"/Users/{uid}", json=_deactivate())).status_code == 204
    assert (await bridge.http.delete(f"/Users/{uid}")).status_code == 204
    # A member cannot own the token that writes users: no GET /v2/users/me was needed.
    assert ("GET", "/v2/users/me") not in bridge.transport.requests


async def _bridge_on(
    store: Store, harness: Harness, *, rate_limit: int, max_rate_wait: float = 20.0
) -> AsyncIterator[tuple[httpx.AsyncClient, AsyncHarvest, CountingTransport]]:
    """A second bridge on the harness's sandbox and mirror, whose client has a budget of
    ``rate_limit`` requests a minute, and knows its token's owner from login."""
    transport = CountingTransport(harness.sandbox.app)
    settings = settings_for(harness.sandbox).replace(rate_limit=rate_limit, rate_window=60.0)
    owner = (await harness.harvest.me()).id
    async with AsyncHarvest(
        settings, transport=transport, limiter_registry=LimiterRegistry(), retry=FAST_RETRY
    ) as client:
        tokens = TokenStore(store)
        _, secret = tokens.create(f"slow-{uuid.uuid4().hex[:6]}")
        bridge = ScimBridge(
            WriteThrough(client, store, harness.connection),
            tokens,
            max_rate_wait=max_rate_wait,
            own_user_id=owner,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bridge.app),
            base_url=BASE,
            headers={"Authorization": f"Bearer {secret}"},
        ) as http:
            yield http, client, transport


async def test_a_create_that_would_wait_too_long_gets_429(store: Store, bridge: Harness) -> None:
    async for http, client, transport in _bridge_on(store, bridge, rate_limit=2):
        first = await http.post("/Users", json=_new_user(f"one.{uuid.uuid4().hex[:8]}@example.com"))
        assert first.status_code == 201, first.text  # the budget had room: no wait at all
        await client.me()  # the minute's budget is now spent
        sent = len(transport.requests)
        r = await http.post("/Users", json=_new_user(f"two.{uuid.uuid4().hex[:8]}@example.com"))
        is_scim_error(r, 429)
        assert 50 <= int(r.headers["retry-after"]) <= 61
        assert len(transport.requests) == sent  # refused before anything went to Harvest
        # Lookups are answered from the mirror meanwhile.
        assert (await http.get("/Users", params={"count": 1})).status_code == 200


async def test_a_longer_bound_lets_the_create_wait(store: Store, bridge: Harness) -> None:
    async for http, client, _ in _bridge_on(store, bridge, rate_limit=2, max_rate_wait=120.0):
        await client.me()
        r = await http.post("/Users", json=_new_user(f"three.{uuid.uuid4().hex[:8]}@example.com"))
        assert r.status_code == 201, r.text  # one place was left: no wait


async def test_503_answers_carry_retry_after(bridge: Harness) -> None:
    uid = (await bridge.http.get("/Users", params={"count": 2})).json()["Resources"][1]["id"]
    bridge.sandbox.set_faults("503:1.0")
    rename = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "name.givenName", "value": "Flo"}]}
    r = await bridge.http.patch(f"/Users/{uid}", json=rename)
    is_scim_error(r, 503)
    assert int(r.headers["retry-after"]) >= 1


async def test_a_revoked_token_is_refused_on_its_next_request(store: Store, bridge: Harness) -> None:
    assert (await bridge.http.get("/Users", params={"count": 1})).status_code == 200
    # Revoked through another TokenStore on the same database, as another process would.
    TokenStore(store).revoke("idp")
    is_scim_error(await bridge.http.get("/Users", params={"count": 1}), 401)
