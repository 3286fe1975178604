"""`ServiceStore`: the mirror seen through the dict-shaped `Store` protocol of `sidecar.tools`.

The service speaks in gateway-shaped dicts (camelCase rows, outbox entries as dicts); the mirror in
SessionRow and OutboxEntry. This adapter is the whole translation, so neither side bends to the other.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from sidecar.mirror._db import Mirror
from sidecar.mirror._listing import RowFilter
from sidecar.mirror._lookup import TargetLookup
from sidecar.mirror._outbox import OutboxError
from sidecar.mirror._rows import SessionRow
from sidecar.mirror._view import MirrorView


class ServiceStore:
    """Implements `sidecar.tools.Store` over a Mirror."""

    def __init__(self, mirror: Mirror) -> None:
        self.mirror = mirror

    @property
    def view(self) -> MirrorView:
        return self.mirror.view

    def rows(self, gateway: str | None = None) -> list[dict[str, Any]]:
        """sessions_list rows, newest first, each also naming its `agent` and `gateway`."""
        return [_shape(row) for row in self.mirror.view.session_keys(gateway)]

    def keys(
        self, gateway: str | None = None, *, updated_since: int | None = None
    ) -> list[str | tuple[str, str]]:
        return self.mirror.view.listing_keys(gateway, updated_since=updated_since)

    def visible_page(
        self,
        shows: RowFilter,
        scope: object,
        *,
        gateway: str | None = None,
        updated_since: int | None = None,
        limit: int | None = None,
        want: Callable[[str | tuple[str, str]], bool] | None = None,
    ) -> tuple[list[str | tuple[str, str]], int]:
        """The keys of one sessions_list page and how many rows were hidden (`MirrorView.visible_page`)."""
        return self.mirror.view.visible_page(
            shows, scope, gateway=gateway, updated_since=updated_since, limit=limit, want=want
        )

    def rows_for(
        self, keys: Sequence[str | tuple[str, str]], gateway: str | None = None
    ) -> list[dict[str, Any]]:
        return [_shape(row) for row in self.mirror.view.rows_for(keys, gateway)]

    def catching_up(self, gateway: str) -> bool:
        held = self.mirror.cursors.get(gateway)
        return held is not None and held.state == "syncing"

    def get(self, key: str, gateway: str | None = None) -> dict[str, Any] | None:
        row = self.mirror.view.get(key, gateway)
        return None if row is None else _shape(row)

    async def ensure_known(
        self, key: str, gateway: str, request: Callable[[str, Mapping[str, Any]], Awaitable[Any]]
    ) -> None:
        """The mirror's one target lookup (`TargetLookup`), on `gateway`."""
        await TargetLookup(self.mirror, request, gateway).find(key)

    def upsert(self, row: dict[str, Any], gateway: str) -> None:
        """Take one gateway row (as sessions.list returns it) into the mirror."""
        self.mirror.apply([SessionRow.from_gateway(row, gateway, seen_at=time.time())])

    def record_spawned_child(
        self, child_key: str, parent_key: str, agent: str, gateway: str, parent_gateway: str = "home"
    ) -> None:
        self.mirror.record_spawned_child(child_key, parent_key, agent, gateway, parent_gateway=parent_gateway)

    def log_decision(self, **fields: Any) -> None:
        self.mirror.decisions.record(**fields)

    def outbox_begin(self, key: str, **fields: Any) -> OutboxRow:
        """Queue a send under idempotency key `key` (or find it queued already) and count the attempt.

        `fields` are the Outbox.add arguments; `send_id` defaults to `key` (one logical send per key).
        """
        fields.setdefault("send_id", key)
        entry = self.mirror.outbox.add(idempotency_key=key, **fields)
        if entry.status == "pending":
            entry = self.mirror.outbox.attempt(key)
        return cast("OutboxRow", dataclasses.asdict(entry))

    def outbox_finish(
        self,
        key: str,
        status: Literal["delivered", "failed"],
        run_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Mark the send delivered or failed. Finishing an already finished send changes nothing."""
        try:
            if status == "delivered":
                self.mirror.outbox.delivered(key, run_id=run_id)
            elif status == "failed":
                self.mirror.outbox.failed(key, error or "failed")
            else:
                raise ValueError(f"an outbox entry finishes delivered or failed, not {status!r}")
        except OutboxError:
            if self.mirror.outbox.get(key) is None:
                raise

    def outbox_pending(self) -> list[OutboxRow]:
        """Sends written before their first attempt finished, oldest first (a restarted sidecar resumes them)."""
        return [cast("OutboxRow", dataclasses.asdict(entry)) for entry in self.mirror.outbox.pending()]


def _shape(row: SessionRow) -> dict[str, Any]:
    return {**row.as_tool_row(), "agent": row.agent, "gateway": row.gateway}


if TYPE_CHECKING:
    from sidecar.tools import OutboxRow, Store

    def _conforms(mirror: Mirror) -> Store:
        return ServiceStore(mirror)
