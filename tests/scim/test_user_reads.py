"""The fast user reads (``scim/_user_reads.py``) answer exactly what scim2-server's usual path
answers: the same status, headers and bytes, over many kinds of users (odd and unusual emails,
empty names, unicode, userNames that are not addresses, externalIds, enterprise fields, the
Harvest extension shown or not, groups, users a DELETE hid, archived users).

Each request is sent twice to the same bridge, with the fast reads on and off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scim2_models import Email

from harvest_clients import engine
from thresher.sandbox import SandboxConfig
from thresher.scim._user_reads import address_shown
from thresher.store import Store

from .conftest import Harness, make_harness

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HARVEST = "urn:thresher:params:scim:schemas:extension:harvest:2.0:User"
ODD_EMAILS = [
    "jane@corp.local",
    "user@example.test",
    "a@b",
    "john..doe@example.com",
    "Mixed.Case@EXAMPLE.Org",
]


def _created(i: int, **extra: Any) -> dict[str, Any]:
    email = f"made{i}@reads.example.com"
    return {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": "Made", "familyName": str(i)},
        **extra,
    }


@pytest.fixture
async def many(store: Store) -> AsyncIterator[Harness]:
    """A bridge over users of every kind the differential test reads."""
    async for h in make_harness(store, SandboxConfig(users=16, seed=11, rate_limit=None)):
        state = h.sandbox.state
        users = sorted(state.users.values(), key=lambda u: u.id)
        for user, email in zip(users[-len(ODD_EMAILS) :], ODD_EMAILS, strict=True):
            state.set_email(user, email)
            state.touch_user(user)
        users[1].first_name, users[1].last_name = "", ""
        users[2].first_name, users[2].last_name = "Zoë", "Ångström-Łukasiewicz 日本"
        users[3].timezone = "Not A Zone"
        for user in users[1:4]:
            state.touch_user(user)
        state.set_active(users[4], False)
        state.touch_user(users[4])
        await engine(store, h.harvest, h.connection).run(full=True)
        bodies = [
            # JumpCloud/OneLogin: a username that is not an address, a work email.
            _created(0, userName="jdoe", emails=[{"value": "jdoe@reads.example.com", "type": "work"}]),
            # Entra: UPN differs from mail; several emails, one with a display name.
            _created(
                1,
                userName="upn.one@tenant.example.com",
                externalId="ext-ü-1",
                emails=[
                    {"value": "mail.one@reads.example.com", "type": "work", "primary": True},
                    {"value": "Home.One@Reads.Example.com", "type": "home", "display": "Home ✉"},
                ],
            ),
            _created(2, externalId="00u2", **{ENTERPRISE: {"employeeNumber": "E-2", "department": "R&D"}}),
            _created(
                3,
                externalId="",
                **{HARVEST: {"accessRoles": ["manager"], "weeklyCapacityHours": 20.5, "contractor": True}},
            ),
            _created(4, externalId="hidden-soon"),
            _created(5, userName="MiXeD.CaSe@Reads.Example.com"),
        ]
        for body in bodies:
            r = await h.http.post("/Users", json=body)
            assert r.status_code == 201, r.text
        hidden = (await h.http.get("/Users", params={"filter": 'externalId eq "hidden-soon"'})).json()
        r = await h.http.delete(f"/Users/{hidden['Resources'][0]['id']}")
        assert r.status_code == 204, r.text
        yield h


async def _both(h: Harness, path: str, params: dict[str, str] | None = None) -> tuple[httpx.Response, int]:
    """The response of the fast reads, checked equal to the usual path's; and whether the fast
    reads answered it."""
    reads = h.bridge.scim.handler.user_reads
    before = reads.served
    fast = await h.http.get(path, params=params)
    answered = reads.served - before
    reads.enabled = False
    try:
        usual = await h.http.get(path, params=params)
    finally:
        reads.enabled = True
    assert fast.status_code == usual.status_code, (path, params, fast.text, usual.text)
    assert fast.content == usual.content, (path, params)
    for header in ("content-type", "location", "content-location", "etag", "cache-control"):
        assert fast.headers.get(header) == usual.headers.get(header), (header, path, params)
    return fast, answered


async def test_fast_reads_answer_what_the_usual_path_answers(many: Harness) -> None:
    h = many
    everyone = (await h.http.get("/Users", params={"count": "1000"})).json()["Resources"]
    assert len(everyone) >= 16
    fast_answers = 0
    for user in everyone:
        uid = user["id"]
        lookups: list[tuple[str, dict[str, str] | None]] = [
            (f"/Users/{uid}", None),
            ("/Users", {"filter": f'userName eq "{user["userName"]}"'}),
            ("/Users", {"filter": f'USERNAME Eq "{user["userName"].upper()}"', "count": "100"}),
            ("/Users", {"filter": f'id eq "{uid}"', "startIndex": "1"}),
        ]
        if user.get("externalId") is not None:
            lookups.append(("/Users", {"filter": f'externalId eq "{user["externalId"]}"'}))
        for path, params in lookups:
            r, answered = await _both(h, path, params)
            assert r.status_code == 200, r.text
            fast_answers += answered
    # Most of these are the fast reads' (odd emails are the usual path's), and the direct
    # writing agreed with scim2-server on every kind of user it met.
    assert fast_answers > len(everyone) * 3
    assert not h.bridge.scim.handler.user_reads._refused
    shown = {u["userName"]: u for u in everyone}
    assert shown["jdoe"]["emails"][0]["value"] == "jdoe@reads.example.com"
    assert shown["upn.one@tenant.example.com"]["emails"][1]["value"] == "Home.One@reads.example.com"


LISTINGS: list[dict[str, str]] = [
    {},
    {"count": "7"},
    {"startIndex": "5", "count": "3"},
    {"startIndex": "15", "count": "10"},
    {"startIndex": "1000"},
    {"count": "0"},
    {"count": "5000"},
    {"startIndex": "0", "count": "2"},
    {"startIndex": "-3", "count": "2"},
    {"count": "-1"},
    {"filter": 'userName eq "nobody@nowhere.example.com"'},
    {"filter": 'externalId eq "hidden-soon"'},
    {"filter": 'externalId eq "EXT-ü-1"'},
    {"filter": 'id eq "not-a-number"'},
    {"filter": 'id eq "99999999999999999999"'},
    {"filter": 'userName eq "jdoe" and active eq true'},
    {"filter": 'userName eq "jd\\u006fe"'},
    {"filter": 'emails.value eq "jdoe@reads.example.com"'},
    {"filter": 'displayName eq "x"'},
    {"filter": 'nickName eq "x"'},
    {"filter": "userName eq"},
    {"filter": 'userName eq "jdoe"', "attributes": "userName"},
    {"filter": 'userName eq "jdoe"', "excludedAttributes": "emails,groups"},
    {"filter": 'userName eq "jdoe"', "sortBy": "userName"},
]


async def test_listings_and_other_queries_match(many: Harness) -> None:
    answered = 0
    for params in LISTINGS:
        answered += (await _both(many, "/Users", params))[1]
    assert answered >= 8  # the plain listings and lookups; the others took the usual path


async def test_reads_of_one_user_match(many: Harness) -> None:
    h = many
    uid = (await h.http.get("/Users", params={"filter": 'userName eq "jdoe"'})).json()["Resources"][0]["id"]
    hidden = h.bridge.storage.local.hidden_user_ids()
    assert hidden
    for path, params in [
        (f"/Users/{uid}", {"attributes": "userName"}),
        (f"/Users/{uid}", {"excludedAttributes": "emails"}),
        (f"/Users/{next(iter(hidden))}", None),
        ("/Users/123456789", None),
        ("/Users/0", None),
    ]:
        await _both(h, path, params)
    for header in ({"If-None-Match": "*"}, {"If-Match": '"x"'}):
        fast = await h.http.get(f"/Users/{uid}", headers=header)
        reads = h.bridge.scim.handler.user_reads
        reads.enabled = False
        try:
            usual = await h.http.get(f"/Users/{uid}", headers=header)
        finally:
            reads.enabled = True
        assert (fast.status_code, fast.content) == (usual.status_code, usual.content)


async def test_a_shape_the_direct_writing_gets_wrong_is_read_the_usual_way(many: Harness) -> None:
    """The run-time check: a user whose direct rendering differs from scim2-server's (as after
    an upgrade that changes the published form) is served the usual way, and so is every user
    of that shape afterwards."""
    h = many
    reads = h.bridge.scim.handler.user_reads
    reads._checked.clear()
    r = await h.http.get("/Users", params={"filter": 'userName eq "jdoe"'})
    (shape,) = reads._checked
    reads._checked.clear()
    reads._refused.add(shape)
    before = reads.served
    again, answered = await _both(h, "/Users", {"filter": 'userName eq "jdoe"'})
    assert answered == 0
    assert reads.served == before
    assert again.content == r.content


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[A-Za-z0-9._%+'=-]{1,70}@[A-Za-z0-9.-]{1,40}\.[A-Za-z]{2,8}", fullmatch=True),
        st.from_regex(
            r"[a-z]{1,8}@([a-z0-9-]{1,10}\.){1,3}(local|test|arpa|onion|invalid|com|ORG)", fullmatch=True
        ),
        st.text(max_size=30),
    )
)
def test_the_address_shortcut_agrees_with_scim2_models(value: str) -> None:
    try:
        expected = Email.model_validate({"value": value}).value
    except ValueError:
        expected = None
    assert address_shown(value) == expected
