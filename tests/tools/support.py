"""A `SessionsService` over the hierarchy scenario's policy, an in-memory store and a fake gateway."""

from __future__ import annotations

import json
from pathlib import Path

from sidecar.policy import Requester, parse_policy
from sidecar.tools import SessionsService
from tests.fakes import FakeGateway, MemoryStore, home_fleet

HIERARCHY = json.loads(
    (Path(__file__).resolve().parents[2] / "scenarios" / "hierarchy.json").read_text("utf-8")
)
AGENTS = ["manager", "lead", "dev-1", "dev-2", "dev-3", "dev-4", "dev-5", "hr", "finance", "research"]


def service(agent: str, gw: FakeGateway) -> tuple[SessionsService, MemoryStore]:
    """`agent`'s service; every agent's main session exists at the gateway and in the mirror."""
    store, pool = home_fleet(gw, AGENTS)
    policy = parse_policy(json.dumps(HIERARCHY["policy"]), "hierarchy.json5")
    return SessionsService(policy, Requester.of(agent), store, pool), store
