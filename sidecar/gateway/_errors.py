"""Every way talking to a gateway can fail, as a typed exception whose text says what to do next.

Two inputs are mapped here: the `error` shape of a failed response (the precise reason is usually in
`details.code`) and a WebSocket close code with its reason text. During the handshake the gateway sends
both, the response first; the response is richer, so the close only decides when no response came.
No message built here ever contains a credential: gateway messages and close reasons carry none, and
the hints name commands, never tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_REQUEST_ID_IN_REASON = re.compile(r"\(requestId:\s*([^)\s]+)\s*\)")
_MISSING_SCOPE_IN_MESSAGE = re.compile(r"missing scope:\s*(\S+)")


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """The `error` object of a failed response."""

    code: str
    message: str
    details: Any = None
    retryable: bool | None = None
    retry_after_ms: int | None = None

    @property
    def detail_code(self) -> str | None:
        """`details.code`, where the gateway puts the precise reason (`AUTH_TOKEN_MISMATCH`, ...)."""
        if isinstance(self.details, dict):
            code = self.details.get("code")
            if isinstance(code, str):
                return code
        return None

    def detail(self, key: str) -> Any:
        return self.details.get(key) if isinstance(self.details, dict) else None


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """What a hint needs to name the exact command to run."""

    url: str = "<gateway-url>"
    agent_id: str = "<agent-id>"

    @property
    def pair_command(self) -> str:
        return f"sidecar pair --gateway {self.url} --agent {self.agent_id}"


class GatewayError(Exception):
    """Base class. `message` says what happened, `hint` what to do next; `str()` joins them."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}" if self.hint else self.message


class InvalidGatewayURL(GatewayError):
    """The URL is not a ws:// or wss:// URL."""


class InsecureGatewayURL(GatewayError):
    """Plain ws:// to a host that is not loopback, without an explicit opt-in."""


class GatewayUnreachable(GatewayError):
    """No WebSocket could be opened or no handshake completed."""


class ConnectionRefused(GatewayUnreachable):
    pass


class HostNotFound(GatewayUnreachable):
    pass


class TLSFailure(GatewayUnreachable):
    pass


class HandshakeTimeout(GatewayUnreachable):
    pass


class UpgradeRejected(GatewayUnreachable):
    """The server answered HTTP but refused the WebSocket upgrade: probably not a gateway."""


class ProtocolViolation(GatewayError):
    """The gateway sent something that is not a protocol-v4 frame, or in the wrong order."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(
            message, hint or "This is a gateway or sidecar bug; report it with the gateway version"
        )


class ProtocolMismatch(GatewayError):
    def __init__(self, message: str, expected: Any = None) -> None:
        self.expected_protocol = expected
        server = f"protocol {expected}" if expected is not None else "another protocol version"
        super().__init__(
            message,
            f"The gateway speaks {server}; this sidecar speaks protocols 3 and 4 "
            "(OpenClaw 2026.3.13 to 2026.9.6). Run a supported OpenClaw release",
        )


class ConnectionLost(GatewayError):
    """The connection closed. In-flight requests that cannot be retried fail with this."""

    def __init__(self, message: str, hint: str = "", *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
        self.reason = reason


class TickTimeout(ConnectionLost):
    pass


class ServiceRestart(ConnectionLost):
    pass


class PayloadTooLarge(ConnectionLost):
    pass


class PolicyViolation(ConnectionLost):
    pass


class GatewayAuthChanged(ConnectionLost):
    """Close 4001: the shared secret rotated. Reconnecting re-authenticates and says if it still works."""


class RequestInterrupted(ConnectionLost):
    """A request that is not idempotent was in flight when the connection closed."""

    def __init__(self, method: str, cause: GatewayError) -> None:
        code = cause.code if isinstance(cause, ConnectionLost) else None
        super().__init__(
            f"connection closed while {method} was in flight ({cause.message})",
            f"The gateway may or may not have applied it; check its state before repeating {method}",
            code=code,
        )
        self.method = method
        self.cause = cause


class ClientClosed(GatewayError):
    def __init__(self) -> None:
        super().__init__("the gateway client is closed", "Open a new GatewayClient")


class AuthError(GatewayError):
    """The gateway refused this connection's credentials or device proof."""


class SharedTokenMissing(AuthError):
    pass


class SharedTokenMismatch(AuthError):
    pass


class DeviceTokenMismatch(AuthError):
    pass


class ScopeMismatch(AuthError):
    pass


class AuthRateLimited(AuthError):
    pass


class DeviceAuthRejected(AuthError):
    pass


class HandshakeRejected(AuthError):
    """The gateway refused `connect` for a reason without a more specific class."""


class PairingRequired(AuthError):
    def __init__(self, message: str, hint: str, *, request_id: str | None, reason: str | None) -> None:
        super().__init__(message, hint)
        self.request_id = request_id
        self.reason = reason


class RequestTimeout(GatewayError):
    def __init__(self, method: str, timeout: float) -> None:
        super().__init__(
            f"{method} got no response within {timeout:g} s",
            "Pass a longer timeout= for slow calls, or check the gateway's load and log",
        )
        self.method = method
        self.timeout = timeout


class RequestError(GatewayError):
    """The gateway answered a request with `ok: false`."""

    def __init__(self, method: str, error: ErrorShape, hint: str = "", payload: Any = None) -> None:
        super().__init__(f"{method} failed: {error.code}: {error.message}", hint)
        self.method = method
        self.code = error.code
        self.detail_code = error.detail_code
        self.gateway_message = error.message
        self.details = error.details
        self.retryable = bool(error.retryable)
        self.retry_after_ms = error.retry_after_ms
        self.payload = payload


class InvalidRequest(RequestError):
    pass


class MissingScope(RequestError):
    def __init__(self, method: str, error: ErrorShape, ctx: ErrorContext) -> None:
        found = _MISSING_SCOPE_IN_MESSAGE.search(error.message)
        scope = error.detail("missingScope") or (found.group(1) if found else None)
        required = error.detail("requiredScopes")
        self.missing_scope: str | None = scope if isinstance(scope, str) else None
        self.required_scopes: tuple[str, ...] = tuple(required) if isinstance(required, list) else ()
        super().__init__(
            method,
            error,
            f"This connection lacks {self.missing_scope or 'a required scope'}. The sidecar requests every "
            f"scope it needs when pairing; if the device was paired with fewer, remove it on the gateway "
            f"(openclaw devices remove <deviceId>) and re-pair: {ctx.pair_command}",
        )


class Unavailable(RequestError):
    def __init__(self, method: str, error: ErrorShape, payload: Any = None) -> None:
        after = error.retry_after_ms
        super().__init__(
            method,
            error,
            f"Retry after {after} ms"
            if after is not None
            else "The gateway is busy or starting; retry later",
            payload,
        )


def pairing_hint(ctx: ErrorContext, request_id: str | None) -> str:
    if request_id:
        return (
            f"Approve it on the gateway host with: openclaw devices approve {request_id} "
            f"(or run `{ctx.pair_command}`, which waits for the approval and shows the current request id)"
        )
    return f"Run `{ctx.pair_command}` and approve the request it prints with: openclaw devices approve <requestId>"


def _device_token_hint(ctx: ErrorContext) -> str:
    return (
        f"The device token stored for agent {ctx.agent_id} at {ctx.url} was rotated or revoked on the gateway "
        f"and has been dropped. Re-pair with `{ctx.pair_command}` (with the gateway's shared token in "
        "OPENCLAW_GATEWAY_TOKEN, or approve the request it prints)"
    )


_SHARED_TOKEN_HINT = (
    "Set OPENCLAW_GATEWAY_TOKEN (or the variable named by --token-env) to this gateway's gateway.auth.token"
)


def _auth_error(detail: str | None, message: str, ctx: ErrorContext) -> GatewayError | None:
    text = message.lower()
    if detail == "AUTH_DEVICE_TOKEN_MISMATCH" or "device token mismatch" in text:
        return DeviceTokenMismatch(f"gateway rejected the device token ({message})", _device_token_hint(ctx))
    if detail == "AUTH_TOKEN_MISMATCH" or "gateway token mismatch" in text:
        return SharedTokenMismatch(f"gateway rejected the shared token ({message})", _SHARED_TOKEN_HINT)
    if detail == "AUTH_TOKEN_MISSING" or "gateway token missing" in text:
        return SharedTokenMissing(
            f"gateway requires its shared token and none was sent ({message})",
            _SHARED_TOKEN_HINT + f", or pair first with `{ctx.pair_command}`",
        )
    if detail in ("AUTH_PASSWORD_MISSING", "AUTH_PASSWORD_MISMATCH") or "password" in text:
        return SharedTokenMismatch(
            f"gateway uses password auth and rejected this connection ({message})", _SHARED_TOKEN_HINT
        )
    if detail == "AUTH_SCOPE_MISMATCH":
        return ScopeMismatch(
            f"the stored device token does not cover the requested scopes ({message})",
            f"Re-pair with `{ctx.pair_command}` so the device is approved for every scope the sidecar needs",
        )
    if detail == "AUTH_RATE_LIMITED" or "too many failed authentication" in text:
        return AuthRateLimited(
            f"gateway is rate-limiting failed logins from this address ({message})",
            "Fix the credentials, then wait a few minutes before retrying",
        )
    if (
        (detail or "").startswith("DEVICE_AUTH_")
        or detail == "DEVICE_IDENTITY_REQUIRED"
        or (
            text.startswith("device ")
            and ("signature" in text or "nonce" in text or "identity" in text or "public key" in text)
        )
    ):
        return DeviceAuthRejected(
            f"gateway rejected the device proof ({message})",
            "Check that this machine's clock is within 2 minutes of the gateway's; if it is, re-pair with "
            f"`{ctx.pair_command}`",
        )
    if text.startswith("unauthorized"):
        return AuthError(f"gateway refused the connection ({message})", _SHARED_TOKEN_HINT)
    return None


def _pairing_error(
    message: str, request_id: str | None, reason: str | None, ctx: ErrorContext
) -> PairingRequired:
    what = f"gateway requires approval of this device ({message})"
    return PairingRequired(what, pairing_hint(ctx, request_id), request_id=request_id, reason=reason)


def error_from_connect_response(error: ErrorShape, ctx: ErrorContext) -> GatewayError:
    """Map the failed response to `connect`."""
    detail = error.detail_code
    if error.code == "NOT_PAIRED" or detail == "PAIRING_REQUIRED":
        request_id = error.detail("requestId")
        if not isinstance(request_id, str):
            found = _REQUEST_ID_IN_REASON.search(error.message)
            request_id = found.group(1) if found else None
        reason = error.detail("reason")
        return _pairing_error(error.message, request_id, reason if isinstance(reason, str) else None, ctx)
    if detail == "PROTOCOL_MISMATCH" or "protocol mismatch" in error.message.lower():
        return ProtocolMismatch(
            f"gateway refused the protocol version ({error.message})", error.detail("expectedProtocol")
        )
    if error.code == "UNAVAILABLE":
        return Unavailable("connect", error)
    mapped = _auth_error(detail, error.message, ctx)
    if mapped is not None:
        return mapped
    return HandshakeRejected(
        f"gateway refused connect: {error.code}: {error.message}",
        "This sidecar build sends connect params this gateway does not accept; check both versions",
    )


def error_from_response(
    method: str, error: ErrorShape, ctx: ErrorContext, payload: Any = None
) -> RequestError:
    """Map a failed response to a request after the handshake."""
    if error.detail_code == "MISSING_SCOPE" or error.message.startswith("missing scope:"):
        return MissingScope(method, error, ctx)
    if error.code == "UNAVAILABLE":
        return Unavailable(method, error, payload)
    if error.code == "INVALID_REQUEST":
        return InvalidRequest(method, error, "", payload)
    return RequestError(method, error, "", payload)


def error_from_close(code: int | None, reason: str, ctx: ErrorContext) -> GatewayError:
    """Map a close the gateway initiated (or a dropped socket, code None / 1006)."""
    text = reason.lower()
    said = f"gateway closed the connection ({code}{': ' + reason if reason else ''})"
    if code == 1002:
        if "protocol mismatch" in text:
            return ProtocolMismatch(said)
        return ProtocolViolation(said)
    if code == 1008:
        if text.startswith("pairing required"):
            found = _REQUEST_ID_IN_REASON.search(reason)
            return _pairing_error(reason, found.group(1) if found else None, None, ctx)
        mapped = _auth_error(None, reason, ctx)
        if mapped is not None:
            return mapped
        return PolicyViolation(
            said,
            "The gateway closed this connection for a policy reason; its log says which",
            code=code,
            reason=reason,
        )
    if code == 1009:
        return PayloadTooLarge(
            said,
            "A frame exceeded the gateway's size limit (hello-ok policy.maxPayload); send smaller requests",
            code=code,
            reason=reason,
        )
    if code == 1012:
        return ServiceRestart(
            said, "The gateway is restarting; the client reconnects by itself", code=code, reason=reason
        )
    if code == 4001:
        return GatewayAuthChanged(
            said,
            "The gateway's shared token or password was rotated; the client reconnects, and if that fails, "
            "update OPENCLAW_GATEWAY_TOKEN",
            code=code,
            reason=reason,
        )
    return ConnectionLost(
        said if code is not None else "connection to the gateway dropped",
        "The client reconnects by itself; repeat the call if it failed",
        code=code,
        reason=reason,
    )


RETRYABLE_CONNECT_ERRORS: tuple[type[GatewayError], ...] = (
    GatewayUnreachable,
    ConnectionLost,
    Unavailable,
)
"""Connect failures worth retrying with backoff; everything else needs a person to act."""
