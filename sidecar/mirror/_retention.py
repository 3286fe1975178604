"""The decision log's retention, applied as it is written: age and row count, never the last hour.

`DecisionLog.flush` calls `Retention.apply` inside the transaction that writes a batch, at most once per
PRUNE_EVERY_S, so the log is pruned as it goes and a prune costs no extra commit. A row goes when it is
older than `max_age_days`, or when more than `max_rows` are newer than it; rows of the last KEEP_S are
never pruned by count (the `limits.spawnsPerHour` budget is counted from them). A bound left None keeps
rows on that count: a bare `Mirror` prunes nothing; `sidecar serve` and the host set the policy's
retention (`decisions.maxAgeDays`, `decisions.maxRows`, 30 days and 100,000 rows by default).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

__all__ = ["KEEP_S", "PRUNE_EVERY_S", "Retention"]

DAY_S = 86400.0
KEEP_S = 3600.0
"""Rows this young are kept whatever `max_rows` says: budgets over the last hour count them."""
PRUNE_EVERY_S = 60.0


@dataclass
class Retention:
    """How long decisions are kept (the policy's `decisions.maxAgeDays` / `decisions.maxRows`)."""

    max_age_days: int | None = None
    max_rows: int | None = None
    every_s: float = PRUNE_EVERY_S
    _last: float = field(default=float("-inf"), repr=False)

    def apply(self, conn: sqlite3.Connection, now: float) -> int:
        """Prune `decisions` in the caller's transaction if a prune is due; returns the rows deleted."""
        if (self.max_age_days is None and self.max_rows is None) or now - self._last < self.every_s:
            return 0
        self._last = now
        deleted = 0
        if self.max_age_days is not None:
            age = max(self.max_age_days, 1) * DAY_S
            deleted += conn.execute("DELETE FROM decisions WHERE ts < ?", (now - age,)).rowcount
        beyond = None
        if self.max_rows is not None:
            beyond = conn.execute(
                "SELECT id FROM decisions ORDER BY id DESC LIMIT 1 OFFSET ?", (max(self.max_rows, 1),)
            ).fetchone()
        if beyond is not None:
            deleted += conn.execute(
                "DELETE FROM decisions WHERE id <= ? AND ts < ?", (beyond[0], now - KEEP_S)
            ).rowcount
        return int(deleted)
