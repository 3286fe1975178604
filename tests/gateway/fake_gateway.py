"""A scripted gateway on a real loopback socket, for transport tests that need exact control.

It speaks the observed protocol-v4 handshake (challenge, connect, hello-ok from the captured payload)
and verifies the device signature the way the real gateway does, so a client that passes here signs
what it sends. Each test scripts the rest: how connects are answered and how requests are handled.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from sidecar.gateway._identity import b64url_decode, signature_payload_v3

from .conftest import FRAMES

HELLO = json.loads((FRAMES / "hello-ok.payload.json").read_text())


@dataclass(frozen=True)
class Rejection:
    error: dict[str, Any] | None
    code: int
    reason: str


RequestHandler = Callable[["Session", dict[str, Any]], Awaitable[None]]
ConnectPolicy = Callable[[dict[str, Any]], Rejection | None]


@dataclass
class Session:
    ws: ServerConnection
    number: int
    params: dict[str, Any]

    async def reply(
        self, request_id: str, payload: Any = None, *, ok: bool = True, error: dict[str, Any] | None = None
    ) -> None:
        frame: dict[str, Any] = {"type": "res", "id": request_id, "ok": ok}
        if payload is not None:
            frame["payload"] = payload
        if error is not None:
            frame["error"] = error
        await self.ws.send(json.dumps(frame))

    async def event(self, name: str, payload: Any = None, seq: int | None = None) -> None:
        frame: dict[str, Any] = {"type": "event", "event": name, "payload": payload}
        if seq is not None:
            frame["seq"] = seq
        await self.ws.send(json.dumps(frame))


async def echo(session: Session, request: dict[str, Any]) -> None:
    await session.reply(
        request["id"],
        {"method": request["method"], "params": request.get("params"), "connection": session.number},
    )


@dataclass
class FakeGateway:
    tick_ms: int = 30000
    max_payload: int = 26214400
    issue_token: str | None = "device-token-1"
    on_request: RequestHandler = echo
    on_connect: ConnectPolicy | None = None
    send_challenge: bool = True
    hello_padding: int = 0
    # Let a connect without a device through (as doctor's anonymous probe sends it); off, that is an error.
    allow_anonymous: bool = False
    sessions: list[Session] = field(default_factory=list)
    connects: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _server: Server | None = None
    _counter: Any = field(default_factory=lambda: itertools.count(1))
    _changed: anyio.Event = field(default_factory=anyio.Event)

    async def __aenter__(self) -> FakeGateway:
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def current(self) -> Session:
        return self.sessions[-1]

    async def wait_for_sessions(self, count: int) -> Session:
        while len(self.sessions) < count:
            await self._changed.wait()
        return self.sessions[count - 1]

    async def wait_for_connects(self, count: int) -> dict[str, Any]:
        while len(self.connects) < count:
            await self._changed.wait()
        return self.connects[count - 1]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _handle(self, ws: ServerConnection) -> None:
        nonce = f"nonce-{next(self._counter)}"
        ts = 1795311383889
        if not self.send_challenge:
            await ws.wait_closed()
            return
        await ws.send(
            json.dumps(
                {
                    "type": "event",
                    "event": "connect.challenge",
                    "payload": {"nonce": nonce, "ts": ts, "capabilities": []},
                }
            )
        )
        try:
            connect = json.loads(await ws.recv())
        except ConnectionClosed:
            return
        params = connect["params"]
        self.connects.append(params)
        self._notify()
        if not (self.allow_anonymous and "device" not in params):
            verify_device(params, nonce, ts)
        rejection = self.on_connect(params) if self.on_connect else None
        if rejection is not None:
            if rejection.error is not None:
                await ws.send(
                    json.dumps({"type": "res", "id": connect["id"], "ok": False, "error": rejection.error})
                )
            await ws.close(rejection.code, rejection.reason)
            return
        hello = copy.deepcopy(HELLO)
        hello["policy"]["tickIntervalMs"] = self.tick_ms
        hello["policy"]["maxPayload"] = self.max_payload
        if self.issue_token is not None:
            hello["auth"]["deviceToken"] = self.issue_token
        if self.hello_padding:
            hello["snapshot"]["padding"] = "x" * self.hello_padding
        await ws.send(json.dumps({"type": "res", "id": connect["id"], "ok": True, "payload": hello}))
        session = Session(ws, len(self.sessions) + 1, params)
        self.sessions.append(session)
        self._notify()
        try:
            async for message in ws:
                request = json.loads(message)
                self.requests.append(request)
                await self.on_request(session, request)
        except ConnectionClosed:
            pass


def verify_device(params: dict[str, Any], nonce: str, ts: int) -> None:
    """What the gateway checks: nonce echo, signedAt, and the v3 signature over what was sent."""
    device = params["device"]
    assert device["nonce"] == nonce
    assert device["signedAt"] == ts
    auth = params.get("auth") or {}
    payload = signature_payload_v3(
        device_id=device["id"],
        client_id=params["client"]["id"],
        client_mode=params["client"]["mode"],
        role=params["role"],
        scopes=params["scopes"],
        signed_at_ms=device["signedAt"],
        token=auth.get("token") or auth.get("deviceToken") or "",
        nonce=nonce,
        platform=params["client"]["platform"],
        device_family=params["client"].get("deviceFamily"),
    )
    key = Ed25519PublicKey.from_public_bytes(b64url_decode(device["publicKey"]))
    key.verify(b64url_decode(device["signature"]), payload.encode())


def pairing_rejection(request_id: str = "req-1") -> Rejection:
    return Rejection(
        {
            "code": "NOT_PAIRED",
            "message": "pairing required: device is not approved yet",
            "details": {"code": "PAIRING_REQUIRED", "reason": "not-paired", "requestId": request_id},
        },
        1008,
        f"pairing required: device is not approved yet (requestId: {request_id})",
    )


def device_token_rejection() -> Rejection:
    message = "unauthorized: device token mismatch (rotate/reissue device token)"
    return Rejection(
        {"code": "INVALID_REQUEST", "message": message, "details": {"code": "AUTH_DEVICE_TOKEN_MISMATCH"}},
        1008,
        message,
    )
