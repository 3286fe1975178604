"""`sidecar pause`, `resume`, `decisions` and `outbox` find the multi-session host's state: its database
holds every agent's calls, so --agent keeps only that agent's; a pause lands where the host reads it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.cli import main
from sidecar.host import HostPaths, WriterLock, load_or_create_key
from sidecar.mirror import Mirror, PauseFile
from sidecar.policy import Requester, StaticView, decide, parse_policy

TEAM = {"agents": {"entries": {"lead": {}, "dev-1": {}}}}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("SIDECAR_POLICY", raising=False)
    return tmp_path / "state"


def host_mirror(state: Path) -> HostPaths:
    """A host's state with one decision and one send by each of lead and dev-1."""
    paths = HostPaths(state / "host")
    paths.ensure()
    load_or_create_key(paths.key)
    policy = parse_policy(json.dumps(TEAM), "team.json5")
    with Mirror.open(paths.mirror) as mirror:
        for agent, target in (("lead", "agent:dev-1:main"), ("dev-1", "agent:lead:main")):
            mirror.decisions.record_decision(
                decide(policy, Requester.of(agent), "sessions_history", target, StaticView())
            )
            mirror.outbox.add(idempotency_key=f"k-{agent}", send_id=f"k-{agent}", requester=f"agent:{agent}:main",
                              target=target, gateway="home", body="hi", created_at=time.time())  # fmt: skip
        mirror.decisions.flush()
    return paths


@pytest.fixture
def running(state: Path) -> Iterator[HostPaths]:
    """A live host (it holds the writer lock) serving lead and dev-1."""
    paths = host_mirror(state)
    lock = WriterLock(paths)
    lock.acquire()
    paths.write_info({"agents": {"lead": "/agents/lead/mcp", "dev-1": "/agents/dev-1/mcp"}})
    try:
        yield paths
    finally:
        lock.release()


def test_decisions_and_outbox_for_one_agent_read_the_running_hosts_database_and_only_its_rows(
    running: HostPaths, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Mirror.open(state / "lead" / "mirror.db"):
        pass  # lead once ran its own sidecar too: the running host's log is still the one read
    assert main(["decisions", "--agent", "lead", "--json"]) == 0
    out, err = capsys.readouterr()
    assert {row["requester_agent"] for row in json.loads(out)} == {"lead"}
    assert str(running.mirror) in err and "lead's calls only" in err
    assert main(["decisions", "export", "--agent", "dev-1"]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["requester"] for r in exported] == ["dev-1"]
    assert main(["outbox", "--agent", "dev-1", "--json"]) == 0
    assert [r["idempotency_key"] for r in json.loads(capsys.readouterr().out)] == ["k-dev-1"]
    assert main(["decisions", "--json"]) == 0  # no --agent: every agent's calls
    assert {row["requester_agent"] for row in json.loads(capsys.readouterr().out)} == {"lead", "dev-1"}


def test_a_stopped_hosts_database_is_read_when_the_agent_has_none_of_its_own(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = host_mirror(state)
    assert main(["outbox", "--agent", "lead", "--json"]) == 0
    assert [r["idempotency_key"] for r in json.loads(capsys.readouterr().out)] == ["k-lead"]
    assert main(["decisions", "--db", str(paths.mirror), "--agent", "dev-1", "--json"]) == 0
    assert {row["requester_agent"] for row in json.loads(capsys.readouterr().out)} == {"dev-1"}


def test_pausing_an_agent_the_policy_does_not_name_is_refused_with_the_closest_names(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "team.json5"
    policy.write_text(json.dumps(TEAM), encoding="utf-8")
    assert main(["pause", "--agent", "laed", "--policy", str(policy)]) == 2
    assert "Did you mean lead?" in capsys.readouterr().err
    monkeypatch.setenv("SIDECAR_POLICY", str(policy))
    assert main(["pause", "--agent", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "not an agent of" in err and "dev-1, lead" in err
    assert not (state / "laed").exists() and not (state / "nosuch").exists()
    assert main(["pause", "--agent", "lead", "--reason", "runaway"]) == 0
    assert str(state / "lead" / "paused.json") in capsys.readouterr().out


def test_a_pause_given_the_hosts_database_lands_where_the_host_reads_the_agents_pause(
    running: HostPaths, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pause", "--agent", "dev-1", "--db", str(running.mirror)]) == 0
    assert "the sidecar host" in capsys.readouterr().out
    assert PauseFile.in_dir(running.agent_dir("dev-1")).read() is not None
    assert running.agent_dir("dev-1") == state / "dev-1"
    assert not (running.root / "paused.json").exists()
    assert main(["resume", "--agent", "dev-1"]) == 0
    assert PauseFile.in_dir(state / "dev-1").read() is None


def test_status_names_each_paused_agent_of_the_running_host_and_how_to_lift_it(
    running: HostPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pause", "--agent", "lead", "--reason", "runaway"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "agent lead:" in out and "PAUSED (runaway)" in out and "sidecar resume --agent lead" in out
    assert "agent dev-1:" in out and out.count("PAUSED") == 1
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["paused"] == {"lead": "runaway"}
