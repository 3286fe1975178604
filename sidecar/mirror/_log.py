"""The decision log and the outbox, two tables that live beside the mirror in the agent's database.

The decision log answers "what did this sidecar decide, when, on which gate and how stale was its view"
without ever holding what was said: it has no column for a message, and `record` takes none. The outbox
holds a sessions_send body only while the send is pending; delivering or failing it sets the body to
NULL in the same durable transaction (secure_delete zeroes the old bytes in the file).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sidecar.mirror._db import Mirror
    from sidecar.policy import Decision

Outcome = Literal["allowed", "denied", "error"]
OutboxStatus = Literal["pending", "delivered", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("allowed", "denied", "error")


class OutboxError(LookupError):
    """An outbox entry is missing, or is not in a state that allows the change asked for."""


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


_DECISION_COLUMNS = tuple(f.name for f in fields(DecisionRecord))


class DecisionLog:
    """Append-only record of every decision (and forwarding error) this sidecar made."""

    def __init__(self, mirror: Mirror) -> None:
        self._mirror = mirror

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
    ) -> int:
        """Append one decision and return its id. `cursor` defaults to the mirror's event seq for `gateway`
        (or for its only gateway), so each decision says how current the view it was made on was.

        Raises:
            ValueError: `outcome` is not allowed/denied/error.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        values = {
            "ts": time.time() if ts is None else ts,
            "requester_agent": requester_agent,
            "requester_session": requester_session,
            "tool": tool,
            "target": target,
            "outcome": outcome,
            "gate": gate,
            "source": source,
            "latency_us": latency_us,
            "cursor": self._mirror.cursors.seq(gateway) if cursor is None else cursor,
            "trace_id": trace_id,
        }
        with self._mirror.write() as db:
            db.execute(
                f"INSERT INTO decisions ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})",
                values,
            )
            return int(db.execute("SELECT last_insert_rowid()").fetchone()[0])

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
        )

    def recent(self, limit: int = 50) -> list[DecisionRecord]:
        with self._mirror.reading() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_DECISION_COLUMNS)} FROM decisions ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [DecisionRecord(*row) for row in rows]

    def prune(self, before: float) -> int:
        """Delete decisions older than `before` (epoch seconds); returns how many."""
        with self._mirror.write() as db:
            return int(db.execute("DELETE FROM decisions WHERE ts < ?", (before,)).rowcount)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    idempotency_key: str
    send_id: str
    requester: str
    target: str
    gateway: str
    created_at: float
    attempts: int
    status: OutboxStatus
    run_id: str | None
    last_error: str | None
    delivered_at: float | None
    hop: int
    trace_id: str | None
    body: str | None = field(repr=False)


_OUTBOX_COLUMNS = tuple(f.name for f in fields(OutboxEntry))


class Outbox:
    """Durable sends: `add` before the gateway call, `attempt` per try, `delivered` or `failed` at the end.

    Every write here commits at synchronous=FULL: a send the sidecar acknowledged must survive a power
    cut, and a retry after a crash reuses the same idempotency key, which the gateway deduplicates.
    """

    def __init__(self, mirror: Mirror) -> None:
        self._mirror = mirror

    def add(
        self,
        *,
        idempotency_key: str,
        send_id: str,
        requester: str,
        target: str,
        gateway: str,
        body: str,
        hop: int = 0,
        trace_id: str | None = None,
        created_at: float | None = None,
    ) -> OutboxEntry:
        """Queue one send. Adding the same idempotency key again returns the existing entry unchanged."""
        values: dict[str, Any] = {
            "idempotency_key": idempotency_key,
            "send_id": send_id,
            "requester": requester,
            "target": target,
            "gateway": gateway,
            "created_at": time.time() if created_at is None else created_at,
            "hop": hop,
            "trace_id": trace_id,
            "body": body,
        }
        with self._mirror.write(durable=True) as db:
            db.execute(
                f"INSERT INTO outbox ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)}) "
                "ON CONFLICT (idempotency_key) DO NOTHING",
                values,
            )
        return self._require(idempotency_key)

    def attempt(self, idempotency_key: str) -> OutboxEntry:
        """Count one delivery attempt of a pending entry (before the gateway call) and return it.

        Raises:
            OutboxError: no such entry, or it is no longer pending.
        """
        self._change(idempotency_key, "attempts = attempts + 1")
        return self._require(idempotency_key)

    def retrying(self, idempotency_key: str, error: str) -> None:
        """Note a retryable failure; the entry (and its body) stays pending for the next attempt."""
        self._change(idempotency_key, "last_error = ?", (error,))

    def delivered(self, idempotency_key: str, *, run_id: str | None = None) -> None:
        """The gateway accepted the send: keep the run id, drop the body."""
        self._change(
            idempotency_key,
            "status = 'delivered', body = NULL, delivered_at = ?, run_id = COALESCE(?, run_id)",
            (time.time(), run_id),
        )

    def failed(self, idempotency_key: str, error: str) -> None:
        """Give up on the send: keep the error, drop the body."""
        self._change(idempotency_key, "status = 'failed', body = NULL, last_error = ?", (error,))

    def get(self, idempotency_key: str) -> OutboxEntry | None:
        found = self._select("WHERE idempotency_key = ?", (idempotency_key,))
        return found[0] if found else None

    def pending(self, gateway: str | None = None) -> list[OutboxEntry]:
        """Entries still to deliver, oldest first (what a restarted sidecar resumes)."""
        if gateway is None:
            return self._select("WHERE status = 'pending' ORDER BY created_at", ())
        return self._select("WHERE status = 'pending' AND gateway = ? ORDER BY created_at", (gateway,))

    def _require(self, idempotency_key: str) -> OutboxEntry:
        entry = self.get(idempotency_key)
        if entry is None:
            raise OutboxError(f"no outbox entry with idempotency key {idempotency_key!r}")
        return entry

    def _change(self, idempotency_key: str, assignments: str, params: tuple[Any, ...] = ()) -> None:
        with self._mirror.write(durable=True) as db:
            changed = db.execute(
                f"UPDATE outbox SET {assignments} WHERE idempotency_key = ? AND status = 'pending'",
                (*params, idempotency_key),
            ).rowcount
        if not changed:
            entry = self._require(idempotency_key)
            raise OutboxError(f"outbox entry {idempotency_key!r} is already {entry.status}")

    def _select(self, where: str, params: tuple[Any, ...]) -> list[OutboxEntry]:
        with self._mirror.reading() as conn:
            rows = conn.execute(f"SELECT {', '.join(_OUTBOX_COLUMNS)} FROM outbox {where}", params).fetchall()
        return [OutboxEntry(*row) for row in rows]
