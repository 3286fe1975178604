"""The live tool surface: a reloaded policy changes the offered tools and clients are told in both protocol
eras; denials carry gate, source and fix as fields; sends report a delivery state the model can act on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ServerNotification, ToolListChangedNotification

from sidecar.mcp._results import DELIVERY_STATES, SendResult, send_result
from sidecar.mcp._server import build_server
from sidecar.policy import Pause, Requester, Usage, parse_policy
from sidecar.tools import SessionsService
from tests.fakes import FakeGateway, home_fleet, reply_text

pytestmark = pytest.mark.anyio
HIERARCHY = json.loads(
    (Path(__file__).resolve().parents[2] / "scenarios" / "hierarchy.json").read_text("utf-8")
)
AGENTS = ["manager", "lead", "dev-1", "dev-2", "dev-3", "dev-4", "dev-5", "hr", "finance", "research"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def service_for(agent: str, policy: dict[str, Any], usage: Usage | None = None) -> SessionsService:
    gw = FakeGateway(agents=AGENTS)
    store, pool = home_fleet(gw, AGENTS)
    return SessionsService(
        parse_policy(json.dumps(policy), "team.json5"),
        Requester.of(agent),
        store,
        pool,
        usage=(lambda tool: usage) if usage is not None else None,
    )


def without_sends(policy: dict[str, Any], agent: str) -> dict[str, Any]:
    changed = json.loads(json.dumps(policy))
    entry = changed["agents"]["entries"][agent]
    entry.setdefault("tools", {})["agentToAgent"] = {"enabled": False}
    entry["tools"].setdefault("sessions", {})["visibility"] = "self"
    return changed


async def test_a_reload_that_removes_send_tells_a_listening_client_and_decides_the_next_call() -> None:
    policy = HIERARCHY["policy"]
    service = service_for("lead", policy)
    server = build_server(service)
    async with Client(server) as client:
        before = {t.name for t in (await client.list_tools()).tools}
        assert "sessions_send" in before
        async with client.listen(tools_list_changed=True) as changes:
            service.adopt(parse_policy(json.dumps(without_sends(policy, "lead")), "team.json5"))
            assert await server.policy_changed() is True
            with anyio.fail_after(2):
                event = await changes.__anext__()
            assert type(event).__name__ == "ToolsListChanged"
        after = {t.name for t in (await client.list_tools()).tools}
        assert "sessions_send" not in after and "sessions_list" in after
        with anyio.fail_after(5):
            result = await client.call_tool(
                "sessions_send", {"sessionKey": "agent:dev-1:main", "message": "hi"}
            )
    assert result.is_error
    assert result.structured_content is None  # an error result never breaks the output schema
    assert result.meta is not None
    assert result.meta["sidecar/denial"]["gate"] in ("visibility", "agent-to-agent")
    assert "team.json5" in str(result.meta["sidecar/denial"]["source"])


async def test_a_handshake_era_client_is_told_too_and_sees_list_changed_in_the_capabilities() -> None:
    policy = HIERARCHY["policy"]
    service = service_for("lead", policy)
    server = build_server(service)
    seen = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ServerNotification) and isinstance(message, ToolListChangedNotification):
            seen.set()

    async with Client(server, mode="legacy", message_handler=on_message) as client:
        caps = client.session.server_capabilities
        assert caps is not None and caps.tools is not None and caps.tools.list_changed is True
        await client.list_tools()
        service.adopt(parse_policy(json.dumps(without_sends(policy, "lead")), "team.json5"))
        await server.policy_changed()
        with anyio.fail_after(2):
            await seen.wait()
        assert "sessions_send" not in {t.name for t in (await client.list_tools()).tools}


async def test_an_unchanged_tool_set_sends_no_notification() -> None:
    service = service_for("lead", HIERARCHY["policy"])
    server = build_server(service)
    service.adopt(parse_policy(json.dumps(HIERARCHY["policy"]), "team.json5"))
    assert await server.policy_changed() is False


async def test_a_paused_agent_is_refused_with_the_reason_as_text_and_fields() -> None:
    paused = Usage(paused=Pause(since=0.0, reason="runaway loop"))
    server = build_server(service_for("lead", HIERARCHY["policy"], paused))
    async with Client(server) as client:
        with anyio.fail_after(5):
            result = await client.call_tool("sessions_list", {})
    assert result.is_error
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert "runaway loop" in text and "[gate: pause]" in text
    assert result.structured_content is None and result.meta is not None
    denial = result.meta["sidecar/denial"]
    assert denial["gate"] == "pause" and denial["denied"] is True
    assert "sidecar resume --agent lead" in str(denial["fix"])


async def test_an_allowed_send_reports_replied_with_the_run_id_and_validates_against_its_schema() -> None:
    server = build_server(service_for("lead", HIERARCHY["policy"]))
    async with Client(server) as client:
        with anyio.fail_after(5):
            result = await client.call_tool(
                "sessions_send", {"sessionKey": "agent:dev-1:main", "message": "hi"}
            )
            fire = await client.call_tool(
                "sessions_send", {"sessionKey": "agent:dev-2:main", "message": "go", "timeoutSeconds": 0}
            )
    assert not result.is_error and result.structured_content is not None
    sent = SendResult.model_validate(result.structured_content)
    assert sent.state == "replied" and reply_text(result.structured_content) == "echo: hi" and sent.runId
    accepted = SendResult.model_validate(fire.structured_content)
    assert accepted.state == "accepted" and "sessions_history" in accepted.next


@pytest.mark.parametrize(
    ("raw", "state", "says"),
    [
        ({"status": "accepted", "delivery": {"status": "accepted"}}, "accepted", "sessions_history"),
        ({"status": "ok", "reply": "done", "delivery": {"status": "delivered"}}, "replied", "reply"),
        ({"status": "ok", "delivery": {"status": "delivered"}}, "delivered", "no visible reply"),
        ({"status": "duplicate", "delivery": {"status": "delivered"}}, "delivered", "do not send it again"),
        ({"status": "interrupted", "delivery": {"status": "delivered"}}, "delivered", "restarted"),
        (
            {"status": "timeout", "error": "no reply within 5s", "delivery": {"status": "delivered"}},
            "timeout",
            "do not send it again",
        ),
        (
            {"status": "error", "error": "model crashed", "delivery": {"status": "delivered"}},
            "failed",
            "model crashed",
        ),
        (
            {"status": "error", "error": "refused", "delivery": {"status": "failed"}},
            "failed",
            "safe to send again",
        ),
    ],
)
def test_every_send_outcome_maps_to_a_delivery_state_and_a_next_step(
    raw: dict[str, Any], state: str, says: str
) -> None:
    result = send_result({"runId": "run-1", "sessionKey": "agent:dev-1:main", "gateway": "home", **raw})
    assert result.state == state and state in DELIVERY_STATES
    assert says in result.next
    if state == "failed":
        assert result.error
