"""Lookups answered exactly from the mirror (RFC 7644 §3.4.2.2), and who may ask (§2)."""

from __future__ import annotations

from typing import Any

import pytest

from thresher.sandbox import SandboxConfig
from thresher.scim import TokenError, TokenStore
from thresher.store import Store

from .conftest import Harness, is_scim_error, make_harness

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def _ids(bridge: Harness, flt: str, url: str = "/Users") -> list[str]:
    r = await bridge.http.get(url, params={"filter": flt})
    assert r.status_code == 200, (flt, r.text)
    return [u["id"] for u in r.json()["Resources"]]


async def test_operators_match_the_reference_matcher(bridge: Harness) -> None:
    users = (await bridge.http.get("/Users")).json()["Resources"]
    ada = users[0]
    email: str = ada["userName"]
    local, domain = email.split("@")
    everyone = sorted((u["id"] for u in users), key=int)
    cases: dict[str, list[str]] = {
        f'userName eq "{email.upper()}"': [ada["id"]],
        f'userName ne "{email}"': [i for i in everyone if i != ada["id"]],
        f'userName sw "{local[:3].upper()}"': [u["id"] for u in users if u["userName"].startswith(local[:3])],
        f'userName ew "@{domain}"': everyone,
        f'userName co "{local[1:4]}"': [u["id"] for u in users if local[1:4] in u["userName"]],
        "userName pr": everyone,
        "externalId pr": [],
        f'not (userName eq "{email}")': [i for i in everyone if i != ada["id"]],
        f'userName eq "{email}" or userName eq "{users[1]["userName"]}"': [ada["id"], users[1]["id"]],
        f'userName eq "{email}" and active eq true': [ada["id"]],
        f'id eq "{ada["id"]}"': [ada["id"]],
        f'emails.value eq "{email}"': [ada["id"]],
        f'displayName eq "{ada["displayName"]}"': [
            u["id"] for u in users if u["displayName"] == ada["displayName"]
        ],
        f'name.familyName eq "{ada["name"]["familyName"]}"': [
            u["id"] for u in users if u["name"]["familyName"] == ada["name"]["familyName"]
        ],
    }
    for flt, expected in cases.items():
        assert await _ids(bridge, flt) == sorted(expected, key=int), flt


@pytest.mark.parametrize(
    "flt",
    [
        'nickName eq "x"',  # not kept by the bridge: an empty answer would be a lie
        'password eq "x"',
        'title sw "V"',
        'userName eq "x" and addresses.locality eq "Paris"',
        "userName eq",  # syntax
        "userName eq unquoted",
        "((userName",
    ],
)
async def test_filters_that_cannot_be_answered_exactly_are_400(bridge: Harness, flt: str) -> None:
    body = is_scim_error(await bridge.http.get("/Users", params={"filter": flt}), 400)
    assert body["scimType"] == "invalidFilter"


async def test_paging(bridge: Harness) -> None:
    r = (await bridge.http.get("/Users", params={"count": 0})).json()
    assert r.get("Resources", []) == []
    total = r["totalResults"]
    r = (await bridge.http.get("/Users", params={"startIndex": 0, "count": 2})).json()
    assert r["startIndex"] == 1
    assert r["itemsPerPage"] == 2
    assert r["totalResults"] == total
    r = (await bridge.http.get("/Users", params={"startIndex": total, "count": 5})).json()
    assert r["itemsPerPage"] == 1


async def test_search_by_post(bridge: Harness) -> None:
    email = (await bridge.http.get("/Users")).json()["Resources"][0]["userName"]
    r = await bridge.http.post(
        "/Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": f'userName eq "{email}"',
            "attributes": ["userName"],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["Resources"][0]["userName"] == email


async def test_discovery(bridge: Harness) -> None:
    config = (await bridge.http.get("/ServiceProviderConfig", headers={"Authorization": ""})).json()
    assert config["patch"]["supported"] is True
    assert config["bulk"]["supported"] is False
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    schemas = {s["id"]: s for s in (await bridge.http.get("/Schemas")).json()["Resources"]}
    harvest = schemas["urn:thresher:params:scim:schemas:extension:harvest:2.0:User"]
    assert {a["name"] for a in harvest["attributes"]} >= {"accessRoles", "weeklyCapacityHours", "contractor"}
    enterprise = schemas["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    assert all("Stored only in thresher" in a["description"] for a in enterprise["attributes"])
    user = {a["name"]: a for a in schemas[USER]["attributes"]}
    assert "Stored only in thresher" in user["externalId"]["description"]
    types = (await bridge.http.get("/ResourceTypes")).json()["Resources"]
    assert {t["name"] for t in types} == {"User", "Group"}
    r = await bridge.http.post("/Schemas", json={})
    assert r.status_code == 405


async def test_missing_wrong_and_revoked_tokens_get_401(bridge: Harness) -> None:
    for header in (
        {"Authorization": ""},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": bridge.token},
        {"Authorization": f"Bearer {bridge.token}x"},
        {"Authorization": "Bearer thscim_000000000000_guess"},
    ):
        r = await bridge.http.get("/Users", headers=header)
        body = is_scim_error(r, 401)
        assert bridge.token not in r.text
        assert "Bearer" in r.headers["www-authenticate"]
        assert body["detail"]
    bridge.bridge.tokens.revoke("idp")
    is_scim_error(await bridge.http.get("/Users"), 401)


async def test_read_only_token_cannot_write(store: Store) -> None:
    async for h in make_harness(store, SandboxConfig(users=3, seed=2, rate_limit=None), read_only=True):
        assert (await h.http.get("/Users")).status_code == 200
        r = await h.http.post("/Users", json={"schemas": [USER], "userName": "x@example.com"})
        is_scim_error(r, 403)
        uid = (await h.http.get("/Users")).json()["Resources"][0]["id"]
        ops: dict[str, Any] = {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        }
        is_scim_error(await h.http.patch(f"/Users/{uid}", json=ops), 403)
        is_scim_error(await h.http.delete(f"/Users/{uid}"), 403)
        # A search sent in a body is a read (RFC 7644 §3.4.3): a read-only token may send it.
        search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 1}
        found = await h.http.post("/Users/.search", json=search)
        assert found.status_code == 200, found.text
        assert found.json()["Resources"][0]["id"] == uid
        # The bridge does not serve searches at the root (501), but not because of the token.
        assert (await h.http.post("/.search", json=search)).status_code != 403
        assert h.harvest_requests() == 0
        (token,) = h.bridge.tokens.list_tokens()
        assert token.counts[403] == 3


async def test_cidr_allow_list(bridge: Harness) -> None:
    tokens: TokenStore = bridge.bridge.tokens
    _, inside = tokens.create("office", allowed_cidrs=["10.1.0.0/16"])
    _, outside = tokens.create("elsewhere", allowed_cidrs=["192.0.2.0/24", "2001:db8::/32"])
    # The test client connects from 10.1.2.3.
    r = await bridge.http.get("/Users", headers={"Authorization": f"Bearer {inside}"})
    assert r.status_code == 200
    is_scim_error(await bridge.http.get("/Users", headers={"Authorization": f"Bearer {outside}"}), 403)


def test_bad_cidr_and_duplicate_names_are_refused(store: Store) -> None:
    tokens = TokenStore(store)
    with pytest.raises(TokenError):
        tokens.create("bad", allowed_cidrs=["10.0.0.300/8"])
    tokens.create("okta")
    with pytest.raises(TokenError):
        tokens.create("okta")
