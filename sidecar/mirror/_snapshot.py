"""Snapshots: every session of one gateway, paged, into the mirror; resumed where a crash left them.

`MirrorSync` (in `_sync`) takes snapshots through this base class and follows events between them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import anyio

from sidecar.mirror._db import Mirror
from sidecar.mirror._rows import COLUMNS, DbRow, gateway_values
from sidecar.mirror._source import GatewaySource, Progress, SyncError, collector_paused

log = logging.getLogger("sidecar.mirror")
_KEY = COLUMNS.index("key")
_ORDER = COLUMNS.index("snapshot_at")


class Snapshots:
    """The snapshot half of MirrorSync (it sets every attribute named here)."""

    mirror: Mirror
    client: GatewaySource
    gateway: str
    progress: Progress | None
    page_size: int
    pages_per_write: int
    request_timeout: float
    poll_every: float
    polling: bool
    snapshots: int
    _epoch: int | None
    _seq: int | None
    _one_snapshot: anyio.Lock
    _tombstones: dict[str, int] | None
    _shift: int
    _last_full: float

    def _adapter(self) -> Any:
        features = getattr(self.client, "features", None)
        return getattr(features, "adapter", None)

    def _buried(self, key: str, order: int | None) -> bool:
        """Whether a row for `key` captured at `order` (snapshotAt) predates its deletion in this snapshot."""
        if self._tombstones is None or key not in self._tombstones:
            return False
        return order is None or order <= self._tombstones[key]

    # -- snapshots ----------------------------------------------------------------------------------

    async def snapshot(self) -> int:
        """List every session (paged) and agent, sweep what the gateway no longer has; returns the row
        count. An interrupted snapshot (state `syncing` in the cursor) is resumed, not restarted."""
        async with self._one_snapshot:
            return await self._take_snapshot()

    async def _take_snapshot(self) -> int:
        held = self.mirror.cursors.get(self.gateway)
        resume = held is not None and held.state == "syncing" and held.snapshot_offset > 0
        if held is not None and resume:
            gen, offset, since = (
                held.snapshot_gen,
                max(0, held.snapshot_offset - self.page_size),
                held.snapshot_ts,
            )
            log.info("mirror %s: resuming the snapshot at row %d", self.gateway, offset)
        else:
            gen, offset, since = (held.snapshot_gen if held else 0) + 1, 0, None
        self.mirror.cursors.update(
            self.gateway,
            state="syncing",
            snapshot_gen=gen,
            snapshot_offset=offset,
            last_error=None,
            **({} if resume else {"snapshot_started": time.time(), "snapshot_ts": None}),
        )
        self._tombstones = {}
        started = time.monotonic()
        try:
            with self.mirror.bulk():
                rows, total = await self._snapshot(gen, offset, resume, since)
        finally:
            self._tombstones = None
        if resume and rows != total:
            # Sessions deleted (or shifted past a page) while no sync ran: only a full pass can tell.
            log.info(
                "mirror %s: resumed snapshot holds %d rows, gateway has %d; full pass",
                self.gateway,
                rows,
                total,
            )
            self.mirror.cursors.update(self.gateway, state="stale", snapshot_offset=0)
            return await self._take_snapshot()
        took = time.monotonic() - started
        self._last_full = time.monotonic()
        now = time.time()
        self.mirror.cursors.update(
            self.gateway,
            state="live",
            rows=rows,
            last_full_sync=now,
            snapshot_offset=0,
            seq=self._seq,
            epoch=self._epoch,
            mode="polling" if self.polling else "events",
            # Polled: a change lands at most one interval plus one snapshot later; twice the last
            # snapshot's time (and 5 s) leaves room for a slower next one.
            stale_bound=round(self.poll_every + max(5.0, 2 * took), 1) if self.polling else None,
        )
        self.snapshots += 1
        return rows

    async def _snapshot(self, gen: int, offset: int, resume: bool, since: int | None) -> tuple[int, int]:
        agents = await self._request("agents.list", {})
        listed = agents.get("agents") if isinstance(agents, Mapping) else None
        ids = [a["id"] for a in listed or [] if isinstance(a, Mapping) and isinstance(a.get("id"), str)]
        self.mirror.set_agents(self.gateway, ids)
        # Only rows held before this snapshot can miss its stamp (every later write carries `gen`): a
        # first snapshot has nothing to sweep, and skips the sweep's scan of every row.
        held = self.mirror.holds(self.gateway)
        total = await self._pages(gen, offset, first=not resume)
        if resume and since is not None:
            await self._head(gen, since)
        if held:
            self.mirror.sweep(self.gateway, gen)
        return self.mirror.count_in_view(self.gateway), total

    async def _pages(self, gen: int, offset: int, *, first: bool) -> int:
        done, total = offset, 0
        # Parsed rows wait here for `pages_per_write` pages, then go in as one transaction (a COMMIT per
        # page was a fifth of a snapshot). No transaction is held across the awaits: only the buffer.
        buffered: list[DbRow] = []
        pages = 0
        extra: dict[str, Any] = {}
        adapter = self._adapter()
        if adapter is not None and not adapter.paged_list:
            # No paging before 2026.9 (`offset` is rejected): every row in one answer.
            offset = done = 0
        while True:
            self._shift = 0
            page = await self._list(
                {"offset": offset} if adapter is None else adapter.list_params(offset, self.page_size),
                paged=adapter is None or adapter.paged_list,
            )
            rows_in = _records(page)
            total = page["totalCount"] if isinstance(page.get("totalCount"), int) else done + len(rows_in)
            nxt = page.get("nextOffset")
            nxt = nxt if isinstance(nxt, int) else offset + len(rows_in)
            more = page.get("hasMore") is True and bool(rows_in)
            if more and nxt <= offset:
                raise SyncError(f"sessions.list paging did not advance past offset {offset}")
            if first and offset == 0 and isinstance(page.get("ts"), int):
                extra["snapshot_ts"] = page["ts"]
            with collector_paused():
                buffered += self._parse(rows_in, gen)
            pages += 1
            if pages >= self.pages_per_write or not more:
                # The resume point moves only with rows that are in: a crash re-reads the buffer.
                moved = partial(
                    self.mirror.cursors.update, self.gateway, snapshot_offset=nxt if more else 0, **extra
                )
                with collector_paused():
                    self._write(buffered, then=moved)
                buffered, pages, extra = [], 0, {}
            done += len(rows_in)
            if self.progress is not None:
                self.progress(done, max(total, done))
            if not more:
                return total
            # Each session deleted since this page was asked for moved every later row up one place;
            # step back as many, or the row that slid across the page boundary is never listed (and then
            # swept). Re-reading a row is harmless.
            offset = max(offset + 1, nxt - self._shift)

    async def _head(self, gen: int, since: int) -> None:
        """After a resume: re-read the newest rows until the ones not touched since the first attempt."""
        offset = 0
        while True:
            page = await self._list({"offset": offset})
            rows_in = _records(page)
            self._store(rows_in, gen)
            newer = [r for r in rows_in if isinstance(r.get("updatedAt"), int) and r["updatedAt"] > since]
            if page.get("hasMore") is not True or len(newer) < len(rows_in) or not rows_in:
                return
            offset += len(rows_in)

    def _store(self, rows_in: list[Mapping[str, Any]], gen: int) -> None:
        with collector_paused():
            self._write(self._parse(rows_in, gen))

    def _parse(self, rows_in: list[Mapping[str, Any]], gen: int) -> list[DbRow]:
        return gateway_values(rows_in, self.gateway, seen_at=time.time(), gen=gen)

    def _write(self, rows: list[DbRow], *, then: Callable[[], object] | None = None) -> None:
        # Tombstones are checked at write time: a deletion may have arrived while the rows were buffered.
        if self._tombstones:
            rows = [row for row in rows if not self._buried(row[_KEY], row[_ORDER])]
        self.mirror.apply_values(rows, then=then)

    async def _list(self, params: Mapping[str, Any], *, paged: bool = True) -> Mapping[str, Any]:
        base: dict[str, Any] = {"includeGlobal": True, "includeUnknown": True}
        if paged:
            base["limit"] = self.page_size
        page = await self._request("sessions.list", {**base, **params})
        if not isinstance(page, Mapping):
            raise SyncError(f"sessions.list answered {type(page).__name__}, not an object")
        return page

    async def _request(self, method: str, params: Mapping[str, Any]) -> Any:
        return await self.client.request(method, dict(params), timeout=self.request_timeout, idempotent=True)


def _records(page: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The session rows of a sessions.list answer: its objects (a page of decoded JSON is all dicts, told
    in one pass without an ABC check per row)."""
    raw = page.get("sessions")
    if not isinstance(raw, list):
        return []
    if set(map(type, raw)) <= _DICT:
        return raw
    return [r for r in raw if isinstance(r, Mapping)]


_DICT = frozenset({dict})
