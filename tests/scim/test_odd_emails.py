"""Never a 500 on data Harvest accepted: users whose Harvest email scim2-models refuses are served,
without the derived ``emails`` entry, and every listing stays 200 (docs/scim-idps.md §8)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from harvest_clients import engine
from thresher.sandbox import SandboxConfig
from thresher.store import Store

from .conftest import Harness, make_harness

ODD_EMAILS = ["jane@corp.local", "user@example.test", "a@b", "john..doe@example.com"]


@pytest.fixture
async def odd(store: Store) -> AsyncIterator[tuple[Harness, dict[int, str]]]:
    """A bridge whose Harvest holds one user per odd email (set in the sandbox directly, as
    Harvest accepted them), mirrored by a sync."""
    async for h in make_harness(store, SandboxConfig(users=8, seed=3, rate_limit=None)):
        state = h.sandbox.state
        users = sorted(state.users.values(), key=lambda u: u.id)[-len(ODD_EMAILS) :]
        for user, email in zip(users, ODD_EMAILS, strict=True):
            state.set_email(user, email)
            state.touch_user(user)
        await engine(store, h.harvest, h.connection).run(full=True)
        yield h, {u.id: u.email for u in users}


async def test_listings_with_odd_emails_stay_200(
    odd: tuple[Harness, dict[int, str]], caplog: pytest.LogCaptureFixture
) -> None:
    h, emails = odd
    caplog.set_level(logging.WARNING, logger="thresher.scim")
    for params in (
        {},
        {"count": "1"},
        {"count": "1", "startIndex": str(len(h.sandbox.state.users))},
        {"filter": "active eq true"},
        {"filter": 'userName co "@"'},
        {"filter": "emails pr"},
        {"excludedAttributes": "emails"},
    ):
        r = await h.http.get("/Users", params=params)
        assert r.status_code == 200, (params, r.text)
    everyone = {int(u["id"]): u for u in (await h.http.get("/Users")).json()["Resources"]}
    for uid, email in emails.items():
        # The userName (a plain string) is the address; the emails entry it cannot be is left out.
        assert everyone[uid]["userName"] == email
        assert "emails" not in everyone[uid]
        r = await h.http.get(f"/Users/{uid}")
        assert r.status_code == 200, r.text
        r = await h.http.get("/Users", params={"filter": f'userName eq "{email.upper()}"'})
        assert [u["id"] for u in r.json()["Resources"]] == [str(uid)]
    r = await h.http.post("/Users/.search", json={"filter": "active eq true", "count": 1})
    assert r.status_code == 200, r.text
    # Logged once per user, whatever the number of listings, and without the address itself.
    warnings = [rec.getMessage() for rec in caplog.records if "left out of emails" in rec.getMessage()]
    assert sorted(warnings) == sorted(set(warnings))
    assert not any(email in w for w in warnings for email in ODD_EMAILS)


async def test_a_user_with_an_odd_email_can_still_be_changed(odd: tuple[Harness, dict[int, str]]) -> None:
    h, emails = odd
    uid = next(iter(emails))
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "name.familyName", "value": "Changed"}],
    }
    r = await h.http.patch(f"/Users/{uid}", json=patch)
    assert r.status_code in (200, 204), r.text
    assert h.sandbox.state.users[uid].last_name == "Changed"
    assert h.sandbox.state.users[uid].email == emails[uid]  # validated on write only, never rewritten
