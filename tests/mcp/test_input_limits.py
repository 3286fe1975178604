"""Input limits and oracles: what OpenClaw sees in the tools' schemas, what the decision log keeps of a
target, and what a label lookup may reveal about sessions the caller cannot see."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from tests.fakes import FakeGateway, MemoryStore
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


def labelled(store: MemoryStore, labels: dict[str, str]) -> None:
    for key, label in labels.items():
        store.upsert({"key": key, "updatedAt": 1, "label": label}, "home")


async def send_by_label(server: Any, label: str) -> Any:
    async with Client(server) as client:
        with anyio.fail_after(5):
            return await client.call_tool(
                "sessions_send", {"label": label, "message": "hi", "timeoutSeconds": 0}
            )


def sent(gw: FakeGateway) -> list[str]:
    return [p["sessionKey"] for m, p in gw.calls if m == "agent"]


NO_SUCH = "No session found with label: {} among the sessions lead may see"


async def test_a_label_on_a_session_the_caller_may_not_see_gets_the_same_error_as_an_unknown_label() -> None:
    server, gw, store = make("lead")
    labelled(store, {"agent:hr:main": "payroll"})
    hidden, unknown = await send_by_label(server, "payroll"), await send_by_label(server, "no-such-label")
    assert hidden.is_error and unknown.is_error
    assert text(hidden).replace("payroll", "X") == text(unknown).replace("no-such-label", "X")
    assert NO_SUCH.format("payroll") in text(hidden) and "hr" not in text(hidden).replace("payroll", "")
    assert sent(gw) == []


async def test_a_label_the_gateway_resolves_to_a_hidden_session_names_neither_the_session_nor_its_agent() -> (
    None
):
    gw = FakeGateway(agents=["lead", "finance"])
    gw.labels["ledger"] = "agent:finance:main"
    server, gw, _ = make("lead", gateway=gw)
    result = await send_by_label(server, "ledger")
    assert result.is_error and NO_SUCH.format("ledger") in text(result)
    assert "finance" not in text(result) and "gate" not in text(result)
    assert sent(gw) == []


async def test_a_label_shared_with_hidden_sessions_resolves_to_the_one_visible_session() -> None:
    server, gw, store = make("lead")
    labelled(
        store, {"agent:hr:main": "standup", "agent:dev-1:main": "standup", "agent:finance:main": "standup"}
    )
    result = await send_by_label(server, "standup")
    assert not result.is_error, text(result)
    assert sent(gw) == ["agent:dev-1:main"]


async def test_a_label_carried_only_by_several_hidden_sessions_does_not_say_multiple() -> None:
    server, gw, store = make("lead")
    labelled(store, {"agent:hr:main": "board", "agent:finance:main": "board"})
    result = await send_by_label(server, "board")
    assert result.is_error and NO_SUCH.format("board") in text(result)
    assert "Multiple" not in text(result) and sent(gw) == []


async def test_a_label_carried_by_several_visible_sessions_asks_for_the_session_key() -> None:
    server, _, store = make("lead")
    labelled(store, {"agent:dev-1:main": "pair", "agent:dev-2:main": "pair"})
    result = await send_by_label(server, "pair")
    assert result.is_error and "Multiple sessions found with label: pair. Pass sessionKey instead." in text(
        result
    )
