"""The decision log has a retention (the policy's `decisions: {maxAgeDays, maxRows}`), pruned as batches
are written: old rows and the oldest past the count go, the last hour never does (budgets count it)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sidecar.mirror import Mirror, Retention
from sidecar.policy import DecisionRetention, PolicyError, Requester, decision_retention, parse_policy
from sidecar.runtime import Runtime

DAY = 86400.0


def record(mirror: Mirror, ts: float, n: int = 1, tool: str = "sessions_list") -> None:
    for _ in range(n):
        mirror.decisions.record(
            requester_agent="lead",
            requester_session="agent:lead:main",
            tool=tool,
            target=None,
            outcome="allowed",
            ts=ts,
        )


def count(mirror: Mirror) -> int:
    with mirror.reading() as conn:
        return int(conn.execute("SELECT count(*) FROM decisions").fetchone()[0])


def test_rows_older_than_max_age_are_pruned_when_a_batch_is_written(fresh_db: Mirror) -> None:
    now = time.time()
    fresh_db.decisions.retention = Retention(max_age_days=7, max_rows=1000)
    record(fresh_db, now - 8 * DAY, 3)
    record(fresh_db, now - 6 * DAY, 2)
    fresh_db.decisions.flush()
    assert count(fresh_db) == 2


def test_the_oldest_rows_past_max_rows_are_pruned_but_never_the_last_hour(fresh_db: Mirror) -> None:
    now = time.time()
    fresh_db.decisions.retention = Retention(max_age_days=30, max_rows=5, every_s=0)
    record(fresh_db, now - 2 * 3600, 10)
    fresh_db.decisions.flush()
    assert count(fresh_db) == 5
    record(fresh_db, now, 8, tool="sessions_spawn")  # spawnsPerHour counts these: all are kept
    fresh_db.decisions.flush()
    assert count(fresh_db) == 8
    assert fresh_db.decisions.count_allowed("lead", "sessions_spawn", now - 3600)[0] == 8


def test_pruning_runs_at_most_once_per_interval(fresh_db: Mirror) -> None:
    now = time.time()
    fresh_db.decisions.retention = Retention(max_age_days=1, max_rows=1000, every_s=3600)
    record(fresh_db, now - 2 * DAY)
    fresh_db.decisions.flush()
    record(fresh_db, now - 2 * DAY)
    fresh_db.decisions.flush()
    assert count(fresh_db) == 1  # the second batch waits for the next prune


def test_the_retention_comes_from_the_policy_with_defaults() -> None:
    given = parse_policy(json.dumps({"decisions": {"maxAgeDays": 7, "maxRows": 500}}), "p.json5")
    assert decision_retention(given) == DecisionRetention(7, 500)
    assert decision_retention(parse_policy("{}", "p.json5")) == DecisionRetention(30, 100_000)
    with pytest.raises(PolicyError) as info:
        parse_policy("{\n  decisions: { maxRows: 0 },\n}", "p.json5")
    assert info.value.line == 2 and "≥ 1" in str(info.value)


@pytest.mark.anyio
async def test_serve_applies_the_policys_retention_and_a_reload_changes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIDECAR_TOKEN_FILE", str(tmp_path / "secrets.json"))
    policy = parse_policy(
        json.dumps({"agents": {"entries": {"lead": {}}}, "decisions": {"maxAgeDays": 7, "maxRows": 500}}),
        "p.json5",
    )
    runtime = Runtime(
        policy, Requester.of("lead"), "ws://127.0.0.1:1", token_store="file", db=tmp_path / "m.db"
    )
    await runtime.open()
    try:
        assert runtime.mirror is not None
        assert runtime.mirror.decisions.retention == Retention(7, 500)
        reloaded = parse_policy(json.dumps({"agents": {"entries": {"lead": {}}}}), "p.json5")
        await runtime.adopt(reloaded)
        assert runtime.mirror.decisions.retention == Retention(30, 100_000)
    finally:
        runtime.close()


def test_a_mirror_without_a_retention_set_prunes_nothing(fresh_db: Mirror) -> None:
    record(fresh_db, 1.0, 3)
    fresh_db.decisions.flush()
    assert count(fresh_db) == 3
