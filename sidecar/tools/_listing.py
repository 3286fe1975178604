"""`sessions_list`: the sessions this agent may see, from the local mirror, with the scope stated."""

from __future__ import annotations

from typing import Any

from sidecar.gateway import GatewayError
from sidecar.policy import filter_sessions
from sidecar.tools._context import CallContext
from sidecar.tools._errors import GatewayFault
from sidecar.tools._routing import HOME


async def list_sessions(
    ctx: CallContext,
    *,
    kinds: list[str] | None = None,
    limit: int | None = None,
    active_minutes: int | None = None,
    gateway: str | None = None,
) -> dict[str, Any]:
    ctx.decide("sessions_list", None)
    freshness: dict[str, Any] = {"fresh": True}
    try:
        await ctx.client(ctx.route(ctx.requester.agent_id, gateway) if gateway else HOME)
    except (GatewayFault, GatewayError) as exc:
        # The mirror still answers; say plainly that it may be behind.
        freshness = {
            "fresh": False,
            "note": f"served from the local mirror; the gateway is unreachable: {exc}",
        }
    rows = ctx.store.rows(gateway)
    now_ms = ctx.clock() * 1000
    if active_minutes is not None:
        rows = [r for r in rows if (r.get("updatedAt") or 0) >= now_ms - active_minutes * 60_000]
    scope = filter_sessions(ctx.policy, ctx.requester, [r["key"] for r in rows], ctx.view())
    visible = set(scope.visible)
    shown = [
        {**r, "kind": kind_of(str(r["key"]), ctx.policy.main_key)}
        for r in rows
        if r["key"] in visible and r["key"] not in ("unknown",)
    ]
    if kinds:
        wanted = {k.lower() for k in kinds}
        shown = [r for r in shown if r.get("kind", "other") in wanted]
    if limit is not None:
        shown = shown[:limit]
    return {
        "count": len(shown),
        "sessions": shown,
        "mirror": freshness,
        "visibility": {
            "mode": scope.mode,
            "restricted": scope.hidden > 0,
            "hidden": scope.hidden,
            "source": scope.source,
            "warning": scope.warning,
        },
    }


def kind_of(key: str, main_key: str) -> str:
    """The tool-facing kind: main, group, cron, hook, node or other."""
    rest = key.split(":", 2)[2] if key.startswith("agent:") and key.count(":") >= 2 else key
    if rest == main_key:
        return "main"
    if ":group:" in f":{rest}" or ":channel:" in f":{rest}":
        return "group"
    for prefix in ("cron", "hook", "node"):
        if rest.startswith((f"{prefix}:", f"{prefix}-")):
            return prefix
    return "other"
