"""A fake gateway with the `request`/`events` shape of GatewayClient, for sync tests without a network.

It keeps gateway-shaped rows (camelCase, like OpenClaw 2026.9.6's sessions.list), pages them newest
first by `updatedAt` with `offset`/`limit`/`nextOffset`/`hasMore`/`totalCount`, and delivers events the
test emits, numbered per connection (`seq` from 1, a new `epoch` on `reconnect()`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from sidecar.gateway import ErrorShape, InvalidRequest

CLOCK_START = 1_795_000_000_000


@dataclass(frozen=True)
class Event:
    event: str
    payload: Any
    seq: int | None
    epoch: int


def row(key: str, *, updated: int, status: str | None = "done", **extra: Any) -> dict[str, Any]:
    """A gateway-shaped session row, with the noise real rows carry (including message text)."""
    agent = key.split(":")[1]
    base: dict[str, Any] = {
        "key": key,
        "kind": "direct",
        "agentId": agent,
        "updatedAt": updated,
        "sessionId": f"sid-{key}",
        "displayName": key.rsplit(":", 1)[-1],
        "lastMessagePreview": "PRIVATE-PREVIEW-TEXT",
        "thinkingLevels": [{"id": "off", "label": "off"}],
    }
    if status is not None:
        base["status"] = status
    base.update(extra)
    return base


class FakeGateway:
    def __init__(self, rows: list[dict[str, Any]] | None = None, agents: tuple[str, ...] = ("main",)) -> None:
        self.rows: dict[str, dict[str, Any]] = {r["key"]: r for r in rows or []}
        self.agents = list(agents)
        self.epoch = 1
        self.clock = CLOCK_START
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.before_request: Callable[[str, dict[str, Any]], None] | None = None
        self.after_list: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
        self.failure: Exception | None = None
        self._seq = 0
        self._streams: list[MemoryObjectSendStream[Event]] = []

    # -- GatewayClient shape -----------------------------------------------------------------------

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any:
        params = dict(params or {})
        self.calls.append((method, params))
        if self.before_request is not None:
            self.before_request(method, params)
        await anyio.lowlevel.checkpoint()
        self.clock += 1
        if method == "sessions.list":
            page = self._list(params)
            if self.after_list is not None:
                # Whatever the hook emits is delivered (and applied by the sync's event task) before
                # this page reaches the caller: a woken receiver runs before this task resumes.
                self.after_list(params, page)
                for _ in range(3):
                    await anyio.lowlevel.checkpoint()
            return page
        if method == "agents.list":
            return {"defaultId": "main", "agents": [{"id": a, "name": a} for a in self.agents]}
        if method == "sessions.subscribe":
            return {"subscribed": True}
        if method == "sessions.resolve":
            return self._resolve(params)
        raise AssertionError(f"unexpected request {method}")

    def events(self) -> AsyncIterator[Event]:
        send, receive = anyio.create_memory_object_stream[Event](10_000)
        self._streams.append(send)
        return _Stream(self, send, receive)

    # -- test controls -----------------------------------------------------------------------------

    def put(self, record: dict[str, Any]) -> None:
        """Create or replace a row on the gateway, without telling anyone (no event)."""
        self.rows[record["key"]] = dict(record)

    def emit(self, event: str, payload: Any, *, skip: int = 0) -> None:
        """Deliver an event; `skip` events are counted but dropped first (a slow-consumer gap)."""
        self._seq += 1 + skip
        for stream in self._streams:
            stream.send_nowait(Event(event, payload, self._seq, self.epoch))

    def changed(self, key: str, reason: str = "patch") -> None:
        """Emit sessions.changed for the current row, as OpenClaw does (with a `session` snapshot)."""
        self.clock += 1
        snapshot = {**self.rows[key], "snapshotAt": self.clock}
        self.rows[key] = snapshot
        self.emit(
            "sessions.changed", {"sessionKey": key, "reason": reason, "ts": self.clock, "session": snapshot}
        )

    def deleted(self, key: str) -> None:
        gone = self.rows.pop(key)
        self.clock += 1
        self.emit(
            "sessions.changed",
            {"sessionKey": key, "reason": "delete", "sessionId": gone.get("sessionId"), "ts": self.clock},
        )

    def reconnect(self) -> None:
        self.epoch += 1
        self._seq = 0

    def close(self, failure: Exception | None = None) -> None:
        """End every event stream; with `failure`, streams raise it (as GatewayClient does when it fails)."""
        self.failure = failure
        for stream in self._streams:
            stream.close()

    def list_offsets(self) -> list[int]:
        return [p.get("offset", 0) for m, p in self.calls if m == "sessions.list" and "search" not in p]

    # -- the gateway's answers ---------------------------------------------------------------------

    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        rows = sorted(self.rows.values(), key=lambda r: (-(r.get("updatedAt") or 0), r["key"]))
        if "search" in params:
            rows = [r for r in rows if params["search"] in r["key"]]
        if "label" in params:
            rows = [r for r in rows if r.get("label") == params["label"]]
        if "agentId" in params:
            rows = [r for r in rows if r.get("agentId") == params["agentId"]]
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return {
            "ts": self.clock,
            "count": len(page),
            "totalCount": len(rows),
            "limitApplied": limit,
            "offset": offset,
            "nextOffset": offset + len(page) if more else None,
            "hasMore": more,
            "sessions": [{**r, "snapshotAt": self.clock} for r in page],
        }

    def _resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        for r in self.rows.values():
            if params.get("key") == r["key"] or (
                params.get("label") and params.get("label") == r.get("label")
            ):
                return {"ok": True, "key": r["key"], "agentId": r["agentId"]}
            if params.get("sessionId") and params["sessionId"] == r.get("sessionId"):
                return {"ok": True, "key": r["key"], "agentId": r["agentId"]}
        wanted = params.get("key") or params.get("label") or params.get("sessionId")
        raise InvalidRequest(
            "sessions.resolve", ErrorShape(code="INVALID_REQUEST", message=f"No session found: {wanted}")
        )


class _Stream:
    def __init__(
        self,
        gateway: FakeGateway,
        send: MemoryObjectSendStream[Event],
        receive: MemoryObjectReceiveStream[Event],
    ) -> None:
        self._gateway = gateway
        self._send = send
        self._receive = receive

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self._gateway.failure is not None:
                raise self._gateway.failure from None
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._send.close()
        await self._receive.aclose()
