"""The raw escape hatch (``request``, ``request_paginated``) that ``thresher api`` is built on: any
path of the API, never another host, and list pages followed by ``links.next`` (§3)."""

from __future__ import annotations

import httpx
import pytest

from thresher.harvest import InvalidRequestError, NotFoundError, PaginationError

from .fakes import ACCOUNT, BASE, ID_URL, FakeHarvest, json_response, make_client, page_json, user_json

NEXT = f"{BASE}/users?cursor=abc&ref=next_cursor"


@pytest.mark.parametrize(
    "path",
    ["/v2/users/me", "/users/me", "users/me", f"{BASE}/users/me"],
    ids=["documented", "relative-to-base", "bare", "absolute"],
)
async def test_a_path_is_read_as_documented_or_relative_to_the_base(path: str) -> None:
    fake = FakeHarvest().on("GET", "/v2/users/me", user_json(7))
    async with make_client(fake) as harvest:
        assert (await harvest.request("GET", path))["id"] == 7
    [sent] = fake.requests
    assert str(sent.url) == f"{BASE}/users/me"
    assert sent.headers["Harvest-Account-Id"] == str(ACCOUNT)


async def test_the_identity_service_is_reached_without_the_account_header() -> None:
    fake = FakeHarvest().on("GET", "/api/v2/accounts", {"user": {}, "accounts": []})
    async with make_client(fake) as harvest:
        await harvest.request("GET", f"{ID_URL}/api/v2/accounts")
    [sent] = fake.requests
    assert "Harvest-Account-Id" not in sent.headers


@pytest.mark.parametrize(
    "url",
    ["https://evil.example/v2/users/me", "http://api.harvestapp.com/v2/users/me",
     "https://api.harvestapp.com:8443/v2/users/me"],
    ids=["other-host", "other-scheme", "other-port"],
)
async def test_absolute_urls_elsewhere_are_refused_before_sending(url: str) -> None:
    fake = FakeHarvest()
    async with make_client(fake) as harvest:
        with pytest.raises(InvalidRequestError, match="refusing to send the access token"):
            await harvest.request("GET", url)
        with pytest.raises(InvalidRequestError):
            [p async for p in harvest.request_paginated(url)]
    assert fake.requests == []


async def test_put_is_refused() -> None:
    async with make_client(FakeHarvest()) as harvest:
        with pytest.raises(InvalidRequestError, match="no PUT"):
            await harvest.request("PUT", "/v2/users/1")


async def test_errors_carry_harvests_body() -> None:
    fake = FakeHarvest().on("GET", "/v2/users/99", json_response(404, {"error": "Not Found"}))
    async with make_client(fake) as harvest:
        with pytest.raises(NotFoundError) as caught:
            await harvest.request("GET", "/v2/users/99")
    assert caught.value.status_code == 404
    assert caught.value.body is not None
    assert "Not Found" in caught.value.body


async def test_pages_follow_links_next_with_the_filters_on_the_first_only() -> None:
    fake = FakeHarvest().on(
        "GET", "/v2/users",
        lambda r: json_response(200, page_json("users", [user_json(1), user_json(2)], next_url=NEXT))
        if "cursor" not in r.url.params
        else json_response(200, page_json("users", [user_json(3)], page=None)),
    )
    async with make_client(fake) as harvest:
        pages = [p async for p in harvest.request_paginated("/v2/users", params={"is_active": "true"})]
    assert [[u["id"] for u in p["users"]] for p in pages] == [[1, 2], [3]]
    assert dict(fake.requests[0].url.params) == {"is_active": "true"}
    assert str(fake.requests[1].url) == NEXT


async def test_pages_refuse_a_repeated_cursor_and_a_next_link_elsewhere() -> None:
    looping = FakeHarvest().on("GET", "/v2/users", json_response(
        200, page_json("users", [user_json(1)], next_url=NEXT)))
    async with make_client(looping) as harvest:
        with pytest.raises(PaginationError, match="repeats a page"):
            [p async for p in harvest.request_paginated("/v2/users")]
    assert len(looping.requests) == 2
    away = FakeHarvest().on("GET", "/v2/users", json_response(
        200, page_json("users", [user_json(1)], next_url="https://evil.example/v2/users?cursor=x")))
    async with make_client(away) as harvest:
        with pytest.raises(PaginationError, match="points away"):
            [p async for p in harvest.request_paginated("/v2/users")]
    assert [r.url.host for r in away.requests] == [httpx.URL(BASE).host]
