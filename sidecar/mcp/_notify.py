"""`notifications/tools/list_changed` to every connected client, in both protocol eras.

Handshake-era clients (2025 protocol versions, the `initialize` handshake) learn that the server may
send the notification from `capabilities.tools.listChanged` in the initialize result; they then receive
it on the connection's own channel. 2026-07-28 clients receive change notifications only on a
`subscriptions/listen` stream they opened, fed by the server's subscription bus; the SDK advertises that
capability itself. A tool-list change therefore goes out twice: once to each handshake-era connection
remembered here, once onto the bus.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ToolsListChanged

log = logging.getLogger("sidecar")
# A long-running HTTP server sees many short sessions; keep the newest ones (a notification to a closed
# one fails and drops it anyway).
MAX_CONNECTIONS = 1024


class ToolListNotifier:
    """Server middleware that remembers handshake-era connections and fans a list change out to all."""

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self._sessions: list[ServerSession] = []

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict):
            capabilities = result.setdefault("capabilities", {})
            tools = capabilities.get("tools")
            if isinstance(tools, dict):
                tools["listChanged"] = True
        elif ctx.method == "notifications/initialized":
            # One per handshake-era connection: its session's standalone channel is that connection's.
            self._sessions.append(ctx.session)
            del self._sessions[:-MAX_CONNECTIONS]
        return result

    async def tools_changed(self) -> int:
        """Tell every client the tool list changed; returns how many handshake-era connections heard it."""
        reached: list[ServerSession] = []
        for session in list(self._sessions):
            try:
                await session.send_tool_list_changed()
            except Exception as exc:  # a closed connection: forget it
                log.debug("tools/list_changed not delivered to a closed connection (%s)", exc)
                continue
            reached.append(session)
        self._sessions = reached
        await self.bus.publish(ToolsListChanged())
        return len(reached)


__all__ = ["MAX_CONNECTIONS", "ToolListNotifier"]
