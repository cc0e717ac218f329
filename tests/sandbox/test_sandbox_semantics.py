"""Semantics of users and the resources around them, in-process through
``httpx.ASGITransport``: the configurable [U] behaviours, body formats, and the finer rules."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from conftest import harvest_headers
from thresher.sandbox import Sandbox, SandboxConfig
from thresher.sandbox._errors import DroppedConnectionError


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(users=25, seed=1, rate_limit=None)


async def create(client: httpx.AsyncClient, email: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/v2/users", json={"first_name": "T", "last_name": "U", "email": email, **fields}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_updated_at_moves_on_every_change_even_within_a_second(
    sandbox: Sandbox, sandbox_client: httpx.AsyncClient
) -> None:
    user = await create(sandbox_client, "stamp@example.com")
    stamps = [user["updated_at"]]
    for capacity in (1800, 3600, 5400):
        patched = await sandbox_client.patch(f"/v2/users/{user['id']}", json={"weekly_capacity": capacity})
        stamps.append(patched.json()["updated_at"])
    unchanged = await sandbox_client.patch(f"/v2/users/{user['id']}", json={"weekly_capacity": 5400})
    assert unchanged.json()["updated_at"] == stamps[-1]  # no change, no new stamp
    sandbox.set_clock_offset(-86400)  # a clock set back still cannot move updated_at backwards
    stamps.append(
        (await sandbox_client.patch(f"/v2/users/{user['id']}", json={"is_contractor": True})).json()[
            "updated_at"
        ]
    )
    sandbox.set_clock_offset(10 * 86400)
    stamps.append(
        (await sandbox_client.patch(f"/v2/users/{user['id']}", json={"is_contractor": False})).json()[
            "updated_at"
        ]
    )
    assert stamps == sorted(set(stamps))
    assert stamps[-1][:10] > stamps[0][:10]  # the offset shows in the date


async def test_role_changes_move_members_updated_at(sandbox_client: httpx.AsyncClient) -> None:
    user = await create(sandbox_client, "member@example.com")
    role = (await sandbox_client.post("/v2/roles", json={"name": "Ops"})).json()
    await sandbox_client.patch(f"/v2/roles/{role['id']}", json={"user_ids": [user["id"]]})
    after = (await sandbox_client.get(f"/v2/users/{user['id']}")).json()
    assert after["roles"] == ["Ops"]
    assert after["updated_at"] > user["updated_at"]


async def test_unknown_role_names_create_roles_or_fail(
    sandbox: Sandbox, sandbox_client: httpx.AsyncClient
) -> None:
    user = await create(sandbox_client, "roles@example.com", roles=["Brand New"])
    assert user["roles"] == ["Brand New"]
    assert any(r.name == "Brand New" for r in sandbox.state.roles.values())
    sandbox.configure(create_unknown_roles=False)
    refused = await sandbox_client.patch(f"/v2/users/{user['id']}", json={"roles": ["Nonexistent"]})
    assert refused.status_code == 422


async def test_rename_while_restoring_is_configurable(
    sandbox: Sandbox, sandbox_client: httpx.AsyncClient
) -> None:
    user = await create(sandbox_client, "restore@example.com", is_active=False)
    sandbox.configure(rename_while_restoring=True)
    both = await sandbox_client.patch(
        f"/v2/users/{user['id']}", json={"is_active": True, "last_name": "Back"}
    )
    assert (both.status_code, both.json()["last_name"]) == (200, "Back")


async def test_messages_are_configurable(sandbox: Sandbox, sandbox_client: httpx.AsyncClient) -> None:
    sandbox.configure(duplicate_email_message="{email} is taken", forbidden_message="No.")
    await create(sandbox_client, "dup@example.com")
    duplicate = await sandbox_client.post(
        "/v2/users", json={"first_name": "A", "last_name": "B", "email": "Dup@example.com"}
    )
    assert duplicate.json() == {"message": "Dup@example.com is taken"}
    creds = sandbox.credentials
    refused = await sandbox_client.get(
        "/v2/users", headers=harvest_headers(creds.member_token, creds.account_id)
    )
    assert refused.json() == {"message": "No."}


async def test_form_bodies_like_rails(sandbox_client: httpx.AsyncClient) -> None:
    form = [
        ("first_name", "Form"),
        ("last_name", "Body"),
        ("email", "form@example.com"),
        ("is_contractor", "true"),
        ("access_roles[]", "manager"),
        ("access_roles[]", "project_creator"),
        ("weekly_capacity", "72000"),
    ]
    response = await sandbox_client.post(
        "/v2/users", content=urlencode(form), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert (user["is_contractor"], user["access_roles"], user["weekly_capacity"]) == (
        True,
        ["manager", "project_creator"],
        72000,
    )
    broken = await sandbox_client.post(
        "/v2/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400


async def test_patch_ignores_retired_parameters(sandbox_client: httpx.AsyncClient) -> None:
    user = await create(sandbox_client, "retired@example.com", default_hourly_rate=100)
    patched = await sandbox_client.patch(
        f"/v2/users/{user['id']}", json={"default_hourly_rate": 5, "cost_rate": 5, "telephone": "555"}
    )
    assert patched.status_code == 200  # §10: ignored silently
    assert (patched.json()["default_hourly_rate"], patched.json()["telephone"]) == (100.0, "")


async def test_rates_with_equal_start_date_replace_and_sort_oldest_first(
    sandbox_client: httpx.AsyncClient,
) -> None:
    user = await create(sandbox_client, "r@example.com", default_hourly_rate=50)
    path = f"/v2/users/{user['id']}/billable_rates"
    for amount, start in ((60, "2021-01-01"), (70, "2020-01-01"), (80, "2020-06-01"), (85, "2020-06-01")):
        assert (
            await sandbox_client.post(path, json={"amount": amount, "start_date": start})
        ).status_code == 201
    rates = (await sandbox_client.get(path)).json()["billable_rates"]
    assert [(r["amount"], r["start_date"], r["end_date"]) for r in rates] == [
        (50.0, None, "2019-12-31"),
        (70.0, "2020-01-01", "2020-05-31"),
        (85.0, "2020-06-01", None),
    ]


async def test_billable_rates_for_managers_with_the_add_on(
    sandbox: Sandbox, sandbox_client: httpx.AsyncClient
) -> None:
    creds = sandbox.credentials
    manager = sandbox.user_for_token(creds.manager_token)
    assert manager is not None
    assert "billable_rates_manager" in manager.access_roles
    teammate = sandbox.state.teammates[manager.id][0]
    as_manager = harvest_headers(creds.manager_token, creds.account_id)
    assert (
        await sandbox_client.get(f"/v2/users/{teammate}/billable_rates", headers=as_manager)
    ).status_code == 200
    seen = (await sandbox_client.get(f"/v2/users/{teammate}", headers=as_manager)).json()
    assert seen["default_hourly_rate"] == sandbox.state.users[teammate].default_hourly_rate
    await sandbox_client.patch(f"/v2/users/{manager.id}", json={"access_roles": ["manager"]})
    hidden = (await sandbox_client.get(f"/v2/users/{teammate}", headers=as_manager)).json()
    assert (hidden["default_hourly_rate"], hidden["cost_rate"]) == (None, None)  # §6.1
    assert (
        await sandbox_client.get(f"/v2/users/{teammate}/billable_rates", headers=as_manager)
    ).status_code == 403


async def test_future_project_access_in_process(sandbox: Sandbox, sandbox_client: httpx.AsyncClient) -> None:
    user = await create(sandbox_client, "future@example.com", has_access_to_all_future_projects=True)
    archived = await create(
        sandbox_client, "archived@example.com", has_access_to_all_future_projects=True, is_active=False
    )
    project, assigned = sandbox.create_project("Launch", client_name="Acme")
    owners = {sandbox.state.user_assignments[a].user_id for a in assigned}
    assert user["id"] in owners
    assert archived["id"] not in owners
    listed = (await sandbox_client.get(f"/v2/projects/{project.id}/user_assignments")).json()
    assert {a["user"]["id"] for a in listed["user_assignments"]} == owners


async def test_tokens_of_archived_or_deleted_users_stop_working(
    sandbox: Sandbox, sandbox_client: httpx.AsyncClient
) -> None:
    user = await create(sandbox_client, "tok@example.com")
    token = sandbox.issue_token(user["id"])
    headers = harvest_headers(token, sandbox.credentials.account_id)
    assert (await sandbox_client.get("/v2/users/me", headers=headers)).status_code == 200
    await sandbox_client.patch(f"/v2/users/{user['id']}", json={"is_active": False})
    assert (await sandbox_client.get("/v2/users/me", headers=headers)).status_code == 401
    await sandbox_client.delete(f"/v2/users/{user['id']}")
    assert token not in sandbox.state.access_tokens


async def test_etag_and_conditional_get(sandbox_client: httpx.AsyncClient) -> None:
    first = await sandbox_client.get("/v2/users/me")
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    again = await sandbox_client.get("/v2/users/me", headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")


async def test_drop_in_process_raises_the_httpx_error(
    sandbox: Sandbox, sandbox_client: httpx.AsyncClient
) -> None:
    sandbox.set_faults("drop:1")
    with pytest.raises(httpx.RemoteProtocolError) as raised:
        await sandbox_client.get("/v2/users/me")
    assert isinstance(raised.value, DroppedConnectionError)


async def test_implicit_grant_and_oauth_errors(sandbox: Sandbox, sandbox_client: httpx.AsyncClient) -> None:
    creds = sandbox.credentials
    params = {"client_id": creds.oauth_client_id, "response_type": "token", "state": "s"}
    fragment = await sandbox_client.get("/oauth2/authorize", params=params)
    assert fragment.status_code == 302
    values = parse_qs(urlsplit(fragment.headers["location"]).fragment)
    assert (values["token_type"], values["state"], values["expires_in"]) == (["bearer"], ["s"], ["1209600"])
    me = await sandbox_client.get(
        "/v2/users/me", headers={"Authorization": f"Bearer {values['access_token'][0]}"}
    )
    assert me.status_code == 200
    sandbox.configure(implicit_grant_in_query=True)
    query = await sandbox_client.get("/oauth2/authorize", params=params)
    assert "access_token" in parse_qs(urlsplit(query.headers["location"]).query)
    unknown = await sandbox_client.get("/oauth2/authorize", params={**params, "client_id": "nope"})
    assert unknown.status_code == 400
    unsupported = await sandbox_client.get("/oauth2/authorize", params={**params, "response_type": "magic"})
    assert parse_qs(urlsplit(unsupported.headers["location"]).query)["error"] == ["unsupported_response_type"]
    grant = await sandbox_client.post(
        "/api/v2/oauth2/token",
        json={
            "grant_type": "password",
            "client_id": creds.oauth_client_id,
            "client_secret": creds.oauth_client_secret,
        },
    )
    assert grant.json()["error"] == "unsupported_grant_type"
    basic = httpx.BasicAuth(creds.oauth_client_id, creds.oauth_client_secret)
    code_redirect = await sandbox_client.get(
        "/oauth2/authorize", params={**params, "response_type": "code", "sandbox_user_id": "0"}
    )
    assert parse_qs(urlsplit(code_redirect.headers["location"]).query)["error"] == ["access_denied"]
    manager = sandbox.user_for_token(creds.manager_token)
    assert manager is not None
    as_manager = await sandbox_client.get(
        "/oauth2/authorize", params={**params, "response_type": "code", "sandbox_user_id": str(manager.id)}
    )
    code = parse_qs(urlsplit(as_manager.headers["location"]).query)["code"][0]
    tokens = await sandbox_client.post(
        "/api/v2/oauth2/token", data={"grant_type": "authorization_code", "code": code}, auth=basic
    )
    me = await sandbox_client.get(
        "/v2/users/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
    )
    assert me.json()["id"] == manager.id
    sandbox.set_clock_offset(601)  # codes live 10 minutes
    late = await sandbox_client.get("/oauth2/authorize", params={**params, "response_type": "code"})
    sandbox.set_clock_offset(601 + 601)
    stale = parse_qs(urlsplit(late.headers["location"]).query)["code"][0]
    expired = await sandbox_client.post(
        "/api/v2/oauth2/token", data={"grant_type": "authorization_code", "code": stale}, auth=basic
    )
    assert expired.json()["error"] == "invalid_grant"


async def test_date_header_follows_the_sandbox_clock(
    sandbox: Sandbox, sandbox_client: httpx.AsyncClient
) -> None:
    # Harvest's Date and updated_at come from one clock; a skewed sandbox must skew both, and
    # the sync's windows (which read Date) depend on it.
    sandbox.set_clock_offset(-90)
    me = (await sandbox_client.get("/v2/users/me")).json()
    response = await sandbox_client.patch(f"/v2/users/{me['id']}", json={"weekly_capacity": 7200})
    assert len(response.headers.get_list("date")) == 1
    server_date = email.utils.parsedate_to_datetime(response.headers["date"])
    assert abs(server_date.timestamp() - (time.time() - 90)) < 3
    updated_at = dt.datetime.fromisoformat(response.json()["updated_at"].replace("Z", "+00:00"))
    assert abs((updated_at - server_date).total_seconds()) < 3
