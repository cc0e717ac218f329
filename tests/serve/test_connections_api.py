"""Connections managed through the status API (``/api/v1/connections``), as a platform does it.

The service runs in process over ``httpx.ASGITransport`` on a real store (SQLite, and PostgreSQL
when ``THRESHER_TEST_DATABASE_URL`` is set: the suite's ``database_url``); the in-process sandbox
answers the token checks and the syncs. Syncs are run by the service's own scheduler, stopped
once the run they wait for is recorded: nothing here waits for a time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from thresher.connections import SecretBox
from thresher.harvest import OAuthApp
from thresher.jobs import JobsSettings
from thresher.jobs._schedule import due_connections
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.scim import TokenStore
from thresher.serve import AdminAuth, ServeSettings, Service
from thresher.store import ConnectionSettingsStore, ServeRecords, Store

SECRET = "connections-api-tests-secret-key"
USER_AGENT = "thresher-serve-tests (tests@example.com)"
SANDBOX = "http://sandbox.test"


@dataclass
class Api:
    service: Service
    store: Store
    sandbox: Sandbox
    http: httpx.AsyncClient
    token: str

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.auth(), **kw)

    async def create(self, name: str, **extra: Any) -> httpx.Response:
        creds = self.sandbox.credentials
        body = {"name": name, "access_token": creds.admin_token, "account_id": creds.account_id, **extra}
        return await self.post("/api/v1/connections", body)

    async def sync_once(self, name: str) -> None:
        """Let the service's scheduler run until ``name`` has a finished run."""
        connection = self.store.get_connection(name)
        records = ServeRecords(self.store)
        stop = asyncio.Event()
        task = asyncio.create_task(self.service.scheduler.run(stop))
        try:
            for _ in range(600):
                runs = await asyncio.to_thread(records.recent_runs, connection.id, limit=1)
                if runs and runs[0].finished_at is not None:
                    assert runs[0].outcome == "ok", runs[0]
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"no sync of {name} within 60 s")
        finally:
            stop.set()
            await task


@pytest.fixture
async def api(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    monkeypatch.setenv("THRESHER_SECRET_KEY", SECRET)
    sandbox = Sandbox(SandboxConfig(users=6, seed=5, rate_limit=None))
    creds = sandbox.credentials
    settings = ServeSettings.model_validate({
        "scim": {"enabled": False},
        "sync": {"interval": 3600},
        "oauth": {"api_url": f"{SANDBOX}/v2", "id_url": SANDBOX, "user_agent": USER_AGENT,
                  "client_id": creds.oauth_client_id, "client_secret": creds.oauth_client_secret},
    })
    with Store.open(database_url) as store:
        _, token = AdminAuth(ServeRecords(store)).create_token("platform")
        service = Service(settings, store, transport=httpx.ASGITransport(app=sandbox.app), tick=0.2)
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve.test") as http:
            yield Api(service, store, sandbox, http, token)


async def _oauth_result(sandbox: Sandbox) -> dict[str, Any]:
    """An OAuth result as a platform's own OAuth flow ends with one: authorize (the sandbox
    approves at once) and exchange the code at the token endpoint."""
    creds = sandbox.credentials
    transport = httpx.ASGITransport(app=sandbox.app)
    app = OAuthApp(creds.oauth_client_id, creds.oauth_client_secret, SANDBOX, USER_AGENT, transport=transport)
    async with httpx.AsyncClient(transport=transport, base_url=SANDBOX) as browser:
        answer = await browser.get(app.authorization_url("s1", creds.oauth_redirect_uri))
    assert answer.status_code in (302, 303), answer.text
    code = httpx.URL(answer.headers["location"]).params["code"]
    token = await app.exchange_code(code)
    assert token.refresh_token
    assert token.expires_at
    return {"access_token": token.access_token, "refresh_token": token.refresh_token,
            "expires_at": token.expires_at.isoformat()}


async def test_create_from_a_token_checks_it_and_never_shows_it(api: Api) -> None:
    made = await api.create("acme")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["name"] == "acme"
    assert body["account"]["id"] == api.sandbox.credentials.account_id
    assert body["user"]["administrator"] is True
    assert body["auth"] == "pat"
    assert body["credentials"] == "saved"
    assert made.headers["location"] == "/api/v1/connections/acme"
    assert api.sandbox.credentials.admin_token not in made.text
    assert "credentials_ref" not in body
    # Asked of Harvest before saving: the accounts it reaches, then whose token it is.
    paths = [r.path for r in api.sandbox.state.request_log]
    assert paths == ["/api/v2/accounts", "/v2/users/me"]
    blob = api.store.get_connection("acme").credentials_ref
    assert blob is not None
    sealed = SecretBox.from_env({"THRESHER_SECRET_KEY": SECRET}).open(blob)
    assert sealed.access_token == api.sandbox.credentials.admin_token
    assert sealed.user_id == body["user"]["id"]


async def test_create_from_an_oauth_result_keeps_what_refreshing_needs(api: Api) -> None:
    result = await _oauth_result(api.sandbox)
    made = await api.create("acme-oauth", **result)
    assert made.status_code == 201, made.text
    assert made.json()["auth"] == "oauth"
    assert result["refresh_token"] not in made.text
    assert result["access_token"] not in made.text
    blob = api.store.get_connection("acme-oauth").credentials_ref
    assert blob is not None
    sealed = SecretBox.from_env({"THRESHER_SECRET_KEY": SECRET}).open(blob)
    assert sealed.kind == "oauth"
    assert sealed.refresh_token == result["refresh_token"]
    assert sealed.client_id == api.sandbox.credentials.oauth_client_id  # from [oauth]: refreshable
    assert sealed.expires_at is not None
    # expires_in works too, and an OAuth field without a refresh token is refused.
    other = await _oauth_result(api.sandbox)
    del other["expires_at"]
    assert (await api.create("acme-oauth-2", **other, expires_in=3600)).status_code == 201
    lone = await api.create("acme-3", expires_in=3600)
    assert lone.status_code == 400
    assert "refresh_token" in lone.json()["error"]


async def test_a_name_is_never_overwritten_and_bad_names_are_refused(api: Api) -> None:
    assert (await api.create("acme")).status_code == 201
    before = api.store.get_connection("acme")
    again = await api.create("acme")
    assert again.status_code == 409
    assert "exists" in again.json()["error"]
    assert again.json()["hint"]
    assert api.store.get_connection("acme") == before
    for bad in ("env", "ENV", "has space", "../etc", "", "x" * 65):
        refused = await api.create(bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["hint"]
    assert [c.name for c in api.store.list_connections()] == ["acme"]


async def test_a_refused_token_is_a_422_with_the_fix_and_no_secret_anywhere(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = api.sandbox.credentials.account_id
    bogus = f"{account}.pt.ThisTokenWasNeverIssued-SecretPart"
    refused = await api.post("/api/v1/connections", {"name": "acme", "access_token": bogus,
                                                     "account_id": account})
    assert refused.status_code == 422
    assert refused.json()["error"] == "Harvest refused this access token"
    assert "id.getharvest.com/developers" in refused.json()["hint"]
    assert "SecretPart" not in refused.text
    assert "SecretPart" not in caplog.text
    assert api.store.list_connections() == []
    # A token for another account than the one asked for: refused with the accounts it reaches.
    wrong = await api.create("acme", account_id=account + 1)
    assert wrong.status_code == 422
    assert str(account) in wrong.json()["hint"]
    assert api.store.list_connections() == []


async def test_bodies_are_checked_before_anything_is_read_or_asked(api: Api) -> None:
    huge = await api.http.post("/api/v1/connections", content=b"{" + b" " * 70_000 + b"}",
                               headers={**api.auth(), "content-type": "application/json"})
    assert huge.status_code == 413
    assert (await api.http.post("/api/v1/connections", content=b"not json",
                                headers=api.auth())).status_code == 400
    assert (await api.post("/api/v1/connections", [1, 2])).status_code == 400
    unknown = await api.create("acme", colour="blue")
    assert unknown.status_code == 400
    assert "colour" in unknown.json()["error"]
    assert list(api.sandbox.state.request_log) == []  # nothing was asked of Harvest


async def test_only_admin_tokens_reach_the_connections_api(api: Api) -> None:
    _, scim_token = TokenStore(api.store).create("idp")
    for headers in ({}, api.auth(scim_token), api.auth("thadm_nope_nope"), {"Authorization": "Basic eDp5"}):
        for method, path in (("POST", "/api/v1/connections"), ("GET", "/api/v1/connections"),
                             ("PATCH", "/api/v1/connections/acme"), ("DELETE", "/api/v1/connections/acme"),
                             ("POST", "/api/v1/connections/acme/pause")):
            answer = await api.http.request(method, path, json={"name": "x"}, headers=headers)
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert answer.json()["error"] == "a valid admin API token is required"
    assert api.store.list_connections() == []


async def test_list_and_patch_settings_with_the_bad_field_named(api: Api) -> None:
    assert (await api.create("acme")).status_code == 201
    listed = (await api.http.get("/api/v1/connections", headers=api.auth())).json()["connections"]
    assert [c["name"] for c in listed] == ["acme"]
    assert listed[0]["provider"] == "harvest"
    assert listed[0]["account_id"] == api.sandbox.credentials.account_id
    assert listed[0]["paused"] is None
    assert listed[0]["settings"]["interval_s"] == 60.0
    assert listed[0]["last_sync"] is None
    assert api.sandbox.credentials.admin_token not in str(listed)

    patched = await api.http.patch("/api/v1/connections/acme", headers=api.auth(),
                                   json={"interval_s": 300, "teammates": "off", "scim_delete_mode": "delete"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"]["interval_s"] == 300
    assert patched.json()["settings"]["teammates"] == "off"
    bad_fields = (
        ({"interval_s": -5}, "interval_s"), ({"interval_s": "soon"}, "interval_s"),
        ({"teammates": "some"}, "teammates"), ({"scim_delete_mode": "shred"}, "scim_delete_mode"),
        ({"paused": "yes"}, "paused"), ({"colour": "blue"}, "colour"),
    )
    for bad, field in bad_fields:
        refused = await api.http.patch("/api/v1/connections/acme", headers=api.auth(), json=bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert field in refused.json()["error"]
    # Nothing of a refused PATCH was applied.
    stored = ConnectionSettingsStore(api.store).get(api.store.get_connection("acme").id)
    assert (stored.interval_s, stored.teammates, stored.scim_delete_mode) == (300, "off", "delete")
    missing = await api.http.patch("/api/v1/connections/nobody", headers=api.auth(), json={"interval_s": 9})
    assert missing.status_code == 404


async def test_a_paused_connection_is_not_synced_by_serve_or_the_workers(api: Api) -> None:
    assert (await api.create("paused-one")).status_code == 201
    assert (await api.create("active-one")).status_code == 201
    paused = await api.post("/api/v1/connections/paused-one/pause", {"reason": "customer on hold"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"]["reason"] == "customer on hold"
    # Both are due at once; the scheduler runs the active one, so it has looked at both.
    await api.sync_once("active-one")
    records = ServeRecords(api.store)
    assert records.recent_runs(api.store.get_connection("paused-one").id) == []
    # The workers' scheduling pass leaves it out too.
    due = due_connections(api.store, "tests", now=_far_future(), lead=JobsSettings().lead)
    assert [d.name for d in due] == ["active-one"]
    listed = (await api.http.get("/api/v1/connections", headers=api.auth())).json()["connections"]
    by_name = {c["name"]: c for c in listed}
    assert by_name["paused-one"]["paused"]["reason"] == "customer on hold"
    assert by_name["active-one"]["last_sync"]["outcome"] == "ok"
    resumed = await api.post("/api/v1/connections/paused-one/resume")
    assert resumed.status_code == 200
    assert resumed.json()["paused"] is None
    await api.sync_once("paused-one")


async def test_delete_keeps_the_mirror_and_purge_removes_it(api: Api) -> None:
    assert (await api.create("acme")).status_code == 201
    await api.sync_once("acme")
    connection = api.store.get_connection("acme")
    users = api.store.count_users(connection.id)
    events = len(api.store.list_events(connection.id))
    assert users > 0
    assert events > 0

    deleted = await api.http.delete("/api/v1/connections/acme", headers=api.auth())
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["purged"] is False
    kept = api.store.get_connection("acme")
    assert kept.credentials_ref is None  # the credential is gone
    assert api.store.count_users(kept.id) == users
    assert len(api.store.list_events(kept.id)) == events
    assert ConnectionSettingsStore(api.store).get(kept.id).paused  # and it is not scheduled
    assert due_connections(api.store, "tests", now=_far_future(), lead=1.0) == []
    refused = await api.post("/api/v1/connections/acme/resume")
    assert refused.status_code == 409  # no credential to sync with
    sneaky = await api.http.patch("/api/v1/connections/acme", headers=api.auth(), json={"paused": False})
    assert sneaky.status_code == 409

    # The same customer connects again: the mirror is there, the connection syncs again.
    again = await api.create("acme")
    assert again.status_code == 200
    assert again.json()["reattached"] is True
    assert again.json()["paused"] is None
    assert api.store.count_users(kept.id) == users

    purged = await api.http.delete("/api/v1/connections/acme?purge=true", headers=api.auth())
    assert purged.status_code == 200
    assert purged.json()["purged"] is True
    assert api.store.get_connection_or_none("acme") is None
    assert api.store.count_users(connection.id) == 0
    assert api.store.list_events(connection.id) == []
    gone = await api.http.delete("/api/v1/connections/acme", headers=api.auth())
    assert gone.status_code == 404


def _far_future() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
