"""A request made inside a traced span carries its W3C traceparent in the request frame; none otherwise."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sidecar import telemetry
from sidecar.gateway import Backoff, GatewayClient, TokenStore
from sidecar.secrets import KeyringSecretStore

from .fake_gateway import FakeGateway

trace_sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
pytestmark = pytest.mark.anyio


async def test_requests_inside_a_span_carry_its_traceparent_and_others_do_not(memory_keyring: Any) -> None:
    tokens = TokenStore(KeyringSecretStore())
    provider = trace_sdk.TracerProvider()
    async with FakeGateway() as gw:
        identity = await tokens.identity(gw.url, "dev-1")
        async with GatewayClient(gw.url, identity, tokens, "dev-1", backoff=Backoff(0.01, 0.05)) as client:
            with anyio.fail_after(10):
                await client.request("sessions.list", {"limit": 1})
                telemetry.enable(provider)
                try:
                    with provider.get_tracer("t").start_as_current_span("sidecar sessions_send") as span:
                        await client.request("chat.history", {"sessionKey": "agent:dev-1:main"})
                finally:
                    telemetry.disable()
    ctx = span.get_span_context()
    untraced, traced = gw.requests[-2:]
    assert "traceparent" not in untraced
    assert traced["traceparent"] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
