"""The peer attacks from the review, through a real MCP client (in memory): 0 bypasses.

Home gateway plus peers `imac` and `studio`, each with an agent `main` (every OpenClaw gateway has one).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp import Client

from sidecar.mcp import build_server
from sidecar.mirror import Mirror, ServiceStore
from sidecar.peers import PeerLinks, secret_name
from sidecar.policy import Requester, parse_policy
from sidecar.tools import GatewayPool, SessionsService
from tests.fakes import FakeGateway, reply_text
from tests.peers.conftest import serve_peer

pytestmark = pytest.mark.anyio
DIRECT = {
    "imac": {"url": "ws://127.0.0.1:2", "direct": True, "agents": ["pepper"]},
    "studio": {"url": "ws://127.0.0.1:3", "direct": True, "agents": ["ultron"]},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def text(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "text", None))


def rig(entries: dict[str, Any], peers: dict[str, Any] | None = None, agent: str = "main") -> Any:
    gateways = {
        "home": FakeGateway(agents=["main", "lead", "dev-1", "dev-2"]),
        "imac": FakeGateway(agents=["main", "pepper"]),
        "studio": FakeGateway(agents=["main", "ultron"]),
    }
    for gw in gateways.values():
        for a in gw.agents:
            gw.histories[f"agent:{a}:main"] = [{"role": "assistant", "content": f"private {a}"}]
            gw.histories[f"agent:{a}:work"] = []
    policy = parse_policy(
        json.dumps(
            {"gateway": {"name": "macbook", "peers": peers or DIRECT}, "agents": {"entries": entries}}
        ),
        "macbook.json5",
    )
    mirror = Mirror.memory()
    for name, gw in gateways.items():
        mirror.set_agents(name, gw.agents)

    async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
        return gateways[name]

    pool = GatewayPool("ws://127.0.0.1:1", policy.peers, connect)
    for name, gw in gateways.items():
        pool.learn_agents(name, gw.agents)
    service = SessionsService(policy, Requester.of(agent), ServiceStore(mirror), pool)
    return build_server(service), gateways, mirror


def peer_calls(gateways: dict[str, FakeGateway]) -> list[Any]:
    return [c for name in ("imac", "studio") for c in gateways[name].calls if c[0] != "agents.list"]


async def test_the_gateway_argument_does_not_make_a_peers_main_the_same_agent() -> None:
    server, gateways, _ = rig(
        {"main": {"tools": {"sessions": {"visibility": "agent"}, "agentToAgent": {"enabled": False}}}}
    )
    async with Client(server) as client:
        with anyio.fail_after(30):
            read = await client.call_tool("sessions_history", {"sessionKey": "current", "gateway": "imac"})
            sent = await client.call_tool(
                "sessions_send", {"sessionKey": "agent:main:work", "gateway": "imac", "message": "x"}
            )
    assert read.is_error and "[gate: visibility]" in text(read)
    assert sent.is_error and "[gate: visibility]" in text(sent)
    assert peer_calls(gateways) == []


async def test_visibility_self_cannot_spawn_on_a_peers_main() -> None:
    server, gateways, _ = rig({"main": {"tools": {"sessions": {"visibility": "self"}}}})
    async with Client(server) as client:
        with anyio.fail_after(30):
            spawned = await client.call_tool("sessions_spawn", {"task": "t", "gateway": "imac"})
            own = await client.call_tool("sessions_spawn", {"task": "t"})
    assert spawned.is_error and "[gate: spawn-allow]" in text(spawned) and "main@imac" in text(spawned)
    assert not own.is_error
    assert peer_calls(gateways) == []


async def test_a_gateway_that_does_not_hold_the_agent_is_an_unknown_target() -> None:
    server, gateways, _ = rig(
        {"main": {"tools": {"sessions": {"visibility": "all"}}, "subagents": {"allowAgents": ["*"]}}}
    )
    async with Client(server) as client:
        with anyio.fail_after(30):
            sent = await client.call_tool(
                "sessions_send", {"sessionKey": "agent:pepper:main", "gateway": "studio", "message": "x"}
            )
            spawned = await client.call_tool(
                "sessions_spawn", {"task": "t", "agentId": "ultron", "gateway": "imac"}
            )
    assert (
        sent.is_error and "[gate: unknown-target]" in text(sent) and "not on gateway 'studio'" in text(sent)
    )
    assert spawned.is_error and "[gate: unknown-target]" in text(spawned)
    assert peer_calls(gateways) == []


async def test_a_peer_cannot_re_parent_a_home_session() -> None:
    server, gateways, mirror = rig(
        {
            "lead": {
                "tools": {
                    "sessions": {"visibility": "all"},
                    "agentToAgent": {"enabled": True, "allow": ["dev-1"]},
                }
            },
            "dev-2": {},
        },
        agent="lead",
    )
    child = "agent:dev-2:subagent:x"
    gateways["home"].histories[child] = [{"role": "assistant", "content": "dev-2's secret"}]
    ServiceStore(mirror).upsert({"key": child, "updatedAt": 2}, "home")
    # imac reports the same key as a child of agent:lead:main (imac's own lead, if anything).
    ServiceStore(mirror).upsert({"key": child, "spawnedBy": "agent:lead:main", "updatedAt": 3}, "imac")
    async with Client(server) as client:
        with anyio.fail_after(30):
            read = await client.call_tool("sessions_history", {"sessionKey": child})
    assert read.is_error and "[gate: allow-list]" in text(read)
    assert not [c for c in gateways["home"].calls if c[0] == "chat.history" and c[1]["sessionKey"] == child]


# -- consent on the receiving side, through the peer protocol ------------------------------------------


async def test_the_receiving_hosts_receives_from_refuses_a_sender_its_own_policy_allows() -> None:
    async with serve_peer() as imac:
        peers = {"imac": {"sidecar": imac.url, "agents": ["pepper", "friday"]}}
        entries = {
            "jarvis": {"tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True}}}
        }
        mirror = Mirror.memory()
        policy = parse_policy(
            json.dumps({"gateway": {"name": "macbook", "peers": peers}, "agents": {"entries": entries}}),
            "macbook.json5",
        )
        home = FakeGateway(agents=["jarvis"])

        async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
            assert name == "home", "a sidecar peer's gateway is never connected to"
            return home

        pool = GatewayPool("ws://127.0.0.1:1", policy.peers, connect)
        links = PeerLinks(policy, {secret_name("imac"): imac.secret}.get)
        service = SessionsService(policy, Requester.of("jarvis"), ServiceStore(mirror), pool, peers=links)
        async with Client(build_server(service)) as client:
            with anyio.fail_after(60):
                allowed = await client.call_tool(
                    "sessions_send",
                    {"sessionKey": "agent:pepper:main", "message": "hi pepper", "timeoutSeconds": 5},
                )
                refused = await client.call_tool(
                    "sessions_send", {"sessionKey": "agent:friday:main", "message": "hi friday"}
                )
                read = await client.call_tool("sessions_history", {"sessionKey": "agent:pepper:main"})
                listed = await client.call_tool("sessions_list", {"gateway": "imac"})
    assert not allowed.is_error, text(allowed)
    assert reply_text(allowed.structured_content) == "echo: hi pepper"
    assert allowed.structured_content["delivery"] == {"status": "delivered", "mode": "peer"}
    assert refused.is_error and "[gate: receives-from]" in text(refused)
    assert (
        "imac refused it" in text(refused)
        and "imac.json5" in text(refused)
        and "jarvis@macbook" in text(refused)
    )
    assert not read.is_error and read.structured_content["gateway"] == "imac"
    assert {r["key"] for r in listed.structured_content["sessions"]} <= {"agent:pepper:main"}
    runs = [p["idempotencyKey"] for m, p in imac.gateway.calls if m == "agent"]
    [entry] = [e for e in mirror.outbox.pending()] or [None]  # nothing left pending here
    assert entry is None and len(runs) == 1
    assert allowed.structured_content["runId"] == runs[0]  # the same key end to end
