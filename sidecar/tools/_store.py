"""`Store`: what the tool pipelines need from the session mirror (`sidecar.mirror.ServiceStore` implements it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypedDict

from sidecar.policy import SessionView

OutboxStatus = Literal["pending", "delivered", "failed"]


class OutboxRow(TypedDict, total=False):
    """One send in the outbox, as the pipelines read it (the mirror's `OutboxEntry`, field for field)."""

    idempotency_key: str
    send_id: str
    requester: str
    requester_gateway: str
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
    body: str | None


class Store(Protocol):
    """The mirror as the pipelines see it: rows, spawned children, the decision log and the outbox."""

    @property
    def view(self) -> SessionView: ...

    def rows(self, gateway: str | None = None) -> list[dict[str, Any]]: ...

    def keys(
        self, gateway: str | None = None, *, updated_since: int | None = None
    ) -> list[str | tuple[str, str]]:
        """The key of every row (on `gateway`; updatedAt >= `updated_since` ms), in `rows` order."""
        ...

    def rows_for(
        self, keys: Sequence[str | tuple[str, str]], gateway: str | None = None
    ) -> list[dict[str, Any]]:
        """The rows of `keys` (on `gateway`), in `rows` order: a page is fetched without the rest."""
        ...

    def catching_up(self, gateway: str) -> bool:
        """Whether the mirror of `gateway` is still taking a snapshot (its rows may be behind)."""
        ...

    def get(self, key: str, gateway: str | None = None) -> dict[str, Any] | None: ...

    def upsert(self, row: dict[str, Any], gateway: str) -> None: ...

    async def ensure_known(
        self, key: str, gateway: str, request: Callable[[str, Mapping[str, Any]], Awaitable[Any]]
    ) -> None:
        """Fetch a session the mirror does not hold from its gateway (`request` asks it), or forget it."""
        ...

    def record_spawned_child(
        self, child_key: str, parent_key: str, agent: str, gateway: str, parent_gateway: str = "home"
    ) -> None: ...

    def log_decision(self, **fields: Any) -> None: ...

    def outbox_begin(self, key: str, **fields: Any) -> OutboxRow: ...

    def outbox_finish(
        self,
        key: str,
        status: Literal["delivered", "failed"],
        run_id: str | None = None,
        error: str | None = None,
    ) -> None: ...

    def outbox_pending(self) -> list[OutboxRow]: ...
