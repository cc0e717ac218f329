"""Conformance: every row of docs/harvest-api.md §9 and every gotcha of §8, against the sandbox over
real HTTP (uvicorn on 127.0.0.1), with plain httpx.

Every 2xx answer on the user paths is validated against harvest-openapi.yaml, patched where the
file is wrong about the real API; ``sandbox_openapi.DEVIATIONS`` lists each deviation with its
reason, and ``test_sandbox_openapi.py`` checks each against the published file. The last test
checks that no row and no gotcha lacks a test.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sandbox_harness import (
    COVERED_GOTCHAS,
    COVERED_ROWS,
    GOTCHAS,
    SECTION_9,
    Api,
    decode_cursor,
    gotcha,
    query_of,
    row,
)
from sandbox_openapi import assert_schema

from conftest import LiveSandbox, harvest_headers
from thresher.harvest._timezones import HARVEST_TIMEZONES
from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox

DESCRIPTION = "The access token provided is expired, revoked, malformed or invalid for other reasons."
INVALID_TOKEN = {"error": "invalid_token", "error_description": DESCRIPTION}
WWW_AUTHENTICATE = (
    'Bearer realm="Rack::OAuth2 Protected Resources", error="invalid_token", '
    f'error_description="{DESCRIPTION}"'
)


@pytest.fixture
def live(fresh_live_sandbox: LiveSandbox) -> LiveSandbox:
    return fresh_live_sandbox


@pytest.fixture
def api(live: LiveSandbox) -> Api:
    return Api(live.client, live.headers)


def owner_id(live: LiveSandbox, token: str) -> int:
    user = live.sandbox.user_for_token(token)
    assert user is not None
    return user.id


def new_user(api: Api, email: str, **fields: Any) -> dict[str, Any]:
    response = api.post(
        "/v2/users", json={"first_name": "Test", "last_name": "User", "email": email, **fields}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- §1.1 and §2: headers, auth and error shapes ----------------------------------------------------
@gotcha(6)
@pytest.mark.parametrize("path", ["/v2/users", "/v2/users/me", "/v2/company", "/api/v2/accounts", "/v2/nope"])
def test_missing_user_agent_is_400(live: LiveSandbox, api: Api, path: str) -> None:
    request = api.client.build_request("GET", path, headers=live.headers())
    del request.headers["User-Agent"]  # httpx would send its own
    response = api.client.send(request)
    assert response.status_code == 400


@gotcha(6)
def test_bad_token_is_401_invalid_token(live: LiveSandbox, api: Api) -> None:
    response = api.client.get("/v2/users/me", headers=harvest_headers("nope", live.credentials.account_id))
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


@gotcha(6)
@pytest.mark.parametrize("account", [None, "", "1", "abc"])
def test_missing_or_foreign_account_id_looks_like_a_bad_token(
    live: LiveSandbox, api: Api, account: str | None
) -> None:
    headers = live.headers()
    if account is None:
        del headers["Harvest-Account-Id"]
    else:
        headers["Harvest-Account-Id"] = account
    response = api.client.get("/v2/users/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


def test_forecast_account_id_is_refused(live: LiveSandbox, api: Api) -> None:
    headers = {**live.headers(), "Harvest-Account-Id": str(live.credentials.forecast_account_id)}
    assert api.client.get("/v2/users/me", headers=headers).status_code == 401


def test_no_authorization_is_401(live: LiveSandbox, api: Api) -> None:
    headers = {k: v for k, v in live.headers().items() if k != "Authorization"}
    response = api.client.get("/v2/users/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


def test_query_string_auth(live: LiveSandbox, api: Api) -> None:
    creds = live.credentials
    response = api.client.get(
        "/v2/users/me",
        params={"access_token": creds.admin_token, "account_id": creds.account_id},
        headers={"User-Agent": "t (t@example.com)"},
    )
    assert response.status_code == 200
    assert_schema(response.json(), "User", optional=True)
    log = live.control("GET", "/requests", params={"limit": 1}).json()["requests"]
    assert creds.admin_token not in log[0]["query"]


def test_api_v2_alias(api: Api) -> None:
    me = api.get("/v2/users/me").json()
    assert api.client.get("/api/v2/users/me", headers=api._headers(None)).json() == me


@gotcha(13)
@gotcha(17)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/nope"),
        ("POST", "/v2/projects//user_assignments"),  # VCR-HTML
        ("GET", "/v2/people"),  # v1's users path (gotcha 17)
        ("PUT", "/v2/users/me"),  # there is no PUT (§1)
        ("GET", "/"),
    ],
)
def test_unknown_route_is_html_404(api: Api, method: str, path: str) -> None:
    response = api.call(method, path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "HARVEST: Can't find page" in response.text


def test_unknown_record_is_json_404(api: Api) -> None:
    for path in ("/v2/users/1", "/v2/users/abc", "/v2/roles/1", "/v2/projects/1/user_assignments"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"status": 404, "error": "Not Found"}


# -- §6 users: listing and pagination (§3) ----------------------------------------------------------
@row("GET", "/v2/users")
def test_list_users_newest_first_default_page(live: LiveSandbox, api: Api) -> None:
    body = api.get("/v2/users").json()
    ids = [u["id"] for u in body["users"]]
    assert ids == sorted(live.sandbox.state.users, reverse=True)
    assert (body["per_page"], body["total_pages"], body["total_entries"], body["page"]) == (
        2000,
        1,
        len(ids),
        1,
    )
    assert (body["next_page"], body["previous_page"]) == (None, None)
    assert body["links"] == {
        "first": f"{live.base_url}/v2/users?page=1&per_page=2000&ref=first",
        "next": None,
        "previous": None,
        "last": f"{live.base_url}/v2/users?page=1&per_page=2000&ref=last",
    }
    assert all(
        "is_admin" not in u and "permissions_claims" not in u for u in body["users"]
    )  # §6.2, gotcha 17


@row("GET", "/v2/users")
def test_list_users_cursor_mode(live: LiveSandbox, api: Api) -> None:
    total = len(live.sandbox.state.users)
    first = api.get("/v2/users", params={"per_page": 7}).json()
    pages = -(-total // 7)
    assert (first["page"], first["next_page"], first["previous_page"], first["total_pages"]) == (
        1,
        2,
        None,
        pages,
    )
    links = first["links"]
    assert links["first"] == f"{live.base_url}/v2/users?page=1&per_page=7&ref=first"
    assert links["last"] == f"{live.base_url}/v2/users?page={pages}&per_page=7&ref=last"
    assert query_of(links["next"])["ref"] == ["next_cursor"]
    assert query_of(links["next"])["per_page"] == ["7"]
    assert decode_cursor(links["next"]) == {"after": {"id": first["users"][-1]["id"]}}
    second = api.client.get(links["next"], headers=api._headers(None)).json()
    assert_schema(second, "Users", optional=True)
    assert second["page"] is None  # §3: null on middle pages
    assert (second["next_page"], second["previous_page"]) == (None, None)
    assert query_of(second["links"]["previous"])["ref"] == ["previous_cursor"]
    back = api.client.get(second["links"]["previous"], headers=api._headers(None)).json()
    assert [u["id"] for u in back["users"]] == [u["id"] for u in first["users"]]
    walked = [u["id"] for u in api.walk("/v2/users", "users", params={"per_page": 7})]
    assert walked == sorted(live.sandbox.state.users, reverse=True)
    last = api.get("/v2/users", params={"per_page": 7, "page": pages}).json()
    assert (last["page"], last["next_page"], last["links"]["next"]) == (pages, None, None)


@row("GET", "/v2/users")
def test_cursor_wins_over_page(live: LiveSandbox, api: Api) -> None:
    first = api.get("/v2/users", params={"per_page": 5}).json()
    cursor = query_of(first["links"]["next"])["cursor"][0]
    both = api.get("/v2/users", params={"per_page": 5, "cursor": cursor, "page": 1}).json()
    assert both["users"][0]["id"] < first["users"][-1]["id"]


@gotcha(14)
@pytest.mark.parametrize("per_page", ["0", "2001", "-1", "abc", "100000"])
def test_per_page_outside_1_to_2000_is_422(api: Api, per_page: str) -> None:
    response = api.get("/v2/users", params={"per_page": per_page})
    assert response.status_code == 422
    assert set(response.json()) == {"message"}


@gotcha(14)
def test_per_page_bounds_accepted(api: Api) -> None:
    assert len(api.get("/v2/users", params={"per_page": 1}).json()["users"]) == 1
    assert api.get("/v2/users", params={"per_page": 2000}).status_code == 200


@gotcha(8)
@row("GET", "/v2/users")
def test_filters_is_active_and_updated_since(live: LiveSandbox, api: Api) -> None:
    state = live.sandbox.state
    archived = api.walk("/v2/users", "users", params={"is_active": "false", "per_page": 2})
    assert {u["id"] for u in archived} == {u.id for u in state.users.values() if not u.is_active}
    active = api.get("/v2/users", params={"is_active": "true"}).json()
    assert active["total_entries"] == state.active_users
    target = api.get("/v2/users").json()["users"][5]
    api.patch("/v2/users/{id}", id=target["id"], json={"weekly_capacity": 72000})
    changed = api.get("/v2/users/{id}", id=target["id"]).json()
    recent = api.get("/v2/users", params={"updated_since": changed["updated_at"], "per_page": 1})
    assert [u["id"] for u in recent.json()["users"]] == [target["id"]]
    assert "updated_since" in query_of(recent.json()["links"]["first"])
    assert api.get("/v2/users", params={"updated_since": "yesterday"}).status_code == 422


@gotcha(7)
@row("GET", "/v2/users/me")
def test_me_works_for_every_role_and_members_get_403_on_users(live: LiveSandbox, api: Api) -> None:
    creds = live.credentials
    for token, role in (
        (creds.admin_token, "administrator"),
        (creds.manager_token, "manager"),
        (creds.member_token, "member"),
    ):
        me = api.get("/v2/users/me", token=token)
        assert me.status_code == 200
        assert me.json()["access_roles"][0] == role
    refused = api.get("/v2/users", token=creds.member_token)
    assert refused.status_code == 403
    assert set(refused.json()) == {"message"}


@gotcha(7)
def test_manager_sees_only_teammates(live: LiveSandbox, api: Api) -> None:
    manager = owner_id(live, live.credentials.manager_token)
    teammates = set(live.sandbox.state.teammates[manager])
    listed = api.walk("/v2/users", "users", token=live.credentials.manager_token, params={"per_page": 2})
    assert {u["id"] for u in listed} == teammates
    state = live.sandbox.state
    # §6.1: this manager may see billable rates, so teammates' default_hourly_rate shows; cost
    # rates are for administrators (§7.2).
    assert [u["default_hourly_rate"] for u in listed] == [
        state.users[u["id"]].default_hourly_rate for u in listed
    ]
    assert {u["cost_rate"] for u in listed} == {None}
    me = api.get("/v2/users/me", token=live.credentials.manager_token).json()
    assert "people_manager" in me["access_roles"]
    assert me["cost_rate"] == state.users[manager].cost_rate  # one's own object is whole


@row("GET", "/v2/users/{id}")
def test_get_user(live: LiveSandbox, api: Api) -> None:
    creds = live.credentials
    member = owner_id(live, creds.member_token)
    admin = owner_id(live, creds.admin_token)
    assert api.get("/v2/users/{id}", id=member).json()["id"] == member
    assert api.get("/v2/users/{id}", id=member, token=creds.member_token).status_code == 200  # self
    assert api.get("/v2/users/{id}", id=admin, token=creds.member_token).status_code == 403
    assert api.get("/v2/users/{id}", id=admin, token=creds.manager_token).status_code == 403  # not a teammate
    assert api.get("/v2/users/{id}", id=member, token=creds.manager_token).status_code == 200  # teammate
    assert api.get("/v2/users/{id}", id=1).status_code == 404


# -- §6.4 create, update, archive, delete -----------------------------------------------------------
@gotcha(1)
@gotcha(11)
@row("POST", "/v2/users")
def test_create_user_sends_invitation_to_outbox(live: LiveSandbox, api: Api) -> None:
    response = api.post(
        "/v2/users", json={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    )
    assert response.status_code == 201
    user = response.json()
    assert response.headers["Location"] == f"{live.base_url}/v2/users/{user['id']}"
    assert user["timezone"] == live.sandbox.config.company_timezone
    assert (user["weekly_capacity"], user["access_roles"], user["roles"], user["is_active"]) == (
        126000,
        ["member"],
        [],
        True,
    )
    assert (user["default_hourly_rate"], user["cost_rate"]) == (None, None)  # gotcha 11: null, not 0
    assert user["created_at"] == user["updated_at"]
    outbox = live.control("GET", "/outbox").json()["invitations"]
    assert [(i["to"], i["user_id"]) for i in outbox] == [("ada@example.com", user["id"])]


@gotcha(2)
@gotcha(9)
@row("POST", "/v2/users")
def test_create_user_validation(live: LiveSandbox, api: Api) -> None:
    missing = api.post("/v2/users", json={})
    assert missing.status_code == 422
    assert missing.json() == {
        "message": "First name can't be blank, Last name can't be blank, Email can't be blank"
    }
    existing = api.get("/v2/users/me").json()["email"]
    duplicate = api.post("/v2/users", json={"first_name": "A", "last_name": "B", "email": existing.upper()})
    assert duplicate.status_code == 422
    assert existing.upper() in duplicate.json()["message"]
    for roles in (["member", "project_creator"], ["manager", "people_manager"], ["owner"], []):
        bad = api.post(
            "/v2/users",
            json={"first_name": "A", "last_name": "B", "email": "r@example.com", "access_roles": roles},
        )
        assert bad.status_code == 422, roles
    iana = api.post(
        "/v2/users",
        json={"first_name": "A", "last_name": "B", "email": "tz@example.com", "timezone": "America/New_York"},
    )
    assert iana.status_code == 422  # gotcha 9: Harvest zone names, not IANA ids
    assert live.control("GET", "/outbox").json()["invitations"] == []


@gotcha(9)
def test_seeded_timezones_are_harvest_names(api: Api) -> None:
    users = api.get("/v2/users").json()["users"]
    assert all(u["timezone"] in HARVEST_TIMEZONES for u in users)


@gotcha(7)
@row("POST", "/v2/users")
def test_only_administrators_create(live: LiveSandbox, api: Api) -> None:
    body = {"first_name": "A", "last_name": "B", "email": "x@example.com"}
    for token in (live.credentials.manager_token, live.credentials.member_token):
        assert api.post("/v2/users", json=body, token=token).status_code == 403


@gotcha(10)
@row("PATCH", "/v2/users/{id}")
def test_update_user_moves_updated_at(api: Api) -> None:
    user = new_user(api, "patch@example.com")
    live_clock = api.patch(
        "/v2/users/{id}", id=user["id"], json={"first_name": "Grace", "weekly_capacity": 144000}
    )
    assert live_clock.status_code == 200
    first = live_clock.json()
    assert (first["first_name"], first["weekly_capacity"]) == ("Grace", 144000)  # gotcha 10: seconds
    assert first["updated_at"] > user["updated_at"]
    second = api.patch("/v2/users/{id}", id=user["id"], json={"last_name": "Hopper"}).json()
    assert second["updated_at"] > first["updated_at"]
    assert api.patch("/v2/users/{id}", id=1, json={"first_name": "X"}).status_code == 404


@gotcha(3)
@row("PATCH", "/v2/users/{id}")
def test_archived_user_name_and_email_are_frozen(api: Api) -> None:
    user = new_user(api, "frozen@example.com")
    archived = api.patch("/v2/users/{id}", id=user["id"], json={"is_active": False})
    assert archived.json()["is_active"] is False
    for change in ({"first_name": "New"}, {"last_name": "New"}, {"email": "new@example.com"}):
        refused = api.patch("/v2/users/{id}", id=user["id"], json=change)
        assert refused.status_code == 422, change
        assert "archived" in refused.json()["message"]
    together = api.patch("/v2/users/{id}", id=user["id"], json={"is_active": True, "first_name": "New"})
    assert together.status_code == 422  # [U] default: reactivate first
    assert api.patch("/v2/users/{id}", id=user["id"], json={"is_active": True}).status_code == 200
    assert (
        api.patch("/v2/users/{id}", id=user["id"], json={"first_name": "New"}).json()["first_name"] == "New"
    )


@gotcha(7)
@row("PATCH", "/v2/users/{id}")
def test_manager_cannot_change_email_roles_permissions_or_archive(live: LiveSandbox, api: Api) -> None:
    creds = live.credentials
    teammate = owner_id(live, creds.member_token)
    token = creds.manager_token
    ok = api.patch("/v2/users/{id}", id=teammate, json={"first_name": "Renamed"}, token=token)
    assert ok.status_code == 200
    for change in (
        {"email": "other@example.com"},
        {"roles": ["Sales"]},
        {"access_roles": ["manager"]},
        {"is_active": False},
    ):
        assert api.patch("/v2/users/{id}", id=teammate, json=change, token=token).status_code == 403, change
    admin = owner_id(live, creds.admin_token)
    assert api.patch("/v2/users/{id}", id=admin, json={"first_name": "X"}, token=token).status_code == 403
    assert api.delete("/v2/users/{id}", id=teammate, token=token).status_code == 403
    assert (
        api.patch(
            "/v2/users/{id}", id=teammate, json={"first_name": "X"}, token=creds.member_token
        ).status_code
        == 403
    )


@gotcha(4)
def test_seat_limit_on_create_and_restore(live: LiveSandbox, api: Api) -> None:
    archived = new_user(api, "seat@example.com", is_active=False)
    live.control("PUT", "/settings", json={"seat_limit": live.sandbox.state.active_users})
    full = api.post("/v2/users", json={"first_name": "A", "last_name": "B", "email": "full@example.com"})
    assert full.status_code == 422
    assert "seat" in full.json()["message"]
    assert api.patch("/v2/users/{id}", id=archived["id"], json={"is_active": True}).status_code == 422
    assert new_user(api, "inactive@example.com", is_active=False)["is_active"] is False  # archived: no seat
    other = api.get("/v2/users", params={"is_active": "true"}).json()["users"][0]
    api.patch("/v2/users/{id}", id=other["id"], json={"is_active": False})
    assert api.patch("/v2/users/{id}", id=archived["id"], json={"is_active": True}).status_code == 200


@gotcha(5)
@gotcha(15)
@row("DELETE", "/v2/users/{id}")
def test_delete_user(live: LiveSandbox, api: Api) -> None:
    user = new_user(api, "leaver@example.com")
    deleted = api.delete("/v2/users/{id}", id=user["id"])
    assert deleted.status_code == 200
    assert deleted.json()["id"] == user["id"]  # 2019: the deleted object
    assert api.get("/v2/users/{id}", id=user["id"]).status_code == 404
    # gotcha 15: a delete leaves no trace but the missing id in a full listing.
    assert user["id"] not in {u["id"] for u in api.get("/v2/users").json()["users"]}
    assert api.delete("/v2/users/{id}", id=user["id"]).status_code == 404


@gotcha(5)
@row("DELETE", "/v2/users/{id}")
def test_delete_refused_with_time_entries_or_expenses_archive_instead(live: LiveSandbox, api: Api) -> None:
    tracked = owner_id(live, live.credentials.member_token)  # the seeded token owners have time
    refused = api.delete("/v2/users/{id}", id=tracked)
    assert refused.status_code == 422
    assert "not removable" in refused.json()["message"]
    spender = new_user(api, "spender@example.com")
    live.control("POST", "/expenses", json={"user_id": spender["id"]})
    assert api.delete("/v2/users/{id}", id=spender["id"]).status_code == 422
    assert api.patch("/v2/users/{id}", id=spender["id"], json={"is_active": False}).status_code == 200
    assert (
        api.delete("/v2/users/{id}", id=spender["id"], token=live.credentials.member_token).status_code == 403
    )


# -- §7.1 teammates ---------------------------------------------------------------------------------
@row("GET", "/v2/users/{id}/teammates")
@row("PATCH", "/v2/users/{id}/teammates")
def test_teammates_and_people_manager(live: LiveSandbox, api: Api) -> None:
    manager = new_user(api, "boss@example.com", access_roles=["manager"])
    assert "people_manager" not in manager["access_roles"]
    a, b = new_user(api, "a@example.com"), new_user(api, "b@example.com")
    assert api.get("/v2/users/{id}/teammates", id=manager["id"]).json()["teammates"] == []
    patched = api.patch(
        "/v2/users/{id}/teammates", id=manager["id"], json={"teammate_ids": [a["id"], b["id"]]}
    )
    assert patched.status_code == 200
    assert set(patched.json()) == {"teammates"}  # no pagination fields
    assert {t["id"] for t in patched.json()["teammates"]} == {a["id"], b["id"]}
    assert "people_manager" in api.get("/v2/users/{id}", id=manager["id"]).json()["access_roles"]
    listed = api.get("/v2/users/{id}/teammates", id=manager["id"], params={"per_page": 1}).json()
    assert (listed["total_entries"], len(listed["teammates"])) == (2, 1)
    replaced = api.patch("/v2/users/{id}/teammates", id=manager["id"], json={"teammate_ids": [str(b["id"])]})
    assert [t["id"] for t in replaced.json()["teammates"]] == [b["id"]]  # full replacement
    cleared = api.patch("/v2/users/{id}/teammates", id=manager["id"], json={"teammate_ids": []})
    assert cleared.json() == {"teammates": []}
    assert "people_manager" not in api.get("/v2/users/{id}", id=manager["id"]).json()["access_roles"]
    api.patch("/v2/users/{id}/teammates", id=manager["id"], json={"teammate_ids": [a["id"]]})
    demoted = api.patch("/v2/users/{id}", id=manager["id"], json={"access_roles": ["member"]}).json()
    assert demoted["access_roles"] == ["member"]  # §6.3: downgrade drops teammates and people_manager
    assert api.get("/v2/users/{id}/teammates", id=manager["id"]).status_code == 422


@row("GET", "/v2/users/{id}/teammates")
@row("PATCH", "/v2/users/{id}/teammates")
def test_teammates_errors(live: LiveSandbox, api: Api) -> None:
    member = owner_id(live, live.credentials.member_token)
    manager = owner_id(live, live.credentials.manager_token)
    assert api.get("/v2/users/{id}/teammates", id=member).status_code == 422  # not a manager
    assert api.patch("/v2/users/{id}/teammates", id=member, json={"teammate_ids": []}).status_code == 422
    assert api.patch("/v2/users/{id}/teammates", id=manager, json={}).status_code == 422
    assert api.patch("/v2/users/{id}/teammates", id=manager, json={"teammate_ids": [1]}).status_code == 422
    for token in (live.credentials.manager_token, live.credentials.member_token):
        assert api.get("/v2/users/{id}/teammates", id=manager, token=token).status_code == 403
    assert api.get("/v2/users/{id}/teammates", id=1).status_code == 404


# -- §7.2 rates -------------------------------------------------------------------------------------
@row("GET", "/v2/users/{id}/billable_rates")
@row("POST", "/v2/users/{id}/billable_rates")
@row("GET", "/v2/users/{id}/billable_rates/{rate_id}")
def test_billable_rates(live: LiveSandbox, api: Api) -> None:
    user = new_user(api, "rates@example.com")
    path = "/v2/users/{id}/billable_rates"
    assert api.get(path, id=user["id"]).json()["billable_rates"] == []
    first = api.post(path, id=user["id"], json={"amount": 100, "start_date": "2020-01-01"})
    assert first.status_code == 201
    api.post(path, id=user["id"], json={"amount": 120.5, "start_date": "2021-06-01"})
    rates = api.get(path, id=user["id"]).json()["billable_rates"]
    assert [(r["amount"], r["start_date"], r["end_date"]) for r in rates] == [
        (100.0, "2020-01-01", "2021-05-31"),
        (120.5, "2021-06-01", None),
    ]
    assert api.get("/v2/users/{id}", id=user["id"]).json()["default_hourly_rate"] == 120.5
    one = api.get(path + "/{rate_id}", id=user["id"], rate_id=rates[0]["id"])
    assert one.json() == rates[0]
    assert api.get(path + "/{rate_id}", id=user["id"], rate_id=1).status_code == 404
    # An earlier start_date replaces the rates from then on; none replaces them all.
    api.post(path, id=user["id"], json={"amount": 90, "start_date": "2019-01-01"})
    assert [r["amount"] for r in api.get(path, id=user["id"]).json()["billable_rates"]] == [90.0]
    api.post(path, id=user["id"], json={"amount": 95})
    rates = api.get(path, id=user["id"]).json()["billable_rates"]
    assert [(r["amount"], r["start_date"], r["end_date"]) for r in rates] == [(95.0, None, None)]
    future = api.post(path, id=user["id"], json={"amount": 1, "start_date": "2999-01-01"})
    assert future.status_code == 422
    assert api.post(path, id=user["id"], json={"start_date": "2020-01-01"}).status_code == 422
    assert api.get(path, id=user["id"], token=live.credentials.member_token).status_code == 403


@row("GET", "/v2/users/{id}/cost_rates")
@row("POST", "/v2/users/{id}/cost_rates")
@row("GET", "/v2/users/{id}/cost_rates/{rate_id}")
def test_cost_rates(live: LiveSandbox, api: Api) -> None:
    member = owner_id(live, live.credentials.member_token)
    path = "/v2/users/{id}/cost_rates"
    created = api.post(path, id=member, json={"amount": "55.5", "start_date": "2022-02-02"})
    assert created.status_code == 201
    listed = api.get(path, id=member).json()["cost_rates"]
    assert listed[-1] == created.json()
    assert api.get(path + "/{rate_id}", id=member, rate_id=created.json()["id"]).status_code == 200
    assert api.get(path, id=member, token=live.credentials.manager_token).status_code == 403  # admins only
    assert (
        api.get("/v2/users/{id}/billable_rates", id=member, token=live.credentials.manager_token).status_code
        == 200
    )


# -- §7.3 and §7.4 assignments ----------------------------------------------------------------------
@row("GET", "/v2/users/{id}/project_assignments")
def test_user_project_assignments(live: LiveSandbox, api: Api) -> None:
    creds = live.credentials
    member = owner_id(live, creds.member_token)
    body = api.get("/v2/users/{id}/project_assignments", id=member).json()
    state = live.sandbox.state
    expected = sorted(
        (a for a in state.assignments_by_user[member] if state.user_assignments[a].is_active), reverse=True
    )
    assert [a["id"] for a in body["project_assignments"]] == expected
    assert (
        api.get("/v2/users/{id}/project_assignments", id=member, token=creds.member_token).status_code == 200
    )
    assert (
        api.get("/v2/users/{id}/project_assignments", id=member, token=creds.manager_token).status_code == 200
    )
    admin = owner_id(live, creds.admin_token)
    assert (
        api.get("/v2/users/{id}/project_assignments", id=admin, token=creds.member_token).status_code == 403
    )


@row("GET", "/v2/users/me/project_assignments")
def test_my_project_assignments_use_plain_pages(live: LiveSandbox, api: Api) -> None:
    member = owner_id(live, live.credentials.member_token)
    for name in ("Plain one", "Plain two"):  # at least two pages of one
        project = live.control("POST", "/projects", json={"name": name}).json()["project"]
        api.post("/v2/projects/{pid}/user_assignments", pid=project["id"], json={"user_id": member})
    url = f"{live.base_url}/v2/users/me/project_assignments"
    body = api.get(
        "/v2/users/me/project_assignments", token=live.credentials.member_token, params={"per_page": 1}
    ).json()
    assert (body["page"], body["next_page"], body["previous_page"]) == (1, 2, None)
    assert body["links"]["first"] == f"{url}?page=1&per_page=1"
    assert body["links"]["next"] == f"{url}?page=2&per_page=1"
    assert body["links"]["last"] == f"{url}?page={body['total_pages']}&per_page=1"
    second = api.client.get(body["links"]["next"], headers=live.headers(live.credentials.member_token)).json()
    assert (second["page"], second["previous_page"]) == (2, 1)  # page numbers on every page
    assert second["links"]["previous"] == f"{url}?page=1&per_page=1"


@row("GET", "/v2/user_assignments")
def test_user_assignments_list(live: LiveSandbox, api: Api) -> None:
    state = live.sandbox.state
    walked = api.walk("/v2/user_assignments", "user_assignments", params={"per_page": 25})
    assert [a["id"] for a in walked] == sorted(state.user_assignments, reverse=True)
    member = owner_id(live, live.credentials.member_token)
    mine = api.get("/v2/user_assignments", params={"user_id": member}).json()["user_assignments"]
    assert {a["user"]["id"] for a in mine} == {member}
    assert api.get("/v2/user_assignments", token=live.credentials.member_token).status_code == 403


@row("GET", "/v2/projects/{pid}/user_assignments")
@row("POST", "/v2/projects/{pid}/user_assignments")
@row("GET", "/v2/projects/{pid}/user_assignments/{id}")
@row("PATCH", "/v2/projects/{pid}/user_assignments/{id}")
@row("DELETE", "/v2/projects/{pid}/user_assignments/{id}")
def test_project_user_assignments(live: LiveSandbox, api: Api) -> None:
    project = live.control("POST", "/projects", json={"name": "Conformance"}).json()["project"]
    pid = project["id"]
    base = "/v2/projects/{pid}/user_assignments"
    listed = api.get(base, pid=pid).json()
    assert (
        listed["links"]["first"] == f"{live.base_url}/v2/projects/{pid}/user_assignments?page=1&per_page=2000"
    )
    user = new_user(api, "assignee@example.com")
    created = api.post(base, pid=pid, json={"user_id": user["id"]})
    assert created.status_code == 201
    assignment = created.json()
    assert (assignment["is_project_manager"], assignment["use_default_rates"], assignment["is_active"]) == (
        False,
        True,
        True,
    )
    assert api.post(base, pid=pid, json={"user_id": user["id"]}).status_code == 422  # already assigned [U]
    assert api.post(base, pid=pid, json={}).status_code == 422
    one = base + "/{id}"
    assert api.get(one, pid=pid, id=assignment["id"]).json() == assignment
    patched = api.patch(
        one, pid=pid, id=assignment["id"], json={"hourly_rate": 150, "is_project_manager": True}
    ).json()
    assert (patched["hourly_rate"], patched["is_project_manager"]) == (150.0, True)
    assert patched["updated_at"] >= assignment["updated_at"]
    live.control("POST", "/time_entries", json={"user_id": user["id"], "project_id": pid})
    assert api.delete(one, pid=pid, id=assignment["id"]).status_code == 422  # time on it
    other = new_user(api, "free@example.com")
    removable = api.post(base, pid=pid, json={"user_id": other["id"]}).json()
    deleted = api.delete(one, pid=pid, id=removable["id"])
    assert deleted.json()["id"] == removable["id"]
    assert api.get(one, pid=pid, id=removable["id"]).status_code == 404
    assert api.get(base, pid=1).status_code == 404
    assert api.get(base, pid=pid, token=live.credentials.member_token).status_code == 403


@row("GET", "/v2/users/{id}/project_assignments")
def test_future_projects_assign_users(live: LiveSandbox, api: Api) -> None:
    user = new_user(api, "everywhere@example.com", has_access_to_all_future_projects=True)
    project = live.control("POST", "/projects", json={"name": "Future"}).json()["project"]
    assigned = api.get("/v2/users/{id}/project_assignments", id=user["id"]).json()["project_assignments"]
    assert [a["project"]["id"] for a in assigned] == [project["id"]]


# -- §7.5 roles -------------------------------------------------------------------------------------
@row("GET", "/v2/roles")
@row("POST", "/v2/roles")
@row("GET", "/v2/roles/{id}")
@row("PATCH", "/v2/roles/{id}")
@row("DELETE", "/v2/roles/{id}")
def test_roles(live: LiveSandbox, api: Api) -> None:
    a, b = new_user(api, "ra@example.com"), new_user(api, "rb@example.com")
    created = api.post("/v2/roles", json={"name": "Conformance", "user_ids": [a["id"]]})
    assert created.status_code == 201
    role = created.json()
    assert role["user_ids"] == [a["id"]]
    assert api.get("/v2/users/{id}", id=a["id"]).json()["roles"] == ["Conformance"]
    assert api.post("/v2/roles", json={"name": "conformance"}).status_code == 422  # duplicate name
    assert api.post("/v2/roles", json={}).status_code == 422
    roles = api.get("/v2/roles").json()["roles"]
    assert roles[0]["id"] == role["id"]  # newest first
    replaced = api.patch(
        "/v2/roles/{id}", id=role["id"], json={"user_ids": [b["id"]], "name": "Renamed"}
    ).json()
    assert (replaced["user_ids"], replaced["name"]) == ([b["id"]], "Renamed")  # user_ids overwrite
    assert api.get("/v2/users/{id}", id=a["id"]).json()["roles"] == []
    assert api.get("/v2/users/{id}", id=b["id"]).json()["roles"] == ["Renamed"]
    api.patch("/v2/users/{id}", id=a["id"], json={"roles": ["Renamed"]})
    assert api.get("/v2/roles/{id}", id=role["id"]).json()["user_ids"] == sorted([a["id"], b["id"]])
    deleted = api.delete("/v2/roles/{id}", id=role["id"])
    assert deleted.json()["id"] == role["id"]
    assert api.get("/v2/users/{id}", id=b["id"]).json()["roles"] == []
    assert api.get("/v2/roles/{id}", id=role["id"]).status_code == 404
    assert api.get("/v2/roles", token=live.credentials.manager_token).status_code == 403


# -- §7.6 company -----------------------------------------------------------------------------------
@row("GET", "/v2/company")
@row("PATCH", "/v2/company")
def test_company(live: LiveSandbox, api: Api) -> None:
    company = api.get("/v2/company", token=live.credentials.member_token).json()
    assert company["name"] == live.sandbox.state.company.name
    patched = api.patch("/v2/company", json={"weekly_capacity": 144000, "name": "Ignored"}).json()
    assert (patched["weekly_capacity"], patched["name"]) == (144000, company["name"])
    assert (
        api.patch("/v2/company", json={"weekly_capacity": 1}, token=live.credentials.member_token).status_code
        == 403
    )


# -- §5 identity service ----------------------------------------------------------------------------
@row("GET", "/api/v2/accounts")
def test_accounts(live: LiveSandbox, api: Api) -> None:
    creds = live.credentials
    headers = {"Authorization": f"Bearer {creds.member_token}", "User-Agent": "t (t@example.com)"}
    body = api.client.get(f"{live.id_url}/api/v2/accounts", headers=headers).json()
    assert body["user"]["id"] == owner_id(live, creds.member_token)
    assert set(body["user"]) == {"id", "first_name", "last_name", "email"}
    assert [(a["id"], a["product"]) for a in body["accounts"]] == [
        (creds.account_id, "harvest"),
        (creds.forecast_account_id, "forecast"),
    ]
    bad = api.client.get(f"{live.id_url}/api/v2/accounts", headers={**headers, "Authorization": "Bearer x"})
    assert (bad.status_code, bad.json()) == (401, INVALID_TOKEN)
    assert api.client.get(f"{live.id_url}/api/v1/accounts", headers=headers).json() == body  # §5.2 alias [U]


def _authorize(live: LiveSandbox, client: httpx.Client, **params: str) -> httpx.Response:
    creds = live.credentials
    query = {"client_id": creds.oauth_client_id, "response_type": "code", "state": "xyz", **params}
    return client.get(f"{live.id_url}/oauth2/authorize", params=query, follow_redirects=False)


@row("POST", "/api/v2/oauth2/token")
def test_oauth_code_flow_refresh_and_expiry(live: LiveSandbox, api: Api) -> None:
    creds = live.credentials
    redirect = _authorize(live, api.client)
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith(creds.oauth_redirect_uri + "?")
    query = parse_qs(urlsplit(location).query)
    assert (query["scope"], query["state"]) == ([f"harvest:{creds.account_id}"], ["xyz"])
    token_url = f"{live.id_url}/api/v2/oauth2/token"
    ua = {"User-Agent": "t (t@example.com)"}
    form = {
        "code": query["code"][0],
        "client_id": creds.oauth_client_id,
        "client_secret": creds.oauth_client_secret,
        "grant_type": "authorization_code",
    }
    tokens = api.client.post(token_url, data=form, headers=ua).json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("bearer", 1209600)
    assert (
        api.get("/v2/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code
        == 200
    )
    reused = api.client.post(token_url, data=form, headers=ua)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    refresh = {
        "refresh_token": tokens["refresh_token"],
        "client_id": creds.oauth_client_id,
        "client_secret": creds.oauth_client_secret,
        "grant_type": "refresh_token",
    }
    rotated = api.client.post(token_url, data=refresh, headers={**ua, "Accept": "application/json"}).json()
    assert rotated["refresh_token"] != tokens["refresh_token"]  # a new one is returned too
    # §5.2 and §10: the used refresh token keeps working (connectors reuse theirs every run).
    again = api.client.post(token_url, data=refresh, headers=ua)
    assert again.status_code == 200, again.text
    live.control("PUT", "/settings", json={"rotate_refresh_tokens": True})
    single = api.client.post(token_url, data=refresh, headers=ua)
    assert single.status_code == 200, single.text
    spent = api.client.post(token_url, data=refresh, headers=ua)
    assert (spent.status_code, spent.json()["error"]) == (400, "invalid_grant")
    accounts = api.client.get(
        f"{live.id_url}/api/v2/accounts", headers={**ua, "Authorization": f"Bearer {rotated['access_token']}"}
    ).json()
    assert [a["product"] for a in accounts["accounts"]] == ["harvest"]  # scope harvest:{id}
    bad_client = api.client.post(token_url, data={**refresh, "client_secret": "nope"}, headers=ua)
    assert (bad_client.status_code, bad_client.json()["error"]) == (401, "invalid_client")
    live.control("PUT", "/clock", json={"offset_seconds": 1209600 + 5})
    expired = api.get("/v2/users/me", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert (expired.status_code, expired.json()) == (401, INVALID_TOKEN)
    assert api.get("/v2/users/me").status_code == 200  # personal access tokens do not expire


def test_authorize_redirect_uri_must_start_with_registered(live: LiveSandbox, api: Api) -> None:
    registered = live.credentials.oauth_redirect_uri
    longer = _authorize(live, api.client, redirect_uri=registered + "/deeper")
    assert longer.status_code == 302
    assert longer.headers["location"].startswith(registered + "/deeper?code=")
    assert _authorize(live, api.client, redirect_uri="https://evil.example.com/").status_code == 400


# -- §8 gotchas not covered above -------------------------------------------------------------------
@gotcha(12)
def test_ids_beyond_32_bits() -> None:
    config = SandboxConfig(users=5, seed=3, id_base=2**33, rate_limit=None)
    with run_sandbox(Sandbox(config)) as running, httpx.Client(base_url=running.base_url) as client:
        creds = running.sandbox.credentials
        users = client.get("/v2/users", headers=harvest_headers(creds.admin_token, creds.account_id)).json()
    assert min(u["id"] for u in users["users"]) > 2**33
    assert_schema(users, "Users", int32_ids=False, optional=True)


@gotcha(16)
def test_requiring_saml_invalidates_personal_access_tokens(live: LiveSandbox, api: Api) -> None:
    assert live.control("POST", "/require_saml").json()["revoked"] >= 3
    assert api.get("/v2/users/me").status_code == 401
    admin = next(
        u for u in live.sandbox.state.users.values() if u.access_roles == ["administrator"] and u.is_active
    )
    token = live.control("POST", "/tokens", json={"user_id": admin.id}).json()["token"]
    assert api.get("/v2/users/me", token=token).status_code == 200


@gotcha(17)
def test_current_model_only(api: Api) -> None:
    me = api.get("/v2/users/me").json()
    assert "access_roles" in me
    assert not {"is_admin", "is_project_manager", "can_see_rates", "can_create_projects"} & set(me)
    assert api.get("/v2/users").json()["per_page"] == 2000  # not v1's 100


def test_every_section_9_row_and_gotcha_has_a_test() -> None:
    assert sorted(set(SECTION_9) - COVERED_ROWS) == []
    assert sorted(set(GOTCHAS) - COVERED_GOTCHAS) == []
