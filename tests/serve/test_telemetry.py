"""OpenTelemetry export of a ``thresher serve`` subprocess to a local OTLP/HTTP receiver.

The receiver is a small app on 127.0.0.1 that keeps every protobuf body posted to it; the test
decodes them with ``opentelemetry-proto``, as a collector would.
"""

from __future__ import annotations

import gzip
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thresher._serving import serve_in_thread
from thresher.serve import ServeConfigError, ServeSettings, Service
from thresher.store import Store

from .conftest import ServeSetup, start_serve, wait_for

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


class Receiver:
    """What an OTLP/HTTP collector was sent, by signal."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.lock = threading.Lock()

    async def _body(self, request: Request) -> bytes:
        body = await request.body()
        return gzip.decompress(body) if request.headers.get("content-encoding") == "gzip" else body

    async def post_traces(self, request: Request) -> Response:
        message = ExportTraceServiceRequest.FromString(await self._body(request))
        with self.lock:
            self.traces.append(message)
        return Response(ExportTraceServiceResponse().SerializeToString(),
                        media_type="application/x-protobuf")

    async def post_metrics(self, request: Request) -> Response:
        message = ExportMetricsServiceRequest.FromString(await self._body(request))
        with self.lock:
            self.metrics.append(message)
        return Response(ExportMetricsServiceResponse().SerializeToString(),
                        media_type="application/x-protobuf")

    def spans(self) -> list[Any]:
        with self.lock:
            batches = list(self.traces)
        return [span for batch in batches for rs in batch.resource_spans
                for ss in rs.scope_spans for span in ss.spans]

    def metric_names(self) -> set[str]:
        with self.lock:
            batches = list(self.metrics)
        return {m.name for batch in batches for rm in batch.resource_metrics
                for sm in rm.scope_metrics for m in sm.metrics}


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    found = Receiver()
    app = Starlette(routes=[
        Route("/v1/traces", found.post_traces, methods=["POST"]),
        Route("/v1/metrics", found.post_metrics, methods=["POST"]),
    ])
    with serve_in_thread(app, name="otlp-receiver") as port:
        yield found, port


def _attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


def test_requests_are_exported_as_spans_with_their_route(
    setup: ServeSetup, receiver: tuple[Receiver, int], tmp_path: Path
) -> None:
    found, port = receiver
    config = tmp_path / "thresher.toml"
    config.write_text(
        f'[telemetry]\notlp_endpoint = "http://127.0.0.1:{port}"\nservice_name = "thresher-test"\n'
    )
    serve = start_serve(setup.env, "--config", str(config), "--sync-interval", "1")
    try:
        with serve.client(setup.api_token) as api:
            traceparent = f"00-{TRACE_ID}-b7ad6b7169203331-01"
            answered = api.get("/api/v1/connections/env", headers={"traceparent": traceparent,
                                                                   "X-Request-Id": "otel-test-1"})
            assert answered.status_code == 200, answered.text
            assert api.get("/api/v1/connections/nope").status_code == 404

            def exported() -> list[Any]:
                return [s for s in found.spans() if s.name == "GET /api/v1/connections/{name}"]

            spans: list[Any] = wait_for(lambda: exported() if len(exported()) >= 2 else None, timeout=60,
                             what="the requests' spans at the receiver")
            syncs: list[Any] = wait_for(lambda: [s for s in found.spans() if s.name == "sync env"],
                                        timeout=60, what="a scheduled sync's span")
    finally:
        code = serve.terminate()
    assert code == 0, serve.output
    assert "Traceback" not in serve.output
    by_request = {_attributes(s).get("thresher.request_id"): s for s in spans}
    mine = by_request["otel-test-1"]
    attributes = _attributes(mine)
    assert attributes["http.route"] == "/api/v1/connections/{name}"
    assert attributes["url.path"] == "/api/v1/connections/env"
    assert attributes["http.response.status_code"] == 200
    assert mine.trace_id.hex() == TRACE_ID  # the caller's trace continued
    assert mine.kind == 2  # SPAN_KIND_SERVER
    statuses = sorted(_attributes(s)["http.response.status_code"] for s in spans)
    assert statuses == [200, 404]
    with found.lock:
        resource = found.traces[0].resource_spans[0].resource
    names = {kv.key: kv.value.string_value for kv in resource.attributes}
    assert names["service.name"] == "thresher-test"
    sync = _attributes(syncs[0])
    assert (sync["thresher.connection"], sync["thresher.sync.outcome"]) == ("env", "ok")
    assert sync["thresher.sync.kind"] in ("full", "incremental")
    assert syncs[0].end_time_unix_nano >= syncs[0].start_time_unix_nano
    # The metrics are flushed at shutdown at the latest.
    assert {"thresher.http.server.requests", "thresher.sync.runs"} <= found.metric_names()
    assert setup.api_token not in str(found.traces)


def test_an_endpoint_without_the_sdk_installed_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    # As if the otel extra were not installed: importing the SDK fails.
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    settings = ServeSettings.model_validate({
        "scim": {"enabled": False}, "telemetry": {"otlp_endpoint": "http://127.0.0.1:4318"},
    })
    with Store.open(sqlite_url) as store, pytest.raises(ServeConfigError) as info:
        Service(settings, store)
    assert "otlp_endpoint" in str(info.value)
    assert "pip install 'thresher[otel]'" in (info.value.hint or "")
