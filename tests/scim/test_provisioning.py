"""What provisioning through the bridge does in Harvest (the sandbox), request by request."""

from __future__ import annotations

import uuid
from typing import Any

from thresher.harvest import harvest_to_iana
from thresher.sandbox import SandboxConfig
from thresher.scim import DeleteMode
from thresher.store import Store

from .conftest import Harness, is_scim_error, make_harness

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HARVEST = "urn:thresher:params:scim:schemas:extension:harvest:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def body(email: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER, HARVEST],
        "userName": email,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "timezone": "Europe/London",
        "externalId": "ext-ada",
        HARVEST: {
            "accessRoles": ["manager", "project_creator"],
            "weeklyCapacityHours": 37.5,
            "contractor": True,
            "allFutureProjects": True,
        },
        **extra,
    }


async def test_created_user_lands_in_harvest_with_one_invitation(bridge: Harness) -> None:
    email = f"ada.{uuid.uuid4().hex[:8]}@example.com"
    r = await bridge.http.post("/Users", json=body(email))
    assert r.status_code == 201, r.text
    uid = int(r.json()["id"])
    assert bridge.harvest_requests() == 1  # POST /v2/users, nothing else
    user = bridge.sandbox.state.users[uid]
    assert (user.first_name, user.last_name, user.email) == ("Ada", "Lovelace", email)
    assert harvest_to_iana(user.timezone) == "Europe/London"
    assert user.access_roles == ["manager", "project_creator"]
    assert user.weekly_capacity == 135000
    assert user.is_contractor
    assert user.has_access_to_all_future_projects
    invitations = [i for i in bridge.sandbox.state.outbox if i.user_id == uid]
    assert len(invitations) == 1
    assert invitations[0].to == email
    # Both ways: the SCIM view reads back what Harvest holds.
    got = r.json()
    assert got["timezone"] == "Europe/London"
    assert got["active"] is True
    assert got[HARVEST]["accessRoles"] == ["manager", "project_creator"]
    assert got[HARVEST]["weeklyCapacityHours"] == 37.5
    # A second create of the same address (any case) is refused, and sends no second invitation.
    is_scim_error(await bridge.http.post("/Users", json=body(email.upper())), 409)
    assert len([i for i in bridge.sandbox.state.outbox if i.user_id == uid]) == 1


async def test_deprovisioning_patch_archives(bridge: Harness) -> None:
    uid = (await bridge.http.post("/Users", json=body(f"leaver.{uuid.uuid4().hex[:8]}@example.com"))).json()[
        "id"
    ]
    before = bridge.harvest_requests()
    r = await bridge.http.patch(
        f"/Users/{uid}",
        json={"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
    )
    assert r.status_code == 204, r.text
    assert bridge.sandbox.state.users[int(uid)].is_active is False
    assert bridge.harvest_requests() == before + 1
    # Archived users are still found (they may come back) and still block their address.
    assert (await bridge.http.get(f"/Users/{uid}")).json()["active"] is False
    email = bridge.sandbox.state.users[int(uid)].email
    is_scim_error(await bridge.http.post("/Users", json=body(email)), 409)


async def test_archived_user_can_be_renamed(bridge: Harness) -> None:
    uid = (
        await bridge.http.post("/Users", json=body(f"arch.{uuid.uuid4().hex[:8]}@example.com", active=False))
    ).json()["id"]
    assert bridge.sandbox.state.users[int(uid)].is_active is False
    r = await bridge.http.patch(
        f"/Users/{uid}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "name.familyName", "value": "King"}],
        },
    )
    assert r.status_code == 204, r.text
    user = bridge.sandbox.state.users[int(uid)]
    assert (user.last_name, user.is_active) == ("King", False)


async def test_reads_after_sync_cost_no_harvest_request(bridge: Harness) -> None:
    users = (await bridge.http.get("/Users")).json()["Resources"]
    for user in users:
        r = await bridge.http.get("/Users", params={"filter": f'userName eq "{user["userName"]}"'})
        assert r.json()["totalResults"] == 1
        await bridge.http.get(f"/Users/{user['id']}")
    await bridge.http.get("/Groups")
    assert bridge.harvest_requests() == 0


async def test_jumpcloud_test_connection_create_then_delete(store: Store) -> None:
    async for h in make_harness(
        store, SandboxConfig(users=6, seed=4, rate_limit=None), delete_mode=DeleteMode.delete
    ):
        email = f"jc.{uuid.uuid4().hex[:8]}@example.com"
        uid = (await h.http.post("/Users", json=body(email))).json()["id"]
        assert (await h.http.delete(f"/Users/{uid}")).status_code == 204
        is_scim_error(await h.http.get(f"/Users/{uid}"), 404)
        assert int(uid) not in h.sandbox.state.users  # a fresh user is really deleted
        # A seeded user with time cannot be deleted: archived instead, then hidden.
        seeded = next(
            u
            for u in h.sandbox.state.users.values()
            if h.sandbox.state.time_entries.get(u.id) and "administrator" not in u.access_roles
        )
        assert (await h.http.delete(f"/Users/{seeded.id}")).status_code == 204
        assert h.sandbox.state.users[seeded.id].is_active is False
        is_scim_error(await h.http.get(f"/Users/{seeded.id}"), 404)
        # Provisioning the same address again brings that user back rather than failing.
        r = await h.http.post("/Users", json=body(seeded.email))
        assert r.status_code == 201, r.text
        assert r.json()["id"] == str(seeded.id)
        assert r.json()["active"] is True


async def test_onelogin_template_shapes(bridge: Harness) -> None:
    r = await bridge.http.post(
        "/Users",
        json={
            "schemas": [USER],
            "id": None,
            "userName": f"ol.{uuid.uuid4().hex[:8]}@example.com",
            "name": {"givenName": "One", "familyName": "Login"},
            "active": "true",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["active"] is True


async def test_token_counts_requests_by_status(bridge: Harness) -> None:
    await bridge.http.get("/Users")
    await bridge.http.get("/Users/1")
    await bridge.http.get("/Users/2")
    (token,) = bridge.bridge.tokens.list_tokens()
    assert token.counts == {200: 1, 404: 2}
    assert token.last_used_at is not None
    assert bridge.token not in repr(token)
    assert bridge.token not in str(token.as_dict())
