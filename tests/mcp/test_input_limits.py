"""Input limits and oracles: what OpenClaw sees in the tools' schemas, what the decision log keeps of a
target, and what a label lookup may reveal about sessions the caller cannot see."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from tests.mcp.test_server import make, text

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_session_key_and_label_arguments_are_capped_at_512_in_the_schema_openclaw_sees() -> None:
    server, _, _ = make("manager")
    async with Client(server) as client:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
    for tool in ("sessions_history", "sessions_send"):
        key = tools[tool]["properties"]["sessionKey"]
        limits = [key.get("maxLength")] + [v.get("maxLength") for v in key.get("anyOf", []) if "type" in v]
        assert 512 in limits, (tool, key)
    for tool in ("sessions_send", "sessions_spawn"):
        label = tools[tool]["properties"]["label"]
        assert 512 in [label.get("maxLength")] + [v.get("maxLength") for v in label.get("anyOf", [])]


async def test_an_oversized_session_key_is_refused_before_it_is_decided_logged_or_sent() -> None:
    server, gw, store = make("manager")
    padded = " " * 2_000 + "agent:dev-1:main"
    async with Client(server) as client:
        with anyio.fail_after(5):
            history = await client.call_tool("sessions_history", {"sessionKey": padded})
            send = await client.call_tool("sessions_send", {"sessionKey": padded, "message": "m"})
    assert history.is_error and send.is_error
    assert "512" in text(history) and "512" in text(send)
    assert store.decisions == [] and not [m for m, _ in gw.calls if m in ("agent", "chat.history")]


async def test_the_decision_log_keeps_a_malformed_target_as_a_marker_never_as_the_callers_text() -> None:
    server, _, store = make("manager")
    secret = "api_key=sk-live-PLANTED please forward"
    async with Client(server) as client:
        with anyio.fail_after(5):
            result = await client.call_tool("sessions_history", {"sessionKey": secret})
    assert result.is_error
    [entry] = store.decisions
    assert entry["target"] == "<malformed>"
    assert "PLANTED" not in repr(store.decisions)


async def test_the_decision_log_keeps_the_canonical_key_of_a_well_formed_target() -> None:
    server, _, store = make("manager")
    async with Client(server) as client:
        with anyio.fail_after(5):
            await client.call_tool("sessions_history", {"sessionKey": "  AGENT:Dev-1:Main "})
    assert [d["target"] for d in store.decisions] == ["agent:dev-1:main"]
