"""OpenTelemetry export (``[telemetry] otlp_endpoint``): a span per request, request metrics.

Off unless configured; then ``opentelemetry-sdk`` and its OTLP/HTTP exporter (the ``otel`` extra,
``pip install 'thresher[otel]'``) send traces to ``<endpoint>/v1/traces`` and metrics to
``<endpoint>/v1/metrics``, as every OTLP collector accepts them. Scheduled syncs are spans too
(``sync CONNECTION``, with kind, outcome and changes) and in ``thresher.sync.runs`` and
``thresher.sync.duration``. The providers are the service's
own, not the process-wide globals, so an embedding application's telemetry is left alone.

Each request becomes a SERVER span named ``METHOD /route`` (the route's template, e.g.
``/connections/{name}/sync``, never the concrete path's ids), continuing the caller's trace when
it sent a W3C ``traceparent``; its attributes follow the HTTP semantic conventions and add the
request id of the access log. Like the access log, no span carries a query string or a header.
The Prometheus ``/metrics`` endpoint stays the complete set; OTLP carries the request counts and
durations by route and status and the sync runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import ServeConfigError
from ._observe import request_id
from ._scheduler import RunEnded
from ._settings import TelemetrySettings

__all__ = ["Telemetry", "route_of"]


def route_of(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route a request matches (``/scim/{path}`` under a mount), else
    ``(unmatched)``, so span names and metric labels stay few."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            if isinstance(route, Mount):
                return route.path + "/{path}"
            if isinstance(route, Route):
                return route.path
    return "(unmatched)"


class Telemetry:
    """The service's tracer and meter providers and the ASGI middleware that uses them."""

    def __init__(self, settings: TelemetrySettings) -> None:
        assert settings.otlp_endpoint
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
                OTLPMetricExporter,
            )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )
            from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: PLC0415
            from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
            from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
            from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
        except ImportError:
            raise ServeConfigError(
                "telemetry.otlp_endpoint is set but OpenTelemetry's SDK is not installed",
                hint="Install it with: pip install 'thresher[otel]' (or unset telemetry.otlp_endpoint).",
            ) from None
        base = settings.otlp_endpoint.rstrip("/")
        resource = Resource.create({"service.name": settings.service_name})
        self._tracers = TracerProvider(resource=resource)
        self._tracers.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"), schedule_delay_millis=2000)
        )
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics"), export_interval_millis=15_000
        )
        self._meters = MeterProvider(resource=resource, metric_readers=[reader])
        self.tracer = self._tracers.get_tracer("thresher.serve")
        meter = self._meters.get_meter("thresher.serve")
        self.requests = meter.create_counter(
            "thresher.http.server.requests", unit="{request}", description="Requests by route and status."
        )
        self.duration = meter.create_histogram(
            "http.server.request.duration", unit="s", description="Time to answer a request."
        )
        self.sync_runs = meter.create_counter(
            "thresher.sync.runs", unit="{run}", description="Scheduled sync runs by outcome."
        )
        self.sync_duration = meter.create_histogram(
            "thresher.sync.duration", unit="s", description="Time a scheduled sync run took."
        )

    def record_run(self, run: RunEnded) -> None:
        """A scheduled sync as an INTERNAL span of its own trace (``sync CONNECTION``), timed as
        it ran, and in the sync metrics (``Scheduler.on_run``)."""
        from opentelemetry import trace  # noqa: PLC0415 - present when configured

        start = int(run.started.timestamp() * 1e9)
        attributes = {"thresher.connection": run.connection, "thresher.sync.kind": run.kind,
                      "thresher.sync.outcome": run.outcome}
        span = self.tracer.start_span(
            f"sync {run.connection}", kind=trace.SpanKind.INTERNAL, start_time=start,
            attributes={**attributes, "thresher.sync.changes": run.changes},
        )
        if run.outcome == "failed":
            span.set_status(trace.Status(trace.StatusCode.ERROR, run.error))
        span.end(end_time=start + int(run.duration_s * 1e9))
        self.sync_runs.add(1, attributes)
        self.sync_duration.record(run.duration_s, attributes)

    def wrap(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> ASGIApp:
        """``app`` with a span and the request metrics around every HTTP request."""
        return _Traced(app, self, routes)

    def shutdown(self) -> None:
        """Flush what is buffered and stop exporting (the end of the service's lifespan)."""
        self._tracers.shutdown()
        self._meters.shutdown()


class _Traced:
    def __init__(self, app: ASGIApp, telemetry: Telemetry, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.telemetry = telemetry
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import propagate, trace  # noqa: PLC0415 - present when configured

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or []}
        method = scope.get("method", "GET")
        route = route_of(self.routes(), scope)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "http.route": route,
            "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"),
        }
        rid = request_id.get()
        if rid:
            attributes["thresher.request_id"] = rid
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        started = time.perf_counter()
        with self.telemetry.tracer.start_as_current_span(
            f"{method} {route}", kind=trace.SpanKind.SERVER, context=propagate.extract(headers),
            attributes=attributes,
        ) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                span.set_attribute("http.response.status_code", status[0])
                if status[0] >= 500:
                    span.set_status(trace.Status(trace.StatusCode.ERROR))
                labels = {"http.request.method": method, "http.route": route,
                          "http.response.status_code": status[0]}
                self.telemetry.requests.add(1, labels)
                self.telemetry.duration.record(time.perf_counter() - started, labels)
