"""Identity mapping (docs/scim-idps.md §8): the userName is the identity provider's, kept by
thresher; Harvest's email is the primary (else work, else only) address of ``emails``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conftest import Harness, is_scim_error

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def user_body(user_name: str, *emails: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Jo", "familyName": "Doe"},
        **extra,
    }
    if emails:
        body["emails"] = list(emails)
    return body


async def _patch(h: Harness, uid: str, *ops: dict[str, Any]) -> None:
    r = await h.http.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": list(ops)})
    assert r.status_code in (200, 204), r.text


async def _ids(h: Harness, flt: str) -> list[str]:
    r = await h.http.get("/Users", params={"filter": flt})
    assert r.status_code == 200, r.text
    return [u["id"] for u in r.json()["Resources"]]


async def test_jumpcloud_username_with_a_work_email(bridge: Harness) -> None:
    user_name, email = f"jdoe{_tag()}", f"jdoe.{_tag()}@example.com"
    r = await bridge.http.post(
        "/Users",
        json=user_body(user_name, {"value": email, "type": "work"}, externalId="jc-1"),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    uid = created["id"]
    assert created["userName"] == user_name
    assert [e["value"] for e in created["emails"]] == [email]
    assert bridge.sandbox.state.users[int(uid)].email == email
    # Every lookup an identity provider makes, answered from the mirror (no Harvest request).
    bridge.transport.requests.clear()
    for flt in (
        f'userName eq "{user_name}"',
        f'userName eq "{user_name.upper()}"',
        'externalId eq "jc-1"',
        f'emails.value eq "{email}"',
        f'emails[type eq "work"].value eq "{email.upper()}"',
    ):
        assert await _ids(bridge, flt) == [uid], flt
    assert await _ids(bridge, f'userName eq "{email}"') == []
    assert bridge.harvest_requests() == 0
    # userName is unique without regard to case; the same email under another name is refused.
    clash = await bridge.http.post("/Users", json=user_body(user_name.upper(), {"value": f"x{email}"}))
    assert "userName" in is_scim_error(clash, 409)["detail"]
    clash = await bridge.http.post("/Users", json=user_body(f"other{_tag()}", {"value": email}))
    assert "email" in is_scim_error(clash, 409)["detail"]
    # JumpCloud's test connection: create, then DELETE, then 404.
    assert (await bridge.http.delete(f"/Users/{uid}")).status_code == 204
    is_scim_error(await bridge.http.get(f"/Users/{uid}"), 404)


async def test_a_username_that_is_not_an_address_needs_emails(bridge: Harness) -> None:
    r = await bridge.http.post("/Users", json=user_body(f"jdoe{_tag()}"))
    body = is_scim_error(r, 400)
    assert body["scimType"] == "invalidValue"
    assert "userName" in body["detail"]
    assert "emails" in body["detail"]
    # Several addresses, none primary or work: the bridge cannot choose.
    r = await bridge.http.post(
        "/Users",
        json=user_body(
            f"jdoe{_tag()}",
            {"value": f"a{_tag()}@example.com", "type": "home"},
            {"value": f"b{_tag()}@example.com", "type": "other"},
        ),
    )
    assert "primary" in is_scim_error(r, 400)["detail"]


async def test_an_address_username_without_emails_is_the_harvest_email(bridge: Harness) -> None:
    email = f"Okta.{_tag()}@example.com"
    r = await bridge.http.post("/Users", json=user_body(email))
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert r.json()["emails"] == [{"value": email, "type": "work", "primary": True}]
    assert bridge.sandbox.state.users[int(uid)].email == email
    assert await _ids(bridge, f'userName eq "{email.lower()}"') == [uid]


async def test_primary_wins_over_work(bridge: Harness) -> None:
    work, home = f"w{_tag()}@example.com", f"h{_tag()}@example.com"
    r = await bridge.http.post(
        "/Users",
        json=user_body(
            f"u{_tag()}", {"value": work, "type": "work"}, {"value": home, "type": "home", "primary": True}
        ),
    )
    assert r.status_code == 201, r.text
    assert bridge.sandbox.state.users[int(r.json()["id"])].email == home


async def test_entra_upn_is_not_the_mail_then_the_mail_changes(bridge: Harness) -> None:
    state = bridge.sandbox.state
    tag = _tag()
    upn, mail = f"grace{tag}@contoso.onmicrosoft.com", f"grace.hopper.{tag}@contoso.com"
    r = await bridge.http.post(
        "/Users",
        json=user_body(
            upn,
            {"primary": True, "type": "work", "value": mail},
            externalId=f"entra-{tag}",
            schemas=[USER, ENTERPRISE],
            active=True,
        ),
    )
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert r.json()["userName"] == upn
    assert state.users[int(uid)].email == mail

    # Every form a mail change comes in changes Harvest's email.
    forms: list[list[dict[str, Any]]] = []
    old = mail
    for n in range(7):
        new = f"grace.{n}.{tag}@contoso.com"
        every_form: list[list[dict[str, Any]]] = [
            [{"op": "Replace", "path": 'emails[type eq "work"].value', "value": new}],
            [{"op": "replace", "path": "emails[primary eq true].value", "value": new}],
            [{"op": "replace", "value": {"emails": [{"value": new, "type": "work", "primary": True}]}}],
            [{"op": "replace", "path": "emails", "value": [{"value": new, "type": "work"}]}],
            [
                {"op": "Add", "path": "emails", "value": [{"value": new, "type": "work"}]},
                {"op": "Remove", "path": f'emails[value eq "{old}"]'},
            ],
            [{"op": "Add", "path": 'emails[type eq "work"].value', "value": new}],
            [{"op": "replace", "value": {'emails[type eq "work"].value': new}}],
        ]
        forms.append(every_form[n])
        await _patch(bridge, uid, *forms[-1])
        assert state.users[int(uid)].email == new, forms[-1]
        got = (await bridge.http.get(f"/Users/{uid}")).json()
        assert got["userName"] == upn
        assert new in [e["value"] for e in got["emails"]]
        assert await _ids(bridge, f'emails[type eq "work"].value eq "{new}"') == [uid]
        assert await _ids(bridge, f'userName eq "{upn}"') == [uid]
        old = new
    # emails is required: removing them all is refused (Harvest needs an address).
    r = await bridge.http.patch(
        f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [{"op": "remove", "path": "emails"}]}
    )
    is_scim_error(r, 400)

    # A userName change alone changes thresher's record only.
    before = state.users[int(uid)].email
    new_upn = f"grace.h{tag}@contoso.onmicrosoft.com"
    bridge.transport.requests.clear()
    await _patch(bridge, uid, {"op": "Replace", "path": "userName", "value": new_upn})
    assert bridge.harvest_requests() == 0
    assert state.users[int(uid)].email == before
    assert await _ids(bridge, f'userName eq "{new_upn}"') == [uid]
    assert await _ids(bridge, f'userName eq "{upn}"') == []
    assert await _ids(bridge, f'externalId eq "entra-{tag}"') == [uid]

    # PUT (Okta's AIW apps) changes the email too.
    put_mail = f"put.{tag}@contoso.com"
    got = (await bridge.http.get(f"/Users/{uid}")).json()
    got["emails"] = [{"value": put_mail, "type": "work", "primary": True}]
    r = await bridge.http.put(f"/Users/{uid}", json=got)
    assert r.status_code == 200, r.text
    assert state.users[int(uid)].email == put_mail
    assert r.json()["userName"] == new_upn


async def test_an_added_work_email_becomes_the_harvest_email(bridge: Harness) -> None:
    # Entra adds the work email to a user created without one (docs/scim-idps.md §3).
    upn = f"nomail.{_tag()}@contoso.com"
    uid = (await bridge.http.post("/Users", json=user_body(upn))).json()["id"]
    other = f"other.{_tag()}@contoso.com"
    await _patch(bridge, uid, {"op": "Add", "path": 'emails[type eq "work"].value', "value": other})
    got = (await bridge.http.get(f"/Users/{uid}")).json()
    assert got["emails"] == [{"type": "work", "value": other}]
    assert got["userName"] == upn
    assert bridge.sandbox.state.users[int(uid)].email == other


async def test_a_userName_of_a_user_the_bridge_never_wrote_is_its_email(bridge: Harness) -> None:
    someone = (await bridge.http.get("/Users", params={"count": 1})).json()["Resources"][0]
    assert someone["userName"] == bridge.sandbox.state.users[int(someone["id"])].email
    # Taking that email as another user's userName is a clash.
    r = await bridge.http.post(
        "/Users", json=user_body(someone["userName"].upper(), {"value": f"n{_tag()}@example.com"})
    )
    is_scim_error(r, 409)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("externalId", "x" * 256),
        ("externalId", "x" * 5_000_000),
        ("userName", "u" * 256),
        ("name", {"givenName": "g" * 256, "familyName": "Doe"}),
        ("name", {"givenName": "Jo", "familyName": "d" * 256}),
    ],
    ids=["externalId-256", "externalId-5MB", "userName-256", "givenName-256", "familyName-256"],
)
async def test_over_long_values_are_refused_and_never_stored(bridge: Harness, where: str, value: Any) -> None:
    body = user_body(f"long{_tag()}", {"value": f"long.{_tag()}@example.com"})
    body[where] = value
    before = len(bridge.sandbox.state.users)
    r = await bridge.http.post("/Users", json=body)
    assert is_scim_error(r, 400)["scimType"] == "invalidValue"
    assert len(bridge.sandbox.state.users) == before
    # 255 characters are fine.
    ok = user_body(f"ok{_tag()}", {"value": f"ok.{_tag()}@example.com"}, externalId="e" * 255)
    assert (await bridge.http.post("/Users", json=ok)).status_code == 201
