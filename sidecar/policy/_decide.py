"""`decide`: one pure function from (policy, requester, tool, target, session view) to a Decision.

Gates run in OpenClaw's order: unknown-target, sandbox, visibility, agent-to-agent, allow-list, then the
sidecar's inbound `receivesFrom` and the spawn gates. The first failing gate decides; a failure never
depends on a later gate, so deny always wins.
"""

from __future__ import annotations

from sidecar.policy import _fixes, _operations
from sidecar.policy._decision import (
    ACTION,
    Decision,
    Denier,
    Requester,
    SessionView,
    Tool,
    Trace,
)
from sidecar.policy._gateways import Placement, place, principal, principal_matches
from sidecar.policy._guard import decided_there, guard, is_sandboxed, session_class, visibility_for
from sidecar.policy._keys import MalformedKey, canonical_key, is_agent_id, parse_agent_key
from sidecar.policy._model import HOME, AgentPolicy, Policy, Resolved
from sidecar.policy._operations import ALWAYS_ENFORCED, Usage
from sidecar.policy._sessions import class_denial
from sidecar.policy._spawn import spawn


def decide(
    policy: Policy,
    requester: Requester,
    tool: Tool,
    target: str | None,
    view: SessionView,
    *,
    gateway: str | None = None,
    explain: bool = False,
    usage: Usage | None = None,
) -> Decision:
    """Decide one tool call. Pure: no I/O, no clock; the same inputs always give the same Decision.

    `gateway` is the caller's explicit `gateway` argument (None: the engine places the target). The
    decision names the gateway the target is on; self, same-agent and owned-child hold only there.

    `usage` carries the operator's facts about the requester agent (a pause, counts against its budgets);
    without it those gates pass. In observe mode a would-be denial comes back allowed, with `would_deny`
    set and the gate, source and fix that would have refused it.
    """
    trace = Trace(explain)
    agent = policy.for_agent(requester.agent_id)
    deny = Denier(tool, requester, trace)
    paused = _operations.pause_failure(requester.agent_id, usage)
    if paused is not None:
        gate, message, source, fix, _ = paused
        return deny(gate, message, source, fix, None, None)
    if explain:
        trace.add("pause", "pass", "not paused by an operator")
    decision = _decide(policy, requester, agent, tool, target, view, gateway, trace, deny)
    if decision.allowed:
        decision = _within_budget(policy, agent, decision, usage, trace, deny)
    if not decision.allowed and agent.observing and decision.gate not in ALWAYS_ENFORCED:
        decision = decision._replace(allowed=True, would_deny=True)
    return decision


def _within_budget(
    policy: Policy,
    agent: AgentPolicy,
    decision: Decision,
    usage: Usage | None,
    trace: Trace,
    deny: Denier,
) -> Decision:
    if decision.tool == "sessions_send":
        requester = decision.requester
        to_self = decision.target == requester.session_key and (
            decision.target_gateway or requester.gateway
        ) == requester.gateway
        guarded = _operations.send_guard_failure(policy, agent, to_self, usage)
        if guarded is not None:
            gate, message, source, fix, values = guarded
            return deny(gate, message, source, fix, decision.target, decision.target_agent, "", *values)
        for gate, detail, value in (
            _operations.send_guard_details(policy, agent, to_self, usage) if trace.enabled else ()
        ):
            trace.add(gate, "pass", detail, *((value,) if value is not None else ()))
        failure = _operations.send_budget_failure(policy, agent, usage)
    elif decision.tool == "sessions_spawn":
        failure = _operations.spawn_budget_failure(policy, agent, usage)
    else:
        return decision
    for gate, detail, value in (
        _operations.budget_details(decision.tool, agent, usage) if trace.enabled else ()
    ):
        if failure is not None and failure[0] == gate:
            break
        trace.add(gate, "pass", detail, value)
    if failure is not None:
        gate, message, source, fix, values = failure
        return deny(gate, message, source, fix, decision.target, decision.target_agent, "", *values)
    return decision._replace(checks=trace.finish()) if trace.enabled else decision


def _decide(
    policy: Policy,
    requester: Requester,
    agent: AgentPolicy,
    tool: Tool,
    target: str | None,
    view: SessionView,
    gateway: str | None,
    trace: Trace,
    deny: Denier,
) -> Decision:
    """OpenClaw's gates and the sidecar's policy extensions, in order; the first failure decides."""
    req_key = requester.key if requester.key.key else parse_agent_key(requester.session_key)
    cls = session_class(policy, requester, view)
    refused = class_denial(policy, cls, tool)
    if refused is not None:
        message, source, fix = refused
        return deny("session-class", message, source, fix, target, None, cls.describe())
    if trace.enabled:
        trace.add("session-class", "pass", f"{req_key.key}: {cls.describe()}")

    # -- unknown-target ---------------------------------------------------------------------------
    if tool == "sessions_list":
        vis = agent.visibility
        if trace.enabled:
            trace.add("unknown-target", "n/a", "sessions_list has no target")
            trace.add(
                "visibility", "pass", f"rows outside visibility {vis.value!r} are hidden and counted", vis
            )
        return Decision(True, tool, requester, None, None, source=vis.describe(), checks=trace.finish())

    if tool == "sessions_spawn":
        raw_agent = (target or requester.agent_id).strip()
        target_agent = raw_agent.lower()
        if not raw_agent.isascii() or not is_agent_id(target_agent):
            message = (
                f'Invalid agentId "{raw_agent}". Agent IDs must match [a-z0-9][a-z0-9_-]{{0,63}}. '
                "Use agents_list to discover valid targets."
            )
            return deny(
                "unknown-target",
                message,
                f"agent id rules ({policy.semantics.label})",
                _fixes.unknown_target(policy, None, policy.known_agents),
                None,
                None,
            )
        where = place(policy, view, target_agent, gateway)
        if where.gateway is None:
            return _unplaced(policy, deny, target_agent, where, None)
        deny.gateway = where.gateway
        trace.add("unknown-target", "pass", f"agent {principal(target_agent, where.gateway)!r} is known")
        return spawn(
            policy,
            requester,
            agent,
            req_key,
            cls,
            target_agent,
            where.gateway,
            target is not None,
            view,
            trace,
            deny,
        )

    try:
        key = canonical_key(
            target or "",
            requester_key=requester.session_key,
            default_agent=policy.default_agent,
            main_key=policy.main_key,
        )
    except MalformedKey as exc:
        return deny(
            "unknown-target",
            str(exc),
            f"session key rules ({policy.semantics.label})",
            _fixes.unknown_target(policy, None, policy.known_agents),
            None,
            None,
        )
    if gateway is None and key.agent_id in policy.pinned(HOME):
        target_gw = HOME  # what `place` answers for an agent the policy itself puts at home
    else:
        where = place(policy, view, key.agent_id, gateway)
        if where.gateway is None:
            return _unplaced(policy, deny, key.agent_id, where, key.key)
        target_gw = where.gateway
    deny.gateway = target_gw
    if trace.enabled:  # the trace's text is built only when someone asked for it (explain)
        trace.add(
            "unknown-target",
            "pass",
            f"{key.key} belongs to known agent {principal(key.agent_id, target_gw)!r}",
        )

    action = ACTION[tool]
    vis = visibility_for(agent, tool)
    local = target_gw == requester.gateway
    is_self = local and key.key == req_key.key
    owned = not is_self and view.owner_of(key.key, target_gw) == (requester.gateway, req_key.key)

    # -- sandbox ----------------------------------------------------------------------------------
    if is_sandboxed(agent, req_key, policy.main_key) and agent.sandbox_clamp.value == "spawned":
        if not req_key.is_subagent and not is_self and not owned:
            return deny(
                "sandbox",
                f"Session not visible from this sandboxed agent session: {target}",
                agent.sandbox_clamp.describe(),
                _fixes.sandbox(policy, agent, tool, key.agent_id),
                key.key,
                key.agent_id,
                "",
                agent.sandbox_mode,
                agent.sandbox_clamp,
            )
        if vis.value != "tree":
            vis = Resolved("tree", agent.sandbox_clamp.source)
        trace.add(
            "sandbox",
            "pass",
            "sandboxed: visibility clamped to 'tree'",
            agent.sandbox_mode,
            agent.sandbox_clamp,
        )
    elif trace.enabled:
        trace.add("sandbox", "pass", "requester is not sandboxed", agent.sandbox_mode)

    failure = guard(policy, agent, requester, key, target_gw, vis, action, is_self, owned, trace)
    if failure is not None:
        gate, message, source, fix = failure
        return Decision(
            False,
            tool,
            requester,
            key.key,
            key.agent_id,
            gate,
            message,
            source,
            fix,
            trace.finish(),
            target_gw,
        )

    # -- receives-from (sends only; reads are governed by the reader's visibility) ----------------
    cross = key.agent_id != requester.agent_id or not local
    if tool == "sessions_send" and cross and decided_there(policy, target_gw):
        trace.add(
            "receives-from",
            "n/a",
            f"decided on {target_gw} by its own sidecar, under that host's policy (inbound)",
        )
    elif tool == "sessions_send" and cross:
        inbound = policy.for_agent(key.agent_id)
        rf = inbound.receives_from
        if rf.value is not None and not principal_matches(
            policy, rf.value, requester.agent_id, requester.gateway
        ):
            return deny(
                "receives-from",
                f"Agent-to-agent messaging to {key.agent_id} is refused by its "
                "tools.agentToAgent.receivesFrom.",
                rf.describe(),
                _fixes.receives_from(policy, inbound, requester.principal),
                key.key,
                key.agent_id,
                "",
                rf,
            )
        if trace.enabled:
            trace.add("receives-from", "pass", f"{key.agent_id} accepts {requester.principal}", rf)
    source = agent.allow.describe() if cross and not owned else vis.describe()
    return Decision(
        True,
        tool,
        requester,
        key.key,
        key.agent_id,
        source=source,
        checks=trace.finish(),
        target_gateway=target_gw,
    )


def _unplaced(
    policy: Policy, deny: Denier, agent_id: str, where: Placement, target_key: str | None
) -> Decision:
    if where.problem is not None:
        message = where.problem
    elif target_key is not None:
        message = (
            f'Unknown agent "{agent_id}" in session key {target_key}: it is not configured on any '
            "known gateway."
        )
    else:
        message = f'Unknown agent "{agent_id}": it is not configured on any known gateway.'
    return deny(
        "unknown-target",
        message,
        f"{policy.path}: agents.entries and gateway.peers",
        _fixes.unknown_target(policy, agent_id, policy.known_agents),
        target_key,
        agent_id,
    )
