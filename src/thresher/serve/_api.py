"""The JSON status API (``/api/v1``), for platforms and monitoring: bearer tokens with admin
scope (``thresher admin token create``).

    GET  /api/v1/status                      every connection's status (see _status.py)
    GET  /api/v1/connections/{name}          one connection
    POST, GET /api/v1/connections; PATCH, DELETE /api/v1/connections/{name};
    POST /api/v1/connections/{name}/pause|resume: managing connections (_connections_api.py)
    POST /api/v1/connections/{name}/sync     make its sync due now (202)
    GET  /api/v1/changes?after=ID&limit=N    the change feed, oldest first, paged by event id
                                             (&kind=, &connection=); ``next_after`` continues
    GET  /api/v1/runs?connection=&limit=     recent scheduled runs
    GET  /api/v1/webhooks/deliveries         webhook deliveries (when the webhooks part exists)
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from thresher.store import EVENT_KINDS, StoredConnection, StoreError

from ._connections_api import connection_routes
from ._context import ServiceContext
from ._status import connection_status
from ._webhooks import webhook_tables

__all__ = ["routes"]

MAX_PAGE = 500
Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, hint: str | None = None, **headers: str) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status, headers=headers or None)


def routes(service: ServiceContext) -> list[BaseRoute]:
    def guarded(handler: Handler) -> Handler:
        async def check(request: Request) -> Response:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            token = None
            if scheme.lower() == "bearer" and value.strip():
                token = await asyncio.to_thread(service.auth.authenticate, value.strip())
            if token is None:
                return _error(
                    401, "a valid admin API token is required",
                    "Send 'Authorization: Bearer TOKEN' with a token from 'thresher admin token create'.",
                    **{"WWW-Authenticate": 'Bearer realm="thresher"'},
                )
            return await handler(request)

        return check

    def find(name: str) -> StoredConnection | None:
        return service.store.get_connection_or_none(name)

    async def status(request: Request) -> Response:
        statuses = await asyncio.to_thread(connection_status, service.store, service.scheduler)
        return JSONResponse({
            "connections": statuses,
            "components": [c.name for c in service.components],
            "scim_connection": service.scim_connection,
        })

    async def one(request: Request) -> Response:
        name = request.path_params["name"]
        statuses = await asyncio.to_thread(connection_status, service.store, service.scheduler)
        found = next((s for s in statuses if s["name"] == name), None)
        if found is None:
            return _error(404, f"no connection named {name!r}", "GET /api/v1/status lists them.")
        return JSONResponse(found)

    async def sync_now(request: Request) -> Response:
        name = request.path_params["name"]
        connection = await asyncio.to_thread(find, name)
        if connection is None:
            return _error(404, f"no connection named {name!r}", "GET /api/v1/status lists them.")
        await asyncio.to_thread(service.scheduler.sync_now, connection)
        return JSONResponse({"connection": name, "sync": "due now"}, status_code=202)

    async def changes(request: Request) -> Response:
        q = request.query_params
        try:
            after = int(q.get("after", "0"))
            limit = min(max(int(q.get("limit", "100")), 1), MAX_PAGE)
        except ValueError:
            return _error(400, "after and limit must be whole numbers", "e.g. ?after=120&limit=100")
        kind = q.get("kind") or None
        if kind is not None and kind not in EVENT_KINDS:
            return _error(400, f"unknown kind {kind!r}", f"Use one of: {', '.join(EVENT_KINDS)}.")
        connection_id = None
        if q.get("connection"):
            connection = await asyncio.to_thread(find, q["connection"])
            if connection is None:
                return _error(404, f"no connection named {q['connection']!r}")
            connection_id = connection.id

        def read() -> list[dict[str, Any]]:
            events = service.store.list_events(connection_id, since=after, kind=kind, limit=limit + 1)
            return [service.feed.describe(e) for e in events]

        items = await asyncio.to_thread(read)
        more = len(items) > limit
        items = items[:limit]
        return JSONResponse({
            "items": items,
            "next_after": items[-1]["id"] if items else after,
            "has_more": more,
        })

    async def runs(request: Request) -> Response:
        q = request.query_params
        connection_id = None
        if q.get("connection"):
            connection = await asyncio.to_thread(find, q["connection"])
            if connection is None:
                return _error(404, f"no connection named {q['connection']!r}")
            connection_id = connection.id
        limit = min(max(int(q.get("limit", "50") or 50), 1), MAX_PAGE)
        found = await asyncio.to_thread(service.records.recent_runs, connection_id, limit=limit)
        return JSONResponse({"items": [r.as_dict() for r in found]})

    async def deliveries(request: Request) -> Response:
        try:
            tables = await asyncio.to_thread(webhook_tables, service.store, limit=200)
        except StoreError as exc:
            return _error(503, f"cannot read the webhook tables: {exc}")
        if tables is None:
            return _error(404, "webhooks are not part of this thresher yet",
                          "Upgrade thresher to a release with the webhooks part.")
        return JSONResponse(dataclasses.asdict(tables))

    return [
        Route("/api/v1/status", guarded(status), methods=["GET"]),
        Route("/api/v1/connections/{name}", guarded(one), methods=["GET"]),
        Route("/api/v1/connections/{name}/sync", guarded(sync_now), methods=["POST"]),
        Route("/api/v1/changes", guarded(changes), methods=["GET"]),
        Route("/api/v1/runs", guarded(runs), methods=["GET"]),
        Route("/api/v1/webhooks/deliveries", guarded(deliveries), methods=["GET"]),
        *connection_routes(service, guarded),
    ]
