"""Asking how long a request would wait for the rate budget, without reserving anything (§4).

A caller with a deadline (the SCIM bridge, which answers 429 rather than hold an identity
provider past its timeout) asks first. Clocks are driven by hand, so nothing here depends on
how fast the machine is.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from thresher.harvest import RateLimiter, WaitForecast
from thresher.store import InvalidArgumentError, Store

from .fakes import FakeHarvest, json_response, make_client, user_json

KEY = "https://api.harvestapp.com/v2 account 4242"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_the_limiter_forecasts_the_turn_of_the_next_requests() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 10.0, margin=0.0, clock=clock)
    assert limiter.expected_wait() == 0.0
    await limiter.acquire()
    assert limiter.expected_wait() == 0.0  # one place left in the window
    assert limiter.expected_wait(2) == 10.0  # the second of two would wait for the window
    await limiter.acquire()
    assert limiter.expected_wait() == 10.0
    assert limiter.expected_wait(3) == 20.0  # a third one laps the window once more
    clock.now += 4.0
    assert limiter.expected_wait() == 6.0
    # Asking reserves nothing: the forecast is the same when asked again.
    assert limiter.expected_wait() == 6.0
    assert limiter.waiting == 0
    clock.now += 6.0
    assert limiter.expected_wait() == 0.0
    assert await limiter.acquire() == 0.0


async def test_a_429_pause_is_part_of_the_forecast() -> None:
    clock = Clock()
    limiter = RateLimiter(100, 15.0, clock=clock)
    limiter.pause(30.0)
    assert limiter.expected_wait() == 30.0
    with pytest.raises(ValueError, match="requests must be >= 1"):
        limiter.expected_wait(0)


async def test_requests_in_flight_count_as_sent_now() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 10.0, margin=0.0, clock=clock)
    async with limiter.slot():
        clock.now += 5.0  # the answer is slow: the request may reach Harvest at any moment
        assert limiter.expected_wait() == 10.0


async def test_the_client_forecasts_without_sending() -> None:
    fake = FakeHarvest().on("GET", "/v2/users/me", lambda r: json_response(200, user_json()))
    async with make_client(fake, rate_limit=2, rate_window=60.0) as harvest:
        assert await harvest.rate_forecast.expected_wait() == 0.0
        await harvest.me()
        await harvest.me()
        wait = await harvest.rate_forecast.expected_wait()
        assert 55.0 < wait <= 60.0 * 1.005
        assert len(fake.times) == 2  # the forecast sent nothing


@pytest.fixture
def shared_store(database_url: str) -> Iterator[Store]:
    with Store.open(database_url) as store:
        yield store


def test_the_shared_budget_forecasts_from_its_ring(shared_store: Store) -> None:
    budget = shared_store.rate_budget(KEY, limit=2, window=60.0, margin=0.0)
    assert isinstance(budget, WaitForecast)
    assert budget.expected_wait() == 0.0  # never used
    first, second = budget.reserve(), budget.reserve()
    assert first.handle is not None
    assert second.handle is not None
    budget.complete(first.handle)
    budget.complete(second.handle)
    wait = budget.expected_wait()
    assert 55.0 < wait <= 60.0
    later = budget.expected_wait(ahead=2)  # behind two more of this process: a lap later
    assert 115.0 < later <= 120.0
    assert budget.expected_wait() == pytest.approx(wait, abs=1.0)  # nothing was reserved
    budget.pause(600.0)
    assert budget.expected_wait() > 590.0
    with pytest.raises(InvalidArgumentError, match="ahead must be >= 0"):
        budget.expected_wait(ahead=-1)


async def test_the_client_adds_what_other_processes_spent(shared_store: Store) -> None:
    fake = FakeHarvest().on("GET", "/v2/users/me", lambda r: json_response(200, user_json()))
    # Another process spent the whole shared budget: this process's own limiter is empty.
    other = shared_store.rate_budget(KEY, limit=2, window=60.0)
    for _ in range(2):
        reservation = other.reserve()
        assert reservation.handle is not None
        other.complete(reservation.handle)
    budget = shared_store.rate_budget(KEY, limit=2, window=60.0)
    async with make_client(fake, rate_limit=2, rate_window=60.0, shared_budget=budget) as harvest:
        assert 55.0 < await harvest.rate_forecast.expected_wait() <= 61.0
    assert fake.times == []
