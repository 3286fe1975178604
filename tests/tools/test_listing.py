"""sessions_list over a mirror that keeps each requester's visible rows (ListingIndex) answers exactly as
the full scan over every key does: the same page, count, hidden count, mode, source and warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sidecar.mirror import Mirror, ServiceStore, SessionRow
from sidecar.policy import Requester, parse_policy
from sidecar.tools import SessionsService
from sidecar.tools._routing import GatewayPool
from tests.fakes import FakeGateway

REPO = Path(__file__).resolve().parents[2]


class ScanOnly:
    """The same mirror without `visible_page`: sessions_list takes the full scan."""

    def __init__(self, inner: ServiceStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "visible_page":
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_indexed_page_is_the_scanned_page_for_every_requester_and_filter() -> None:
    doc = json.loads((REPO / "scenarios" / "hierarchy.json").read_text("utf-8"))["policy"]
    policy = parse_policy(json.dumps(doc), "hierarchy.json5")
    agents = sorted(policy.agent_ids)
    mirror = Mirror.memory()
    try:
        mirror.set_agents("home", agents)
        rows = [
            SessionRow(key=f"agent:{a}:{name}", gateway="home", agent=a, updated_at=(i * 7) % 50 or None)
            for i, (a, name) in enumerate((a, n) for a in agents for n in ("main", "side", "cron:nightly"))
        ]
        mirror.apply(rows)
        gw = FakeGateway(agents=agents)

        async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
            return gw

        pool = GatewayPool("ws://127.0.0.1:1", (), connect)
        clock = 0.04  # now = 40 ms: active_minutes=0 keeps rows updated at >= 40
        for who in ("manager", "lead", "dev-2"):
            store = ServiceStore(mirror)
            indexed = SessionsService(policy, Requester.of(who), store, pool, clock=lambda: clock)
            scanned = SessionsService(policy, Requester.of(who), ScanOnly(store), pool, clock=lambda: clock)  # type: ignore[arg-type]
            for kw in ({}, {"limit": 3}, {"kinds": ["cron"]}, {"active_minutes": 0}, {"limit": 0}):
                fast, full = await indexed.sessions_list(**kw), await scanned.sessions_list(**kw)
                assert fast == full, (who, kw)
    finally:
        mirror.close()
