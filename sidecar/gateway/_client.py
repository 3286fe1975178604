"""`GatewayClient`: one long-lived, self-healing connection to a gateway for one agent.

A background task reads frames and, when the connection dies (close, dropped socket, no tick for two
intervals), reconnects with capped exponential backoff and jitter. What happens to a call caught by a
disconnect depends on whether repeating it is safe: idempotent calls (and `agent`, whose
`idempotencyKey` makes the gateway replay instead of re-run) are sent again on the next connection;
anything else fails with `RequestInterrupted`, because the gateway may already have applied it.
Failures no retry can fix (auth, pairing, protocol) stop the reconnect loop and are raised by every
later call.

Logging is for an operator reading `--log-file`: a drop, its retry schedule and the recovery are one
WARNING each, never one per attempt (those are DEBUG).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
from websockets.exceptions import ConnectionClosed

from sidecar.gateway._calls import AgentAccepted, Call, CallTable
from sidecar.gateway._credentials import TokenStore, check_url
from sidecar.gateway._errors import (
    RETRYABLE_CONNECT_ERRORS,
    ClientClosed,
    ConnectionLost,
    ErrorContext,
    GatewayError,
    PayloadTooLarge,
    ProtocolViolation,
    RequestInterrupted,
    RequestTimeout,
    Unavailable,
)
from sidecar.gateway._events import EventHub, EventStream, GatewayEvent
from sidecar.gateway._handshake import ALL_SCOPES, ClientInfo, HelloOk
from sidecar.gateway._identity import DeviceIdentity
from sidecar.gateway._protocol import (
    Accepted,
    Closed,
    EventReceived,
    Output,
    RequestFailed,
    ResponseReceived,
    ShutdownAnnounced,
)
from sidecar.gateway._transport import Connection, Credentials, close_info, open_connection
from sidecar.gateway._versions import Features

log = logging.getLogger("sidecar.gateway")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: `initial`, times `factor` each attempt, at most `cap`, each spread by +/-`jitter`."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.2

    def delays(self, rng: Callable[[], float] = random.random) -> Iterator[float]:
        delay = self.initial
        while True:
            spread = 1 + self.jitter * (2 * rng() - 1)
            yield min(self.cap, delay * spread)
            delay = min(self.cap, delay * self.factor)


class GatewayClient:
    def __init__(
        self,
        url: str,
        identity: DeviceIdentity,
        token_store: TokenStore,
        agent_id: str,
        shared_token: str | None = None,
        scopes: Sequence[str] = ALL_SCOPES,
        allow_insecure: bool = False,
        *,
        client_info: ClientInfo | None = None,
        request_timeout: float = 10.0,
        handshake_timeout: float = 15.0,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        on_event: Callable[[GatewayEvent], None] | None = None,
    ) -> None:
        self.url = check_url(url, allow_insecure=allow_insecure)
        self.agent_id = agent_id
        self.scopes = tuple(scopes)
        self.request_timeout = request_timeout
        self.handshake_timeout = handshake_timeout
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.hello: HelloOk | None = None
        self.features: Features | None = None
        self.epoch = 0
        self.failure: GatewayError | None = None
        self._creds = Credentials(identity, token_store, agent_id, shared_token)
        self._client_info = client_info or ClientInfo()
        self._ctx = ErrorContext(self.url, agent_id)
        self._conn: Connection | None = None
        self._calls = CallTable()
        self._events = EventHub(on_event)
        self._state_changed = anyio.Event()
        self._closed = False
        self._restart_hint_s: float | None = None
        self._last_connect_error: GatewayError | None = None
        self._down_since: float | None = None
        self._supervisor: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self._conn else "disconnected"
        return f"GatewayClient(url={self.url!r}, agent_id={self.agent_id!r}, {state})"

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def down_for(self) -> float | None:
        """Seconds since the connection dropped, while it is down."""
        if self._conn is not None or self._down_since is None:
            return None
        return anyio.current_time() - self._down_since

    async def __aenter__(self) -> GatewayClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> HelloOk:
        """Open the first connection. Its failure is raised as is (no retry); later drops reconnect."""
        if self._supervisor is not None or self._closed:
            raise RuntimeError("GatewayClient.connect() is called once per client")
        deadline = anyio.current_time() + self.handshake_timeout
        while True:
            try:
                conn = await self._open()
                break
            except Unavailable as exc:
                # A gateway still starting its sidecars answers connect with a retryable UNAVAILABLE and
                # retryAfterMs; that is not a refusal, so wait it out within the handshake budget.
                wait = (exc.retry_after_ms or 500) / 1000
                if anyio.current_time() + wait > deadline:
                    raise
                await anyio.sleep(wait)
        self._install(conn)
        # A plain asyncio task rather than an anyio task group: a task group entered here would have to
        # be exited by close() in the same task and cancel-scope nesting, which `connect()` then a later
        # `close()` from anywhere cannot promise. The transport is asyncio-only (websockets) anyway.
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name="gateway-supervisor"
        )
        return conn.hello

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        self._calls.fail_all(ClientClosed())
        self._wake()
        if conn is not None:
            await conn.abort(1000, "client closing")
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.wait({self._supervisor})
        self._events.end()

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any:
        """Send one request and return its payload; a failure raises a `GatewayError` subclass."""
        call = Call(method, params, idempotent)
        limit = self.request_timeout if timeout is None else timeout
        try:
            with anyio.fail_after(limit):
                await self._drive(call, until_accepted=False)
        except TimeoutError:
            self._abandon(call)
            raise self._timeout_error(call, limit) from None
        return call.result

    async def agent(
        self, params: Mapping[str, Any], *, timeout: float | None = None, resend: bool = True
    ) -> AgentAccepted:
        """Start an `agent` run and return once the gateway accepted it.

        The request carries an `idempotencyKey` (added if missing), so it is retried across reconnects
        with that same key and the gateway replays rather than starting the run twice. The gateway's
        replay cache lives in memory, though: after a gateway restart it no longer knows the key. A caller
        that must not run a message twice passes `resend=False`, gets `RequestInterrupted` when the
        connection drops, and checks the target's transcript before sending again.
        """
        body = dict(params)
        key = str(body.setdefault("idempotencyKey", str(uuid.uuid4())))
        call = Call("agent", body, idempotent=resend, expect_final=True)
        limit = self.request_timeout if timeout is None else timeout
        try:
            with anyio.fail_after(limit):
                await self._drive(call, until_accepted=True)
        except TimeoutError:
            self._abandon(call)
            raise self._timeout_error(call, limit) from None
        payload = call.first_payload()
        run_id = payload.get("runId") if isinstance(payload, dict) else None
        return AgentAccepted(str(run_id or key), key, payload, call)

    async def agent_final(self, accepted: AgentAccepted, *, timeout: float | None = None) -> Any:
        """The final payload of an accepted run (the second response); no time limit unless given."""
        call = accepted._call
        try:
            with anyio.fail_after(timeout):
                await self._drive(call, until_accepted=False)
        except TimeoutError:
            raise RequestTimeout("agent (final result)", timeout or 0) from None
        return call.result

    @property
    def version(self) -> str | None:
        """The gateway's OpenClaw release from its last hello, e.g. `2026.4.12`."""
        return self.hello.server_version if self.hello is not None else None

    def events(self, max_buffer: int = 1024) -> EventStream:
        """Subscribe to events. A subscriber that falls `max_buffer` behind loses events (see `seq`)."""
        return self._events.subscribe(max_buffer, lambda: self.failure)

    async def _drive(self, call: Call, *, until_accepted: bool) -> None:
        while True:
            if call.error is not None:
                raise call.error
            if call.answered(until_accepted=until_accepted):
                return
            if call.lost is not None:
                if not call.idempotent:
                    raise RequestInterrupted(call.method, call.lost)
                call.lost = None
            if call.request_id is None:
                await self._send(call)
            await call.changed()

    async def _send(self, call: Call) -> None:
        while True:
            if self._closed:
                raise ClientClosed()
            if self.failure is not None:
                raise self.failure
            conn = self._conn
            if conn is not None:
                break
            waiter = self._state_changed
            await waiter.wait()
        request_id, text = conn.protocol.send_request(
            call.method,
            call.params,
            expect_final=call.expect_final,
            # Protocol 3 releases (2026.3, 2026.4) refuse any frame field they do not know; the request
            # frame's `traceparent` arrived with protocol 4 (2026.9).
            traceparent=call.traceparent if conn.hello.protocol >= 4 else None,
        )
        size = len(text.encode("utf-8"))
        if size > conn.hello.policy.max_payload:
            conn.protocol.forget(request_id)
            raise PayloadTooLarge(
                f"{call.method} request is {size} bytes; the gateway accepts at most "
                f"{conn.hello.policy.max_payload}",
                "Send less per call (fewer or smaller attachments, a lower limit)",
            )
        self._calls.register(request_id, call)
        # A failed send leaves the call registered: the reader sees the close and decides between
        # resending it (idempotent) and failing it (not), exactly as for a call already on the wire.
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(text)

    def _timeout_error(self, call: Call, limit: float) -> GatewayError:
        """A call that was never on a live connection timed out because the gateway is down: say so."""
        if call.request_id is None and self._conn is None and self._last_connect_error is not None:
            down = anyio.current_time() - (self._down_since or anyio.current_time())
            return ConnectionLost(
                f"{call.method} was not sent: the gateway connection has been down for {down:.0f} s "
                f"({self._last_connect_error.message})",
                "The client keeps reconnecting with backoff; check the gateway, then retry the call",
            )
        return RequestTimeout(call.method, limit)

    def _abandon(self, call: Call) -> None:
        if call.request_id is not None:
            self._calls.forget(call)
            if self._conn is not None:
                self._conn.protocol.forget(call.request_id)

    async def _open(self) -> Connection:
        return await open_connection(
            self.url,
            self._creds,
            scopes=self.scopes,
            client=self._client_info,
            handshake_timeout=self.handshake_timeout,
        )

    def _install(self, conn: Connection) -> None:
        self._conn = conn
        self.hello = conn.hello
        self.features = conn.features
        self.epoch += 1
        self._restart_hint_s = None
        self._last_connect_error = None
        self._down_since = None
        self._wake()

    def _wake(self) -> None:
        self._state_changed.set()
        self._state_changed = anyio.Event()

    async def _supervise(self) -> None:
        # An exception escaping this background task would surface nowhere while callers wait for a
        # connection that never comes back; make it the client's failure, which every later call raises.
        try:
            await self._supervise_loop()
        except Exception as exc:
            log.exception("gateway client supervisor crashed")
            self._conn = None
            self._fail(
                GatewayError(
                    f"gateway client crashed ({type(exc).__name__})",
                    "This is a sidecar bug; restart the sidecar and report it",
                )
            )

    async def _supervise_loop(self) -> None:
        while not self._closed:
            conn = self._conn
            if conn is None:
                return
            closed = await self._read(conn)
            self._conn = None
            self._down_since = anyio.current_time()
            self._last_connect_error = closed.error
            self._calls.lose(closed.in_flight, closed.error)
            if self._closed:
                return
            if not self.reconnect or not isinstance(closed.error, RETRYABLE_CONNECT_ERRORS):
                self._fail(closed.error)
                return
            b = self.backoff
            log.warning(
                "gateway %s (agent %s): connection lost (%s); reconnecting, first after %g s, then doubling "
                "up to every %g s",
                self.url,
                self.agent_id,
                closed.error.message,
                b.initial,
                b.cap,
            )
            down_since = self._down_since
            new = await self._reconnect()
            if new is None:
                return
            self._install(new)
            log.warning(
                "gateway %s (agent %s): reconnected after %.1f s",
                self.url,
                self.agent_id,
                anyio.current_time() - (down_since or anyio.current_time()),
            )

    async def _reconnect(self) -> Connection | None:
        delays = self.backoff.delays()
        hint = self._restart_hint_s
        while not self._closed:
            delay = next(delays)
            await anyio.sleep(min(hint, self.backoff.cap) if hint is not None else delay)
            hint = None
            try:
                return await self._open()
            except RETRYABLE_CONNECT_ERRORS as exc:
                changed = self._last_connect_error is None or (
                    type(exc) is not type(self._last_connect_error)
                )
                self._last_connect_error = exc
                # The first failure of a new kind is worth a line (refused -> timing out says something).
                (log.warning if changed else log.debug)(
                    "gateway %s: reconnect failed (%s); still retrying", self.url, exc.message
                )
                if isinstance(exc, Unavailable) and exc.retry_after_ms is not None:
                    hint = exc.retry_after_ms / 1000
            except GatewayError as exc:
                self._fail(exc)
                return None
        return None

    async def _read(self, conn: Connection) -> Closed:
        while True:
            dead_at = conn.protocol.dead_at()
            wait = None if dead_at is None else max(0.0, dead_at - anyio.current_time())
            with anyio.move_on_after(wait) as scope:
                try:
                    data = await conn.ws.recv()
                except ConnectionClosed as exc:
                    code, reason = close_info(exc)
                    return conn.protocol.connection_closed(code, reason)
            if scope.cancelled_caught:
                error = conn.protocol.tick_timeout()
                await conn.abort(4000, "tick timeout")
                return conn.protocol.connection_closed(4000, "tick timeout", error=error)
            try:
                outputs = conn.protocol.receive(data, anyio.current_time())
            except ProtocolViolation as error:
                await conn.abort(1002, "protocol violation")
                return conn.protocol.connection_closed(1002, "protocol violation", error=error)
            for out in outputs:
                self._dispatch(out)

    def _dispatch(self, out: Output) -> None:
        if isinstance(out, EventReceived):
            self._events.publish(GatewayEvent(out.event, out.payload, out.seq, self.epoch))
        elif isinstance(out, Accepted):
            self._calls.accept(out.request_id, out.payload)
        elif isinstance(out, ResponseReceived | RequestFailed):
            self._calls.settle(out)
        elif isinstance(out, ShutdownAnnounced):
            log.info("gateway announced shutdown: %s", out.reason or "no reason given")
            if out.restart_expected_ms is not None:
                self._restart_hint_s = out.restart_expected_ms / 1000

    def _fail(self, error: GatewayError) -> None:
        self.failure = error
        log.warning("gateway client stopped: %s", error)
        self._calls.fail_all(error)
        self._wake()
        self._events.end()


__all__ = ["Backoff", "GatewayClient"]
