"""Tokens for Greenhouse's API v3: OAuth 2.0 client credentials with ``sub`` (docs/greenhouse.md
§1), as ``httpx.Auth`` flows.

``POST {token_url}`` with HTTP Basic ``client_id:client_secret`` and the form
``grant_type=client_credentials&sub=<user id>`` mints a bearer token that lasts an hour; there is
no refresh token, so renewing means minting again. ``ClientCredentialsAuth`` mints on first use,
again ``renew_margin`` seconds before expiry, and once more when the API refuses a token as
expired or revoked; the mint is a request yielded by the flow, so it travels through the same
client and transport as the API calls (tests and the sandbox's request log see it).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import anyio
import httpx

from ._errors import (
    CREDENTIALS_PAGE,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidClientError,
    UnexpectedResponseError,
    error_from_response,
    parse_error_body,
)
from ._redact import Redactor, mask

__all__ = ["AccessToken", "ClientCredentialsAuth", "StaticTokenAuth"]

_log = logging.getLogger("thresher.greenhouse")
#: docs/greenhouse.md: tokens last one hour; a response without an expiry field gets this.
DEFAULT_TTL = 3600.0


def _expiry(data: dict[str, Any], now: dt.datetime) -> dt.datetime:
    """Sources disagree on the field [U]: ``expires_in`` (seconds), ``expires_at`` (RFC 3339) or
    ``expires``; accept each (a number in ``expires``/``expires_at`` is seconds if small, else
    an epoch time), default to one hour."""
    for key in ("expires_in", "expires_at", "expires"):
        value = data.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            if key != "expires_in" and value > 1e9:
                return dt.datetime.fromtimestamp(float(value), dt.UTC)
            return now + dt.timedelta(seconds=float(value))
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return _expiry({key: int(text)}, now)
            try:
                when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                continue
            return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return now + dt.timedelta(seconds=DEFAULT_TTL)


@dataclasses.dataclass(frozen=True)
class AccessToken:
    """A minted bearer token (a JWT, treated as opaque) and when it expires."""

    value: str = dataclasses.field(repr=False)
    expires_at: dt.datetime
    sub: str | None = None

    @classmethod
    def from_response(
        cls, data: dict[str, Any], *, sub: str | None = None, now: dt.datetime | None = None
    ) -> AccessToken:
        value = data.get("access_token")
        if not isinstance(value, str) or not value:
            raise UnexpectedResponseError("The Greenhouse token response has no access_token")
        return cls(value, _expiry(data, now or dt.datetime.now(dt.UTC)), sub)

    def expires_within(self, seconds: float, *, now: dt.datetime | None = None) -> bool:
        return self.expires_at - (now or dt.datetime.now(dt.UTC)) <= dt.timedelta(seconds=seconds)

    def __repr__(self) -> str:
        return f"AccessToken({mask(self.value)}, expires_at={self.expires_at.isoformat()}, sub={self.sub!r})"


class StaticTokenAuth(httpx.Auth):
    """A token minted elsewhere (``GREENHOUSE_ACCESS_TOKEN``): sent as is, never renewed."""

    def __init__(self, token: str) -> None:
        if not token.strip():
            raise ConfigurationError("The Greenhouse access token is empty")
        self._token = token.strip()

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return f"StaticTokenAuth({mask(self._token)})"


def _refused_token(response: httpx.Response) -> bool:
    """A 401 the next token may cure: expired, revoked or undecodable (not a 401 of the token
    endpoint itself)."""
    return response.status_code == 401


class ClientCredentialsAuth(httpx.Auth):
    """Mints, renews and attaches tokens for one credential acting as ``sub``.

    ``on_token`` receives every new token (to cache it; it holds no secret beyond the hour it
    lives). One instance serves one client and event loop.
    """

    requires_response_body = True

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        sub: str | None,
        token_url: str,
        user_agent: str = "thresher",
        renew_margin: float = 60.0,
        token: AccessToken | None = None,
        on_token: Callable[[AccessToken], None] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if not client_id.strip() or not client_secret.strip():
            raise ConfigurationError(
                "The Greenhouse client id or secret is empty",
                hint=f"Create a Harvest V3 (OAuth) credential in {CREDENTIALS_PAGE}.",
            )
        self.client_id = client_id.strip()
        self._secret = client_secret.strip()
        self.sub = sub
        self.token_url = token_url
        self._user_agent = user_agent
        self._margin = renew_margin
        self._token = token
        self._on_token = on_token
        self._now = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock: anyio.Lock | None = None
        self._generation = 0
        #: Tokens minted by this instance (tests and benchmarks read it).
        self.minted = 0

    def __repr__(self) -> str:
        return (
            f"ClientCredentialsAuth(client_id={self.client_id!r}, client_secret={mask(self._secret)}, "
            f"sub={self.sub!r}, token={self._token!r})"
        )

    @property
    def token(self) -> AccessToken | None:
        return self._token

    @property
    def secrets(self) -> tuple[str | None, ...]:
        return (self._secret, self._token.value if self._token else None)

    def redactor(self) -> Redactor:
        # The token endpoint echoes a malformed client id (docs/greenhouse.md): scrub it too.
        return Redactor([self._secret, self.client_id, self._token.value if self._token else None])

    def _stale(self) -> bool:
        return self._token is None or self._token.expires_within(self._margin, now=self._now())

    def mint_request(self) -> httpx.Request:
        """``POST {token_url}``: Basic client credentials, form ``grant_type`` and ``sub``."""
        basic = base64.b64encode(f"{self.client_id}:{self._secret}".encode()).decode("ascii")
        form = {"grant_type": "client_credentials"}
        if self.sub is not None:
            form["sub"] = self.sub
        return httpx.Request(
            "POST",
            self.token_url,
            data=form,
            headers={
                "Authorization": f"Basic {basic}",
                "Accept": "application/json",
                "User-Agent": self._user_agent,
            },
        )

    def read_mint_response(self, response: httpx.Response) -> AccessToken:
        """The token, or the one error that says what to fix (classified by the body)."""
        redactor = self.redactor()
        if response.is_success:
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise UnexpectedResponseError(
                    "The Greenhouse token endpoint answered without a JSON object",
                    method="POST",
                    url=self.token_url,
                    status_code=response.status_code,
                )
            return AccessToken.from_response(data, sub=self.sub, now=self._now())
        said = parse_error_body(response)
        said = redactor.redact_text(said) if said else None
        words = (said or "").lower()
        common: dict[str, Any] = {
            "method": "POST",
            "url": self.token_url,
            "status_code": response.status_code,
            "api_message": said,
        }
        if response.status_code == 401 and "invalid_client" in words:
            raise InvalidClientError(
                "Greenhouse refused the client id and secret (invalid_client): they are wrong, "
                "or the credential was revoked",
                hint=f"Check GREENHOUSE_CLIENT_ID and GREENHOUSE_CLIENT_SECRET, or create a new "
                f"Harvest V3 (OAuth) credential in {CREDENTIALS_PAGE} (a rotated secret stays "
                "valid up to a week).",
                **common,
            )
        if response.status_code == 401:
            raise AuthenticationError(
                "The Greenhouse token endpoint did not receive usable client credentials (401)",
                hint="Set GREENHOUSE_CLIENT_ID and GREENHOUSE_CLIENT_SECRET (sent as HTTP Basic).",
                **common,
            )
        if response.status_code == 400 and "sub" in words:
            raise ConfigurationError(
                f"Greenhouse will not mint a token for sub={self.sub!r}: {said}",
                hint="Set GREENHOUSE_SUB (--sub) to the numeric id of an active Greenhouse user, "
                "a Site Admin for the user endpoints.",
                **common,
            )
        if response.status_code == 400 and "client_id" in words:
            raise BadRequestError(
                "Greenhouse says the client id is malformed (400)",
                hint=f"Copy the client id again from {CREDENTIALS_PAGE} into GREENHOUSE_CLIENT_ID.",
                **common,
            )
        if response.status_code == 400:
            raise BadRequestError(
                f"The Greenhouse token endpoint refused the request (400){': ' + said if said else ''}",
                hint="Check the client id's format (copy it again from Greenhouse) and GREENHOUSE_TOKEN_URL.",
                **common,
            )
        raise error_from_response(response, redactor=redactor)

    def _store(self, response: httpx.Response) -> None:
        self._token = self.read_mint_response(response)
        self._generation += 1
        self.minted += 1
        _log.info(
            "minted a Greenhouse access token (sub %s, expires %s)",
            self.sub,
            self._token.expires_at.isoformat(),
        )
        if self._on_token is not None:
            try:
                self._on_token(self._token)
            except Exception:
                _log.exception("on_token callback failed; the new token is in use but not cached")

    def _authorize(self, request: httpx.Request) -> None:
        assert self._token is not None
        request.headers["Authorization"] = f"Bearer {self._token.value}"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._stale():
            response = yield self.mint_request()
            response.read()
            self._store(response)
        seen = self._generation
        self._authorize(request)
        response = yield request
        if _refused_token(response) and self._generation == seen:
            minted = yield self.mint_request()
            minted.read()
            self._store(minted)
            self._authorize(request)
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._lock is None:
            self._lock = anyio.Lock()
        if self._stale():
            async with self._lock:
                if self._stale():  # another task may have minted while this one waited
                    response = yield self.mint_request()
                    await response.aread()
                    self._store(response)
        seen = self._generation
        self._authorize(request)
        response = yield request
        if _refused_token(response):
            async with self._lock:
                if self._generation == seen:
                    # Expired early, revoked, or the clock is off: one fresh token, one retry.
                    # A revoked credential then fails at the token endpoint (invalid_client).
                    minted = yield self.mint_request()
                    await minted.aread()
                    self._store(minted)
            self._authorize(request)
            yield request
