"""The decision log's writer: acknowledged decisions are journaled at once and batched into SQLite."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.mirror import FLUSH_ROWS, Mirror, MirrorError, journal_path, journaled_decisions
from sidecar.mirror._log import BACKLOG_ROWS

CHILD = """
import os, sys, time
from sidecar.mirror import Mirror
mirror = Mirror.open(sys.argv[1])
ids = [
    mirror.decisions.record(
        requester_agent="lead", requester_session="agent:lead:main", tool="sessions_send",
        target=f"agent:dev-{i}:main", outcome="denied", gate="visibility", source="tools.sessions.visibility",
    )
    for i in range(3)
]
print(" ".join(map(str, ids)), flush=True)  # acknowledged: the caller now answers the agent
time.sleep(60)
"""


def record(mirror: Mirror, target: str = "agent:dev-1:main") -> int:
    return mirror.decisions.record(
        requester_agent="lead",
        requester_session="agent:lead:main",
        tool="sessions_history",
        target=target,
        outcome="allowed",
    )


def rows_in_file(db: Path) -> int:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM decisions").fetchone()[0])


def test_a_decision_acknowledged_before_the_process_is_killed_is_in_the_log_after_restart(
    db_path: Path,
) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path)], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            acknowledged = [int(i) for i in child.stdout.readline().split()]
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) == 3
    # Killed before any batch was written: the decisions live only in the journal.
    assert rows_in_file(db_path) == 0
    assert journaled_decisions(db_path) == 3
    with Mirror.open(db_path) as mirror:
        logged = {d.id: d for d in mirror.decisions.recent()}
        assert sorted(logged) == acknowledged
        assert {(d.outcome, d.gate, d.target) for d in logged.values()} == {
            ("denied", "visibility", f"agent:dev-{i}:main") for i in range(3)
        }
        assert journaled_decisions(db_path) == 0
        # Ids keep counting after the replayed ones.
        assert record(mirror) == max(acknowledged) + 1


def test_decisions_reach_the_database_in_batches_not_one_commit_per_call(db_path: Path) -> None:
    with Mirror.open(db_path) as mirror:
        for _ in range(FLUSH_ROWS - 1):
            record(mirror)
        assert rows_in_file(db_path) == 0
        assert mirror.decisions.pending == journaled_decisions(db_path) == FLUSH_ROWS - 1
        assert not mirror.decisions.flush_due(now=0.0)
        record(mirror)
        # A full batch is due for the writer task; the call that filled it does not write it.
        assert mirror.decisions.flush_due(now=0.0)
        assert rows_in_file(db_path) == 0
        assert mirror.decisions.flush() == FLUSH_ROWS
        assert rows_in_file(db_path) == FLUSH_ROWS
        assert mirror.decisions.pending == journaled_decisions(db_path) == 0


def test_without_a_writer_a_call_writes_the_backlog_itself(db_path: Path) -> None:
    with Mirror.open(db_path) as mirror:
        for _ in range(BACKLOG_ROWS - 1):
            record(mirror)
        assert rows_in_file(db_path) == 0
        record(mirror)
        assert rows_in_file(db_path) == BACKLOG_ROWS
        assert mirror.decisions.pending == journaled_decisions(db_path) == 0


def test_closing_the_mirror_writes_what_is_buffered(db_path: Path) -> None:
    with Mirror.open(db_path) as mirror:
        record(mirror)
        assert mirror.decisions.flush_due(now=1e12)
    assert rows_in_file(db_path) == 1
    assert journaled_decisions(db_path) == 0


def test_a_journal_line_cut_short_is_skipped_and_the_rest_replayed(db_path: Path) -> None:
    with Mirror.open(db_path) as mirror:
        record(mirror)
        record(mirror, "agent:dev-2:main")
        line = journal_path(db_path).read_bytes().splitlines()[-1]
        # Simulate a crash: copy the journal aside before close empties it.
        saved = journal_path(db_path).read_bytes()
    journal_path(db_path).write_bytes(saved + line[: len(line) // 2])
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM decisions")
    with Mirror.open(db_path) as mirror:
        assert [d.target for d in mirror.decisions.recent()] == ["agent:dev-2:main", "agent:dev-1:main"]


def test_the_journal_is_private_and_holds_only_decision_columns(db_path: Path) -> None:
    with Mirror.open(db_path) as mirror:
        record(mirror)
        journal = journal_path(db_path)
        assert journal.stat().st_mode & 0o777 == 0o600
        [row] = [json.loads(line) for line in journal.read_bytes().splitlines()]
        assert len(row) == 17 and row[2:6] == [
            "lead",
            "agent:lead:main",
            "sessions_history",
            "agent:dev-1:main",
        ]


def test_a_journal_that_is_a_symlink_is_refused_with_what_to_do(db_path: Path, tmp_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    (tmp_path / "elsewhere").write_text("")
    journal_path(db_path).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(MirrorError, match="not a symlink"):
        Mirror.open(db_path)
