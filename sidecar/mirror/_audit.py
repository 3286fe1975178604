"""Audit records: one per logged decision, for export to a SIEM or a log pipeline.

A record names who asked (agent and session), what for (tool and target), what was decided (outcome,
gate and the key that decided), and how to follow it: the sidecar's trace id and the gateway's run id
of the send it allowed. Records are built from a fixed list of columns, so nothing the decision log
or the outbox might hold beyond them (least of all a message body) can reach an export.

The run id and trace id of an allowed send live in the outbox entry the send pipeline writes right
after the decision; a record takes them from the first entry for the same requester session and
target written within LINK_WINDOW_S after the decision.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from typing import Any

LINK_WINDOW_S = 120.0
AUDIT_FIELDS = (
    "id",
    "time",
    "requester",
    "requesterSession",
    "tool",
    "target",
    "outcome",
    "gate",
    "source",
    "traceId",
    "runId",
    "latencyUs",
)
# Decision-log columns other engineers' schema versions may add; exported when present.
_OPTIONAL = {"gateway": "gateway", "would_deny": "wouldDeny"}
_LINK = """
    SELECT run_id, trace_id FROM outbox
    WHERE requester = ? AND target = ? AND created_at >= ? AND created_at <= ?
    ORDER BY created_at LIMIT 1
"""


def audit_records(
    conn: sqlite3.Connection, *, since: float | None = None, after_id: int = 0, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Records of decisions with id > `after_id` and ts >= `since`, oldest first."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(decisions)")}
    extra = [c for c in _OPTIONAL if c in columns]
    select = [
        "id",
        "ts",
        "requester_agent",
        "requester_session",
        "tool",
        "target",
        "outcome",
        "gate",
        "source",
        "trace_id",
        "latency_us",
        *extra,
    ]
    sql = f"SELECT {', '.join(select)} FROM decisions WHERE id > ?"
    params: list[Any] = [after_id]
    if since is not None:
        sql += " AND ts >= ?"
        params.append(since)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    for row in conn.execute(sql, params).fetchall():
        values = dict(zip(select, row, strict=True))
        run_id, trace_id = None, values["trace_id"]
        if values["tool"] == "sessions_send" and values["outcome"] != "denied" and values["target"]:
            link = conn.execute(
                _LINK,
                (
                    values["requester_session"],
                    values["target"],
                    values["ts"] - 1.0,
                    values["ts"] + LINK_WINDOW_S,
                ),
            ).fetchone()
            if link is not None:
                run_id, trace_id = link[0], trace_id or link[1]
        record: dict[str, Any] = {
            "id": values["id"],
            "time": _iso(values["ts"]),
            "requester": values["requester_agent"],
            "requesterSession": values["requester_session"],
            "tool": values["tool"],
            "target": values["target"],
            "outcome": values["outcome"],
            "gate": values["gate"],
            "source": values["source"],
            "traceId": trace_id,
            "runId": run_id,
            "latencyUs": values["latency_us"],
        }
        for column in extra:
            value = values[column]
            record[_OPTIONAL[column]] = bool(value) if column == "would_deny" else value
        yield record


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
