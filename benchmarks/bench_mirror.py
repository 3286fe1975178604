"""The session mirror: bulk ingest rate, the policy view's lookups at 100k sessions, sessions_list rows.

Ingest goes the way a snapshot does: gateway-shaped rows (camelCase, with the noise real rows carry)
parsed into SessionRow and written one sessions.list page (PAGE_SIZE rows) per transaction into a
file-backed mirror (WAL, NORMAL); the median of `repeats` fresh mirrors. Its floor is SQLite alone: the
mirror's own upsert statement over the same rows, already parsed, in the same page-sized transactions, into
a plain sqlite3 connection with the same schema and pragmas (no parsing, no index, no sidecar code).
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from sidecar.mirror import PAGE_SIZE, PAGES_PER_WRITE, Mirror, SessionRow, sync
from sidecar.mirror._db import _UPSERT
from sidecar.policy import Requester, decide, parse_policy

REPO = Path(__file__).resolve().parents[1]
SESSIONS = 100_000
LISTED = 10_000


def _percentiles(samples: list[int]) -> tuple[float, float]:
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def _time(fn: Callable[[Any], object], inputs: list[Any]) -> tuple[float, float]:
    clock = time.perf_counter_ns
    samples = []
    for item in inputs:
        start = clock()
        fn(item)
        samples.append(clock() - start)
    return _percentiles(samples)


def gateway_rows(n: int, agents: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """Rows shaped like OpenClaw 2026.9.6's sessions.list: mains, then subagents under random parents.

    Returned as the gateway client hands them over, decoded from JSON text: every string its own object.
    Built directly, a child's spawnedBy would be its parent's very `key` object, shared by rows far apart
    in memory, which costs whoever binds those strings (SQLite, 5% of an ingest) cache misses that rows
    from a real gateway do not cause.
    """
    rows: list[dict[str, Any]] = []
    mains = [f"agent:{a}:main" for a in agents]
    for i in range(n):
        agent = agents[i % len(agents)]
        key = mains[i] if i < len(mains) else f"agent:{agent}:subagent:{i:08x}-0000-4000-8000-000000000000"
        row: dict[str, Any] = {
            "key": key,
            "kind": "direct",
            "agentId": agent,
            "updatedAt": 1_795_000_000_000 + i,
            "snapshotAt": 1_795_000_100_000,
            "sessionId": f"{i:08x}-1111-4000-8000-000000000000",
            "displayName": "main" if i < len(mains) else f"task {i}",
            "status": "running" if i % 10 == 0 else "done",
            "model": "stub-echo",
            "modelProvider": "stub",
            "visibility": "shared",
            "thinkingLevels": [{"id": "off", "label": "off"}],
            "lastMessagePreview": "never stored",
        }
        if i >= len(mains):
            parent = (
                mains[rng.randrange(len(mains))] if i < n // 2 else rows[rng.randrange(len(mains), i)]["key"]
            )
            row.update(spawnedBy=parent, parentSessionKey=parent, spawnDepth=1 if parent in mains else 2)
        rows.append(row)
    decoded: list[dict[str, Any]] = json.loads(json.dumps(rows))
    return decoded


class _Pages:
    """A gateway that serves `rows` as sessions.list pages at once: what a snapshot costs the sidecar alone."""

    def __init__(self, rows: list[dict[str, Any]], agents: list[str]) -> None:
        self.rows = rows
        self.agents = agents

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any:
        if method == "agents.list":
            return {"agents": [{"id": a} for a in self.agents]}
        assert method == "sessions.list", method
        offset, limit = int(params.get("offset", 0)), int(params["limit"])
        page = self.rows[offset : offset + limit]
        more = offset + len(page) < len(self.rows)
        return {
            "sessions": page,
            "totalCount": len(self.rows),
            "hasMore": more,
            "nextOffset": offset + len(page),
            "ts": 1_795_000_100_000,
        }

    def events(self) -> Any:
        raise AssertionError("a one-off snapshot reads no events")


def ingest(
    mirror: Mirror,
    rows: list[dict[str, Any]],
    cpu: list[float] | None = None,
    pages_per_write: int = PAGES_PER_WRITE,
) -> float:
    """Seconds for the sidecar's own snapshot (`sync(once=True)`: parse, upsert, index, sweep) to take
    `rows` from a gateway that answers at once (CPU seconds appended to `cpu`)."""
    source = _Pages(rows, sorted({r["agentId"] for r in rows}))
    start, start_cpu = time.perf_counter(), time.process_time()
    anyio.run(lambda: sync(mirror, source, once=True, pages_per_write=pages_per_write))
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    assert mirror.count() == len(rows), f"the snapshot mirrored {mirror.count()} of {len(rows)} rows"
    return time.perf_counter() - start


def load(mirror: Mirror, rows: list[dict[str, Any]]) -> None:
    """Fill a mirror for the benchmarks that read it (no timing; usable inside an event loop)."""
    now = time.time()
    with mirror.bulk():
        for offset in range(0, len(rows), PAGE_SIZE * PAGES_PER_WRITE):
            chunk = rows[offset : offset + PAGE_SIZE * PAGES_PER_WRITE]
            mirror.apply([SessionRow.from_gateway(r, "home", seen_at=now) for r in chunk])


def sqlite_floor(
    schema_from: Path, path: Path, rows: list[dict[str, Any]], cpu: list[float] | None = None
) -> float:
    """Seconds for SQLite alone to take the same rows (pre-parsed) in the same transactions as a snapshot
    (PAGES_PER_WRITE pages each) with the mirror's own upsert statement, schema and pragmas."""
    now = time.time()
    values = [SessionRow.from_gateway(r, "home", seen_at=now).as_db(0) for r in rows]
    with sqlite3.connect(schema_from) as source:
        ddl = [
            sql
            for (sql,) in source.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'sessions'")
            if sql
        ]
    conn = sqlite3.connect(path, isolation_level=None)
    batch = PAGE_SIZE * PAGES_PER_WRITE
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        for pragma in ("synchronous = NORMAL", "secure_delete = ON", "cache_size = -32000"):
            conn.execute(f"PRAGMA {pragma}")
        for sql in ddl:
            conn.execute(sql)
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        start, start_cpu = time.perf_counter(), time.process_time()
        for offset in range(0, len(values), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_UPSERT, values[offset : offset + batch])
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        if cpu is not None:
            cpu.append(time.process_time() - start_cpu)
        return time.perf_counter() - start
    finally:
        conn.close()


def run(calls: int = 100_000, seed: int = 7, repeats: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = parse_policy(json.dumps(scenario["policy"]), "hierarchy.json5")
    agents = sorted(policy.agent_ids)
    rows = gateway_rows(SESSIONS, agents, rng)
    with tempfile.TemporaryDirectory() as tmp:
        ingests, floors, cpu, batched, floor_cpu = [], [], [], [], []
        for i in range(repeats):
            fresh = Mirror.open(Path(tmp) / f"ingest-{i}.db")
            ingests.append(ingest(fresh, rows, cpu))
            fresh.close()
            fresh = Mirror.open(Path(tmp) / f"batched-{i}.db")
            batched.append(ingest(fresh, rows, pages_per_write=1))
            fresh.close()
            floors.append(
                sqlite_floor(Path(tmp) / f"ingest-{i}.db", Path(tmp) / f"floor-{i}.db", rows, floor_cpu)
            )
        seconds, floor_s = statistics.median(ingests), statistics.median(floors)
        mirror = Mirror.open(Path(tmp) / "mirror.db")
        ingest(mirror, rows)
        mirror.set_agents("home", agents)
        view = mirror.view
        targets = [rows[rng.randrange(SESSIONS)]["key"] for _ in range(calls)]
        parent = _time(view.parent_of, targets)
        has = _time(view.has_agent, [agents[i % len(agents)] for i in range(calls)])
        depth = _time(view.depth_of, targets)
        active = _time(view.active_children, [view.parent_of(t) or t for t in targets])
        manager = Requester.of("manager")
        decided = _time(lambda t: decide(policy, manager, "sessions_history", t, view), targets)
        get = _time(view.get, targets[: calls // 10])
        mirror.close()

        small = Mirror.open(Path(tmp) / "listed.db")
        ingest(small, rows[:LISTED])
        listed = _time(lambda _: small.view.session_keys(), list(range(max(10, calls // 2000))))
        assert len(small.view.session_keys()) == LISTED
        small.close()
    return [
        {
            "name": f"mirror: bulk ingest, {SESSIONS} gateway rows",
            "value": round(SESSIONS / seconds),
            "unit": "sessions/s",
            "runs": [round(SESSIONS / s) for s in ingests],
            "cpu_rate": round(SESSIONS / statistics.median(cpu)),
        },
        {
            "name": "before: the same snapshot, one page per transaction",
            "value": round(SESSIONS / statistics.median(batched)),
            "unit": "sessions/s",
            "runs": [round(SESSIONS / s) for s in batched],
        },
        {
            "name": "floor: SQLite alone, same upsert, pre-parsed rows",
            "value": round(SESSIONS / floor_s),
            "unit": "sessions/s",
            "runs": [round(SESSIONS / s) for s in floors],
            "cpu_rate": round(SESSIONS / statistics.median(floor_cpu)),
        },
        {"name": f"MirrorView.parent_of ({SESSIONS} sessions)", "p50_us": parent[0], "p99_us": parent[1]},
        {"name": f"MirrorView.has_agent ({SESSIONS} sessions)", "p50_us": has[0], "p99_us": has[1]},
        {"name": f"MirrorView.depth_of ({SESSIONS} sessions)", "p50_us": depth[0], "p99_us": depth[1]},
        {
            "name": f"MirrorView.active_children ({SESSIONS} sessions)",
            "p50_us": active[0],
            "p99_us": active[1],
        },
        {"name": f"decide over MirrorView ({SESSIONS} sessions)", "p50_us": decided[0], "p99_us": decided[1]},
        {"name": f"MirrorView.get, SQLite by key ({SESSIONS} sessions)", "p50_us": get[0], "p99_us": get[1]},
        {"name": f"MirrorView.session_keys, all {LISTED} rows", "p50_us": listed[0], "p99_us": listed[1]},
    ]


if __name__ == "__main__":
    for result in run():
        print(result)
