"""`sidecar explain` reports the operator's gates (pause, budgets) from the agent's state on this machine,
read-only, and says plainly when it could not check them instead of printing PASS."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sidecar.cli import main
from sidecar.config import mirror_path, state_dir
from sidecar.mirror import Mirror, PauseFile


def team(tmp_path: Path, **lead: Any) -> Path:
    path = tmp_path / "team.json5"
    doc = {
        "tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True}},
        "agents": {"entries": {"lead": lead, "dev-1": {}}},
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(root))
    return root


def explain(capsys: pytest.CaptureFixture[str], policy: Path, *extra: str) -> tuple[int, str]:
    code = main(
        ["explain", "--policy", str(policy), "--agent", "lead", *extra, "sessions_send", "agent:dev-1:main"]
    )
    return code, capsys.readouterr().out


def check(out: str, gate: str) -> str:
    return next(line for line in out.splitlines() if line.split()[1:2] == [gate] or f" {gate} " in line)


def test_explain_of_a_paused_agent_denies_at_the_pause_gate_with_the_reason(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PauseFile.in_dir(state_dir("lead")).pause(reason="looping on the release thread", by="ops")
    code, out = explain(capsys, team(tmp_path))
    assert code == 0
    assert "PASS  pause" not in out
    assert "FAIL  pause" in out
    assert "DENIED at gate 'pause'" in out and "looping on the release thread" in out


def test_explain_counts_the_sends_already_in_the_agents_outbox_against_its_daily_budget(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Mirror.open(mirror_path("lead")) as mirror:
        mirror.outbox.add(
            idempotency_key="k1",
            send_id="k1",
            requester="agent:lead:main",
            target="agent:dev-1:main",
            gateway="home",
            body="hi",
            created_at=time.time() - 60,
        )
    code, out = explain(capsys, team(tmp_path, limits={"sendsPerDay": 1}))
    assert code == 0
    assert "PASS  sends-per-day" not in out
    assert "DENIED at gate 'sends-per-day'" in out and "made 1 sends" in out


def test_explain_without_the_agents_state_says_the_pause_and_budget_gates_were_not_checked(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = explain(capsys, team(tmp_path, limits={"sendsPerDay": 1}))
    assert code == 0
    pause, budget = check(out, "pause"), check(out, "sends-per-day")
    assert "PASS" not in pause and "not checked offline: no state directory at" in pause
    assert "PASS" not in budget and f"not checked offline: no mirror at {mirror_path('lead')}" in budget
    assert "not checked here: pause, sends-per-day" in out
    code, printed = explain(capsys, team(tmp_path), "--json")
    checks = {c["gate"]: c for c in json.loads(printed)["checks"]}
    assert checks["pause"]["outcome"] == "not checked"


def test_explain_reads_the_state_beside_a_db_given_with_db_and_writes_nothing(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "elsewhere" / "mirror.db"
    db.parent.mkdir()
    code, out = explain(capsys, team(tmp_path, limits={"sendsPerDay": 1}), "--db", str(db))
    assert code == 0
    assert "PASS  pause" in out  # the directory exists and holds no pause file: not paused
    assert f"no mirror at {db}" in check(out, "sends-per-day")
    assert not db.exists() and not state.exists()
