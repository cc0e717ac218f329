"""The request machinery every endpoint module builds on: headers, retries, errors, pagination.

Endpoint methods live in one module per section of docs/harvest-api.md (``_users`` §6, ``_teammates``
§7.1, ...); ``AsyncHarvest`` combines them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, ValidationError

from ._auth import OAuth2Auth, PersonalAccessToken
from ._errors import (
    AmbiguousCreateError,
    ConfigurationError,
    InvalidRequestError,
    PaginationError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    error_from_response,
)
from ._pagination import Page, cursor_key, iterate_pages
from ._ratelimit import (
    LimiterRegistry,
    RateForecast,
    RateLimiter,
    SharedBudget,
    default_registry,
    parse_retry_after,
)
from ._redact import Redactor, redact_url
from ._retry import RetryPolicy
from ._settings import MAX_PER_PAGE, HarvestSettings, merge_settings
from ._transport import ATTEMPT, InstrumentedTransport, RequestHook

__all__ = ["Core"]

M = TypeVar("M", bound=BaseModel)
_log = logging.getLogger("thresher.harvest")

# Failures that prove the request never left this machine, so even a POST may be repeated.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was dropped before a complete answer"
    return f"the connection failed ({type(exc).__name__})"


def _pool_limits(settings: HarvestSettings) -> httpx.Limits:
    """Keep as many idle connections as the client may use at once.

    A connection closed after a burst must be reopened for the next one, and the handshakes come
    straight off the throughput a rate-limited client can reach (bench/ratelimit.py); the
    transport never has more than ``max_in_flight`` requests on the wire, so that many suffice.
    """
    size = min(settings.max_in_flight, settings.rate_limit, 200)
    return httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=30.0)


class Core:
    """Settings, the HTTP client and the one request loop; no endpoints."""

    def __init__(
        self,
        settings: HarvestSettings | None = None,
        *,
        access_token: str | None = None,
        account_id: int | None = None,
        user_agent: str | None = None,
        base_url: str | None = None,
        id_url: str | None = None,
        per_page: int | None = None,
        timeout: float | None = None,
        rate_limit: int | None = None,
        rate_window: float | None = None,
        reports_rate_limit: int | None = None,
        reports_rate_window: float | None = None,
        time_scale: float | None = None,
        max_in_flight: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter_registry: LimiterRegistry | None = None,
        retry: RetryPolicy | None = None,
        auth: httpx.Auth | None = None,
        on_request: RequestHook | None = None,
        shared_budget: SharedBudget | None = None,
    ) -> None:
        settings = merge_settings(
            settings,
            access_token=access_token, account_id=account_id, user_agent=user_agent,
            base_url=base_url, id_url=id_url, per_page=per_page, timeout=timeout,
            rate_limit=rate_limit, rate_window=rate_window,
            reports_rate_limit=reports_rate_limit, reports_rate_window=reports_rate_window,
            time_scale=time_scale, max_in_flight=max_in_flight,
        )
        self.settings = settings
        if auth is None:
            if settings.access_token is None:
                raise ConfigurationError(
                    "No Harvest access token is configured",
                    hint="Set HARVEST_ACCESS_TOKEN (a personal access token from "
                    "https://id.getharvest.com/developers) or pass auth=OAuth2Auth(...).",
                )
            auth = PersonalAccessToken(settings.access_token)
        self._auth = auth
        self._retry = retry or RetryPolicy()
        self._registry = limiter_registry or default_registry()
        self._shared_budget = shared_budget
        self._base = httpx.URL(settings.base_url + "/")
        self._instrumented = InstrumentedTransport(
            transport or httpx.AsyncHTTPTransport(limits=_pool_limits(settings)),
            self._limiter_for,
            on_request,
            max_in_flight=settings.max_in_flight,
            budget_for=self._budget_for if shared_budget is not None else None,
        )
        self._http = httpx.AsyncClient(
            transport=self._instrumented,
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
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (and the transport)."""
        await self._http.aclose()

    # -- where a request goes ---------------------------------------------------------------------
    def _on_api(self, url: httpx.URL) -> bool:
        return _origin(url) == _origin(self._base)

    def _limiter_for(self, url: httpx.URL) -> RateLimiter | None:
        if not self._on_api(url):
            return None  # Harvest ID (accounts, OAuth) has no documented limit of its own
        s = self.settings
        if self._is_report(url):
            return self._registry.get(
                s.base_url, s.account_id, bucket="reports", limit=s.reports_rate_limit,
                window=s.reports_window,
            )
        return self._registry.get(s.base_url, s.account_id, limit=s.rate_limit, window=s.window)

    def _is_report(self, url: httpx.URL) -> bool:
        rest = url.path.removeprefix(self._base.path.rstrip("/"))
        return rest.startswith("/reports/") or rest == "/reports"

    def _budget_for(self, url: httpx.URL) -> SharedBudget | None:
        """The shared budget gates the general API; the Reports API's own, far smaller budget
        (§4) stays with the in-process limiter."""
        if not self._on_api(url) or self._is_report(url):
            return None
        return self._shared_budget

    @property
    def rate_forecast(self) -> RateForecast:
        """How long a general API request sent now would wait for the account's rate budget
        (``await client.rate_forecast.expected_wait()``), asked without sending or reserving."""
        return RateForecast(self._limiter_for(self._base), self._shared_budget)

    def _url(self, path: str) -> str:
        """``/users/5`` -> ``{base_url}/users/5`` (docstrings name the documented ``/v2/...``)."""
        return str(self._base.join(path.lstrip("/")))

    def _check_next(self, url: str) -> str:
        absolute = urljoin(str(self._base), url)
        if not self._on_api(httpx.URL(absolute)):
            # Following it would hand the bearer token to another host.
            raise PaginationError(
                f"links.next points away from {self.settings.base_url}: {redact_url(absolute)}",
                hint="Check HARVEST_BASE_URL; a saved next_url must come from the same API.",
            )
        return absolute

    def _redactor(self) -> Redactor:
        secrets: list[str | None] = [self.settings.access_token]
        if isinstance(self._auth, PersonalAccessToken | OAuth2Auth):
            secrets.extend(self._auth.secrets)
        return Redactor(secrets)

    # -- the request loop -------------------------------------------------------------------------
    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """One call, retried per the policy; raises the mapped ``HarvestError`` on failure.

        A POST that failed after it may have reached Harvest raises ``AmbiguousCreateError``.
        """
        try:
            return await self._send_with_retries(method, url, params=params, json=json)
        except (ServerError, TransportError) as exc:
            if method != "POST" or (isinstance(exc, TransportError) and not exc.request_sent):
                raise
            raise AmbiguousCreateError(
                f"POST {httpx.URL(url).path} may or may not have been processed: {exc}",
                hint="Check whether the record exists before creating it again.",
                method=exc.method, url=exc.url, status_code=exc.status_code, body=exc.body,
                api_message=exc.api_message,
            ) from exc

    async def _send_with_retries(
        self, method: str, url: str, *, params: Mapping[str, str] | None, json: Any
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if self._on_api(httpx.URL(url)):
            if self.settings.account_id is None:
                raise ConfigurationError(
                    "No Harvest account id is configured",
                    hint="Set HARVEST_ACCOUNT_ID; list_accounts() shows the accounts this token "
                    "can reach.",
                )
            headers["Harvest-Account-Id"] = str(self.settings.account_id)
        maybe_done = False  # an earlier attempt may have been processed without us hearing back
        async for attempt in self._retry.retrying(method, httpx.URL(url).path):
            with attempt:
                request = self._http.build_request(
                    method, url, params=params, json=json, headers=headers,
                    extensions={ATTEMPT: attempt.retry_state.attempt_number},
                )
                try:
                    response = await self._http.send(request)
                except httpx.TransportError as exc:
                    sent = not isinstance(exc, _NOT_SENT)
                    maybe_done = maybe_done or sent
                    raise TransportError(
                        f"{method} {request.url.path} got no answer: {_describe(exc)}",
                        hint="Check the network and HARVEST_BASE_URL, then try again.",
                        method=method, url=str(request.url), request_sent=sent,
                    ) from exc
                if response.is_success:
                    return response
                if response.status_code == 404 and method == "DELETE" and maybe_done:
                    # The earlier DELETE went through; its answer was lost.
                    _log.info("DELETE %s: gone after a retried attempt", request.url.path)
                    return response
                error = error_from_response(
                    response,
                    redactor=self._redactor(),
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
                maybe_done = maybe_done or isinstance(error, ServerError)
                raise error
        raise AssertionError("unreachable: tenacity re-raises the last error")

    # -- helpers for endpoint modules -------------------------------------------------------------
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
                method=response.request.method, url=str(response.request.url),
                status_code=response.status_code,
            ) from exc

    @classmethod
    def _model(cls, response: httpx.Response, model: type[M], key: str | None = None) -> M:
        data = cls._json(response)
        if key is not None and isinstance(data, dict):
            data = data.get(key)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise UnexpectedResponseError(
                f"{response.request.method} {response.request.url.path} returned a "
                f"{model.__name__} the client cannot read: {exc.errors()[0]['msg']}",
                method=response.request.method, url=str(response.request.url),
                status_code=response.status_code,
            ) from exc

    @staticmethod
    def _validate(model: type[M], value: M | Mapping[str, Any]) -> M:
        """A request model from a model or a mapping; invalid input never reaches Harvest."""
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
                hint="Fix the fields named; nothing was sent to Harvest.",
            ) from exc

    @staticmethod
    def _bool(value: bool) -> str:
        return "true" if value else "false"  # not Python's "True"

    @staticmethod
    def _since(value: dt.datetime | str) -> str:
        """``updated_since`` as ISO 8601 UTC with ``Z`` (gotcha 8)."""
        if isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError as exc:
                raise InvalidRequestError(
                    f"updated_since {value!r} is not an ISO 8601 datetime",
                    hint="Use e.g. 2024-01-01T00:00:00Z.",
                ) from exc
            value = parsed
        if value.tzinfo is None:
            raise InvalidRequestError(
                f"updated_since {value.isoformat()} has no time zone",
                hint="Pass an aware datetime (e.g. datetime.now(UTC)); Harvest's times are UTC.",
            )
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _filters(
        self,
        *,
        is_active: bool | None = None,
        updated_since: dt.datetime | str | None = None,
        user_id: int | None = None,
        per_page: int | None = None,
    ) -> dict[str, str]:
        params: dict[str, str] = {}
        if user_id is not None:
            params["user_id"] = str(user_id)
        if is_active is not None:
            params["is_active"] = self._bool(is_active)
        if updated_since is not None:
            params["updated_since"] = self._since(updated_since)
        size = self.settings.per_page if per_page is None else per_page
        if not 1 <= size <= MAX_PER_PAGE:
            raise InvalidRequestError(
                f"per_page must be 1..{MAX_PER_PAGE}, got {size}",
                hint="Harvest answers 422 above 2000 (§3); omit it to get 2000 per page.",
            )
        if size != MAX_PER_PAGE:  # gotcha 14: omitted, Harvest uses its maximum
            params["per_page"] = str(size)
        return params

    def _pages(
        self,
        path: str,
        key: str,
        model: type[M],
        params: Mapping[str, str] | None = None,
        *,
        start_url: str | None = None,
    ) -> AsyncIterator[Page[M]]:
        """Pages of ``GET path``; from ``start_url`` (a saved ``next_url``) when given, whose
        query already carries the filters."""
        if start_url is not None:
            url, query = self._check_next(start_url), None
        else:
            url, query = self._url(path), params

        async def fetch(target: str, q: Mapping[str, str] | None) -> httpx.Response:
            return await self._send("GET", target, params=q)

        return iterate_pages(fetch, url, query, key, model, check_next=self._check_next)

    async def _items(
        self, path: str, key: str, model: type[M], params: Mapping[str, str] | None = None
    ) -> AsyncIterator[M]:
        async for page in self._pages(path, key, model, params):
            for item in page.items:
                yield item

    # -- escape hatch -----------------------------------------------------------------------------
    def _raw_url(self, path: str) -> str:
        """Where a raw request goes: ``path`` relative to the base URL (``/reports/time/team``),
        the documented path (``/v2/users/me`` under a base URL ending in ``/v2``), or an absolute
        URL on the API's or the identity service's origin. Any other host is refused before
        anything is sent: the bearer token goes with the request."""
        if "://" in path:
            url = httpx.URL(path)
            identity = httpx.URL(self.settings.id_url)
            if not (self._on_api(url) or _origin(url) == _origin(identity)):
                raise InvalidRequestError(
                    f"{redact_url(path)} is not on {self.settings.base_url} or "
                    f"{self.settings.id_url}; refusing to send the access token there",
                    hint="Give a path such as /v2/users/me, or check HARVEST_BASE_URL.",
                )
            return str(url)
        base_path = self._base.path.rstrip("/")
        if base_path and (path == base_path or path.startswith((base_path + "/", base_path + "?"))):
            return str(self._base.join(path))  # from the origin: the path already holds /v2
        return self._url(path)

    @staticmethod
    def _raw_method(method: str) -> str:
        method = method.upper()
        if method not in ("GET", "POST", "PATCH", "DELETE"):
            raise InvalidRequestError(
                f"Harvest has no {method} method (§1: no PUT)",
                hint="Use GET, POST, PATCH or DELETE.",
            )
        return method

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """Any other endpoint, e.g. ``GET /v2/reports/...``: ``path`` is relative to the base URL
        (``/reports/time/team``), the documented ``/v2/...`` path, or an absolute URL on the API's
        or the identity service's origin (any other host is refused); returns the decoded JSON, or
        None for an empty body. Same headers, limits, retries and errors as the typed methods."""
        method = self._raw_method(method)
        response = await self._send(method, self._raw_url(path), params=params, json=json)
        return self._json(response)

    async def request_paginated(
        self, path: str, *, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """``GET /v2/...`` of any list endpoint (``path``), a decoded page (the whole JSON object) at a time,
        following ``links.next`` exactly as the typed listings do (§3): on the API's origin only,
        and never a page already fetched. ``path`` as for ``request``."""
        url: str | None = self._raw_url(path)
        query = params
        seen: set[str] = set()
        while url is not None:
            response = await self._send("GET", url, params=query)
            fetched = str(response.request.url)
            seen.add(cursor_key(fetched))
            data = self._json(response)
            if not isinstance(data, dict):
                raise UnexpectedResponseError(
                    f"GET {response.request.url.path} answered without a JSON object",
                    method="GET", url=fetched, status_code=response.status_code,
                )
            links = data.get("links")
            following = links.get("next") if isinstance(links, dict) else None
            url, query = None, None
            if isinstance(following, str) and following:
                url = self._check_next(following)
                if cursor_key(url) in seen:
                    raise PaginationError(
                        f"GET {response.request.url.path}: links.next repeats a page already "
                        f"fetched ({redact_url(url)}); stopping instead of looping",
                        hint="Harvest's pagination returned a cycle; retry the listing later.",
                        method="GET", url=fetched,
                    )
            yield data
