"""Okta, replayed from its documentation (docs/scim-idps.md §2): the 12-step SCIM 2.0 spec
test (§2.1, in order, as the Runscope suite sends it) and the Group Push sequence."""

from __future__ import annotations

import uuid
from typing import Any

from .conftest import SCIM, Harness, is_scim_error

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OKTA_UA = {"User-Agent": "Okta SCIM Client 1.0.0"}


def okta_user(email: str) -> dict[str, object]:
    """Okta's create body (§2: placeholder password, locale, groups: [] included)."""
    return {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": "Marie", "familyName": "Curie"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": "Marie Curie",
        "locale": "en-US",
        "externalId": "00u1abcdEFGH",
        "groups": [],
        "password": "placeholder-Passw0rd",
        "active": True,
    }


async def test_okta_spec_test_12_steps(bridge: Harness) -> None:
    http = bridge.http
    # 1. List one user.
    r = await http.get("/Users", params={"count": 1, "startIndex": 1}, headers=OKTA_UA)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(SCIM)
    page = r.json()
    assert page["schemas"] == [LIST]
    assert (page["itemsPerPage"], page["startIndex"]) == (1, 1)
    assert isinstance(page["totalResults"], int)
    assert page["totalResults"] >= 1
    first = page["Resources"][0]
    assert first["id"]
    assert first["userName"]
    assert first["active"] is True
    assert first["name"]["givenName"]
    assert first["name"]["familyName"]
    assert first["emails"][0]["value"]
    # 2. Read that user.
    r = await http.get(f"/Users/{first['id']}")
    assert r.status_code == 200
    assert {k: r.json()[k] for k in ("id", "userName", "name", "emails")} == {
        k: first[k] for k in ("id", "userName", "name", "emails")
    }
    # 3. Search for a nonsense userName.
    r = await http.get("/Users", params={"filter": f'userName eq "{uuid.uuid4()}"'})
    assert r.status_code == 200
    assert r.json()["totalResults"] == 0
    assert r.json()["Resources"] == []
    # 4. Read an unknown id.
    is_scim_error(await http.get(f"/Users/{uuid.uuid4()}"), 404)
    # 5. Search for a random email as userName.
    r = await http.get("/Users", params={"filter": f'userName eq "{uuid.uuid4().hex}@example.com"'})
    assert r.status_code == 200
    assert r.json()["totalResults"] == 0
    # 6. Create a user, sent as application/json.
    email = f"marie.{uuid.uuid4().hex[:8]}@example.com"
    r = await http.post("/Users", json=okta_user(email), headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["active"] is True
    assert created["id"]
    assert USER in created["schemas"]
    assert created["userName"] == email
    assert created["name"] == {"givenName": "Marie", "familyName": "Curie"}
    assert r.headers["location"].endswith(f"/Users/{created['id']}")
    # 7. Read the new user back.
    r = await http.get(f"/Users/{created['id']}")
    assert r.json()["userName"] == email
    assert r.json()["externalId"] == "00u1abcdEFGH"
    # 8. Create the same user again.
    body = is_scim_error(await http.post("/Users", json=okta_user(email)), 409)
    assert body["scimType"] == "uniqueness"
    # 9. Search for the new userName in upper case.
    r = await http.get("/Users", params={"filter": f'userName eq "{email.upper()}"'})
    assert r.json()["totalResults"] == 1
    assert r.json()["Resources"][0]["id"] == created["id"]
    # 10. List groups.
    r = await http.get("/Groups")
    assert r.status_code == 200
    assert r.json()["schemas"] == [LIST]
    # 11. Search with a bad credential.
    r = await http.get(
        "/Users", params={"filter": f'userName eq "{email}"'}, headers={"Authorization": "Bearer nope"}
    )
    is_scim_error(r, 401)
    # 12. Read a long numeric unknown id.
    is_scim_error(await http.get("/Users/00919288221112222"), 404)


async def test_okta_deactivation_and_profile_put(bridge: Harness) -> None:
    http = bridge.http
    email = f"okta.{uuid.uuid4().hex[:8]}@example.com"
    created = (await http.post("/Users", json=okta_user(email))).json()
    uid = int(created["id"])
    # Update profile: GET, merge, PUT the whole object (AIW apps).
    user = (await http.get(f"/Users/{uid}")).json()
    user["name"]["familyName"] = "Skłodowska-Curie"
    r = await http.put(f"/Users/{uid}", json=user)
    assert r.status_code == 200
    assert r.json()["name"]["familyName"] == "Skłodowska-Curie"
    assert bridge.sandbox.state.users[uid].last_name == "Skłodowska-Curie"
    # Deactivate: path-less replace.
    r = await http.patch(
        f"/Users/{uid}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    assert r.status_code in (200, 204), r.text
    assert bridge.sandbox.state.users[uid].is_active is False
    assert (await http.get(f"/Users/{uid}")).json()["active"] is False
    # Reactivate.
    r = await http.patch(
        f"/Users/{uid}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]},
    )
    assert bridge.sandbox.state.users[uid].is_active is True


async def test_okta_import_pages_are_stable_and_complete(bridge: Harness) -> None:
    total = (await bridge.http.get("/Users", params={"count": 0})).json()["totalResults"]
    seen: list[str] = []
    start = 1
    while start <= total:
        page = (await bridge.http.get("/Users", params={"startIndex": start, "count": 3})).json()
        assert isinstance(page["startIndex"], int)
        assert page["startIndex"] == start
        seen += [u["id"] for u in page["Resources"]]
        start += 3
    assert len(seen) == len(set(seen)) == total
    assert seen == sorted(seen, key=int)


async def test_okta_group_push(bridge: Harness) -> None:
    http = bridge.http
    state = bridge.sandbox.state
    users = [
        (await http.post("/Users", json=okta_user(f"gp{i}.{uuid.uuid4().hex[:6]}@example.com"))).json()
        for i in range(3)
    ]
    a, b, c = (u["id"] for u in users)
    # Exists?
    r = await http.get(
        "/Groups", params={"filter": 'displayName eq "Platform Guild"', "startIndex": 1, "count": 100}
    )
    assert r.json()["totalResults"] == 0
    # Create.
    r = await http.post("/Groups", json={"schemas": [GROUP], "displayName": "Platform Guild", "members": []})
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    assert state.roles[int(gid)].name == "Platform Guild"
    # Add members, with display (Okta sends it).
    ops: list[dict[str, Any]] = [
        {
            "op": "add",
            "path": "members",
            "value": [{"value": a, "display": "A"}, {"value": b, "display": "B"}],
        }
    ]
    r = await http.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": ops})
    assert r.status_code in (200, 204), r.text
    assert state.roles[int(gid)].user_ids == sorted([int(a), int(b)])
    # Rename: path-less replace with the id in the value, re-sent with a membership change.
    ops = [
        {"op": "replace", "value": {"id": gid, "displayName": "Platform Guild Team"}},
        {"op": "remove", "path": f'members[value eq "{a}"]'},
    ]
    r = await http.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": ops})
    assert r.status_code in (200, 204), r.text
    assert state.roles[int(gid)].name == "Platform Guild Team"
    assert state.roles[int(gid)].user_ids == [int(b)]
    # Full push: replace path=members.
    ops = [{"op": "replace", "path": "members", "value": [{"value": c}, {"value": a}]}]
    await http.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": ops})
    assert state.roles[int(gid)].user_ids == sorted([int(a), int(c)])
    found = (await http.get("/Groups", params={"filter": f'members[value eq "{c}"]'})).json()
    assert [g["id"] for g in found["Resources"]] == [gid]
    # AIW apps PUT the group.
    r = await http.put(
        f"/Groups/{gid}",
        json={"schemas": [GROUP], "id": gid, "displayName": "Eng", "members": [{"value": b}]},
    )
    assert r.status_code == 200
    assert r.json()["displayName"] == "Eng"
    assert state.roles[int(gid)].user_ids == [int(b)]
    # The user side shows the role.
    user_b = (await http.get(f"/Users/{b}")).json()
    assert [g["display"] for g in user_b["groups"]] == ["Eng"]
    # Unlink.
    assert (await http.delete(f"/Groups/{gid}")).status_code == 204
    assert int(gid) not in state.roles
    is_scim_error(await http.get(f"/Groups/{gid}"), 404)
