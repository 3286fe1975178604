"""Run in a subprocess by test_telemetry: `telemetry.configure` with the real OTLP/HTTP exporters (the
global providers can be set once per process), one tool call through an in-memory MCP client, then
`telemetry.shutdown`, which exports everything batched."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
from mcp import Client

from sidecar import telemetry
from sidecar.mcp import build_server
from sidecar.policy import Requester, parse_policy
from sidecar.tools import GatewayPool, SessionsService
from tests.fakes import FakeGateway, MemoryStore

REPO = Path(__file__).resolve().parents[1]
AGENTS = ["manager", "lead", "dev-1", "dev-2", "dev-3", "dev-4", "dev-5", "hr", "finance", "research"]


async def main(traceparent: str) -> None:
    telemetry.configure("lead")
    gw = FakeGateway(agents=AGENTS)
    store = MemoryStore(agents=frozenset(AGENTS))
    for a in AGENTS:
        gw.histories[f"agent:{a}:main"] = []
        store.upsert({"key": f"agent:{a}:main", "updatedAt": 1, "kind": "other"}, "home")

    async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
        return gw

    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text("utf-8"))
    policy = parse_policy(json.dumps(scenario["policy"]), "hierarchy.json5")
    service = SessionsService(
        policy, Requester.of("lead"), store, GatewayPool("ws://127.0.0.1:1", (), connect)
    )
    async with Client(build_server(service)) as client:
        await client.call_tool(
            "sessions_send",
            {"sessionKey": "agent:dev-1:main", "message": "hi"},
            meta={"traceparent": traceparent},
        )
        await client.call_tool("sessions_send", {"sessionKey": "agent:hr:main", "message": "hi"})
    telemetry.shutdown()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
