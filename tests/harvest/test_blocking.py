"""The blocking facade: same names and signatures, no logic of its own, lazy iterators, and
blocking transports (``httpx.HTTPTransport``) as well as async ones."""

from __future__ import annotations

import gzip
import inspect
import json
import threading

import httpx
import pytest

from thresher.harvest import AsyncHarvest, Harvest, LimiterRegistry, NotFoundError, Page, User
from thresher.sandbox import Sandbox, SandboxConfig, run_sandbox

from .fakes import (
    ACCOUNT,
    BASE,
    FAST_RETRY,
    TOKEN,
    UA,
    FakeHarvest,
    json_response,
    page_json,
    teammate_json,
    user_json,
)

NEXT = f"{BASE}/users?cursor=abc&per_page=2000&ref=next_cursor"


def sync_client(fake: FakeHarvest) -> Harvest:
    return Harvest(access_token=TOKEN, account_id=ACCOUNT, user_agent=UA, transport=fake.transport,
                   limiter_registry=LimiterRegistry(), retry=FAST_RETRY)


def two_pages() -> FakeHarvest:
    return FakeHarvest().on(
        "GET", "/v2/users",
        lambda r: json_response(200, page_json("users", [user_json(1), user_json(2)], next_url=NEXT))
        if "cursor" not in r.url.params
        else json_response(200, page_json("users", [user_json(3)], page=None)),
    )


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in inspect.getmembers(cls)
            if not name.startswith("_") and inspect.isfunction(member)}


def test_every_async_method_has_a_same_signature_twin() -> None:
    async_methods = public_methods(AsyncHarvest)
    sync_methods = public_methods(Harvest)
    async_methods.pop("aclose")
    sync_methods.pop("close")
    assert sorted(async_methods) == sorted(sync_methods)
    for name, signature in async_methods.items():
        assert list(signature.parameters.values()) == list(sync_methods[name].parameters.values()), name


def test_calls_iterators_and_pages() -> None:
    fake = two_pages().on("GET", "/v2/users/5", user_json(5))
    with sync_client(fake) as harvest:
        assert harvest.get_user(5).id == 5
        assert [u.id for u in harvest.list_users()] == [1, 2, 3]
        pages = list(harvest.user_pages())
    assert all(isinstance(p, Page) for p in pages)
    assert pages[0].next_url == NEXT
    assert all(isinstance(u, User) for p in pages for u in p.items)


def test_iterators_stay_lazy_and_close_early() -> None:
    fake = two_pages()
    with sync_client(fake) as harvest:
        for user in harvest.list_users():
            assert user.id == 1
            break
    assert len(fake.requests) == 1


def test_errors_come_through_unchanged() -> None:
    fake = FakeHarvest().on("GET", "/v2/users/9", json_response(404, {"status": 404, "error": "Not Found"}))
    with sync_client(fake) as harvest, pytest.raises(NotFoundError):
        harvest.get_user(9)


def loop_threads() -> int:
    return sum(t.name == "thresher-harvest-sync" and t.is_alive() for t in threading.enumerate())


def test_close_stops_the_background_thread_and_is_idempotent() -> None:
    before = loop_threads()
    harvest = sync_client(FakeHarvest())
    assert loop_threads() == before + 1
    harvest.close()
    harvest.close()
    assert loop_threads() == before


def test_mock_transport_works_for_the_facade_too() -> None:
    transport = httpx.MockTransport(lambda r: json_response(200, user_json(4)))
    with Harvest(access_token=TOKEN, account_id=1, user_agent=UA, transport=transport,
                 limiter_registry=LimiterRegistry()) as harvest:
        assert harvest.me().id == 4
        assert harvest.settings.account_id == 1


class BlockingOnly(httpx.BaseTransport):
    """A transport with no async side at all, as a custom one written for ``httpx.Client`` is."""

    def __init__(self, handler: FakeHarvest) -> None:
        self._mock = httpx.MockTransport(handler)
        self.threads: list[str] = []
        self.closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.threads.append(threading.current_thread().name)
        return self._mock.handle_request(request)

    def close(self) -> None:
        self.closed = True


def test_a_blocking_transport_runs_off_the_event_loop() -> None:
    body = gzip.compress(json.dumps(user_json(5)).encode())
    fake = two_pages().on("GET", "/v2/users/5", httpx.Response(
        200, content=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )).on("GET", "/v2/users/7/teammates", page_json("teammates", [teammate_json(2)]))
    transport = BlockingOnly(fake)
    with Harvest(access_token=TOKEN, account_id=ACCOUNT, user_agent=UA, transport=transport,
                 limiter_registry=LimiterRegistry(), retry=FAST_RETRY) as harvest:
        assert harvest.get_user(5).id == 5  # the raw (compressed) body is decoded once
        assert [u.id for u in harvest.list_users()] == [1, 2, 3]
        teammates = harvest.list_teammates(7)
        assert not isinstance(teammates, list)
        assert [t.id for t in teammates] == [2]
    assert len(transport.threads) == 4
    assert "thresher-harvest-sync" not in transport.threads  # worker threads, not the loop's
    assert transport.closed
    assert fake.requests[0].headers["Harvest-Account-Id"] == str(ACCOUNT)


def test_a_plain_http_transport_against_the_sandbox() -> None:
    with run_sandbox(Sandbox(SandboxConfig(users=7, seed=5, rate_limit=None))) as running:
        creds = running.sandbox.credentials
        with Harvest(access_token=creds.admin_token, account_id=creds.account_id, user_agent=UA,
                     base_url=running.api_url, id_url=running.id_url,
                     transport=httpx.HTTPTransport(), limiter_registry=LimiterRegistry()) as harvest:
            everyone = list(harvest.list_users(per_page=3))  # three pages over real HTTP
            created = harvest.create_user({"first_name": "Emmy", "last_name": "Noether",
                                           "email": "emmy.noether@example.com"})
            assert harvest.get_user(created.id).email == "emmy.noether@example.com"
            assert [a.id for a in harvest.list_accounts()] == [creds.account_id]
    assert len(everyone) == 7
