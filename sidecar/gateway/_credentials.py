"""Gateway credentials: where they may be sent, and how they are kept.

The device key and device token for one (gateway URL, agent id) are one secret-store entry. Each
sidecar serves one agent, and each agent gets its own device identity per gateway: approving, rotating
or revoking one agent's device on the gateway never touches another's. The entry is a small JSON
document; it is only ever handed to the secret store and is never logged or shown. Entries are named
by the canonical spelling of the gateway URL, so `ws://127.0.0.1:18789/` and `ws://127.0.0.1:18789`
find the same device.

Plain `ws://` would carry the device token and every session transcript in clear text, so it is only
allowed to a loopback host unless the caller opts in explicitly (the reference clients draw the same
line).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio.to_thread

from sidecar.gateway._errors import InsecureGatewayURL, InvalidGatewayURL
from sidecar.gateway._identity import DeviceIdentity, b64url, b64url_decode
from sidecar.secrets import SecretStore, SecretStoreUnavailable

_T = TypeVar("_T")
DEFAULT_PORTS = {"ws": 80, "wss": 443}


def is_loopback_host(host: str) -> bool:
    name = host.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def canonical_url(url: str) -> str:
    """Lowercase scheme and host, no default port, no trailing `/`: one name per gateway endpoint."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidGatewayURL(
            f"gateway URL {url!r} is not a ws:// or wss:// URL",
            "Pass the gateway's WebSocket URL, e.g. --gateway ws://127.0.0.1:18789",
        )
    host = parts.hostname
    if not host:
        raise InvalidGatewayURL(f"gateway URL {url!r} has no host", "e.g. --gateway ws://127.0.0.1:18789")
    if parts.username or parts.password:
        raise InvalidGatewayURL(
            "gateway URL must not carry credentials",
            "Remove the user:password@ part; the shared token is read from an environment variable",
        )
    try:
        port = parts.port
    except ValueError:
        raise InvalidGatewayURL(
            f"gateway URL {url!r} has an invalid port", "e.g. ws://127.0.0.1:18789"
        ) from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def check_url(url: str, *, allow_insecure: bool = False) -> str:
    """The canonical URL, or `InsecureGatewayURL` for ws:// to a non-loopback host without opt-in."""
    canonical = canonical_url(url)
    parts = urlsplit(canonical)
    if parts.scheme == "ws" and not allow_insecure and not is_loopback_host(parts.hostname or ""):
        raise InsecureGatewayURL(
            f"refusing plain ws:// to {parts.hostname}: the device token and session contents would cross the "
            "network unencrypted",
            "Use wss://, or an SSH tunnel to the gateway's loopback port (ssh -N -L 18789:127.0.0.1:18789 "
            "host, then ws://127.0.0.1:18789); on a trusted private network only, opt in explicitly "
            "(--allow-insecure / allow_insecure=True)",
        )
    return canonical


def entry_name(url: str, agent_id: str) -> str:
    return f"{agent_id}@{canonical_url(url)}"


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    identity: DeviceIdentity
    device_token: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()

    def dumps(self) -> str:
        body: dict[str, Any] = {
            "v": 1,
            "deviceId": self.identity.device_id,
            "privateKey": b64url(self.identity.private_bytes()),
        }
        if self.device_token:
            body["deviceToken"] = self.device_token
            body["scopes"] = list(self.scopes)
        return json.dumps(body, sort_keys=True)

    @classmethod
    def loads(cls, text: str, name: str) -> DeviceRecord:
        try:
            body = json.loads(text)
            identity = DeviceIdentity.from_private_bytes(b64url_decode(body["privateKey"]))
        except (ValueError, KeyError, TypeError):
            raise SecretStoreUnavailable(
                f"The stored device entry {name!r} is damaged; delete it from the keyring "
                f"(service openclaw-sessions-sidecar) and re-pair"
            ) from None
        token = body.get("deviceToken")
        scopes = body.get("scopes")
        return cls(
            identity=identity,
            device_token=token if isinstance(token, str) and token else None,
            scopes=tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else (),
        )


class TokenStore:
    """Device records in a `SecretStore`. Every method runs the blocking store in a worker thread."""

    def __init__(self, secrets: SecretStore) -> None:
        self.secrets = secrets

    @property
    def kind(self) -> str:
        return self.secrets.kind

    async def load(self, url: str, agent_id: str) -> DeviceRecord | None:
        name = entry_name(url, agent_id)
        raw = await self._run(self.secrets.get, name)
        return None if raw is None else DeviceRecord.loads(raw, name)

    async def identity(self, url: str, agent_id: str) -> DeviceIdentity:
        """The agent's device identity for this gateway, created and stored on first use."""
        record = await self.load(url, agent_id)
        if record is not None:
            return record.identity
        record = DeviceRecord(DeviceIdentity.generate())
        await self._save(url, agent_id, record)
        return record.identity

    async def device_token(self, url: str, agent_id: str, identity: DeviceIdentity) -> str | None:
        """The stored token, if it was issued to this identity (a token never outlives its key)."""
        record = await self.load(url, agent_id)
        if record is None or record.identity.device_id != identity.device_id:
            return None
        return record.device_token

    async def store_token(
        self, url: str, agent_id: str, identity: DeviceIdentity, token: str, scopes: Sequence[str]
    ) -> None:
        await self._save(url, agent_id, DeviceRecord(identity, token, tuple(scopes)))

    async def drop_token(self, url: str, agent_id: str) -> None:
        """Forget the device token but keep the key, so re-pairing re-uses the same device id."""
        record = await self.load(url, agent_id)
        if record is not None and record.device_token is not None:
            await self._save(url, agent_id, DeviceRecord(record.identity))

    async def forget(self, url: str, agent_id: str) -> None:
        await self._run(self.secrets.delete, entry_name(url, agent_id))

    async def _save(self, url: str, agent_id: str, record: DeviceRecord) -> None:
        name = entry_name(url, agent_id)
        await anyio.to_thread.run_sync(self.secrets.set, name, record.dumps())

    @staticmethod
    async def _run(fn: Callable[[str], _T], name: str) -> _T:
        return await anyio.to_thread.run_sync(fn, name)

    def __repr__(self) -> str:
        return f"TokenStore({self.secrets!r})"
