"""What provisioning through the bridge does in Harvest or Greenhouse (the sandboxes), request by
request. The tests taking ``site`` run for a Harvest and a Greenhouse connection (tests/providers.py);
what exists for one product alone is asserted in its own branch, naming docs/greenhouse.md."""

from __future__ import annotations

import uuid
from typing import Any

from thresher.greenhouse_sandbox import GreenhouseSandbox
from thresher.harvest import harvest_to_iana
from thresher.sandbox import SandboxConfig
from thresher.scim import DeleteMode
from thresher.store import Store

from .conftest import Site, is_scim_error, make_harness

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HARVEST = "urn:thresher:params:scim:schemas:extension:harvest:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


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


def core_body(email: str, **extra: Any) -> dict[str, Any]:
    """A user as any identity provider sends it: SCIM's core schema, nothing of a provider's."""
    return {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": email, "type": "work", "primary": True}],
        **extra,
    }


def created_body(site: Site, email: str) -> dict[str, Any]:
    """Harvest's full body (``body``); for Greenhouse, the core User with the enterprise
    ``employeeNumber`` (its ``employee_id``): Greenhouse has no Harvest extension."""
    if site.provider.is_greenhouse:
        return core_body(email, externalId="ext-ada", **{ENTERPRISE: {"employeeNumber": "E-7"}})
    return body(email)


async def test_created_user_lands_in_the_provider_with_at_most_one_invitation(site: Site) -> None:
    email = f"ada.{uuid.uuid4().hex[:8]}@example.com"
    r = await site.http.post("/Users", json=created_body(site, email))
    assert r.status_code == 201, r.text
    uid = int(r.json()["id"])
    assert site.provider_requests() == 1  # POST /v2/users (or /v3/users), nothing else
    assert site.provider.user(uid) == ("Ada", "Lovelace", email, True)
    got = r.json()
    assert got["active"] is True
    assert got["externalId"] == "ext-ada"
    sandbox = site.provider.sandbox

    def sent() -> int:
        """Emails the provider sent about the user (Harvest's invitations; Greenhouse's outbox)."""
        if isinstance(sandbox, GreenhouseSandbox):
            return len(sandbox.state.outbox)
        return sum(1 for i in sandbox.state.outbox if i.user_id == uid)

    if isinstance(sandbox, GreenhouseSandbox):
        # docs/greenhouse.md §6: the enterprise employeeNumber is Greenhouse's employee_id, and a
        # create sends no invitation email.
        assert sandbox.state.users[uid].employee_id == "E-7"
        assert got[ENTERPRISE]["employeeNumber"] == "E-7"
        assert sent() == 0
    else:
        user = sandbox.state.users[uid]
        assert harvest_to_iana(user.timezone) == "Europe/London"
        assert user.access_roles == ["manager", "project_creator"]
        assert user.weekly_capacity == 135000
        assert user.is_contractor
        assert user.has_access_to_all_future_projects
        assert [i.to for i in sandbox.state.outbox if i.user_id == uid] == [email]
        # Both ways: the SCIM view reads back what Harvest holds.
        assert got["timezone"] == "Europe/London"
        assert got[HARVEST]["accessRoles"] == ["manager", "project_creator"]
        assert got[HARVEST]["weeklyCapacityHours"] == 37.5
    invitations = sent()
    # A second create of the same address (any case) is refused, and sends no second invitation.
    is_scim_error(await site.http.post("/Users", json=created_body(site, email.upper())), 409)
    assert sent() == invitations


async def test_deprovisioning_patch_archives(site: Site) -> None:
    email = f"leaver.{uuid.uuid4().hex[:8]}@example.com"
    uid = (await site.http.post("/Users", json=core_body(email))).json()["id"]
    before = site.provider_requests()
    r = await site.http.patch(
        f"/Users/{uid}",
        json={"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
    )
    assert r.status_code == 204, r.text
    assert site.provider.user(int(uid))[3] is False
    assert site.provider_requests() == before + site.provider.archive_requests
    # Archived users are still found (they may come back) and still block their address.
    assert (await site.http.get(f"/Users/{uid}")).json()["active"] is False
    is_scim_error(await site.http.post("/Users", json=core_body(email)), 409)


async def test_archived_user_can_be_renamed(site: Site) -> None:
    email = f"arch.{uuid.uuid4().hex[:8]}@example.com"
    created = await site.http.post("/Users", json=core_body(email, active=False))
    assert created.status_code == 201, created.text
    uid = int(created.json()["id"])
    assert site.provider.user(uid)[3] is False
    r = await site.http.patch(
        f"/Users/{uid}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "name.familyName", "value": "King"}],
        },
    )
    assert r.status_code == 204, r.text
    assert site.provider.user(uid)[1:4:2] == ("King", False)


async def test_reads_after_sync_cost_no_harvest_request(site: Site) -> None:
    users = (await site.http.get("/Users")).json()["Resources"]
    assert len(users) >= 5
    for user in users:
        r = await site.http.get("/Users", params={"filter": f'userName eq "{user["userName"]}"'})
        assert r.json()["totalResults"] == 1
        await site.http.get(f"/Users/{user['id']}")
    await site.http.get("/Groups")
    assert site.provider_requests() == 0


async def test_groups_are_offered_only_where_the_provider_has_them(site: Site) -> None:
    types = [t["id"] for t in (await site.http.get("/ResourceTypes")).json()["Resources"]]
    groups = await site.http.get("/Groups")
    if not site.provider.is_greenhouse:
        assert sorted(types) == ["Group", "User"]
        assert groups.status_code == 200, groups.text
        return
    # Greenhouse's user roles are per job permission, with no membership list a SCIM group could
    # map onto (docs/greenhouse.md §6): no Group resource type, and /Groups is not an endpoint.
    assert types == ["User"]
    is_scim_error(groups, 404)
    listed = (await site.http.get("/Users")).json()["Resources"]
    assert all("harvest" not in schema for user in listed for schema in user["schemas"])
    created = await site.http.post("/Groups", json={"schemas": [GROUP], "displayName": "Crew"})
    assert created.status_code in (400, 404), created.text
    assert site.provider_requests() == 0


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


async def test_onelogin_template_shapes(site: Site) -> None:
    r = await site.http.post(
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


async def test_token_counts_requests_by_status(site: Site) -> None:
    await site.http.get("/Users")
    await site.http.get("/Users/999999991")
    await site.http.get("/Users/999999992")
    (token,) = site.bridge.tokens.list_tokens()
    assert token.counts == {200: 1, 404: 2}
    assert token.last_used_at is not None
    assert site.token not in repr(token)
    assert site.token not in str(token.as_dict())
