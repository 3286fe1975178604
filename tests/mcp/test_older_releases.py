"""The four tools against a gateway of an older release (fake, shaped like OpenClaw 2026.3.13): the
patch-then-run spawn, decisions under that release's semantics, and delivery proven from a key-less
transcript. The same behaviour runs against real 2026.3.13 and 2026.4.12 gateways in tests/e2e."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from mcp import Client

from sidecar.gateway import ADAPTERS, ConnectionLost, ErrorShape, Features, InvalidRequest
from sidecar.mcp._server import build_server
from sidecar.policy import Requester, parse_policy
from sidecar.tools import SessionsService
from tests.fakes import Accepted, FakeGateway, home_fleet, reply_text

pytestmark = pytest.mark.anyio
AGENTS = ["lead", "dev-1"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class OldGateway(FakeGateway):
    """No sessions.create; transcripts without idempotency keys; agent.wait without the reply."""

    features: Features = field(default_factory=lambda: Features("2026.3.13", 3, ADAPTERS["2026.3.13"]))
    drop_after_delivery: int = 0

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any:
        if method == "sessions.create":
            self.calls.append((method, params))
            raise InvalidRequest(method, ErrorShape("INVALID_REQUEST", "unknown method: sessions.create"))
        if method == "sessions.patch":
            self.calls.append((method, params))
            self.histories.setdefault(params["key"], [])
            return {"ok": True, "key": params["key"]}
        answer = await super().request(method, params, timeout=timeout, idempotent=idempotent)
        if method == "agent.wait":
            answer.pop("terminalReply", None)
        return answer

    async def agent(self, params: Any, *, timeout: float | None = None, resend: bool = True) -> Accepted:
        accepted = await super().agent(params, timeout=timeout, resend=resend)
        for message in self.histories.get(params["sessionKey"], []):
            message.pop("idempotencyKey", None)
            message.pop("runId", None)
        if self.drop_after_delivery:
            # The message reached the session, then the connection dropped before the answer came back.
            self.drop_after_delivery -= 1
            self.runs.clear()  # and the gateway restarted: its replay cache is gone
            raise ConnectionLost("gateway connection lost", code=1006)
        return accepted


def make(policy: dict[str, Any], gw: OldGateway, agent: str = "lead") -> Any:
    store, pool = home_fleet(gw, AGENTS)
    pool.learn_release("home", gw.features.version)
    doc = parse_policy(json.dumps(policy), "p.json5")
    return build_server(SessionsService(doc, Requester.of(agent), store, pool))


def text(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "text", None))


OPEN = {
    "tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True}},
    "agents": {"entries": {"lead": {"subagents": {"allowAgents": ["dev-1"]}}, "dev-1": {}}},
}


async def test_a_spawn_without_sessions_create_patches_the_child_then_runs_it_on_the_subagent_lane() -> None:
    gw = OldGateway(agents=AGENTS)
    async with Client(make(OPEN, gw)) as client:
        with anyio.fail_after(5):
            spawned = await client.call_tool(
                "sessions_spawn", {"task": "count", "agentId": "dev-1", "label": "c"}
            )
    assert not spawned.is_error, text(spawned)
    child = spawned.structured_content["childSessionKey"]
    methods = [m for m, _ in gw.calls]
    assert "sessions.create" not in methods
    patch = next(p for m, p in gw.calls if m == "sessions.patch")
    assert patch == {"key": child, "spawnedBy": "agent:lead:main", "spawnDepth": 1, "label": "c"}
    run = next(p for m, p in gw.calls if m == "agent" and p["sessionKey"] == child)
    assert (
        run["lane"] == "subagent" and run["deliver"] is False and "[Subagent Task]: count" in run["message"]
    )
    assert methods.index("sessions.patch") < methods.index("agent")


async def test_decisions_follow_the_gateways_release_defaults_and_strings() -> None:
    bare = {"agents": {"entries": {"lead": {}, "dev-1": {}}}}
    async with Client(make(bare, OldGateway(agents=AGENTS))) as client:
        with anyio.fail_after(5):
            denied = await client.call_tool(
                "sessions_send", {"sessionKey": "agent:dev-1:main", "message": "hi"}
            )
    assert denied.is_error
    assert (
        "Session send visibility is restricted. Set tools.sessions.visibility=all to allow cross-agent access."
        in text(denied)
    )
    assert "use tools.agentToAgent" not in text(denied)
    assert "default (OpenClaw 2026.3.13)" in text(denied)


async def test_a_send_whose_answer_was_lost_is_found_by_its_stamp_and_not_sent_twice() -> None:
    gw = OldGateway(agents=AGENTS, drop_after_delivery=1)
    async with Client(make(OPEN, gw)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool(
                "sessions_send", {"sessionKey": "agent:dev-1:main", "message": "once only"}
            )
    assert not result.is_error, text(result)
    users = [m for m in gw.histories["agent:dev-1:main"] if m["role"] == "user"]
    assert [u["content"].split("\n\n")[0] for u in users] == ["once only"]
    assert "idempotencyKey" not in users[0]
    assert reply_text(result.structured_content) == "echo: once only"
