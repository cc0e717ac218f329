"""Authentication as ``httpx.Auth`` flows: personal access tokens and OAuth2 (§5).

``OAuth2Auth`` refreshes the access token shortly before it expires and once after a 401, through
the same client and transport as the API calls (the refresh is an extra request yielded by the
flow), so tests and the sandbox see it like any other request. Refreshes are serialised: Harvest
may rotate the refresh token (§5.2, undocumented [U]), and two concurrent refreshes with the same
refresh token could leave the loser holding a revoked one. Within a client a lock does it; across
clients and processes sharing the credentials the ``refresh_lock`` hook does (the caller's, e.g. a
lease in a database), inside which the newest saved token is read again before refreshing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx

from ._errors import (
    AuthenticationError,
    ConfigurationError,
    TransportError,
    UnexpectedResponseError,
    error_from_response,
)
from ._redact import Redactor, mask
from ._settings import DEFAULT_ID_URL, validate_user_agent

__all__ = ["OAuth2Auth", "OAuth2Token", "OAuthApp", "PersonalAccessToken"]

_log = logging.getLogger("thresher.harvest")


class PersonalAccessToken(httpx.Auth):
    """A personal access token from https://id.getharvest.com/developers (§5.1), sent as
    ``Authorization: Bearer``."""

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise ConfigurationError(
                "The personal access token is empty",
                hint="Set HARVEST_ACCESS_TOKEN to a token from https://id.getharvest.com/developers.",
            )
        self._token = token.strip()

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return f"PersonalAccessToken({mask(self._token)})"


@dataclasses.dataclass(frozen=True)
class OAuth2Token:
    """Tokens from ``POST /api/v2/oauth2/token`` (§5.2); access tokens live 14 days."""

    access_token: str = dataclasses.field(repr=False)
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
    expires_at: dt.datetime | None = None
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    scope: str | None = None

    @classmethod
    def from_response(
        cls, data: dict[str, Any], *, now: dt.datetime | None = None,
        previous_refresh_token: str | None = None,
    ) -> OAuth2Token:
        now = now or dt.datetime.now(dt.UTC)
        expires_in = data.get("expires_in")
        expires_at = (
            now + dt.timedelta(seconds=float(expires_in))
            if isinstance(expires_in, int | float) else None
        )
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise UnexpectedResponseError("The OAuth token response has no access_token")
        refresh = data.get("refresh_token")
        return cls(
            access_token=access,
            # Always keep what Harvest returned (rotation is possible, §5.2); only if it sent none
            # does the old refresh token stay in use.
            refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh_token,
            expires_at=expires_at,
            token_type=str(data.get("token_type") or "bearer"),
            scope=data.get("scope") if isinstance(data.get("scope"), str) else None,
        )

    def expires_within(self, seconds: float, *, now: dt.datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        now = now or dt.datetime.now(dt.UTC)
        return self.expires_at - now <= dt.timedelta(seconds=seconds)

    @property
    def harvest_account_ids(self) -> list[int]:
        """Account ids from a ``harvest:{id}`` scope; several scopes are joined by ``+`` (§5.2)."""
        ids: list[int] = []
        for part in (self.scope or "").replace(" ", "+").split("+"):
            product, _, ident = part.partition(":")
            if product == "harvest" and ident.isdigit():
                ids.append(int(ident))
        return ids

    def __repr__(self) -> str:
        return (
            f"OAuth2Token(access_token={mask(self.access_token)}, "
            f"refresh_token={mask(self.refresh_token)}, expires_at={self.expires_at!r}, "
            f"scope={self.scope!r})"
        )


class OAuthApp:
    """An OAuth2 application registered at Harvest ID (§5.2): builds the authorize URL and talks to
    the token endpoint ``POST {id_url}/api/v2/oauth2/token``."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        id_url: str = DEFAULT_ID_URL,
        user_agent: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.id_url = id_url.rstrip("/")
        self.user_agent = validate_user_agent(user_agent)
        self._transport = transport
        self._timeout = timeout

    def __repr__(self) -> str:
        return (
            f"OAuthApp(client_id={self.client_id!r}, client_secret={mask(self._client_secret)}, "
            f"id_url={self.id_url!r})"
        )

    @property
    def token_url(self) -> str:
        return f"{self.id_url}/api/v2/oauth2/token"

    def authorization_url(self, state: str, redirect_uri: str | None = None) -> str:
        """``GET {id_url}/oauth2/authorize?client_id=...&response_type=code&state=...``; a
        ``redirect_uri`` must start with the URL registered for the app (§5.2)."""
        params = {"client_id": self.client_id, "response_type": "code", "state": state}
        if redirect_uri is not None:
            params["redirect_uri"] = redirect_uri
        return f"{self.id_url}/oauth2/authorize?{urlencode(params)}"

    def redactor(self, *secrets: str | None) -> Redactor:
        return Redactor([self._client_secret, *secrets])

    def token_request(self, fields: dict[str, str]) -> httpx.Request:
        """The form POST to the token endpoint; ``client_id``/``client_secret`` are added."""
        form = {**fields, "client_id": self.client_id, "client_secret": self._client_secret}
        return httpx.Request(
            "POST",
            self.token_url,
            data=form,
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
        )

    def refresh_request(self, refresh_token: str) -> httpx.Request:
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def read_token_response(
        self, response: httpx.Response, *, previous_refresh_token: str | None = None
    ) -> OAuth2Token:
        """The token from a token-endpoint answer, or the error it carries (``invalid_grant`` and
        other 400/401 answers become ``AuthenticationError``)."""
        redactor = self.redactor(previous_refresh_token)
        if response.status_code in (400, 401):
            err = error_from_response(response, redactor=redactor)
            raise AuthenticationError(
                f"Harvest ID refused the OAuth grant ({response.status_code})"
                + (f": {err.api_message}" if err.api_message else ""),
                hint="The authorization code or refresh token is invalid, expired or revoked: "
                "log in again.",
                method=err.method, url=err.url, status_code=err.status_code, body=err.body,
                api_message=err.api_message,
            )
        if not response.is_success:
            raise error_from_response(response, redactor=redactor)
        try:
            data = response.json()
        except ValueError as exc:
            raise UnexpectedResponseError(
                "The OAuth token endpoint answered without JSON", method="POST", url=self.token_url,
                status_code=response.status_code,
            ) from exc
        if not isinstance(data, dict):
            raise UnexpectedResponseError("The OAuth token response is not a JSON object")
        return OAuth2Token.from_response(data, previous_refresh_token=previous_refresh_token)

    async def _post(self, request: httpx.Request) -> httpx.Response:
        async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout) as client:
            try:
                return await client.send(request)
            except httpx.TransportError as exc:
                raise TransportError(
                    f"POST {self.token_url} failed: {type(exc).__name__}",
                    method="POST", url=self.token_url,
                    request_sent=not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout),
                ) from None

    async def exchange_code(self, code: str) -> OAuth2Token:
        """``POST /api/v2/oauth2/token`` with ``grant_type=authorization_code`` (§5.2 step 3)."""
        response = await self._post(
            self.token_request({"grant_type": "authorization_code", "code": code})
        )
        return self.read_token_response(response)

    async def refresh(self, refresh_token: str) -> OAuth2Token:
        """``POST /api/v2/oauth2/token`` with ``grant_type=refresh_token`` (§5.2 step 4)."""
        response = await self._post(self.refresh_request(refresh_token))
        return self.read_token_response(response, previous_refresh_token=refresh_token)


class OAuth2Auth(httpx.Auth):
    """OAuth2 bearer auth that refreshes ``refresh_margin`` seconds before expiry and once on a
    401, handing each new token to ``on_refresh`` (persist it: the refresh token may rotate).

    ``latest``, when given, returns the newest token saved elsewhere (another process sharing
    the credentials may have refreshed it). It is asked before every refresh, and a newer token
    it returns is used instead of refreshing, so a long-running process is never stranded by a
    refresh it did not make.

    ``refresh_lock``, when given, returns a context manager held around every refresh: one that
    excludes the other holders of the same credentials (other clients, other processes). Inside
    it ``latest`` is asked again and a token saved meanwhile is taken even if it too is about to
    expire (its refresh token is the live one), so of several holders that found the token
    expired at once exactly one spends the refresh token. Entering it may block; the async flow
    enters and leaves it in a worker thread.

    One instance serves one client (and so one event loop; the sync facade's loop counts as one);
    give each client its own instance built from the latest ``token``.
    """

    requires_response_body = True

    def __init__(
        self,
        token: OAuth2Token,
        app: OAuthApp,
        *,
        on_refresh: Callable[[OAuth2Token], None] | None = None,
        latest: Callable[[], OAuth2Token | None] | None = None,
        refresh_lock: Callable[[], AbstractContextManager[object]] | None = None,
        refresh_margin: float = 300.0,
    ) -> None:
        self._token = token
        self._app = app
        self._on_refresh = on_refresh
        self._latest = latest
        self._refresh_lock = refresh_lock
        self._margin = refresh_margin
        self._generation = 0
        self._thread_lock = threading.Lock()
        self._async_lock: anyio.Lock | None = None

    def __repr__(self) -> str:
        return f"OAuth2Auth({self._token!r}, client_id={self._app.client_id!r})"

    @property
    def token(self) -> OAuth2Token:
        """The token in use now (after any refresh)."""
        return self._token

    @property
    def secrets(self) -> tuple[str | None, ...]:
        return (self._token.access_token, self._token.refresh_token)

    def _stale(self) -> bool:
        return self._token.refresh_token is not None and self._token.expires_within(self._margin)

    def _adopt_latest(
        self, failed_access_token: str | None = None, *, even_if_stale: bool = False
    ) -> bool:
        """Take a newer token saved by someone else instead of refreshing; True when taken.

        ``even_if_stale`` (under ``refresh_lock`` only): take it even if it expires soon, since
        its refresh token is the one still valid and ours may be spent."""
        if self._latest is None:
            return False
        try:
            stored = self._latest()
        except Exception:
            _log.exception("reading the stored OAuth2 token failed; refreshing instead")
            return False
        if stored is None or stored.access_token in (self._token.access_token, failed_access_token):
            return False
        if not even_if_stale and stored.refresh_token is not None and stored.expires_within(self._margin):
            return False
        self._token = stored
        self._generation += 1
        _log.info("using the OAuth2 access token refreshed elsewhere (expires %s)", stored.expires_at)
        return True

    def _authorize(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._token.access_token}"

    def _refresh_request(self) -> httpx.Request:
        assert self._token.refresh_token is not None
        return self._app.refresh_request(self._token.refresh_token)

    def _store(self, response: httpx.Response) -> None:
        token = self._app.read_token_response(
            response, previous_refresh_token=self._token.refresh_token
        )
        self._token = token
        self._generation += 1
        _log.info("refreshed the OAuth2 access token (expires %s)", token.expires_at)
        if self._on_refresh is not None:
            try:
                self._on_refresh(token)
            except Exception:
                # The new token is already in use; failing this request would not bring the old
                # one back. Make the lost persistence loud instead.
                _log.exception("on_refresh callback failed; the refreshed token was not saved")

    def _must_refresh(self, failed_access_token: str | None) -> bool:
        """Under ``refresh_lock``: take what another holder saved meanwhile; whether a refresh is
        still needed (``failed_access_token``: the 401 path, where anything newer will do)."""
        if self._adopt_latest(failed_access_token, even_if_stale=True):
            return failed_access_token is None and self._stale()
        return failed_access_token is not None or self._stale()

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self._stale():
            with self._thread_lock:
                if self._stale() and not self._adopt_latest():
                    with self._shared_lock():
                        if self._must_refresh(None):
                            response = yield self._refresh_request()
                            response.read()
                            self._store(response)
        seen = self._generation
        used = self._token.access_token
        self._authorize(request)
        response = yield request
        if response.status_code == 401 and self._token.refresh_token is not None:
            with self._thread_lock:
                if self._generation == seen and not self._adopt_latest(used):
                    with self._shared_lock():
                        if self._must_refresh(used):
                            refreshed = yield self._refresh_request()
                            refreshed.read()
                            self._store(refreshed)
            self._authorize(request)
            yield request

    def _shared_lock(self) -> AbstractContextManager[object]:
        if self._refresh_lock is None:
            return nullcontext()
        return self._refresh_lock()

    @asynccontextmanager
    async def _shared_lock_async(self) -> AsyncIterator[None]:
        if self._refresh_lock is None:
            yield
            return
        held = self._refresh_lock()
        # Entering may wait for another process's refresh: not on the event loop's thread.
        await anyio.to_thread.run_sync(held.__enter__)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(held.__exit__, None, None, None)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._async_lock is None:
            self._async_lock = anyio.Lock()
        lock = self._async_lock
        if self._stale():
            async with lock:
                # Another task may have refreshed while this one waited, or another process.
                if self._stale() and not self._adopt_latest():
                    async with self._shared_lock_async():
                        if self._must_refresh(None):
                            response = yield self._refresh_request()
                            await response.aread()
                            self._store(response)
        seen = self._generation
        used = self._token.access_token
        self._authorize(request)
        response = yield request
        if response.status_code == 401 and self._token.refresh_token is not None:
            async with lock:
                if self._generation == seen and not self._adopt_latest(used):
                    async with self._shared_lock_async():
                        if self._must_refresh(used):
                            refreshed = yield self._refresh_request()
                            await refreshed.aread()
                            self._store(refreshed)
            self._authorize(request)
            yield request

