"""The visibility guard (OpenClaw's, per release, plus `scoped`), the agent-to-agent allow list, and the
small facts about a requester that every gate reads."""

from __future__ import annotations

from sidecar.policy import _fixes
from sidecar.policy._decision import A2A_NOUN, PREFIX, Action, Requester, SessionView, Tool, Trace
from sidecar.policy._gateways import principal, principal_matches
from sidecar.policy._keys import SessionKey, parse_agent_key
from sidecar.policy._model import AgentPolicy, Policy, Resolved
from sidecar.policy._sessions import SessionClass, classify


def session_class(policy: Policy, requester: Requester, view: SessionView) -> SessionClass:
    """The calling session's class, with its depth from the mirror when it knows the session."""
    key = requester.key if requester.key.key else parse_agent_key(requester.session_key)
    depth = view.depth_of(key.key, requester.gateway)
    # A class follows from the key, the depth and the policy alone: keep it (see `Policy.memo`).
    memo, facts = policy.memo, ("class", key.key, depth, requester.unattested)
    found: SessionClass | None = memo.get(facts)
    if found is None:
        found = classify(policy, key, depth, requester.unattested)
        _remember(memo, facts, found)
    return found


MEMO_MAX = 65_536
"""Entries a policy's memo holds before it starts over (a host serving many sessions stays bounded)."""


def _remember(memo: dict[object, object], facts: object, answer: object) -> None:
    if len(memo) >= MEMO_MAX:
        memo.clear()
    memo[facts] = answer


def is_sandboxed(agent: AgentPolicy, session: SessionKey, main_key: str) -> bool:
    mode = agent.sandbox_mode.value
    return mode == "all" or (mode == "non-main" and session.rest != main_key)


def visibility_for(agent: AgentPolicy, tool: Tool) -> Resolved[str]:
    return agent.send_visibility if tool == "sessions_send" else agent.visibility


def decided_there(policy: Policy, gateway: str) -> bool:
    """A peer reached through its sidecar decides its agents' receivesFrom itself, under its own policy."""
    peer = policy.peer(gateway)
    return peer is not None and peer.mode == "sidecar"


def guard(
    policy: Policy,
    agent: AgentPolicy,
    requester: Requester,
    key: SessionKey,
    target_gw: str,
    vis: Resolved[str],
    action: Action,
    is_self: bool,
    owned: bool,
    trace: Trace,
) -> tuple[str, str, str, str] | None:
    """`check_visibility`, its answer kept per class of target (policy, requester, the target's agent,
    gateway, kind and relation to the requester, the visibility in force): a denial's text and fix are
    built once, not per call. Traced calls, and incognito targets (whose message names the key), are
    always worked out afresh."""
    if trace.enabled or key.is_incognito:
        return check_visibility(policy, agent, requester, key, target_gw, vis, action, is_self, owned, trace)
    facts = (
        "guard",
        requester,
        key.agent_id,
        key.is_subagent,
        target_gw,
        vis.value,
        id(vis.source),  # a Source the policy holds (its agent's, or the sandbox clamp's)
        action,
        is_self,
        owned,
    )
    memo = policy.memo
    if facts in memo:
        answer: tuple[str, str, str, str] | None = memo[facts]
        return answer
    answer = check_visibility(policy, agent, requester, key, target_gw, vis, action, is_self, owned, trace)
    _remember(memo, facts, answer)
    return answer


def check_visibility(
    policy: Policy,
    agent: AgentPolicy,
    requester: Requester,
    key: SessionKey,
    target_gw: str,
    vis: Resolved[str],
    action: Action,
    is_self: bool,
    owned: bool,
    trace: Trace,
) -> tuple[str, str, str, str] | None:
    """The visibility guard of the policy's OpenClaw release plus the `scoped` extension.

    Returns (gate, message, source, fix). An agent on another gateway is another agent, whatever its id:
    `main` on a peer is never "same agent".
    """
    tool: Tool = (
        "sessions_send" if action == "send" else ("sessions_list" if action == "list" else "sessions_history")
    )
    req = requester.key if requester.key.key else parse_agent_key(requester.session_key)
    prefix = PREFIX[action]
    cross = key.agent_id != req.agent_id or target_gw != requester.gateway
    target_name = principal(key.agent_id, target_gw)
    mode = vis.value
    sem = policy.semantics
    if key.is_incognito and sem.incognito_hidden:
        trace.add("visibility", "fail", "incognito sessions are hidden from session tools", vis)
        return (
            "visibility",
            f"Session not visible from session tools: {key.key}",
            vis.describe(),
            "Incognito sessions are never reachable through session tools; target a regular session.",
        )
    # Rows the requester spawned stay reachable under tree/all; from 2026.9 even on another agent
    # (ACP/subagent children), before that only the same agent's direct children.
    if owned and mode in ("tree", "all") and (not cross or (sem.owned_cross_agent and key.is_subagent)):
        trace.add("visibility", "pass", f"{key.key} was spawned by {req.key}", vis)
        return None
    if cross:
        if mode == "scoped":
            if not principal_matches(policy, agent.visible_agents.value, key.agent_id, target_gw):
                trace.add(
                    "visibility",
                    "fail",
                    f"{target_name!r} is not in visibleAgents",
                    vis,
                    agent.visible_agents,
                )
                return (
                    "visibility",
                    f"{prefix} visibility is restricted to this agent's sessions and the agents in "
                    f"tools.sessions.visibleAgents ({', '.join(agent.visible_agents.value) or 'none'}).",
                    agent.visible_agents.describe(),
                    _fixes.visibility(policy, agent, vis, tool, target_name, True)
                    + later_fixes(policy, agent, requester, key, target_gw, action),
                )
        elif mode != "all":
            trace.add("visibility", "fail", f"visibility {mode!r} does not reach other agents", vis)
            return (
                "visibility",
                sem.cross_agent_denial(prefix),
                vis.describe(),
                _fixes.visibility(policy, agent, vis, tool, target_name, True)
                + later_fixes(policy, agent, requester, key, target_gw, action),
            )
        if trace.enabled:
            trace.add("visibility", "pass", f"visibility {mode!r} reaches {target_name!r}", vis)
        if not agent.a2a_enabled.value:
            noun, verb = A2A_NOUN[action]
            trace.add("agent-to-agent", "fail", "agent-to-agent is disabled", agent.a2a_enabled)
            return (
                "agent-to-agent",
                f"Agent-to-agent {noun} is disabled. Set tools.agentToAgent.enabled=true to allow "
                f"cross-agent {verb}.",
                agent.a2a_enabled.describe(),
                _fixes.a2a_disabled(policy, agent),
            )
        trace.add("agent-to-agent", "pass", "agent-to-agent is enabled", agent.a2a_enabled)
        req_ok, tgt_ok = allowed_by(policy, agent, requester, key.agent_id, target_gw)
        if not (req_ok and tgt_ok):
            trace.add(
                "allow-list",
                "fail",
                allow_detail(agent, requester.principal, target_name, req_ok, tgt_ok),
                agent.allow,
            )
            return (
                "allow-list",
                f"Agent-to-agent {A2A_NOUN[action][0]} denied by tools.agentToAgent.allow.",
                agent.allow.describe(),
                _fixes.allow_list(policy, agent, target_name, req_ok, tgt_ok),
            )
        if trace.enabled:
            trace.add(
                "allow-list",
                "pass",
                allow_detail(agent, requester.principal, target_name, True, True),
                agent.allow,
            )
        return None
    if mode == "self" and not is_self:
        trace.add("visibility", "fail", "only the requester's own session is visible", vis)
        return (
            "visibility",
            f"{prefix} visibility is restricted to the current session (tools.sessions.visibility=self).",
            vis.describe(),
            _fixes.visibility(policy, agent, vis, tool, key.agent_id, False),
        )
    main_sees_all = sem.main_sees_agent and req.rest == policy.main_key
    if mode == "tree" and not is_self and not owned and not main_sees_all:
        trace.add(
            "visibility", "fail", "only the requester's session and its spawned children are visible", vis
        )
        return (
            "visibility",
            f"{prefix} visibility is restricted to the current session tree "
            "(tools.sessions.visibility=tree).",
            vis.describe(),
            _fixes.visibility(policy, agent, vis, tool, key.agent_id, False),
        )
    if trace.enabled:
        trace.add("visibility", "pass", f"same agent under visibility {mode!r}", vis)
    trace.add("agent-to-agent", "n/a", "same agent")
    return None


def allowed_by(
    policy: Policy, agent: AgentPolicy, requester: Requester, target_agent: str, target_gw: str
) -> tuple[bool, bool]:
    """(requester side, target side) of tools.agentToAgent.allow; a per-agent list scopes targets only."""
    patterns = agent.allow.value
    req_ok = (
        agent.allow_is_per_agent
        or not patterns
        or principal_matches(policy, patterns, requester.agent_id, requester.gateway)
    )
    tgt_ok = not patterns or principal_matches(policy, patterns, target_agent, target_gw)
    return req_ok, tgt_ok


def later_fixes(
    policy: Policy,
    agent: AgentPolicy,
    requester: Requester,
    key: SessionKey,
    target_gw: str,
    action: Action,
) -> str:
    """When visibility fails first, name the later gates that would still refuse, so one fix is enough."""
    tool: Tool = "sessions_send" if action == "send" else "sessions_history"
    also = []
    if not agent.a2a_enabled.value:
        also.append(_fixes.a2a_disabled(policy, agent))
    req_ok, tgt_ok = allowed_by(policy, agent, requester, key.agent_id, target_gw)
    if not (req_ok and tgt_ok):
        also.append(_fixes.allow_list(policy, agent, principal(key.agent_id, target_gw), req_ok, tgt_ok))
    if tool == "sessions_send" and not decided_there(policy, target_gw):
        inbound = policy.for_agent(key.agent_id)
        rf = inbound.receives_from.value
        if rf is not None and not principal_matches(policy, rf, requester.agent_id, requester.gateway):
            also.append(_fixes.receives_from(policy, inbound, requester.principal))
    return "".join(f" Also needed: {text}" for text in also)


def allow_detail(agent: AgentPolicy, req: str, tgt: str, req_ok: bool, tgt_ok: bool) -> str:
    if not agent.allow.value:
        return "empty allow list: every agent matches"
    if agent.allow_is_per_agent:
        return f"per-agent list scopes targets: {tgt!r} {'matches' if tgt_ok else 'does not match'}"
    return (
        f"global list, both sides must match: requester {req!r} {'matches' if req_ok else 'does not match'}, "
        f"target {tgt!r} {'matches' if tgt_ok else 'does not match'}"
    )
