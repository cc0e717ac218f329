"""Observability and secrets: every request logged and reported, no token ever."""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest

from thresher.harvest import (
    AsyncHarvest,
    Harvest,
    HarvestError,
    HarvestSettings,
    LimiterRegistry,
    OAuth2Auth,
    OAuth2Token,
    OAuthApp,
    PersonalAccessToken,
    RequestRecord,
)
from thresher.harvest._redact import redact_url

from .fakes import ACCOUNT, FAST_RETRY, ID_URL, TOKEN, UA, FakeHarvest, json_response, make_client, user_json

REFRESH = "refresh-secret-0000000001"
NEW_ACCESS = "access-secret-0000000002"
NEW_REFRESH = "refresh-secret-0000000003"
CLIENT_SECRET = "client-secret-0000000004"
SECRETS = (TOKEN, REFRESH, NEW_ACCESS, NEW_REFRESH, CLIENT_SECRET, "access-secret-0000000000")


async def test_on_request_gets_a_record_per_request_with_attempts_and_waits() -> None:
    records: list[RequestRecord] = []
    fake = FakeHarvest().on("GET", "/v2/users/5", httpx.Response(502), json_response(200, user_json(5)))
    async with AsyncHarvest(
        access_token=TOKEN, account_id=ACCOUNT, user_agent=UA, rate_limit=1, rate_window=0.1,
        transport=fake.transport, limiter_registry=LimiterRegistry(), retry=FAST_RETRY,
        on_request=records.append,
    ) as harvest:
        await harvest.get_user(5)
    assert [(r.method, r.path, r.status_code, r.attempt) for r in records] == [
        ("GET", "/v2/users/5", 502, 1), ("GET", "/v2/users/5", 200, 2)]
    assert records[0].limiter_wait_s < 0.05
    assert records[1].limiter_wait_s > 0.05  # one request per 0.1 s: the retry had to wait
    assert all(r.duration_ms >= 0 and r.host == "api.harvestapp.com" for r in records)


async def test_a_failing_hook_does_not_fail_the_request(caplog: pytest.LogCaptureFixture) -> None:
    def hook(_: RequestRecord) -> None:
        raise RuntimeError("metrics down")

    fake = FakeHarvest().on("GET", "/v2/users/me", user_json())
    async with AsyncHarvest(access_token=TOKEN, account_id=ACCOUNT, user_agent=UA,
                            transport=fake.transport, limiter_registry=LimiterRegistry(),
                            on_request=hook) as harvest:
        assert (await harvest.me()).id == 1
    assert "on_request hook failed" in caplog.text


async def test_each_request_is_logged_with_its_figures(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="thresher.harvest")
    fake = FakeHarvest().on("GET", "/v2/users/me", user_json()).on(
        "GET", "/v2/users/6", httpx.ConnectError("refused"))
    async with make_client(fake) as harvest:
        await harvest.me()
        with pytest.raises(HarvestError):
            await harvest.get_user(6)
    lines = [r for r in caplog.records if r.name == "thresher.harvest" and "rate limiter" in r.getMessage()]
    assert "GET /v2/users/me -> 200" in lines[0].getMessage()
    assert "attempt 1" in lines[0].getMessage()
    assert "waited" in lines[0].getMessage()
    assert "ConnectError" in lines[1].getMessage()
    record = lines[0].__dict__["harvest_request"]
    assert isinstance(record, RequestRecord)
    assert record.status_code == 200


async def test_no_secret_reaches_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeHarvest().on(
        "POST", "/api/v2/oauth2/token",
        json_response(200, {"access_token": NEW_ACCESS, "refresh_token": NEW_REFRESH, "expires_in": 1209600}),
    ).on("GET", "/v2/users/me", user_json()).on(
        "GET", "/v2/users/5", json_response(422, {"message": f"bad token {NEW_ACCESS}"}))
    token = OAuth2Token("access-secret-0000000000", REFRESH, dt.datetime.now(dt.UTC))
    app = OAuthApp("client-id", CLIENT_SECRET, ID_URL, UA)
    auth = OAuth2Auth(token, app)
    harvest = AsyncHarvest(access_token=TOKEN, account_id=ACCOUNT, user_agent=UA, auth=auth,
                           transport=fake.transport, limiter_registry=LimiterRegistry())
    async with harvest:
        await harvest.me()
        with pytest.raises(HarvestError) as info:
            await harvest.get_user(5)
    err = info.value
    shown = [caplog.text, repr(harvest), str(harvest), repr(auth), repr(auth.token), repr(token),
             repr(app), repr(harvest.settings), str(harvest.settings), str(err), repr(err),
             err.body or "", err.api_message or "", repr(PersonalAccessToken(TOKEN))]
    shown += [str(r.args) for r in caplog.records]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text, (secret, text)
    assert auth.token.access_token == NEW_ACCESS  # the refresh did happen


def test_sync_facade_repr_has_no_token() -> None:
    with Harvest(HarvestSettings(access_token=TOKEN, account_id=1, user_agent=UA)) as harvest:
        assert TOKEN not in repr(harvest)


def test_redact_url_hides_token_parameters_only() -> None:
    url = f"{ID_URL}/cb?code=abc123456&state=s1&access_token={TOKEN}&account_id=1"
    shown = redact_url(url)
    assert TOKEN not in shown
    assert "abc123456" not in shown
    assert "state=s1" in shown
    assert "account_id=1" in shown
