"""The real gateway accepts a request frame carrying the caller's W3C traceparent and runs it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from sidecar import telemetry
from sidecar.gateway import GatewayClient, TokenStore
from sidecar.secrets import KeyringSecretStore

trace_sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
pytestmark = [pytest.mark.anyio, pytest.mark.gateway]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def tracing() -> Iterator[Any]:
    provider = trace_sdk.TracerProvider()
    telemetry.enable(provider)
    try:
        yield provider.get_tracer("test")
    finally:
        telemetry.disable()


async def test_an_agent_run_started_inside_a_span_carries_its_traceparent_and_completes(
    openclaw_gateway: Any, tracing: Any
) -> None:
    gw = openclaw_gateway
    store = TokenStore(KeyringSecretStore())
    agent = f"trace-{os.getpid()}"
    identity = await store.identity(gw.url, agent)
    with anyio.fail_after(120):
        async with GatewayClient(gw.url, identity, store, agent, shared_token=gw.token) as client:
            with tracing.start_as_current_span("sidecar sessions_send") as span:
                sent = telemetry.traceparent()
                accepted = await client.agent(
                    {
                        "agentId": "main",
                        "sessionKey": "agent:main:main",
                        "message": "traced",
                        "deliver": False,
                    }
                )
            final = await client.agent_final(accepted, timeout=90)
    ctx = span.get_span_context()
    assert sent == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
    assert final["status"] == "ok"
