"""Every error mapping of docs/harvest-api.md §2, and what each error carries."""

from __future__ import annotations

import datetime as dt
import email.utils

import httpx
import pytest

from thresher._errors import ThresherError
from thresher.harvest import (
    AuthenticationError,
    BadRequestError,
    CredentialsError,
    HarvestError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetryableError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnprocessableError,
)

from .fakes import BASE, TOKEN, FakeHarvest, json_response, make_client

ONCE = RetryPolicy.never()

# VCR-401 (§1.1): body and header of a refused token.
INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": "The access token provided is expired, revoked, malformed or invalid for "
    "other reasons.",
}
WWW_AUTH = ('Bearer realm="Rack::OAuth2 Protected Resources", error="invalid_token", '
            'error_description="The access token provided is expired"')
# VCR-HTML: an unknown route answers an HTML page.
HTML_404 = b"<!DOCTYPE html><html><head><title>HARVEST: Can't find page</title></head></html>"


async def fail(answer: httpx.Response | Exception, method: str = "GET", path: str = "/v2/users/5",
               retry: RetryPolicy = ONCE) -> HarvestError:
    fake = FakeHarvest().on(method, path, answer)
    async with make_client(fake, retry=retry) as harvest:
        call = harvest.get_user(5) if method == "GET" else harvest.update_user(5, {"first_name": "X"})
        with pytest.raises(HarvestError) as info:
            await call
    return info.value


async def test_401_invalid_token_hints_at_the_account_header_too() -> None:
    err = await fail(json_response(401, INVALID_TOKEN, **{"WWW-Authenticate": WWW_AUTH}))
    assert isinstance(err, AuthenticationError)
    assert isinstance(err, CredentialsError)
    assert err.status_code == 401
    assert err.method == "GET"
    assert err.url == f"{BASE}/users/5"
    assert err.api_message == INVALID_TOKEN["error_description"]
    # Gotcha 6: a missing or wrong Harvest-Account-Id looks exactly like a bad token.
    assert err.hint is not None
    assert "Harvest-Account-Id" in err.hint
    assert "invalid_token" in (err.body or "")


async def test_401_invalid_token_from_header_only() -> None:
    err = await fail(httpx.Response(401, headers={"WWW-Authenticate": WWW_AUTH}))
    assert isinstance(err, AuthenticationError)
    assert err.hint is not None
    assert "HARVEST_ACCOUNT_ID" in err.hint


async def test_403_names_the_role_needed() -> None:
    err = await fail(json_response(403, {"message": "You do not have access"}))
    assert isinstance(err, PermissionDeniedError)
    assert err.required_role is not None
    assert "Administrator" in err.required_role
    assert "Administrator" in str(err)
    assert err.api_message == "You do not have access"


@pytest.mark.parametrize(
    ("path", "role"),
    [("/v2/users/5/cost_rates", "Administrator"),
     ("/v2/users/5/teammates", "Administrator"),
     ("/v2/users/5/billable_rates", "billable rates"),
     ("/v2/user_assignments", "managed projects")],
)
async def test_403_role_depends_on_the_endpoint(path: str, role: str) -> None:
    fake = FakeHarvest().on("GET", path, httpx.Response(403))
    async with make_client(fake, retry=ONCE) as harvest:
        with pytest.raises(PermissionDeniedError) as info:
            await harvest.request("GET", path.removeprefix("/v2"))
    assert info.value.required_role is not None
    assert role in info.value.required_role


async def test_404_json_record_not_found() -> None:
    # VCR-404: {"status":404,"error":"Not Found"}, application/json.
    err = await fail(json_response(404, {"status": 404, "error": "Not Found"}))
    assert isinstance(err, NotFoundError)
    assert isinstance(err, InputError)
    assert err.api_message == "404 Not Found"
    assert "no such record" in str(err)


async def test_404_html_page_is_an_unknown_route() -> None:
    err = await fail(httpx.Response(404, content=HTML_404, headers={"Content-Type": "text/html"}))
    assert isinstance(err, NotFoundError)
    assert err.api_message is None
    assert "no such route" in str(err)
    assert err.body is not None
    assert "Can't find page" in err.body


async def test_422_carries_harvests_message() -> None:
    message = "Email has already been taken (jane@example.com)"
    err = await fail(json_response(422, {"message": message}), method="PATCH")
    assert isinstance(err, UnprocessableError)
    assert err.api_message == message
    assert message in str(err)
    assert err.method == "PATCH"


async def test_429_with_seconds() -> None:
    err = await fail(httpx.Response(429, headers={"Retry-After": "7"}))
    assert isinstance(err, RateLimitedError)
    assert isinstance(err, RetryableError)
    assert err.retry_after == 7.0
    assert "7 s" in str(err)


async def test_429_with_http_date() -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    date = email.utils.format_datetime(when, usegmt=True)
    err = await fail(httpx.Response(429, headers={"Retry-After": date}))
    assert isinstance(err, RateLimitedError)
    assert err.retry_after is not None
    assert 28 <= err.retry_after <= 30


async def test_429_empty_html_without_header() -> None:
    # VCR-429 (2020): empty body, text/html, no Retry-After.
    err = await fail(httpx.Response(429, content=b"", headers={"Content-Type": "text/html"}))
    assert isinstance(err, RateLimitedError)
    assert err.retry_after is None
    assert err.api_message is None
    assert err.body == ""


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_a_server_error(status: int) -> None:
    err = await fail(httpx.Response(status, content=b"<html>Bad gateway</html>",
                                    headers={"Content-Type": "text/html"}))
    assert isinstance(err, ServerError)
    assert err.status_code == status


async def test_503_retry_after_is_kept() -> None:
    err = await fail(httpx.Response(503, headers={"Retry-After": "12"}))
    assert isinstance(err, ServerError)
    assert err.retry_after == 12.0


async def test_400_points_at_the_user_agent() -> None:
    err = await fail(httpx.Response(400))
    assert isinstance(err, BadRequestError)
    assert err.hint is not None
    assert "User-Agent" in err.hint


async def test_connection_refused_is_a_transport_error_not_sent() -> None:
    err = await fail(httpx.ConnectError("[Errno 111] Connection refused"))
    assert isinstance(err, TransportError)
    assert err.request_sent is False
    assert err.status_code is None
    assert err.method == "GET"


async def test_read_timeout_is_a_transport_error_maybe_sent() -> None:
    err = await fail(httpx.ReadTimeout("timed out"))
    assert isinstance(err, TransportError)
    assert err.request_sent is True
    assert "timed out" in str(err)


def test_groups_say_what_to_do_and_derive_from_thresher_error() -> None:
    for cls in (AuthenticationError, NotFoundError, RateLimitedError, ServerError, TransportError):
        assert issubclass(cls, HarvestError)
        assert issubclass(cls, ThresherError)
    assert AuthenticationError.exit_code == 77
    assert UnprocessableError.exit_code == 65
    assert RateLimitedError.exit_code == 75


async def test_error_body_and_message_are_redacted() -> None:
    # An error body that echoes the token, in a field and in free text.
    body = {"message": f"token {TOKEN} is not valid here", "access_token": "another-secret-value-99"}
    err = await fail(json_response(422, body))
    for text in (str(err), repr(err), err.body or "", err.api_message or ""):
        assert TOKEN not in text
        assert "another-secret-value-99" not in text
    assert "[REDACTED]" in (err.body or "")
