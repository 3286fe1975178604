"""The spawn gates: sandbox, receivesFrom on the target, depth, active children, requireAgentId and
subagents.allowAgents, in OpenClaw's order."""

from __future__ import annotations

from sidecar.policy import _fixes
from sidecar.policy._decision import Decision, Denier, Requester, SessionView, Trace
from sidecar.policy._gateways import principal, principal_matches, split_principal
from sidecar.policy._guard import decided_there, is_sandboxed
from sidecar.policy._keys import SessionKey, pattern_matches
from sidecar.policy._model import HOME, AgentPolicy, Policy
from sidecar.policy._sessions import SessionClass


def spawn(
    policy: Policy,
    requester: Requester,
    agent: AgentPolicy,
    req_key: SessionKey,
    cls: SessionClass,
    target_agent: str,
    target_gw: str,
    explicit: bool,
    view: SessionView,
    trace: Trace,
    deny: Denier,
) -> Decision:
    cross = target_agent != requester.agent_id or target_gw != requester.gateway
    target_name = principal(target_agent, target_gw)
    target_policy = policy.for_agent(target_agent)
    if is_sandboxed(agent, req_key, policy.main_key) and target_policy.sandbox_mode.value == "off":
        return deny(
            "sandbox",
            "Sandboxed sessions cannot spawn unsandboxed subagents. Set a sandboxed target "
            "agent or use the same agent runtime.",
            target_policy.sandbox_mode.describe(),
            _fixes.sandbox(policy, agent, "sessions_spawn", target_agent),
            None,
            target_agent,
            "",
            agent.sandbox_mode,
            target_policy.sandbox_mode,
        )
    trace.add("sandbox", "pass", "no sandbox restriction applies to this spawn", agent.sandbox_mode)
    trace.add("visibility", "n/a", "spawn creates a new child session")
    trace.add("agent-to-agent", "n/a", "spawn is governed by subagents.allowAgents")
    trace.add("allow-list", "n/a", "spawn is governed by subagents.allowAgents")
    if cross and decided_there(policy, target_gw):
        trace.add(
            "receives-from",
            "n/a",
            f"decided on {target_gw} by its own sidecar, under that host's policy (inbound)",
        )
    elif cross:
        rf = target_policy.receives_from
        if rf.value is not None and not principal_matches(
            policy, rf.value, requester.agent_id, requester.gateway
        ):
            return deny(
                "receives-from",
                f"sessions_spawn on {target_name} is refused by its tools.agentToAgent.receivesFrom.",
                rf.describe(),
                _fixes.receives_from(policy, target_policy, requester.principal),
                None,
                target_agent,
                "",
                rf,
            )
        trace.add("receives-from", "pass", f"{target_name} accepts {requester.principal}", rf)
    else:
        trace.add("receives-from", "n/a", "same agent")
    depth = cls.depth if cls.is_subagent else view.depth_of(req_key.key, requester.gateway)
    limit = agent.max_spawn_depth.value
    if depth >= limit:
        return deny(
            "spawn-allow",
            f"sessions_spawn is not allowed at this depth (current depth: {depth}, max: {limit})",
            agent.max_spawn_depth.describe(),
            _fixes.spawn_limit(policy, agent, "depth"),
            None,
            target_agent,
            "",
            agent.max_spawn_depth,
        )
    active = view.active_children(req_key.key, requester.gateway)
    most = agent.max_children.value
    if active >= most:
        return deny(
            "spawn-allow",
            f"sessions_spawn has reached max active children for this session ({active}/{most})",
            agent.max_children.describe(),
            _fixes.spawn_limit(policy, agent, "children"),
            None,
            target_agent,
            "",
            agent.max_children,
        )
    if agent.require_agent_id.value and not explicit:
        return deny(
            "spawn-allow",
            "sessions_spawn requires explicit agentId when requireAgentId is configured. "
            "Use agents_list to see allowed agent ids.",
            agent.require_agent_id.describe(),
            _fixes.spawn_limit(policy, agent, "require"),
            None,
            target_agent,
            "",
            agent.require_agent_id,
        )
    allowed = agent.spawn_allow.value
    if cross and not any(spawn_pattern(policy, p, target_agent, target_gw) for p in allowed):
        return deny(
            "spawn-allow",
            f"agentId is not allowed for sessions_spawn (allowed: {', '.join(allowed) or 'none'})",
            agent.spawn_allow.describe(),
            _fixes.spawn_allow(policy, agent, target_name),
            None,
            target_agent,
            "",
            agent.spawn_allow,
        )
    trace.add(
        "spawn-allow",
        "pass",
        "same agent" if not cross else f"{target_name!r} is in allowAgents",
        agent.spawn_allow,
    )
    return Decision(
        True,
        "sessions_spawn",
        requester,
        None,
        target_agent,
        source=agent.spawn_allow.describe(),
        checks=trace.finish(),
        target_gateway=target_gw,
    )


def spawn_pattern(policy: Policy, pattern: str, agent_id: str, gateway: str) -> bool:
    # OpenClaw compares allowAgents entries after normalising them to lowercase ids; `*` globs and the
    # `@gateway` part are ours (a bare entry names an agent at home or one pinned to that peer).
    raw, on = split_principal(pattern)
    if on is None:
        if gateway != HOME and agent_id not in policy.pinned(gateway):
            return False
    elif on != "*" and policy.gateway_of(on) != gateway:
        return False
    return pattern_matches(raw, agent_id) if "*" in raw else raw.lower() == agent_id
