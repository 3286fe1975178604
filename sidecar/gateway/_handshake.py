"""The handshake payloads: `connect.challenge`, `ConnectParams` and `hello-ok`.

The gateway speaks first with a challenge `{nonce, ts}`; the client's first frame must be `connect`,
signed over that nonce with `signedAt` = the challenge `ts` (the gateway checks it against its own clock
within +/-2 minutes, so signing with the gateway's clock makes local clock skew irrelevant).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sidecar import __version__
from sidecar.gateway._errors import ProtocolViolation
from sidecar.gateway._identity import DeviceIdentity, signature_payload_v3
from sidecar.gateway._versions import MAX_PROTOCOL, MIN_PROTOCOL

PROTOCOL_VERSION = MAX_PROTOCOL
"""The newest protocol; connect offers MIN_PROTOCOL..MAX_PROTOCOL and hello-ok says which one is spoken."""
ALL_SCOPES: tuple[str, ...] = (
    "operator.read",
    "operator.write",
    "operator.admin",
    "operator.approvals",
    "operator.pairing",
)
"""Every scope the sidecar ever uses (admin for sessions.patch during spawn), requested at first pairing
so that no later call triggers a scope-upgrade pairing a headless sidecar could not complete."""


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: str
    ts: int

    @classmethod
    def from_payload(cls, payload: Any) -> Challenge:
        if not isinstance(payload, dict):
            raise ProtocolViolation("connect.challenge without a payload object")
        nonce, ts = payload.get("nonce"), payload.get("ts")
        if not isinstance(nonce, str) or not nonce.strip():
            raise ProtocolViolation("connect.challenge without a nonce")
        # A received challenge with an absent or malformed ts is invalid (protocol docs); falling back to
        # the local clock would hide a gateway bug behind a clock-skew error later.
        if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
            raise ProtocolViolation("connect.challenge without a non-negative integer ts")
        return cls(nonce=nonce.strip(), ts=ts)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """How the sidecar introduces itself.

    Mode `cli`, not `backend`: the gateway reserves `gateway-client` + `backend` on a loopback socket for
    its own helpers and skips pairing for it entirely (`shouldSkipLocalBackendSelfPairing` in 2026.9.6),
    so such a client is never issued a device token and needs the shared gateway token on every connect,
    and `autoApproveLocal: false` cannot make it ask for approval. As `gateway-client` + `cli` the sidecar
    is an ordinary paired operator device everywhere: silently approved on loopback, approved by an
    operator elsewhere, revocable per agent, and independent of the shared token once paired.
    """

    id: str = "gateway-client"
    mode: str = "cli"
    version: str = __version__
    platform: str = sys.platform
    device_family: str | None = None
    display_name: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "mode": self.mode,
            "version": self.version,
            "platform": self.platform,
        }
        if self.device_family is not None:
            wire["deviceFamily"] = self.device_family
        if self.display_name is not None:
            wire["displayName"] = self.display_name
        return wire


@dataclass(frozen=True, slots=True)
class ConnectAuth:
    """The credentials for one connect. Both fields are secrets and stay out of repr."""

    shared_token: str | None = field(default=None, repr=False)
    device_token: str | None = field(default=None, repr=False)

    def to_wire(self) -> dict[str, str] | None:
        wire: dict[str, str] = {}
        if self.shared_token:
            wire["token"] = self.shared_token
        if self.device_token:
            wire["deviceToken"] = self.device_token
        return wire or None

    @property
    def signature_token(self) -> str:
        # The gateway verifies the signature over `auth.token ?? auth.deviceToken ?? ""`: with a shared
        # token present that is the shared token, even when a device token rides along.
        return self.shared_token or self.device_token or ""


def build_connect_params(
    *,
    challenge: Challenge,
    identity: DeviceIdentity,
    auth: ConnectAuth,
    scopes: Sequence[str] = ALL_SCOPES,
    client: ClientInfo | None = None,
    role: str = "operator",
) -> dict[str, Any]:
    client = client or ClientInfo()
    scope_list = list(scopes)
    payload = signature_payload_v3(
        device_id=identity.device_id,
        client_id=client.id,
        client_mode=client.mode,
        role=role,
        scopes=scope_list,
        signed_at_ms=challenge.ts,
        token=auth.signature_token,
        nonce=challenge.nonce,
        platform=client.platform,
        device_family=client.device_family,
    )
    params: dict[str, Any] = {
        # 2026.9 answers 4 and refuses 3 for operators; 2026.3.x and 2026.4.x only know 3. The same
        # device signature (v3 payload) verifies on all of them.
        "minProtocol": MIN_PROTOCOL,
        "maxProtocol": MAX_PROTOCOL,
        "client": client.to_wire(),
        "role": role,
        "scopes": scope_list,
        "caps": [],
        "userAgent": f"openclaw-sessions-sidecar/{__version__}",
        "device": {
            "id": identity.device_id,
            "publicKey": identity.public_key,
            "signature": identity.sign(payload),
            "signedAt": challenge.ts,
            "nonce": challenge.nonce,
        },
    }
    wire_auth = auth.to_wire()
    if wire_auth is not None:
        params["auth"] = wire_auth
    return params


@dataclass(frozen=True, slots=True)
class Policy:
    max_payload: int
    max_buffered_bytes: int | None
    tick_interval_ms: int


@dataclass(frozen=True, slots=True)
class HelloAuth:
    role: str
    scopes: tuple[str, ...]
    device_token: str | None = field(default=None, repr=False)
    method: str | None = None


@dataclass(frozen=True, slots=True)
class SessionDefaults:
    default_agent_id: str
    main_key: str
    main_session_key: str
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class HelloOk:
    protocol: int
    server_version: str
    conn_id: str
    methods: frozenset[str]
    events: frozenset[str]
    policy: Policy
    auth: HelloAuth
    session_defaults: SessionDefaults | None
    snapshot: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, payload: Any) -> HelloOk:
        p = _obj(payload, "hello-ok")
        if p.get("type") != "hello-ok":
            raise ProtocolViolation(f"connect answered with {p.get('type')!r}, not hello-ok")
        protocol = _int(p, "protocol", "hello-ok")
        if not MIN_PROTOCOL <= protocol <= MAX_PROTOCOL:
            raise ProtocolViolation(
                f"hello-ok negotiated protocol {protocol}, but only {MIN_PROTOCOL} to {MAX_PROTOCOL} "
                "were offered"
            )
        server = _obj(p.get("server"), "hello-ok.server")
        features = _obj(p.get("features", {}), "hello-ok.features")
        policy = _obj(p.get("policy"), "hello-ok.policy")
        raw_auth = p.get("auth")
        auth = _obj(raw_auth, "hello-ok.auth") if raw_auth is not None else {}
        snapshot = _obj(p.get("snapshot", {}), "hello-ok.snapshot")
        token = auth.get("deviceToken")
        buffered = policy.get("maxBufferedBytes")
        return cls(
            protocol=protocol,
            server_version=str(server.get("version", "")),
            conn_id=str(server.get("connId", "")),
            methods=frozenset(_strings(features.get("methods"))),
            events=frozenset(_strings(features.get("events"))),
            policy=Policy(
                max_payload=_int(policy, "maxPayload", "hello-ok.policy"),
                max_buffered_bytes=buffered if isinstance(buffered, int) else None,
                tick_interval_ms=_int(policy, "tickIntervalMs", "hello-ok.policy"),
            ),
            auth=HelloAuth(
                role=str(auth.get("role", "operator")),
                scopes=tuple(_strings(auth.get("scopes"))),
                device_token=token if isinstance(token, str) and token else None,
                method=auth.get("method") if isinstance(auth.get("method"), str) else None,
            ),
            session_defaults=_session_defaults(snapshot.get("sessionDefaults")),
            snapshot=snapshot,
        )


def _session_defaults(raw: Any) -> SessionDefaults | None:
    if not isinstance(raw, dict):
        return None
    agent, main_key, main_session = raw.get("defaultAgentId"), raw.get("mainKey"), raw.get("mainSessionKey")
    if not (isinstance(agent, str) and isinstance(main_key, str) and isinstance(main_session, str)):
        return None
    scope = raw.get("scope")
    return SessionDefaults(agent, main_key, main_session, scope if isinstance(scope, str) else None)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolViolation(f"{where} is not an object")
    return value


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ProtocolViolation(f"{where}.{key} is not a positive integer")
    return value


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
