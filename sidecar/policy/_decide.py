"""`decide`: one pure function from (policy, requester, tool, target, session view) to a Decision.

Gates run in OpenClaw's order: unknown-target, sandbox, visibility, agent-to-agent, allow-list, then the
sidecar's inbound `receivesFrom` and the spawn gates. The first failing gate decides; a failure never
depends on a later gate, so deny always wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from sidecar.policy import _fixes, _operations
from sidecar.policy._gateways import Placement, place, principal, principal_matches, split_principal
from sidecar.policy._keys import (
    MalformedKey,
    SessionKey,
    canonical_key,
    is_agent_id,
    parse_agent_key,
    pattern_matches,
)
from sidecar.policy._model import HOME, AgentPolicy, Policy, Resolved
from sidecar.policy._operations import ALWAYS_ENFORCED, Usage
from sidecar.policy._sessions import SessionClass, class_denial, classify

Tool = Literal["sessions_list", "sessions_history", "sessions_send", "sessions_spawn"]
TOOLS: tuple[Tool, ...] = ("sessions_list", "sessions_history", "sessions_send", "sessions_spawn")
GATES = (
    "pause",
    "session-class",
    "unknown-target",
    "sandbox",
    "visibility",
    "agent-to-agent",
    "allow-list",
    "receives-from",
    "spawn-allow",
    *_operations.SEND_GUARD_GATES,
    *_operations.BUDGET_GATES,
)
Action = Literal["history", "send", "list"]
_ACTION: dict[str, Action] = {"sessions_history": "history", "sessions_send": "send", "sessions_list": "list"}
_PREFIX = {"history": "Session history", "send": "Session send", "list": "Session list"}
_A2A_NOUN = {
    "history": ("history", "access"),
    "send": ("messaging", "sends"),
    "list": ("listing", "visibility"),
}


class SessionView(Protocol):
    """Read-only facts about sessions that the engine needs (the mirror implements this).

    Sessions are named by (gateway, key): the same key on two gateways is two sessions. `owner_of` says
    which session spawned one, as (gateway, key), so a child is owned only by a parent on the gateway the
    fact came from (or one this host recorded itself). `has_agent` with no gateway means any gateway.
    """

    def parent_of(self, key: str, gateway: str = HOME) -> str | None: ...

    def owner_of(self, key: str, gateway: str = HOME) -> tuple[str, str] | None: ...

    def has_agent(self, agent_id: str, gateway: str | None = None) -> bool: ...

    def depth_of(self, key: str, gateway: str = HOME) -> int: ...

    def active_children(self, key: str, gateway: str = HOME) -> int: ...


@dataclass(frozen=True)
class StaticView:
    """A SessionView over plain dicts: for `explain`, tests and benchmarks.

    `agents` and `parents` describe the home gateway; `peer_agents` maps a peer to its agents and
    `peer_parents` maps (gateway, key) to the (gateway, key) that spawned it.
    """

    agents: frozenset[str] = frozenset()
    parents: dict[str, str] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)
    peer_agents: dict[str, frozenset[str]] = field(default_factory=dict)
    peer_parents: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    depths: dict[str, int] = field(default_factory=dict)

    def owner_of(self, key: str, gateway: str = HOME) -> tuple[str, str] | None:
        found = self.peer_parents.get((gateway, key))
        if found is None and gateway == HOME and key in self.parents:
            found = (HOME, self.parents[key])
        return found

    def parent_of(self, key: str, gateway: str = HOME) -> str | None:
        owner = self.owner_of(key, gateway)
        return None if owner is None else owner[1]

    def has_agent(self, agent_id: str, gateway: str | None = None) -> bool:
        if gateway is None:
            return agent_id in self.agents or any(agent_id in a for a in self.peer_agents.values())
        if gateway == HOME:
            return agent_id in self.agents
        return agent_id in self.peer_agents.get(gateway, frozenset())

    def depth_of(self, key: str, gateway: str = HOME) -> int:
        if gateway == HOME and key in self.depths:
            return self.depths[key]
        depth = 0
        node: tuple[str, str] | None = (gateway, key)
        while node is not None and (node := self.owner_of(node[1], node[0])) and depth < 64:
            depth += 1
        return depth

    def active_children(self, key: str, gateway: str = HOME) -> int:
        return self.running.get(key, 0) if gateway == HOME else 0


@dataclass(frozen=True, slots=True)
class Requester:
    """The agent a sidecar serves and its session, both from launch configuration, never from arguments.

    `gateway` is the gateway the requester lives on, in this policy's names: `home` for the agent this
    sidecar serves; a peer's name for a call that peer's sidecar forwarded (set from the peer's
    authenticated identity, never from what the peer claims).

    The session comes from launch configuration or OpenClaw's attestation (the multi-session host).
    `unattested` holds why a call's caller could not be verified; such a call is decided as the agent's
    least privileged session class.
    """

    agent_id: str
    session_key: str
    key: SessionKey = field(compare=False, repr=False, default=SessionKey("", "", ""))
    gateway: str = HOME
    unattested: str | None = None

    @classmethod
    def of(
        cls, agent_id: str, session_key: str | None = None, main_key: str = "main", *, gateway: str = HOME
    ) -> Requester:
        key = parse_agent_key((session_key or f"agent:{agent_id}:{main_key}").strip().lower())
        if key.agent_id != agent_id:
            raise MalformedKey(key.key, f"the session belongs to agent {key.agent_id!r}, not {agent_id!r}")
        return cls(agent_id, key.key, key, gateway)

    @classmethod
    def unverified(cls, agent_id: str, reason: str) -> Requester:
        """A caller of `agent_id` whose session is unknown: decided as the least privileged class."""
        key = parse_agent_key(f"agent:{agent_id}:unattested")
        return cls(agent_id, key.key, key, unattested=reason)

    @property
    def principal(self) -> str:
        """`jarvis` at home, `jarvis@macbook` for a peer's agent."""
        return principal(self.agent_id, self.gateway)


@dataclass(frozen=True, slots=True)
class Check:
    gate: str
    outcome: Literal["pass", "fail", "n/a", "not reached", "not checked"]  # not checked: explain, offline
    detail: str = ""
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    tool: Tool
    requester: Requester
    target: str | None
    target_agent: str | None
    gate: str | None = None
    message: str | None = None
    source: str | None = None
    fix: str | None = None
    checks: tuple[Check, ...] = ()
    target_gateway: str | None = None
    side: Literal["outbound", "inbound"] = "outbound"
    # Observe mode: the call is let through, but `gate`, `message`, `source` and `fix` say what would
    # have refused it under enforce.
    would_deny: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "tool": self.tool,
            "requester": {
                "agentId": self.requester.agent_id,
                "sessionKey": self.requester.session_key,
                "gateway": self.requester.gateway,
                "attested": self.requester.unattested is None,
            },
            "target": self.target,
            "targetAgent": self.target_agent,
            "targetGateway": self.target_gateway,
            "side": self.side,
            "gate": self.gate,
            "message": self.message,
            "source": self.source,
            "fix": self.fix,
            "wouldDeny": self.would_deny,
            "checks": [
                {"gate": c.gate, "outcome": c.outcome, "detail": c.detail, "sources": list(c.sources)}
                for c in self.checks
            ],
        }


class _Trace:
    """Collects per-gate outcomes for `explain`; a no-op on the hot path."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.checks: list[Check] = []

    def add(
        self, gate: str, outcome: Literal["pass", "fail", "n/a"], detail: str, *values: Resolved[Any]
    ) -> None:
        if self.enabled:
            self.checks.append(Check(gate, outcome, detail, tuple(v.describe() for v in values)))

    def finish(self) -> tuple[Check, ...]:
        if not self.enabled:
            return ()
        seen = {c.gate for c in self.checks}
        failed = any(c.outcome == "fail" for c in self.checks)
        rest = [Check(g, "not reached" if failed else "n/a") for g in GATES if g not in seen]
        order = {g: i for i, g in enumerate(GATES)}
        return tuple(sorted((*self.checks, *rest), key=lambda c: order[c.gate]))


class _Denier:
    def __init__(self, tool: Tool, requester: Requester, trace: _Trace) -> None:
        self.tool = tool
        self.requester = requester
        self.trace = trace
        self.gateway: str | None = None

    def __call__(
        self,
        gate: str,
        message: str,
        source: str,
        fix: str,
        target_key: str | None,
        target_agent: str | None,
        detail: str = "",
        *values: Resolved[Any],
    ) -> Decision:
        self.trace.add(gate, "fail", detail or message, *values)
        return Decision(
            False,
            self.tool,
            self.requester,
            target_key,
            target_agent,
            gate,
            message,
            source,
            fix,
            self.trace.finish(),
            self.gateway,
        )


def session_class(policy: Policy, requester: Requester, view: SessionView) -> SessionClass:
    """The calling session's class, with its depth from the mirror when it knows the session."""
    key = requester.key if requester.key.key else parse_agent_key(requester.session_key)
    return classify(policy, key, view.depth_of(key.key, requester.gateway), requester.unattested)


def is_sandboxed(agent: AgentPolicy, session: SessionKey, main_key: str) -> bool:
    mode = agent.sandbox_mode.value
    return mode == "all" or (mode == "non-main" and session.rest != main_key)


def visibility_for(agent: AgentPolicy, tool: Tool) -> Resolved[str]:
    return agent.send_visibility if tool == "sessions_send" else agent.visibility


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
    trace = _Trace(explain)
    agent = policy.for_agent(requester.agent_id)
    deny = _Denier(tool, requester, trace)
    paused = _operations.pause_failure(requester.agent_id, usage)
    if paused is not None:
        gate, message, source, fix, _ = paused
        return deny(gate, message, source, fix, None, None)
    trace.add("pause", "pass", "not paused by an operator")
    decision = _decide(policy, requester, agent, tool, target, view, gateway, trace, deny)
    if decision.allowed:
        decision = _within_budget(policy, agent, decision, usage, trace, deny)
    if not decision.allowed and agent.observing and decision.gate not in ALWAYS_ENFORCED:
        decision = replace(decision, allowed=True, would_deny=True)
    return decision


def _within_budget(
    policy: Policy,
    agent: AgentPolicy,
    decision: Decision,
    usage: Usage | None,
    trace: _Trace,
    deny: _Denier,
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
    return replace(decision, checks=trace.finish()) if trace.enabled else decision


def _decide(
    policy: Policy,
    requester: Requester,
    agent: AgentPolicy,
    tool: Tool,
    target: str | None,
    view: SessionView,
    gateway: str | None,
    trace: _Trace,
    deny: _Denier,
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

    def unplaced(agent_id: str, where: Placement, target_key: str | None) -> Decision:
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

    # -- unknown-target ---------------------------------------------------------------------------
    if tool == "sessions_list":
        trace.add("unknown-target", "n/a", "sessions_list has no target")
        vis = agent.visibility
        trace.add("visibility", "pass", f"rows outside visibility {vis.value!r} are hidden and counted", vis)
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
            return unplaced(target_agent, where, None)
        deny.gateway = where.gateway
        trace.add("unknown-target", "pass", f"agent {principal(target_agent, where.gateway)!r} is known")
        return _spawn(
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
    where = place(policy, view, key.agent_id, gateway)
    if where.gateway is None:
        return unplaced(key.agent_id, where, key.key)
    target_gw = deny.gateway = where.gateway
    if trace.enabled:  # the trace's text is built only when someone asked for it (explain)
        trace.add(
            "unknown-target",
            "pass",
            f"{key.key} belongs to known agent {principal(key.agent_id, target_gw)!r}",
        )

    action = _ACTION[tool]
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
    else:
        trace.add("sandbox", "pass", "requester is not sandboxed", agent.sandbox_mode)

    failure = _guard(policy, agent, requester, key, target_gw, vis, action, is_self, owned, trace)
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
    if tool == "sessions_send" and cross and _decided_there(policy, target_gw):
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


def _decided_there(policy: Policy, gateway: str) -> bool:
    """A peer reached through its sidecar decides its agents' receivesFrom itself, under its own policy."""
    peer = policy.peer(gateway)
    return peer is not None and peer.mode == "sidecar"


def _guard(
    policy: Policy,
    agent: AgentPolicy,
    requester: Requester,
    key: SessionKey,
    target_gw: str,
    vis: Resolved[str],
    action: Action,
    is_self: bool,
    owned: bool,
    trace: _Trace,
) -> tuple[str, str, str, str] | None:
    """The visibility guard of the policy's OpenClaw release plus the `scoped` extension.

    Returns (gate, message, source, fix). An agent on another gateway is another agent, whatever its id:
    `main` on a peer is never "same agent".
    """
    tool: Tool = (
        "sessions_send" if action == "send" else ("sessions_list" if action == "list" else "sessions_history")
    )
    req = requester.key if requester.key.key else parse_agent_key(requester.session_key)
    prefix = _PREFIX[action]
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
                    + _later_fixes(policy, agent, requester, key, target_gw, action),
                )
        elif mode != "all":
            trace.add("visibility", "fail", f"visibility {mode!r} does not reach other agents", vis)
            return (
                "visibility",
                sem.cross_agent_denial(prefix),
                vis.describe(),
                _fixes.visibility(policy, agent, vis, tool, target_name, True)
                + _later_fixes(policy, agent, requester, key, target_gw, action),
            )
        if trace.enabled:
            trace.add("visibility", "pass", f"visibility {mode!r} reaches {target_name!r}", vis)
        if not agent.a2a_enabled.value:
            noun, verb = _A2A_NOUN[action]
            trace.add("agent-to-agent", "fail", "agent-to-agent is disabled", agent.a2a_enabled)
            return (
                "agent-to-agent",
                f"Agent-to-agent {noun} is disabled. Set tools.agentToAgent.enabled=true to allow "
                f"cross-agent {verb}.",
                agent.a2a_enabled.describe(),
                _fixes.a2a_disabled(policy, agent),
            )
        trace.add("agent-to-agent", "pass", "agent-to-agent is enabled", agent.a2a_enabled)
        req_ok, tgt_ok = _allowed(policy, agent, requester, key.agent_id, target_gw)
        if not (req_ok and tgt_ok):
            trace.add(
                "allow-list",
                "fail",
                _allow_detail(agent, requester.principal, target_name, req_ok, tgt_ok),
                agent.allow,
            )
            return (
                "allow-list",
                f"Agent-to-agent {_A2A_NOUN[action][0]} denied by tools.agentToAgent.allow.",
                agent.allow.describe(),
                _fixes.allow_list(policy, agent, target_name, req_ok, tgt_ok),
            )
        if trace.enabled:
            trace.add(
                "allow-list",
                "pass",
                _allow_detail(agent, requester.principal, target_name, True, True),
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


def _allowed(
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


def _later_fixes(
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
    req_ok, tgt_ok = _allowed(policy, agent, requester, key.agent_id, target_gw)
    if not (req_ok and tgt_ok):
        also.append(_fixes.allow_list(policy, agent, principal(key.agent_id, target_gw), req_ok, tgt_ok))
    if tool == "sessions_send" and not _decided_there(policy, target_gw):
        inbound = policy.for_agent(key.agent_id)
        rf = inbound.receives_from.value
        if rf is not None and not principal_matches(policy, rf, requester.agent_id, requester.gateway):
            also.append(_fixes.receives_from(policy, inbound, requester.principal))
    return "".join(f" Also needed: {text}" for text in also)


def _allow_detail(agent: AgentPolicy, req: str, tgt: str, req_ok: bool, tgt_ok: bool) -> str:
    if not agent.allow.value:
        return "empty allow list: every agent matches"
    if agent.allow_is_per_agent:
        return f"per-agent list scopes targets: {tgt!r} {'matches' if tgt_ok else 'does not match'}"
    return (
        f"global list, both sides must match: requester {req!r} {'matches' if req_ok else 'does not match'}, "
        f"target {tgt!r} {'matches' if tgt_ok else 'does not match'}"
    )


def _spawn(
    policy: Policy,
    requester: Requester,
    agent: AgentPolicy,
    req_key: SessionKey,
    cls: SessionClass,
    target_agent: str,
    target_gw: str,
    explicit: bool,
    view: SessionView,
    trace: _Trace,
    deny: _Denier,
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
    if cross and _decided_there(policy, target_gw):
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
    if cross and not any(_spawn_pattern(policy, p, target_agent, target_gw) for p in allowed):
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


def _spawn_pattern(policy: Policy, pattern: str, agent_id: str, gateway: str) -> bool:
    # OpenClaw compares allowAgents entries after normalising them to lowercase ids; `*` globs and the
    # `@gateway` part are ours (a bare entry names an agent at home or one pinned to that peer).
    raw, on = split_principal(pattern)
    if on is None:
        if gateway != HOME and agent_id not in policy.pinned(gateway):
            return False
    elif on != "*" and policy.gateway_of(on) != gateway:
        return False
    return pattern_matches(raw, agent_id) if "*" in raw else raw.lower() == agent_id


@dataclass(frozen=True, slots=True)
class ListScope:
    """What a scoped sessions_list shows, and how much it hid."""

    visible: tuple[str | tuple[str, str], ...]
    hidden: int
    mode: str
    source: str
    warning: str | None


def filter_sessions(
    policy: Policy, requester: Requester, keys: Iterable[str | tuple[str, str]], view: SessionView
) -> ListScope:
    """Apply the list guard to each row before anything is serialised; count what was hidden.

    A row is a home session key, or (gateway, key) for a row another gateway reported; `visible` holds
    the rows as given.
    """
    agent = policy.for_agent(requester.agent_id)
    req_key = requester.key if requester.key.key else parse_agent_key(requester.session_key)
    vis = agent.visibility
    if class_denial(policy, session_class(policy, requester, view), "sessions_list") is not None:
        hidden = sum(1 for _ in keys)
        return ListScope((), hidden, vis.value, vis.describe(), None)
    restrict = False
    if is_sandboxed(agent, req_key, policy.main_key) and agent.sandbox_clamp.value == "spawned":
        vis = Resolved("tree", agent.sandbox_clamp.source)
        restrict = not req_key.is_subagent
    off = _Trace(False)
    visible: list[str | tuple[str, str]] = []
    hidden = 0
    verdicts: dict[tuple[str, str, bool, bool, bool, bool], bool] = {}
    for row in keys:
        gw, raw = (HOME, row) if isinstance(row, str) else row
        try:
            key = canonical_key(
                raw, requester_key=req_key.key, default_agent=policy.default_agent, main_key=policy.main_key
            )
        except MalformedKey:
            hidden += 1
            continue
        is_self = gw == requester.gateway and key.key == req_key.key
        owned = not is_self and view.owner_of(key.key, gw) == (requester.gateway, req_key.key)
        if restrict and not (is_self or owned):
            hidden += 1
            continue
        # The guard's verdict depends only on these facts of a row, so decide each combination once
        # (a 10k-row list otherwise builds thousands of identical denials, fix text included).
        facts = (gw, key.agent_id, key.is_subagent, key.is_incognito, is_self, owned)
        verdict = verdicts.get(facts)
        if verdict is None:
            verdict = verdicts[facts] = (
                _guard(policy, agent, requester, key, gw, vis, "list", is_self, owned, off) is None
            )
        if verdict:
            visible.append(row)
        else:
            hidden += 1
    warning = None
    if hidden:
        warning = (
            f"Session visibility is restricted (effective tools.sessions.visibility={vis.value}"
            f"{' with agent-to-agent limits' if vis.value in ('all', 'scoped') else ''}). {hidden} session(s) "
            "outside that scope are omitted from results and count."
        )
    return ListScope(tuple(visible), hidden, vis.value, vis.describe(), warning)
