"""`sessions_history`: another session's transcript, sanitised and wrapped as untrusted inter-session data."""

from __future__ import annotations

from typing import Any

from sidecar import telemetry
from sidecar.tools import _history
from sidecar.tools._context import CallContext
from sidecar.tools._lookup import decide_key


async def read_history(
    ctx: CallContext,
    *,
    session_key: str,
    limit: int | None = None,
    include_tools: bool = False,
    gateway: str | None = None,
) -> dict[str, Any]:
    decision, name = await decide_key(ctx, "sessions_history", session_key, gateway)
    params: dict[str, Any] = {"sessionKey": decision.target, "limit": min(limit or 200, 1000)}
    with telemetry.span("sidecar.forward", **{"gateway.method": "chat.history", "sidecar.gateway": name}):
        if ctx.via_sidecar(name):
            # That host decides again and reads its own gateway; the transcript is sanitised here as any other.
            payload = await ctx.call_peer(name, "peer_history", params)
        else:
            client = await ctx.client(name)
            payload = await client.request("chat.history", params, idempotent=True)
    raw = payload.get("messages", []) if isinstance(payload, dict) else []
    clean = _history.sanitise(raw, include_tools=include_tools, source_session=str(decision.target))
    return {
        "sessionKey": decision.target,
        "gateway": name,
        "note": _history.UNTRUSTED_NOTE,
        "messages": clean.messages,
        "truncated": clean.truncated,
        "droppedMessages": clean.dropped_messages,
        "contentTruncated": clean.content_truncated,
        "contentRedacted": clean.content_redacted,
        "bytes": clean.bytes,
    }
