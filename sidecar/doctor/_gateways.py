"""Doctor's checks of a gateway (home and each peer): reachable, a supported release, and the agent paired.

The reachability probe sends a `connect` without any device identity or credential, so it can neither
pair a device nor count as a failed login; the pairing check connects as `sidecar serve` would, with a
secret store that drops every write (a token the gateway issues while doctor connects is never stored).
Every attempt is bounded by `CONNECT_TIMEOUT_S`. No token or key is ever part of a finding: details come
from typed gateway errors, whose texts carry none, and device ids are public.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from sidecar.config import GATEWAY_TOKEN_ENV, GATEWAY_URL_ENV, resolve_gateway_url
from sidecar.doctor._local import ReadOnlySecrets
from sidecar.doctor._report import Check
from sidecar.gateway import (
    ALL_SCOPES,
    SUPPORTED_RANGE,
    AuthError,
    ErrorContext,
    GatewayClient,
    GatewayError,
    HelloOk,
    PairingRequired,
    ProtocolMismatch,
    TokenStore,
    UnsupportedVersion,
    check_url,
    is_supported,
    probe_gateway,
)
from sidecar.policy import Policy
from sidecar.secrets import SecretStore, SecretStoreUnavailable

CONNECT_TIMEOUT_S = 5.0
START_GATEWAY = "Start the gateway on that host (openclaw gateway run) or correct the port in the gateway URL"


def resolve_gateway(
    explicit: str | None, policy: Policy | None, environ: Mapping[str, str]
) -> tuple[str, str]:
    """The home gateway URL exactly as `sidecar serve` picks it (`sidecar.config`), and where it came from."""
    setting = resolve_gateway_url(explicit, policy, environ)
    return setting.value, setting.source


def no_gateway_fix(policy: Policy | None) -> str:
    where = f"set gateway.url in {policy.path}" if policy is not None else "set gateway.url in the policy"
    return f"Pass --gateway URL, {where}, or export {GATEWAY_URL_ENV} (e.g. ws://127.0.0.1:18789)"


async def check_gateway(
    name: str, url: str, *, source: str = "", allow_insecure: bool = False, timeout: float = CONNECT_TIMEOUT_S
) -> Check:
    """Something listens, it answers HTTP /readyz, and it accepts a protocol-4 `connect`."""
    try:
        url = check_url(url, allow_insecure=allow_insecure)
    except GatewayError as exc:
        where = f" (from {source})" if source else ""
        return Check(name, "FAIL", f"{exc.message}{where}", exc.hint or None)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    refused = await anyio.to_thread.run_sync(_tcp_probe, host, port, timeout)
    if refused is not None:
        detail, fix = refused
        return Check(name, "FAIL", f"{url}: {detail}", fix)
    ready = await anyio.to_thread.run_sync(_readyz, parts.scheme == "wss", host, port, min(timeout, 3.0))
    try:
        hello: HelloOk | None = await probe_gateway(url, timeout)
    except ProtocolMismatch as exc:
        return Check(name, "FAIL", f"{url}: {exc.message}", exc.hint or None)
    except AuthError:
        # The gateway checks the protocol range before any credential: reaching auth means 4 was accepted.
        hello = None
    except GatewayError as exc:
        return Check(name, "FAIL", f"{url}: {exc.message}", exc.hint or None)
    readyz = f", /readyz {ready}" if ready is not None else ""
    if hello is None:
        # Its release shows in the pairing check, which connects with the stored device.
        return Check(name, "PASS", f"{url} is reachable{readyz} and accepts the protocols offered (3-4)")
    if not is_supported(hello.server_version):
        error = UnsupportedVersion(hello.server_version, f"the gateway at {url}")
        return Check(name, "FAIL", error.message, error.hint)
    return Check(name, "PASS", f"{url} is reachable{readyz}; {_release_line(hello)}")


def _tcp_probe(host: str, port: int, timeout: float) -> tuple[str, str] | None:
    """None when a TCP connection opens; else (finding, fix). Blocking: run in a thread."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"cannot resolve host {host}", "Check the host name in the gateway URL"
    except ConnectionRefusedError:
        return f"nothing is listening on {host}:{port}", START_GATEWAY
    except TimeoutError:
        return (
            f"no answer from {host}:{port} within {timeout:g} s",
            "Check that the gateway runs on that host and that no firewall drops the port",
        )
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc.strerror or type(exc).__name__})", (
            "Check the network path to the gateway"
        )


def _readyz(tls: bool, host: str, port: int, timeout: float) -> int | None:
    """The HTTP status of GET /readyz, or None when it could not be read (the WebSocket step says why)."""
    conn: http.client.HTTPConnection = (
        http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
        if tls
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# -- pairing ------------------------------------------------------------------------------------------


def _approve_line(request_id: str | None) -> str:
    return f"openclaw devices approve {request_id or '<requestId>'}"


def _store_failure(name: str, agent: str, exc: SecretStoreUnavailable) -> Check:
    detail, _, fix = str(exc).partition("\n")
    return Check(name, "FAIL", f"cannot read agent {agent}'s device entry: {detail}", fix.strip() or detail)


async def check_pairing(
    name: str,
    url: str,
    agent: str,
    secrets: SecretStore,
    *,
    shared_token: str | None = None,
    allow_insecure: bool = False,
    timeout: float = CONNECT_TIMEOUT_S,
    token_env: str = GATEWAY_TOKEN_ENV,
) -> Check:
    """Connect as `sidecar serve` would, with the stored device identity and token (nothing is stored)."""
    try:
        url = check_url(url, allow_insecure=allow_insecure)
    except GatewayError as exc:
        return Check(name, "FAIL", exc.message, exc.hint or None)
    ctx = ErrorContext(url, agent)
    pair_fix = (
        f"{ctx.pair_command}\n"
        f"(a gateway on another host answers with a request id: there, run {_approve_line(None)})"
    )
    tokens = TokenStore(ReadOnlySecrets(secrets) if not isinstance(secrets, ReadOnlySecrets) else secrets)
    try:
        record = await tokens.load(url, agent)
    except SecretStoreUnavailable as exc:
        return _store_failure(name, agent, exc)
    if record is None:
        return Check(
            name,
            "FAIL",
            f"agent {agent} has no device identity for {url} in the {tokens.kind} store (never paired)",
            pair_fix,
        )
    device = record.identity.device_id
    client = GatewayClient(
        url,
        record.identity,
        tokens,
        agent,
        shared_token=shared_token,
        allow_insecure=allow_insecure,
        reconnect=False,
        handshake_timeout=timeout,
        request_timeout=timeout,
    )
    try:
        with anyio.fail_after(timeout):
            hello = await client.connect()
    except TimeoutError:
        return Check(
            name,
            "FAIL",
            f"{url} did not complete the handshake for agent {agent} within {timeout:g} s",
            "Check the gateway's log for why it stalled, then run doctor again",
        )
    except PairingRequired as exc:
        fix = (
            f"On the gateway host run: {_approve_line(exc.request_id)}\n"
            f"or run {ctx.pair_command}, which waits for the approval and prints the current request id"
        )
        return Check(
            name, "FAIL", f"device {device} of agent {agent} is not approved at {url} ({exc.message})", fix
        )
    except GatewayError as exc:
        return Check(name, "FAIL", f"agent {agent} at {url}: {exc.message}", exc.hint or pair_fix)
    except SecretStoreUnavailable as exc:
        return _store_failure(name, agent, exc)
    finally:
        await client.close()

    granted = hello.auth.scopes
    missing = [s for s in ALL_SCOPES if s not in granted]
    if missing:
        return Check(
            name,
            "FAIL",
            f"device {device} of agent {agent} is paired at {url} without {', '.join(missing)} "
            f"(granted: {', '.join(granted) or 'none'})",
            f"On the gateway host remove it (openclaw devices remove {device}), then re-pair with every "
            f"scope: {ctx.pair_command}",
        )
    if record.device_token is None:
        how = (
            "the gateway approved it silently just now"
            if hello.auth.device_token is not None
            else f"it connects only with the shared token (${token_env})"
        )
        return Check(
            name,
            "WARN",
            f"agent {agent} has no stored device token for {url}; {how}",
            f"Store one with: {ctx.pair_command}",
        )
    return Check(
        name,
        "PASS",
        f"agent {agent} is paired at {url} as device {device} with every scope the sidecar uses; "
        f"{_release_line(hello)}",
    )


def _release_line(hello: HelloOk) -> str:
    """`OpenClaw 2026.4.12 (protocol 3), supported (2026.3.13 to 2026.9.6)`: what doctor says of a release."""
    state = "supported" if is_supported(hello.server_version) else "NOT supported"
    return (
        f"the gateway runs OpenClaw {hello.server_version or '(version not reported)'} "
        f"(protocol {hello.protocol}), {state} ({SUPPORTED_RANGE})"
    )


__all__ = ["CONNECT_TIMEOUT_S", "check_gateway", "check_pairing", "no_gateway_fix", "resolve_gateway"]
