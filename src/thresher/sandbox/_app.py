"""``Sandbox``: one simulated Harvest account and the ASGI app that serves it.

Defining the app is separate from running it (design.md §5): ``Sandbox(config).app`` is a plain
Starlette application for ``httpx.ASGITransport``; ``run_sandbox`` (``_server.py``) puts it on a
port. One app serves both of Harvest's hosts: the API under ``/v2`` (and the ``/api/v2`` alias,
§1), the identity service under ``/api/v2/accounts``, ``/oauth2/authorize`` and
``/api/v2/oauth2/token`` (§5), and the control plane under ``/sandbox`` (never under ``/v2``).

Request path, outermost first: ``_Gate`` (request log, faults, latency, ``User-Agent``) -> routing
(unknown routes: Harvest's HTML 404) -> ``Sandbox._dispatch`` (token and account header, rate
limit, body) -> the handler, which runs under the sandbox lock so in-process inspection from
another thread sees consistent data.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import email.utils
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._clock import SandboxClock, format_date, format_ts
from ._config import SandboxConfig
from ._errors import SandboxConfigError, SandboxStateError
from ._faults import FaultConfig, FaultDecision, FaultInjector
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
from ._ratelimit import RateLimiter
from ._records import (
    AccessToken,
    Client,
    Expense,
    Invitation,
    Project,
    RequestRecord,
    Task,
    TaskAssignment,
    TimeEntry,
    User,
)
from ._render import warm_user_json
from ._seed import derive_account_ids, generate
from ._state import SandboxState

__all__ = ["DroppedConnectionError", "Sandbox", "SandboxCredentials", "SandboxSnapshot"]

_INFO = "thresher.sandbox"
_MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
#: Paths of the identity service (id.getharvest.com) served on the same port.
_IDENTITY_PATHS = frozenset({"/api/v2/accounts", "/api/v2/oauth2/token"})
_AUTHORIZE_PATH = "/oauth2/authorize"
#: Seconds between two saves of the state file while changes keep coming; at least ten times
#: what the last save took, so a big account (seconds per save) spends <= 10% of its time saving.
_SAVE_INTERVAL = 1.0


@dataclasses.dataclass(frozen=True)
class SandboxCredentials:
    """What a client needs to reach the sandbox: account ids, personal access tokens of an
    administrator, a manager with teammates and a member, a registered OAuth client, and the
    control-plane token."""

    account_id: int
    forecast_account_id: int
    admin_token: str
    manager_token: str
    member_token: str
    oauth_client_id: str
    oauth_client_secret: str
    oauth_redirect_uri: str
    control_token: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SandboxSnapshot:
    """An opaque copy of a sandbox's data (``Sandbox.snapshot()``), restorable any number of times."""

    data: bytes

    def __repr__(self) -> str:
        return f"SandboxSnapshot(<{len(self.data)} bytes>)"


@dataclasses.dataclass(slots=True)
class _RequestInfo:
    """Filled in along the request path, read by the gate for the request log."""

    user_id: int | None = None
    token_kind: str | None = None
    fault: str | None = None


def _derived(seed: int, label: str, size: int) -> str:
    digest = hashlib.sha256(f"thresher-sandbox/{seed}/{label}".encode()).digest()
    digest += hashlib.sha256(digest).digest()
    text = base64.b64encode(digest).decode()
    return "".join(ch for ch in text if ch.isalnum())[:size]


def _credentials(config: SandboxConfig) -> SandboxCredentials:
    seed = config.seed
    harvest_id, forecast_id = derive_account_ids(seed)
    account_id = config.account_id or harvest_id
    return SandboxCredentials(
        account_id=account_id,
        forecast_account_id=config.forecast_account_id or forecast_id,
        # Harvest's personal access tokens look like "<digits>.pt.<secret>".
        admin_token=config.admin_token or f"{account_id}.pt.{_derived(seed, 'admin', 60)}",
        manager_token=config.manager_token or f"{account_id}.pt.{_derived(seed, 'manager', 60)}",
        member_token=config.member_token or f"{account_id}.pt.{_derived(seed, 'member', 60)}",
        oauth_client_id=config.oauth_client_id or _derived(seed, "client-id", 24),
        oauth_client_secret=config.oauth_client_secret or _derived(seed, "client-secret", 64),
        oauth_redirect_uri=config.oauth_redirect_uri,
        control_token=config.control_token or f"sandbox-control-{_derived(seed, 'control', 32)}",
    )


class DroppedConnectionError(httpx.RemoteProtocolError):
    """Raised after the status line so the server closes the connection (fault ``drop``).

    Over real HTTP the client sees the connection close mid-response; under
    ``httpx.ASGITransport`` this exception reaches the caller itself, which is why it is the
    exception httpx raises for a real drop."""


class Sandbox:
    """A local Harvest account: seeded data, the API and identity endpoints, and knobs.

    ``Sandbox(config).app`` is the ASGI app; ``.credentials`` the tokens; ``.state`` the data
    (typed, for in-process inspection; change it through the methods below or the HTTP API).
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """``monotonic`` is the rate limiter's clock; tests pass a fake one to pace exactly."""
        self.base_config = config or SandboxConfig()
        self._monotonic = monotonic
        self.config = self.base_config
        self.credentials = _credentials(self.base_config)
        self.clock = SandboxClock()
        self.lock = threading.RLock()
        self._limiter: RateLimiter | None = None
        self._faults = FaultInjector(FaultConfig.coerce(self.config.faults), self.config.seed)
        self._request_ids = 0
        self._dirty = False
        self._last_save = 0.0
        self._save_cost = 0.0
        self._save_handle: asyncio.TimerHandle | None = None
        self.snapshots: dict[str, SandboxSnapshot] = {}
        self._configure_limiter()
        state_file = self._state_path()
        if state_file is not None and state_file.exists():
            self.state = self._read_state(state_file)
        else:
            self.state = self._generate(self.config.users, self.config.seed)
            if state_file is not None:
                self.save()
        self.app = self._build_app()

    # -- public knobs -----------------------------------------------------------------------------
    def set_faults(self, faults: str | FaultConfig | None) -> FaultConfig:
        """Replace the fault spec (see ``thresher.sandbox``); its seeded sequence starts over."""
        parsed = FaultConfig.coerce(faults)
        self._faults = FaultInjector(parsed, self.config.seed)
        return parsed

    @property
    def faults(self) -> FaultConfig:
        return self._faults.config

    def set_clock_offset(self, seconds: float) -> None:
        """Move the sandbox's wall clock (token expiry, ``updated_at``, rate ``start_date`` checks)."""
        with self.lock:
            self.clock.offset = float(seconds)
            self.mark_changed()

    def configure(self, **changes: Any) -> SandboxConfig:
        """Change settings at run time (``rate_limit``, ``seat_limit``, ``latency_ms``, ...);
        ``reset()`` returns to the config the sandbox was built with."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(SandboxConfig)}
        if unknown:
            raise SandboxConfigError(f"unknown sandbox setting(s): {', '.join(sorted(unknown))}")
        with self.lock:
            self.config = dataclasses.replace(self.config, **changes)
            if {"rate_limit", "rate_limit_scope", "rate_limit_window", "time_scale"} & changes.keys():
                self._configure_limiter()
            if "faults" in changes:
                self.set_faults(self.config.faults)
            if "request_log_size" in changes:
                self.state.request_log = deque(self.state.request_log, maxlen=self.config.request_log_size)
        return self.config

    def reset(self, *, users: int | None = None, seed: int | None = None) -> None:
        """Back to a freshly seeded account (``users``/``seed`` default to the config's) with the
        original config, no clock offset, the config's faults, empty outbox and request log.
        Credentials stay the same."""
        with self.lock:
            self.config = self.base_config
            self.clock.offset = 0.0
            self.state = self._generate(
                users or self.config.users, self.config.seed if seed is None else seed
            )
            self._configure_limiter()
            self.set_faults(self.config.faults)
            self.mark_changed()

    def snapshot(self) -> SandboxSnapshot:
        with self.lock:
            # An exact-size copy: orjson's result keeps its working buffer, up to twice the data.
            return SandboxSnapshot(bytes(memoryview(orjson.dumps(self.state.to_dict()))))

    def restore(self, snapshot: SandboxSnapshot) -> None:
        with self.lock:
            log = self.state.request_log
            self.state = SandboxState.from_dict(orjson.loads(snapshot.data), self.clock,
                                                log_size=self.config.request_log_size)
            warm_user_json(self.state)
            self.state.request_log = log
            self.mark_changed()

    def save(self, path: str | Path | None = None) -> Path:
        """Write the state as JSON (atomically) to ``path`` or the config's ``state_file``."""
        target = Path(path) if path is not None else self._state_path()
        if target is None:
            raise SandboxStateError("No state file to save to", hint="Pass a path or set state_file.")
        started = time.monotonic()
        with self.lock:
            data = orjson.dumps(self.state.to_dict())
            self._dirty = False
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as exc:
            raise SandboxStateError(f"Cannot write the sandbox state to {target}: {exc.strerror}") from exc
        self._last_save = time.monotonic()
        self._save_cost = self._last_save - started
        return target

    def load(self, path: str | Path | None = None) -> None:
        """Replace the data with a state file written by ``save()``."""
        source = Path(path) if path is not None else self._state_path()
        if source is None:
            raise SandboxStateError("No state file to load", hint="Pass a path or set state_file.")
        state = self._read_state(source)
        with self.lock:
            state.request_log = self.state.request_log
            self.state = state

    def create_project(
        self,
        name: str,
        *,
        client_name: str | None = None,
        code: str | None = None,
        task_names: tuple[str, ...] = ("Development", "Meetings"),
    ) -> tuple[Project, list[int]]:
        """Create a project (Harvest's projects API is not simulated); users with
        ``has_access_to_all_future_projects`` are assigned to it (§7.4). Returns the project and
        the ids of the assignments made."""
        with self.lock:
            state = self.state
            now = self.clock.stamp()
            client = next((c for c in state.clients.values() if c.name == client_name), None)
            if client is None:
                client = Client(
                    state.next_id("client"), client_name or f"{name} Client", "USD", True, now, now
                )
                state.clients[client.id] = client
            task_ids = []
            for task_name in task_names:
                task = next((t for t in state.tasks.values() if t.name == task_name), None)
                if task is None:
                    task = Task(state.next_id("task"), task_name, True, now, now)
                    state.tasks[task.id] = task
                task_ids.append(task.id)
            pid = state.next_id("project")
            tasks = [
                TaskAssignment(state.next_id("task_assignment"), tid, state.tasks[tid].billable_by_default,
                               True, None, None, now, now)
                for tid in task_ids
            ]
            code = code or f"P{pid % 10000:04d}"
            project = Project(pid, client.id, name, code, True, True, tasks, now, now)
            assigned = state.add_project(project)
            self.mark_changed()
            return project, [a.id for a in assigned]

    def add_time_entry(self, user_id: int, project_id: int | None = None, *, hours: float = 1.0) -> TimeEntry:
        """Record time for a user (on one of their projects unless ``project_id`` is given); a
        user with time cannot be deleted (§6.4)."""
        with self.lock:
            state = self.state
            user = state.users[user_id]
            pid = project_id if project_id is not None else self._some_project(user)
            project = state.projects[pid]
            now = self.clock.stamp()
            entry = TimeEntry(state.next_id("time_entry"), user.id, pid, project.task_assignments[0].task_id,
                              format_date(self.clock.now()), hours, "", now)
            state.time_entries.setdefault(user.id, []).append(entry)
            self.mark_changed()
            return entry

    def add_expense(
        self, user_id: int, project_id: int | None = None, *, total_cost: float = 10.0
    ) -> Expense:
        """Record an expense for a user; like time, it makes the user not removable (§6.4)."""
        with self.lock:
            state = self.state
            user = state.users[user_id]
            pid = project_id if project_id is not None else self._some_project(user)
            expense = Expense(state.next_id("expense"), user.id, pid, format_date(self.clock.now()),
                              total_cost, "", self.clock.stamp())
            state.expenses.setdefault(user.id, []).append(expense)
            self.mark_changed()
            return expense

    def issue_token(self, user_id: int) -> str:
        """A new personal access token for any user (e.g. a manager without teammates)."""
        with self.lock:
            if user_id not in self.state.users:
                raise SandboxConfigError(f"No user {user_id} in the sandbox")
            token = f"{self.state.account_id}.pt.{secrets.token_urlsafe(45)}"
            self.state.access_tokens[token] = AccessToken(token, user_id, "pat", "all", None)
            self.mark_changed()
            return token

    def revoke_personal_tokens(self) -> int:
        """Invalidate every personal access token, as requiring SAML SSO does (gotcha 16)."""
        with self.lock:
            tokens = [t for t, entry in self.state.access_tokens.items() if entry.kind == "pat"]
            for token in tokens:
                del self.state.access_tokens[token]
            self.mark_changed()
            return len(tokens)

    def user_for_token(self, token: str) -> User | None:
        entry = self.state.access_tokens.get(token)
        return None if entry is None else self.state.users.get(entry.user_id)

    def record_invitation(self, user: User, origin: str) -> Invitation:
        """§8.1: the invitation email ``POST /v2/users`` sends, kept in the outbox instead."""
        state = self.state
        invitation = Invitation(
            id=state.next_id("invitation"),
            user_id=user.id,
            to=user.email,
            name=user.name,
            subject=f"You're invited to join {state.company.name} on Harvest",
            body=(
                f"Hi {user.first_name},\n\nYou have been invited to track time with "
                f"{state.company.name} on Harvest. Accept the invitation to set your password:\n"
                f"{origin}/sandbox/invitations/{user.id}\n"
            ),
            sent_at=format_ts(self.clock.now()),
        )
        state.outbox.append(invitation)
        return invitation

    # -- internals --------------------------------------------------------------------------------
    def _some_project(self, user: User) -> int:
        assignments = self.state.assignments_by_user.get(user.id)
        if assignments:
            return self.state.user_assignments[assignments[0]].project_id
        return min(self.state.projects)

    def _state_path(self) -> Path | None:
        return None if self.config.state_file is None else Path(self.config.state_file)

    def _read_state(self, path: Path) -> SandboxState:
        try:
            data = orjson.loads(path.read_bytes())
            state = SandboxState.from_dict(data, self.clock, log_size=self.config.request_log_size)
            warm_user_json(state)
            return state
        except OSError as exc:
            raise SandboxStateError(f"Cannot read the sandbox state {path}: {exc.strerror}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise SandboxStateError(
                f"The sandbox state {path} is not a state file this version can read ({exc})",
                hint="Delete the file to start from a freshly seeded account.",
            ) from exc

    def _generate(self, users: int, seed: int) -> SandboxState:
        creds = self.credentials
        state = generate(
            self.config, self.clock, users=max(3, users), seed=seed,
            tokens=(creds.admin_token, creds.manager_token, creds.member_token),
            account_ids=(creds.account_id, creds.forecast_account_id),
        )
        warm_user_json(state)
        return state

    def _configure_limiter(self) -> None:
        rule = self.config.rate_limit_rule
        mode = self.config.rate_limit_window
        self._limiter = None if rule is None else RateLimiter(
            rule[0], rule[1], mode=mode, clock=self._monotonic
        )

    def mark_changed(self) -> None:
        """Note a change: the state file is written at most every second, and at shutdown."""
        self._dirty = True
        if self.config.state_file is None:
            return
        wait = self._last_save + max(_SAVE_INTERVAL, 10 * self._save_cost) - time.monotonic()
        if wait <= 0:
            self.save()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # outside the server: the next change or shutdown saves
        if self._save_handle is None or self._save_handle.cancelled():
            self._save_handle = loop.call_later(wait, self._deferred_save)

    def _deferred_save(self) -> None:
        self._save_handle = None
        if self._dirty:
            self.save()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if self._dirty and self.config.state_file is not None:
            self.save()

    def _authenticate(self, request: Request) -> tuple[User, AccessToken]:
        """§1.1 and §5: a bearer token (header or ``access_token`` query) and the account id
        (``Harvest-Account-Id`` header or ``account_id`` query); any failure is the same 401."""
        state = self.state
        token_text = None
        header = request.headers.get("authorization")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer":
                token_text = value.strip()
        if token_text is None:
            token_text = request.query_params.get("access_token")
        token = state.access_tokens.get(token_text) if token_text else None
        if token is None or (token.expires_at is not None and token.expires_at <= self.clock.now()):
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

    def _limit(self, token: AccessToken) -> None:
        limiter = self._limiter
        if limiter is None:
            return
        key = token.token if self.config.rate_limit_scope == "token" else str(self.state.account_id)
        wait = limiter.hit(key)
        if wait is not None:
            raise ApiError(too_many_requests(RateLimiter.retry_after(wait)))

    async def _dispatch(self, request: Request, handler: Handler) -> Response:
        info: _RequestInfo | None = request.scope.get(_INFO)
        try:
            body: dict[str, Any] = {}
            raw = await request.body() if request.method in _MUTATING else b""
            with self.lock:
                actor, token = self._authenticate(request)
                if info is not None:
                    info.user_id, info.token_kind = actor.id, token.kind
                self._limit(token)
                if raw:
                    body = parse_body(request.headers.get("content-type", ""), raw)
                origin = f"{request.url.scheme}://{request.url.netloc}"
                response = handler(Call(request, request.query_params, body, actor, token, origin))
                if request.method in _MUTATING and response.status_code < 400:
                    self.mark_changed()
        except ApiError as exc:
            response = exc.response
        if request.method == "GET" and response.status_code == 200:
            # §1: 2024 recordings carry an ETag on 200s; Rails' conditional GET answers 304.
            etag = f'W/"{hashlib.md5(response.body, usedforsecurity=False).hexdigest()}"'
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={"ETag": etag})
            response.headers["ETag"] = etag
        return response

    def api_route(self, path: str, method: str, handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            return await self._dispatch(request, handler)

        endpoint.__doc__ = handler.__doc__
        return Route(path, endpoint, methods=[method], name=f"{method} {path}")

    def control_allowed(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.credentials.control_token.encode()
        )

    def _build_app(self) -> Starlette:
        # Imported here: the handler modules import this one for typing.
        from ._assignments import AssignmentsApi  # noqa: PLC0415
        from ._company import CompanyApi  # noqa: PLC0415
        from ._control import control_routes  # noqa: PLC0415
        from ._identity import identity_routes  # noqa: PLC0415
        from ._rates import RatesApi  # noqa: PLC0415
        from ._roles import RolesApi  # noqa: PLC0415
        from ._teammates import TeammatesApi  # noqa: PLC0415
        from ._users import UsersApi  # noqa: PLC0415

        routes: list[BaseRoute] = []
        # Order matters where a literal segment shares a position with an id (/v2/users/me).
        for section in (UsersApi(self), TeammatesApi(self), RatesApi(self), AssignmentsApi(self),
                        RolesApi(self), CompanyApi(self)):
            routes.extend(self.api_route(path, method, handler) for path, method, handler in section.routes())
        routes.extend(identity_routes(self))
        routes.extend(control_routes(self))

        async def unknown_route(request: Request, exc: Exception) -> Response:
            return html_not_found()

        app = Starlette(
            routes=routes,
            exception_handlers={404: unknown_route, 405: unknown_route},
            lifespan=self._lifespan,
        )
        app.add_middleware(_Gate, sandbox=self)
        return app

    def log_request(self, record: RequestRecord) -> None:
        if self.config.request_log_size:
            self.state.request_log.append(record)

    def next_request_id(self) -> int:
        self._request_ids += 1
        return self._request_ids

    def draw_fault(self) -> FaultDecision:
        return self._faults.draw()


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
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


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

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

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

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Harvest's answers carry a Date from the same clock as its updated_at values;
                # clients that keep windows on the server's clock (thresher's sync) rely on it,
                # so it follows the sandbox clock, offset included (the server's own is off).
                message = dict(message)
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"date", email.utils.formatdate(sandbox.clock.now(), usegmt=True).encode()),
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
            if decision.action is not None:
                await _fault_response(decision)(scope, receive, capture)
            elif path != _AUTHORIZE_PATH and not _has_user_agent(scope):
                await bad_request("Missing User-Agent header").response(scope, receive, capture)
            else:
                await self.app(scope, receive, capture)
        finally:
            self._log(scope, info, status, started)

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
            sandbox.log_request(RequestRecord(
                id=sandbox.next_request_id(),
                at=format_ts(sandbox.clock.now()),
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


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


def _has_user_agent(scope: Scope) -> bool:
    return any(k == b"user-agent" and v.strip() for k, v in scope.get("headers") or ())

