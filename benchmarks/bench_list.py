"""sessions_list in process, without a gateway: the shipped `SessionsService.sessions_list` over a
file-backed mirror of 10k and of 100k gateway-shaped rows, for an `all`, a `scoped` and a `self` requester,
one 100-row page and every row. Before anything is timed, each answer is checked against the full scan
(every key through `filter_sessions`, which is what `sessions_list` did before it kept listings): the same
keys in the same order and the same visibility block.

This is item 4 when no gateway can run (`python -m benchmarks.run --no-gateway`), and it shows what the
kept listing is for: a page costs its rows, whatever the mirror holds. The first call after the mirror is
loaded builds the requester's listing; it is reported apart (item 6 pays it at a restart).
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_mirror import gateway_rows, load
from sidecar.mirror import Mirror, ServiceStore
from sidecar.policy import Requester, parse_policy
from sidecar.tools import SessionsService
from sidecar.tools._routing import HOME, GatewayPool

REPO = Path(__file__).resolve().parents[1]
SIZES = (10_000, 100_000)
REQUESTERS = ("manager", "lead", "dev-2")  # visibility all, scoped, self in the hierarchy scenario


class _Connected:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        return {}

    async def agent(self, *args: Any, **kwargs: Any) -> Any:
        return {}


class _FullScan:
    """The same mirror without its kept listings: sessions_list takes the full scan over every key."""

    def __init__(self, inner: ServiceStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "visible_page":
            raise AttributeError(name)
        return getattr(self._inner, name)


async def _timed(service: SessionsService, limit: int | None, calls: int) -> float:
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        await service.sessions_list(limit=limit)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1e6


async def run(calls: int = 15, seed: int = 7, sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = parse_policy(json.dumps(scenario["policy"]), "hierarchy.json5")
    agents = sorted(policy.agent_ids)

    async def connect(name: str, url: str, insecure: bool) -> _Connected:
        return _Connected()

    out: list[dict[str, Any]] = []
    for size in sizes:
        rows = gateway_rows(size, agents, random.Random(seed))
        with tempfile.TemporaryDirectory() as tmp:
            mirror = Mirror.open(Path(tmp) / "mirror.db")
            try:
                load(mirror, rows)
                mirror.set_agents(HOME, agents)
                pool = GatewayPool("ws://127.0.0.1:9", (), connect)
                await pool.client(HOME)
                for who in REQUESTERS:
                    store = ServiceStore(mirror)
                    service = SessionsService(policy, Requester.of(who), store, pool)
                    scan = SessionsService(policy, Requester.of(who), _FullScan(store), pool)  # type: ignore[arg-type]
                    start = time.perf_counter_ns()
                    first = await service.sessions_list(limit=100)
                    first_ms = (time.perf_counter_ns() - start) / 1e6
                    for limit in (100, None):
                        shipped = await service.sessions_list(limit=limit)
                        expected = await scan.sessions_list(limit=limit)
                        assert [r["key"] for r in shipped["sessions"]] == [
                            r["key"] for r in expected["sessions"]
                        ]
                        assert shipped["visibility"] == expected["visibility"], (who, limit)
                        out.append(
                            {
                                "size": size,
                                "requester": who,
                                "limit": limit,
                                "returned": shipped["count"],
                                "hidden": shipped["visibility"]["hidden"],
                                "first_ms": first_ms if limit == 100 else None,
                                "shipped_ms": await _timed(
                                    service, limit, calls if limit else max(3, calls // 5)
                                ),
                            }
                        )
                    assert first["count"] == min(100, out[-1]["returned"])
            finally:
                mirror.close()
    return out


if __name__ == "__main__":
    import anyio

    for row in anyio.run(run):
        print(row)
