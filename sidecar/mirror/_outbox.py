"""The outbox: a sessions_send body is held only while the send is pending.

Delivering or failing a send sets its body to NULL in the same durable transaction (secure_delete zeroes
the old bytes in the file). It lives beside the mirror and the decision log in the agent's database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from sidecar.mirror._handle import MirrorHandle

OutboxStatus = Literal["pending", "delivered", "failed"]


class OutboxError(LookupError):
    """An outbox entry is missing, or is not in a state that allows the change asked for."""


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
    requester_gateway: str = "home"


_OUTBOX_COLUMNS = tuple(f.name for f in fields(OutboxEntry))


class Outbox:
    """Durable sends: `add` before the gateway call, `attempt` per try, `delivered` or `failed` at the end.

    Every write here commits at synchronous=FULL: a send the sidecar acknowledged must survive a power
    cut, and a retry after a crash reuses the same idempotency key, which the gateway deduplicates.
    """

    def __init__(self, mirror: MirrorHandle) -> None:
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
        requester_gateway: str = "home",
    ) -> OutboxEntry:
        """Queue one send. Adding the same idempotency key again returns the existing entry unchanged.

        The requester is (`requester_gateway`, requester); the target is (`gateway`, target). A receiving
        host queues a peer's send under the sender's own idempotency key, so a resend is found here.
        """
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
            "requester_gateway": requester_gateway,
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

    def count_since(self, requester_prefix: str, since: float) -> tuple[int, float | None]:
        """Sends written by sessions whose key starts with `requester_prefix` since `since`, and the oldest
        one's time: each logical send once (a retry reuses its entry), delivered, failed or pending."""
        with self._mirror.reading() as conn:
            count, oldest = conn.execute(
                "SELECT count(*), min(created_at) FROM outbox WHERE created_at >= ? AND substr(requester, 1, ?) = ?",
                (since, len(requester_prefix), requester_prefix),
            ).fetchone()
        return int(count), oldest

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
