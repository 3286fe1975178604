"""The host exports the same OpenTelemetry spans as `serve`: one per tool call, named for the caller."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from mcp import Client

from sidecar import telemetry
from sidecar.cli import main
from tests.host.test_app import host_server, signed

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.enable(provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))
    try:
        yield exporter
    finally:
        telemetry.disable()


async def test_an_attested_call_to_the_host_is_a_span_with_its_decision(spans: InMemorySpanExporter) -> None:
    server, _gw, _store, _ = host_server()
    args = {"sessionKey": "agent:dev-1:main", "message": "hi", "timeoutSeconds": 0}
    async with Client(server) as client:
        with anyio.fail_after(10):
            sent = await client.call_tool("sessions_send", signed("agent:lead:main", "sessions_send", args))
    assert not sent.is_error
    names = [s.name for s in spans.get_finished_spans()]
    assert "sidecar sessions_send" in names and "sidecar.decide" in names


def test_host_and_up_offer_otel(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("host", "up"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--otel" in capsys.readouterr().out
