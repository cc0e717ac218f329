"""The service as one ASGI app: components, health, metrics, the status API and the dashboard.

    service = Service(load_settings(), Store.open())
    uvicorn.run(service.app)        # or thresher.serve.run(...), which adds SIGTERM handling

Defining the app is separate from running it (docs/architecture.md, house style 5); the tests
drive ``service.app`` in-process or run ``thresher serve`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from thresher._errors import ThresherError
from thresher.connections import ResolvedConnection, open_client, resolve
from thresher.harvest import RequestRecord
from thresher.mcp import MCP_TOKEN_PREFIX, McpTokens
from thresher.provision import WriteThrough
from thresher.scim import DeleteMode, ScimBridge, TokenStore
from thresher.store import ScimTokens, ServeRecords, Store, StoreError

from . import _api, _dashboard
from ._auth import AdminAuth
from ._components import Component, Health, discover
from ._feed import EventTail
from ._mcp import PATH as MCP_PATH
from ._mcp import mcp_component
from ._metrics import CONTENT_TYPE_LATEST, Metrics
from ._observe import KeepPeer, RequestIds
from ._scheduler import Scheduler
from ._settings import ServeSettings
from ._status import connection_status
from ._telemetry import Telemetry
from ._usage import TokenUsage, UsageRecorder

__all__ = ["Service"]

log = logging.getLogger("thresher.serve")
STATIC = Path(__file__).parent / "static"
#: The public start of every SCIM token (thresher.scim's tokens module): names it in the usage counts.
SCIM_TOKEN_PREFIX = "thscim_"  # noqa: S105 - a prefix, not a secret
_AREAS = ("scim", "mcp", "api", "metrics", "healthz", "readyz", "static", "events")


class Service:
    """Everything one ``serve`` process runs; ``app`` is the ASGI app."""

    def __init__(
        self,
        settings: ServeSettings,
        store: Store,
        *,
        resolved: dict[str, ResolvedConnection] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        components: Sequence[Component] = (),
        tick: float | None = None,
        feed_poll: float = 1.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.records = ServeRecords(store)
        self.metrics = Metrics()
        self.usage = UsageRecorder(self.records)
        self.auth = AdminAuth(self.records, session_hours=settings.dashboard.session_hours)
        self.scheduler = Scheduler(
            store, settings, self.metrics, self.usage, resolved=resolved, transport=transport, tick=tick
        )
        self.feed = EventTail(store, self.metrics, poll=feed_poll)
        self.stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scim_names: dict[str, str] = {}
        self._mcp_names: dict[str, str] = {}
        self._transport = transport
        #: The OAuth token endpoint's transport (the tests' in-process sandbox); None: real HTTP.
        self.oauth_transport = transport
        self._resolved = resolved or {}
        self.scim_connection: str | None = None
        background = settings.background
        self.components: list[Component] = [
            # Without background work (workers sync instead) readiness still checks freshness:
            # the workers record their runs in the same table (thresher.jobs).
            Component("scheduler", task=self._scheduler_task if background else None,
                      health=self._sync_health),
            *([Component("token-refresh", task=self.scheduler.refresh_tokens),
               Component("headroom", task=self.scheduler.sample_headroom)] if background else []),
            Component("feed", task=self.feed.run),
            Component("usage", task=self.usage.run),
        ]
        scim = self._scim_component()
        if scim is not None:
            self.components.append(scim)
        mcp = self._mcp_component()
        if mcp is not None:
            self.components.append(mcp)
        # Without background work the workers deliver webhooks too (thresher.jobs, queue
        # ``webhooks``): a dispatcher here would send beside them (docs/scale-out.md).
        self.components += [c for c in discover(store, self.metrics) if background or c.name != "webhooks"]
        self.components += list(components)
        #: OpenTelemetry export, when ``[telemetry] otlp_endpoint`` is set.
        self.telemetry = Telemetry(settings.telemetry) if settings.telemetry.otlp_endpoint else None
        if self.telemetry is not None:
            self.scheduler.on_run = self.telemetry.record_run
        starlette = self._starlette()
        inner: ASGIApp = starlette
        if self.telemetry is not None:
            inner = self.telemetry.wrap(starlette, lambda: starlette.routes)
        outer: ASGIApp = RequestIds(inner, on_response=self._count_response)
        if settings.proxy_headers:
            # Applied here rather than by uvicorn, so the peer is kept before the headers replace
            # it (KeepPeer), and the in-process app behaves as the served one.
            # (uvicorn types ASGI apps more narrowly than Starlette: same protocol, other names.)
            typed: Any = outer
            trusted = list(settings.dashboard.trusted_proxies)
            proxied: Any = ProxyHeadersMiddleware(typed, trusted_hosts=trusted)
            outer = proxied
        self.app = KeepPeer(outer)

    # -- the app -----------------------------------------------------------------------------

    def _starlette(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/healthz", self.healthz, methods=["GET", "HEAD"]),
            Route("/readyz", self.readyz, methods=["GET", "HEAD"]),
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            *_api.routes(self),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ]
        for component in self.components:
            if component.route is not None:
                routes.append(component.route)
            if component.mount is not None:
                path, app = component.mount
                routes.append(Mount(path, app=app))
        if self.settings.dashboard.enabled:
            routes += _dashboard.routes(self)
        app = Starlette(routes=routes, lifespan=self._lifespan)
        app.state.service = self
        return app

    def _count_response(self, path: str, status: int) -> None:
        first = path.strip("/").split("/", 1)[0]
        self.metrics.http_requests.labels(first if first in _AREAS else "dashboard", str(status)).inc()

    # -- lifespan ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        await asyncio.to_thread(self._refresh_scim_names)
        async with contextlib.AsyncExitStack() as stack:
            for component in self.components:
                if component.lifespan is not None:
                    await stack.enter_async_context(component.lifespan())
            tasks = {
                asyncio.create_task(self._guarded(c), name=c.name): c.name
                for c in self.components if c.task is not None
            }
            log.info("serving; components: %s", ", ".join(c.name for c in self.components))
            try:
                yield
            finally:
                self.stop.set()
                await self._finish(tasks)
                if self.telemetry is not None:
                    await asyncio.to_thread(self.telemetry.shutdown)  # flushes the last spans

    async def _guarded(self, component: Component) -> None:
        assert component.task is not None
        while not self.stop.is_set():
            try:
                await component.task(self.stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # one component failing must not stop the others; it restarts
                log.exception("component %s failed; restarting it in 5 s", component.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 5.0)

    async def _finish(self, tasks: dict[asyncio.Task[None], str]) -> None:
        """Give background work the shutdown timeout to finish, then cancel what is left (a
        cancelled sync keeps its committed pages; the next run resumes from them)."""
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_timeout)
            for task in pending:
                log.warning("%s did not finish within the shutdown timeout; cancelling it", tasks[task])
                if tasks[task] == "scheduler":
                    self.scheduler.cancel_runs()
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(StoreError):
            await asyncio.to_thread(self.usage.flush)
        log.info("stopped")

    def request_stop(self) -> None:
        """Begin shutting down background work and live streams (from a signal handler too)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.stop.set)

    async def _scheduler_task(self, stop: asyncio.Event) -> None:
        await self.scheduler.run(stop)

    # -- SCIM and MCP ------------------------------------------------------------------------

    def _connection_for(self, name: str | None, part: str, key: str) -> ResolvedConnection | None:
        """The connection a part serves: ``name``, else the default; None (logged) if none."""
        try:
            if name is not None:
                return self._resolved.get(name) or self.scheduler.resolved(name)
            if self._resolved:
                return next(iter(self._resolved.values()))
            return resolve(self.store, None)
        except ThresherError as exc:
            # No connection yet, or several and none is the default: the rest still serves.
            log.warning("%s off: %s (set [%s] connection = NAME)", part, exc, key)
            return None

    def _harvest_hook(self, connection_name: str) -> Callable[[RequestRecord], None]:
        def hook(record: RequestRecord) -> None:
            self.metrics.harvest_request(connection_name, record)
            self.usage.count("harvest", connection_name, record.status_code)

        return hook

    def _mcp_component(self) -> Component | None:
        options = self.settings.mcp
        if not options.enabled:
            return None
        wanted = options.connection or self.settings.scim.connection
        resolved = self._connection_for(wanted, "MCP server", "mcp")
        if resolved is None:
            return None
        name = resolved.connection.name
        component, app = mcp_component(
            self.store, resolved, self.metrics, self._harvest_hook(name),
            max_age=options.max_age or self.settings.schedule(name)[2],
            read_only=options.read_only, host=self.settings.host, transport=self._transport,
        )
        counted = TokenUsage(app, self.usage, self._mcp_names, prefix=MCP_TOKEN_PREFIX, channel="mcp")
        component.route = Route(MCP_PATH, endpoint=counted, name="mcp")
        return component

    def _scim_component(self) -> Component | None:
        if not self.settings.scim.enabled:
            return None
        resolved = self._connection_for(self.settings.scim.connection, "SCIM bridge", "scim")
        if resolved is None:
            return None
        connection_name = resolved.connection.name
        self.scim_connection = connection_name
        hook = self._harvest_hook(connection_name)
        client = open_client(self.store, resolved, transport=self._transport, on_request=hook)
        bridge = ScimBridge(
            WriteThrough(client, self.store, resolved.connection),
            TokenStore(self.store),
            delete_mode=DeleteMode(self.settings.scim.delete_mode),
            close_client=True,
        )
        scim_app: Any = bridge.scim  # scim2-server types its ASGI callable with plain dicts

        def count(token: str, status: int) -> None:
            self.metrics.scim_requests.labels(token, str(status)).inc()

        app = TokenUsage(scim_app, self.usage, self._scim_names, prefix=SCIM_TOKEN_PREFIX,
                         channel="scim", on_answer=count)
        return Component("scim", mount=("/scim", app), lifespan=bridge.lifespan, task=self._scim_names_task)

    def _refresh_scim_names(self) -> None:
        """Token key -> name, for the usage counts (SCIM and MCP tokens are rows of one table)."""
        scim = {t.key: t.name for t in ScimTokens(self.store).list_tokens(include_revoked=True)}
        mcp = {t.key: t.name for t in McpTokens(self.store).list_tokens(include_revoked=True)}
        for names, fresh in ((self._scim_names, scim), (self._mcp_names, mcp)):
            names.clear()
            names.update(fresh)

    async def _scim_names_task(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 15.0)
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self._refresh_scim_names)

    # -- health and metrics ------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _sync_health(self) -> Health:
        statuses = await asyncio.to_thread(connection_status, self.store, self.scheduler)
        late = [
            _why_late(s) for s in statuses
            if s["enabled"] and s["health"] in ("lagging", "never", "failing")
        ]
        if late:
            return False, "not synced within max_lag: " + "; ".join(late)
        return True, f"{len(statuses)} connection(s) fresh"

    async def readyz(self, request: Request) -> Response:
        """Store reachable, schema at head, every connection's last good sync recent enough."""
        checks: dict[str, dict[str, Any]] = {}
        try:
            current = await asyncio.to_thread(self.store.current_revision)
            checks["store"] = {"ok": True, "detail": self.store.dialect}
            head = Store.head_revision()
            checks["migrations"] = {"ok": current == head, "detail": f"at {current}, head {head}"}
        except StoreError as exc:
            checks["store"] = {"ok": False, "detail": str(exc)}
        if checks["store"]["ok"]:
            for component in self.components:
                if component.health is None:
                    continue
                try:
                    ok, detail = await component.health()
                except Exception as exc:
                    ok, detail = False, str(exc)
                checks[component.name] = {"ok": ok, "detail": detail}
        ready = all(c["ok"] for c in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    def _update_lag(self) -> None:
        now = dt.datetime.now(dt.UTC)
        names = {c.id: c.name for c in self.store.list_connections()}
        for connection_id, (_, last_ok) in self.records.last_runs().items():
            if last_ok is not None and connection_id in names:
                lag = (now - last_ok.started_at).total_seconds()
                self.metrics.sync_lag.labels(names[connection_id]).set(lag)

    def _update_jobs(self) -> None:
        from thresher.jobs import JobsError, queue_gauges  # noqa: PLC0415 - only without background

        with contextlib.suppress(JobsError):
            for name, value in queue_gauges(self.store).items():
                self.metrics.jobs.labels(name).set(value)

    async def metrics_endpoint(self, request: Request) -> Response:
        with contextlib.suppress(StoreError):
            await asyncio.to_thread(self._update_lag)
            if not self.settings.background and self.store.dialect == "postgresql":
                await asyncio.to_thread(self._update_jobs)
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _why_late(status: dict[str, Any]) -> str:
    """One connection's reason to fail /readyz, naming it (``acme: last good sync 7260 s ago``)."""
    name, health, max_lag = status["name"], status["health"], status["max_lag_s"]
    if health == "never":
        return f"{name}: never synced"
    if health == "failing":
        error = (status["last_sync"] or {}).get("error") or "no reason recorded"
        return f"{name}: its last sync failed ({error})"
    return f"{name}: last good sync {status['lag_s']:.0f} s ago, over max_lag {max_lag:.0f} s"
