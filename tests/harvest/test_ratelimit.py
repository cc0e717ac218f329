"""Rate limiting (docs/harvest-api.md §4): a shared sliding window per account, 429 pauses."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from thresher.harvest import (
    AsyncHarvest,
    ConfigurationError,
    HarvestSettings,
    LimiterRegistry,
    RateLimiter,
    RetryPolicy,
    parse_retry_after,
)

from .fakes import ACCOUNT, UA, FakeHarvest, json_response, make_client, user_json

LIMIT, WINDOW = 10, 0.2  # Harvest's 100 per 15 s, scaled down so the test is fast


def max_in_any_window(times: list[float], window: float) -> int:
    """The most sends found in any interval [t, t + window) of the recorded send times."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t < start + window))
    return best


def users_fake() -> FakeHarvest:
    return FakeHarvest().on(
        "GET", "/v2/users/me", lambda r: json_response(200, user_json())
    ).on("GET", "/v2/company", json_response(200, {"name": "ACME"}))


async def test_concurrent_requests_never_exceed_the_window() -> None:
    # How close to the limit it runs is a throughput figure, measured by bench/ratelimit.py and
    # checked without wall time by the clock-driven admission test below; a wall-clock bound
    # here failed on a loaded machine.
    fake = users_fake()
    n = 4 * LIMIT + 5
    async with make_client(fake, rate_limit=LIMIT, rate_window=WINDOW) as harvest:
        start = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(harvest.me)
        elapsed = time.monotonic() - start
    assert len(fake.times) == n
    assert max_in_any_window(fake.times, WINDOW) <= LIMIT
    assert elapsed >= 4 * WINDOW  # 45 requests need 4 full windows after the first burst


async def test_waiters_are_served_in_arrival_order() -> None:
    order: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        order.append(int(request.url.path.rsplit("/", 1)[1]))
        return json_response(200, user_json())

    fake = FakeHarvest()
    for i in range(3 * LIMIT):
        fake.on("GET", f"/v2/users/{i}", answer)
    async with (
        make_client(fake, rate_limit=LIMIT, rate_window=WINDOW) as harvest,
        anyio.create_task_group() as tg,
    ):
        for i in range(3 * LIMIT):
            tg.start_soon(harvest.get_user, i)
            await anyio.lowlevel.checkpoint()  # task i asks before task i + 1
    # First come, first served, however late the event loop runs a waiter's timer.
    assert order == list(range(3 * LIMIT))


async def test_the_first_waiter_to_check_admits_everyone_ahead_in_order() -> None:
    # The injected clock decides whose turn has come; the waiters' own timers (a window of 100 s)
    # never fire during the test, so only admission by another waiter can wake them.
    now = 0.0
    limiter = RateLimiter(2, 100.0, margin=0, clock=lambda: now)
    served: list[str] = []

    async def wait(name: str) -> None:
        await limiter.acquire()
        served.append(name)

    await limiter.acquire()
    await limiter.acquire()
    async with anyio.create_task_group() as tg:
        for name in ("a", "b", "c"):
            tg.start_soon(wait, name)
            await anyio.wait_all_tasks_blocked()
        assert served == []
        now = 100.0  # a's and b's turns have come, c's is a window later
        tg.start_soon(wait, "d")
        await anyio.wait_all_tasks_blocked()
        assert served == ["a", "b"]
        now = 200.0
        tg.start_soon(wait, "e")
        await anyio.wait_all_tasks_blocked()
        assert served == ["a", "b", "c", "d"]
        tg.cancel_scope.cancel()  # e's turn is at 300
    now = 300.0
    with anyio.fail_after(10):  # a guard only: a cancelled waiter left in line would hang it
        assert await limiter.acquire() == 0.0


async def test_a_request_counts_until_its_answer_arrives() -> None:
    # Harvest counts a request when it arrives, which may be any time before its answer comes
    # back; the limiter keeps a slow request in the window until then.
    sent: dict[int, float] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        user_id = int(request.url.path.rsplit("/", 1)[1])
        sent[user_id] = time.monotonic()
        if user_id == 1:
            await anyio.sleep(0.5)
        return json_response(200, user_json(user_id))

    async with (
        make_client(handler, rate_limit=2, rate_window=0.2) as harvest,
        anyio.create_task_group() as tg,
    ):
        for user_id in (1, 2, 3, 4):
            tg.start_soon(harvest.get_user, user_id)
            await anyio.lowlevel.checkpoint()
    t0 = sent[1]
    assert sent[2] - t0 < 0.05
    assert sent[3] - t0 >= 0.2
    # Dated by its send time, request 1 would have left the window at 0.2 s and let 3 and 4 go
    # together while it may still be arriving; dated by its answer it holds 4 back a window.
    assert sent[4] - t0 >= 0.4


async def test_every_client_and_token_of_one_account_shares_the_budget() -> None:
    registry = LimiterRegistry()
    fake = users_fake()
    other = users_fake()
    a = make_client(fake, registry=registry, access_token="token-a-0000000000", rate_limit=LIMIT,
                    rate_window=WINDOW)
    b = make_client(fake, registry=registry, access_token="token-b-0000000000", rate_limit=LIMIT,
                    rate_window=WINDOW)
    # Another account has its own budget and is not held up.
    c = make_client(other, registry=registry, account_id=ACCOUNT + 1, rate_limit=LIMIT,
                    rate_window=WINDOW)
    async with a, b, c, anyio.create_task_group() as tg:
        for _ in range(LIMIT):
            tg.start_soon(a.me)
            tg.start_soon(b.me)
        for _ in range(LIMIT):
            tg.start_soon(c.me)
    assert max_in_any_window(fake.times, WINDOW) <= LIMIT
    assert max(fake.times) - min(fake.times) >= WINDOW
    assert max(other.times) - min(other.times) < WINDOW / 2


async def test_clients_without_a_registry_share_the_process_default() -> None:
    fake = users_fake()
    settings = HarvestSettings(access_token="tok-default-0000000", account_id=987654321,
                               user_agent=UA, rate_limit=3, rate_window=0.3)
    a = AsyncHarvest(settings, transport=httpx.MockTransport(fake))
    b = AsyncHarvest(settings, transport=httpx.MockTransport(fake))
    async with a, b, anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(a.me)
            tg.start_soon(b.me)
    assert max_in_any_window(fake.times, 0.3) <= 3
    assert max(fake.times) - min(fake.times) >= 0.3


async def test_reports_have_their_own_budget() -> None:
    fake = users_fake().on("GET", "/v2/reports/time/team", {"results": []})
    async with make_client(fake, reports_rate_limit=2, reports_rate_window=1.0) as harvest:
        start = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(harvest.request, "GET", "/reports/time/team")
            for _ in range(5):
                tg.start_soon(harvest.me)
    reports = [t - start for r, t in zip(fake.requests, fake.times, strict=True)
               if "reports" in r.url.path]
    others = [t - start for r, t in zip(fake.requests, fake.times, strict=True)
              if "reports" not in r.url.path]
    assert sorted(reports)[2] >= 1.0  # the third report waits for the reports window
    assert max(others) < sorted(reports)[2]  # ordinary calls are not held behind it


async def test_retry_after_seconds_pauses_every_caller_of_the_account() -> None:
    fake = FakeHarvest().on(
        "GET", "/v2/users/1", httpx.Response(429, headers={"Retry-After": "1"}),
        json_response(200, user_json(1)),
    ).on("GET", "/v2/users/2", json_response(200, user_json(2)))
    registry = LimiterRegistry()
    first = make_client(fake, registry=registry)
    # Another client with another token on the same account must hold back too.
    second = make_client(fake, registry=registry, access_token="second-token-000000000")

    async def later() -> None:
        await anyio.sleep(0.1)  # starts after the 429 arrived
        await second.get_user(2)

    async with first, second, anyio.create_task_group() as tg:
        tg.start_soon(first.get_user, 1)
        tg.start_soon(later)
    assert fake.requests[0].url.path == "/v2/users/1"
    assert sorted(r.url.path for r in fake.requests[1:]) == ["/v2/users/1", "/v2/users/2"]
    t_429 = fake.times[0]
    assert all(t - t_429 >= 0.95 for t in fake.times[1:])


async def test_retry_after_http_date_is_honoured() -> None:
    when = email.utils.format_datetime(
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.6), usegmt=True
    )  # whole seconds: between 0.6 and 1.6 s from now
    fake = FakeHarvest().on(
        "GET", "/v2/users/1", httpx.Response(429, headers={"Retry-After": when}),
        json_response(200, user_json(1)),
    )
    async with make_client(fake) as harvest:
        await harvest.get_user(1)
    assert fake.times[1] - fake.times[0] >= 0.5


async def test_429_without_retry_after_backs_off_with_jitter() -> None:
    fake = FakeHarvest().on(
        "GET", "/v2/users/1", httpx.Response(429, content=b"", headers={"Content-Type": "text/html"}),
        httpx.Response(429, content=b""), json_response(200, user_json(1)),
    )
    # Window 1.5 s: the first pause is 0.05-0.1 s, the second 0.1-0.2 s.
    async with make_client(fake, rate_window=1.5, retry=RetryPolicy(attempts=3, backoff_base=0)) as harvest:
        await harvest.get_user(1)
    gaps = [b - a for a, b in zip(fake.times, fake.times[1:], strict=False)]
    assert 0.05 <= gaps[0] < 0.5
    assert 0.1 <= gaps[1] < 0.5


async def test_limiter_direct_use_and_wait_reporting() -> None:
    limiter = RateLimiter(3, 0.15, margin=0)
    waits = [await limiter.acquire() for _ in range(4)]
    assert waits[:3] == pytest.approx([0, 0, 0], abs=0.01)
    assert waits[3] >= 0.14


async def test_slot_dates_the_request_by_its_end() -> None:
    limiter = RateLimiter(1, 0.1, margin=0)
    async with limiter.slot() as waited:
        assert waited == pytest.approx(0, abs=0.01)
        await anyio.sleep(0.15)
    start = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - start >= 0.09  # a window after the end, not after the start


async def test_cancelled_waiter_does_not_block_the_line() -> None:
    limiter = RateLimiter(1, 1.0, margin=0)
    await limiter.acquire()
    with anyio.move_on_after(0.05):
        await limiter.acquire()  # gives up while queued
    start = time.monotonic()
    await limiter.acquire()
    # Its turn is the end of the first window (about 0.95 s away); behind a ghost waiter it would
    # be a whole window later (about 1.95 s). The half-window margin absorbs a slow machine.
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("0", 0.0), (" 5 ", 5.0), ("-3", 0.0), ("soon", None), ("", None),
     (None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0), ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0)],
)
def test_parse_retry_after_both_forms(value: str | None, expected: float | None) -> None:
    now = dt.datetime(2015, 10, 21, 7, 27, 30, tzinfo=dt.UTC)
    assert parse_retry_after(value, now=now) == expected


@pytest.mark.parametrize(("cap", "expected_peak"), [(None, 8), (3, 3)])
async def test_no_more_than_max_in_flight_requests_are_on_the_wire(
    cap: int | None, expected_peak: int
) -> None:
    # Requests queued on the wire burn the account's budget while they wait (the limiter counts
    # them from their turn); beyond the cap they wait uncounted, before their turn.
    on_wire, peak = 0, 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal on_wire, peak
        on_wire += 1
        peak = max(peak, on_wire)
        await anyio.sleep(0.01)
        on_wire -= 1
        return json_response(200, user_json(1))

    options: dict[str, Any] = {} if cap is None else {"max_in_flight": cap}
    async with make_client(handler, rate_limit=1000, rate_window=1.0, **options) as harvest, \
            anyio.create_task_group() as tg:
        for _ in range(30):
            tg.start_soon(harvest.me)
    assert peak == expected_peak


def test_max_in_flight_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_in_flight"):
        HarvestSettings(user_agent=UA, max_in_flight=0)
