"""Opening one WebSocket to a gateway and completing the handshake on it.

Everything that can go wrong before `hello-ok` becomes one typed error here: the socket (refused, DNS,
TLS, not a WebSocket), the clock (handshake timeout) and the gateway's verdict (protocol, auth,
pairing). The connection is opened with a generous `max_size` because `hello-ok` itself can be large and
arrives before we know the gateway's limit; after hello the limit becomes the gateway's `maxPayload`.

The socket logs through a logger of its own, capped at WARNING: at DEBUG the WebSocket library would log
every frame (their first and last characters), and the connect frame and `hello-ok` carry the device token.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from sidecar.gateway._credentials import TokenStore, is_loopback_host
from sidecar.gateway._errors import (
    ConnectionRefused,
    DeviceTokenMismatch,
    ErrorContext,
    GatewayUnreachable,
    HandshakeTimeout,
    HostNotFound,
    InvalidGatewayURL,
    TLSFailure,
    UpgradeRejected,
)
from sidecar.gateway._handshake import Challenge, ClientInfo, ConnectAuth, HelloOk, build_connect_params
from sidecar.gateway._identity import DeviceIdentity
from sidecar.gateway._protocol import (
    ChallengeReceived,
    Closed,
    GatewayProtocol,
    HandshakeFailed,
    HelloReceived,
)
from sidecar.gateway._versions import Features, UnsupportedVersion, adapter_for

OPEN_MAX_SIZE = 32 * 1024 * 1024
# Whatever level the process logs at (even `--log-level debug`), no frame is ever logged.
WIRE_LOG = logging.getLogger("sidecar.gateway.wire")
WIRE_LOG.setLevel(logging.WARNING)


@dataclass(slots=True)
class Connection:
    """One handshaken socket and its protocol state."""

    ws: ClientConnection
    protocol: GatewayProtocol
    hello: HelloOk
    features: Features
    sent_device_token: bool = field(default=False)

    async def abort(self, code: int, reason: str) -> None:
        with anyio.move_on_after(2):
            await self.ws.close(code, reason)


@dataclass(frozen=True, slots=True)
class Credentials:
    identity: DeviceIdentity
    store: TokenStore
    agent_id: str
    shared_token: str | None = field(default=None, repr=False)


def close_info(exc: ConnectionClosed) -> tuple[int | None, str]:
    """The gateway's close code and reason; ours if we closed first (e.g. 1009 for an oversized frame)."""
    frame = exc.rcvd if exc.rcvd is not None else exc.sent
    if frame is None:
        return None, ""
    return frame.code, frame.reason


async def open_connection(
    url: str,
    creds: Credentials,
    *,
    scopes: Sequence[str],
    client: ClientInfo,
    handshake_timeout: float,
    max_size: int = OPEN_MAX_SIZE,
) -> Connection:
    """Connect, answer the challenge, and return once `hello-ok` arrived (and its token is stored)."""
    ctx = ErrorContext(url, creds.agent_id)
    device_token = await creds.store.device_token(url, creds.agent_id, creds.identity)
    auth = ConnectAuth(shared_token=creds.shared_token, device_token=device_token)
    protocol = GatewayProtocol(ctx)
    try:
        with anyio.fail_after(handshake_timeout):
            ws = await _open_socket(url, max_size)
    except TimeoutError:
        raise HandshakeTimeout(
            f"no WebSocket connection to {url} within {handshake_timeout:g} s",
            "Check that the gateway is running and reachable (a firewall may be dropping packets)",
        ) from None
    try:
        with anyio.fail_after(handshake_timeout):
            hello = await _handshake(
                ws,
                protocol,
                lambda challenge: build_connect_params(
                    challenge=challenge, identity=creds.identity, auth=auth, scopes=scopes, client=client
                ),
            )
    except BaseException as exc:
        await _close_quietly(ws, 1000, "")
        if isinstance(exc, TimeoutError):
            raise HandshakeTimeout(
                f"{url} accepted the WebSocket but did not complete the handshake within {handshake_timeout:g} s",
                "Check that the URL points at an OpenClaw gateway, and the gateway's log for why it stalled",
            ) from None
        if isinstance(exc, DeviceTokenMismatch) and device_token is not None:
            # The gateway rotated or revoked it; keeping it would fail every reconnect the same way.
            await creds.store.drop_token(url, creds.agent_id)
        raise
    # From here on the gateway's own limit applies to every incoming frame.
    ws.protocol.max_message_size = hello.policy.max_payload
    issued = hello.auth.device_token
    if issued is not None and issued != device_token:
        await creds.store.store_token(url, creds.agent_id, creds.identity, issued, hello.auth.scopes)
    try:
        features = features_of(hello, where=f"the gateway at {url}")
    except UnsupportedVersion:
        await _close_quietly(ws, 1000, "unsupported gateway version")
        raise
    return Connection(ws, protocol, hello, features, sent_device_token=device_token is not None)


def features_of(hello: HelloOk, *, where: str = "the gateway") -> Features:
    """The connection's features from hello: the release's adapter and the methods hello lists.

    Raises:
        UnsupportedVersion: the release is outside the supported range.
    """
    adapter = adapter_for(hello.server_version, where=where)
    return Features(hello.server_version, hello.protocol, adapter, hello.methods)


async def _open_socket(url: str, max_size: int) -> ClientConnection:
    host = urlsplit(url).hostname or ""
    options: dict[str, Any] = {
        "max_size": max_size,
        "open_timeout": None,
        "close_timeout": 2,
        "compression": None,
        "logger": WIRE_LOG,
    }
    if is_loopback_host(host):
        # An HTTP(S)_PROXY in the environment must never see loopback gateway traffic.
        options["proxy"] = None
    try:
        return await connect(url, **options)
    except InvalidURI as exc:
        raise InvalidGatewayURL(
            f"gateway URL {url!r} is not valid: {exc}", "e.g. ws://127.0.0.1:18789"
        ) from None
    except InvalidStatus as exc:
        raise UpgradeRejected(
            f"{url} answered HTTP {exc.response.status_code} instead of upgrading to a WebSocket",
            "Check that the URL points at an OpenClaw gateway (default ws://127.0.0.1:18789)",
        ) from None
    except InvalidHandshake as exc:
        raise UpgradeRejected(
            f"{url} did not complete a WebSocket upgrade ({type(exc).__name__})",
            "Check that the URL points at an OpenClaw gateway and that ws:// vs wss:// matches its TLS setting",
        ) from None
    except ssl.SSLError as exc:
        raise TLSFailure(
            f"TLS with {url} failed: {exc.reason or type(exc).__name__}",
            "Check the gateway's certificate (trusted CA, host name) or whether it serves plain ws://",
        ) from None
    except socket.gaierror:
        raise HostNotFound(
            f"cannot resolve the host of {url}", "Check the host name in the gateway URL"
        ) from None
    except ConnectionRefusedError:
        raise ConnectionRefused(
            f"{url} refused the connection",
            "Start the gateway (openclaw gateway run) or check the port in the gateway URL",
        ) from None
    except ConnectionResetError:
        if url.startswith("wss://"):
            raise TLSFailure(
                f"{url} reset the connection during the TLS handshake",
                "The gateway probably serves plain WebSocket on this port; use ws:// (loopback or SSH tunnel) "
                "or enable gateway.tls",
            ) from None
        raise GatewayUnreachable(
            f"{url} reset the connection before the WebSocket upgrade",
            "Check that the URL points at an OpenClaw gateway",
        ) from None
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        raise GatewayUnreachable(
            f"cannot connect to {url} ({name})", "Check the network path to the gateway"
        ) from None


async def _handshake(
    ws: ClientConnection, protocol: GatewayProtocol, connect_params: Callable[[Challenge], dict[str, Any]]
) -> HelloOk:
    """Answer the gateway's challenge with `connect_params(challenge)` and return its hello-ok."""
    while True:
        try:
            data = await ws.recv()
        except ConnectionClosed as exc:
            raise _closed(protocol, exc).error from None
        for out in protocol.receive(data, anyio.current_time()):
            if isinstance(out, ChallengeReceived):
                try:
                    await ws.send(protocol.send_connect(connect_params(out.challenge)))
                except ConnectionClosed as exc:
                    raise _closed(protocol, exc).error from None
            elif isinstance(out, HelloReceived):
                return out.hello
            elif isinstance(out, HandshakeFailed):
                # The gateway closes right after; its close reason only repeats this error.
                raise out.error


async def probe_gateway(url: str, timeout: float) -> HelloOk:
    """Send a `connect` with no device and no credential; return hello-ok if the gateway lets such a
    client in at all, else raise the typed error it answered with (an `AuthError` means the protocol
    range was accepted: the gateway checks it before any credential).

    Without a device identity the gateway has nothing to pair, and without a credential there is no
    failed login to count: the probe leaves no trace but a log line.
    """

    def anonymous(challenge: Challenge) -> dict[str, Any]:
        # The signature needs an identity; a throwaway one is generated and then left out.
        params = build_connect_params(
            challenge=challenge, identity=DeviceIdentity.generate(), auth=ConnectAuth()
        )
        del params["device"]
        return params

    protocol = GatewayProtocol(ErrorContext(url))
    ws: ClientConnection | None = None
    try:
        with anyio.fail_after(timeout):  # one budget for the socket, the upgrade and the handshake
            ws = await _open_socket(url, OPEN_MAX_SIZE)
            try:
                return await _handshake(ws, protocol, anonymous)
            finally:
                await _close_quietly(ws, 1000, "")
    except TimeoutError:
        if ws is None:
            raise HandshakeTimeout(
                f"no WebSocket connection to {url} within {timeout:g} s",
                "Check that the gateway is running and reachable (a firewall may be dropping packets)",
            ) from None
        raise HandshakeTimeout(
            f"{url} accepted the WebSocket but did not answer connect within {timeout:g} s",
            "Check that the URL points at an OpenClaw gateway, and the gateway's log for why it stalled",
        ) from None


def _closed(protocol: GatewayProtocol, exc: ConnectionClosed) -> Closed:
    code, reason = close_info(exc)
    return protocol.connection_closed(code, reason)


async def _close_quietly(ws: ClientConnection, code: int, reason: str) -> None:
    with anyio.move_on_after(2, shield=True), contextlib.suppress(Exception):
        await ws.close(code, reason)


__all__ = [
    "OPEN_MAX_SIZE",
    "Connection",
    "Credentials",
    "close_info",
    "features_of",
    "open_connection",
    "probe_gateway",
]
