"""Keeping the mirror in step with one gateway: snapshot, then live events, then resync when in doubt.

Order matters. The event stream is opened first and drained by its own task for the whole run, so
nothing that happens during a snapshot is lost, and `sessions.subscribe {}` is sent on every (re)connect
because subscriptions belong to a connection. Events and snapshot pages then race: a page may have been
captured before an event that the mirror applied already. Rows therefore replace each other only in the
gateway's capture order (`snapshotAt`), and a deletion seen during a snapshot keeps a tombstone until the
snapshot ends, so a page captured earlier cannot bring the session back.

Releases without session events (OpenClaw 2026.3.x answers `sessions.subscribe` with `unknown method`)
are polled instead: a full snapshot every `poll_every` seconds, so a mirrored row lags the gateway by at
most the interval plus one snapshot, a bound the cursor states (`mode`, `stale_bound`) for `mirror
status`. Releases without `sessions.list` paging (before 2026.9) are listed in one unpaged request.

The gateway numbers the events of each connection (`seq`, from 1) and drops events for a slow consumer
while still counting them; a gap, or a new connection (`epoch`), means the mirror may have missed
something, and it resyncs. Unknown stays unknown: `ensure_known` asks the gateway about a target the
mirror lacks, and when the gateway does not know it either, the answer is None, never a guess.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
from anyio.abc import TaskStatus

from sidecar.gateway import RequestError, is_unknown_method
from sidecar.mirror._db import Mirror
from sidecar.mirror._errors import MirrorError
from sidecar.mirror._lookup import TargetLookup
from sidecar.mirror._memory import release_freed_memory
from sidecar.mirror._rows import SessionRow
from sidecar.mirror._snapshot import Snapshots
from sidecar.mirror._source import (
    FLUSH_EVERY_S,
    GONE,
    PAGE_SIZE,
    PAGES_PER_WRITE,
    POLL_EVERY_S,
    SESSION_EVENTS,
    EventLike,
    GatewaySource,
    Progress,
)

log = logging.getLogger("sidecar.mirror")


class MirrorSync(Snapshots):
    """Mirror one gateway's sessions and agents into `mirror` under the name `gateway`.

    `await tg.start(sync.run)` returns once the first snapshot is in; `run` then follows events until the
    client's event stream ends. `progress(done, total)` is called after every page of a snapshot.
    """

    def __init__(
        self,
        mirror: Mirror,
        client: GatewaySource,
        *,
        gateway: str = "home",
        progress: Progress | None = None,
        page_size: int = PAGE_SIZE,
        pages_per_write: int = PAGES_PER_WRITE,
        refresh_after: float = 60.0,
        request_timeout: float = 30.0,
        poll_every: float = POLL_EVERY_S,
    ) -> None:
        self.mirror = mirror
        self.client = client
        self.gateway = gateway
        self.progress = progress
        self.page_size = page_size
        self.pages_per_write = max(1, pages_per_write)
        self.refresh_after = refresh_after
        self.request_timeout = request_timeout
        self.poll_every = poll_every
        self.polling = False
        """True while the gateway has no session events and the mirror polls it."""
        self.snapshots = 0
        self.resync_reasons: list[str] = []
        self._epoch: int | None = None
        self._seq: int | None = None
        self._wanted: str | None = None
        self._refresh_due = False
        self._stale_keys: set[str] = set()
        self._wake = anyio.Event()
        self._one_snapshot = anyio.Lock()
        self._tombstones: dict[str, int] | None = None
        self._shift = 0
        self._last_full = 0.0
        self._flushed = 0.0
        self._failure: Exception | None = None

    # -- the loop ----------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Snapshot, then follow events until the event stream ends; resync on a gap or a reconnect.

        Raises:
            GatewayError: from the client (the sync stops; the cursor is left `stale`).
            MirrorError: the database failed.
        """
        events = self.client.events()
        self._failure = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump, events, tg.cancel_scope)
                try:
                    await self._catch_up()
                    task_status.started()
                    while True:
                        await self._next_job()
                        if self._wanted is not None or self._refresh_due:
                            await self._catch_up()
                        else:
                            await self._refresh_keys()
                except Exception as exc:
                    self._failure = self._failure or exc
                    tg.cancel_scope.cancel()
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            with contextlib.suppress(MirrorError, sqlite3.Error):
                self._stopped()
        if self._failure is not None:
            raise self._failure

    def _stopped(self) -> None:
        # An unfinished snapshot stays `syncing`, so the next run resumes it rather than starting over.
        held = self.mirror.cursors.get(self.gateway)
        values: dict[str, Any] = {}
        if held is None or held.state != "syncing":
            values["state"] = "stale"
        if self._failure is not None:
            values["last_error"] = f"{type(self._failure).__name__}: {self._failure}"
        self.mirror.cursors.update(self.gateway, **values)

    async def _catch_up(self) -> None:
        reason, self._wanted, self._refresh_due = self._wanted, None, False
        if reason is not None:
            self.resync_reasons.append(reason)
            log.info("mirror %s: resync (%s)", self.gateway, reason)
        epoch = getattr(self.client, "epoch", None)
        if isinstance(epoch, int) and epoch != self._epoch:
            self._epoch, self._seq = epoch, None
        self.polling = not await self._subscribe()
        await self.snapshot()
        release_freed_memory()

    async def _subscribe(self) -> bool:
        """Subscribe to session events; False when this gateway has none (then the mirror polls)."""
        features = getattr(self.client, "features", None)
        if features is not None and not features.has("sessions.subscribe"):
            return False
        try:
            await self._request("sessions.subscribe", {})
        except RequestError as exc:
            if not is_unknown_method(exc):
                raise
            # An answer about this gateway, not a failure: it has no session events.
            if features is not None:
                features.note_missing("sessions.subscribe")
            return False
        return True

    async def _next_job(self) -> None:
        while self._wanted is None and not self._stale_keys:
            wait: float | None = None
            if self.polling:
                wait = self.poll_every - (time.monotonic() - self._last_full)
                if wait <= 0:
                    self._refresh_due = True
                    return
            elif self._refresh_due:
                wait = self.refresh_after - (time.monotonic() - self._last_full)
                if wait <= 0:
                    return
            with anyio.move_on_after(wait):
                await self._wake.wait()
            self._wake = anyio.Event()

    def _want(self, reason: str) -> None:
        self._wanted = self._wanted or reason
        self._wake.set()

    async def _pump(self, events: AsyncIterator[EventLike], scope: anyio.CancelScope) -> None:
        try:
            async for event in events:
                self.on_event(event)
        except Exception as exc:
            self._failure = self._failure or exc
        finally:
            scope.cancel()

    # -- events -------------------------------------------------------------------------------------

    def on_event(self, event: EventLike) -> None:
        """Track seq/epoch and apply one event (the pump calls this; tests may too)."""
        if self._epoch is None:
            self._epoch = event.epoch
        elif event.epoch != self._epoch:
            self._epoch, self._seq = event.epoch, None
            self._want(f"reconnected (epoch {event.epoch})")
        if event.seq is not None:
            if self._seq is not None and event.seq > self._seq + 1:
                self._want(f"missed events {self._seq + 1}..{event.seq - 1}")
            self._seq = max(event.seq, self._seq or 0)
        self.mirror.cursors.note_event(self.gateway, self._seq, self._epoch)
        now = time.time()
        if event.event in SESSION_EVENTS and isinstance(event.payload, Mapping):
            # The row and the cursor position it brings the mirror to commit together.
            with self.mirror.write():
                self._apply(event.event, event.payload)
                self._flush(now)
        elif now - self._flushed >= FLUSH_EVERY_S:
            self._flush(now)

    def _flush(self, now: float) -> None:
        self._flushed = now
        self.mirror.cursors.update(self.gateway, seq=self._seq, epoch=self._epoch, last_event=now)

    def _apply(self, name: str, payload: Mapping[str, Any]) -> None:
        key = payload.get("sessionKey")
        if not isinstance(key, str) or not key.strip():
            # sessions.delete follows its keyed event with a bare {reason: "delete"} for list views,
            # which says nothing new. Any other bare change (coalesced, or its snapshot failed) can
            # only be settled by a fresh list, taken at most once per refresh_after.
            if name == "sessions.changed" and payload.get("reason") != "delete":
                self._refresh_due = True
                self._wake.set()
            return
        key = key.strip().lower()
        if name == "sessions.changed" and payload.get("reason") in GONE:
            self._forget(key, payload)
            return
        adapter = self._adapter()
        snapshot = adapter.changed_row(dict(payload)) if adapter is not None else payload.get("session")
        if not isinstance(snapshot, Mapping):
            # No row to apply: fetch this one session rather than guess from a partial payload.
            self._stale_keys.add(key)
            self._wake.set()
            return
        try:
            row = SessionRow.from_gateway(snapshot, self.gateway, seen_at=time.time(), key=key)
        except ValueError:
            return
        if snapshot.get("archived") is True:
            self._forget(key, payload)
        elif not self._buried(row.key, row.order):
            self.mirror.apply([row])

    def _forget(self, key: str, payload: Mapping[str, Any]) -> None:
        held = self.mirror.view.get(key, self.gateway)
        gone_id = payload.get("sessionId")
        if held is not None and isinstance(gone_id, str) and held.session_id not in (None, gone_id):
            return  # an older session under this key went away; the key lives on
        self.mirror.remove(key, self.gateway)
        self._shift += 1
        if self._tombstones is not None:
            ts = payload.get("ts")
            self._tombstones[key] = ts if isinstance(ts, int) else int(time.time() * 1000)

    async def _refresh_keys(self) -> None:
        keys, self._stale_keys = self._stale_keys, set()
        for key in sorted(keys):
            await self._lookup(key)

    # -- unknown targets ----------------------------------------------------------------------------

    async def ensure_known(
        self, key: str | None = None, *, label: str | None = None, agent_id: str | None = None
    ) -> SessionRow | None:
        """The mirrored row for a target, asking the gateway when the mirror lacks it (`TargetLookup.find`)."""
        return await self.lookup.find(key, label=label, agent_id=agent_id)

    async def _lookup(self, key: str) -> SessionRow | None:
        return await self.lookup.fetch(key)

    @property
    def lookup(self) -> TargetLookup:
        return TargetLookup(self.mirror, self._request, self.gateway)


async def sync(
    mirror: Mirror,
    client: GatewaySource,
    *,
    gateway: str = "home",
    progress: Progress | None = None,
    once: bool = False,
    page_size: int = PAGE_SIZE,
    pages_per_write: int = PAGES_PER_WRITE,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> MirrorSync:
    """Mirror `client`'s gateway into `mirror`: one snapshot (`once`), or snapshot then live events until
    the client's event stream ends. Returns the MirrorSync (its `snapshots`, `resync_reasons`)."""
    syncer = MirrorSync(
        mirror,
        client,
        gateway=gateway,
        progress=progress,
        page_size=page_size,
        pages_per_write=pages_per_write,
    )
    if once:
        await syncer.snapshot()
        task_status.started()
    else:
        await syncer.run(task_status=task_status)
    return syncer
