"""The request machinery the endpoint methods build on: auth, pacing, retries, errors, pages."""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urljoin

import anyio
import httpx
from pydantic import BaseModel, ValidationError

from ._auth import AccessToken, ClientCredentialsAuth, StaticTokenAuth
from ._errors import (
    CREDENTIALS_PAGE,
    AmbiguousCreateError,
    ConfigurationError,
    InvalidRequestError,
    PaginationError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    error_from_response,
)
from ._pagination import Page, iterate_pages
from ._ratelimit import RateLimiter, SharedBudget, parse_retry_after
from ._redact import Redactor
from ._settings import GreenhouseSettings
from ._transport import PacedTransport, RequestHook

__all__ = ["Core"]

M = TypeVar("M", bound=BaseModel)
_log = logging.getLogger("thresher.greenhouse")
# Failures that prove the request never left this machine, so even a create may be repeated.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IDEMPOTENT = frozenset({"GET", "PATCH", "DELETE"})


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was dropped before a complete answer"
    return f"the connection failed ({type(exc).__name__})"


class Core:
    """Settings, the HTTP client and the one request loop; no endpoints."""

    def __init__(
        self,
        settings: GreenhouseSettings | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        sub: str | int | None = None,
        access_token: str | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        per_page: int | None = None,
        rate_limit: int | None = None,
        rate_window: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
        limiter: RateLimiter | None = None,
        shared_budget: SharedBudget | None = None,
        attempts: int = 5,
        backoff: float = 0.5,
        on_request: RequestHook | None = None,
        token: AccessToken | None = None,
        on_token: Any = None,
    ) -> None:
        overrides: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": client_secret,
            "sub": str(sub) if sub is not None else None,
            "access_token": access_token,
            "base_url": base_url,
            "token_url": token_url,
            "per_page": per_page,
            "rate_limit": rate_limit,
            "rate_window": rate_window,
        }
        settings = settings or GreenhouseSettings()
        settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        self.settings = settings
        if auth is None:
            if settings.has_client_credentials:
                assert settings.client_id is not None
                assert settings.client_secret is not None
                auth = ClientCredentialsAuth(
                    settings.client_id,
                    settings.client_secret,
                    sub=settings.sub,
                    token_url=settings.token_url,
                    user_agent=settings.user_agent,
                    renew_margin=settings.renew_margin,
                    token=token,
                    on_token=on_token,
                )
            elif settings.access_token:
                auth = StaticTokenAuth(settings.access_token)
            else:
                raise ConfigurationError(
                    "No Greenhouse credentials are configured",
                    hint="Set GREENHOUSE_CLIENT_ID, GREENHOUSE_CLIENT_SECRET and GREENHOUSE_SUB "
                    f"(a Harvest V3 (OAuth) credential from {CREDENTIALS_PAGE}).",
                )
        self.auth = auth
        self.limiter = limiter or RateLimiter(settings.rate_limit, settings.rate_window)
        #: The budget other processes on the credential share (None: this process paces alone).
        self.shared_budget = shared_budget
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._base = httpx.URL(settings.base_url + "/")
        self._http = httpx.AsyncClient(
            transport=PacedTransport(
                transport or httpx.AsyncHTTPTransport(),
                self._on_api,
                self.limiter,
                on_request=on_request,
                max_in_flight=settings.max_in_flight,
                shared_budget=shared_budget,
            ),
            auth=auth,
            headers={"User-Agent": settings.user_agent, "Accept": "application/json"},
            timeout=settings.timeout,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- where a request goes ---------------------------------------------------------------------
    def _on_api(self, url: httpx.URL) -> bool:
        base = self._base
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port) and (
            url.path.startswith(base.path)
        )

    def _url(self, path: str) -> str:
        """``/users`` -> ``{base_url}/users`` (docstrings name the documented ``/v3/...``)."""
        return str(self._base.join(path.lstrip("/")))

    def _check_next(self, url: str) -> str:
        absolute = urljoin(str(self._base), url)
        if not self._on_api(httpx.URL(absolute)):
            raise PaginationError(
                f"The next-page link points away from {self.settings.base_url}",
                hint="Check GREENHOUSE_BASE_URL; a saved next URL must come from the same API.",
            )
        return absolute

    def _redactor(self) -> Redactor:
        secrets: list[str | None] = [self.settings.client_secret, self.settings.access_token]
        if isinstance(self.auth, ClientCredentialsAuth | StaticTokenAuth):
            secrets.extend(self.auth.secrets)
        return Redactor(secrets)

    # -- the request loop -------------------------------------------------------------------------
    def _pause(self, attempt: int) -> float:
        delay = min(30.0, self._backoff * 2 ** (attempt - 1))
        return random.uniform(delay / 2, delay)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """One call with retries: 429s always (the limiter waits out ``Retry-After``), 5xx and
        lost connections only when repeating is harmless. ``idempotent`` overrides the method's
        default (activate and deactivate are documented idempotent POSTs)."""
        repeatable = method in _IDEMPOTENT if idempotent is None else idempotent
        path = httpx.URL(url).path
        for attempt in range(1, self._attempts + 1):
            last = attempt == self._attempts
            try:
                response = await self._http.request(method, url, params=params, json=json)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                lost = TransportError(
                    f"{method} {path} got no answer: {_describe(exc)}",
                    hint="Check the network and GREENHOUSE_BASE_URL, then try again.",
                    method=method,
                    url=str(httpx.URL(url).copy_with(query=None)),
                    request_sent=sent,
                )
                if not last and (repeatable or not sent):
                    await anyio.sleep(self._pause(attempt))
                    continue
                if sent and not repeatable:
                    raise self._ambiguous(method, path, lost) from exc
                raise lost from exc
            except (RateLimitedError, ServerError):
                # Raised by the token flow: no API request was processed, so trying again is safe.
                if last:
                    raise
                await anyio.sleep(self._pause(attempt))
                continue
            if response.is_success:
                return response
            error = error_from_response(
                response,
                redactor=self._redactor(),
                api_prefix=self._base.path.rstrip("/"),
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
            if isinstance(error, RateLimitedError) and not last:
                continue  # the transport paused the limiter for Retry-After
            if isinstance(error, ServerError) and not last and repeatable:
                await anyio.sleep(self._pause(attempt))
                continue
            if isinstance(error, ServerError) and not repeatable:
                raise self._ambiguous(method, path, error)
            raise error
        raise AssertionError("unreachable: the last attempt returns or raises")

    @staticmethod
    def _ambiguous(method: str, path: str, error: ServerError | TransportError) -> AmbiguousCreateError:
        return AmbiguousCreateError(
            f"{method} {path} may or may not have been processed: {error}",
            hint="Check whether the record exists (list_users(primary_email=...)) before creating it again.",
            method=error.method,
            url=error.url,
            status_code=error.status_code,
            body=error.body,
            api_message=error.api_message,
        )

    # -- helpers for endpoint methods -------------------------------------------------------------
    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise UnexpectedResponseError(
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code} without JSON",
                method=response.request.method,
                status_code=response.status_code,
            ) from exc

    @classmethod
    def _model(cls, response: httpx.Response, model: type[M]) -> M:
        try:
            return model.model_validate(cls._json(response))
        except ValidationError as exc:
            raise UnexpectedResponseError(
                f"{response.request.method} {response.request.url.path} returned a "
                f"{model.__name__} the client cannot read: {exc.errors()[0]['msg']}",
                method=response.request.method,
                status_code=response.status_code,
            ) from exc

    @staticmethod
    def _validate(model: type[M], value: M | Mapping[str, Any]) -> M:
        if isinstance(value, model):
            return value
        try:
            return model.model_validate(dict(value) if isinstance(value, Mapping) else value)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or model.__name__}: {err['msg']}"
                for err in exc.errors()
            )
            raise InvalidRequestError(
                f"Invalid {model.__name__}: {problems}",
                hint="Fix the fields named; nothing was sent to Greenhouse.",
            ) from exc

    def _pages(
        self, path: str, model: type[M], params: Mapping[str, str], start_url: str | None = None
    ) -> AsyncIterator[Page[M]]:
        if start_url is not None:
            url, query = self._check_next(start_url), None
        else:
            url, query = self._url(path), dict(params)
            query.setdefault("per_page", str(self.settings.per_page))

        async def fetch(target: str, q: Mapping[str, str] | None) -> httpx.Response:
            return await self._send("GET", target, params=q)

        return iterate_pages(fetch, url, query, model, check_next=self._check_next)

    async def _items(self, path: str, model: type[M], params: Mapping[str, str]) -> AsyncIterator[M]:
        async for page in self._pages(path, model, params):
            for item in page.items:
                yield item
