"""The device key and device token for one (gateway URL, agent id), kept as one secret-store entry.

Each sidecar serves one agent, and each agent gets its own device identity per gateway: approving,
rotating or revoking one agent's device on the gateway never touches another's. The entry is a small
JSON document; it is only ever handed to the secret store and is never logged or shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread

from sidecar.gateway._identity import DeviceIdentity, b64url, b64url_decode
from sidecar.gateway._urls import canonical_url
from sidecar.secrets import SecretStore, SecretStoreUnavailable

_T = TypeVar("_T")


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
