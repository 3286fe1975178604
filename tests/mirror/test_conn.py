"""Connection: the mirror's SQLite helpers keep sqlite-utils' transaction behaviour."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sidecar.mirror._conn import Connection, first_keyword


def fresh(path: Path | None = None) -> Connection:
    db = Connection(sqlite3.connect(":memory:" if path is None else path))
    db.execute("CREATE TABLE t (v INTEGER)")
    return db


def test_a_write_outside_a_transaction_is_committed_at_once() -> None:
    db = fresh()
    db.execute("INSERT INTO t VALUES (1)")
    assert not db.conn.in_transaction
    db.rollback()
    assert [r[0] for r in db.execute("SELECT v FROM t")] == [1]


def test_a_failed_atomic_block_leaves_nothing_and_a_nested_one_only_undoes_itself() -> None:
    db = fresh()
    with pytest.raises(RuntimeError), db.atomic():
        db.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    with db.atomic():
        db.execute("INSERT INTO t VALUES (2)")
        with pytest.raises(RuntimeError), db.atomic():
            db.execute("INSERT INTO t VALUES (3)")
            raise RuntimeError("inner")
    assert [r[0] for r in db.execute("SELECT v FROM t")] == [2]


def test_wal_is_enabled_outside_transactions_only(tmp_path: Path) -> None:
    db = fresh(tmp_path / "m.db")
    db.enable_wal()
    assert db.journal_mode == "wal"
    assert "t" in db.table_names()
    db.close()


def test_first_keyword_skips_comments_and_whitespace() -> None:
    assert first_keyword("  -- note\n/* x */ ; begin immediate") == "BEGIN"
    assert first_keyword("/* never closed") == ""
