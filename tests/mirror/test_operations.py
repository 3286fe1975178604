"""The pause file (shared through the state directory), budget counts from the agent's state, would-deny
records in the decision log, and the schema step that added them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sidecar.mirror import SCHEMA_VERSION, Mirror, PauseFile, SessionRow, usage_of
from sidecar.policy import Requester, StaticView, decide, parse_policy

NOW = 1_764_600_000.0


def test_a_pause_written_by_one_process_is_seen_by_another_on_its_next_read(tmp_path: Path) -> None:
    operator = PauseFile.in_dir(tmp_path / "lead")
    sidecar = PauseFile.in_dir(tmp_path / "lead")
    assert sidecar.read() is None
    operator.pause(reason="runaway loop", by="ops", now=NOW)
    seen = sidecar.read()
    assert seen is not None and (seen.reason, seen.by, seen.since) == ("runaway loop", "ops", NOW)
    assert (operator.path.stat().st_mode & 0o777) == 0o600
    assert operator.resume() is not None
    assert sidecar.read() is None
    assert operator.resume() is None


def test_an_unreadable_pause_file_counts_as_a_pause(tmp_path: Path) -> None:
    pause = PauseFile.in_dir(tmp_path)
    pause.path.write_text("{not json", encoding="utf-8")
    seen = pause.read()
    assert seen is not None and "unreadable" in str(seen.reason) and str(pause.path) in str(seen.reason)


def send(mirror: Mirror, key: str, at: float, requester: str = "agent:lead:main") -> None:
    mirror.outbox.add(
        idempotency_key=key,
        send_id=key,
        requester=requester,
        target="agent:dev-1:main",
        gateway="home",
        body="x",
        created_at=at,
    )


def test_sends_are_counted_per_agent_over_the_last_24_hours_with_the_time_the_oldest_leaves(
    fresh_db: Mirror,
) -> None:
    send(fresh_db, "old", NOW - 90_000)
    send(fresh_db, "a", NOW - 80_000)
    send(fresh_db, "b", NOW - 10, requester="agent:lead:planning")
    send(fresh_db, "a", NOW - 5)  # a retry of the same logical send: one entry
    send(fresh_db, "other", NOW - 5, requester="agent:lead-2:main")
    usage = usage_of(fresh_db, "lead", None, NOW)
    assert usage.sends_today == 2
    assert usage.sends_reset_at == NOW - 80_000 + 86_400


def test_spawns_per_hour_come_from_allowed_spawn_decisions_and_children_from_running_rows(
    fresh_db: Mirror,
) -> None:
    for ts, outcome in ((NOW - 4000, "allowed"), (NOW - 100, "allowed"), (NOW - 50, "denied")):
        fresh_db.decisions.record(
            requester_agent="lead",
            requester_session="agent:lead:main",
            tool="sessions_spawn",
            target="dev-1",
            outcome=outcome,  # type: ignore[arg-type]
            ts=ts,
        )
    fresh_db.record_spawned_child("agent:dev-1:subagent:1", "agent:lead:main", "dev-1", "home")
    fresh_db.record_spawned_child("agent:dev-1:subagent:2", "agent:lead:planning", "dev-1", "home")
    fresh_db.apply(
        [
            SessionRow(
                key="agent:dev-1:subagent:3",
                gateway="home",
                agent="dev-1",
                spawned_by="agent:lead:main",
                parent="agent:lead:main",
                status="done",
                seen_at=NOW,
            )
        ]
    )
    usage = usage_of(fresh_db, "lead", None, NOW)
    assert (usage.spawns_this_hour, usage.spawns_reset_at) == (1, NOW - 100 + 3600)
    assert usage.active_children == 2


def test_a_would_be_denial_is_logged_with_its_gate_source_and_fix_and_listed_since_a_time(
    fresh_db: Mirror,
) -> None:
    doc = {
        "mode": "observe",
        "agents": {"entries": {"lead": {"tools": {"sessions": {"visibility": "self"}}}}},
    }
    policy = parse_policy(json.dumps(doc), "p.json5")
    decision = decide(policy, Requester.of("lead"), "sessions_history", "agent:lead:other", StaticView())
    assert decision.allowed and decision.would_deny
    fresh_db.decisions.record_decision(decision)
    fresh_db.decisions.record(
        requester_agent="lead",
        requester_session="agent:lead:main",
        tool="sessions_list",
        target=None,
        outcome="allowed",
        ts=1.0,
    )
    found = fresh_db.decisions.would_deny()
    assert len(found) == 1
    record = found[0]
    assert record.would_deny is True and record.outcome == "allowed" and record.gate == "visibility"
    assert record.fix == decision.fix and record.source == decision.source
    assert fresh_db.decisions.would_deny(since=record.ts + 1) == []


def test_a_version_1_mirror_is_migrated_in_place_and_keeps_its_decisions(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    Mirror.open(path).close()
    conn = sqlite3.connect(path)
    # What a version 1 sidecar wrote: the decision log without the two columns version 2 added.
    conn.execute("ALTER TABLE decisions DROP COLUMN would_deny")
    conn.execute("ALTER TABLE decisions DROP COLUMN fix")
    conn.execute(
        "INSERT INTO decisions (ts, requester_agent, requester_session, tool, outcome) "
        "VALUES (1.0, 'lead', 'agent:lead:main', 'sessions_list', 'allowed')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Mirror.open(path) as mirror:
        assert mirror.pragma("user_version") == SCHEMA_VERSION
        (old,) = mirror.decisions.recent()
        assert old.tool == "sessions_list" and old.fix is None and old.would_deny is False


def test_a_journal_left_by_a_version_1_sidecar_is_replayed_without_fix(tmp_path: Path) -> None:
    from sidecar.mirror._log import journal_path

    path = tmp_path / "mirror.db"
    Mirror.open(path).close()
    row = [7, 1.0, "lead", "agent:lead:main", "sessions_list", None, "allowed", None, None, 3, None, None]
    journal_path(path).write_text(json.dumps(row) + "\n", encoding="utf-8")
    with Mirror.open(path) as mirror:
        (replayed,) = mirror.decisions.recent()
    assert replayed.id == 7 and replayed.fix is None and replayed.would_deny is False
