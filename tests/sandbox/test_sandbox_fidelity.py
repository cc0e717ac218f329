"""What production Harvest clients written by others expect, over real HTTP (docs/harvest-api.md
§5.2 and §10): reusable refresh tokens, GET with a body refused before routing, Rails' handling of
non-object JSON, numbers out of range refused and never stored, control-plane values validated,
bodies capped before authentication, and a bounded outbox. Each bad request is followed by a
check that every later request still works.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from sandbox_harness import Api

from conftest import LiveSandbox

GET_WITH_BODY = "HTTP GET requests with a body are not accepted."


@pytest.fixture
def live(fresh_live_sandbox: LiveSandbox) -> LiveSandbox:
    return fresh_live_sandbox


@pytest.fixture
def api(live: LiveSandbox) -> Api:
    return Api(live.client, live.headers)


def _still_works(live: LiveSandbox, api: Api) -> None:
    """Every listing, the state export and a delete answer normally."""
    users = api.walk("/v2/users", "users")
    assert users
    for path in ("/v2/users/me", "/v2/roles", "/v2/company", "/v2/projects", "/v2/time_entries"):
        assert api.get(path).status_code == 200, path
    assert live.control("GET", "/state").status_code == 200
    created = api.post("/v2/users", json={"first_name": "Z", "last_name": "Z", "email": "z.z@example.com"})
    assert created.status_code == 201, created.text
    assert api.delete("/v2/users/{id}", id=created.json()["id"]).status_code == 200


def _oauth_tokens(live: LiveSandbox) -> dict[str, Any]:
    creds = live.credentials
    redirect = live.client.get(
        "/oauth2/authorize", params={"client_id": creds.oauth_client_id, "response_type": "code"}
    )
    code = redirect.headers["location"].split("code=")[1].split("&")[0]
    form = {
        "code": code,
        "client_id": creds.oauth_client_id,
        "client_secret": creds.oauth_client_secret,
        "grant_type": "authorization_code",
    }
    answer = live.client.post("/api/v2/oauth2/token", data=form, headers={"User-Agent": "t (t@example.com)"})
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def _refresh(live: LiveSandbox, refresh_token: str) -> Any:
    creds = live.credentials
    return live.client.post(
        "/api/v2/oauth2/token",
        headers={"User-Agent": "t (t@example.com)"},
        data={
            "refresh_token": refresh_token,
            "client_id": creds.oauth_client_id,
            "client_secret": creds.oauth_client_secret,
            "grant_type": "refresh_token",
        },
    )


def test_a_refresh_token_used_twice_works_both_times(live: LiveSandbox, api: Api) -> None:
    tokens = _oauth_tokens(live)
    first, second = _refresh(live, tokens["refresh_token"]), _refresh(live, tokens["refresh_token"])
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["refresh_token"] not in (tokens["refresh_token"], second.json()["refresh_token"])
    for answer in (first, second):
        me = api.get("/v2/users/me", headers={"Authorization": f"Bearer {answer.json()['access_token']}"})
        assert me.status_code == 200
    # The setting: single use.
    live.control("PUT", "/settings", json={"rotate_refresh_tokens": True})
    fresh = _refresh(live, tokens["refresh_token"])
    assert fresh.status_code == 200
    spent = _refresh(live, tokens["refresh_token"])
    assert (spent.status_code, spent.json()["error"]) == (400, "invalid_grant")
    assert _refresh(live, fresh.json()["refresh_token"]).status_code == 200


@pytest.mark.parametrize("path", ["/v2/users", "/v2/users/me", "/v2/no/such/route", "/api/v2/accounts"])
@pytest.mark.parametrize("body", [b"null", b"{}", b"x"])
def test_get_with_a_body_is_refused_before_routing(
    live: LiveSandbox, api: Api, path: str, body: bytes
) -> None:
    answer = live.client.request(
        "GET", path, content=body, headers={**live.headers(), "Content-Type": "application/json"}
    )
    assert (answer.status_code, answer.json()) == (400, {"message": GET_WITH_BODY})
    # Without a token too: refused before authentication.
    bare = live.client.request("GET", path, content=body, headers={"User-Agent": "t (t@example.com)"})
    assert bare.status_code == 400
    assert api.get("/v2/users/me").status_code == 200


def test_head_with_a_body_is_refused_and_empty_bodies_are_fine(live: LiveSandbox, api: Api) -> None:
    head = live.client.request("HEAD", "/v2/users/me", content=b"null", headers=live.headers())
    assert head.status_code == 400
    empty = live.client.request("GET", "/v2/users/me", content=b"", headers=live.headers())
    assert empty.status_code == 200


def test_non_object_json_bodies_behave_as_rails(live: LiveSandbox, api: Api) -> None:
    headers = {**live.headers(), "Content-Type": "application/json"}
    created = api.post("/v2/users", json={"first_name": "N", "last_name": "L", "email": "n.l@example.com"})
    uid = created.json()["id"]
    deleted = live.client.request("DELETE", f"/v2/users/{uid}", content=b"null", headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert api.get("/v2/users/{id}", id=uid).status_code == 404
    for body in (b"null", b"[1, 2]", b"42", b'"text"'):
        post = live.client.post("/v2/users", content=body, headers=headers)
        assert post.status_code == 422, body
        assert "First name can't be blank" in post.json()["message"]
        me = api.get("/v2/users/me").json()
        patch = live.client.patch(f"/v2/users/{me['id']}", content=body, headers=headers)
        assert (patch.status_code, patch.json()["first_name"]) == (200, me["first_name"])
    broken = live.client.post("/v2/users", content=b"{not json", headers=headers)
    assert broken.status_code == 400
    _still_works(live, api)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weekly_capacity", 1e30),
        ("weekly_capacity", 2**31),
        ("weekly_capacity", "9" * 30),
        ("weekly_capacity", 10**30),
        ("default_hourly_rate", 1e300),
        ("cost_rate", -1e300),
    ],
)
def test_numbers_out_of_range_are_422_and_never_stored(
    live: LiveSandbox, api: Api, field: str, value: object
) -> None:
    before = len(live.sandbox.state.users)
    answer = api.post(
        "/v2/users",
        json={"first_name": "Big", "last_name": "Number", "email": "big@example.com", field: value},
    )
    assert answer.status_code == 422, answer.text
    assert set(answer.json()) == {"message"}
    assert len(live.sandbox.state.users) == before
    me = api.get("/v2/users/me").json()
    assert api.patch("/v2/users/{id}", id=me["id"], json={field: value}).status_code in (200, 422)
    assert api.get("/v2/users/me").json()["weekly_capacity"] == me["weekly_capacity"]
    _still_works(live, api)


@pytest.mark.parametrize(
    "params",
    [
        {"page": "9" * 30},
        {"per_page": "9" * 30},
        {"page": "-" + "9" * 30},
        {"page": str(2**31)},
        {"updated_since": "99999-01-01T00:00:00Z"},
        {"cursor": "eyJhZnRlciI6eyJpZCI6MWU0MDB9fQ=="},
    ],
)
def test_query_numbers_out_of_range_are_422(live: LiveSandbox, api: Api, params: dict[str, str]) -> None:
    answer = api.get("/v2/users", params=params)
    assert answer.status_code == 422, answer.text
    assert set(answer.json()) == {"message"}
    _still_works(live, api)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/users/" + "9" * 30,
        "/v2/projects/" + "9" * 30,
        "/v2/time_entries/" + "9" * 25,
        "/v2/roles/99999999999999999999",
    ],
)
def test_huge_ids_are_404(live: LiveSandbox, api: Api, path: str) -> None:
    answer = live.client.get(path, headers=live.headers())
    assert (answer.status_code, answer.json()) == (404, {"status": 404, "error": "Not Found"})
    huge = api.get("/v2/user_assignments", params={"user_id": "9" * 30})
    assert huge.status_code == 422
    _still_works(live, api)


@pytest.mark.parametrize(
    "body",
    [
        {"offset_seconds": 1e300},
        {"offset_seconds": "nan"},
        {"offset_seconds": "inf"},
        {"offset_seconds": 10**40},
        {"offset_seconds": None},
        {"offset_seconds": [1]},
    ],
)
def test_clock_offsets_out_of_range_are_400(live: LiveSandbox, api: Api, body: dict[str, Any]) -> None:
    answer = live.client.put("/sandbox/clock", headers=live.control_headers, json=body)
    assert answer.status_code == 400, answer.text
    assert live.control("GET", "/clock").json()["offset_seconds"] == 0
    _still_works(live, api)


@pytest.mark.parametrize(
    "body",
    [
        {"latency_ms": 1e300},
        {"latency_ms": "5"},
        {"time_scale": 0},
        {"time_scale": 1e300},
        {"request_log_size": 1e30},
        {"request_log_size": 2.5},
        {"seat_limit": True},
        {"token_ttl_seconds": 10**30},
        {"rate_limit": 5},
        {"outbox_size": -1},
        {"max_body_bytes": 0},
        {"rotate_refresh_tokens": "yes"},
        {"default_new_user_rate": 1e300},
    ],
)
def test_settings_out_of_range_are_400(live: LiveSandbox, api: Api, body: dict[str, Any]) -> None:
    before = live.control("GET", "/settings").json()
    answer = live.client.put("/sandbox/settings", headers=live.control_headers, json=body)
    assert answer.status_code == 400, answer.text
    assert "message" in answer.json()
    assert live.control("GET", "/settings").json() == before
    _still_works(live, api)


def test_control_plane_bodies_must_be_objects(live: LiveSandbox) -> None:
    answer = live.client.put(
        "/sandbox/clock",
        headers={**live.control_headers, "Content-Type": "application/json"},
        content=b"null",
    )
    assert (answer.status_code, answer.json()["message"]) == (400, "The request body must be a JSON object")


def test_a_state_document_with_a_bad_clock_is_refused(live: LiveSandbox, api: Api) -> None:
    state = live.control("GET", "/state").json()
    state["clock_offset"] = 1e300
    answer = live.client.put("/sandbox/state", headers=live.control_headers, json=state)
    assert answer.status_code == 400
    _still_works(live, api)


def _raw_request(live: LiveSandbox, head: bytes, body: bytes) -> bytes:
    """Send ``head`` and ``body`` on a plain socket and read the answer until the server closes
    or the status line and headers have arrived."""
    port = int(live.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_a_body_over_the_limit_is_413_before_it_is_read(live: LiveSandbox, api: Api) -> None:
    # Content-Length announces 100 MB but only 10 bytes are sent: the answer comes at once,
    # without a token, so the sandbox neither waited for nor read the rest.
    head = (
        b"POST /v2/users HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: t (t@example.com)\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    )
    answer = _raw_request(live, head, b'{"a": 1234')
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # Chunked: read up to the limit and not past it.
    live.control("PUT", "/settings", json={"max_body_bytes": 1000})
    chunked = (
        b"POST /v2/users HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: t (t@example.com)\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"800\r\n" + b" " * 0x800 + b"\r\n"
    answer = _raw_request(live, chunked, piece)  # 2048 bytes sent, no terminating chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    live.control("PUT", "/settings", json={"max_body_bytes": 1_000_000})
    # Over httpx: one MiB is refused, with or without a valid token.
    mib = b'{"first_name": "' + b"x" * (1 << 20) + b'"}'
    for headers in (live.headers(), {"User-Agent": "t (t@example.com)"}):
        refused = live.client.post(
            "/v2/users", content=mib, headers={**headers, "Content-Type": "application/json"}
        )
        assert refused.status_code == 413
    assert len(live.sandbox.state.users) == 40
    _still_works(live, api)


def test_the_outbox_keeps_the_newest_and_counts_the_dropped(live: LiveSandbox, api: Api) -> None:
    live.control("PUT", "/settings", json={"outbox_size": 3})
    for n in range(5):
        email = f"out{n}@example.com"
        assert (
            api.post("/v2/users", json={"first_name": "O", "last_name": str(n), "email": email}).status_code
            == 201
        )
    outbox = live.control("GET", "/outbox").json()
    assert [i["to"] for i in outbox["invitations"]] == [
        "out2@example.com",
        "out3@example.com",
        "out4@example.com",
    ]
    assert (outbox["dropped"], outbox["limit"]) == (2, 3)
    live.control("PUT", "/settings", json={"outbox_size": 1})
    outbox = live.control("GET", "/outbox").json()
    assert ([i["to"] for i in outbox["invitations"]], outbox["dropped"]) == (["out4@example.com"], 4)
    live.control("DELETE", "/outbox")
    assert live.control("GET", "/outbox").json()["dropped"] == 0
