"""Finding the target of a call: a session key decided with ownership known, and labels resolved to keys.

The mirror answers first. The gateway is asked only when its answer could change a denial (the mirror has
never seen the target and visibility refused it), or when a label is not in the mirror.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sidecar.gateway import GatewayError
from sidecar.policy import Decision, Tool, decide, is_agent_id
from sidecar.tools._context import CallContext
from sidecar.tools._errors import BadCall, GatewayFault
from sidecar.tools._routing import HOME

log = logging.getLogger("sidecar")


async def decide_key(
    ctx: CallContext,
    tool: Tool,
    raw: str,
    gateway: str | None,
    *,
    facts: Mapping[str, Any] | None = None,
    final: bool = True,
) -> tuple[Decision, str]:
    """Decide `tool` on session key `raw`; returns the decision and the gateway that holds the target.
    `facts` and `final` as for `CallContext.decide`."""
    await ctx.learn_peers(gateway)
    key = ctx.canonical(raw)
    target_agent = key.split(":")[1] if key.startswith("agent:") else ctx.policy.default_agent
    first = decide(ctx.effective_policy(), ctx.requester, tool, raw, ctx.view(), gateway=gateway)
    name = first.target_gateway
    if (
        first.gate == "visibility"
        and first.target is not None
        # Only a row on the requester's own gateway can make it the owner: a peer's rows never can.
        and name == ctx.requester.gateway
        and is_agent_id(target_agent)
        and ctx.store.get(first.target, name) is None
    ):
        try:
            await ensure_known(ctx, first.target, name)
        except (GatewayFault, GatewayError) as exc:
            log.info("could not look up %s (%s); the denial stands", first.target, exc)
    decision = ctx.decide(tool, raw, gateway, facts=facts, final=final)
    return decision, decision.target_gateway or HOME


async def ensure_known(ctx: CallContext, key: str, gateway: str) -> None:
    """A target the mirror does not hold is looked up on its gateway before the decision."""
    if ctx.store.get(key, gateway) is not None:
        return
    client = await ctx.client(gateway)
    found = await client.request("sessions.list", {"search": key, "limit": 20}, idempotent=True)
    for row in (found or {}).get("sessions", []) if isinstance(found, dict) else []:
        if isinstance(row, dict) and row.get("key") == key:
            ctx.store.upsert(row, gateway)


async def resolve_label(ctx: CallContext, label: str, agent_id: str | None, gateway: str | None) -> str:
    """The session key carrying `label` (scoped to `agent_id` if given), from the mirror or the gateway."""
    matches = [
        r["key"]
        for r in ctx.store.rows(gateway)
        if r.get("label") == label and (agent_id is None or r.get("agent") == agent_id)
    ]
    if len(matches) == 1:
        return str(matches[0])
    if len(matches) > 1:
        raise BadCall(f"Multiple sessions found with label: {label}. Pass sessionKey instead.")
    name = ctx.route(agent_id or ctx.requester.agent_id, gateway) if (agent_id or gateway) else HOME
    client = await ctx.client(name)
    params = {"label": label, **({"agentId": agent_id} if agent_id else {})}
    try:
        found = await client.request("sessions.resolve", params, idempotent=True)
    except Exception as exc:
        raise BadCall(f"No session found with label: {label}") from exc
    if not isinstance(found, dict) or not found.get("key"):
        raise BadCall(f"No session found with label: {label}")
    return str(found["key"])
