"""OpenTelemetry: off by default at no cost; on, a span per tool call with decision, forward and wait
children, joined to the client's `_meta` traceparent, and decision metrics by tool, outcome and gate."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from sidecar import telemetry
from sidecar.gateway._frames import RequestFrame
from sidecar.mcp import build_server
from sidecar.policy import Requester, parse_policy
from sidecar.tools import GatewayPool, SessionsService
from tests.fakes import FakeGateway, MemoryStore

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
if sdk is None and os.environ.get("CI"):  # pragma: no cover
    pytest.fail("CI installs the otel extra")
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[1]
HIERARCHY = json.loads((REPO / "scenarios" / "hierarchy.json").read_text("utf-8"))
AGENTS = ["manager", "lead", "dev-1", "dev-2", "dev-3", "dev-4", "dev-5", "hr", "finance", "research"]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def otel() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    telemetry.enable(tracer_provider, MeterProvider(metric_readers=[metrics]))
    try:
        yield spans, metrics
    finally:
        telemetry.disable()


def server_for(agent: str) -> tuple[Any, FakeGateway]:
    gw = FakeGateway(agents=AGENTS)
    store = MemoryStore(agents=frozenset(AGENTS))
    for a in AGENTS:
        gw.histories.setdefault(f"agent:{a}:main", [])
        store.upsert({"key": f"agent:{a}:main", "updatedAt": 1, "kind": "other"}, "home")

    async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
        return gw

    policy = parse_policy(json.dumps(HIERARCHY["policy"]), "hierarchy.json5")
    service = SessionsService(
        policy, Requester.of(agent), store, GatewayPool("ws://127.0.0.1:1", (), connect)
    )
    return build_server(service), gw


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        found.setdefault(span.name, []).append(span)
    return found


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    ]


async def test_a_send_is_one_span_with_decision_forward_and_wait_children_in_the_clients_trace(otel) -> None:  # type: ignore[no-untyped-def]
    spans, metrics = otel
    server, _ = server_for("lead")
    meta = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    async with Client(server) as client:
        with anyio.fail_after(10):
            result = await client.call_tool(
                "sessions_send", {"sessionKey": "agent:dev-1:main", "message": "status?"}, meta=meta
            )
    assert not result.is_error
    named = by_name(spans.get_finished_spans())
    [call] = named["sidecar sessions_send"]
    assert f"{call.context.trace_id:032x}" == TRACE_ID
    assert call.parent is not None and f"{call.parent.span_id:016x}" == PARENT_ID
    assert call.attributes is not None and call.attributes["sidecar.requester"] == "lead"
    children = {
        s.name for s in spans.get_finished_spans() if s.parent and s.parent.span_id == call.context.span_id
    }
    assert {"sidecar.decide", "sidecar.forward", "sidecar.wait"} <= children
    [decide] = named["sidecar.decide"]
    assert decide.attributes is not None
    assert (decide.attributes["sidecar.outcome"], decide.attributes["sidecar.gate"]) == ("allowed", "none")
    [count] = points(metrics, "sidecar.decisions")
    assert count.value == 1 and dict(count.attributes) == {
        "sidecar.tool": "sessions_send", "sidecar.outcome": "allowed", "sidecar.gate": "none"
    }  # fmt: skip
    [latency] = points(metrics, "sidecar.decision.duration")
    assert latency.count == 1 and latency.sum > 0
    assert points(metrics, "sidecar.tool.duration")[0].count == 1


async def test_a_denial_is_counted_by_its_gate_and_the_tool_span_records_it(otel) -> None:  # type: ignore[no-untyped-def]
    spans, metrics = otel
    server, gw = server_for("lead")
    async with Client(server) as client:
        with anyio.fail_after(10):
            result = await client.call_tool("sessions_send", {"sessionKey": "agent:hr:main", "message": "hi"})
    assert result.is_error and not [m for m, _ in gw.calls if m == "agent"]
    named = by_name(spans.get_finished_spans())
    assert "sidecar.forward" not in named
    [decide] = named["sidecar.decide"]
    assert decide.attributes is not None and decide.attributes["sidecar.gate"] == "visibility"
    [count] = points(metrics, "sidecar.decisions")
    assert dict(count.attributes)["sidecar.outcome"] == "denied"
    assert dict(count.attributes)["sidecar.gate"] == "visibility"


async def test_gateway_requests_carry_the_current_traceparent(otel) -> None:  # type: ignore[no-untyped-def]
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("outer") as outer:
        tp = telemetry.traceparent()
    ctx = outer.get_span_context()
    assert tp == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
    frame = json.loads(RequestFrame("1", "agent", {"message": "x"}, tp).encode())
    assert frame["traceparent"] == tp


async def test_off_by_default_every_hook_is_a_shared_no_op_and_no_frame_changes() -> None:
    assert not telemetry.enabled()
    assert telemetry.span("x") is telemetry.span("y")
    assert telemetry.tool_call("sessions_send", "lead") is telemetry.span("z")
    assert telemetry.traceparent() is None
    assert "traceparent" not in json.loads(RequestFrame("1", "agent", {}).encode())
    server, _ = server_for("lead")
    async with Client(server) as client:
        with anyio.fail_after(10):
            result = await client.call_tool(
                "sessions_send", {"sessionKey": "agent:dev-1:main", "message": "x"}
            )
    assert not result.is_error


def test_the_real_otlp_exporters_deliver_spans_and_metrics_to_an_otlp_http_receiver(tmp_path: Path) -> None:
    """No OpenTelemetry Collector installs from PyPI, npm or Debian, so the receiver is a loopback
    OTLP/HTTP endpoint decoding the protobuf wire format with the official opentelemetry-proto."""
    import http.server
    import subprocess
    import sys
    import threading

    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received: dict[str, list[bytes]] = {"/v1/traces": [], "/v1/metrics": []}

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.setdefault(self.path, []).append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{httpd.server_address[1]}",
            "NO_PROXY": "127.0.0.1",
            "no_proxy": "127.0.0.1",
        }
        tp = f"00-{TRACE_ID}-{PARENT_ID}-01"
        done = subprocess.run(
            [sys.executable, str(REPO / "tests" / "otlp_run.py"), tp],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        httpd.shutdown()
        httpd.server_close()
    spans = []
    for body in received["/v1/traces"]:
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            service = {a.key: a.value.string_value for a in rs.resource.attributes}
            assert (
                service["service.name"] == "openclaw-sessions-sidecar" and service["sidecar.agent"] == "lead"
            )
            spans += [s for ss in rs.scope_spans for s in ss.spans]
    names = [s.name for s in spans]
    assert names.count("sidecar sessions_send") == 2 and names.count("sidecar.decide") == 2
    assert "sidecar.forward" in names and "sidecar.wait" in names
    joined = [s for s in spans if s.name == "sidecar sessions_send" and s.trace_id.hex() == TRACE_ID]
    assert len(joined) == 1
    metric_names = {
        m.name
        for body in received["/v1/metrics"]
        for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert {"sidecar.decisions", "sidecar.decision.duration", "sidecar.tool.duration"} <= metric_names
