"""The calls a `GatewayClient` has in flight: each call's state, and the table the reader settles them in.

A call is made in the caller's task and settled in the client's reader task: the reader hands each
protocol output to the table (`accept`, `settle`), a dropped connection marks what was on the wire as
lost (`lose`) so that the caller resends it (idempotent) or fails it (not), and a client that stops
fails them all (`fail_all`). A caller waits on `Call.changed()` and looks again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import anyio

from sidecar import telemetry
from sidecar.gateway._errors import GatewayError
from sidecar.gateway._protocol import RequestFailed, ResponseReceived

_UNSET: Final = object()


@dataclass(eq=False, slots=True)
class Call:
    """One request: what to send, where it is on the wire, and its answer once it came."""

    method: str
    params: Any
    idempotent: bool
    expect_final: bool = False
    request_id: str | None = None
    accepted: Any = _UNSET
    result: Any = _UNSET
    error: GatewayError | None = None
    lost: GatewayError | None = None
    # Taken when the call is made: the send may happen later, in the supervisor's task and context.
    traceparent: str | None = field(default_factory=telemetry.traceparent)
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def answered(self, *, until_accepted: bool) -> bool:
        """Whether the final answer came (or, with `until_accepted`, at least the gateway's acceptance)."""
        return self.result is not _UNSET or (until_accepted and self.accepted is not _UNSET)

    def first_payload(self) -> Any:
        """The acceptance's payload when there was one, else the final answer's."""
        return self.accepted if self.accepted is not _UNSET else self.result

    def notify(self) -> None:
        self._changed.set()

    async def changed(self) -> None:
        await self._changed.wait()
        self._changed = anyio.Event()


@dataclass(frozen=True, slots=True)
class AgentAccepted:
    """The gateway accepted an `agent` run; `GatewayClient.agent_final` waits for its result."""

    run_id: str
    idempotency_key: str
    payload: Any
    _call: Call = field(repr=False, compare=False)


class CallTable:
    """The calls on the current connection, by request id."""

    def __init__(self) -> None:
        self._calls: dict[str, Call] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def register(self, request_id: str, call: Call) -> None:
        call.request_id = request_id
        self._calls[request_id] = call

    def forget(self, call: Call) -> None:
        """Stop waiting for `call`'s answer (its caller gave up)."""
        if call.request_id is not None:
            self._calls.pop(call.request_id, None)

    def accept(self, request_id: str, payload: Any) -> None:
        """The gateway accepted the call (the first of `agent`'s two answers); it stays in the table."""
        call = self._calls.get(request_id)
        if call is not None:
            call.accepted = payload
            call.notify()

    def settle(self, out: ResponseReceived | RequestFailed) -> None:
        """The call's final answer or error came: hand it over and drop the call."""
        call = self._calls.pop(out.request_id, None)
        if call is None:
            return
        if isinstance(out, ResponseReceived):
            call.result = out.payload
        else:
            call.error = out.error
        call.notify()

    def lose(self, request_ids: Iterable[str], error: GatewayError) -> None:
        """The connection dropped with these calls on the wire: each caller decides to resend or fail."""
        for request_id in request_ids:
            call = self._calls.pop(request_id, None)
            if call is not None:
                call.request_id = None
                call.lost = error
                call.notify()

    def fail_all(self, error: GatewayError) -> None:
        """The client stopped: every call waiting raises `error`."""
        for call in list(self._calls.values()):
            call.error = error
            call.notify()
        self._calls.clear()


__all__ = ["AgentAccepted", "Call", "CallTable"]
