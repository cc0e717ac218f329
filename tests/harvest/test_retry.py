"""Retries: GET/PATCH/DELETE retried on 429, 5xx, connection errors; POST never
blindly, and ``POST /v2/users`` resolved by looking the email up (gotcha 1: every create invites)."""

from __future__ import annotations

import httpx
import pytest

from thresher.harvest import (
    AmbiguousCreateError,
    AuthenticationError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnprocessableError,
    UserCreate,
)

from .fakes import FakeHarvest, json_response, make_client, page_json, role_json, user_json

NEW_USER = UserCreate(first_name="Jane", last_name="Doe", email="jane.doe@example.com")


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(500), httpx.Response(502), httpx.Response(503),
     httpx.Response(429, headers={"Retry-After": "0"}), httpx.ConnectError("refused"),
     httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")],
    ids=["500", "502", "503", "429", "connect", "read-timeout", "dropped"],
)
async def test_get_is_retried_then_succeeds(failure: httpx.Response | Exception) -> None:
    fake = FakeHarvest().on("GET", "/v2/users/5", failure, json_response(200, user_json(5)))
    async with make_client(fake) as harvest:
        user = await harvest.get_user(5)
    assert user.id == 5
    assert len(fake.requests) == 2


async def test_retries_stop_at_the_attempt_budget() -> None:
    fake = FakeHarvest().on("GET", "/v2/users/5", httpx.Response(502))
    async with make_client(fake, retry=RetryPolicy(attempts=4, backoff_base=0.001)) as harvest:
        with pytest.raises(ServerError):
            await harvest.get_user(5)
    assert len(fake.requests) == 4


@pytest.mark.parametrize(
    "answer", [httpx.Response(422, json={"message": "bad"}), httpx.Response(401), httpx.Response(404)]
)
async def test_client_errors_are_not_retried(answer: httpx.Response) -> None:
    fake = FakeHarvest().on("GET", "/v2/users/5", answer)
    async with make_client(fake) as harvest:
        with pytest.raises((UnprocessableError, AuthenticationError, NotFoundError)):
            await harvest.get_user(5)
    assert len(fake.requests) == 1


async def test_patch_is_retried_on_5xx() -> None:
    fake = FakeHarvest().on("PATCH", "/v2/users/5", httpx.Response(503), json_response(200, user_json(5)))
    async with make_client(fake) as harvest:
        await harvest.archive_user(5)
    assert len(fake.sent("PATCH")) == 2


async def test_delete_whose_answer_was_lost_counts_as_done() -> None:
    # The first DELETE went through but its answer was lost; the retry finds the user gone.
    fake = FakeHarvest().on(
        "DELETE", "/v2/users/5", httpx.ReadTimeout("slow"),
        json_response(404, {"status": 404, "error": "Not Found"}),
    )
    async with make_client(fake) as harvest:
        await harvest.delete_user(5)  # no NotFoundError
    assert len(fake.requests) == 2


async def test_delete_of_a_missing_user_is_still_not_found() -> None:
    gone = json_response(404, {"status": 404, "error": "Not Found"})
    fake = FakeHarvest().on("DELETE", "/v2/users/5", gone)
    async with make_client(fake) as harvest:
        with pytest.raises(NotFoundError):
            await harvest.delete_user(5)


# -- POST -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.Response(502)],
    ids=["timeout", "dropped", "502"],
)
async def test_ambiguous_user_create_returns_the_user_found_by_email(
    failure: httpx.Response | Exception,
) -> None:
    existing = user_json(77, "Jane.Doe@Example.com")
    fake = FakeHarvest().on("POST", "/v2/users", failure).on(
        "GET", "/v2/users", page_json("users", [user_json(1, "other@example.com"), existing])
    )
    async with make_client(fake) as harvest:
        user = await harvest.create_user(NEW_USER)
    assert user.id == 77
    assert len(fake.sent("POST")) == 1  # one invitation, never two


async def test_ambiguous_user_create_without_a_match_raises() -> None:
    fake = FakeHarvest().on("POST", "/v2/users", httpx.ReadTimeout("slow")).on(
        "GET", "/v2/users", page_json("users", [user_json(1, "other@example.com")])
    )
    async with make_client(fake) as harvest:
        with pytest.raises(AmbiguousCreateError) as info:
            await harvest.create_user(NEW_USER)
    assert len(fake.sent("POST")) == 1
    err = info.value
    assert "jane.doe@example.com" in str(err)
    assert err.hint is not None
    assert "second invitation" in err.hint
    assert err.method == "POST"


async def test_ambiguous_user_create_with_a_failing_lookup_raises() -> None:
    fake = FakeHarvest().on("POST", "/v2/users", httpx.Response(500)).on(
        "GET", "/v2/users", httpx.Response(503)
    )
    async with make_client(fake) as harvest:
        with pytest.raises(AmbiguousCreateError, match="looking the email up failed"):
            await harvest.create_user(NEW_USER)
    assert len(fake.sent("POST")) == 1


async def test_user_create_that_never_left_is_retried() -> None:
    fake = FakeHarvest().on(
        "POST", "/v2/users", httpx.ConnectError("refused"), json_response(201, user_json(9))
    )
    async with make_client(fake) as harvest:
        user = await harvest.create_user(NEW_USER)
    assert user.id == 9
    assert len(fake.sent("POST")) == 2
    assert fake.sent("GET") == []


async def test_post_refused_with_429_is_retried() -> None:
    fake = FakeHarvest().on(
        "POST", "/v2/roles", httpx.Response(429, headers={"Retry-After": "0"}),
        json_response(201, role_json()),
    )
    async with make_client(fake) as harvest:
        role = await harvest.create_role("Engineering")
    assert role.id == 3
    assert len(fake.sent("POST")) == 2


async def test_other_ambiguous_posts_are_not_retried() -> None:
    fake = FakeHarvest().on("POST", "/v2/roles", httpx.Response(500))
    async with make_client(fake) as harvest:
        with pytest.raises(AmbiguousCreateError) as info:
            await harvest.create_role("Engineering")
    assert len(fake.requests) == 1
    assert isinstance(info.value.__cause__, ServerError)


async def test_post_that_never_connected_gives_a_transport_error_after_retries() -> None:
    fake = FakeHarvest().on("POST", "/v2/roles", httpx.ConnectError("refused"))
    async with make_client(fake) as harvest:
        with pytest.raises(TransportError) as info:
            await harvest.create_role("Engineering")
    assert info.value.request_sent is False
    assert len(fake.requests) == 3


def test_backoff_is_jittered_exponential_and_capped() -> None:
    policy = RetryPolicy(attempts=10, backoff_base=1.0, backoff_cap=4.0)
    first = [policy.backoff(1) for _ in range(200)]
    late = [policy.backoff(6) for _ in range(200)]
    assert all(0.5 <= d <= 1.0 for d in first)
    assert all(2.0 <= d <= 4.0 for d in late)
    assert len(set(first)) > 100  # jittered, not a fixed schedule
    assert RetryPolicy(backoff_base=1.0, jitter=False).backoff(3) == 4.0
