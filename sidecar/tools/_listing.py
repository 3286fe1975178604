"""`sessions_list`: the sessions this agent may see, from the local mirror, with the scope stated."""

from __future__ import annotations

from typing import Any

from sidecar.gateway import GatewayError
from sidecar.policy import ListGuard, ListScope, filter_sessions
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
    name = HOME
    try:
        name = ctx.route(ctx.requester.agent_id, gateway) if gateway else HOME
        client = None if ctx.via_sidecar(name) else await ctx.client(name)
    except (GatewayFault, GatewayError) as exc:
        # The mirror still answers; say plainly that it may be behind.
        freshness = {
            "fresh": False,
            "note": f"served from the local mirror; the gateway is unreachable: {exc}",
        }
    else:
        # A pooled connection that dropped is reconnecting: from that moment no event reaches the mirror.
        if client is not None and getattr(client, "connected", True) is False:
            down = getattr(client, "down_for", None)
            down_s = f" for {down:.0f} s" if isinstance(down, int | float) else ""
            freshness = {
                "fresh": False,
                "note": f"served from the local mirror; the gateway connection is down{down_s} and reconnecting, "
                "so sessions changed since then are not shown",
            }
        elif not ctx.via_sidecar(name) and ctx.store.catching_up(name):
            freshness = {
                "fresh": False,
                "note": "served from the local mirror kept from the last run; its snapshot of the gateway "
                "is still being taken, so rows may be missing or behind for a few seconds",
            }
    main_key = ctx.policy.main_key
    since = None if active_minutes is None else int(ctx.clock() * 1000) - active_minutes * 60_000
    if gateway is not None and ctx.via_sidecar(ctx.route(ctx.requester.agent_id, gateway)):
        # That host lists only its agents that accept this one (inbound); this policy then filters again.
        answer = await ctx.call_peer(gateway, "peer_list", {"limit": 1000})
        listed = answer.get("sessions")
        remote = {
            (gateway, str(r["key"])): {**r, "gateway": gateway, "agent": str(r["key"]).split(":")[1]}
            for r in (listed if isinstance(listed, list) else [])
            if isinstance(r, dict)
            and str(r.get("key", "")).startswith("agent:")
            and (since is None or (r.get("updatedAt") or 0) >= since)
        }
        freshness = {
            "fresh": True,
            "note": f"listed by {gateway}'s sidecar: only its agents that accept this one",
        }
    else:
        remote = None
    wanted = {k.lower() for k in kinds} if kinds else None
    paged = getattr(ctx.store, "visible_page", None)
    if remote is None and paged is not None:
        # A mirror that keeps each requester's visible rows in order (ListingIndex) answers with the
        # page alone: the cost of 100 rows, not of every mirrored row (docs/benchmarks.md, item 4).
        shows = ListGuard(ctx.effective_policy(), ctx.requester, ctx.view())

        def want(ref: str | tuple[str, str]) -> bool:
            key = _key_of(ref)
            return key != "unknown" and (wanted is None or kind_of(key, main_key) in wanted)

        page, hidden = paged(
            shows,
            ctx.requester,
            gateway=gateway,
            updated_since=since,
            limit=None if limit is None else max(0, limit),
            want=want,
        )
        scope = ListScope((), hidden, shows.mode, shows.source, shows.warning(hidden))
    else:
        # Page first: decide on keys alone (one verdict per class of key, in filter_sessions), cut the
        # page, and only then read and shape its rows. A row of another gateway is (gateway, key): a
        # peer's agent:main:main is not this agent's own session.
        keys = list(remote) if remote is not None else ctx.store.keys(gateway, updated_since=since)
        scope = filter_sessions(ctx.effective_policy(), ctx.requester, keys, ctx.view())
        visible = [k for k in scope.visible if _key_of(k) != "unknown"]
        if wanted is not None:
            visible = [k for k in visible if kind_of(_key_of(k), main_key) in wanted]
        page = visible if limit is None else visible[: max(0, limit)]
    rows = (
        [remote[k] for k in page if isinstance(k, tuple)]
        if remote is not None
        else ctx.store.rows_for(page, gateway)
    )
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


def _key_of(ref: str | tuple[str, str]) -> str:
    return ref if isinstance(ref, str) else ref[1]


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
