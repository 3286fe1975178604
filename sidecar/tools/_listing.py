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
    # Page first: decide on keys alone (one verdict per class of key, in filter_sessions), cut the page,
    # and only then read and shape its rows. Reading and shaping every mirrored row cost as much as the
    # whole answer whatever the limit (docs/benchmarks.md, item 4).
    since = None if active_minutes is None else int(ctx.clock() * 1000) - active_minutes * 60_000
    keys = ctx.store.keys(gateway, updated_since=since)
    scope = filter_sessions(ctx.policy, ctx.requester, keys, ctx.view())
    main_key = ctx.policy.main_key
    visible = [k for k in scope.visible if k != "unknown"]
    if kinds:
        wanted = {k.lower() for k in kinds}
        visible = [k for k in visible if kind_of(k, main_key) in wanted]
    page = visible if limit is None else visible[: max(0, limit)]
    rows = ctx.store.rows_for(page, gateway)
    # A key mirrored from two gateways has two rows; the page holds exactly the first `len(page)`.
    shown = [{**r, "kind": kind_of(str(r["key"]), main_key)} for r in rows[: len(page)]]
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
