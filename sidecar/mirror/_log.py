"""The decision log, a table that lives beside the mirror (and the outbox) in the agent's database.

The decision log answers "what did this sidecar decide, when, on which gate and how stale was its view"
without ever holding what was said: it has no column for a message, and `record` takes none.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sidecar.mirror._errors import MirrorError
from sidecar.mirror._handle import MirrorHandle
from sidecar.mirror._retention import Retention

if TYPE_CHECKING:
    from sidecar.policy import Decision

log = logging.getLogger("sidecar.mirror")

Outcome = Literal["allowed", "denied", "error"]
OUTCOMES: tuple[Outcome, ...] = ("allowed", "denied", "error")


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    id: int
    ts: float
    requester_agent: str
    requester_session: str
    tool: str
    target: str | None
    outcome: Outcome
    gate: str | None
    source: str | None
    latency_us: int | None
    cursor: int | None
    trace_id: str | None
    requester_gateway: str | None = None
    target_gateway: str | None = None
    side: str | None = None
    fix: str | None = None
    would_deny: bool = False


_DECISION_COLUMNS = tuple(f.name for f in fields(DecisionRecord))


FLUSH_ROWS = 256
"""Buffered decisions are due for SQLite (one transaction) once this many are waiting (`flush_due`)..."""
FLUSH_AFTER_S = 0.2
"""...or once the oldest has waited this long. `sidecar serve` runs a writer task that flushes what is
due, so no tool call carries a batch."""
BACKLOG_ROWS = 4 * FLUSH_ROWS
"""A call writes the batch itself only when this many wait (no writer task running: a one-shot tool, a
test). While the database refuses batches (full, locked), this many decisions may wait in the journal;
past that, `record` fails closed with the database's error and its fix rather than grow the journal."""


class DecisionLog:
    """Append-only record of every decision (and forwarding error) this sidecar made.

    A decision is acknowledged when `record` returns: by then it is one line in the journal file beside
    the database (`<mirror>-decisions`, 0600), written with a single `write(2)` in append mode, so a
    crash of the process after that point cannot lose it. The rows themselves reach SQLite in batches
    (`flush`, every FLUSH_ROWS rows or FLUSH_AFTER_S seconds, and on close), which takes the per-call
    COMMIT, and the WAL checkpoints that some commits trigger, off the tool call. Opening the mirror
    replays whatever a crashed run left in the journal; ids are assigned here, so a replayed row keeps
    the id its caller was given. The journal holds exactly the decision columns: never a message.
    An in-memory mirror has no journal (nothing of it survives a crash anyway).
    """

    def __init__(self, mirror: MirrorHandle) -> None:
        self._mirror = mirror
        self._lock = threading.Lock()
        self._buffer: list[tuple[Any, ...]] = []
        self._oldest = 0.0
        self._next_id = 1
        self._journal: int | None = None
        self._refused: MirrorError | None = None
        self.retention = Retention()  # none until set; pruned in flush's transaction (_retention.py)

    # -- journal -------------------------------------------------------------------------------------

    def _open(self, path: Path | None) -> None:
        """Called by the Mirror once its schema is in place: replay a crashed run's journal, then
        keep the journal open for appending."""
        if path is not None:
            journal = journal_path(path)
            try:
                fd = os.open(journal, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
                if os.fstat(fd).st_mode & 0o077:
                    os.fchmod(fd, 0o600)
            except OSError as exc:
                raise MirrorError(
                    f"cannot open the decision journal {journal}: {exc.strerror or exc}. It must be a "
                    "regular file this user can write (not a symlink)."
                ) from None
            self._journal = fd
            left = _read_journal(fd)
            if left:
                with self._mirror.write() as db:
                    db.conn.executemany(_INSERT, left)
                os.ftruncate(fd, 0)
        with self._mirror.reading() as conn:
            self._next_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM decisions").fetchone()[0]) + 1

    def _close(self) -> None:
        self.flush()
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None

    # -- writing ---------------------------------------------------------------------------------------

    def record(
        self,
        *,
        requester_agent: str,
        requester_session: str,
        tool: str,
        target: str | None,
        outcome: Outcome,
        gate: str | None = None,
        source: str | None = None,
        latency_us: int | None = None,
        cursor: int | None = None,
        trace_id: str | None = None,
        gateway: str | None = None,
        ts: float | None = None,
        requester_gateway: str = "home",
        target_gateway: str | None = None,
        side: str = "outbound",
        fix: str | None = None,
        would_deny: bool = False,
    ) -> int:
        """Append one decision and return its id. `cursor` defaults to the mirror's event seq for `gateway`
        (or for its only gateway), so each decision says how current the view it was made on was.

        Both ends are (gateway, agent, session): `requester_gateway` is where the requester lives (a peer's
        name for a call that peer forwarded), `target_gateway` (default `gateway`) where the target does;
        `side` says whether this host decided as the sender (outbound) or as the receiver (inbound).

        Raises:
            ValueError: `outcome` is not allowed/denied/error.
            MirrorError: the journal cannot be written (the decision is not acknowledged).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        if cursor is None:
            cursor = self._mirror.cursors.seq(gateway)
        if self._refused is not None and len(self._buffer) >= BACKLOG_ROWS:
            self.flush()  # raises the database's current error, or catches up
        now = time.time()
        with self._lock:
            row_id = self._next_id
            row = (
                row_id,
                now if ts is None else ts,
                requester_agent,
                requester_session,
                tool,
                target,
                outcome,
                gate,
                source,
                latency_us,
                cursor,
                trace_id,
                requester_gateway,
                target_gateway if target_gateway is not None else gateway,
                side,
                fix,
                int(would_deny),
            )
            if self._journal is not None:
                line = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
                try:
                    os.write(self._journal, line.encode())
                except OSError as exc:
                    raise MirrorError(
                        f"cannot append to the decision journal beside {self._mirror.path}: {exc}. "
                        "Check the disk and the file's permissions."
                    ) from None
            self._next_id += 1
            if not self._buffer:
                self._oldest = now
            self._buffer.append(row)
            # A batch written here lands on this call's latency (it was the whole p99 of a logged
            # decision): the writer task takes it, and a call only when nothing has for BACKLOG_ROWS.
            full = len(self._buffer) >= BACKLOG_ROWS
        if full:
            self._try_flush()
        return row_id

    def record_decision(
        self,
        decision: Decision,
        *,
        latency_us: int | None = None,
        outcome: Outcome | None = None,
        cursor: int | None = None,
        trace_id: str | None = None,
        gateway: str | None = None,
    ) -> int:
        """Append a policy Decision; `outcome="error"` records an allowed call that then failed to forward."""
        return self.record(
            requester_agent=decision.requester.agent_id,
            requester_session=decision.requester.session_key,
            tool=decision.tool,
            target=decision.target if decision.target is not None else decision.target_agent,
            outcome=outcome or ("allowed" if decision.allowed else "denied"),
            gate=decision.gate,
            source=decision.source,
            latency_us=latency_us,
            cursor=cursor,
            trace_id=trace_id,
            gateway=gateway,
            requester_gateway=decision.requester.gateway,
            target_gateway=decision.target_gateway or gateway,
            side=decision.side,
            fix=decision.fix,
            would_deny=decision.would_deny,
        )

    @property
    def pending(self) -> int:
        """Decisions acknowledged (journaled) but not yet written to the database."""
        return len(self._buffer)

    def flush_due(self, now: float | None = None) -> bool:
        """Whether a batch is due (what the writer task checks): FLUSH_ROWS decisions wait, or the oldest
        has waited FLUSH_AFTER_S."""
        if len(self._buffer) >= FLUSH_ROWS:
            return True
        return bool(self._buffer) and (time.time() if now is None else now) - self._oldest >= FLUSH_AFTER_S

    def flush(self) -> int:
        """Write every buffered decision in one transaction, then empty the journal; returns how many.

        Raises:
            MirrorLocked, MirrorError: the rows stay buffered and journaled for the next flush.
        """
        with self._lock:
            rows = self._buffer
            if not rows:
                return 0
            try:
                with self._mirror.write() as db:
                    db.conn.executemany(_INSERT, rows)
                    self.retention.apply(db.conn, time.time())
            except sqlite3.DatabaseError as exc:
                self._refused = self._mirror._translate(exc)
                raise self._refused from None
            except MirrorError as exc:
                self._refused = exc
                raise
            self._refused = None
            self._buffer = []
            if self._journal is not None:
                os.ftruncate(self._journal, 0)
            return len(rows)

    def _try_flush(self) -> None:
        # A failed batch costs nothing acknowledged: the rows stay journaled and buffered.
        try:
            self.flush()
        except MirrorError as exc:
            log.warning("decision log: %d decisions wait for the database (%s)", len(self._buffer), exc)

    # -- reading -------------------------------------------------------------------------------------

    def recent(self, limit: int = 50) -> list[DecisionRecord]:
        self.flush()
        with self._mirror.reading() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_DECISION_COLUMNS)} FROM decisions ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_record(row) for row in rows]

    def would_deny(self, *, since: float | None = None, limit: int = 200) -> list[DecisionRecord]:
        """Observe mode's would-be denials, newest first (since `since`, epoch seconds)."""
        self.flush()
        with self._mirror.reading() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_DECISION_COLUMNS)} FROM decisions WHERE would_deny = 1 AND ts >= ? "
                "ORDER BY id DESC LIMIT ?",
                (since or 0.0, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def count_allowed(self, agent_id: str, tool: str, since: float) -> tuple[int, float | None]:
        """How many calls of `tool` by `agent_id` went through since `since`, and the oldest one's time."""
        self.flush()  # a spawn decided a moment ago counts
        with self._mirror.reading() as conn:
            count, oldest = conn.execute(
                "SELECT count(*), min(ts) FROM decisions WHERE requester_agent = ? AND tool = ? "
                "AND outcome = 'allowed' AND ts >= ?",
                (agent_id, tool, since),
            ).fetchone()
        return int(count), oldest

    def prune(self, before: float) -> int:
        """Delete decisions older than `before` (epoch seconds); returns how many."""
        self.flush()
        with self._mirror.write() as db:
            return int(db.execute("DELETE FROM decisions WHERE ts < ?", (before,)).rowcount)


_INSERT = (
    f"INSERT OR IGNORE INTO decisions ({', '.join(_DECISION_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _DECISION_COLUMNS)})"
)


def journal_path(db: Path) -> Path:
    """Where the mirror at `db` journals acknowledged decisions until they are in the database."""
    return db.with_name(db.name + "-decisions")


def journaled_decisions(db: Path) -> int:
    """How many decisions wait in the journal of the mirror at `db` (a crashed or running sidecar's)."""
    try:
        with journal_path(db).open("rb") as journal:
            return sum(1 for line in journal if line.endswith(b"\n"))
    except FileNotFoundError:
        return 0


def _read_journal(fd: int) -> list[tuple[Any, ...]]:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    rows = []
    for line in b"".join(chunks).split(b"\n"):
        # A line cut short (power lost mid-write) was never acknowledged: skip it.
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, list) and len(row) == len(_DECISION_COLUMNS) - 5:
            row += ["home", None, "outbound"]  # journaled by a sidecar before gateways were recorded
        if isinstance(row, list) and len(row) == len(_DECISION_COLUMNS) - 2:
            row += [None, 0]  # journaled before fix and would_deny were recorded
        if isinstance(row, list) and len(row) == len(_DECISION_COLUMNS):
            rows.append(tuple(row))
    return rows


def _record(row: tuple[Any, ...]) -> DecisionRecord:
    record = DecisionRecord(*row)
    return dataclasses.replace(record, would_deny=bool(record.would_deny))
