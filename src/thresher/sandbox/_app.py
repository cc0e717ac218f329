"""The ASGI app of a sandbox: routing, authentication, rate limits, faults and the request log.

One app serves both of Harvest's hosts: the API under ``/v2`` (and the ``/api/v2`` alias, §1), the
identity service under ``/api/v2/accounts``, ``/oauth2/authorize`` and ``/api/v2/oauth2/token``
(§5), the legacy v1 People API under ``/v1`` (``_v1_people.py``), and the control plane under
``/sandbox`` (never under ``/v2``).

Request path, outermost first: ``_Gate`` (request log, faults, latency, ``User-Agent``) -> routing
(unknown routes: Harvest's HTML 404) -> ``_Api.dispatch`` (token and account header, rate limit,
body) -> the handler, which runs under the sandbox lock so in-process inspection from another
thread sees consistent data. The app knows the sandbox only as a ``ServedSandbox``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import hashlib
import math
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._assignments import AssignmentsApi
from ._catalog import CatalogApi
from ._clock import format_ts
from ._company import CompanyApi
from ._control import ControlledSandbox, control_routes
from ._errors import DroppedConnectionError
from ._expenses import ExpensesApi
from ._faults import FaultDecision
from ._http import (
    JSON,
    ApiError,
    Call,
    Handler,
    bad_request,
    html_not_found,
    invalid_token,
    parse_body,
)
from ._identity import identity_routes
from ._ratelimit import RateLimiter
from ._rates import RatesApi
from ._records import AccessToken, RequestRecord, User
from ._roles import RolesApi
from ._teammates import TeammatesApi
from ._time_entries import TimeEntriesApi
from ._users import UsersApi
from ._v1_people import V1_PREFIX, V1PeopleApi

__all__ = ["ServedSandbox", "build_app"]

_INFO = "thresher.sandbox"
_MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
#: Paths of the identity service (id.getharvest.com) served on the same port.
_IDENTITY_PATHS = frozenset({"/api/v2/accounts", "/api/v2/oauth2/token"})
_AUTHORIZE_PATH = "/oauth2/authorize"
_REPORTS = "/v2/reports/"
#: docs/harvest-api.md §10: Harvest's words since 2021-08-15.
GET_WITH_BODY = "HTTP GET requests with a body are not accepted."
_BODYLESS = frozenset({"GET", "HEAD"})
#: v1 only asked for a User-Agent as a courtesy (docs/migrating-from-v1.md).
_V1 = V1_PREFIX + "/"


@dataclasses.dataclass(slots=True)
class _RequestInfo:
    """Filled in along the request path, read by the gate for the request log."""

    user_id: int | None = None
    token_kind: str | None = None
    fault: str | None = None


class ServedSandbox(ControlledSandbox, Protocol):
    """What serving needs beyond the handlers' view: the limiter and the fault sequence."""

    @property
    def limiter(self) -> RateLimiter | None: ...

    @property
    def reports_limiter(self) -> RateLimiter | None: ...

    def draw_fault(self) -> FaultDecision: ...


def build_app(
    sandbox: ServedSandbox, *, lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]]
) -> Starlette:
    """The app serving ``sandbox``; ``lifespan`` runs around serving (the sandbox saves its state
    file when the server stops)."""
    api = _Api(sandbox)
    routes: list[BaseRoute] = []
    # Order matters where a literal segment shares a position with an id (/v2/users/me).
    for section in (UsersApi(sandbox), TeammatesApi(sandbox), RatesApi(sandbox), AssignmentsApi(sandbox),
                    RolesApi(sandbox), CompanyApi(sandbox), CatalogApi(sandbox), TimeEntriesApi(sandbox),
                    ExpensesApi(sandbox)):
        routes.extend(api.route(path, method, handler) for path, method, handler in section.routes())
    routes.extend(V1PeopleApi(sandbox).routes())  # the legacy v1 People API (_v1_people.py)
    routes.extend(identity_routes(sandbox))
    routes.extend(control_routes(sandbox))

    async def unknown_route(request: Request, exc: Exception) -> Response:
        return html_not_found()

    app = Starlette(
        routes=routes,
        exception_handlers={404: unknown_route, 405: unknown_route},
        lifespan=lifespan,
    )
    app.add_middleware(_Gate, sandbox=sandbox)
    return app


class _Api:
    """What every API route shares: authentication, the rate limit, the body, the ETag."""

    def __init__(self, sandbox: ServedSandbox) -> None:
        self.sandbox = sandbox

    def authenticate(self, request: Request) -> tuple[User, AccessToken]:
        """§1.1 and §5: a bearer token (header or ``access_token`` query) and the account id
        (``Harvest-Account-Id`` header or ``account_id`` query); any failure is the same 401."""
        state = self.sandbox.state
        token_text = None
        header = request.headers.get("authorization")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer":
                token_text = value.strip()
        if token_text is None:
            token_text = request.query_params.get("access_token")
        token = state.access_tokens.get(token_text) if token_text else None
        if token is None or (token.expires_at is not None and token.expires_at <= self.sandbox.clock.now()):
            raise invalid_token()
        account = request.headers.get("harvest-account-id") or request.query_params.get("account_id")
        if account is None or account.strip() != str(state.account_id):
            raise invalid_token()
        if not {"all", "harvest:all", f"harvest:{state.account_id}"} & set(token.scope.split("+")):
            raise invalid_token()  # an OAuth grant for another account
        user = state.users.get(token.user_id)
        if user is None or not user.is_active:
            raise invalid_token()
        return user, token

    def limit(self, token: AccessToken, path: str) -> None:
        """§4: 100 requests per 15 s, and the Reports API its own 100 per 15 minutes (counted
        apart: a report does not use the general budget)."""
        sandbox = self.sandbox
        limiter = sandbox.reports_limiter if path.startswith(_REPORTS) else sandbox.limiter
        if limiter is None:
            return
        key = token.token if sandbox.config.rate_limit_scope == "token" else str(sandbox.state.account_id)
        wait = limiter.hit(key)
        if wait is not None:
            raise ApiError(too_many_requests(RateLimiter.retry_after(wait)))

    async def dispatch(self, request: Request, handler: Handler) -> Response:
        info: _RequestInfo | None = request.scope.get(_INFO)
        try:
            body: dict[str, Any] = {}
            raw = await request.body() if request.method in _MUTATING else b""
            with self.sandbox.lock:
                actor, token = self.authenticate(request)
                if info is not None:
                    info.user_id, info.token_kind = actor.id, token.kind
                self.limit(token, request.scope["path"])  # request.url would build a whole URL
                if raw:
                    body = parse_body(request.headers.get("content-type", ""), raw)
                response = handler(Call(request, request.query_params, body, actor, token))
                if request.method in _MUTATING and response.status_code < 400:
                    self.sandbox.mark_changed()
        except ApiError as exc:
            response = exc.response
        if request.method == "GET" and response.status_code == 200:
            # §1: 2024 recordings carry an ETag on 200s; Rails' conditional GET answers 304.
            # Rails hashes with MD5; SHA-1 (cut to MD5's 32 digits) is five times faster here
            # with the CPU's SHA instructions, 2 ms rather than 10 for a page of 2,000 entries.
            etag = f'W/"{hashlib.sha1(response.body, usedforsecurity=False).hexdigest()[:32]}"'
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={"ETag": etag})
            response.headers["ETag"] = etag
        return response

    def route(self, path: str, method: str, handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            return await self.dispatch(request, handler)

        endpoint.__doc__ = handler.__doc__
        return Route(path, endpoint, methods=[method], name=f"{method} {path}")


def too_many_requests(retry_after: str) -> Response:
    """§4: 429 with ``Retry-After`` always (§10). The body follows the one 2020 recording: empty,
    ``text/html``."""
    return Response(b"", 429, headers={"Retry-After": retry_after}, media_type="text/html")


#: Harvest sits behind Cloudflare (§1), whose gateway errors are HTML pages like this one.
_CLOUDFLARE = (
    "<html>\r\n<head><title>{0} {1}</title></head>\r\n<body>\r\n<center><h1>{0} {1}</h1></center>"
    "\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
_REASONS = {
    413: "Request Entity Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def _too_large() -> Response:
    """A body over ``max_body_bytes``: the HTML page of the proxy in front of Harvest (§1)."""
    return Response(_CLOUDFLARE.format(413, _REASONS[413]).encode(), 413, media_type="text/html")


def _fault_response(decision: FaultDecision) -> Response:
    if decision.action == "429":
        return too_many_requests("1")
    status = decision.status
    if status == 500:
        # Rails' exception app renders errors as {"status","error"}, like the recorded 404.
        return Response(orjson.dumps({"status": 500, "error": "Internal Server Error"}), 500, media_type=JSON)
    reason = _REASONS.get(status, "Server Error")
    return Response(_CLOUDFLARE.format(status, reason).encode(), status, media_type="text/html")


class _Gate:
    """Outermost layer for API and identity requests: alias paths, faults, latency, the
    ``User-Agent`` rule (§1.1: 400 without it) and the request log. The control plane passes
    straight through: it is never faulted, delayed, limited or logged."""

    def __init__(self, app: ASGIApp, sandbox: ServedSandbox) -> None:
        self.app = app
        self.sandbox = sandbox
        self._request_ids = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path == "/sandbox" or path.startswith("/sandbox/"):
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        started = time.perf_counter()
        if path.startswith("/api/v2/") and path not in _IDENTITY_PATHS:
            path = path[4:]  # §1: /api/v2/... is an alias of /v2/...
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"  # Rails routes ignore a trailing slash
        if path != scope["path"]:
            scope = dict(scope, path=path, raw_path=path.encode())
        info = _RequestInfo()
        scope[_INFO] = info
        status = 0
        logged = False

        def log_once() -> None:
            nonlocal logged
            if not logged:
                logged = True
                self._log(scope, info, status, started)

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                # Logged before the last byte leaves: a client that has its answer always finds
                # the request in the log (tests count requests right after a command exits).
                log_once()
            if message["type"] == "http.response.start":
                status = message["status"]
                # Harvest's answers carry a Date from the same clock as its updated_at values;
                # clients that keep windows on the server's clock (thresher's sync) rely on it,
                # so it follows the sandbox clock, offset included (the server's own is off).
                message = dict(message)
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"date", _http_date(sandbox.clock.now())),
                ]
            await send(message)

        try:
            decision = sandbox.draw_fault()
            info.fault = decision.label
            delay = sandbox.config.latency_ms / 1000.0 + decision.delay
            if delay:
                await asyncio.sleep(delay)
            if decision.action in ("drop", "lost"):
                if decision.action == "lost":
                    # Processed in full (the change is made), but the answer never leaves.
                    async def discard(message: Message) -> None:
                        return None

                    await self.app(scope, receive, discard)
                status = 0
                await send({
                    "type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", JSON.encode()), (b"content-length", b"2048")],
                })
                raise DroppedConnectionError(f"sandbox fault: connection dropped ({decision.action})")
            refusal: Response | None = None
            if decision.action is None:
                refusal, receive = await self._read_body(scope, receive)
            if decision.action is not None:
                await _fault_response(decision)(scope, receive, capture)
            elif refusal is not None:
                await refusal(scope, receive, capture)
            elif path != _AUTHORIZE_PATH and not path.startswith(_V1) and not _has_user_agent(scope):
                await bad_request("Missing User-Agent header").response(scope, receive, capture)
            else:
                await self.app(scope, receive, capture)
        finally:
            log_once()

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[Response | None, Receive]:
        """Before routing and authentication: a GET or HEAD carrying a body is refused with
        Harvest's 400 (docs/harvest-api.md §10); any other body is read up to
        ``max_body_bytes`` and no further (a larger one is a 413, answered before the rest
        arrives), then replayed to the app."""
        headers = dict(scope.get("headers") or ())
        length_header = headers.get(b"content-length")
        chunked = b"transfer-encoding" in headers
        if scope.get("method") in _BODYLESS:
            if chunked or (length_header is not None and length_header.strip() not in (b"", b"0")):
                return bad_request(GET_WITH_BODY).response, receive
            return None, receive
        limit = self.sandbox.config.max_body_bytes
        if length_header is not None:
            text = length_header.strip()
            if not text.isdigit() or len(text) > 18:
                return bad_request("Invalid Content-Length header").response, receive
            if int(text) > limit:
                return _too_large(), receive
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                pending: Message | None = message  # a disconnect: let the app see it

                async def disconnected() -> Message:
                    nonlocal pending
                    if pending is not None:
                        out, pending = pending, None
                        return out
                    return await receive()

                return None, disconnected
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                return _too_large(), receive
            chunks.append(body)
            if not message.get("more_body", False):
                break
        data: bytes | None = b"".join(chunks)

        async def replay() -> Message:
            nonlocal data
            if data is not None:
                out: Message = {"type": "http.request", "body": data, "more_body": False}
                data = None
                return out
            return await receive()

        return None, replay

    def _log(self, scope: Scope, info: _RequestInfo, status: int, started: float) -> None:
        headers = dict(scope.get("headers") or ())
        query = scope.get("query_string", b"").decode("latin-1")
        if "access_token=" in query:
            query = "&".join(
                "access_token=[redacted]" if part.startswith("access_token=") else part
                for part in query.split("&")
            )
        sandbox = self.sandbox
        with sandbox.lock:
            self._request_ids += 1
            if not sandbox.config.request_log_size:
                return
            sandbox.state.request_log.append(RequestRecord(
                id=self._request_ids,
                at=_log_stamp(sandbox.clock.now()),
                method=scope.get("method", ""),
                path=scope.get("path", ""),
                query=query,
                status=status,
                user_id=info.user_id,
                token_kind=info.token_kind,
                account_id=_header(headers, b"harvest-account-id"),
                user_agent=_header(headers, b"user-agent"),
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                fault=info.fault,
            ))


class _PerSecond:
    """A formatter of whole-second times that formats each second once: every API answer carries
    a Date header and every request a log time, and formatting them cost more than serving
    ``/v2/users/me`` from memory (bench/sandbox.py)."""

    def __init__(self, render: Callable[[int], Any]) -> None:
        self._render = render
        # One tuple, replaced whole: a thread never pairs one second with another's text.
        self._last: tuple[int, Any] | None = None

    def __call__(self, now: float) -> Any:
        second = math.floor(now)  # as gmtime and formatdate truncate, before the epoch too
        last = self._last
        if last is None or last[0] != second:
            last = self._last = (second, self._render(second))
        return last[1]


_http_date = _PerSecond(lambda second: email.utils.formatdate(second, usegmt=True).encode())
_log_stamp = _PerSecond(format_ts)


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


def _has_user_agent(scope: Scope) -> bool:
    return any(k == b"user-agent" and v.strip() for k, v in scope.get("headers") or ())
