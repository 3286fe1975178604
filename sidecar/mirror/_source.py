"""What the mirror's sync reads from (a gateway connection, its events), its constants and its errors."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Hold Python's cyclic garbage collector while a batch of pages is parsed and written.

    A snapshot batch allocates thousands of tuples that all live on (rows, index nodes), so the collector
    keeps running and finds nothing: a sixth of a 100k-row ingest's CPU. Nothing in a batch forms a
    cycle, and the batch never awaits, so no other task runs while the collector is held; it is
    restored (if it was on) as soon as the batch is written.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


Progress = Callable[[int, int], None]
PAGE_SIZE = 1000
PAGES_PER_WRITE = 5
"""sessions.list pages written per transaction during a snapshot (+11-14% ingest against one per page)."""
SESSION_EVENTS = frozenset({"sessions.changed", "session.message"})
GONE = frozenset({"delete", "archive"})
FLUSH_EVERY_S = 5.0
POLL_EVERY_S = 10.0


class EventLike(Protocol):
    @property
    def event(self) -> str: ...

    @property
    def payload(self) -> Any: ...

    @property
    def seq(self) -> int | None: ...

    @property
    def epoch(self) -> int: ...


class GatewaySource(Protocol):
    """The part of `GatewayClient` the sync uses; tests pass a fake with the same shape."""

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any: ...

    def events(self) -> AsyncIterator[EventLike]: ...


class SyncError(RuntimeError):
    """The gateway's answers cannot be mirrored (malformed, or paging that never ends)."""
