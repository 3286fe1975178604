"""`sidecar doctor`'s checks: is this machine ready to run `sidecar serve` for an agent, and if not, what fixes it.

Each check returns `Check`s with a status (PASS, WARN, FAIL, SKIP), a one-line finding and, when something
needs doing, the exact fix: a command to run or a key to set. The checks run in a fixed order:

1. the policy parses, and no agent in it is accidentally wide open;
2. a secret store is usable (only the backend is checked; no entry is read);
3. the home gateway is reachable, speaks protocol 3 or 4 and runs a supported OpenClaw release;
4. the agent's device is paired there with every scope the sidecar uses;
5. the agent's session mirror is fresh, per gateway;
6. every peer gateway, as in 3 and 4;
7. an openclaw.json, when given, does not let a governed agent bypass its sidecar.

Doctor never writes: the secret store is wrapped read-only (a token the gateway issues while doctor
connects is dropped, never stored), the mirror is opened read-only, and the reachability probe sends a
`connect` without any device identity or credential, so it can neither pair a device nor count as a
failed login. Every connection attempt is bounded by `CONNECT_TIMEOUT_S`. No token or key is ever part
of a finding: details come from typed gateway errors, whose texts carry none, and device ids are public.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import keyring
import keyring.backend
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from sidecar.config import (
    GATEWAY_TOKEN_ENV,
    GATEWAY_URL_ENV,
    load_policy,
    mirror_path,
    resolve_gateway_url,
    state_dir,
)
from sidecar.deploy import audit_openclaw_config, group_findings
from sidecar.gateway import (
    ALL_SCOPES,
    SUPPORTED_RANGE,
    AuthError,
    DeviceIdentity,
    GatewayClient,
    GatewayError,
    HandshakeTimeout,
    HelloOk,
    PairingRequired,
    ProtocolMismatch,
    TokenStore,
    UnsupportedVersion,
    check_url,
    is_supported,
)
from sidecar.gateway._errors import ErrorContext
from sidecar.gateway._handshake import ConnectAuth, build_connect_params
from sidecar.gateway._protocol import (
    ChallengeReceived,
    GatewayProtocol,
    HandshakeFailed,
    HelloReceived,
)
from sidecar.gateway._transport import OPEN_MAX_SIZE, _close_quietly, _closed, _open_socket
from sidecar.mirror import STALE_AFTER_S, Mirror, MirrorError, MirrorLocked, SyncCursor
from sidecar.policy import Policy, PolicyError, open_default_warning, parse_json5
from sidecar.secrets import (
    SERVICE,
    STORE_ENV,
    STORE_KINDS,
    SecretStore,
    SecretStoreUnavailable,
    check_keyring_backend,
    default_file_path,
    open_secret_store,
)

Status = Literal["PASS", "WARN", "FAIL", "SKIP"]
STATUSES: tuple[Status, ...] = ("PASS", "WARN", "FAIL", "SKIP")
CONNECT_TIMEOUT_S = 5.0
GATEWAY_ENV = GATEWAY_URL_ENV
TOKEN_ENV = GATEWAY_TOKEN_ENV
HOME = "home"
START_GATEWAY = "Start the gateway on that host (openclaw gateway run) or correct the port in the gateway URL"


@dataclass(frozen=True, slots=True)
class Check:
    """One finding. `detail` is one line; `fix`, when set, is what to run or edit."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    policy: str | None = None
    agent: str | None = None
    gateway: str | None = None
    openclaw_config: str | None = None
    token_store: str | None = None
    token_env: str = TOKEN_ENV
    db: str | None = None
    timeout: float = CONNECT_TIMEOUT_S


# -- the whole run ------------------------------------------------------------------------------------


async def run_checks(options: DoctorOptions, environ: Mapping[str, str] | None = None) -> list[Check]:
    """Every check, in order. Never raises for a problem it can describe; never writes anything."""
    env = os.environ if environ is None else environ
    timeout = min(options.timeout, CONNECT_TIMEOUT_S)
    checks: list[Check] = []

    policy_checks, policy = check_policy(options.policy)
    checks += policy_checks
    if policy is not None:
        checks += check_agents(policy, options.agent)

    store_check = await anyio.to_thread.run_sync(lambda: check_secret_store(options.token_store, env))
    checks.append(store_check)

    url, source = resolve_gateway(options.gateway, policy, env)
    home = await check_gateway("gateway", url, source=source, timeout=timeout)
    home_ok = home.status == "PASS"
    if source.startswith("default") and not home_ok:
        # Nothing configured and nothing on OpenClaw's default port: say how to point doctor (and serve,
        # which resolves the URL the same way) elsewhere.
        status: Status = "FAIL" if options.agent else "SKIP"
        fix = f"{home.fix + '; or ' if home.fix else ''}{_no_gateway_fix(policy)}"
        home = Check("gateway", status, f"{home.detail} (no gateway configured: {source})", fix)
    elif home_ok:
        home = Check("gateway", "PASS", f"{home.detail} (from {source})", home.fix)
    checks.append(home)

    secrets = None
    if options.agent:
        secrets = (
            await anyio.to_thread.run_sync(_open_store_quietly, options.token_store, env)
            if store_check.status != "FAIL"
            else None
        )
        shared = env.get(options.token_env) or None
        if url is None or not home_ok:
            checks.append(Check("pairing", "SKIP", "the home gateway is not reachable (see gateway)"))
        elif secrets is None:
            checks.append(
                Check("pairing", "SKIP", "no usable secret store to read the device from (see secret-store)")
            )
        else:
            checks.append(
                await check_pairing(
                    "pairing",
                    url,
                    options.agent,
                    secrets,
                    shared_token=shared,
                    timeout=timeout,
                    token_env=options.token_env,
                )
            )
    else:
        checks.append(Check("pairing", "SKIP", "pass --agent ID to check that agent's pairing"))

    peers = policy.peers if policy is not None else ()
    if options.agent or options.db:
        try:
            path = Path(options.db).expanduser() if options.db else mirror_path(options.agent or "", env)
        except ValueError as exc:
            checks.append(Check("mirror", "FAIL", str(exc)))
        else:
            checks += check_mirror(path, [HOME, *(p.name for p in peers)], serve_hint(options, policy))
    else:
        checks.append(Check("mirror", "SKIP", "pass --agent ID to check that agent's session mirror"))
    checks += _live_checks(policy, options, env)

    for peer in peers:
        name = f"peer:{peer.name}"
        peer_check = await check_gateway(
            name,
            peer.url,
            source=f"gateway.peers.{peer.name}.url",
            allow_insecure=peer.allow_insecure,
            timeout=timeout,
        )
        checks.append(peer_check)
        if not options.agent:
            continue
        pairing = f"peer-pairing:{peer.name}"
        if peer_check.status != "PASS":
            checks.append(Check(pairing, "SKIP", f"peer {peer.name} is not reachable (see {name})"))
        elif secrets is None:
            checks.append(
                Check(pairing, "SKIP", "no usable secret store to read the device from (see secret-store)")
            )
        else:
            checks.append(
                await check_pairing(
                    pairing,
                    peer.url,
                    options.agent,
                    secrets,
                    allow_insecure=peer.allow_insecure,
                    timeout=timeout,
                )
            )

    checks += check_openclaw_config(options.openclaw_config, policy)
    if policy is not None:
        from sidecar.doctor._host import check_host

        checks += check_host(policy, _openclaw_data(options.openclaw_config, policy))
    return checks


def _openclaw_data(explicit: str | None, policy: Policy) -> dict[str, Any] | None:
    if explicit:
        try:
            return parse_json5(Path(explicit).expanduser().read_text(encoding="utf-8"), explicit).data
        except (OSError, UnicodeDecodeError, PolicyError):
            return None
    return policy.openclaw.data if policy.openclaw is not None else None


def _live_checks(policy: Policy | None, options: DoctorOptions, env: Mapping[str, str]) -> list[Check]:
    from sidecar.doctor._live import check_live

    try:
        where = Path(options.db).expanduser().parent if options.db else state_dir(options.agent or "", env)
    except ValueError:
        where = None
    return check_live(policy, options.agent, where if options.agent else None)


def report(checks: Sequence[Check]) -> dict[str, Any]:
    """The `--json` shape."""
    return {"ok": not any(c.status == "FAIL" for c in checks), "checks": [c.as_dict() for c in checks]}


def exit_code(checks: Sequence[Check]) -> int:
    return 1 if any(c.status == "FAIL" for c in checks) else 0


def render(checks: Sequence[Check]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        lines.append(f"{c.status}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != "PASS":
            first, *rest = c.fix.splitlines()
            lines.append(f"{'':6}fix: {first}")
            lines += [f"{'':11}{line}" for line in rest]
    counts = {s: sum(1 for c in checks if c.status == s) for s in STATUSES}
    lines.append("")
    lines.append(
        f"{counts['FAIL']} failed, {_count(counts['WARN'], 'warning')}, {counts['PASS']} passed, "
        f"{counts['SKIP']} skipped"
    )
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# -- 1. policy ----------------------------------------------------------------------------------------


def check_policy(explicit: str | None) -> tuple[list[Check], Policy | None]:
    try:
        policy = load_policy(explicit)
    except PolicyError as exc:
        if exc.file == "<no policy>":
            return [Check("policy", "FAIL", "no policy file given", str(exc))], None
        where = f"{exc.file}:{exc.line}" if exc.line else exc.file
        key = f"{exc.key}: " if exc.key else ""
        return [Check("policy", "FAIL", f"{where} cannot be used: {key}{exc.problem}", str(exc))], None
    agents = ", ".join(policy.agent_ids) or "none"
    inherits = f", inherits {policy.openclaw.path}" if policy.openclaw is not None else ""
    detail = f"{policy.path} parses: {_count(len(policy.agent_ids), 'agent')} ({agents}){inherits}"
    return [Check("policy", "PASS", detail)], policy


def check_agents(policy: Policy, agent: str | None) -> list[Check]:
    """Per agent: not wide open by accident. With `agent`, also that it is in the policy at all."""
    checks = []
    if agent is not None and agent not in policy.known_agents:
        checks.append(
            Check(
                f"policy:{agent}",
                "FAIL",
                f"agent {agent} is not in {policy.path}, so `sidecar serve --agent {agent}` refuses to start",
                f"Add agents.entries.{agent}: {{}} to {policy.path} (then narrow it as that agent needs)",
            )
        )
    for agent_id in policy.agent_ids:
        resolved = policy.for_agent(agent_id)
        warning = open_default_warning(resolved)
        if warning is not None and warning.startswith("note: "):
            checks.append(Check(f"policy:{agent_id}", "PASS", warning.removeprefix("note: ")))
            continue
        if warning is None:
            a2a = "on" if resolved.a2a_enabled.value else "off"
            detail = f"{agent_id}: sessions visibility {resolved.visibility.value}, agent-to-agent {a2a}"
            checks.append(Check(f"policy:{agent_id}", "PASS", detail))
            continue
        text = warning.removeprefix("WARNING: ")
        detail, sep, how = text.partition(" To scope it, ")
        if not sep:
            how = (
                f"set agents.entries.{agent_id}.tools.sessions.visibility and "
                f"agents.entries.{agent_id}.tools.agentToAgent.allow"
            )
        checks.append(Check(f"policy:{agent_id}", "WARN", detail, f"In {policy.path}, {how.rstrip('.')}"))
    return checks


# -- 2. secret store ----------------------------------------------------------------------------------


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def check_secret_store(kind: str | None, environ: Mapping[str, str]) -> Check:
    """The store `sidecar serve` would use works. Only the backend is checked: no entry is read or written."""
    name = "secret-store"
    raw = kind or environ.get(STORE_ENV) or "keyring"
    chosen = raw.strip().lower()
    origin = "--token-store" if kind else STORE_ENV
    if chosen == "file":
        path = default_file_path(environ)
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            return Check(
                name,
                "FAIL",
                f"cannot inspect the file store {path}: {exc.strerror or exc}",
                f"Check the permissions of {path.parent}",
            )
        if mode is not None and mode & 0o077:
            return Check(
                name,
                "FAIL",
                f"the file store {path} is readable by other users (mode {mode:o})",
                f"chmod 600 {path}",
            )
        state = "exists, mode 600" if mode is not None else "not created yet"
        return Check(
            name,
            "WARN",
            f"the file store was chosen ({origin}=file): device keys and tokens live in {path} ({state}), "
            "which is weaker than an OS keyring",
            f"To use the OS keyring instead, drop {origin}=file and run under a Secret Service session "
            "(see `sidecar pair --help`), then pair again",
        )
    if chosen != "keyring":
        return Check(
            name,
            "FAIL",
            f"unknown token store {raw!r} (from {origin})",
            f"Use one of: {', '.join(STORE_KINDS)} (e.g. unset {STORE_ENV})",
        )
    try:
        backend = keyring.get_keyring()
        check_keyring_backend(backend)
    except SecretStoreUnavailable as exc:
        detail, _, fix = str(exc).partition("\n")
        return Check(name, "FAIL", detail, fix.strip() or None)
    except Exception as exc:  # a broken keyring configuration raises from get_keyring itself
        return Check(
            name,
            "FAIL",
            f"the OS keyring cannot be loaded ({type(exc).__name__})",
            "Check keyring's configuration (keyringrc.cfg, PYTHON_KEYRING_BACKEND), or pass --token-store file",
        )
    return Check(name, "PASS", f"OS keyring backend {_backend_name(backend)} is usable (service {SERVICE})")


class ReadOnlySecrets:
    """A secret store that reads through and drops every write: doctor never changes a stored secret."""

    def __init__(self, inner: SecretStore) -> None:
        self._inner = inner
        self.kind = inner.kind

    def get(self, name: str) -> str | None:
        return self._inner.get(name)

    def set(self, name: str, value: str) -> None:
        return None

    def delete(self, name: str) -> None:
        return None

    def __repr__(self) -> str:
        return f"ReadOnlySecrets({self._inner!r})"


def _open_store_quietly(kind: str | None, environ: Mapping[str, str]) -> SecretStore | None:
    try:
        # The file store's warning is already the secret-store check's finding.
        return ReadOnlySecrets(open_secret_store(kind, environ=environ, warn=io.StringIO()))
    except SecretStoreUnavailable:
        return None


# -- 3 and 6. gateways --------------------------------------------------------------------------------


def resolve_gateway(
    explicit: str | None, policy: Policy | None, environ: Mapping[str, str]
) -> tuple[str, str]:
    """The home gateway URL exactly as `sidecar serve` picks it (`sidecar.config`), and where it came from."""
    setting = resolve_gateway_url(explicit, policy, environ)
    return setting.value, setting.source


def _no_gateway_fix(policy: Policy | None) -> str:
    where = f"set gateway.url in {policy.path}" if policy is not None else "set gateway.url in the policy"
    return f"Pass --gateway URL, {where}, or export {GATEWAY_ENV} (e.g. ws://127.0.0.1:18789)"


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
        hello = await probe_protocol(url, timeout)
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


async def probe_protocol(url: str, timeout: float = CONNECT_TIMEOUT_S) -> HelloOk | None:
    """Send a protocol-4 `connect` with no device and no credential; return hello-ok if the gateway lets
    such a client in at all, else raise the typed error it answered with.

    Without a device identity the gateway has nothing to pair, and without a credential there is no
    failed login to count: the probe leaves no trace but a log line.
    """
    protocol = GatewayProtocol(ErrorContext(url))
    ws: ClientConnection | None = None
    try:
        with anyio.fail_after(timeout):  # one budget for the socket, the upgrade and the handshake
            ws = await _open_socket(url, OPEN_MAX_SIZE)
            try:
                return await _probe_handshake(ws, protocol)
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


async def _probe_handshake(ws: ClientConnection, protocol: GatewayProtocol) -> HelloOk:
    while True:
        try:
            data = await ws.recv()
        except ConnectionClosed as exc:
            raise _closed(protocol, exc).error from None
        for out in protocol.receive(data, anyio.current_time()):
            if isinstance(out, ChallengeReceived):
                # The signature needs an identity; a throwaway one is generated and then left out.
                params = build_connect_params(
                    challenge=out.challenge, identity=DeviceIdentity.generate(), auth=ConnectAuth()
                )
                del params["device"]
                try:
                    await ws.send(protocol.send_connect(params))
                except ConnectionClosed as exc:
                    raise _closed(protocol, exc).error from None
            elif isinstance(out, HelloReceived):
                return out.hello
            elif isinstance(out, HandshakeFailed):
                raise out.error


# -- 4. pairing ---------------------------------------------------------------------------------------


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
    token_env: str = TOKEN_ENV,
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


# -- 5. mirror ----------------------------------------------------------------------------------------


def serve_hint(options: DoctorOptions, policy: Policy | None) -> str:
    policy_arg = f" --policy {policy.path}" if policy is not None else " --policy FILE"
    return f"sidecar serve{policy_arg} --agent {options.agent or 'ID'}"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def check_mirror(path: Path, gateways: Sequence[str], serve: str, now: float | None = None) -> list[Check]:
    """Open the mirror read-only and judge each gateway's freshness."""
    if not path.is_file():
        return [
            Check(
                "mirror",
                "WARN",
                f"no mirror at {path}: not synced yet, starts with `sidecar serve`",
                f"Start the sidecar ({serve}); it creates the mirror and keeps it live",
            )
        ]
    try:
        with Mirror.open(path, readonly=True, busy_timeout=1.0) as mirror:
            cursors = {c.gateway: c for c in mirror.cursors.all()}
    except MirrorLocked as exc:
        return [
            Check("mirror", "FAIL", str(exc), "Another process holds the mirror locked; run doctor again")
        ]
    except MirrorError as exc:
        return [
            Check(
                "mirror",
                "FAIL",
                str(exc),
                f"Move {path} aside; `{serve}` creates a new one and resyncs it from the gateway",
            )
        ]
    now = time.time() if now is None else now
    checks = [Check("mirror", "PASS", f"{path} opens read-only")]
    for name in dict.fromkeys([*gateways, *cursors]):
        checks.append(_cursor_check(name, cursors.get(name), serve, now))
    return checks


def _cursor_check(gateway: str, cursor: SyncCursor | None, serve: str, now: float) -> Check:
    name = f"mirror:{gateway}"
    if cursor is None:
        return Check(
            name,
            "WARN",
            f"{gateway}: not synced yet, starts with `sidecar serve`",
            f"Start the sidecar ({serve}); it syncs every gateway it connects to",
        )
    freshness = cursor.freshness(now)
    heard = cursor.last_event or cursor.last_full_sync
    if freshness == "live":
        age = "" if heard is None else f", last heard {_age(now - heard)} ago"
        return Check(name, "PASS", f"{gateway}: live, {cursor.rows} sessions{age}")
    error = f"; last error: {cursor.last_error}" if cursor.last_error else ""
    if freshness == "syncing":
        return Check(
            name,
            "WARN",
            f"{gateway}: a snapshot is in progress or was interrupted at row {cursor.snapshot_offset}{error}",
            f"Keep the sidecar running ({serve}); the next sync resumes the snapshot",
        )
    silent = "never heard from it" if heard is None else f"nothing heard for {_age(now - heard)}"
    return Check(
        name,
        "WARN",
        f"{gateway}: stale ({silent}; live means an event within {STALE_AFTER_S:g} s){error}",
        f"Start the sidecar ({serve}) so it keeps the mirror live, or refresh by hand: "
        f"sidecar mirror sync --gateway URL --agent ID --name {gateway}",
    )


# -- 7. openclaw.json ---------------------------------------------------------------------------------


def check_openclaw_config(explicit: str | None, policy: Policy | None) -> list[Check]:
    name = "openclaw-config"
    if explicit:
        path = str(Path(explicit).expanduser())
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = parse_json5(text, path).data
        except FileNotFoundError:
            return [
                Check(
                    name,
                    "FAIL",
                    f"{path} does not exist",
                    "Pass the path of the gateway's openclaw.json "
                    "(default ~/.openclaw/openclaw.json) to --openclaw-config",
                )
            ]
        except (OSError, UnicodeDecodeError) as exc:
            return [Check(name, "FAIL", f"cannot read {path}: {exc}", f"Check the permissions of {path}")]
        except PolicyError as exc:
            return [Check(name, "FAIL", f"{path} does not parse: {exc.problem}", str(exc))]
    elif policy is not None and policy.openclaw is not None:
        path, data = policy.openclaw.path, policy.openclaw.data
    else:
        return [
            Check(
                name,
                "SKIP",
                "no openclaw.json to audit",
                "Pass --openclaw-config ~/.openclaw/openclaw.json (or set openclawConfig in the policy)",
            )
        ]
    if policy is None:
        return [
            Check(name, "SKIP", f"{path} is audited against the policy, which does not parse (see policy)")
        ]
    findings = audit_openclaw_config(data, policy)
    if not findings:
        governed = len(policy.agent_ids)
        return [
            Check(
                name,
                "PASS",
                f"{path}: each of the {governed} governed agents reaches sessions only "
                "through its own sidecar",
            )
        ]
    # One finding per cause, not per agent: an unmerged fragment is one problem with one fix.
    groups = group_findings(findings, f"sidecar manifest openclaw --policy {policy.path}", path)
    return [
        Check(name, "FAIL" if g.severity == "error" else "WARN", f"{path}: {g.message}", g.fix)
        for g in groups
    ]


__all__ = [
    "CONNECT_TIMEOUT_S",
    "STATUSES",
    "Check",
    "DoctorOptions",
    "ReadOnlySecrets",
    "Status",
    "check_agents",
    "check_gateway",
    "check_mirror",
    "check_openclaw_config",
    "check_pairing",
    "check_policy",
    "check_secret_store",
    "exit_code",
    "probe_protocol",
    "render",
    "report",
    "resolve_gateway",
    "run_checks",
]
