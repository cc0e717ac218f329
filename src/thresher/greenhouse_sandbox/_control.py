"""The control plane under ``/sandbox`` (``Authorization: Bearer <control token>``, compared in
constant time); values it cannot use are a 400 ``{"message": ...}`` and change nothing.

===========================================  =====================================================
``GET /sandbox``                             this list
``GET /sandbox/credentials``                 credentials, user ids to act as, the control token
``POST /sandbox/credentials``                ``{"scopes": [...], "name"?}``: a new credential
``PUT /sandbox/credentials/{id}/scopes``     ``{"scopes": [...]}``: what "Manage Scopes" does
``POST /sandbox/credentials/{id}/revoke``    revoke it: no new tokens, its tokens answer 401
``POST /sandbox/reset``                      fresh seeded data, ``{"users"?, "seed"?}``
``GET /sandbox/users``                       every user as stored (service accounts included)
``GET`` / ``DELETE /sandbox/requests``       the request log (``?since_id=N``)
``GET`` / ``PUT /sandbox/faults``            ``{"spec": "500:0.1,429burst:0.05x3,seed=3"}``
``GET`` / ``PUT /sandbox/clock``             ``{"offset_seconds": 3600}`` (expires tokens)
``GET`` / ``PUT /sandbox/settings``          rate_limit, token_ttl_seconds, expiry_field,
                                             non_admin_lists, latency_ms
``GET /sandbox/outbox``                      invitations and verifications that were not emailed
===========================================  =====================================================
"""

from __future__ import annotations

import dataclasses
import hmac
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thresher.greenhouse import ALL_SCOPES

from ._errors import GreenhouseSandboxError
from ._http import answer
from ._sandbox import SandboxCore
from ._state import Credential

__all__ = ["control_routes"]

_Endpoint = Callable[[Request, dict[str, Any]], Any]


def _scopes(body: dict[str, Any]) -> set[str]:
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise GreenhouseSandboxError('"scopes" must be a list of scope names')
    unknown = set(scopes) - ALL_SCOPES
    if unknown:
        raise GreenhouseSandboxError(f"unknown scopes: {', '.join(sorted(unknown))}")
    return set(scopes)


def control_routes(sandbox: SandboxCore) -> list[Route]:
    def credential(request: Request) -> Credential:
        found = sandbox.state.credentials.get(request.path_params["client_id"])
        if found is None:
            raise GreenhouseSandboxError("no such credential")
        return found

    def index(request: Request, body: dict[str, Any]) -> Any:
        return {"routes": [f"{m} {p}" for p, m, _ in table]}

    def credentials(request: Request, body: dict[str, Any]) -> Any:
        return sandbox.credentials_document()

    def new_credential(request: Request, body: dict[str, Any]) -> Any:
        name = body.get("name") or f"credential-{len(sandbox.state.credentials) + 1}"
        created = Credential(
            f"ghsbx-{secrets.token_hex(6)}", secrets.token_urlsafe(30), _scopes(body), str(name)
        )
        sandbox.state.credentials[created.client_id] = created
        return created.render()

    def set_scopes(request: Request, body: dict[str, Any]) -> Any:
        found = credential(request)
        found.scopes = _scopes(body)
        return found.render(with_secret=False)

    def revoke(request: Request, body: dict[str, Any]) -> Any:
        found = credential(request)
        found.revoked = True
        return found.render(with_secret=False)

    def reset(request: Request, body: dict[str, Any]) -> Any:
        users, seed = body.get("users"), body.get("seed")
        if not (users is None or (isinstance(users, int) and 3 <= users <= 1_000_000)):
            raise GreenhouseSandboxError('"users" must be a number from 3 to 1000000')
        if not (seed is None or isinstance(seed, int)):
            raise GreenhouseSandboxError('"seed" must be a number')
        sandbox.reset(users=users, seed=seed)
        return {"users": len(sandbox.state.users)}

    def users(request: Request, body: dict[str, Any]) -> Any:
        return [{**u.render(), "service_account": u.service_account} for u in sandbox.state.users.values()]

    def requests(request: Request, body: dict[str, Any]) -> Any:
        if request.method == "DELETE":
            sandbox.requests.clear()
            return {"requests": []}
        since = request.query_params.get("since_id", "0")
        floor = int(since) if since.isdigit() else 0
        return {"requests": [r for r in sandbox.requests if r["id"] > floor]}

    def faults(request: Request, body: dict[str, Any]) -> Any:
        if request.method == "PUT":
            spec = body.get("spec")
            if not (spec is None or isinstance(spec, str)):
                raise GreenhouseSandboxError('"spec" must be a faults spec string')
            try:
                sandbox.set_faults(spec)
            except Exception as exc:  # the Harvest sandbox's SandboxConfigError
                raise GreenhouseSandboxError(str(exc)) from None
        return {"spec": str(sandbox.faults)}

    def clock(request: Request, body: dict[str, Any]) -> Any:
        if request.method == "PUT":
            offset = body.get("offset_seconds")
            if (
                isinstance(offset, bool)
                or not isinstance(offset, int | float)
                or not math.isfinite(offset)
                or abs(offset) > 10 * 365 * 86_400
            ):
                raise GreenhouseSandboxError('"offset_seconds" must be a number of seconds (within 10 years)')
            sandbox.clock_offset = float(offset)
        return {"offset_seconds": sandbox.clock_offset, "now": sandbox.now()}

    def settings(request: Request, body: dict[str, Any]) -> Any:
        if request.method == "PUT":
            sandbox.apply_settings(body)
        config = dataclasses.asdict(sandbox.config)
        return {
            k: config[k]
            for k in ("rate_limit", "token_ttl_seconds", "expiry_field", "non_admin_lists", "latency_ms")
        }

    def outbox(request: Request, body: dict[str, Any]) -> Any:
        return {"messages": list(sandbox.state.outbox)}

    table: list[tuple[str, str, _Endpoint]] = [
        ("/sandbox", "GET", index),
        ("/sandbox/credentials", "GET", credentials),
        ("/sandbox/credentials", "POST", new_credential),
        ("/sandbox/credentials/{client_id}/scopes", "PUT", set_scopes),
        ("/sandbox/credentials/{client_id}/revoke", "POST", revoke),
        ("/sandbox/reset", "POST", reset),
        ("/sandbox/users", "GET", users),
        ("/sandbox/requests", "GET", requests),
        ("/sandbox/requests", "DELETE", requests),
        ("/sandbox/faults", "GET", faults),
        ("/sandbox/faults", "PUT", faults),
        ("/sandbox/clock", "GET", clock),
        ("/sandbox/clock", "PUT", clock),
        ("/sandbox/settings", "GET", settings),
        ("/sandbox/settings", "PUT", settings),
        ("/sandbox/outbox", "GET", outbox),
    ]

    def endpoint(handler: _Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            expected = sandbox.state.control_token.encode()
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
                return answer(
                    {"message": "The control plane needs Authorization: Bearer <control token>"}, 401
                )
            raw = await request.body()
            try:
                body = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError:
                body = None
            if not isinstance(body, dict):
                return answer({"message": "The body must be a JSON object"}, 400)
            try:
                with sandbox.lock:
                    result = handler(request, body)
            except GreenhouseSandboxError as exc:
                return answer({"message": str(exc)}, 400)
            return answer(result)

        return serve

    paths: dict[str, dict[str, _Endpoint]] = {}
    for path, method, handler in table:
        paths.setdefault(path, {})[method] = handler

    def by_method(handlers: dict[str, _Endpoint]) -> Callable[[Request], Awaitable[Response]]:
        served = {m: endpoint(h) for m, h in handlers.items()}

        async def serve(request: Request) -> Response:
            return await served[request.method](request)

        return serve

    return [Route(path, by_method(handlers), methods=list(handlers)) for path, handlers in paths.items()]
