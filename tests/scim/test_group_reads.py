"""Reading a group (RFC 7644 §3.4.1 GET of one Group) costs the same few SQL statements whatever its
size: the ids of the members shown are read in one statement, not one query each. And the bridge's
fast read (``scim/_group_reads.py``) answers exactly what scim2-server's usual path answers, for
every size and response parameter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from scim2_server.handler import AsyncScimHandler
from scim2_server.requests import ScimRequest
from sqlalchemy import event

from harvest_clients import engine
from thresher.provision import WriteThrough
from thresher.sandbox import SandboxConfig
from thresher.scim import ScimBridge, TokenStore
from thresher.scim._group_reads import GroupResponse
from thresher.store import Store

from .conftest import BASE, make_harness


@contextmanager
def counting_statements(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


async def test_a_group_read_costs_the_same_statements_for_20_and_2000_members(store: Store) -> None:
    async for h in make_harness(store, SandboxConfig(users=2_000, seed=11, rate_limit=None)):
        ids = sorted(u.harvest_id for u in store.list_users(h.connection.id))[:2_000]
        assert len(ids) == 2_000
        small = await h.harvest.create_role("Small crew", ids[:20])
        large = await h.harvest.create_role("Whole company", ids)
        await engine(store, h.harvest, h.connection).run(full=True)
        hidden = ids[7]
        assert (await h.http.delete(f"/Users/{hidden}")).status_code == 204

        # A token trusted for the whole test, so no request of the count checks it again.
        tokens = TokenStore(store, cache_seconds=3_600)
        _, secret = tokens.create("counting")
        bridge = ScimBridge(WriteThrough(h.harvest, store, h.connection), tokens)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bridge.app),
            base_url=BASE,
            headers={"Authorization": f"Bearer {secret}"},
        ) as http:
            assert (await http.get(f"/Users/{ids[0]}")).status_code == 200  # checks the token
            counts: dict[int, int] = {}
            for role in (small, large):
                with counting_statements(store) as statements:
                    r = await http.get(f"/Groups/{role.id}")
                assert r.status_code == 200, r.text
                members = {int(m["value"]) for m in r.json()["members"]}
                assert members == set(role.user_ids) - {hidden}
                counts[len(role.user_ids)] = len(statements)
        # The role with its externalId and first member shown, then the ids of the members shown
        # (and on SQLite the BEGIN of each of the two reads).
        assert counts[20] == counts[2_000] <= 5, counts


# What identity providers and scim2-tester ask for: everything, no members (Okta, Entra), members
# only, sub-attributes of members, the members left out by name or by asking for other attributes.
RESPONSE_PARAMETERS: list[dict[str, str]] = [
    {},
    {"excludedAttributes": "members"},
    {"attributes": "members"},
    {"attributes": "displayName"},
    {"attributes": "members.value"},
    {"attributes": "externalId,members.$ref"},
    {"excludedAttributes": "members.type,externalId"},
    {"excludedAttributes": "displayName"},
]


async def test_the_fast_group_read_answers_what_scim2_server_answers(store: Store) -> None:
    async for h in make_harness(store, SandboxConfig(users=60, seed=5, rate_limit=None)):
        ids = sorted(u.harvest_id for u in store.list_users(h.connection.id))
        hidden = ids[3]
        assert (await h.http.delete(f"/Users/{hidden}")).status_code == 204
        groups: dict[str, int] = {}
        for name, members in {
            "Nobody": [],
            "Only the hidden one": [hidden],
            "One": ids[:1],
            "Two and the hidden one": ids[2:5],
            "Everyone": ids,
        }.items():
            groups[name] = (await h.harvest.create_role(name, members)).id
        created = await h.http.post(
            "/Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "From the IdP",
                "externalId": "okta-00g1",
                "members": [{"value": str(i)} for i in ids[10:40]],
            },
        )
        assert created.status_code == 201, created.text
        groups["From the IdP"] = int(created.json()["id"])
        await engine(store, h.harvest, h.connection).run()

        handler = h.bridge.scim.handler
        for name, role_id in groups.items():
            for parameters in RESPONSE_PARAMETERS:
                fast = await h.http.get(f"/Groups/{role_id}", params=parameters)
                request = ScimRequest(
                    method="GET", base_url=BASE, path=f"/Groups/{role_id}", query=parameters
                )
                assert isinstance(await handler.query(request), GroupResponse)  # the fast read
                # scim2-server's own query: the whole group built by scim2-models, published
                # and dumped member by member.
                usual = await AsyncScimHandler.query(handler, request)
                assert fast.status_code == int(usual.status) == 200, (name, parameters, fast.text)
                assert fast.json() == json.loads(json.dumps(usual.body)), (name, parameters)
                for header in ("Content-Type", "Content-Location"):
                    assert fast.headers[header] == usual.headers[header]
                assert fast.headers["Location"] == usual.headers["Content-Location"]

        # The list endpoint, as identity providers check groups (Entra: a displayName filter
        # without members; Okta: pages of groups), and member filters matched on whole groups.
        searches: list[dict[str, str]] = [
            {},
            {"filter": 'displayName eq "everyone"', "excludedAttributes": "members"},
            {"filter": 'displayName eq "Everyone"'},
            {"filter": f'members[value eq "{ids[2]}"]', "attributes": "members.value"},
            {"filter": f'id eq "{groups["Everyone"]}" and members[value eq "{ids[20]}"]'},
            {"filter": 'externalId eq "okta-00g1"', "attributes": "externalId,members"},
            {"startIndex": "2", "count": "3", "excludedAttributes": "members.$ref"},
            {"count": "0"},
            {"filter": 'displayName sw "T"', "attributes": "displayName"},
        ]
        for parameters in searches:
            fast = await h.http.get("/Groups", params=parameters)
            request = ScimRequest(method="GET", base_url=BASE, path="/Groups", query=parameters)
            assert isinstance(await handler.search(request), GroupResponse)
            usual = await AsyncScimHandler.search(handler, request)
            assert fast.status_code == int(usual.status) == 200, (parameters, fast.text)
            assert fast.json() == json.loads(json.dumps(usual.body)), parameters
        listed = (await h.http.get("/Groups", params={"filter": 'displayName eq "Everyone"'})).json()
        assert len(listed["Resources"][0]["members"]) == len(ids) - 1

        everyone = (await h.http.get(f"/Groups/{groups['Everyone']}")).json()
        assert [m["value"] for m in everyone["members"]] == [str(i) for i in ids if i != hidden]
        assert everyone["members"][0] == {
            "value": str(ids[0]),
            "$ref": f"{BASE}/Users/{ids[0]}",
            "type": "User",
        }
        assert "members" not in (await h.http.get(f"/Groups/{groups['Only the hidden one']}")).json()
        for missing in ("999999", "not-a-number"):
            r = await h.http.get(f"/Groups/{missing}")
            assert r.status_code == 404, r.text
