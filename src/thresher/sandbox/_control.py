"""The control plane under ``/sandbox`` (never under ``/v2``): knobs and inspection for tests.

Every route needs ``Authorization: Bearer <control token>`` (``SandboxCredentials.control_token``);
without it the answer is 401. A value the sandbox cannot use (a clock offset of ``1e300``, a
setting of the wrong type or out of range, a body that is not a JSON object) is a 400
``{"message": ...}`` and changes nothing. Control requests are not faulted, rate limited or logged.

=========================================  ==========================================================
``GET /sandbox``                           this list
``GET /sandbox/credentials``               the credentials (as ``--credentials-json`` writes them)
``POST /sandbox/reset``                    fresh seeded account, original settings; body
                                           ``{"users": N, "seed": S}`` optional
``POST /sandbox/seed``                     the same with ``{"users": N}`` required
``POST /sandbox/snapshots``                keep a named copy: ``{"name": "before"}`` -> its name
``POST /sandbox/snapshots/{name}/restore`` go back to it
``GET`` / ``PUT /sandbox/state``           export / import the whole state (the ``--state`` format)
``POST /sandbox/save``                     write the state file now
``GET`` / ``DELETE /sandbox/outbox``       invitations ``POST /v2/users`` would have emailed (the
                                           newest ``outbox_size``; ``dropped`` counts older ones)
``GET`` / ``DELETE /sandbox/requests``     the request log (``?limit=N``, ``?since_id=N``)
``GET`` / ``PUT /sandbox/faults``          ``{"spec": "500:0.1,seed=3"}`` (see ``thresher.sandbox``)
``GET`` / ``PUT /sandbox/clock``           ``{"offset_seconds": 3600}``
``GET`` / ``PUT /sandbox/settings``        run-time settings (rate_limit, seat_limit, latency_ms, ...)
``POST /sandbox/projects``                 ``{"name", "client_name"?, "code"?}``: a project (users
                                           with ``has_access_to_all_future_projects`` join it)
``POST /sandbox/time_entries``             ``{"user_id", "project_id"?, "hours"?}``
``POST /sandbox/expenses``                 ``{"user_id", "project_id"?, "total_cost"?}``
``POST /sandbox/tokens``                   ``{"user_id"}``: a personal access token for that user
``POST /sandbox/require_saml``             what turning on "require SAML SSO" does to tokens
                                           (gotcha 16): every personal access token stops working
=========================================  ==========================================================
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..harvest import normalize_email
from ._clock import format_ts
from ._config import SandboxConfig
from ._errors import SandboxError
from ._faults import FaultConfig
from ._host import SandboxHost, SandboxSnapshot
from ._http import (
    JSON,
    RAILS_JSON_KEY,
    ApiError,
    Form,
    bad_request,
    json_response,
    not_found,
    parse_body,
    unprocessable,
)
from ._records import Expense, Project, TimeEntry
from ._render import project_assignment_dict
from ._state import SandboxState

__all__ = ["RUNTIME_SETTINGS", "ControlledSandbox", "control_routes"]

#: Settings ``PUT /sandbox/settings`` may change (the others shape the seeded data or credentials).
RUNTIME_SETTINGS = (
    "rate_limit", "rate_limit_scope", "rate_limit_window", "time_scale", "latency_ms", "seat_limit",
    "token_ttl_seconds", "refresh_token_ttl_seconds", "authorization_code_ttl_seconds",
    "forbidden_message", "duplicate_email_message", "rename_while_restoring", "create_unknown_roles",
    "default_new_user_rate", "implicit_grant_in_query", "request_log_size", "rotate_refresh_tokens",
    "reports_rate_limit", "max_body_bytes", "outbox_size",
)

_Endpoint = Callable[[Request, dict[str, Any]], Response]


class ControlledSandbox(SandboxHost, Protocol):
    """The knobs the control plane turns; ``Sandbox`` documents each of them."""

    @property
    def snapshots(self) -> dict[str, SandboxSnapshot]: ...

    @property
    def faults(self) -> FaultConfig: ...

    def reset(self, *, users: int | None = None, seed: int | None = None) -> None: ...

    def snapshot(self) -> SandboxSnapshot: ...

    def restore(self, snapshot: SandboxSnapshot) -> None: ...

    def save(self) -> Path: ...

    def set_faults(self, faults: str | None) -> FaultConfig: ...

    def set_clock_offset(self, seconds: float) -> None: ...

    def configure(self, **changes: Any) -> SandboxConfig: ...

    def create_project(
        self, name: str, *, client_name: str | None = None, code: str | None = None
    ) -> tuple[Project, list[int]]: ...

    def add_time_entry(
        self, user_id: int, project_id: int | None = None, *, hours: float = 1.0
    ) -> TimeEntry: ...

    def add_expense(
        self, user_id: int, project_id: int | None = None, *, total_cost: float = 10.0
    ) -> Expense: ...

    def issue_token(self, user_id: int) -> str: ...

    def revoke_personal_tokens(self) -> int: ...


def control_routes(sandbox: ControlledSandbox) -> list[Route]:
    plane = _ControlPlane(sandbox)
    table: list[tuple[str, str, _Endpoint]] = [
        ("/sandbox", "GET", plane.index),
        ("/sandbox/credentials", "GET", plane.credentials),
        ("/sandbox/reset", "POST", plane.reset),
        ("/sandbox/seed", "POST", plane.seed),
        ("/sandbox/snapshots", "POST", plane.take_snapshot),
        ("/sandbox/snapshots/{name}/restore", "POST", plane.restore_snapshot),
        ("/sandbox/state", "GET", plane.export_state),
        ("/sandbox/state", "PUT", plane.import_state),
        ("/sandbox/save", "POST", plane.save),
        ("/sandbox/outbox", "GET", plane.outbox),
        ("/sandbox/outbox", "DELETE", plane.clear_outbox),
        ("/sandbox/requests", "GET", plane.requests),
        ("/sandbox/requests", "DELETE", plane.clear_requests),
        ("/sandbox/faults", "GET", plane.get_faults),
        ("/sandbox/faults", "PUT", plane.set_faults),
        ("/sandbox/clock", "GET", plane.get_clock),
        ("/sandbox/clock", "PUT", plane.set_clock),
        ("/sandbox/settings", "GET", plane.get_settings),
        ("/sandbox/settings", "PUT", plane.set_settings),
        ("/sandbox/projects", "POST", plane.create_project),
        ("/sandbox/time_entries", "POST", plane.create_time_entry),
        ("/sandbox/expenses", "POST", plane.create_expense),
        ("/sandbox/tokens", "POST", plane.create_token),
        ("/sandbox/require_saml", "POST", plane.require_saml),
    ]
    plane.listing = [f"{method} {path}" for path, method, _ in table]
    return [Route(path, plane.guard(endpoint), methods=[method]) for path, method, endpoint in table]


class _ControlPlane:
    def __init__(self, sandbox: ControlledSandbox) -> None:
        self.sandbox = sandbox
        self.listing: list[str] = []

    def guard(self, endpoint: _Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            if not self._allowed(request):
                return json_response(
                    {"message": "The sandbox control plane needs Authorization: Bearer <control token>"},
                    401, {"WWW-Authenticate": 'Bearer realm="thresher sandbox control plane"'},
                )
            try:
                body = parse_body(request.headers.get("content-type", ""), await request.body())
                if RAILS_JSON_KEY in body:
                    raise bad_request("The request body must be a JSON object")
                return endpoint(request, body)
            except ApiError as exc:
                if exc.response.status_code == 422:
                    # A value the control plane cannot use is the caller's mistake: 400, with
                    # the same {"message"} body (the API's 422s model Harvest; this is not Harvest).
                    exc.response.status_code = 400
                return exc.response
            except SandboxError as exc:
                return json_response({"message": str(exc), "hint": exc.hint}, 400)

        guarded.__doc__ = endpoint.__doc__
        return guarded

    def _allowed(self, request: Request) -> bool:
        """``Authorization: Bearer <control token>``, compared in constant time."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.sandbox.credentials.control_token.encode()
        )

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    @staticmethod
    def _int(form: Form, key: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        value = form.integer(key)
        if value is None and required and not form.errors:
            form.error(f"{key} is required")
        if value is not None and minimum is not None and value < minimum:
            form.error(f"{key} must be at least {minimum}")
        return value

    def index(self, request: Request, body: dict[str, Any]) -> Response:
        """``GET /sandbox``: the control routes."""
        return json_response({"routes": self.listing})

    def credentials(self, request: Request, body: dict[str, Any]) -> Response:
        """``GET /sandbox/credentials``."""
        return json_response(self.sandbox.credentials.as_dict())

    def _summary(self) -> dict[str, Any]:
        state = self.state
        return {"users": len(state.users), "active_users": state.active_users, "roles": len(state.roles),
                "projects": len(state.projects), "user_assignments": len(state.user_assignments)}

    def reset(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/reset`` with optional ``users`` and ``seed``."""
        form = Form(body)
        users = self._int(form, "users", minimum=3)
        seed = self._int(form, "seed")
        form.check()
        self.sandbox.reset(users=users, seed=seed)
        return json_response(self._summary())

    def seed(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/seed`` with ``users`` (required) and ``seed``."""
        form = Form(body)
        users = self._int(form, "users", required=True, minimum=3)
        seed = self._int(form, "seed")
        form.check()
        self.sandbox.reset(users=users, seed=seed)
        return json_response(self._summary())

    def take_snapshot(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/snapshots``: ``{"name": ...}`` optional."""
        form = Form(body)
        name = form.text("name") or f"snapshot-{secrets.token_hex(4)}"
        form.check()
        self.sandbox.snapshots[name] = self.sandbox.snapshot()
        return json_response({"snapshot": name}, 201)

    def restore_snapshot(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/snapshots/{name}/restore``."""
        snapshot = self.sandbox.snapshots.get(request.path_params["name"])
        if snapshot is None:
            raise not_found()
        self.sandbox.restore(snapshot)
        return json_response(self._summary())

    def export_state(self, request: Request, body: dict[str, Any]) -> Response:
        """``GET /sandbox/state``: the whole state, as ``--state`` files hold it."""
        with self.sandbox.lock:
            return Response(orjson.dumps(self.state.to_dict()), media_type=JSON)

    def import_state(self, request: Request, body: dict[str, Any]) -> Response:
        """``PUT /sandbox/state`` with a document from ``GET /sandbox/state``."""
        try:
            self.sandbox.restore(SandboxSnapshot(orjson.dumps(body)))
        except (KeyError, TypeError, ValueError) as exc:
            raise unprocessable(f"Not a sandbox state document ({exc})") from None
        return json_response(self._summary())

    def save(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/save``: write the state file now."""
        return json_response({"path": str(self.sandbox.save())})

    def outbox(self, request: Request, body: dict[str, Any]) -> Response:
        """``GET /sandbox/outbox`` (``?to=email`` filters)."""
        to = request.query_params.get("to")
        with self.sandbox.lock:
            wanted = None if to is None else normalize_email(to)
            items = [i for i in self.state.outbox if wanted is None or normalize_email(i.to) == wanted]
            data = {"invitations": items, "dropped": self.state.outbox_dropped,
                    "limit": self.sandbox.config.outbox_size}
            return Response(orjson.dumps(data), media_type=JSON)

    def clear_outbox(self, request: Request, body: dict[str, Any]) -> Response:
        """``DELETE /sandbox/outbox``."""
        with self.sandbox.lock:
            self.state.outbox.clear()
            self.state.outbox_dropped = 0
        return json_response({"invitations": [], "dropped": 0})

    def requests(self, request: Request, body: dict[str, Any]) -> Response:
        """``GET /sandbox/requests`` (``?since_id=N``, ``?limit=N`` keeps the last N)."""
        form = Form(request.query_params)
        since = self._int(form, "since_id") or 0
        limit = self._int(form, "limit", minimum=1)
        form.check()
        with self.sandbox.lock:
            items = [r for r in self.state.request_log if r.id > since]
        if limit is not None:
            items = items[-limit:]
        return Response(orjson.dumps({"requests": items}), media_type=JSON)

    def clear_requests(self, request: Request, body: dict[str, Any]) -> Response:
        """``DELETE /sandbox/requests``."""
        with self.sandbox.lock:
            self.state.request_log.clear()
        return json_response({"requests": []})

    def _faults(self) -> Response:
        faults = self.sandbox.faults
        return json_response({"spec": str(faults), "active": faults.active})

    def get_faults(self, request: Request, body: dict[str, Any]) -> Response:
        """``GET /sandbox/faults``."""
        return self._faults()

    def set_faults(self, request: Request, body: dict[str, Any]) -> Response:
        """``PUT /sandbox/faults`` with ``{"spec": "..."}`` (empty or null: none)."""
        spec = body.get("spec")
        if spec is not None and not isinstance(spec, str):
            raise unprocessable("spec must be a string")
        self.sandbox.set_faults(spec)
        return self._faults()

    def _clock(self) -> Response:
        clock = self.sandbox.clock
        return json_response({"offset_seconds": clock.offset, "now": format_ts(clock.now())})

    def get_clock(self, request: Request, body: dict[str, Any]) -> Response:
        """``GET /sandbox/clock``."""
        return self._clock()

    def set_clock(self, request: Request, body: dict[str, Any]) -> Response:
        """``PUT /sandbox/clock`` with ``{"offset_seconds": N}``."""
        form = Form(body)
        offset = form.number("offset_seconds")
        if offset is None and not form.errors:
            form.error("offset_seconds is required")
        form.check()
        assert offset is not None
        self.sandbox.set_clock_offset(offset)
        return self._clock()

    def _settings(self) -> Response:
        config = self.sandbox.config
        return json_response({name: getattr(config, name) for name in RUNTIME_SETTINGS})

    def get_settings(self, request: Request, body: dict[str, Any]) -> Response:
        """``GET /sandbox/settings``."""
        return self._settings()

    def set_settings(self, request: Request, body: dict[str, Any]) -> Response:
        """``PUT /sandbox/settings`` with any of ``RUNTIME_SETTINGS``."""
        unknown = sorted(set(body) - set(RUNTIME_SETTINGS))
        if unknown:
            raise unprocessable(f"Unknown or fixed setting(s): {', '.join(unknown)}")
        try:
            self.sandbox.configure(**body)
        except TypeError as exc:
            raise unprocessable(str(exc)) from None
        return self._settings()

    def create_project(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/projects``."""
        form = Form(body)
        name = form.text("name")
        if not name and not form.errors:
            form.error("name is required")
        client_name, code = form.text("client_name"), form.text("code")
        form.check()
        assert name
        project, assigned = self.sandbox.create_project(name, client_name=client_name, code=code)
        with self.sandbox.lock:
            client = self.state.clients[project.client_id]
            data = {
                "project": {"id": project.id, "name": project.name, "code": project.code,
                            "client": {"id": client.id, "name": client.name}},
                "user_assignment_ids": assigned,
                "project_assignments": [project_assignment_dict(self.state, self.state.user_assignments[a])
                                        for a in assigned],
            }
        return json_response(data, 201)

    def _user_and_project(self, body: dict[str, Any]) -> tuple[int, int | None, Form]:
        form = Form(body)
        user_id = self._int(form, "user_id", required=True)
        project_id = self._int(form, "project_id")
        form.check()
        assert user_id is not None
        if user_id not in self.state.users:
            raise unprocessable(f"No user {user_id}")
        if project_id is not None and project_id not in self.state.projects:
            raise unprocessable(f"No project {project_id}")
        return user_id, project_id, form

    def create_time_entry(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/time_entries``."""
        user_id, project_id, form = self._user_and_project(body)
        hours = form.number("hours", minimum=0, maximum=24)
        form.check()
        entry = self.sandbox.add_time_entry(user_id, project_id, hours=1.0 if hours is None else hours)
        return json_response(dataclasses.asdict(entry), 201)

    def create_expense(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/expenses``."""
        user_id, project_id, form = self._user_and_project(body)
        cost = form.number("total_cost", minimum=0)
        form.check()
        expense = self.sandbox.add_expense(user_id, project_id, total_cost=10.0 if cost is None else cost)
        return json_response(dataclasses.asdict(expense), 201)

    def create_token(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/tokens``: ``{"user_id": N}`` -> ``{"token": ...}``."""
        form = Form(body)
        user_id = self._int(form, "user_id", required=True)
        form.check()
        assert user_id is not None
        return json_response({"token": self.sandbox.issue_token(user_id), "user_id": user_id}, 201)

    def require_saml(self, request: Request, body: dict[str, Any]) -> Response:
        """``POST /sandbox/require_saml``: revoke every personal access token (SAML-FAQ, gotcha 16);
        OAuth tokens keep working. ``POST /sandbox/tokens`` issues new ones."""
        return json_response({"revoked": self.sandbox.revoke_personal_tokens()})
