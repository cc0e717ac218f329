"""Authentication (docs/harvest-api.md §5): personal access tokens and OAuth2 with refresh."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from thresher.harvest import (
    AsyncHarvest,
    AuthenticationError,
    ConfigurationError,
    LimiterRegistry,
    OAuth2Auth,
    OAuth2Token,
    OAuthApp,
    PersonalAccessToken,
)

from .fakes import ACCOUNT, FAST_RETRY, ID_URL, UA, FakeHarvest, json_response, user_json

TOKEN_PATH = "/api/v2/oauth2/token"
CLIENT_SECRET = "client-secret-abcdefghij"


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def app(fake: FakeHarvest | None = None) -> OAuthApp:
    transport = fake.transport if fake is not None else None
    return OAuthApp("client-id-1", CLIENT_SECRET, ID_URL, UA, transport=transport)


def token(access: str = "access-one-0000000", refresh: str = "refresh-one-000000",
          expires_in: float = 14 * 86400) -> OAuth2Token:
    return OAuth2Token(access, refresh, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in))


def token_answer(n: int) -> httpx.Response:
    """§5.2 step 4: a new access token and (rotated) refresh token."""
    return json_response(200, {"access_token": f"access-{n}-0000000000", "refresh_token":
                               f"refresh-{n}-0000000000", "token_type": "bearer",
                               "expires_in": 1209600})


def client(fake: FakeHarvest, auth: httpx.Auth) -> AsyncHarvest:
    return AsyncHarvest(account_id=ACCOUNT, user_agent=UA, auth=auth, transport=fake.transport,
                        limiter_registry=LimiterRegistry(), retry=FAST_RETRY)


def me_for(valid: set[str]) -> FakeHarvest:
    """An API that accepts only the bearer tokens in ``valid`` (a live set)."""

    def answer(request: httpx.Request) -> httpx.Response:
        bearer = request.headers["Authorization"].removeprefix("Bearer ")
        if bearer in valid:
            return json_response(200, user_json())
        return json_response(401, {"error": "invalid_token", "error_description": "expired"})

    return FakeHarvest().on("GET", "/v2/users/me", answer)


async def test_personal_access_token_is_sent_as_bearer() -> None:
    fake = FakeHarvest().on("GET", "/v2/users/me", json_response(200, user_json()))
    async with client(fake, PersonalAccessToken("pat-secret-value-1234")) as harvest:
        await harvest.me()
    assert fake.requests[0].headers["Authorization"] == "Bearer pat-secret-value-1234"


def test_empty_personal_access_token_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        PersonalAccessToken("  ")


async def test_refresh_before_expiry_stores_the_rotated_refresh_token() -> None:
    fake = me_for({"access-1-0000000000"}).on("POST", TOKEN_PATH, token_answer(1))
    saved: list[OAuth2Token] = []
    auth = OAuth2Auth(token(expires_in=60), app(), on_refresh=saved.append, refresh_margin=300)
    async with client(fake, auth) as harvest:
        await harvest.me()
    refresh, call = fake.requests
    assert str(refresh.url) == f"{ID_URL}{TOKEN_PATH}"
    assert refresh.method == "POST"
    assert form(refresh) == {"grant_type": "refresh_token", "refresh_token": "refresh-one-000000",
                             "client_id": "client-id-1", "client_secret": CLIENT_SECRET}
    assert refresh.headers["User-Agent"] == UA
    assert call.headers["Authorization"] == "Bearer access-1-0000000000"
    assert [t.access_token for t in saved] == ["access-1-0000000000"]
    assert auth.token.refresh_token == "refresh-1-0000000000"
    assert auth.token.expires_at is not None
    assert auth.token.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(days=13)


async def test_refresh_once_on_401_then_again_with_the_rotated_token() -> None:
    valid = {"access-1-0000000000"}
    fake = me_for(valid).on("POST", TOKEN_PATH, token_answer(1), token_answer(2))
    saved: list[OAuth2Token] = []
    auth = OAuth2Auth(token(), app(), on_refresh=saved.append)
    async with client(fake, auth) as harvest:
        await harvest.me()  # 401 with the old token -> refresh -> repeat
        valid.clear()
        valid.add("access-2-0000000000")  # revoked server-side: the next call refreshes again
        await harvest.me()
    refreshes = fake.sent("POST", TOKEN_PATH)
    assert [form(r)["refresh_token"] for r in refreshes] == ["refresh-one-000000", "refresh-1-0000000000"]
    assert [t.access_token for t in saved] == ["access-1-0000000000", "access-2-0000000000"]
    assert len(fake.sent("GET")) == 4


async def test_a_second_401_is_not_refreshed_again() -> None:
    fake = me_for(set()).on("POST", TOKEN_PATH, token_answer(1))
    async with client(fake, OAuth2Auth(token(), app())) as harvest:
        with pytest.raises(AuthenticationError):
            await harvest.me()
    assert len(fake.sent("POST")) == 1
    assert len(fake.sent("GET")) == 2


async def test_concurrent_requests_share_one_refresh() -> None:
    fake = me_for({"access-1-0000000000"}).on("POST", TOKEN_PATH, token_answer(1), token_answer(2))
    auth = OAuth2Auth(token(expires_in=10), app())
    async with client(fake, auth) as harvest, anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(harvest.me)
    assert len(fake.sent("POST")) == 1
    assert len(fake.sent("GET")) == 5


async def test_invalid_grant_is_an_authentication_error_without_secrets() -> None:
    fake = FakeHarvest().on("POST", TOKEN_PATH, json_response(
        400, {"error": "invalid_grant", "error_description": "The provided access grant is invalid, "
              "expired, or revoked (refresh-one-000000)"}))
    auth = OAuth2Auth(token(expires_in=0), app())
    async with client(fake, auth) as harvest:
        with pytest.raises(AuthenticationError) as info:
            await harvest.me()
    err = info.value
    assert err.hint is not None
    assert "log in again" in err.hint
    assert "refresh-one-000000" not in f"{err} {err!r} {err.body} {err.api_message}"
    assert CLIENT_SECRET not in f"{err} {err.body}"
    assert fake.sent("GET") == []


async def test_refresh_callback_failure_does_not_fail_the_request(caplog: pytest.LogCaptureFixture) -> None:
    fake = me_for({"access-1-0000000000"}).on("POST", TOKEN_PATH, token_answer(1))

    def broken(_: OAuth2Token) -> None:
        raise OSError("disk full")

    async with client(fake, OAuth2Auth(token(expires_in=1), app(), on_refresh=broken)) as harvest:
        await harvest.me()
    assert "on_refresh callback failed" in caplog.text


def test_authorization_url() -> None:
    url = app().authorization_url("st4te", redirect_uri="https://example.com/callback/x")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ID_URL}/oauth2/authorize"
    assert parse_qs(parts.query) == {"client_id": ["client-id-1"], "response_type": ["code"],
                                     "state": ["st4te"],
                                     "redirect_uri": ["https://example.com/callback/x"]}
    assert "redirect_uri" not in app().authorization_url("s")


async def test_exchange_code_and_refresh_through_the_app() -> None:
    fake = FakeHarvest().on("POST", TOKEN_PATH, token_answer(1), json_response(
        200, {"access_token": "access-2-0000000000", "token_type": "bearer", "expires_in": 1209600,
              "scope": "harvest:123+forecast:9+harvest:456"}))
    oauth = app(fake)
    first = await oauth.exchange_code("the-code-123")
    assert form(fake.requests[0]) == {"grant_type": "authorization_code", "code": "the-code-123",
                                      "client_id": "client-id-1", "client_secret": CLIENT_SECRET}
    assert fake.requests[0].headers["User-Agent"] == UA
    assert first.refresh_token == "refresh-1-0000000000"
    second = await oauth.refresh(first.refresh_token or "")
    # No refresh_token in the answer: the one in hand stays valid.
    assert second.refresh_token == "refresh-1-0000000000"
    assert second.harvest_account_ids == [123, 456]


def test_oauth_app_needs_a_proper_user_agent() -> None:
    with pytest.raises(ConfigurationError):
        OAuthApp("id", "secret", ID_URL, "python-httpx/0.28")
