"""The control plane under /sandbox: only with the control token, never under
/v2, and each of its operations."""

from __future__ import annotations

import pytest
from sandbox_harness import Api

from conftest import LiveSandbox


@pytest.fixture
def live(fresh_live_sandbox: LiveSandbox) -> LiveSandbox:
    return fresh_live_sandbox


@pytest.mark.parametrize("token", [None, "wrong", "admin"])
def test_control_plane_needs_the_control_token(live: LiveSandbox, token: str | None) -> None:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {live.credentials.admin_token if token == 'admin' else token}"
    for method, path in (
        ("GET", "/sandbox"),
        ("POST", "/sandbox/reset"),
        ("GET", "/sandbox/state"),
        ("PUT", "/sandbox/faults"),
    ):
        response = live.client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert "control" in response.json()["message"]


def test_control_plane_is_never_under_v2(live: LiveSandbox) -> None:
    for path in ("/v2/sandbox", "/v2/sandbox/reset", "/api/v2/sandbox/state"):
        response = live.client.post(path, headers={**live.headers(), **live.control_headers})
        assert response.status_code in (401, 404), path
        assert response.status_code == 401 or response.headers["content-type"].startswith("text/html")
    # The control token is not an API token.
    api = live.client.get("/v2/users/me", headers=live.headers(live.credentials.control_token))
    assert api.status_code == 401


def test_index_lists_every_route(live: LiveSandbox) -> None:
    routes = live.control("GET", "").json()["routes"]
    assert "POST /sandbox/reset" in routes
    assert "PUT /sandbox/clock" in routes
    assert len(routes) == len(set(routes)) > 20


def test_reset_and_seed(live: LiveSandbox) -> None:
    api = Api(live.client, live.headers)
    baseline = live.control("GET", "/state").json()
    api.post("/v2/users", json={"first_name": "A", "last_name": "B", "email": "gone@example.com"})
    summary = live.control("POST", "/seed", json={"users": 7}).json()
    assert summary["users"] == 7
    assert api.get("/v2/users/me").status_code == 200  # tokens survive a reseed
    assert live.control("POST", "/reset").json()["users"] == 40
    assert live.control("GET", "/state").json() == baseline  # deterministic
    assert live.client.post("/sandbox/seed", headers=live.control_headers, json={}).status_code == 400
    assert (
        live.client.post("/sandbox/seed", headers=live.control_headers, json={"users": 1}).status_code == 400
    )


def test_snapshots_and_state_import(live: LiveSandbox) -> None:
    api = Api(live.client, live.headers)
    name = live.control("POST", "/snapshots", json={"name": "before"}).json()["snapshot"]
    exported = live.control("GET", "/state").json()
    user = api.post(
        "/v2/users", json={"first_name": "A", "last_name": "B", "email": "snap@example.com"}
    ).json()
    live.control("POST", f"/snapshots/{name}/restore")
    assert api.get("/v2/users/{id}", id=user["id"]).status_code == 404
    assert (
        live.client.post("/sandbox/snapshots/nope/restore", headers=live.control_headers).status_code == 404
    )
    api.post("/v2/users", json={"first_name": "A", "last_name": "B", "email": "snap2@example.com"})
    live.control("PUT", "/state", json=exported)
    assert live.control("GET", "/state").json() == exported
    bad = live.client.put("/sandbox/state", headers=live.control_headers, json={"format": "other"})
    assert bad.status_code == 400


def test_outbox_and_request_log(live: LiveSandbox) -> None:
    api = Api(live.client, live.headers)
    live.control("DELETE", "/requests")
    api.post("/v2/users", json={"first_name": "Ann", "last_name": "Bee", "email": "ann@example.com"})
    api.get("/v2/nope")
    invitations = live.control("GET", "/outbox", params={"to": "ANN@example.com"}).json()["invitations"]
    assert len(invitations) == 1
    assert "Ann" in invitations[0]["body"]
    log = live.control("GET", "/requests").json()["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", "/v2/users", 201),
        ("GET", "/v2/nope", 404),
    ]
    assert log[0]["user_agent"] == live.headers()["User-Agent"]
    assert log[0]["token_kind"] == "pat"
    assert live.control("GET", "/requests", params={"since_id": log[0]["id"]}).json()["requests"] == log[1:]
    live.control("DELETE", "/outbox")
    assert live.control("GET", "/outbox").json()["invitations"] == []


def test_clock_offset_dates_changes(live: LiveSandbox) -> None:
    api = Api(live.client, live.headers)
    clock = live.control("PUT", "/clock", json={"offset_seconds": 10 * 365 * 86400}).json()
    assert clock["offset_seconds"] == 10 * 365 * 86400
    user = api.post(
        "/v2/users", json={"first_name": "A", "last_name": "B", "email": "future@example.com"}
    ).json()
    assert user["created_at"][:4] == clock["now"][:4]
    assert live.control("GET", "/clock").json()["offset_seconds"] == clock["offset_seconds"]


def test_settings(live: LiveSandbox) -> None:
    settings = live.control("PUT", "/settings", json={"seat_limit": 3, "latency_ms": 1}).json()
    assert (settings["seat_limit"], settings["latency_ms"]) == (3, 1)
    for body in ({"users": 5}, {"rate_limit": "fast"}, {"seat_limit": 0}):
        assert (
            live.client.put("/sandbox/settings", headers=live.control_headers, json=body).status_code == 400
        )
    live.control("POST", "/reset")
    assert live.control("GET", "/settings").json()["seat_limit"] is None


def test_projects_time_entries_expenses_and_tokens(live: LiveSandbox) -> None:
    api = Api(live.client, live.headers)
    project = live.control("POST", "/projects", json={"name": "Ctl", "client_name": "Ctl Client"}).json()
    assert project["project"]["client"]["name"] == "Ctl Client"
    user = api.post(
        "/v2/users", json={"first_name": "A", "last_name": "B", "email": "ctl@example.com"}
    ).json()
    entry = live.control("POST", "/time_entries", json={"user_id": user["id"], "hours": 2}).json()
    assert (entry["user_id"], entry["hours"]) == (user["id"], 2.0)
    assert (
        live.client.post(
            "/sandbox/time_entries", headers=live.control_headers, json={"user_id": 1}
        ).status_code
        == 400
    )
    token = live.control("POST", "/tokens", json={"user_id": user["id"]}).json()["token"]
    assert api.get("/v2/users/me", token=token).json()["id"] == user["id"]
    assert api.get("/v2/users", token=token).status_code == 403  # a member's token
