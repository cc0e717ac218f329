"""OAuth connections across processes: commands refresh an expired token and save it; a
long-running bridge takes the token another process saved instead of refreshing with a spent one.

The sandbox's refresh tokens are single use (a refresh rotates them, docs/harvest-api.md §5.2)
and its access tokens expire by the sandbox clock, which the tests move past the expiry.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from thresher._serving import serve_in_thread
from thresher.connections import open_client
from thresher.harvest import LimiterRegistry, User
from thresher.provision import WriteThrough
from thresher.scim import ScimBridge, TokenStore
from thresher.store import Store
from thresher.sync import RosterSync, SyncOptions, SyncReport

from .conftest import CLI_UA, PAST_EXPIRY, SECRET, Site

IN_PROCESS_UA = "thresher-in-process-tests (tests@example.com)"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def in_process(site: Site, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """This test process as a second host of the same store: its key, no HARVEST_* token."""
    for name in ("HARVEST_ACCESS_TOKEN", "HARVEST_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET)
    monkeypatch.setenv("XDG_CONFIG_HOME", site.env["XDG_CONFIG_HOME"])
    monkeypatch.setenv("HARVEST_USER_AGENT", IN_PROCESS_UA)  # tells this process's requests apart
    return monkeypatch


async def _sync(store: Store, name: str) -> SyncReport:
    async with open_client(store, name, limiter_registry=LimiterRegistry()) as harvest:
        return await RosterSync(store, harvest, store.get_connection(name), SyncOptions()).run()


async def _me(store: Store, name: str) -> User:
    async with open_client(store, name, limiter_registry=LimiterRegistry()) as harvest:
        return await harvest.me()


def test_sync_refreshes_an_expired_oauth_token_and_saves_it(site: Site, in_process: object) -> None:
    first = site.login_oauth("oauth")
    with site.store() as store:
        assert asyncio.run(_sync(store, "oauth")).kind == "full"
    assert site.credentials("oauth") == first  # a valid token is used as is

    site.move_clock(PAST_EXPIRY)
    site.clear_requests()
    again = site.thresher("sync", "--json")

    # A client built without the connection's OAuth flow gets 401 here: the command exits 77.
    assert again.returncode == 0, again.stderr
    report = again.json()
    assert (report["connection"], report["kind"]) == ("oauth", "incremental")
    assert report["requests"] >= 1
    refreshes = site.token_requests()
    assert [(r["status"], r["user_agent"]) for r in refreshes] == [(200, CLI_UA)]
    refused = [r for r in site.requests() if r["status"] == 401]
    assert refused, "the saved token should have been refused once the sandbox clock moved"
    assert max(r["id"] for r in refused) < refreshes[0]["id"]

    second = site.credentials("oauth")
    assert second.access_token != first.access_token
    assert second.refresh_token not in (None, first.refresh_token)  # rotated, saved at once
    assert first.expires_at is not None
    assert second.expires_at is not None
    assert second.expires_at > first.expires_at
    assert (second.client_id, second.user_id) == (first.client_id, first.user_id)

    # The next process starts from the saved token: no refresh, no 401.
    site.clear_requests()
    with site.store() as store:
        assert asyncio.run(_me(store, "oauth")).id == first.user_id
    assert [(r["path"], r["status"]) for r in site.requests()] == [("/v2/users/me", 200)]
    assert site.credentials("oauth") == second


def test_a_running_bridge_takes_the_token_another_process_refreshed(
    site: Site, in_process: object
) -> None:
    site.login_oauth("oauth")
    with site.store() as store:
        asyncio.run(_sync(store, "oauth"))  # the mirror's first fill, in an event loop of its own
        connection = store.get_connection("oauth")
        client = open_client(store, "oauth", limiter_registry=LimiterRegistry())
        _, scim_token = TokenStore(store).create("idp")
        bridge = ScimBridge(WriteThrough(client, store, connection), TokenStore(store), close_client=True)
        with serve_in_thread(bridge.app, name="thresher-scim-test") as port:
            scim = httpx.Client(
                base_url=f"http://127.0.0.1:{port}/scim/v2",
                headers={"Authorization": f"Bearer {scim_token}"},
                timeout=30,
            )
            with scim:
                # The bridge reaches Harvest with the token it loaded at start.
                before = scim.post("/Users", json=_scim_user("before"))
                assert before.status_code == 201, before.text
                loaded = site.credentials("oauth")

                site.move_clock(PAST_EXPIRY)
                site.clear_requests()
                other = site.thresher(
                    "users", "create", "--connection", "oauth", "--email",
                    f"other.{uuid.uuid4().hex[:8]}@example.com", "--first-name", "Oth",
                    "--last-name", "Er",
                )
                assert other.returncode == 0, other.stderr
                assert [r["user_agent"] for r in site.token_requests()] == [CLI_UA]
                refreshed = site.credentials("oauth")
                assert refreshed.refresh_token != loaded.refresh_token  # the bridge's is spent

                site.clear_requests()
                created = scim.post("/Users", json=_scim_user("after"))
                assert created.status_code == 201, created.text
                email = created.json()["userName"]

    assert email in {u.email for u in site.sandbox.state.users.values()}
    log = site.requests()
    assert site.token_requests() == []  # the bridge did not refresh with its spent refresh token
    assert {r["user_agent"] for r in log} == {IN_PROCESS_UA}
    calls = [(r["method"], r["path"], r["status"]) for r in log]
    assert calls[0][2] == 401  # its loaded token, expired by now
    assert calls[-1] == ("POST", "/v2/users", 201)
    assert site.credentials("oauth") == refreshed  # nothing saved over the other process's token


def _scim_user(tag: str) -> dict[str, object]:
    email = f"{tag}.{uuid.uuid4().hex[:8]}@example.com"
    return {
        "schemas": [SCIM_USER],
        "userName": email,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": email, "primary": True}],
    }
