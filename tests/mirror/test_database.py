"""The database file: schema, privacy of the file, pragmas, atomic writes and a clear error when locked."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.mirror import SCHEMA_VERSION, Mirror, MirrorError, MirrorLocked, SessionRow
from sidecar.mirror._rows import COLUMNS

TABLES = {"sessions", "agents", "sync_cursor", "decisions", "outbox"}


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The umask most desktops run with: files 0644 unless the code asks otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def child(key: str, parent: str, **values: object) -> SessionRow:
    return SessionRow(
        key=key, gateway="home", agent=key.split(":")[1], spawned_by=parent, seen_at=1.0, **values
    )  # type: ignore[arg-type]


def test_a_new_database_has_every_table_at_the_current_schema_version(fresh_db: Mirror) -> None:
    assert set(fresh_db.db.table_names()) >= TABLES
    assert fresh_db.pragma("user_version") == SCHEMA_VERSION


def test_opening_an_existing_database_again_keeps_its_rows_and_version(db_path: Path) -> None:
    with Mirror.open(db_path) as first:
        first.apply([child("agent:dev-1:subagent:a", "agent:lead:main")])
    with Mirror.open(db_path) as again:
        assert again.pragma("user_version") == SCHEMA_VERSION
        assert again.view.parent_of("agent:dev-1:subagent:a") == "agent:lead:main"


def test_a_database_from_a_newer_sidecar_is_refused_with_what_to_do(db_path: Path) -> None:
    Mirror.open(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(
        MirrorError, match=r"newer than this sidecar's.*upgrade the sidecar, or delete the file"
    ):
        Mirror.open(db_path)


def test_a_session_row_reads_back_exactly_as_written(fresh_db: Mirror) -> None:
    assert set(COLUMNS) <= {r[1] for r in fresh_db.db.execute("PRAGMA table_info(sessions)")}
    row = child("agent:dev-1:subagent:a", "agent:lead:main", status="running", depth=1, label="x")
    fresh_db.apply([row])
    assert fresh_db.view.get(row.key) == row


@pytest.mark.usefixtures("loose_umask")
def test_the_database_and_its_wal_and_shm_files_are_private_to_the_user(db_path: Path) -> None:
    with Mirror.open(db_path) as mirror:
        mirror.apply([child("agent:dev-1:subagent:a", "agent:lead:main")])
        files = [db_path, db_path.with_name("mirror.db-wal"), db_path.with_name("mirror.db-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(db_path.parent) == 0o700


@pytest.mark.usefixtures("loose_umask")
def test_an_existing_world_readable_database_is_made_private_on_open(db_path: Path) -> None:
    Mirror.open(db_path).close()
    db_path.chmod(0o644)
    with Mirror.open(db_path):
        assert mode(db_path) == 0o600


def test_the_file_runs_in_wal_mode_with_a_five_second_busy_timeout_and_normal_sync(db_path: Path) -> None:
    with Mirror.open(db_path) as mirror:
        assert mirror.pragma("journal_mode") == "wal"
        assert mirror.pragma("busy_timeout") == 5000
        assert mirror.pragma("synchronous") == 1  # NORMAL
        assert mirror.pragma("secure_delete") == 1


def test_a_write_that_fails_halfway_leaves_neither_rows_nor_view_changes(fresh_db: Mirror) -> None:
    fresh_db.apply([child("agent:dev-1:subagent:a", "agent:lead:main", status="running")])
    with pytest.raises(RuntimeError, match="boom"), fresh_db.write():
        fresh_db.apply([child("agent:dev-1:subagent:b", "agent:lead:main", status="running")])
        fresh_db.remove("agent:dev-1:subagent:a", "home")
        raise RuntimeError("boom")
    assert [r.key for r in fresh_db.view.session_keys()] == ["agent:dev-1:subagent:a"]
    assert "agent:dev-1:subagent:b" not in fresh_db.view
    assert fresh_db.view.active_children("agent:lead:main") == 1


def test_a_write_commits_every_row_of_a_batch_together(fresh_db: Mirror) -> None:
    rows = [child(f"agent:dev-1:subagent:{i}", "agent:lead:main") for i in range(50)]
    assert fresh_db.apply(rows) == 50
    assert fresh_db.count("home") == 50


def test_a_locked_database_raises_a_clear_error_instead_of_crashing(db_path: Path) -> None:
    mirror = Mirror.open(db_path, busy_timeout=0.05)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(
            MirrorLocked, match=r"locked by another process .*Is another sidecar for this agent"
        ):
            mirror.apply([child("agent:dev-1:subagent:a", "agent:lead:main")])
        with pytest.raises(MirrorLocked, match=re.escape(str(db_path))):
            Mirror.open(db_path, busy_timeout=0.05)
        assert "agent:dev-1:subagent:a" not in mirror.view
        assert mirror.view.depth_of("agent:dev-1:main") == 0  # reads from memory still work
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    mirror.apply([child("agent:dev-1:subagent:a", "agent:lead:main")])
    assert "agent:dev-1:subagent:a" in mirror.view
    mirror.close()


def test_a_read_only_open_neither_creates_a_file_nor_writes(db_path: Path) -> None:
    with pytest.raises(MirrorError, match="no mirror database"):
        Mirror.open(db_path, readonly=True)
    assert not db_path.exists()
    Mirror.open(db_path).close()
    with Mirror.open(db_path, readonly=True) as reader, pytest.raises(MirrorError, match="read-only"):
        reader.apply([child("agent:dev-1:subagent:a", "agent:lead:main")])


def test_a_file_that_is_not_a_mirror_is_refused_read_only(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    with pytest.raises(MirrorError, match="not a sidecar mirror"):
        Mirror.open(other, readonly=True)


def test_an_unreadable_path_is_a_mirror_error_naming_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(MirrorError, match="cannot open the mirror database"):
        Mirror.open(blocker / "mirror.db")


def test_the_in_memory_mirror_needs_no_file(fresh_db: Mirror) -> None:
    assert fresh_db.path is None
    assert "memory" in repr(fresh_db)
