"""`decide_inbound`: consent on the receiving side, for a call another host's sidecar forwarded.

The sender's sidecar has already decided the call under the sender's policy (its requester's
visibility, agent-to-agent switch, allow lists, spawn limits). This host decides again, under its own
policy, whether its agent accepts that remote agent at all: the target agent's
`tools.agentToAgent.receivesFrom` must name the requester as `<agent>@<peer>` (or a pattern such as
`*@<peer>`). An agent with no receivesFrom, or a bare-id list, accepts no agent from another gateway:
each host's operator opts its agents in, one peer at a time. The requester's gateway is the peer's
authenticated name, never a claim inside the call.
"""

from __future__ import annotations

from sidecar.policy._decision import (
    GATES,
    Check,
    Decision,
    Requester,
    SessionView,
    Tool,
)
from sidecar.policy._gateways import principal_matches
from sidecar.policy._keys import MalformedKey, canonical_key, is_agent_id
from sidecar.policy._model import HOME, Policy

__all__ = ["decide_inbound", "inbound_visible"]

_OUTBOUND_GATES = ("sandbox", "agent-to-agent", "allow-list", "spawn-allow")


def _accepted(policy: Policy, target_agent: str, requester: Requester) -> bool:
    rf = policy.for_agent(target_agent).receives_from.value
    return rf is not None and principal_matches(policy, rf, requester.agent_id, requester.gateway)


def decide_inbound(
    policy: Policy,
    requester: Requester,
    tool: Tool,
    target: str | None,
    view: SessionView,
    *,
    explain: bool = False,
) -> Decision:
    """Decide a call forwarded by peer `requester.gateway` on one of this host's agents. Pure."""
    checks: list[Check] = []
    who = requester.principal

    def finish(failed: bool) -> tuple[Check, ...]:
        if not explain:
            return ()
        seen = {c.gate for c in checks}
        rest = [
            Check(g, "n/a", f"decided by {requester.gateway}'s own policy (outbound)")
            if g in _OUTBOUND_GATES
            else Check(g, "not reached" if failed else "n/a")
            for g in GATES
            if g not in seen
        ]
        order = {g: i for i, g in enumerate(GATES)}
        return tuple(sorted((*checks, *rest), key=lambda c: order.get(c.gate, len(order))))

    def deny(gate: str, message: str, source: str, fix: str, key: str | None, agent: str | None) -> Decision:
        checks.append(Check(gate, "fail", message, (source,)))
        return Decision(
            False, tool, requester, key, agent, gate, message, source, fix, finish(True), HOME, "inbound"
        )

    if requester.gateway == HOME or policy.peer(requester.gateway) is None:
        return deny(
            "unknown-target",
            f"{who} is not from a peer this host knows.",
            f"{policy.path}: gateway.peers",
            f"Name the sending host under gateway.peers in {policy.path}.",
            None,
            None,
        )
    if tool == "sessions_list":
        checks.append(Check("unknown-target", "n/a", "sessions_list has no target"))
        checks.append(
            Check("receives-from", "pass", f"only agents whose receivesFrom names {who} are listed")
        )
        return Decision(
            True, tool, requester, None, None, source=f"{policy.path}: receivesFrom per agent",
            checks=finish(False), target_gateway=HOME, side="inbound",
        )  # fmt: skip
    if tool == "sessions_spawn":
        agent_id = (target or "").strip().lower()
        if not is_agent_id(agent_id):
            return deny(
                "unknown-target",
                f'Invalid agentId "{target}".',
                "agent id rules (OpenClaw 2026.9.6)",
                "Pass the target agent's id explicitly.",
                None,
                None,
            )
        key_text: str | None = None
    else:
        try:
            # A remote caller has no `current` or `main` here: only full keys of this host's agents.
            if not (target or "").strip().lower().startswith("agent:"):
                raise MalformedKey(
                    str(target), "a call from another host must use a full agent:<id>:<rest> key"
                )
            key = canonical_key(
                target or "", requester_key=requester.session_key, default_agent="", main_key=policy.main_key
            )
        except MalformedKey as exc:
            return deny(
                "unknown-target",
                str(exc),
                "session key rules (OpenClaw 2026.9.6)",
                "Use the full session key (agent:<agentId>:<rest>) exactly as sessions_list shows it.",
                None,
                None,
            )
        agent_id, key_text = key.agent_id, key.key
        if key.is_incognito:
            return deny(
                "visibility",
                f"Session not visible from session tools: {key.key}",
                "incognito sessions (OpenClaw 2026.9.6)",
                "Incognito sessions are never reachable through session tools; target a regular session.",
                key.key,
                agent_id,
            )
    if agent_id not in policy.pinned(HOME) and not view.has_agent(agent_id, HOME):
        return deny(
            "unknown-target",
            f'Unknown agent "{agent_id}": this host\'s gateway ({policy.gateway_name}) does not hold it.',
            f"{policy.path}: agents.entries and the gateway's agents.list",
            f"Target an agent that lives on {policy.gateway_name}, or pass the gateway that holds it.",
            key_text,
            agent_id,
        )
    checks.append(Check("unknown-target", "pass", f"{agent_id!r} lives on this host's gateway"))
    rf = policy.for_agent(agent_id).receives_from
    if not _accepted(policy, agent_id, requester):
        listed = [*(rf.value or ()), who]
        why = (
            "has no tools.agentToAgent.receivesFrom, so it accepts no agent from another gateway"
            if rf.value is None
            else f"accepts only {', '.join(rf.value)} (a bare id names an agent of this host only)"
        )
        return deny(
            "receives-from",
            f"{agent_id} on {policy.gateway_name} refuses {who}: it {why}.",
            f"{policy.gateway_name}: {rf.describe()}",
            f"On {policy.gateway_name} (the receiving host), set "
            f"agents.entries.{agent_id}.tools.agentToAgent.receivesFrom: "
            f"[{', '.join(repr(x).replace(chr(39), chr(34)) for x in listed)}] in {policy.path}. "
            "The sender's own policy cannot grant this.",
            key_text,
            agent_id,
        )
    checks.append(Check("receives-from", "pass", f"{agent_id} accepts {who}", (rf.describe(),)))
    return Decision(
        True,
        tool,
        requester,
        key_text,
        agent_id,
        source=f"{policy.gateway_name}: {rf.describe()}",
        checks=finish(False),
        target_gateway=HOME,
        side="inbound",
    )


def inbound_visible(policy: Policy, requester: Requester, agent_id: str) -> bool:
    """Whether a forwarded sessions_list may show `agent_id`'s sessions to `requester`."""
    return _accepted(policy, agent_id, requester)
