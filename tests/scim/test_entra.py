"""Microsoft Entra ID, replayed from its documentation (docs/scim-idps.md §3), in both PATCH
dialects: the default (legacy) one and the one ``aadOptscim062020`` switches on (§3.1)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conftest import Harness, is_scim_error

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Entra:
    """Requests as Entra's provisioning service sends them; ``flag``: aadOptscim062020."""

    def __init__(self, harness: Harness, flag: bool) -> None:
        self.h = harness
        self.flag = flag

    def _params(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**(params or {}), **({"aadOptscim062020": ""} if self.flag else {})}

    async def get(self, url: str, **params: Any) -> Any:
        return await self.h.http.get(url, params=self._params(params))

    async def post(self, url: str, body: dict[str, Any]) -> Any:
        return await self.h.http.post(url, json=body, params=self._params())

    async def patch(self, url: str, *ops: dict[str, Any]) -> Any:
        r = await self.h.http.patch(
            url, json={"schemas": [PATCH], "Operations": list(ops)}, params=self._params()
        )
        assert r.status_code in (200, 204), r.text
        return r

    def op(self, name: str) -> str:
        return name.lower() if self.flag else name.capitalize()


@pytest.fixture(params=[False, True], ids=["legacy", "aadOptscim062020"])
def entra(request: pytest.FixtureRequest, bridge: Harness) -> Entra:
    return Entra(bridge, request.param)


def entra_user(upn: str, external_id: str) -> dict[str, Any]:
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": upn,
        "active": True,
        "displayName": "Grace Hopper",
        "emails": [{"primary": True, "type": "work", "value": upn}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Grace Hopper", "familyName": "Hopper", "givenName": "Grace"},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "E-1", "department": "Research"},
    }


async def test_test_connection_queries_random_ids(entra: Entra) -> None:
    for flt in (f'externalId eq "{uuid.uuid4()}"', f'userName eq "{uuid.uuid4()}@contoso.com"'):
        r = await entra.get("/Users", filter=flt)
        assert r.status_code == 200
        assert r.json()["totalResults"] == 0
    r = await entra.get("/Groups", excludedAttributes="members", filter=f'displayName eq "{uuid.uuid4()}"')
    assert r.status_code == 200
    assert r.json()["totalResults"] == 0


async def test_user_lifecycle(entra: Entra) -> None:
    state = entra.h.sandbox.state
    upn = f"grace.{uuid.uuid4().hex[:8]}@contoso.com"
    ext = str(uuid.uuid4())
    r = await entra.post("/Users", entra_user(upn, ext))
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert r.json()[ENTERPRISE] == {"employeeNumber": "E-1", "department": "Research"}
    # Lookups by every uniqueness attribute, joined with `and` too.
    for flt in (
        f'userName eq "{upn}"',
        f'externalId eq "{ext}"',
        f'emails[type eq "work"].value eq "{upn}"',
        f'externalId eq "{ext}" and userName eq "{upn.upper()}"',
    ):
        found = (await entra.get("/Users", filter=flt)).json()
        assert [u["id"] for u in found["Resources"]] == [uid], flt
    # externalId is caseExact (RFC 7643 §3.1).
    assert (await entra.get("/Users", filter=f'externalId eq "{ext.upper()}"')).json()["totalResults"] == 0

    new_upn = f"grace.hopper.{uuid.uuid4().hex[:8]}@contoso.com"
    if entra.flag:
        await entra.patch(
            f"/Users/{uid}",
            {
                "op": "replace",
                "value": {
                    "name.familyName": "Murray Hopper",
                    "userName": new_upn,
                    f"{ENTERPRISE}:employeeNumber": "E-2",
                    f"{ENTERPRISE}:manager": {"value": "someone"},
                },
            },
        )
    else:
        await entra.patch(
            f"/Users/{uid}",
            {"op": "Replace", "path": "name.familyName", "value": "Murray Hopper"},
            {"op": "Replace", "path": "userName", "value": new_upn},
            {"op": "Add", "path": f"{ENTERPRISE}:employeeNumber", "value": "E-2"},
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": {"value": "someone"}},
        )
    await entra.patch(
        f"/Users/{uid}",
        {"op": entra.op("replace"), "path": 'emails[type eq "work"].value', "value": new_upn},
    )
    got = (await entra.get(f"/Users/{uid}")).json()
    assert got["userName"] == new_upn
    assert got["name"]["familyName"] == "Murray Hopper"
    assert got[ENTERPRISE]["employeeNumber"] == "E-2"
    assert [e["value"] for e in got["emails"]] == [new_upn]
    assert state.users[int(uid)].email == new_upn
    assert state.users[int(uid)].last_name == "Murray Hopper"

    # Unassign = soft delete: "False" as a string without the flag.
    value: object = False if entra.flag else "False"
    await entra.patch(f"/Users/{uid}", {"op": entra.op("replace"), "path": "active", "value": value})
    assert state.users[int(uid)].is_active is False
    # Disabled users still come back, by id and by filter, with active false.
    assert (await entra.get(f"/Users/{uid}")).json()["active"] is False
    found = (await entra.get("/Users", filter=f'externalId eq "{ext}"')).json()
    assert found["Resources"][0]["active"] is False
    # Re-enable.
    value = True if entra.flag else "True"
    await entra.patch(f"/Users/{uid}", {"op": entra.op("replace"), "path": "active", "value": value})
    assert state.users[int(uid)].is_active is True

    # Rare hard delete: 204, then 404; Harvest keeps the user, archived.
    assert (await entra.h.http.delete(f"/Users/{uid}")).status_code == 204
    is_scim_error(await entra.get(f"/Users/{uid}"), 404)
    assert state.users[int(uid)].is_active is False
    assert (await entra.get("/Users", filter=f'externalId eq "{ext}"')).json()["totalResults"] == 0


async def test_add_work_email_that_does_not_exist_yet(entra: Entra) -> None:
    upn = f"nomail.{uuid.uuid4().hex[:8]}@contoso.com"
    body = entra_user(upn, str(uuid.uuid4()))
    del body["emails"]
    uid = (await entra.post("/Users", body)).json()["id"]
    await entra.patch(
        f"/Users/{uid}",
        {"op": entra.op("add"), "path": 'emails[type eq "work"].value', "value": "other@contoso.com"},
    )
    got = (await entra.get(f"/Users/{uid}")).json()
    assert got["emails"] == [{"type": "work", "value": "other@contoso.com"}]
    assert got["userName"] == upn  # Harvest's email is the userName


async def test_groups(entra: Entra) -> None:
    state = entra.h.sandbox.state
    users = []
    for _ in range(3):
        upn = f"member.{uuid.uuid4().hex[:8]}@contoso.com"
        users.append((await entra.post("/Users", entra_user(upn, str(uuid.uuid4())))).json()["id"])
    name = f"Research {uuid.uuid4().hex[:6]}"
    r = await entra.post(
        "/Groups",
        {
            "schemas": [GROUP, MS_GROUP],
            "externalId": "g-ext-1",
            "displayName": name,
            "meta": {"resourceType": "Group"},
        },
    )
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    found = (
        await entra.get("/Groups", excludedAttributes="members", filter=f'displayName eq "{name}"')
    ).json()
    assert [g["id"] for g in found["Resources"]] == [gid]
    assert "members" not in found["Resources"][0]
    assert (await entra.get("/Groups", filter='externalId eq "g-ext-1"')).json()["totalResults"] == 1
    # Add members with "$ref": null.
    await entra.patch(
        f"/Groups/{gid}",
        {"op": entra.op("add"), "path": "members", "value": [{"value": u, "$ref": None} for u in users]},
    )
    assert state.roles[int(gid)].user_ids == sorted(int(u) for u in users)
    # Rename.
    await entra.patch(
        f"/Groups/{gid}", {"op": entra.op("replace"), "path": "displayName", "value": f"{name} 2"}
    )
    assert state.roles[int(gid)].name == f"{name} 2"
    # Remove one member: the legacy form removes only the listed member, not all of them.
    if entra.flag:
        await entra.patch(f"/Groups/{gid}", {"op": "remove", "path": f'members[value eq "{users[0]}"]'})
    else:
        await entra.patch(
            f"/Groups/{gid}", {"op": "Remove", "path": "members", "value": [{"value": users[0]}]}
        )
    assert state.roles[int(gid)].user_ids == sorted(int(u) for u in users[1:])
    found = (
        await entra.get("/Groups", filter=f'members[value eq "{users[1]}"] and displayName eq "{name} 2"')
    ).json()
    assert [g["id"] for g in found["Resources"]] == [gid]
    # Duplicate names are refused (Entra's rule; Harvest's too).
    is_scim_error(await entra.post("/Groups", {"schemas": [GROUP], "displayName": f"{name} 2"}), 409)
    assert (await entra.h.http.delete(f"/Groups/{gid}")).status_code == 204
    is_scim_error(await entra.get(f"/Groups/{gid}"), 404)
