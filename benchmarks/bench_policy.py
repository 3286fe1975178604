"""Decision latency with 100k sessions in the tree view, side by side in one run.

Rows: the engine's allowed path, its denied path (message, source and fix built), `explain=True`, the
sessions_list filter per row, and a bare dict lookup as the floor of what any Python check costs.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidecar.policy import Requester, StaticView, decide, filter_sessions, parse_policy

REPO = Path(__file__).resolve().parents[1]
SESSIONS = 100_000


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


def run(calls: int = 100_000, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = parse_policy(json.dumps(scenario["policy"]), "hierarchy.json5")
    agents = list(policy.agent_ids)
    parents: dict[str, str] = {}
    keys = []
    for i in range(SESSIONS):
        agent = agents[i % len(agents)]
        key = f"agent:{agent}:subagent:{i:08x}"
        parents[key] = f"agent:{agents[rng.randrange(len(agents))]}:main"
        keys.append(key)
    view = StaticView(agents=frozenset(agents), parents=parents)
    manager, dev2 = Requester.of("manager"), Requester.of("dev-2")
    targets = [keys[rng.randrange(SESSIONS)] for _ in range(calls)]

    allowed = _time(lambda t: decide(policy, manager, "sessions_history", t, view), targets)
    denied = _time(lambda t: decide(policy, dev2, "sessions_send", t, view), targets)
    explained = _time(
        lambda t: decide(policy, dev2, "sessions_send", t, view, explain=True), targets[: calls // 10]
    )
    batch = [targets[i : i + 100] for i in range(0, calls, 100)]
    listed = _time(lambda rows: filter_sessions(policy, manager, rows, view), batch)
    floor = _time(lambda t: parents.get(t), targets)
    assert all(decide(policy, manager, "sessions_history", t, view).allowed for t in targets[:1000])
    assert not any(decide(policy, dev2, "sessions_send", t, view).allowed for t in targets[:1000])
    return [
        {"name": "decide: allowed (manager reads a session)", "p50_us": allowed[0], "p99_us": allowed[1]},
        {"name": "decide: denied, with message/source/fix", "p50_us": denied[0], "p99_us": denied[1]},
        {"name": "decide: denied, explain=True (all gates)", "p50_us": explained[0], "p99_us": explained[1]},
        {"name": "filter_sessions: 100 rows (per call)", "p50_us": listed[0], "p99_us": listed[1]},
        {"name": "floor: one dict lookup", "p50_us": floor[0], "p99_us": floor[1]},
    ]
