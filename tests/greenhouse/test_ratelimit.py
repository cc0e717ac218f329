"""Greenhouse's fixed windows (docs/greenhouse.md §3): the sandbox's ``X-RateLimit-*`` headers and
429 ``Retry-After``, and a client that paces itself by them. No timing asserts: requests and
statuses are counted."""

from __future__ import annotations

import httpx
import pytest

from thresher.greenhouse import RateLimiter, RateLimitHeaders, RequestRecord
from thresher.greenhouse_sandbox import GreenhouseSandbox, GreenhouseSandboxConfig

from .conftest import Target


@pytest.fixture
def gh_config() -> GreenhouseSandboxConfig:
    return GreenhouseSandboxConfig(users=30, seed=3, rate_limit="4/2s")


async def test_every_api_answer_carries_the_window_and_429_carries_retry_after() -> None:
    sandbox = GreenhouseSandbox(GreenhouseSandboxConfig(users=5, rate_limit="3/30s"))
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gh.test") as client:
        cred = sandbox.credential("full")
        minted = await client.post(
            "/token",
            auth=(cred.client_id, cred.client_secret),
            data={"grant_type": "client_credentials", "sub": str(sandbox.state.admin_id)},
        )
        token = minted.json()["access_token"]
        answers = [
            await client.get("/v3/user_roles", headers={"Authorization": f"Bearer {token}"}) for _ in range(4)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
    assert len({a.headers["X-RateLimit-Reset"] for a in answers}) == 1  # one fixed window
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 30


async def test_a_listing_longer_than_the_window_is_paced_without_a_429(target: Target) -> None:
    """4 requests per 2 s window, 8 pages: the client reads the headers and waits for the next
    window instead of being refused (it starts believing Greenhouse's example of 75)."""
    records: list[RequestRecord] = []
    async with target.client(records=records, per_page=4) as gh:
        users = [u async for u in gh.list_users()]
    assert len(users) == 30
    statuses = [r.status_code for r in records if r.path == "/v3/users"]
    assert statuses == [200] * 8
    assert gh.limiter.throttled == 0
    assert gh.limiter.limit == 4  # learned from X-RateLimit-Limit


async def test_a_429_pauses_for_retry_after_and_the_request_succeeds(target: Target) -> None:
    """Another client of the same credential used up the window; this one, knowing nothing
    yet, is refused once, waits out Retry-After, and gets its answer."""
    async with target.client() as other:
        for _ in range(4):
            [r async for r in other.list_user_roles()]
    records: list[RequestRecord] = []
    async with target.client(records=records) as gh:
        roles = [r async for r in gh.list_user_roles()]
    assert len(roles) == 3
    assert [r.status_code for r in records if r.path == "/v3/user_roles"] == [429, 200]
    assert gh.limiter.throttled == 1
    assert [r["status"] for r in target.log() if r["path"] == "/v3/user_roles"].count(429) == 1


def test_reset_is_read_as_an_epoch_or_as_seconds() -> None:
    epoch = RateLimitHeaders.parse(
        {"x-ratelimit-limit": "75", "x-ratelimit-remaining": "10", "x-ratelimit-reset": "2000000030"},
        wall=2_000_000_000.0,
    )
    assert (epoch.limit, epoch.remaining, epoch.reset_in) == (75, 10, 30.0)
    delta = RateLimitHeaders.parse({"x-ratelimit-reset": "12"}, wall=2_000_000_000.0)
    assert delta.reset_in == 12.0
    skewed = RateLimitHeaders.parse(
        {"x-ratelimit-reset": "2000000030", "date": "Wed, 18 May 2033 03:33:40 GMT"}, wall=1_900_000_000.0
    )
    assert skewed.reset_in == 10.0  # the server's clock, not ours, dates the window


async def test_the_limiter_follows_a_new_window_and_never_raises_what_is_left() -> None:
    t = [0.0]
    limiter = RateLimiter(75, 30.0, clock=lambda: t[0])
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(50, 3, 1000, 30.0))
    limiter.release()
    assert (limiter.limit, limiter.remaining) == (50, 3)
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(50, 40, 1000, 29.0))  # same window: cannot grow
    limiter.release()
    assert limiter.remaining == 2
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(50, 49, 1030, 30.0))  # a later window: the server's count
    limiter.release()
    assert limiter.remaining == 49
