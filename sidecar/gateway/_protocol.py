"""The client side of gateway protocol v4 as a state machine that never touches a socket.

Feed it every received message with `receive(data, now)` and the close with `connection_closed`; it
returns what happened as plain values. Ask it for the text of `connect` and of requests with
`send_connect` and `send_request`. It correlates responses to request ids, including the `agent` method,
which answers twice under one id: first `{status: "accepted"}` at once, then the final result.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sidecar.gateway._errors import (
    ErrorContext,
    GatewayError,
    ProtocolViolation,
    TickTimeout,
    error_from_close,
    error_from_connect_response,
    error_from_response,
)
from sidecar.gateway._frames import EventFrame, RequestFrame, ResponseFrame, parse_frame
from sidecar.gateway._handshake import Challenge, HelloOk


class Phase(enum.Enum):
    AWAIT_CHALLENGE = "await-challenge"
    AWAIT_HELLO = "await-hello"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ChallengeReceived:
    challenge: Challenge


@dataclass(frozen=True, slots=True)
class HelloReceived:
    hello: HelloOk


@dataclass(frozen=True, slots=True)
class HandshakeFailed:
    error: GatewayError


@dataclass(frozen=True, slots=True)
class Accepted:
    """The first of the two responses to an expect-final request (`agent`)."""

    request_id: str
    payload: Any


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    request_id: str
    payload: Any


@dataclass(frozen=True, slots=True)
class RequestFailed:
    request_id: str
    error: GatewayError


@dataclass(frozen=True, slots=True)
class EventReceived:
    event: str
    payload: Any
    seq: int | None


@dataclass(frozen=True, slots=True)
class ShutdownAnnounced:
    reason: str
    restart_expected_ms: int | None


@dataclass(frozen=True, slots=True)
class Closed:
    error: GatewayError
    in_flight: tuple[str, ...]


Output = (
    ChallengeReceived
    | HelloReceived
    | HandshakeFailed
    | Accepted
    | ResponseReceived
    | RequestFailed
    | EventReceived
    | ShutdownAnnounced
)


@dataclass(slots=True)
class _Pending:
    method: str
    expect_final: bool
    accepted: bool = False


def _new_id() -> str:
    return str(uuid.uuid4())


class GatewayProtocol:
    def __init__(self, ctx: ErrorContext | None = None, *, new_id: Callable[[], str] = _new_id) -> None:
        self.ctx = ctx or ErrorContext()
        self.phase = Phase.AWAIT_CHALLENGE
        self.challenge: Challenge | None = None
        self.hello: HelloOk | None = None
        self._new_id = new_id
        self._connect_id: str | None = None
        self._rejection: GatewayError | None = None
        self._pending: dict[str, _Pending] = {}
        self._last_received: float | None = None

    @property
    def in_flight(self) -> tuple[str, ...]:
        return tuple(self._pending)

    def send_connect(self, params: dict[str, Any]) -> str:
        if self.phase is not Phase.AWAIT_CHALLENGE or self.challenge is None:
            raise RuntimeError(f"connect is sent once, after the challenge (phase {self.phase.value})")
        self._connect_id = self._new_id()
        self.phase = Phase.AWAIT_HELLO
        return RequestFrame(self._connect_id, "connect", params).encode()

    def send_request(
        self, method: str, params: Any = None, *, expect_final: bool = False, traceparent: str | None = None
    ) -> tuple[str, str]:
        """Register a request and return `(id, text to send)`. Only valid after hello-ok."""
        if self.phase is not Phase.OPEN:
            raise RuntimeError(f"requests need an open connection (phase {self.phase.value})")
        if method == "connect":
            raise ValueError("connect is sent by send_connect")
        request_id = self._new_id()
        self._pending[request_id] = _Pending(method, expect_final)
        return request_id, RequestFrame(request_id, method, params, traceparent).encode()

    def forget(self, request_id: str) -> None:
        """Stop tracking a request the caller gave up on; a late response to it is then dropped."""
        self._pending.pop(request_id, None)

    def dead_at(self) -> float | None:
        """The monotonic time after which silence means the connection is dead (None before hello)."""
        if self.phase is not Phase.OPEN or self.hello is None or self._last_received is None:
            return None
        return self._last_received + 2 * self.hello.policy.tick_interval_ms / 1000

    def tick_timeout(self) -> TickTimeout:
        interval = self.hello.policy.tick_interval_ms if self.hello else 0
        return TickTimeout(
            f"nothing received from the gateway for more than {2 * interval / 1000:g} s (2 tick intervals)",
            "The client treats the connection as dead and reconnects",
            code=4000,
            reason="tick timeout",
        )

    def receive(self, data: str | bytes, now: float) -> list[Output]:
        if self.phase is Phase.CLOSED:
            return []
        frame = parse_frame(data)
        self._last_received = now
        if isinstance(frame, RequestFrame):
            raise ProtocolViolation(f"gateway sent a request frame ({frame.method}) to an operator client")
        if self.phase is Phase.AWAIT_CHALLENGE:
            return self._before_connect(frame)
        if self.phase is Phase.AWAIT_HELLO:
            return self._before_hello(frame)
        if isinstance(frame, EventFrame):
            return self._event(frame)
        return self._response(frame)

    def connection_closed(
        self, code: int | None, reason: str = "", *, error: GatewayError | None = None
    ) -> Closed:
        """The socket closed (`code` None: dropped without a close frame). Returns why, and what was lost."""
        in_flight = tuple(self._pending)
        self._pending.clear()
        if error is None:
            # A rejected connect is followed by a close whose reason repeats the message; the response
            # had the details (request id, detail code), so it wins.
            error = self._rejection or error_from_close(code, reason, self.ctx)
        self.phase = Phase.CLOSED
        return Closed(error, in_flight)

    def _before_connect(self, frame: EventFrame | ResponseFrame) -> list[Output]:
        if isinstance(frame, ResponseFrame):
            raise ProtocolViolation("gateway sent a response before the client sent connect")
        if frame.event != "connect.challenge":
            return []
        self.challenge = Challenge.from_payload(frame.payload)
        return [ChallengeReceived(self.challenge)]

    def _before_hello(self, frame: EventFrame | ResponseFrame) -> list[Output]:
        if isinstance(frame, EventFrame):
            return []
        if frame.id != self._connect_id:
            raise ProtocolViolation(f"gateway answered request {frame.id!r} before hello-ok")
        if not frame.ok:
            if frame.error is None:
                raise ProtocolViolation("connect failed without an error shape")
            self._rejection = error_from_connect_response(frame.error, self.ctx)
            return [HandshakeFailed(self._rejection)]
        self.hello = HelloOk.parse(frame.payload)
        self.phase = Phase.OPEN
        return [HelloReceived(self.hello)]

    def _event(self, frame: EventFrame) -> list[Output]:
        out: list[Output] = [EventReceived(frame.event, frame.payload, frame.seq)]
        if frame.event == "shutdown":
            payload = frame.payload if isinstance(frame.payload, dict) else {}
            restart = payload.get("restartExpectedMs")
            out.append(
                ShutdownAnnounced(
                    str(payload.get("reason", "")),
                    restart if isinstance(restart, int) and not isinstance(restart, bool) else None,
                )
            )
        return out

    def _response(self, frame: ResponseFrame) -> list[Output]:
        pending = self._pending.get(frame.id)
        if pending is None:
            # A response to a request we forgot (timed out), or the final `agent` answer for a caller
            # that did not ask for it. Both are expected; neither is an error.
            return []
        if (
            frame.ok
            and pending.expect_final
            and not pending.accepted
            and isinstance(frame.payload, dict)
            and frame.payload.get("status") == "accepted"
        ):
            pending.accepted = True
            return [Accepted(frame.id, frame.payload)]
        del self._pending[frame.id]
        if frame.ok:
            return [ResponseReceived(frame.id, frame.payload)]
        if frame.error is None:
            raise ProtocolViolation(f"response to {pending.method} has ok=false and no error")
        return [
            RequestFailed(frame.id, error_from_response(pending.method, frame.error, self.ctx, frame.payload))
        ]
