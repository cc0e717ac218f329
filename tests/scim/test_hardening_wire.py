"""Any bytes on the wire get an answer, never a 5xx or a dropped connection (scim/_limits.py).

The bridge runs under uvicorn on 127.0.0.1 (tests/scim/servers.py) and requests go out byte for
byte over a socket (tests/scim/wire.py): bad percent-encoding, control characters and bad UTF-8 in
paths, queries and bodies, bad Content-Length, bodies nested 5,000 deep, a surrogate in a filter.
h11 itself answers 400 to some malformed request lines; that is an answer too.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import urllib.parse
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thresher.sandbox import SandboxConfig
from thresher.scim._limits import MAX_BODY
from thresher.store import Store

from .servers import RunningBridge, serve_bridge
from .wire import exchange, raw_request, read_response

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
def running(store: Store) -> Iterator[RunningBridge]:
    with serve_bridge(store, SandboxConfig(users=3, seed=4, rate_limit=None)) as bridge:
        yield bridge


def _port(running: RunningBridge) -> int:
    return urllib.parse.urlsplit(running.base_url).port or 80


def _scim_error(status: int, body: bytes) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(body)
    assert error["schemas"] == [ERROR]
    assert error["status"] == str(status)
    assert error["detail"]
    return error


def _nested(depth: int) -> bytes:
    return b'{"schemas": ["' + USER.encode() + b'"], "a": ' + b'{"a": ' * depth + b"1" + b"}" * (depth + 1)


# (name, method, target, body, extra headers, the statuses that are right)
MALFORMED: list[tuple[str, str, bytes, bytes, list[bytes], set[int]]] = [
    ("space in id", "GET", b"/scim/v2/Users/x%20", b"", [], {404}),
    ("NUL in id", "GET", b"/scim/v2/Users/%00", b"", [], {404}),
    ("tab in id", "GET", b"/scim/v2/Users/%09", b"", [], {404}),
    ("NUL in a group id", "DELETE", b"/scim/v2/Groups/1%00", b"", [], {404}),
    ("Arabic-Indic digits, encoded", "GET", b"/scim/v2/Users/%D9%A1%D9%A2", b"", [], {404}),
    ("bad percent-encoding", "GET", b"/scim/v2/Users/%ZZ", b"", [], {404}),
    ("truncated percent-encoding", "GET", b"/scim/v2/Users/%", b"", [], {404}),
    ("bad UTF-8 in path", "GET", b"/scim/v2/Users/%FF%FE", b"", [], {404}),
    ("raw byte in path", "GET", b"/scim/v2/Users/\xff", b"", [], {400}),
    ("raw control character in path", "GET", b"/scim/v2/Users/\x01", b"", [], {400}),
    ("bad UTF-8 in query", "GET", b"/scim/v2/Users?filter=%FF", b"", [], {400}),
    (
        "encoded surrogate in query",
        "GET",
        b"/scim/v2/Users?filter=userName%20eq%20%22%ED%A0%80%22",
        b"",
        [],
        {400},
    ),
    (
        "escaped surrogate in filter",
        "GET",
        b"/scim/v2/Users?filter=userName%20eq%20%22%5Cud800%22",
        b"",
        [],
        {400},
    ),
    ("NUL in filter", "GET", b"/scim/v2/Users?filter=userName%20eq%20%22a%00b%22", b"", [], {400}),
    (
        "huge filter",
        "GET",
        b"/scim/v2/Users?filter=userName%20eq%20%22" + b"a" * 20_000 + b"%22",
        b"",
        [],
        {400},
    ),
    (
        "surrogate in a search body",
        "POST",
        b"/scim/v2/Users/.search",
        json.dumps({"schemas": [SEARCH], "filter": 'userName eq "\\ud800"'}).encode(),
        [],
        {400},
    ),
    (
        "lone surrogate in a body",
        "POST",
        b"/scim/v2/Users",
        b'{"schemas": ["' + USER.encode() + b'"], "userName": "\\ud800@example.com"}',
        [],
        {400},
    ),
    ("bad UTF-8 in a body", "POST", b"/scim/v2/Users", b'{"userName": "\xff\xfe"}', [], {400}),
    (
        "NUL in a body",
        "POST",
        b"/scim/v2/Users",
        b'{"schemas": ["' + USER.encode() + b'"], "userName": "a\\u0000@example.com"}',
        [],
        {400},
    ),
    ("5,000 nested objects", "POST", b"/scim/v2/Users", _nested(5_000), [], {400}),
    ("1,000 nested objects in a PATCH", "PATCH", b"/scim/v2/Users/1", _nested(1_000), [], {400}),
    ("5,000 nested arrays", "PUT", b"/scim/v2/Groups/1", b"[" * 5_000 + b"]" * 5_000, [], {400, 404}),
    (
        "a 100 KB value",
        "POST",
        b"/scim/v2/Users",
        json.dumps({"schemas": [USER], "userName": "x@example.com", "externalId": "e" * 100_000}).encode(),
        [],
        {400},
    ),
    ("a number past double", "POST", b"/scim/v2/Users", b'{"userName": 1e999999}', [], {400}),
    ("not JSON", "POST", b"/scim/v2/Users", b"{not json", [], {400}),
]
FRAMING: list[tuple[str, bytes]] = [
    (
        "Content-Length not a number",
        b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ),
    ("negative Content-Length", b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    (
        "two Content-Lengths",
        b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    ),
    ("Host with a space", b"GET /scim/v2/Users/1 HTTP/1.1\r\nHost: a b\r\n\r\n"),
    ("Host with quotes", b'GET /scim/v2/Users/1 HTTP/1.1\r\nHost: "evil"<x>\r\n\r\n'),
    ("header with a raw high byte", b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nX-A: \xff\r\n\r\n"),
    ("no Host at all (HTTP/1.0)", b"GET /scim/v2/ServiceProviderConfig HTTP/1.0\r\n\r\n"),
    ("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
]


def _errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_malformed_requests_get_scim_errors(running: RunningBridge, caplog: pytest.LogCaptureFixture) -> None:
    port = _port(running)
    for name, method, target, body, headers, expected in MALFORMED:
        with caplog.at_level(logging.INFO, logger="thresher.scim"):
            caplog.clear()
            response = exchange(
                port, raw_request(method, target, token=running.token, body=body, headers=headers)
            )
            assert response.status in expected, (name, response.status, response.body[:300])
            if response.headers.get("content-type", "").startswith("application/scim+json"):
                _scim_error(response.status, response.body)
                # An error never echoes the raw path back in a header.
                assert "location" not in response.headers, name
            # One INFO line says what was refused; no traceback, nothing at ERROR.
            assert _errors_logged(caplog) == [], name
            assert len([r for r in caplog.records if r.name == "thresher.scim"]) <= 1, name


def test_broken_framing_is_answered_not_dropped(
    running: RunningBridge, caplog: pytest.LogCaptureFixture
) -> None:
    port = _port(running)
    for name, request in FRAMING:
        caplog.clear()
        response = exchange(port, request)
        assert 400 <= response.status < 500 or (response.status == 200 and b"HTTP/1.0" in request), (
            name,
            response.status,
            response.body[:200],
        )
        assert _errors_logged(caplog) == [], name


def test_a_bad_host_is_400_and_a_good_one_builds_the_locations(running: RunningBridge) -> None:
    port = _port(running)
    r = exchange(port, raw_request("GET", b"/scim/v2/Users", token=running.token, host=b"a\tb"))
    assert r.status == 400
    _scim_error(400, r.body)
    listed = exchange(
        port, raw_request("GET", b"/scim/v2/Users?count=1", token=running.token, host=b"idp.example:8443")
    )
    assert listed.status == 200
    uid = listed.json()["Resources"][0]["id"]
    assert uid.isascii()
    assert uid.isdigit()
    # A leading zero finds the user; the locations name the canonical id under the checked host.
    got = exchange(
        port,
        raw_request(
            "GET", b"/scim/v2/Users/00" + uid.encode(), token=running.token, host=b"idp.example:8443"
        ),
    )
    assert got.status == 200
    location = f"http://idp.example:8443/scim/v2/Users/{uid}"
    assert got.json()["meta"]["location"] == location
    assert got.headers["location"] == location


def test_a_body_over_the_limit_is_refused_before_the_token_and_before_it_is_read(
    running: RunningBridge,
) -> None:
    """A 50 MB unauthenticated upload: 413 while the client is still sending, by its declared
    length or, chunked, as soon as the limit is passed."""
    port = _port(running)
    total = 50_000_000
    piece = b"x" * 65_536
    for framing in (b"Content-Length: %d" % total, b"Transfer-Encoding: chunked"):
        chunked = framing.startswith(b"Transfer")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\n"
                + framing
                + b"\r\n\r\n"
            )
            sent = 0
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break  # the answer came while the body was still being sent
                data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
                sock.sendall(data)
                sent += len(piece)
            assert sent < total, "the server answered only after the whole body was sent"
            response = read_response(sock)
        assert response.status == 413, (framing, response.body[:200])
        error = _scim_error(413, response.body)
        assert str(MAX_BODY) in error["detail"]
        assert "www-authenticate" not in response.headers  # refused before the token is looked at


async def test_the_app_reads_no_further_than_the_limit(running: RunningBridge) -> None:
    """Counted at the ASGI boundary: the bridge pulls at most the limit and one chunk more."""
    pulled = 0
    chunk = b"y" * 65_536

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": pulled < 50_000_000}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/scim/v2/Users",
        "raw_path": b"/scim/v2/Users",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"x"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    await running.bridge.app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert pulled <= MAX_BODY + len(chunk)


# -- generated requests over the socket -----------------------------------------------------------

segments = st.one_of(
    st.sampled_from(["Users", "Groups", "users", ".search", "Me", "Schemas", "ResourceTypes", "1", "00", ""]),
    st.text(max_size=6).map(lambda s: urllib.parse.quote(s, safe="")),
    st.binary(max_size=6).map(lambda b: "".join(f"%{c:02X}" for c in b)),
    st.from_regex(r"%[0-9A-Za-z]{0,2}", fullmatch=True),
)
paths = st.lists(segments, min_size=1, max_size=4).map(lambda parts: "/scim/v2/" + "/".join(parts))
query_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(['userName eq "\\ud800"', 'userName eq "a"', "active eq true", "((", "\x00", "\\udc00"]),
)
queries = st.one_of(
    st.just(""),
    st.dictionaries(
        st.sampled_from(["filter", "count", "startIndex", "attributes", "excludedAttributes", "x"]),
        query_values,
        max_size=3,
    ).map(urllib.parse.urlencode),
    st.binary(max_size=12).map(lambda b: "filter=" + "".join(f"%{c:02X}" for c in b)),
)
json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_docs = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=40),
    json_docs.map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries(
        {"schemas": st.just([USER]), "userName": st.text(max_size=12)},
        optional={"externalId": st.text(max_size=6)},
    ).map(lambda d: json.dumps(d).encode()),
)


def test_generated_requests_over_a_socket(running: RunningBridge) -> None:
    port = _port(running)

    @settings(
        max_examples=150,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
        path=paths,
        query=queries,
        body=bodies,
        authenticated=st.booleans(),
    )
    def run(method: str, path: str, query: str, body: bytes, authenticated: bool) -> None:
        target = (path + ("?" + query if query else "")).encode()
        token = running.token if authenticated else None
        response = exchange(port, raw_request(method, target, token=token, body=body))
        # 501 is SCIM's answer to an operation the bridge does not offer (RFC 7644 §3.12), such
        # as a search at the root: a deliberate answer, not a failure.
        assert response.status < 500 or response.status == 501, (
            method,
            target,
            body[:100],
            response.status,
            response.body[:300],
        )
        if response.status >= 400 and method != "HEAD" and response.body:
            _scim_error(response.status, response.body)

    run()
