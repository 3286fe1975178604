"""The outbox: durable, and holding a body only while its send is pending."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sidecar.mirror import Mirror, OutboxError

SECRET = "TOP-SECRET-MESSAGE-BODY-0451"


def queue(mirror: Mirror, key: str = "idem-1", body: str = SECRET) -> None:
    mirror.outbox.add(
        idempotency_key=key,
        send_id="send-1",
        requester="agent:lead:main",
        target="agent:dev-1:main",
        gateway="home",
        body=body,
        hop=1,
        trace_id="trace-1",
    )


def file_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


# -- outbox ------------------------------------------------------------------------------------------


def test_a_queued_send_is_pending_with_its_body_and_no_attempts(fresh_db: Mirror) -> None:
    queue(fresh_db)
    entry = fresh_db.outbox.get("idem-1")
    assert entry is not None
    assert (entry.status, entry.attempts, entry.body, entry.hop, entry.trace_id) == (
        "pending",
        0,
        SECRET,
        1,
        "trace-1",
    )
    assert SECRET not in repr(entry)
    assert [e.idempotency_key for e in fresh_db.outbox.pending()] == ["idem-1"]


def test_a_delivered_send_keeps_its_run_id_and_loses_its_body(fresh_db: Mirror) -> None:
    queue(fresh_db)
    assert fresh_db.outbox.attempt("idem-1").attempts == 1
    fresh_db.outbox.retrying("idem-1", "gateway restarting")
    assert fresh_db.outbox.attempt("idem-1").attempts == 2
    fresh_db.outbox.delivered("idem-1", run_id="run-9")
    entry = fresh_db.outbox.get("idem-1")
    assert entry is not None
    assert (entry.status, entry.run_id, entry.body, entry.attempts) == ("delivered", "run-9", None, 2)
    assert entry.delivered_at is not None
    assert fresh_db.outbox.pending() == []


def test_a_failed_send_keeps_its_error_and_loses_its_body(fresh_db: Mirror) -> None:
    queue(fresh_db)
    fresh_db.outbox.failed("idem-1", "send blocked by session policy")
    entry = fresh_db.outbox.get("idem-1")
    assert entry is not None
    assert (entry.status, entry.last_error, entry.body) == ("failed", "send blocked by session policy", None)


def test_a_finished_send_cannot_be_attempted_or_finished_again(fresh_db: Mirror) -> None:
    queue(fresh_db)
    fresh_db.outbox.delivered("idem-1")
    with pytest.raises(OutboxError, match="already delivered"):
        fresh_db.outbox.attempt("idem-1")
    with pytest.raises(OutboxError, match="already delivered"):
        fresh_db.outbox.failed("idem-1", "late")
    with pytest.raises(OutboxError, match="no outbox entry"):
        fresh_db.outbox.delivered("nope")


def test_queueing_the_same_idempotency_key_twice_keeps_the_first_entry(fresh_db: Mirror) -> None:
    queue(fresh_db)
    fresh_db.outbox.attempt("idem-1")
    queue(fresh_db, body="a different body")
    entry = fresh_db.outbox.get("idem-1")
    assert entry is not None and entry.body == SECRET and entry.attempts == 1


def test_the_table_itself_refuses_a_body_on_a_finished_send(fresh_db: Mirror) -> None:
    queue(fresh_db)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        fresh_db.db.execute("UPDATE outbox SET status = 'delivered' WHERE idempotency_key = 'idem-1'")


def test_outbox_writes_commit_at_synchronous_full_and_mirror_writes_do_not(fresh_db: Mirror) -> None:
    statements: list[str] = []
    fresh_db.db.conn.set_trace_callback(statements.append)
    queue(fresh_db)
    fresh_db.outbox.delivered("idem-1")
    outbox_trace = list(statements)
    statements.clear()
    fresh_db.set_agents("home", ["lead"])
    fresh_db.db.conn.set_trace_callback(None)

    def around(trace: list[str], marker: str) -> tuple[str, str]:
        at = next(i for i, s in enumerate(trace) if marker in s)
        sync = [s for s in trace[:at] if "synchronous" in s]
        after = [s for s in trace[at:] if "synchronous" in s]
        return sync[-1], after[0]

    assert around(outbox_trace, "INSERT INTO outbox") == (
        "PRAGMA synchronous = FULL",
        "PRAGMA synchronous = NORMAL",
    )
    assert around(outbox_trace, "UPDATE outbox") == (
        "PRAGMA synchronous = FULL",
        "PRAGMA synchronous = NORMAL",
    )
    assert not [s for s in statements if "synchronous" in s]


@pytest.mark.parametrize("repeat", [1, 400], ids=["inline", "overflow-pages"])
def test_a_delivered_body_does_not_live_on_in_the_database_files(db_path: Path, repeat: int) -> None:
    # A body larger than a page lives in overflow pages, which a plain delete only moves to the freelist.
    with Mirror.open(db_path) as mirror:
        queue(mirror, body=" ".join([SECRET] * repeat))
        mirror.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert SECRET.encode() in file_bytes(db_path)  # the body did reach the main file
        mirror.outbox.delivered("idem-1", run_id="run-1")
    assert SECRET.encode() not in file_bytes(db_path)


def test_a_pending_body_survives_a_restart_for_the_retry(db_path: Path) -> None:
    with Mirror.open(db_path) as mirror:
        queue(mirror)
    with Mirror.open(db_path) as again:
        [entry] = again.outbox.pending("home")
        assert entry.body == SECRET
