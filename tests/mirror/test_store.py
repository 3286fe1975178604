"""ServiceStore: the mirror as `sidecar.tools`'s Store, alone and under the real SessionsService."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.mirror import Mirror, ServiceStore, SessionRow
from sidecar.policy import Requester, parse_policy
from sidecar.tools import SessionsService
from sidecar.tools._routing import GatewayPool
from tests.fakes import FakeGateway

SECRET = "MIRROR-STORE-SECRET-BODY"
REPO = Path(__file__).resolve().parents[2]


def test_rows_are_tool_rows_newest_first_naming_agent_and_gateway(fresh_db: Mirror) -> None:
    store = ServiceStore(fresh_db)
    store.upsert({"key": "agent:dev-1:main", "agentId": "dev-1", "updatedAt": 5, "kind": "direct"}, "home")
    store.upsert({"key": "agent:lead:main", "updatedAt": 9, "lastMessagePreview": "never"}, "home")
    assert store.rows() == [
        {"key": "agent:lead:main", "updatedAt": 9, "agent": "lead", "gateway": "home"},
        {"key": "agent:dev-1:main", "kind": "direct", "updatedAt": 5, "agent": "dev-1", "gateway": "home"},
    ]
    assert store.get("agent:dev-1:main") == store.rows()[1]
    assert store.get("agent:ghost:main") is None
    assert store.rows("studio") == []


def test_the_outbox_begins_once_per_key_and_finishes_without_the_body(fresh_db: Mirror) -> None:
    store = ServiceStore(fresh_db)
    fields = {"requester": "agent:lead:main", "target": "agent:dev-1:main", "gateway": "home", "body": SECRET}
    first = store.outbox_begin("idem", **fields, hop=0, trace_id="t", created_at=100.0)
    assert (first["status"], first["attempts"], first["created_at"], first["send_id"]) == (
        "pending",
        1,
        100.0,
        "idem",
    )
    store.outbox_finish("idem", "delivered", run_id="run-1")
    again = store.outbox_begin("idem", **fields)
    assert (again["status"], again["body"], again["attempts"], again["run_id"]) == (
        "delivered",
        None,
        1,
        "run-1",
    )
    store.outbox_finish("idem", "failed", error="late")  # already finished: nothing changes
    entry = fresh_db.outbox.get("idem")
    assert entry is not None and entry.status == "delivered"
    store.outbox_begin("other", **fields)
    with pytest.raises(ValueError, match="delivered or failed"):
        store.outbox_finish("other", "lost")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_service_sends_and_spawns_over_the_mirror(fresh_db: Mirror, anyio_backend: str) -> None:
    hierarchy = json.loads((REPO / "scenarios" / "hierarchy.json").read_text("utf-8"))
    agents = sorted(parse_policy(json.dumps(hierarchy["policy"]), "h.json5").agent_ids)
    gw = FakeGateway(agents=agents)
    fresh_db.set_agents("home", agents)
    for agent in agents:
        gw.histories[f"agent:{agent}:main"] = []
        fresh_db.apply([SessionRow(key=f"agent:{agent}:main", gateway="home", agent=agent, seen_at=1.0)])

    async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
        return gw

    policy = parse_policy(json.dumps(hierarchy["policy"]), "hierarchy.json5")
    service = SessionsService(
        policy, Requester.of("lead"), ServiceStore(fresh_db), GatewayPool("ws://127.0.0.1:1", (), connect)
    )

    sent = await service.sessions_send(session_key="agent:dev-1:main", message=SECRET, timeout_seconds=0)
    assert sent["status"] == "accepted"
    [entry] = [e for e in (fresh_db.outbox.get(sent["runId"]),) if e is not None]
    assert (entry.status, entry.body, entry.attempts) == ("delivered", None, 1)

    spawned = await service.sessions_spawn(task="count to three")
    child = spawned["childSessionKey"]
    assert fresh_db.view.parent_of(child) == "agent:lead:main"
    assert fresh_db.view.active_children("agent:lead:main") == 1

    logged = fresh_db.decisions.recent()
    assert {(d.tool, d.outcome) for d in logged} >= {
        ("sessions_send", "allowed"),
        ("sessions_spawn", "allowed"),
    }
    assert SECRET not in "\n".join(fresh_db.db.conn.iterdump())
