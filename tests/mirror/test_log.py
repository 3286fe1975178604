"""The decision log: every decision with its gate and source, never a message body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.mirror import Mirror
from sidecar.policy import Requester, StaticView, decide, parse_policy

SECRET = "TOP-SECRET-MESSAGE-BODY-0451"


def file_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


# -- decision log ------------------------------------------------------------------------------------


def test_the_decision_log_has_no_column_that_could_hold_a_message(fresh_db: Mirror) -> None:
    columns = {r[1] for r in fresh_db.db.execute("PRAGMA table_info(decisions)")}
    assert columns == {
        "id",
        "ts",
        "requester_agent",
        "requester_session",
        "tool",
        "target",
        "outcome",
        "gate",
        "source",
        "latency_us",
        "cursor",
        "trace_id",
        "requester_gateway",
        "target_gateway",
        "side",
        "fix",  # the policy's fix for a denial: file and key names, never what was said
        "would_deny",
    }
    with pytest.raises(TypeError, match="message"):
        fresh_db.decisions.record(  # type: ignore[call-arg]
            requester_agent="lead",
            requester_session="agent:lead:main",
            tool="sessions_send",
            target="agent:dev-1:main",
            outcome="allowed",
            message=SECRET,
        )


def test_a_decided_send_is_logged_without_its_message_anywhere_in_the_file(db_path: Path) -> None:
    policy = parse_policy(json.dumps({"agents": {"entries": {"lead": {}, "dev-1": {}}}}), "p.json5")
    call = {"sessionKey": "agent:dev-1:main", "message": SECRET}
    decision = decide(policy, Requester.of("lead"), "sessions_send", call["sessionKey"], StaticView())
    with Mirror.open(db_path) as mirror:
        row_id = mirror.decisions.record_decision(decision, latency_us=7, cursor=42, trace_id="t-1")
        [logged] = mirror.decisions.recent()
        assert logged.id == row_id
        assert (logged.tool, logged.target, logged.outcome, logged.cursor, logged.latency_us) == (
            "sessions_send",
            "agent:dev-1:main",
            "allowed",
            42,
            7,
        )
        assert SECRET not in repr(logged)
    assert SECRET.encode() not in file_bytes(db_path)


def test_a_denied_decision_records_its_gate_and_source(fresh_db: Mirror) -> None:
    doc = {"agents": {"entries": {"lead": {}, "dev-1": {}}}, "tools": {"sessions": {"visibility": "self"}}}
    policy = parse_policy(json.dumps(doc), "p.json5")
    decision = decide(policy, Requester.of("lead"), "sessions_history", "agent:dev-1:main", StaticView())
    fresh_db.decisions.record_decision(decision)
    [logged] = fresh_db.decisions.recent()
    assert (logged.outcome, logged.gate) == ("denied", "visibility")
    assert logged.source is not None and "visibility" in logged.source


def test_a_decision_defaults_its_cursor_to_the_mirrors_event_position(fresh_db: Mirror) -> None:
    fresh_db.cursors.note_event("home", 17, 2)
    fresh_db.decisions.record(
        requester_agent="lead",
        requester_session="agent:lead:main",
        tool="sessions_list",
        target=None,
        outcome="allowed",
    )
    assert fresh_db.decisions.recent()[0].cursor == 17


def test_an_unknown_outcome_is_refused(fresh_db: Mirror) -> None:
    with pytest.raises(ValueError, match="allowed, denied, error"):
        fresh_db.decisions.record(
            requester_agent="lead",
            requester_session="agent:lead:main",
            tool="sessions_list",
            target=None,
            outcome="maybe",  # type: ignore[arg-type]
        )


def test_old_decisions_can_be_pruned(fresh_db: Mirror) -> None:
    for ts in (1.0, 2.0, 3.0):
        fresh_db.decisions.record(
            requester_agent="lead",
            requester_session="agent:lead:main",
            tool="sessions_list",
            target=None,
            outcome="allowed",
            ts=ts,
        )
    assert fresh_db.decisions.prune(before=2.5) == 2
    assert [d.ts for d in fresh_db.decisions.recent()] == [3.0]
