"""The legacy v1 People API under ``/v1`` over real HTTP (docs/migrating-from-v1.md): the reference
record's XML and JSON shapes round-trip, HTTP Basic authentication with an access token as the
password, v1's status codes (400 for refusals, 404 for what a non-administrator may not see, 503
when throttled) with a ``Hint`` header, the v1 flags mapped to v2 ``access_roles``, and one state
seen by both APIs. Bad input (malformed XML, XML bombs, external entities, huge numbers) is a 4xx
and leaves the sandbox working.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any
from xml.etree.ElementTree import Element

import orjson
import pytest
from defusedxml.ElementTree import fromstring
from sandbox_harness import Api

from conftest import LiveSandbox

#: The record of ../shared/reference/harvest-api-v1-people.md (Harvest's v1 "Managing Users" page).
REFERENCE_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<user>
  <id type="integer">508343</id>
  <email>user@example.com</email>
  <created-at type="dateTime">2013-04-30T20:28:12Z</created-at>
  <is-admin type="boolean">true</is-admin>
  <is-project-manager type="boolean">false</is-project-manager>
  <first-name>Harvest</first-name>
  <last-name>User</last-name>
  <timezone>Eastern Time (US &amp; Canada)</timezone>
  <is-contractor type="boolean">false</is-contractor>
  <telephone></telephone>
  <is-active type="boolean">true</is-active>
  <has-access-to-all-future-projects type="boolean">true</has-access-to-all-future-projects>
  <default-hourly-rate type="decimal">0</default-hourly-rate>
  <department></department>
  <wants-newsletter type="boolean">true</wants-newsletter>
  <updated-at type="dateTime">2015-04-29T14:54:19Z</updated-at>
  <cost-rate type="decimal" nil="true"/>
  <identity-account-id type="integer">302900</identity-account-id>
  <identity-user-id type="integer">20725</identity-user-id>
</user>
"""
REFERENCE_JSON: dict[str, Any] = {
    "user": {
        "id": 508343,
        "email": "user@example.com",
        "created_at": "2013-04-30T20:28:12Z",
        "is_admin": True,
        "is_project_manager": False,
        "first_name": "Harvest",
        "last_name": "User",
        "timezone": "Eastern Time (US & Canada)",
        "is_contractor": False,
        "telephone": "",
        "is_active": True,
        "has_access_to_all_future_projects": True,
        "default_hourly_rate": 0,
        "department": "",
        "wants_newsletter": True,
        "updated_at": "2015-04-29T14:54:19Z",
        "cost_rate": None,
    }
}
#: Fields a client sets; the others (ids, stamps, newsletter) are the server's.
WRITABLE = (
    "email",
    "is-admin",
    "is-project-manager",
    "first-name",
    "last-name",
    "timezone",
    "is-contractor",
    "telephone",
    "is-active",
    "has-access-to-all-future-projects",
    "default-hourly-rate",
    "department",
    "cost-rate",
)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
XML = "application/xml"
JSON = "application/json"


@pytest.fixture
def live(fresh_live_sandbox: LiveSandbox) -> LiveSandbox:
    return fresh_live_sandbox


@pytest.fixture
def api(live: LiveSandbox) -> Api:
    return Api(live.client, live.headers)


def basic(email: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()}


class V1:
    """Calls ``/v1`` as one user (HTTP Basic: email and an access token as the password)."""

    def __init__(self, live: LiveSandbox, token: str | None = None) -> None:
        self.live = live
        self.token = token or live.credentials.admin_token
        user = live.sandbox.user_for_token(self.token)
        assert user is not None
        self.email = user.email
        self.user_id = user.id

    def call(
        self,
        method: str,
        path: str,
        *,
        fmt: str = XML,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        sent = {"Accept": fmt, **basic(self.email, self.token), **(headers or {})}
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            sent.setdefault("Content-Type", fmt)
        return self.live.client.request(method, f"/v1{path}", content=content, headers=sent, params=params)


def xml_of(response: Any) -> Element:
    assert response.headers["content-type"].startswith("application/xml"), response.headers
    root: Element = fromstring(response.content)
    return root


def shape(element: Element) -> list[tuple[str, str | None, str | None]]:
    return [(child.tag, child.get("type"), child.get("nil")) for child in element]


def values(element: Element) -> dict[str, str]:
    return {child.tag: child.text or "" for child in element}


def created_id(response: Any) -> int:
    assert response.status_code == 201, (response.status_code, response.headers.get("hint"))
    match = re.fullmatch(r"/v1/people/(\d+)", response.headers["location"])
    assert match, response.headers["location"]
    assert response.content == b""
    return int(match.group(1))


def assert_v1_error(response: Any, status: int, hint: str) -> None:
    """v1's refusal: the status, the message in ``Hint`` and in an ``errors`` body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert hint in response.headers["hint"], response.headers["hint"]
    if response.headers["content-type"].startswith("application/json"):
        assert hint in response.json()["errors"][0]
    else:
        assert xml_of(response).tag == "errors"


def test_v1_xml_record_round_trips_the_reference_shape(live: LiveSandbox) -> None:
    v1 = V1(live)
    user_id = created_id(v1.call("POST", "/people", body=REFERENCE_XML))
    answer = v1.call("GET", f"/people/{user_id}")
    assert answer.status_code == 200
    got, reference = xml_of(answer), fromstring(REFERENCE_XML)
    assert got.tag == "user"
    assert shape(got) == shape(reference)  # names, order, type and nil attributes
    mine, theirs = values(got), values(reference)
    assert {k: mine[k] for k in WRITABLE} == {k: theirs[k] for k in WRITABLE}
    assert mine["id"] == mine["identity-user-id"] == str(user_id)
    assert mine["identity-account-id"] == str(live.credentials.account_id)
    assert TIMESTAMP.match(mine["created-at"])
    assert TIMESTAMP.match(mine["updated-at"])
    assert answer.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<user>\n  <id type="integer">')
    assert "<timezone>Eastern Time (US &amp; Canada)</timezone>" in answer.text


def test_v1_json_record_round_trips_the_reference_shape(live: LiveSandbox) -> None:
    v1 = V1(live)
    user_id = created_id(v1.call("POST", "/people", fmt=JSON, body=REFERENCE_JSON))
    answer = v1.call("GET", f"/people/{user_id}", fmt=JSON)
    assert answer.headers["content-type"].startswith("application/json")
    got, reference = answer.json(), REFERENCE_JSON
    assert list(got) == ["user"]
    assert list(got["user"]) == list(reference["user"])  # the same keys in the same order
    for key, value in reference["user"].items():
        assert type(got["user"][key]) is type(value), key
        if key.replace("_", "-") in WRITABLE:
            assert got["user"][key] == value, key
    assert got["user"]["id"] == user_id


def test_v1_list_is_an_array_of_users_in_both_formats_with_updated_since(live: LiveSandbox) -> None:
    v1 = V1(live)
    everyone = xml_of(v1.call("GET", "/people"))
    assert (everyone.tag, everyone.get("type")) == ("users", "array")
    ids = [int(values(u)["id"]) for u in everyone]
    assert ids == sorted(live.sandbox.state.users)  # archived users included, oldest first
    as_json = v1.call("GET", "/people", fmt=JSON).json()
    assert [u["user"]["id"] for u in as_json] == ids
    assert all(list(u) == ["user"] for u in as_json)
    newest = max(u.updated_at for u in live.sandbox.state.users.values())
    since = time.strftime("%Y-%m-%d %H:%M", time.gmtime(newest))
    # The v1 form of the filter (UTC, minutes, URL-encoded as 2015-04-25+18%3A30).
    answer = live.client.get(
        f"/v1/people?updated_since={since.replace(' ', '+').replace(':', '%3A')}",
        headers={"Accept": XML, **basic(v1.email, v1.token)},
    )
    recent = [int(values(u)["id"]) for u in xml_of(answer)]
    users = live.sandbox.state.users
    assert recent == [i for i in ids if users[i].updated_at >= newest - newest % 60]
    assert len(recent) < len(ids)
    nobody = v1.call("GET", "/people", params={"updated_since": "2999-01-01 00:00"})
    assert nobody.text == '<?xml version="1.0" encoding="UTF-8"?>\n<users type="array"/>\n'
    assert v1.call("GET", "/people", fmt=JSON, params={"updated_since": "2999-01-01T00:00:00Z"}).json() == []
    assert_v1_error(v1.call("GET", "/people", params={"updated_since": "yesterday"}), 400, "updated_since")


def test_v1_person_by_id_or_email(live: LiveSandbox) -> None:
    v1 = V1(live)
    member = live.sandbox.user_for_token(live.credentials.member_token)
    assert member is not None
    by_id = v1.call("GET", f"/people/{member.id}", fmt=JSON).json()
    by_email = v1.call("GET", f"/people/{member.email.upper()}", fmt=JSON).json()
    assert by_id == by_email
    assert by_id["user"]["email"] == member.email


def test_v1_create_invites_and_appears_in_v2_with_access_roles(live: LiveSandbox, api: Api) -> None:
    v1 = V1(live)
    flags = {
        "admin@example.com": ({"is_admin": True}, ["administrator"]),
        "pm@example.com": ({"is_project_manager": True}, ["manager"]),
        "plain@example.com": ({}, ["member"]),
    }
    for email, (extra, roles) in flags.items():
        body = {"user": {"first_name": "New", "last_name": "Person", "email": email, **extra}}
        user_id = created_id(v1.call("POST", "/people", fmt=JSON, body=body))
        seen = api.get("/v2/users/{id}", id=user_id).json()
        assert (seen["email"], seen["access_roles"]) == (email, roles)
        invitations = live.control("GET", "/outbox", params={"to": email}).json()["invitations"]
        assert len(invitations) == 1
    # Dashed XML names, a telephone and a department (which v2 has no field for).
    xml = (
        b"<user><first-name>Edgar</first-name><last-name>Ruth</last-name>"
        b"<email>edgar@example.com</email><timezone>Central Time (US &amp; Canada)</timezone>"
        b'<is-admin type="boolean">false</is-admin><telephone>444-444</telephone>'
        b"<department>Field</department><password>ignored</password></user>"
    )
    user_id = created_id(v1.call("POST", "/people", body=xml))
    seen = api.get("/v2/users/{id}", id=user_id).json()
    assert (seen["telephone"], seen["timezone"]) == ("444-444", "Central Time (US & Canada)")
    assert "department" not in seen
    assert values(xml_of(v1.call("GET", f"/people/{user_id}")))["department"] == "Field"


def test_v2_users_and_changes_appear_in_v1(live: LiveSandbox, api: Api) -> None:
    v1 = V1(live)
    created = api.post(
        "/v2/users",
        json={
            "first_name": "Vee",
            "last_name": "Two",
            "email": "vee@example.com",
            "access_roles": ["manager", "project_creator"],
        },
    ).json()
    record = v1.call("GET", "/people/vee@example.com", fmt=JSON).json()["user"]
    assert (record["id"], record["is_admin"], record["is_project_manager"]) == (created["id"], False, True)
    before = record["updated_at"]
    live.control("PUT", "/clock", json={"offset_seconds": 120})
    api.patch("/v2/users/{id}", id=created["id"], json={"first_name": "Vera"})
    record = v1.call("GET", f"/people/{created['id']}", fmt=JSON).json()["user"]
    assert record["first_name"] == "Vera"
    assert record["updated_at"] > before


def test_v1_update_changes_fields_and_moves_updated_at_in_both_apis(live: LiveSandbox, api: Api) -> None:
    v1 = V1(live)
    user = api.post(
        "/v2/users",
        json={
            "first_name": "Up",
            "last_name": "Date",
            "email": "update@example.com",
            "access_roles": ["manager", "project_creator"],
            "default_hourly_rate": 100,
        },
    ).json()
    live.control("PUT", "/clock", json={"offset_seconds": 120})
    # Manager flag untouched and is-admin false: still the same manager, add-ons kept.
    answer = v1.call(
        "PUT",
        f"/people/{user['id']}",
        fmt=JSON,
        body={
            "user": {
                "first_name": "Updated",
                "is_admin": False,
                "telephone": "212-555-1212",
                "department": "Ops",
                "password": "never-stored",
                "default_hourly_rate": 120,
            }
        },
    )
    assert answer.status_code == 200, answer.headers.get("hint")
    assert answer.headers["location"] == f"/v1/people/{user['id']}"
    seen = api.get("/v2/users/{id}", id=user["id"]).json()
    assert seen["first_name"] == "Updated"
    assert seen["access_roles"] == ["manager", "project_creator"]
    assert seen["telephone"] == "212-555-1212"
    assert seen["default_hourly_rate"] == 120
    assert seen["updated_at"] > user["updated_at"]
    rates = api.get("/v2/users/{id}/billable_rates", id=user["id"]).json()["billable_rates"]
    assert [r["amount"] for r in rates][-1] == 120
    record = v1.call("GET", f"/people/{user['id']}", fmt=JSON).json()["user"]
    assert (record["department"], record["updated_at"]) == ("Ops", seen["updated_at"])
    # Flags: is-project-manager false makes a member; is-admin true an administrator.
    for flags, roles in (
        ({"is-project-manager": "false"}, ["member"]),
        ({"is-admin": "true"}, ["administrator"]),
        ({"is-admin": "false", "is-project-manager": "true"}, ["manager"]),
    ):
        xml = "<user>" + "".join(f'<{k} type="boolean">{v}</{k}>' for k, v in flags.items()) + "</user>"
        assert v1.call("PUT", f"/people/{user['id']}", body=xml.encode()).status_code == 200
        assert api.get("/v2/users/{id}", id=user["id"]).json()["access_roles"] == roles


def test_v1_delete_with_hours_is_400_and_without_is_200(live: LiveSandbox, api: Api) -> None:
    v1 = V1(live)
    state = live.sandbox.state
    with_hours = next(uid for uid in state.user_ids if state.has_time_or_expenses(uid))
    refused = v1.call("DELETE", f"/people/{with_hours}")
    assert_v1_error(refused, 400, "time entries")
    assert "toggle" in refused.headers["hint"]
    assert with_hours in state.users
    user_id = created_id(
        v1.call(
            "POST",
            "/people",
            fmt=JSON,
            body={"user": {"first_name": "Short", "last_name": "Stay", "email": "short@example.com"}},
        )
    )
    deleted = v1.call("DELETE", "/people/short@example.com")
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert api.get("/v2/users/{id}", id=user_id).status_code == 404
    assert_v1_error(v1.call("GET", f"/people/{user_id}"), 404, "No person")


def test_v1_toggle_archives_and_restores_within_the_seat_limit(live: LiveSandbox, api: Api) -> None:
    v1 = V1(live)
    member = live.sandbox.user_for_token(live.credentials.member_token)
    assert member is not None
    archived = v1.call("POST", f"/people/{member.id}/toggle")
    assert archived.status_code == 200
    assert api.get("/v2/users/{id}", id=member.id).json()["is_active"] is False
    assert values(xml_of(v1.call("GET", f"/people/{member.id}")))["is-active"] == "false"
    assert v1.call("POST", f"/people/{member.email}/toggle").status_code == 200
    assert api.get("/v2/users/{id}", id=member.id).json()["is_active"] is True
    # Over the seat limit, re-activating is a 400 and the user stays archived.
    assert v1.call("POST", f"/people/{member.id}/toggle").status_code == 200
    live.control("PUT", "/settings", json={"seat_limit": live.sandbox.state.active_users})
    assert_v1_error(v1.call("POST", f"/people/{member.id}/toggle"), 400, "seat")
    assert api.get("/v2/users/{id}", id=member.id).json()["is_active"] is False


def test_v1_authentication_failures_are_401_with_a_basic_challenge(live: LiveSandbox) -> None:
    creds = live.credentials
    admin = V1(live)
    member = V1(live, creds.member_token)
    attempts: list[dict[str, str]] = [
        {},
        basic(admin.email, "wrong"),
        basic(admin.email, creds.member_token),  # another user's token
        basic("nobody@example.com", creds.admin_token),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Digest abc"},
    ]
    for headers in attempts:
        answer = live.client.get("/v1/people", headers={"Accept": XML, **headers})
        assert_v1_error(answer, 401, "Sign in")
        assert answer.headers["www-authenticate"].startswith("Basic ")
    # The email is matched without regard to case; a bearer token (v1's OAuth) works too.
    assert live.client.get("/v1/people", headers=basic(admin.email.upper(), admin.token)).status_code == 200
    bearer = {"Authorization": f"Bearer {creds.admin_token}"}
    assert live.client.get("/v1/people", headers=bearer).status_code == 200
    assert live.client.get("/v1/people", params={"access_token": creds.admin_token}).status_code == 200
    # An archived user cannot sign in.
    admin.call("POST", f"/people/{member.user_id}/toggle")
    assert_v1_error(member.call("GET", f"/people/{member.user_id}"), 401, "archived")
    # The request log names the user, never the password.
    log = live.control("GET", "/requests").json()["requests"]
    assert any(r["path"] == "/v1/people" and r["user_id"] == admin.user_id for r in log)
    assert creds.admin_token not in orjson.dumps(log).decode()


@pytest.mark.parametrize("token_name", ["member_token", "manager_token"])
def test_v1_only_administrators_manage_people(live: LiveSandbox, token_name: str) -> None:
    v1 = V1(live, getattr(live.credentials, token_name))
    admin = V1(live)
    assert v1.call("GET", f"/people/{v1.user_id}").status_code == 200  # oneself
    assert v1.call("GET", f"/people/{v1.email}").status_code == 200
    refused = [
        v1.call("GET", "/people"),
        v1.call("GET", f"/people/{admin.user_id}"),
        v1.call(
            "POST", "/people", fmt=JSON, body={"first_name": "A", "last_name": "B", "email": "ab@example.com"}
        ),
        v1.call("PUT", f"/people/{v1.user_id}", fmt=JSON, body={"first_name": "Self"}),
        v1.call("DELETE", f"/people/{admin.user_id}"),
        v1.call("POST", f"/people/{admin.user_id}/toggle"),
    ]
    for answer in refused:
        assert answer.status_code == 404, answer.text  # v1 hid what the UI hid
    assert live.sandbox.state.user_by_email("ab@example.com") is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/people/{id}"),
        ("PUT", "/people/{id}"),
        ("DELETE", "/people/{id}"),
        ("POST", "/people/{id}/toggle"),
    ],
)
@pytest.mark.parametrize("person", ["1", "99999999999999999999999", "ghost@example.com", "not-an-id"])
def test_v1_unknown_people_are_404(live: LiveSandbox, method: str, path: str, person: str) -> None:
    answer = V1(live).call(method, path.format(id=person), fmt=JSON, body={} if method == "PUT" else None)
    assert_v1_error(answer, 404, "No person")


@pytest.mark.parametrize(
    ("body", "content_type", "hint"),
    [
        ({"user": {"last_name": "L", "email": "x@example.com"}}, JSON, "First name can't be blank"),
        ({"user": {"first_name": "F", "last_name": "L", "email": "not-an-email"}}, JSON, "Email is invalid"),
        (
            {"user": {"first_name": "F", "last_name": "L", "email": "x@example.com", "timezone": "cst"}},
            JSON,
            "Timezone",
        ),
        (
            {"user": {"first_name": "F", "last_name": "L", "email": "x@example.com", "is_admin": "maybe"}},
            JSON,
            "Is admin is not a boolean",
        ),
        (
            {
                "user": {
                    "first_name": "F",
                    "last_name": "L",
                    "email": "x@example.com",
                    "default_hourly_rate": 1e30,
                }
            },
            JSON,
            "Default hourly rate",
        ),
        ({"user": "Ann"}, JSON, "must be"),
        (b"{not json", JSON, "not valid JSON"),
        (b"<person><first-name>F</first-name></person>", XML, "root element"),
        (b"<user><first-name>F</first-name>", XML, "not well-formed"),
        (
            b"<user><first-name><b>F</b></first-name><last-name>L</last-name><email>y@example.com</email></user>",
            XML,
            "First name is invalid",
        ),
        (b"first_name=F", "application/x-www-form-urlencoded", "Send the body as XML"),
    ],
)
def test_v1_create_refusals_are_400_and_store_nothing(
    live: LiveSandbox, body: bytes | dict[str, Any], content_type: str, hint: str
) -> None:
    before = len(live.sandbox.state.users)
    answer = V1(live).call("POST", "/people", fmt=JSON, body=body, headers={"Content-Type": content_type})
    assert_v1_error(answer, 400, hint)
    assert len(live.sandbox.state.users) == before


def test_v1_update_refusals_are_400(live: LiveSandbox) -> None:
    v1 = V1(live)
    member = V1(live, live.credentials.member_token)
    taken = {"user": {"email": v1.email}}
    assert_v1_error(
        v1.call("PUT", f"/people/{member.user_id}", fmt=JSON, body=taken), 400, "already been taken"
    )
    assert_v1_error(
        v1.call("PUT", f"/people/{member.user_id}", fmt=JSON, body={"user": {"cost_rate": -5}}),
        400,
        "Cost rate",
    )
    # An archived user's name is frozen until re-activated (docs/harvest-api.md §8.3).
    v1.call("POST", f"/people/{member.user_id}/toggle")
    assert_v1_error(
        v1.call("PUT", f"/people/{member.user_id}", fmt=JSON, body={"user": {"first_name": "Renamed"}}),
        400,
        "archived",
    )


def test_v1_errors_follow_accept_and_a_null_body_is_no_fields(live: LiveSandbox) -> None:
    v1 = V1(live)
    as_json = v1.call("GET", "/people/1", fmt=JSON)
    assert as_json.json() == {"errors": [as_json.headers["hint"]]}
    as_xml = v1.call("GET", "/people/1")
    assert as_xml.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<errors>\n  <error>')
    user_id = created_id(
        v1.call(
            "POST",
            "/people",
            fmt=JSON,
            body={"user": {"first_name": "Null", "last_name": "Body", "email": "null@example.com"}},
        )
    )
    # An old client sends `null` as the body of every request (docs/harvest-api.md §10).
    deleted = v1.call("DELETE", f"/people/{user_id}", fmt=JSON, body=b"null")
    assert deleted.status_code == 200
    assert_v1_error(v1.call("POST", "/people", fmt=JSON, body=b"null"), 400, "can't be blank")
    # No User-Agent is needed on /v1 (v1 asked for one only as a courtesy).
    bare = live.client.build_request("GET", "/v1/people", headers=basic(v1.email, v1.token))
    del bare.headers["user-agent"]
    assert live.client.send(bare).status_code == 200


@pytest.mark.parametrize(
    "document",
    [
        # Billion laughs: entities expanding to gigabytes.
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
            for i in range(1, 10)
        )
        + b"]><user><first-name>&lol9;</first-name></user>",
        # An external entity reading a local file.
        b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<user><first-name>&x;</first-name><last-name>L</last-name><email>xxe@example.com</email></user>",
        # A DOCTYPE alone is refused too.
        b"<!DOCTYPE user><user><first-name>F</first-name></user>",
    ],
)
def test_v1_refuses_xml_bombs_and_external_entities(live: LiveSandbox, api: Api, document: bytes) -> None:
    before = len(live.sandbox.state.users)
    answer = V1(live).call("POST", "/people", body=document)
    assert_v1_error(answer, 400, "DOCTYPE")
    assert len(live.sandbox.state.users) == before
    assert api.get("/v2/users/me").status_code == 200


def test_v1_deeply_nested_xml_is_refused_without_harm(live: LiveSandbox, api: Api) -> None:
    depth = 50_000
    document = b"<user><first-name>" + b"<a>" * depth + b"</a>" * depth + b"</first-name></user>"
    assert_v1_error(V1(live).call("POST", "/people", body=document), 400, "First name is invalid")
    assert api.get("/v2/users/me").status_code == 200


def test_v1_body_over_the_limit_is_413_before_authentication(live: LiveSandbox) -> None:
    live.control("PUT", "/settings", json={"max_body_bytes": 1000})
    big = b"<user><first-name>" + b"x" * 2000 + b"</first-name></user>"
    answer = live.client.post("/v1/people", content=big, headers={"Content-Type": XML})  # no credentials
    assert answer.status_code == 413
    assert V1(live).call("POST", "/people", body=big).status_code == 413


def test_v1_throttle_is_503_with_retry_after_in_the_accounts_budget(live: LiveSandbox, api: Api) -> None:
    live.control("PUT", "/settings", json={"rate_limit": "3/600s"})
    v1 = V1(live)
    assert v1.call("GET", f"/people/{v1.user_id}").status_code == 200
    assert api.get("/v2/users/me").status_code == 200  # v2 draws from the same budget
    assert v1.call("GET", "/people").status_code == 200
    throttled = v1.call("GET", "/people")
    assert_v1_error(throttled, 503, "Throttled")
    assert int(throttled.headers["retry-after"]) >= 1


def test_v1_hints_and_xml_survive_any_characters(live: LiveSandbox, api: Api) -> None:
    v1 = V1(live)
    body = {"user": {"first_name": "Zoë", "last_name": "Ünal", "email": "zoë@example.com"}}
    assert v1.call("POST", "/people", fmt=JSON, body=body).status_code == 201
    # The 400 names the email: the header carries it as ASCII, the body as it is.
    taken = v1.call("POST", "/people", fmt=JSON, body=body)
    assert taken.status_code == 400
    assert taken.headers["hint"] == "Email has already been taken (zo?@example.com)"
    assert "zoë@example.com" in taken.json()["errors"][0]
    # A control character v2 stored still gives well-formed XML.
    created = api.post(
        "/v2/users", json={"first_name": "Bell\u0007", "last_name": "Ring", "email": "bell@example.com"}
    )
    assert created.status_code == 201
    record = values(xml_of(v1.call("GET", f"/people/{created.json()['id']}")))
    assert record["first-name"] == "Bell\ufffd"


def test_v1_department_is_kept_in_the_state_file_and_older_files_still_load(live: LiveSandbox) -> None:
    v1 = V1(live)
    body = {
        "user": {"first_name": "Dee", "last_name": "Part", "email": "dee@example.com", "department": "Ops"}
    }
    user_id = created_id(v1.call("POST", "/people", fmt=JSON, body=body))
    state = live.control("GET", "/state").json()
    users = state["users"]
    column = users["fields"].index("department")
    assert [row[column] for row in users["rows"] if row[0] == user_id] == ["Ops"]
    # A state file written before the field existed loads with empty departments.
    users["fields"].pop(column)
    for row in users["rows"]:
        row.pop(column)
    live.control("PUT", "/state", json=state)
    assert values(xml_of(v1.call("GET", f"/people/{user_id}")))["department"] == ""
