"""Pagination (docs/harvest-api.md §3): links.next exactly, cursor and page mode, loops refused."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from thresher.harvest import AsyncHarvest, InvalidRequestError, PaginationError, User

from .fakes import BASE, FakeHarvest, json_response, make_client, page_json, user_assignment_json, user_json

CURSOR_2 = f"{BASE}/users?cursor=eyJhZnRlciI6eyJpZCI6MjAwMH19&per_page=2000&ref=next_cursor"
CURSOR_3 = f"{BASE}/users?cursor=eyJhZnRlciI6eyJpZCI6NDAwMH19&per_page=2000&ref=next_cursor"


def by_url(pages: dict[str, dict[str, object]]) -> FakeHarvest:
    """Answer each full URL with its page; anything else fails the test."""

    def answer(request: httpx.Request) -> httpx.Response:
        return json_response(200, pages[str(request.url)])

    fake = FakeHarvest()
    for url in pages:
        fake.on("GET", httpx.URL(url).path, answer)
    return fake


async def test_cursor_mode_follows_links_next_and_accepts_null_page() -> None:
    fake = by_url({
        f"{BASE}/users": page_json("users", [user_json(1), user_json(2)], next_url=CURSOR_2,
                                   total_entries=5),
        # Cursor mode: page, next_page and previous_page are null on middle pages (§3).
        CURSOR_2: page_json("users", [user_json(3), user_json(4)], next_url=CURSOR_3, page=None,
                            total_entries=5),
        CURSOR_3: page_json("users", [user_json(5)], page=3, total_entries=5),
    })
    async with make_client(fake) as harvest:
        pages = [page async for page in harvest.user_pages()]
    assert [[u.id for u in p.items] for p in pages] == [[1, 2], [3, 4], [5]]
    assert [str(r.url) for r in fake.requests] == [f"{BASE}/users", CURSOR_2, CURSOR_3]
    assert pages[1].page is None
    assert pages[0].next_url == CURSOR_2
    assert pages[2].next_url is None
    assert pages[1].url == CURSOR_2
    assert pages[0].total_entries == 5
    assert all(isinstance(u, User) for p in pages for u in p.items)


async def test_page_mode_endpoint_follows_its_links() -> None:
    # /v2/projects/{id}/user_assignments has plain pages but still answers links (§3).
    first = f"{BASE}/projects/10/user_assignments"
    second = f"{BASE}/projects/10/user_assignments?page=2&per_page=2000"
    fake = by_url({
        first: page_json("user_assignments", [user_assignment_json(1)], next_url=second),
        second: page_json("user_assignments", [user_assignment_json(2)], page=2),
    })
    async with make_client(fake) as harvest:
        ids = [a.id async for a in harvest.list_project_user_assignments(10)]
    assert ids == [1, 2]
    assert [str(r.url) for r in fake.requests] == [first, second]


async def test_me_project_assignments_page_mode() -> None:
    first = f"{BASE}/users/me/project_assignments"
    second = f"{first}?page=2&per_page=2000"
    from .fakes import project_assignment_json

    fake = by_url({
        first: page_json("project_assignments", [project_assignment_json(1)], next_url=second),
        second: page_json("project_assignments", [project_assignment_json(2)], page=2),
    })
    async with make_client(fake) as harvest:
        ids = [a.id async for a in harvest.list_project_assignments("me")]
    assert ids == [1, 2]


async def test_repeated_cursor_raises_before_yielding_the_looping_page() -> None:
    fake = by_url({
        f"{BASE}/users": page_json("users", [user_json(1)], next_url=CURSOR_2),
        # Same cursor again, dressed up with another ref.
        CURSOR_2: page_json("users", [user_json(2)], page=None,
                            next_url=CURSOR_2.replace("ref=next_cursor", "ref=again")),
    })
    seen: list[int] = []

    async def consume(harvest: AsyncHarvest) -> None:
        async for page in harvest.user_pages():
            seen.extend(u.id for u in page.items)

    async with make_client(fake) as harvest:
        with pytest.raises(PaginationError, match="repeats"):
            await consume(harvest)
    # Page 2 points back at its own cursor: it is not handed out, so nobody stores the loop.
    assert seen == [1]
    assert len(fake.requests) == 2


async def test_next_url_equal_to_the_first_url_is_a_loop() -> None:
    first = f"{BASE}/users?per_page=5"
    fake = by_url({first: page_json("users", [user_json(1)], next_url=first, per_page=5)})
    async with make_client(fake) as harvest:
        with pytest.raises(PaginationError):
            [u async for u in harvest.list_users(per_page=5)]
    assert len(fake.requests) == 1


async def test_resume_from_a_saved_next_url() -> None:
    fake = by_url({CURSOR_2: page_json("users", [user_json(3)], page=None)})
    async with make_client(fake) as harvest:
        # The filters travel in the saved URL; the ones passed here are not added to it.
        pages = [p async for p in harvest.user_pages(is_active=True, start_url=CURSOR_2)]
    assert [str(r.url) for r in fake.requests] == [CURSOR_2]
    assert pages[0].items[0].id == 3


async def test_next_url_on_another_host_is_refused() -> None:
    evil = "https://evil.example.com/v2/users?cursor=abc"
    fake = by_url({f"{BASE}/users": page_json("users", [user_json(1)], next_url=evil)})
    async with make_client(fake) as harvest:
        with pytest.raises(PaginationError, match="points away"):
            [u async for u in harvest.list_users()]
        with pytest.raises(PaginationError):
            [p async for p in harvest.user_pages(start_url=evil)]
    assert all(r.url.host == "api.harvestapp.com" for r in fake.requests)


@pytest.mark.parametrize("per_page", [0, -1, 2001])
async def test_per_page_out_of_range_is_refused_before_sending(per_page: int) -> None:
    fake = FakeHarvest()
    async with make_client(fake) as harvest:
        with pytest.raises(InvalidRequestError, match="per_page"):
            [u async for u in harvest.list_users(per_page=per_page)]
    assert fake.requests == []


async def test_per_page_default_2000_is_omitted_and_other_values_sent() -> None:
    fake = FakeHarvest().on("GET", "/v2/users", page_json("users", []))
    async with make_client(fake) as harvest:
        [u async for u in harvest.list_users()]
        [u async for u in harvest.list_users(per_page=2000)]
    async with make_client(fake, per_page=100) as harvest:
        [u async for u in harvest.list_users()]
    assert [dict(r.url.params) for r in fake.requests] == [{}, {}, {"per_page": "100"}]


async def test_listing_is_lazy() -> None:
    fake = by_url({
        f"{BASE}/users": page_json("users", [user_json(1), user_json(2)], next_url=CURSOR_2),
        CURSOR_2: page_json("users", [user_json(3)], page=None),
    })
    async with make_client(fake) as harvest:
        users = harvest.list_users()
        first = await anext(users)
        assert first.id == 1
        assert len(fake.requests) == 1  # the second page is not fetched until needed
        await users.aclose()  # type: ignore[attr-defined]
    assert len(fake.requests) == 1


async def test_next_page_without_links_is_refused_rather_than_truncated() -> None:
    body = page_json("users", [user_json(1)])
    del body["links"]
    body["next_page"] = 2
    fake = FakeHarvest().on("GET", "/v2/users", body)
    async with make_client(fake) as harvest:
        with pytest.raises(PaginationError, match="no links"):
            [u async for u in harvest.list_users()]


async def test_relative_next_link_is_resolved_on_the_api_host() -> None:
    fake = FakeHarvest().on(
        "GET", "/v2/users",
        lambda r: json_response(200, page_json("users", [user_json(1)], next_url="/v2/users?cursor=b"))
        if "cursor" not in r.url.params else json_response(200, page_json("users", [user_json(2)])),
    )
    async with make_client(fake) as harvest:
        ids = [u.id async for u in harvest.list_users()]
    assert ids == [1, 2]
    assert str(fake.requests[1].url) == f"{BASE}/users?cursor=b"


async def test_page_carries_the_servers_date_for_clock_independent_windows() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"users": [], "links": {"next": None}, "total_entries": 0},
            headers={"Date": "Sun, 22 Nov 2026 08:00:05 GMT"},
        )

    async with make_client(handler) as client:
        pages = [p async for p in client.user_pages()]
    assert pages[0].server_date == dt.datetime(2026, 11, 22, 8, 0, 5, tzinfo=dt.UTC)
