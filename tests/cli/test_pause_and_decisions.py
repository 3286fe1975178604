"""`sidecar pause` / `resume` write the agent's pause file; `sidecar decisions --would-deny` lists observe
mode's would-be denials with gate, source and fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.cli import main
from sidecar.cli._decisions import parse_since
from sidecar.mirror import Mirror, PauseFile
from sidecar.policy import Requester, StaticView, decide, parse_policy


def test_pause_then_resume_through_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(tmp_path))
    assert main(["pause", "--agent", "dev-3", "--reason", "looping on the release thread"]) == 0
    assert "sidecar resume --agent dev-3" in capsys.readouterr().out
    seen = PauseFile.in_dir(tmp_path / "dev-3").read()
    assert seen is not None and seen.reason == "looping on the release thread"
    assert main(["resume", "--agent", "dev-3"]) == 0
    assert "resumed dev-3" in capsys.readouterr().out
    assert PauseFile.in_dir(tmp_path / "dev-3").read() is None
    assert main(["resume", "--agent", "dev-3"]) == 0
    assert "was not paused" in capsys.readouterr().out


def test_pause_beside_a_mirror_given_by_db_and_a_bad_agent_id_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "custom" / "mirror.db"
    assert main(["pause", "--agent", "lead", "--db", str(db)]) == 0
    assert (tmp_path / "custom" / "paused.json").is_file()
    assert main(["pause", "--agent", "../etc"]) == 2
    assert "not a valid agent id" in capsys.readouterr().err


def test_since_takes_durations_and_iso_times() -> None:
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("90s", now=100.0) == 10.0
    assert parse_since("2026-12-01T00:00:00Z") == parse_since("2026-12-01T00:00")
    with pytest.raises(ValueError, match="duration"):
        parse_since("yesterday")


def test_would_deny_lists_observed_calls_with_gate_source_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "lead" / "mirror.db"
    doc = {
        "mode": "observe",
        "agents": {"entries": {"lead": {"tools": {"sessions": {"visibility": "self"}}}}},
    }
    policy = parse_policy(json.dumps(doc), "team.json5")
    with Mirror.open(db) as mirror:
        observed = decide(policy, Requester.of("lead"), "sessions_history", "agent:lead:other", StaticView())
        mirror.decisions.record_decision(observed)
        allowed = decide(policy, Requester.of("lead"), "sessions_history", "agent:lead:main", StaticView())
        mirror.decisions.record_decision(allowed)
    assert main(["decisions", "--db", str(db), "--would-deny", "--since", "1h"]) == 1
    out = capsys.readouterr().out
    assert "WOULD DENY at gate 'visibility'" in out and "agent:lead:other" in out
    assert f"fix:    {observed.fix}" in out
    assert main(["decisions", "--db", str(db), "--would-deny", "--json"]) == 1
    (row,) = json.loads(capsys.readouterr().out)
    assert row["gate"] == "visibility" and row["fix"] == observed.fix and row["would_deny"] is True
    assert main(["decisions", "--db", str(db)]) == 0
    assert "observed" in capsys.readouterr().out
    assert main(["decisions", "--db", str(db), "--since", "soon"]) == 2


def test_decisions_without_a_mirror_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["decisions", "--db", str(tmp_path / "none.db")]) == 2
    assert "no mirror at" in capsys.readouterr().err
