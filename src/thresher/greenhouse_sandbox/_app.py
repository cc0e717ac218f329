"""The ASGI app of the Greenhouse sandbox: ``POST /token`` (auth.greenhouse.io), the user
endpoints under ``/v3`` (harvest.greenhouse.io) and the control plane under ``/sandbox``, on one
port.

Request path for ``/token`` and ``/v3``: faults and latency (``thresher.sandbox.FaultInjector``:
the same seeded spec as the Harvest sandbox), then for ``/v3`` the bearer token, the credential's
rate window (``X-RateLimit-*`` on every answer, 429 with ``Retry-After``), the scope, the Site
Admin rule and the handler, all under the sandbox lock; every request lands in the request log
(no tokens, no query values beyond what the client sent in the URL). Control requests are never
faulted, limited or logged.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ._api import ApiCall, authenticate, handle_v3, rate_headers
from ._control import control_routes
from ._errors import GreenhouseSandboxError
from ._http import JSON, ApiError, answer
from ._sandbox import GreenhouseSandboxConfig, SandboxCore
from ._token import mint_token

__all__ = ["DroppedConnection", "GreenhouseSandbox", "build_app"]

_METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]


class DroppedConnection(Exception):
    """The ``drop`` fault: the connection closes after the status line."""


class _Dropped(Response):
    """The ``drop`` and ``lost`` faults: a status line, then the connection closes (the same
    behaviour as the Harvest sandbox's)."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", b"2048")],
            }
        )
        raise DroppedConnection("sandbox fault: connection dropped")


def _fault_response(action: str | None, status: int) -> Response | None:
    if action == "429":
        return answer({"message": "Too Many Requests"}, 429, {"Retry-After": "1"})
    if action == "status":
        return answer(
            {"message": "Internal Server Error"} if status == 500 else {"message": "Service error"}, status
        )
    return None


def build_app(sandbox: SandboxCore) -> Starlette:
    async def gate(request: Request, kind: str) -> tuple[Response | None, dict[str, Any]]:
        decision = sandbox.draw_fault()
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "fault": decision.label,
        }
        delay = sandbox.config.latency_ms / 1000.0 + decision.delay
        if delay:
            await asyncio.sleep(delay)
        if decision.action == "drop":
            return _Dropped(), entry
        entry["lost"] = decision.action == "lost"
        return _fault_response(decision.action, decision.status), entry

    def finish(response: Response, entry: dict[str, Any], started: float) -> Response:
        if entry.pop("lost", False):
            response = _Dropped()  # processed in full; the answer never leaves
        status = 0 if isinstance(response, _Dropped) else response.status_code
        sandbox.log(
            {**entry, "status": status, "duration_ms": round((time.perf_counter() - started) * 1000, 3)}
        )
        return response

    async def token(request: Request) -> Response:
        started = time.perf_counter()
        refusal, entry = await gate(request, "token")
        if refusal is not None:
            return finish(refusal, entry, started)
        raw = await request.body()
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        with sandbox.lock:
            response = mint_token(sandbox, request.headers.get("authorization"), form)
        return finish(response, {**entry, "kind": "token", "sub": form.get("sub")}, started)

    async def v3(request: Request) -> Response:
        started = time.perf_counter()
        refusal, entry = await gate(request, "api")
        if refusal is not None:
            return finish(refusal, entry, started)
        raw = await request.body()
        headers: dict[str, str] = {}
        try:
            body: dict[str, Any] = {}
            if raw.strip():
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise ApiError(400, {"message": "The request body is not valid JSON"}) from None
                if not isinstance(parsed, dict):
                    raise ApiError(400, {"message": "The request body must be a JSON object"})
                body = parsed
            with sandbox.lock:
                actor, credential = authenticate(sandbox, request.headers.get("authorization"))
                entry.update(sub=actor.id, client_id=credential.client_id)
                headers = rate_headers(sandbox, credential)
                url = request.url
                call = ApiCall(
                    sandbox,
                    request.method,
                    "/" + request.path_params["rest"].strip("/"),
                    request.query_params,
                    body,
                    actor,
                    credential,
                    f"{url.scheme}://{url.netloc}",
                )
                response = handle_v3(call)
        except ApiError as exc:
            response = answer(exc.body, exc.status, {**headers, **exc.headers})
        else:
            response.headers.update(headers)
        return finish(response, entry, started)

    async def not_found(request: Request, exc: Exception) -> Response:
        return answer({"message": "Resource not found"}, 404)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GreenhouseSandboxError)
        return answer({"message": str(exc)}, 400)

    return Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/v3/{rest:path}", v3, methods=_METHODS),
            *control_routes(sandbox),
        ],
        exception_handlers={404: not_found, 405: not_found, GreenhouseSandboxError: refused},
    )


class GreenhouseSandbox(SandboxCore):
    """A local Greenhouse API v3: the token endpoint and the user endpoints, with knobs.

    ``app`` is the ASGI app (``httpx.ASGITransport(app=sandbox.app)`` in-process, or
    ``run_greenhouse_sandbox`` over real HTTP).
    """

    def __init__(self, config: GreenhouseSandboxConfig | None = None) -> None:
        super().__init__(config)
        self.app = build_app(self)
