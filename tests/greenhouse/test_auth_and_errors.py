"""Tokens (client credentials with ``sub``, renewal, expiry fields) and the one clear error for
each credential problem (docs/greenhouse.md §1, §3): missing scope, a ``sub`` that is not a Site
Admin, an expired token, a wrong or revoked credential; and no secret in any of it."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from urllib.parse import parse_qs

import pytest

from thresher.greenhouse import (
    AccessToken,
    AsyncGreenhouse,
    AuthenticationError,
    BadRequestError,
    ClientCredentialsAuth,
    ConfigurationError,
    GreenhouseSettings,
    InvalidClientError,
    MissingScopeError,
    NotSiteAdminError,
    TokenExpiredError,
)

from .conftest import Target


def _token_requests(target: Target) -> list[dict[str, object]]:
    return [r for r in target.log() if r["path"] == "/token"]


async def test_one_token_serves_many_requests_and_carries_sub(target: Target) -> None:
    async with target.client() as gh:
        for _ in range(3):
            [u async for u in gh.list_user_roles()]
        assert isinstance(gh.auth, ClientCredentialsAuth)
        assert gh.auth.minted == 1
        token = gh.auth.token
    assert token is not None
    assert token.sub == str(target.sandbox.state.admin_id)
    assert dt.timedelta(minutes=59) < token.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
    [mint] = _token_requests(target)
    assert mint["status"] == 200


async def test_the_mint_request_is_basic_auth_and_a_form_with_sub() -> None:
    auth = ClientCredentialsAuth("abc-client", "s3cret-value", sub="42", token_url="http://x.test/token")
    request = auth.mint_request()
    scheme, _, value = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == "abc-client:s3cret-value"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {"grant_type": ["client_credentials"], "sub": ["42"]}


async def test_renews_before_the_hour_is_up(asgi_target: Target) -> None:
    now = [dt.datetime.now(dt.UTC)]
    sandbox = asgi_target.sandbox
    cred = sandbox.credential("full")
    auth = ClientCredentialsAuth(
        cred.client_id,
        cred.client_secret,
        sub=str(sandbox.state.admin_id),
        token_url=f"{asgi_target.origin}/token",
        renew_margin=60,
        clock=lambda: now[0],
    )
    async with asgi_target.client(auth=auth) as gh:
        [r async for r in gh.list_user_roles()]
        now[0] += dt.timedelta(seconds=3600 - 90)  # still valid, outside the margin
        [r async for r in gh.list_user_roles()]
        assert auth.minted == 1
        now[0] += dt.timedelta(seconds=45)  # inside the last minute: mint before sending
        [r async for r in gh.list_user_roles()]
        assert auth.minted == 2
    assert [r["status"] for r in asgi_target.log()] == [200, 200, 200, 200, 200]  # no 401 on the way


async def test_a_token_the_server_finds_expired_is_replaced_once(target: Target) -> None:
    async with target.client() as gh:
        [r async for r in gh.list_user_roles()]
        target.sandbox.clock_offset = 3700  # the server's hour is up; the client's is not
        assert len([r async for r in gh.list_user_roles()]) == 3
    statuses = [(r["path"], r["status"]) for r in target.log()]
    assert statuses == [
        ("/token", 200),
        ("/v3/user_roles", 200),
        ("/v3/user_roles", 401),
        ("/token", 200),
        ("/v3/user_roles", 200),
    ]


@pytest.mark.parametrize("field", ["expires_in", "expires_at", "expires"])
async def test_every_reported_expiry_field_is_read(asgi_target: Target, field: str) -> None:
    asgi_target.sandbox.apply_settings({"expiry_field": field, "token_ttl_seconds": 1200})
    async with asgi_target.client() as gh:
        [r async for r in gh.list_user_roles()]
        assert isinstance(gh.auth, ClientCredentialsAuth)
        token = gh.auth.token
    assert token is not None
    left = token.expires_at - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=18) < left <= dt.timedelta(minutes=20, seconds=1)


def test_expiry_defaults_to_an_hour() -> None:
    token = AccessToken.from_response({"access_token": "x" * 20})
    assert dt.timedelta(minutes=59) < token.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
    assert "x" * 20 not in repr(token)


async def test_an_expired_fixed_token_says_how_to_fix_it(asgi_target: Target) -> None:
    async with asgi_target.client() as gh:
        [r async for r in gh.list_user_roles()]
        assert isinstance(gh.auth, ClientCredentialsAuth)
        assert gh.auth.token is not None
        value = gh.auth.token.value
    asgi_target.sandbox.clock_offset = 4000
    async with asgi_target.client(client_id=None, client_secret=None, access_token=value) as fixed:
        with pytest.raises(TokenExpiredError) as caught:
            [r async for r in fixed.list_user_roles()]
    err = caught.value
    assert err.status_code == 401
    assert err.exit_code == 77
    assert "GREENHOUSE_CLIENT_ID" in (err.hint or "")
    for text in (str(err), repr(err), err.body or "", err.hint or ""):
        assert value not in text


async def test_a_revoked_credential_fails_with_one_clear_error(target: Target) -> None:
    cred = target.sandbox.credential("full")
    async with target.client() as gh:
        [r async for r in gh.list_user_roles()]
        cred.revoked = True  # what revoking in Greenhouse's UI does
        with pytest.raises(InvalidClientError, match="wrong, or the credential was revoked") as caught:
            [r async for r in gh.list_user_roles()]
    assert "API Credentials" in (caught.value.hint or "")
    async with target.client() as fresh:
        with pytest.raises(InvalidClientError):
            [r async for r in fresh.list_users()]


async def test_a_wrong_secret_is_invalid_client(target: Target) -> None:
    async with target.client(client_secret="not-the-secret-at-all") as gh:
        with pytest.raises(InvalidClientError) as caught:
            [u async for u in gh.list_users()]
    assert "not-the-secret-at-all" not in repr(caught.value) + str(caught.value) + (caught.value.body or "")


async def test_a_malformed_client_id_echoed_by_the_server_is_scrubbed(asgi_target: Target) -> None:
    weird = "bad client id with spaces!"
    async with asgi_target.client(client_id=weird) as gh:
        with pytest.raises(BadRequestError, match="client id") as caught:
            [u async for u in gh.list_users()]
    err = caught.value
    assert weird not in str(err) + repr(err) + (err.api_message or "") + (err.body or "")


async def test_an_unknown_sub_is_a_configuration_error(asgi_target: Target) -> None:
    async with asgi_target.client(sub=999) as gh:
        with pytest.raises(ConfigurationError, match="sub='999'") as caught:
            [u async for u in gh.list_users()]
    assert "GREENHOUSE_SUB" in (caught.value.hint or "")


async def test_a_sub_that_is_not_site_admin(target: Target) -> None:
    async with target.client(sub="basic") as gh:
        with pytest.raises(NotSiteAdminError, match="not a Site Admin") as caught:
            [u async for u in gh.list_users()]
        with pytest.raises(NotSiteAdminError):
            await gh.deactivate_user(target.sandbox.state.admin_id)
    assert caught.value.required_scope == "harvest:users:list"
    assert "GREENHOUSE_SUB" in (caught.value.hint or "")


async def test_lists_may_come_back_empty_for_a_non_admin(asgi_target: Target) -> None:
    """docs/greenhouse.md §1: "403 or empty" — the sandbox can play either ([U])."""
    asgi_target.sandbox.apply_settings({"non_admin_lists": "empty"})
    async with asgi_target.client(sub="basic") as gh:
        assert [u async for u in gh.list_users()] == []


async def test_missing_scopes_name_the_scope_and_where_to_add_it(target: Target) -> None:
    async with target.client("read-only") as gh:
        assert [u async for u in gh.list_users(per_page=500)]
        with pytest.raises(MissingScopeError, match="harvest:users:create") as caught:
            await gh.create_user({"first_name": "A", "last_name": "B", "email": "ab@example.com"})
        assert caught.value.required_scope == "harvest:users:create"
        assert "Manage Scopes" in (caught.value.hint or "")
        with pytest.raises(MissingScopeError, match="harvest:users:deactivate"):
            await gh.deactivate_user(target.sandbox.state.basic_id)
        target.sandbox.credential("read-only").scopes.discard("harvest:users:list")
        with pytest.raises(MissingScopeError, match="harvest:users:list"):
            [u async for u in gh.list_users()]


async def test_no_credentials_at_all() -> None:
    with pytest.raises(ConfigurationError, match="No Greenhouse credentials") as caught:
        AsyncGreenhouse(GreenhouseSettings())
    assert caught.value.exit_code == 78


async def test_an_undecodable_token_is_an_authentication_error(asgi_target: Target) -> None:
    async with asgi_target.client(client_id=None, client_secret=None, access_token="nonsense-token") as gh:
        with pytest.raises(AuthenticationError, match="401") as caught:
            [u async for u in gh.list_users()]
    assert type(caught.value) is AuthenticationError


async def test_secrets_stay_out_of_reprs_and_logs(target: Target, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cred = target.sandbox.credential("full")
    async with target.client() as gh:
        [u async for u in gh.list_users()]
        assert isinstance(gh.auth, ClientCredentialsAuth)
        assert gh.auth.token is not None
        token = gh.auth.token.value
        shown = repr(gh) + repr(gh.auth) + repr(gh.settings) + repr(gh.auth.token)
    for secret in (cred.client_secret, token):
        assert secret not in shown
        assert secret not in caplog.text
