"""Fill a stopped OpenClaw 2026.9 gateway's own session store to a size `sessions.create` would take an hour
to reach (it makes 21-46 sessions per second on a 2-core box: 35-80 minutes for 100k).

The gateway keeps each agent's sessions in that agent's SQLite database
(`state/agents/<id>/agent/openclaw-agent.sqlite`). One session made by the gateway itself through
`sessions.create` is the template: every row it wrote (its node, window, transcript header, the header's
identity, rewrite watermark and transcript index state) is copied per new session with a fresh session id,
key, revision ids and timestamps, in one transaction per agent. The store's triggers mark every inserted
node as waiting for the gateway's entry validation; a created session has passed it (`entry_valid = 1`, no
row waiting), so the copies are given that same state: otherwise the restarted gateway revalidates every
copy before it answers `sessions.list` (a first attempt that copied nodes alone never answered in 300 s).

The run then restarts the gateway and proves the size from its own `sessions.list` totalCount; the
benchmark also times the gateway's `sessions.list` on a gateway filled by `sessions.create` at the smaller
size, so a seeded store that answered differently would show.

`python -m benchmarks._seed 3000` compares a gateway filled by `sessions.create` with one seeded to the same
size (first `sessions.list` after a restart, then a 100-row page), one after the other.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Tables a `sessions.create` writes for one session in 2026.9.6, parents first (foreign keys), and the
# column that names the session in each.
_TABLES: tuple[tuple[str, str], ...] = (
    ("session_nodes", "session_key"),
    ("session_windows", "session_id"),
    ("transcript_events", "session_id"),
    ("transcript_event_identities", "session_id"),
    ("transcript_rewrite_watermarks", "session_id"),
    ("session_transcript_index_state", "session_id"),
)
_EPOCH_MS = 10**12  # integers above this are epoch milliseconds


def agent_database(state_dir: Path, agent: str) -> Path:
    return state_dir / "agents" / agent / "agent" / "openclaw-agent.sqlite"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class _Template:
    """The rows one created session left in an agent's database, and how to make a copy of them."""

    def __init__(self, db: sqlite3.Connection, key: str) -> None:
        node = db.execute(
            "SELECT current_session_id, updated_at FROM session_nodes WHERE session_key = ?", (key,)
        )
        found = node.fetchone()
        if found is None:
            raise RuntimeError(f"template session {key} is not in the agent's store")
        self.key, self.sid, self.updated = key, str(found[0]), int(found[1])
        self.rows: list[tuple[str, list[str], list[tuple[Any, ...]]]] = []
        for table, column in _TABLES:
            cursor = db.execute(
                f"SELECT * FROM {table} WHERE {column} = ?", (key if column == "session_key" else self.sid,)
            )
            names = [d[0] for d in cursor.description]
            self.rows.append((table, names, cursor.fetchall()))

    def copy(self, key: str, updated: int) -> list[tuple[str, list[str], tuple[Any, ...]]]:
        sid = str(uuid.uuid4())
        shift = updated - self.updated

        def value(name: str, v: Any) -> Any:
            if isinstance(v, int) and v > _EPOCH_MS:
                return v + shift
            if not isinstance(v, str):
                return v
            if name == "entry_json":
                entry = json.loads(v)
                entry["sessionId"] = sid
                entry["lifecycleRevision"] = str(uuid.uuid4())
                for field in ("updatedAt", "createdAt"):
                    if isinstance(entry.get(field), int):
                        entry[field] += shift
                capture = entry.get("sessionDiffBaselineCapture")
                if isinstance(capture, dict) and "captureId" in capture:
                    capture["captureId"] = str(uuid.uuid4())
                return json.dumps(entry, separators=(",", ":"))
            if name == "event_json":
                event = json.loads(v)
                if event.get("id") == self.sid:
                    event["id"] = sid
                event["timestamp"] = _iso(updated)
                return json.dumps(event, separators=(",", ":"))
            if name == "generation":
                return uuid.uuid4().hex
            return v.replace(self.sid, sid).replace(self.key, key)

        return [
            (table, names, tuple(value(n, v) for n, v in zip(names, row, strict=True)))
            for table, names, rows in self.rows
            for row in rows
        ]


def _octet_length(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    return len(str(value).encode())


def seed_agent(database: Path, template_key: str, keys: Sequence[str], newest_ms: int) -> int:
    """Copy `template_key`'s rows once per key in `keys` into the (stopped) gateway's agent database;
    session i is updated `i` * 37 ms before `newest_ms`. Returns the sessions written."""
    db = sqlite3.connect(database, isolation_level=None)
    try:
        # The store's CHECKs call octet_length(), which SQLite has only since 3.43 (Node's is newer than
        # the sqlite3 module's on many Pythons); the same function, for the copies' checks.
        db.create_function("octet_length", 1, _octet_length, deterministic=True)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 30000")
        template = _Template(db, template_key)
        db.execute("BEGIN IMMEDIATE")
        statements: dict[str, str] = {}
        for i, key in enumerate(keys):
            for table, names, row in template.copy(key, newest_ms - i * 37):
                sql = statements.get(table)
                if sql is None:
                    sql = statements[table] = (
                        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
                    )
                db.execute(sql, row)
        # What a created session's rows look like once the gateway has validated them (see the module).
        db.execute("UPDATE session_nodes SET entry_valid = 1 WHERE entry_valid != 1")
        db.execute("DELETE FROM session_canonical_validation_pending")
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return len(keys)


def seed_gateway(
    gw: Any, agents: Sequence[str], keys: Sequence[str], log: Callable[[str], None], *, tag: str = ""
) -> float:
    """Bring a running harness gateway to hold `keys` too: one real `sessions.create` per agent as the
    template, stop the gateway, copy, restart it. Returns the seconds the restart took to report ready."""
    templates: dict[str, str] = {}
    with gw.rpc(timeout=120) as rpc:
        for agent in agents:
            key = f"agent:{agent}:bench-template{tag}"  # one per seeding: a key sessions.create has not made
            rpc.request("sessions.create", {"key": key, "agentId": agent})
            templates[agent] = key
    by_agent: dict[str, list[str]] = {agent: [] for agent in agents}
    for key in keys:
        by_agent[key.split(":")[1]].append(key)
    gw.gateway_proc.stop()
    newest = int(time.time() * 1000) - 60_000
    t0 = time.perf_counter()
    for agent in agents:
        if by_agent[agent]:
            seed_agent(agent_database(gw.state_dir, agent), templates[agent], by_agent[agent], newest)
    log(f"  copied {len(keys):,} sessions into {len(agents)} agent stores in {time.perf_counter() - t0:.0f}s")
    return float(gw.restart(progress=False))


def _pages(rpc: Any, calls: int = 15) -> tuple[float, int]:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        page = rpc.request("sessions.list", {"limit": 100})
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1000, int(page["totalCount"])


def check(size: int) -> None:
    """A gateway filled by sessions.create against one seeded to the same size, each restarted once, then
    timed on the same 100-row sessions.list: a seeded store must answer like a created one."""
    import tempfile

    from benchmarks.bench_gateway import GATEWAY_AGENTS, fill_gateway, harness

    h = harness()
    for method in ("create", "seed"):
        with tempfile.TemporaryDirectory(prefix=f"sidecar-seed-{method}-") as tmp:
            gw = h.start_gateway(Path(tmp) / "gateway", GATEWAY_AGENTS, name=method, progress=False)
            try:
                t0 = time.perf_counter()
                if method == "create":
                    fill_gateway(gw, size, budget_s=3600)
                    gw.restart(progress=False)
                else:
                    agents = list(GATEWAY_AGENTS)
                    keys = [
                        f"agent:{agents[i % len(agents)]}:seed-{i:06d}" for i in range(size - len(agents))
                    ]
                    seed_gateway(gw, agents, keys, print)
                fill_s = time.perf_counter() - t0
                with gw.rpc(timeout=900) as rpc:
                    t1 = time.perf_counter()
                    rpc.request("sessions.list", {"limit": 1})
                    first_s = time.perf_counter() - t1
                    p50, total = _pages(rpc)
                print(
                    f"{method}: {total:,} sessions, filled and restarted in {fill_s:.0f} s; first sessions.list "
                    f"{first_s:.2f} s; then a 100-row page p50 {p50:.1f} ms",
                    flush=True,
                )
            finally:
                gw.stop()


if __name__ == "__main__":
    import sys

    check(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
