"""Error bodies in each shape the fact sheet records, classified without a server
(``httpx.MockTransport`` is the unit seam, docs/architecture.md house style 4)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from thresher.greenhouse import (
    AsyncGreenhouse,
    GreenhouseError,
    MissingScopeError,
    NotFoundError,
    NotSiteAdminError,
    PaginationError,
    PermissionDeniedError,
    ServerError,
    TokenExpiredError,
    UnexpectedResponseError,
    UnprocessableError,
    User,
)

SECRET = "the-client-secret-value"


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> AsyncGreenhouse:
    return AsyncGreenhouse(
        access_token="fixed-token-value-123",
        base_url="https://gh.test/v3",
        transport=httpx.MockTransport(handler),
        attempts=2,
        backoff=0.0,
    )


def _answer(status: int, body: object, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)

    return handler


@pytest.mark.parametrize(
    ("status", "body", "expected", "words"),
    [
        (401, {"message": "Unauthorized", "errors": ["Token has expired"]}, TokenExpiredError, "expired"),
        (
            403,
            {"message": "Forbidden", "errors": ["Missing required scope: harvest:users:list"]},
            MissingScopeError,
            "harvest:users:list",
        ),
        (
            403,
            {"message": "Forbidden", "errors": [{"message": "Requires a Site Admin", "field": "sub"}]},
            NotSiteAdminError,
            "not a Site Admin",
        ),
        (403, {"message": "You do not have access to that record"}, PermissionDeniedError, "forbidden"),
        (
            422,
            {"message": "Validation error", "errors": [{"message": "is invalid", "field": "email"}]},
            UnprocessableError,
            "email: is invalid",
        ),
        (404, {"message": "Resource not found"}, NotFoundError, "not found"),
        (410, {"message": "Gone"}, NotFoundError, "gone"),
        (502, "<html>Bad Gateway</html>", ServerError, "502"),
    ],
)
async def test_bodies_are_classified(
    status: int, body: object, expected: type[GreenhouseError], words: str
) -> None:
    async with _client(_answer(status, body)) as gh:
        with pytest.raises(expected, match=words) as caught:
            [u async for u in gh.list_users()]
    assert type(caught.value) is expected
    assert caught.value.status_code == status


async def test_a_403_without_words_still_names_the_scope_needed() -> None:
    async with _client(_answer(403, {})) as gh:
        with pytest.raises(PermissionDeniedError) as caught:
            await gh.deactivate_user(5)
    assert caught.value.required_scope == "harvest:users:deactivate"
    assert "harvest:users:deactivate" in (caught.value.hint or "")


async def test_secrets_in_an_error_body_are_redacted() -> None:
    body = {
        "message": f"bad token fixed-token-value-123 and {SECRET}",
        "access_token": "abcdefghijkl",
        "errors": ["Authorization: Bearer zzzzzzzzzzzzzzzz"],
    }
    async with AsyncGreenhouse(
        access_token="fixed-token-value-123",
        client_secret=SECRET,
        base_url="https://gh.test/v3",
        transport=httpx.MockTransport(_answer(400, body)),
    ) as gh:
        with pytest.raises(GreenhouseError) as caught:
            [u async for u in gh.list_users(primary_email="person@example.com")]
    err = caught.value
    shown = " ".join([str(err), repr(err), err.body or "", err.api_message or "", err.url or ""])
    for secret in ("fixed-token-value-123", SECRET, "abcdefghijkl", "zzzzzzzzzzzzzzzz", "person@example.com"):
        assert secret not in shown


async def test_a_next_link_to_another_host_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=[{"id": 1}], headers={"Link": '<https://evil.test/v3/users?cursor=x>; rel="next"'}
        )

    async with _client(handler) as gh:
        with pytest.raises(PaginationError, match="points away"):
            [u async for u in gh.list_users()]


async def test_a_repeated_cursor_stops_the_listing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=[{"id": 1}], headers={"Link": '<https://gh.test/v3/users?cursor=same>; rel="next"'}
        )

    seen: list[User] = []

    async def walk(gh: AsyncGreenhouse) -> None:
        async for user in gh.list_users():
            seen.append(user)

    async with _client(handler) as gh:
        with pytest.raises(PaginationError, match="repeats a cursor"):
            await walk(gh)
    # The second page's link repeats its own cursor: it is refused before it is handed out, so a
    # consumer saving next_url never saves a loop.
    assert len(seen) == 1


async def test_a_page_that_is_not_an_array() -> None:
    async with _client(_answer(200, {"users": []})) as gh:
        with pytest.raises(UnexpectedResponseError, match="JSON array"):
            [u async for u in gh.list_users()]
