"""Fan-out of gateway events to any number of subscribers, none of which can stall the connection.

The reader task must never wait on a consumer: a response stuck behind a slow mirror would time out.
So every subscriber gets a bounded buffer and loses events when it falls that far behind; it can tell,
because `seq` (on broadcast events) jumps. `epoch` counts connections: events between two connections
are lost for good, and a consumer that keeps state resynchronises when the epoch changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from sidecar.gateway._errors import GatewayError

log = logging.getLogger("sidecar.gateway")


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """A gateway event. `epoch` counts connections: a new epoch means events may have been missed."""

    event: str
    payload: Any
    seq: int | None
    epoch: int


class EventStream:
    """Async iterator over gateway events; ends when the client closes, raises if the client failed."""

    def __init__(
        self, receive: MemoryObjectReceiveStream[GatewayEvent], failure: Callable[[], GatewayError | None]
    ) -> None:
        self._receive = receive
        self._failure = failure

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> GatewayEvent:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._receive.close()
            failure = self._failure()
            if failure is not None:
                raise failure from None
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._receive.aclose()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class EventHub:
    def __init__(self, on_event: Callable[[GatewayEvent], None] | None = None) -> None:
        self._on_event = on_event
        self._subscribers: list[MemoryObjectSendStream[GatewayEvent]] = []
        self._ended = False

    def subscribe(self, max_buffer: int, failure: Callable[[], GatewayError | None]) -> EventStream:
        send, receive = anyio.create_memory_object_stream[GatewayEvent](max_buffer)
        if self._ended:
            send.close()
        else:
            self._subscribers.append(send)
        return EventStream(receive, failure)

    def publish(self, event: GatewayEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)
        for send in list(self._subscribers):
            try:
                send.send_nowait(event)
            except anyio.WouldBlock:
                log.debug("event subscriber is full; dropped %s seq=%s", event.event, event.seq)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                send.close()
                self._subscribers.remove(send)

    def end(self) -> None:
        """End every stream; later subscribers get an already-ended one."""
        self._ended = True
        for send in self._subscribers:
            send.close()
        self._subscribers.clear()
