"""Finding the target of a call: a session key decided with ownership known, and labels resolved to keys.

The mirror answers first. The gateway is asked only when its answer could change a denial (the mirror has
never seen the target and visibility refused it), or when a label is not in the mirror.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from sidecar import telemetry
from sidecar.gateway import GatewayError
from sidecar.policy import Decision, Tool, filter_sessions, is_agent_id
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
    started = time.perf_counter_ns()
    first = ctx.evaluate(tool, raw, gateway, facts=facts)
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
        decision = ctx.decide(tool, raw, gateway, facts=facts, final=final)  # again, the target's row known
    elif telemetry.enabled() and final:
        decision = ctx.decide(tool, raw, gateway, facts=facts, final=final)  # decided inside its span
    else:
        decision = ctx.settle(tool, raw, first, started, final=final)  # nothing changed: decided once
    return decision, decision.target_gateway or HOME


async def ensure_known(ctx: CallContext, key: str, gateway: str) -> None:
    """A target the mirror does not hold is looked up on its gateway before the decision (the mirror's
    one lookup, `Store.ensure_known`)."""
    if ctx.store.get(key, gateway) is not None:
        return
    client = await ctx.client(gateway)

    async def request(method: str, params: Mapping[str, Any]) -> Any:
        return await client.request(method, dict(params), idempotent=True)

    await ctx.store.ensure_known(key, gateway, request)


async def resolve_label(ctx: CallContext, label: str, agent_id: str | None, gateway: str | None) -> str:
    """The session key carrying `label` (scoped to `agent_id` if given), among the sessions the caller may see.

    A label is resolved only among the rows the list guard shows this caller: the mirror's rows first, else
    the key the gateway resolves, checked the same way. No match, a match the caller may not see and
    several such matches all get one error, so a label says nothing about sessions hidden from the caller.
    """
    rows = [
        (str(r.get("gateway") or HOME), str(r["key"]))
        for r in ctx.store.rows(gateway)
        if r.get("label") == label and (agent_id is None or r.get("agent") == agent_id)
    ]
    matches = _visible(ctx, rows)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise BadCall(f"Multiple sessions found with label: {label}. Pass sessionKey instead.")
    name = ctx.route(agent_id or ctx.requester.agent_id, gateway) if (agent_id or gateway) else HOME
    client = await ctx.client(name)
    params = {"label": label, **({"agentId": agent_id} if agent_id else {})}
    try:
        found = await client.request("sessions.resolve", params, idempotent=True)
    except Exception:
        raise _no_visible_session(ctx, label) from None
    key = found.get("key") if isinstance(found, dict) else None
    if not isinstance(key, str) or not key:
        raise _no_visible_session(ctx, label)
    try:
        await ensure_known(ctx, key, name)  # its owner decides whether a spawned session is visible
    except (GatewayFault, GatewayError) as exc:
        log.info("could not look up the session a label resolved to (%s); visibility decides without it", exc)
    if not _visible(ctx, [(name, key)]):
        raise _no_visible_session(ctx, label)
    return key


def _visible(ctx: CallContext, rows: list[tuple[str, str]]) -> list[str]:
    """The keys of `rows` (gateway, key) the list guard shows the caller."""
    scope = filter_sessions(ctx.effective_policy(), ctx.requester, rows, ctx.view())
    return [row[1] if isinstance(row, tuple) else row for row in scope.visible]


def _no_visible_session(ctx: CallContext, label: str) -> BadCall:
    return BadCall(
        f"No session found with label: {label} among the sessions {ctx.requester.agent_id} may see. "
        "sessions_list shows them with their labels; pass the sessionKey of the one you mean."
    )
