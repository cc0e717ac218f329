"""The client's outer gate: a ``SharedBudget`` (the store's, on a real database) that clients of
one account in several processes draw from, behind each process's own limiter.

Two clients with limiter registries of their own stand for two processes. Times are recorded by
the fake at the moment a request arrives; bounds are lower bounds only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import httpx
import pytest

from thresher.harvest import (
    ConfigurationError,
    Harvest,
    HarvestSettings,
    LimiterRegistry,
    Reservation,
    SharedBudget,
    parse_rate_limit,
)
from thresher.store import Store

from .fakes import ACCOUNT, TOKEN, UA, FakeHarvest, json_response, make_client, user_json

LIMIT, WINDOW = 8, 0.3
KEY = "https://api.harvestapp.com/v2 account 4242"


def max_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered[i:] if t < start + window) for i, start in enumerate(ordered)),
        default=0,
    )


@pytest.fixture
def shared_store(database_url: str) -> Iterator[Store]:
    with Store.open(database_url) as store:
        yield store


def fake() -> FakeHarvest:
    return (
        FakeHarvest()
        .on("GET", "/v2/users/me", lambda r: json_response(200, user_json()))
        .on("GET", "/v2/reports/time/team", json_response(200, {"results": []}))
    )


async def test_two_processes_on_one_budget_never_overrun_the_window(
    shared_store: Store, database_url: str
) -> None:
    server = fake()
    # Each "process" alone would allow LIMIT per window; together they must not exceed it.
    with Store.open(database_url) as second_store:
        clients = [
            make_client(
                server, rate_limit=LIMIT, rate_window=WINDOW,
                shared_budget=store.rate_budget(KEY, limit=LIMIT, window=WINDOW),
            )
            for store in (shared_store, second_store)
        ]
        n = 2 * LIMIT + 3
        async with clients[0], clients[1], anyio.create_task_group() as tg:
            for client in clients:
                for _ in range(n):
                    tg.start_soon(client.me)
    assert len(server.times) == 2 * n
    assert max_in_any_window(server.times, WINDOW) <= LIMIT
    state = shared_store.rate_budget(KEY, limit=LIMIT, window=WINDOW).state()
    assert len(state.slots) == LIMIT
    assert all(t > 0 for t in state.slots)  # every request was answered and re-dated


async def test_a_429_pauses_every_process_sharing_the_budget(shared_store: Store) -> None:
    server = (
        FakeHarvest()
        .on("GET", "/v2/users/1", httpx.Response(429, headers={"Retry-After": "1"}),
            json_response(200, user_json(1)))
        .on("GET", "/v2/users/2", json_response(200, user_json(2)))
    )
    budget = shared_store.rate_budget(KEY, limit=100, window=15)
    first = make_client(server, shared_budget=budget)
    other = make_client(server, shared_budget=shared_store.rate_budget(KEY, limit=100, window=15))
    before = time.time()
    async with first, other:
        await first.get_user(1)
        assert budget.state().paused_until >= before + 1
        await other.get_user(2)  # another process's registry: only the shared pause holds it
    t_429 = server.times[0]
    assert all(t - t_429 >= 0.95 for t in server.times[1:])


async def test_reports_and_clients_without_a_budget_leave_it_untouched(shared_store: Store) -> None:
    server = fake()
    budget = shared_store.rate_budget(KEY, limit=5, window=15)
    async with make_client(server, shared_budget=budget) as harvest:
        await harvest.request("GET", "/reports/time/team")
    assert budget.state().slots == ()  # the Reports API has its own budget (§4)
    async with make_client(server) as harvest:
        await harvest.me()
    assert budget.state().slots == ()
    async with make_client(server, shared_budget=budget) as harvest:
        await harvest.me()
    assert len(budget.state().slots) == 5


class _Unreachable:
    """A budget whose database is gone: requests still go, paced by the process alone."""

    def __init__(self) -> None:
        self.completed = 0

    def reserve(self) -> Reservation:
        raise OSError("no database")

    def complete(self, handle: object) -> None:
        self.completed += 1

    def pause(self, seconds: float) -> None:
        raise OSError("no database")


async def test_an_unreachable_budget_does_not_fail_requests() -> None:
    budget = _Unreachable()
    assert isinstance(budget, SharedBudget)
    server = fake()
    async with make_client(server, shared_budget=budget) as harvest:
        assert (await harvest.me()).id == 1
    assert budget.completed == 0  # nothing was reserved, so nothing is completed


def test_the_blocking_client_takes_a_budget_too(shared_store: Store) -> None:
    budget = shared_store.rate_budget(KEY, limit=3, window=15)
    with Harvest(
        access_token=TOKEN, account_id=ACCOUNT, user_agent=UA, limiter_registry=LimiterRegistry(),
        transport=httpx.MockTransport(fake()), shared_budget=budget,
    ) as harvest:
        harvest.me()
    assert len(budget.state().slots) == 3


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("100/15s", (100, 15.0)), ("100/1.5s", (100, 1.5)), ("50/1", (50, 1.0)),
     (" 5 / 200ms ", (5, 0.2)), ("100/15min", (100, 900.0))],
)
def test_rate_limit_specs(spec: str, expected: tuple[int, float]) -> None:
    assert parse_rate_limit(spec) == expected


@pytest.mark.parametrize("spec", ["100", "0/15s", "100/0s", "abc/15s", "100/15h", "-1/1s", "100/"])
def test_a_bad_rate_limit_is_refused_with_one_clear_error(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="HARVEST_RATE_LIMIT") as info:
        parse_rate_limit(spec)
    assert info.value.hint is not None
    assert "100/15s" in info.value.hint


def test_harvest_rate_limit_in_the_environment() -> None:
    env = {"HARVEST_USER_AGENT": UA, "HARVEST_RATE_LIMIT": "100/1.5s"}
    settings = HarvestSettings.from_env(env)
    assert (settings.rate_limit, settings.window) == (100, 1.5)
    assert HarvestSettings.from_env({"HARVEST_USER_AGENT": UA}).window == 15.0  # the default
    assert HarvestSettings.from_env(env, rate_limit=7).rate_limit == 7  # keywords win
    with pytest.raises(ConfigurationError, match="REQUESTS/WINDOW"):
        HarvestSettings.from_env({**env, "HARVEST_RATE_LIMIT": "fast"})


async def test_a_request_cancelled_while_waiting_gives_its_place_a_date(shared_store: Store) -> None:
    budget = shared_store.rate_budget(KEY, limit=1, window=600)
    async with make_client(fake(), shared_budget=budget) as harvest:
        await harvest.me()
        (answered,) = budget.state().slots
        async with anyio.create_task_group() as tg:
            tg.start_soon(harvest.me)  # its place is ten minutes away
            deadline = time.monotonic() + 60
            while budget.state().slots[0] == answered:  # wait for the reservation, not a clock
                assert time.monotonic() < deadline
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    (dated,) = budget.state().slots
    assert dated > answered  # no longer in flight: the next reservation can count from it
