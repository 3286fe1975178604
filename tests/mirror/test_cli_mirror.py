"""`sidecar mirror status` / `sidecar mirror sync` and where the mirror lives by default."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from sidecar.cli import main
from sidecar.config import mirror_path, state_dir
from sidecar.mirror import SCHEMA_VERSION, Mirror, SessionRow

LIVE_AGO = 3.0


def make_mirror(path: Path, *, heard_ago: float = LIVE_AGO, state: str = "live", offset: int = 0) -> None:
    now = time.time()
    with Mirror.open(path) as mirror:
        mirror.apply([SessionRow(key="agent:lead:main", gateway="home", agent="lead", seen_at=now)])
        mirror.set_agents("home", ["lead", "dev-1"])
        mirror.cursors.update(
            "home",
            state=state,
            rows=1,
            seq=41,
            epoch=1,
            last_full_sync=now - 600,
            last_event=now - heard_ago,
            snapshot_offset=offset,
        )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "sidecar-state"
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(root))
    return root


# -- paths -------------------------------------------------------------------------------------------


def test_the_state_dir_is_sidecar_state_dir_per_agent_when_set(tmp_path: Path) -> None:
    env = {"SIDECAR_STATE_DIR": str(tmp_path), "XDG_STATE_HOME": "/elsewhere"}
    assert state_dir("lead", env) == tmp_path / "lead"
    assert mirror_path("lead", env) == tmp_path / "lead" / "mirror.db"


def test_the_state_dir_defaults_to_the_users_local_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/u")
    assert state_dir("dev-1", {}) == Path("/home/u/.local/state/openclaw-sessions-sidecar/dev-1")
    assert state_dir("dev-1", {"XDG_STATE_HOME": "/xdg"}) == Path("/xdg/openclaw-sessions-sidecar/dev-1")
    assert state_dir("dev-1", {"XDG_STATE_HOME": "relative"}).parts[-3:] == (
        "state",
        "openclaw-sessions-sidecar",
        "dev-1",
    )


@pytest.mark.parametrize("agent", ["../lead", "Lead", "", "a/b"])
def test_an_agent_id_that_could_escape_the_state_dir_is_refused(agent: str) -> None:
    with pytest.raises(ValueError, match="not a valid agent id"):
        state_dir(agent, {"SIDECAR_STATE_DIR": "/s"})


# -- status ------------------------------------------------------------------------------------------


def test_status_shows_each_gateways_freshness_from_the_agents_default_mirror(
    capsys: pytest.CaptureFixture[str], state_root: Path
) -> None:
    make_mirror(state_root / "lead" / "mirror.db")
    code, out, _ = run(capsys, "mirror", "status", "--agent", "lead")
    assert code == 0
    assert f"mirror {state_root / 'lead' / 'mirror.db'} (schema {SCHEMA_VERSION})" in out
    assert "1 sessions, 2 agents, 0 decisions logged, 0 sends pending" in out
    header, line = [x for x in out.splitlines() if x.startswith(("GATEWAY", "home"))]
    assert header.split() == [
        "GATEWAY", "OPENCLAW", "STATE", "FOLLOWS", "ROWS", "LAST", "FULL", "SYNC", "LAST", "EVENT", "SEQ",
    ]  # fmt: skip
    assert line.split()[:5] == ["home", "?", "live", "-", "1"] and "3s ago" in line and line.endswith("41")
    assert "hint" not in out


def test_status_flags_a_silent_gateway_as_stale_with_what_to_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    make_mirror(db, heard_ago=7200)
    code, out, _ = run(capsys, "mirror", "status", "--db", str(db))
    assert code == 1
    assert [x.split()[:3] for x in out.splitlines() if x.startswith("home")] == [["home", "?", "stale"]]
    assert "hint: home is stale (no event for 2h). Is the sidecar running (sidecar serve)" in out
    assert "sidecar mirror sync --gateway URL --agent ID" in out


def test_status_says_an_interrupted_snapshot_will_resume(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    make_mirror(db, state="syncing", offset=1500)
    code, out, _ = run(capsys, "mirror", "status", "--db", str(db))
    assert code == 1
    assert "interrupted at row 1500; the next sync resumes it" in out


def test_status_json_is_one_object_with_freshness_per_gateway(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    make_mirror(db)
    code, out, _ = run(capsys, "mirror", "status", "--db", str(db), "--json")
    report = json.loads(out)
    assert code == 0 and report["fresh"] is True
    assert report["sessions"] == 1 and report["agents"] == ["dev-1", "lead"]
    [gateway] = report["gateways"]
    assert (gateway["gateway"], gateway["freshness"], gateway["seq"], gateway["hint"]) == (
        "home",
        "live",
        41,
        None,
    )
    assert 2 <= gateway["last_event_age_s"] < 60


def test_status_without_a_database_says_where_it_looked_and_how_one_is_made(
    capsys: pytest.CaptureFixture[str], state_root: Path
) -> None:
    code, _, err = run(capsys, "mirror", "status", "--agent", "dev-1")
    assert code == 2
    assert f"no mirror at {state_root / 'dev-1' / 'mirror.db'}" in err
    assert "sidecar serve --agent dev-1" in err
    assert not (state_root / "dev-1").exists()


def test_status_needs_an_agent_or_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mirror", "status")
    assert code == 2 and "pass --agent ID" in err
    code, _, err = run(capsys, "mirror", "status", "--agent", "../x")
    assert code == 2 and "not a valid agent id" in err


def test_status_reads_while_the_sidecar_holds_the_write_lock(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    make_mirror(db)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        code, out, _ = run(capsys, "mirror", "status", "--db", str(db))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 0 and "home" in out


def test_status_on_a_database_locked_exclusively_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    make_mirror(db)
    hog = sqlite3.connect(db, isolation_level=None)
    hog.execute("PRAGMA locking_mode = EXCLUSIVE")
    hog.execute("BEGIN EXCLUSIVE")
    hog.execute("UPDATE sync_cursor SET rows = 2")
    try:
        code, out, err = run(capsys, "mirror", "status", "--db", str(db))
    finally:
        hog.execute("ROLLBACK")
        hog.close()
    assert code == 2 and out == ""
    assert "is locked by another process" in err and "Traceback" not in err


def test_the_help_shows_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("status", "sync"):
        with pytest.raises(SystemExit) as exited:
            main(["mirror", command, "--help"])
        out = capsys.readouterr().out
        assert exited.value.code == 0
        assert "examples:\n  sidecar mirror " + command in out
        assert "Exit codes:" in out


# -- sync --------------------------------------------------------------------------------------------


def test_a_manual_sync_refuses_while_a_sidecar_keeps_the_mirror_live(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    make_mirror(db)
    code, _, err = run(
        capsys, "mirror", "sync", "--db", str(db), "--agent", "lead", "--gateway", "ws://127.0.0.1:9"
    )
    assert code == 2
    assert "a sidecar is keeping home live" in err and "--force" in err


def test_a_manual_sync_checks_its_arguments_before_connecting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    code, _, err = run(capsys, "mirror", "sync", "--db", str(db), "--gateway", "ws://127.0.0.1:9")
    assert code == 2 and "--agent ID is needed" in err
    code, _, err = run(
        capsys, "mirror", "sync", "--db", str(db), "--agent", "lead", "--gateway", "ws://203.0.113.9"
    )
    assert code == 2 and "ws://" in err
    assert not db.exists()


def test_status_states_the_release_and_the_polling_bound_of_a_gateway_without_events(
    capsys: pytest.CaptureFixture[str], state_root: Path
) -> None:
    path = state_root / "lead" / "mirror.db"
    make_mirror(path)
    with Mirror.open(path) as mirror:
        mirror.cursors.update(
            "home", mode="polling", stale_bound=16.0, openclaw_version="2026.3.13", last_full_sync=time.time()
        )
    code, out, _ = run(capsys, "mirror", "status", "--agent", "lead")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("home"))
    assert "2026.3.13" in line and "polling (rows <= 16 s old)" in line
