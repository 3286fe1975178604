"""`TargetLookup`: the one place a target the mirror does not hold is asked of its gateway.

Deciding a call on a session the mirror has never seen would decide on a guess (a subagent's owner, for
one, comes from its row), so the session is fetched first: `sessions.list` searched for the key, then
`sessions.resolve` before calling it unknown (search matches more than keys and may not list every
session). A found session is written into the mirror like any synced row; an unknown one is forgotten.
The sync uses it to refresh keys an event named; the tool pipelines through `ServiceStore.ensure_known`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sidecar.gateway import RequestError
from sidecar.mirror._db import Mirror
from sidecar.mirror._rows import SessionRow, agent_of_key
from sidecar.policy import looks_like_session_id

__all__ = ["Request", "TargetLookup"]

Request = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
"""One idempotent gateway request: (method, params) -> the answer."""
LIST_DEFAULTS = {"includeGlobal": True, "includeUnknown": True}


class TargetLookup:
    """Fetch single sessions of one gateway into the mirror."""

    def __init__(self, mirror: Mirror, request: Request, gateway: str) -> None:
        self.mirror = mirror
        self.request = request
        self.gateway = gateway

    async def find(
        self, key: str | None = None, *, label: str | None = None, agent_id: str | None = None
    ) -> SessionRow | None:
        """The mirrored row for a target, asking the gateway when the mirror lacks it.

        `key` may be a session key or a sessionId; or pass `label` (with `agent_id` to scope it). Returns
        None when the gateway does not know the target either.

        Raises:
            GatewayError: the lookup failed for another reason (unreachable, ambiguous label, ...).
        """
        if key is not None:
            found = self.mirror.view.get(key, self.gateway)
            if found is not None:
                return found
            if looks_like_session_id(key):
                return await self._resolve({"sessionId": key.strip()})
            return await self.fetch(key.strip().lower())
        if label is None:
            raise ValueError("a lookup needs a key or a label")
        return await self._resolve({"label": label, **({"agentId": agent_id} if agent_id else {})})

    async def fetch(self, key: str, resolved: Mapping[str, Any] | None = None) -> SessionRow | None:
        """Fetch one session into the mirror by key; None (and forgotten) when the gateway has no such
        session."""
        agent = resolved.get("agentId") if resolved is not None else None
        agent = agent if isinstance(agent, str) and agent else agent_of_key(key)
        params: dict[str, Any] = {**LIST_DEFAULTS, "search": key, "limit": 50}
        if key.startswith("agent:"):
            params["agentId"] = agent
        page = await self.request("sessions.list", params)
        listed = page.get("sessions") if isinstance(page, Mapping) else None
        for record in listed if isinstance(listed, list) else []:
            if isinstance(record, Mapping) and str(record.get("key", "")).strip().lower() == key:
                self.mirror.apply([SessionRow.from_gateway(record, self.gateway, seen_at=time.time())])
                return self.mirror.view.get(key, self.gateway)
        if resolved is None:
            resolved = await self._resolve_raw({"key": key})
            if resolved is None:
                self.mirror.remove(key, self.gateway)
                return None
        # The gateway resolves it but does not list it (archived, say): it exists, and that is all we know.
        row = SessionRow(key=key, gateway=self.gateway, agent=agent, seen_at=time.time())
        self.mirror.apply([row])
        return row

    async def _resolve(self, params: Mapping[str, Any]) -> SessionRow | None:
        resolved = await self._resolve_raw(params)
        if resolved is None:
            return None
        key = str(resolved["key"]).strip().lower()
        return self.mirror.view.get(key, self.gateway) or await self.fetch(key, resolved)

    async def _resolve_raw(self, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        try:
            resolved = await self.request("sessions.resolve", params)
        except RequestError as exc:
            if exc.gateway_message.startswith("No session found"):
                return None
            raise
        if not isinstance(resolved, Mapping) or not isinstance(resolved.get("key"), str) or not resolved["key"]:
            return None
        return resolved
