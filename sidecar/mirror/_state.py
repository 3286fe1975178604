"""`sync_cursor`: per gateway, how far the mirror got and how fresh it is.

A snapshot is numbered (`snapshot_gen`); every row written while it runs, from a sessions.list page, an
event or the sidecar itself, carries that number, and when the last page is in, rows with an older
number are the ones the gateway no longer has. The cursor records the offset after each committed page,
so a sync killed mid-snapshot leaves state `syncing` with a resume point, never a half-written page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Literal

from sidecar.mirror._handle import MirrorHandle

State = Literal["syncing", "live", "stale"]
Mode = Literal["events", "polling"]
STALE_AFTER_S = 90.0
"""No event for this long means the link is not live: the gateway ticks every 30 s."""


@dataclass(frozen=True, slots=True)
class SyncCursor:
    gateway: str
    seq: int | None = None
    epoch: int | None = None
    last_full_sync: float | None = None
    last_event: float | None = None
    rows: int = 0
    state: State = "stale"
    snapshot_gen: int = 0
    snapshot_offset: int = 0
    snapshot_started: float | None = None
    snapshot_ts: int | None = None
    last_error: str | None = None
    mode: Mode | None = None
    stale_bound: float | None = None
    """When polling: the most seconds a mirrored row can lag the gateway (poll interval plus snapshot)."""
    openclaw_version: str | None = None

    def freshness(self, now: float | None = None, stale_after: float = STALE_AFTER_S) -> State:
        """The state a reader should believe: `live` with no event for `stale_after` seconds is stale
        (the sidecar that wrote it is gone or cut off). A polled mirror is live while its last snapshot
        is within its stated bound."""
        now = time.time() if now is None else now
        if self.state != "live":
            return self.state
        if self.mode == "polling" and self.stale_bound is not None:
            return "live" if now - (self.last_full_sync or 0.0) <= self.stale_bound else "stale"
        heard = max(self.last_event or 0.0, self.last_full_sync or 0.0)
        return "live" if now - heard <= stale_after else "stale"

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_NAMES = tuple(f.name for f in fields(SyncCursor))


class CursorStore:
    """Read and advance `sync_cursor` rows; the snapshot generation of each gateway is cached."""

    def __init__(self, mirror: MirrorHandle) -> None:
        self._mirror = mirror
        self._gens: dict[str, int] = {}
        self._seq: dict[str, tuple[int | None, int | None]] = {}
        self._columns: tuple[str, ...] | None = None

    def load(self) -> None:
        self._gens = {c.gateway: c.snapshot_gen for c in self.all()}

    def _names(self, conn: Any) -> tuple[str, ...]:
        # A read-only open of a file an older sidecar wrote lacks the newer columns: read what is there.
        if self._columns is None:
            have = {row[1] for row in conn.execute("PRAGMA table_info(sync_cursor)")}
            self._columns = tuple(n for n in _NAMES if n in have)
        return self._columns

    def get(self, gateway: str) -> SyncCursor | None:
        with self._mirror.reading() as conn:
            names = self._names(conn)
            row = conn.execute(f"SELECT {', '.join(names)} FROM sync_cursor WHERE gateway = ?", (gateway,))
            found = row.fetchone()
        return None if found is None else SyncCursor(**dict(zip(names, found, strict=True)))

    def all(self) -> list[SyncCursor]:
        with self._mirror.reading() as conn:
            names = self._names(conn)
            rows = conn.execute(f"SELECT {', '.join(names)} FROM sync_cursor ORDER BY gateway").fetchall()
        return [SyncCursor(**dict(zip(names, row, strict=True))) for row in rows]

    def gen(self, gateway: str) -> int:
        return self._gens.get(gateway, 0)

    def seq(self, gateway: str | None = None) -> int | None:
        """The last event seq seen from `gateway` (or from the only gateway), for the decision log."""
        if gateway is None:
            if len(self._seq) != 1:
                return None
            return next(iter(self._seq.values()))[0]
        return self._seq.get(gateway, (None, None))[0]

    def update(self, gateway: str, **values: Any) -> None:
        """Set columns of the gateway's cursor row (created on first use), in the caller's transaction
        if one is open."""
        unknown = set(values) - set(_NAMES)
        if unknown:
            raise TypeError(f"unknown sync_cursor columns: {sorted(unknown)}")
        if "snapshot_gen" in values:
            self._gens[gateway] = int(values["snapshot_gen"])
        if "seq" in values or "epoch" in values:
            old_seq, old_epoch = self._seq.get(gateway, (None, None))
            self._seq[gateway] = (values.get("seq", old_seq), values.get("epoch", old_epoch))
        with self._mirror.write() as db:
            db.execute("INSERT INTO sync_cursor (gateway) VALUES (?) ON CONFLICT DO NOTHING", (gateway,))
            if values:
                assignments = ", ".join(f"{name} = :{name}" for name in values)
                db.execute(
                    f"UPDATE sync_cursor SET {assignments} WHERE gateway = :gateway",
                    {**values, "gateway": gateway},
                )

    def note_event(self, gateway: str, seq: int | None, epoch: int | None) -> None:
        """Remember the position without writing; the next `update` or session write persists it."""
        self._seq[gateway] = (seq, epoch)

    def position(self, gateway: str) -> tuple[int | None, int | None]:
        return self._seq.get(gateway, (None, None))
