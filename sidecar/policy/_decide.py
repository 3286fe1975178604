"""`decide`: one pure function from (policy, requester, tool, target, session view) to a Decision.

Gates run in OpenClaw's order: unknown-target, sandbox, visibility, agent-to-agent, allow-list, then the
sidecar's inbound `receivesFrom` and the spawn gates. The first failing gate decides; a failure never
depends on a later gate, so deny always wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sidecar.policy import _fixes
from sidecar.policy._keys import (
    MalformedKey,
    SessionKey,
    any_matches,
    canonical_key,
    is_agent_id,
    parse_agent_key,
    pattern_matches,
)
from sidecar.policy._model import AgentPolicy, Policy, Resolved

Tool = Literal["sessions_list", "sessions_history", "sessions_send", "sessions_spawn"]
TOOLS: tuple[Tool, ...] = ("sessions_list", "sessions_history", "sessions_send", "sessions_spawn")
GATES = (
    "unknown-target",
    "sandbox",
    "visibility",
    "agent-to-agent",
    "allow-list",
    "receives-from",
    "spawn-allow",
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
    """Read-only facts about sessions that the engine needs (the mirror implements this)."""

    def parent_of(self, key: str) -> str | None: ...

    def has_agent(self, agent_id: str) -> bool: ...

    def depth_of(self, key: str) -> int: ...

    def active_children(self, key: str) -> int: ...


@dataclass(frozen=True)
class StaticView:
    """A SessionView over plain dicts: for `explain`, tests and benchmarks."""

    agents: frozenset[str] = frozenset()
    parents: dict[str, str] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)

    def parent_of(self, key: str) -> str | None:
        return self.parents.get(key)

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self.agents

    def depth_of(self, key: str) -> int:
        depth = 0
        while (key := self.parents.get(key, "")) and depth < 64:
            depth += 1
        return depth

    def active_children(self, key: str) -> int:
        return self.running.get(key, 0)


@dataclass(frozen=True, slots=True)
class Requester:
    """The agent a sidecar serves and its session, both from launch configuration, never from arguments."""

    agent_id: str
    session_key: str
    key: SessionKey = field(compare=False, repr=False, default=SessionKey("", "", ""))

    @classmethod
    def of(cls, agent_id: str, session_key: str | None = None, main_key: str = "main") -> Requester:
        key = parse_agent_key((session_key or f"agent:{agent_id}:{main_key}").strip().lower())
        if key.agent_id != agent_id:
            raise MalformedKey(key.key, f"the session belongs to agent {key.agent_id!r}, not {agent_id!r}")
        return cls(agent_id, key.key, key)


@dataclass(frozen=True, slots=True)
class Check:
    gate: str
    outcome: Literal["pass", "fail", "n/a", "not reached"]
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

    def as_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "tool": self.tool,
            "requester": {"agentId": self.requester.agent_id, "sessionKey": self.requester.session_key},
            "target": self.target,
            "targetAgent": self.target_agent,
            "gate": self.gate,
            "message": self.message,
            "source": self.source,
            "fix": self.fix,
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
        )


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
    explain: bool = False,
) -> Decision:
    """Decide one tool call. Pure: no I/O, no clock; the same inputs always give the same Decision."""
    trace = _Trace(explain)
    agent = policy.for_agent(requester.agent_id)
    req_key = requester.key if requester.key.key else parse_agent_key(requester.session_key)

    deny = _Denier(tool, requester, trace)

    def known(agent_id: str) -> bool:
        return agent_id in policy.known_agents or view.has_agent(agent_id)

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
                "agent id rules (OpenClaw 2026.9.6)",
                _fixes.unknown_target(policy, None, policy.known_agents),
                None,
                None,
            )
        if not known(target_agent):
            return deny(
                "unknown-target",
                f'Unknown agent "{target_agent}": it is not configured on any known gateway.',
                f"{policy.path}: agents.entries and gateway.peers",
                _fixes.unknown_target(policy, target_agent, policy.known_agents),
                None,
                target_agent,
            )
        trace.add("unknown-target", "pass", f"agent {target_agent!r} is known")
        return _spawn(policy, requester, agent, req_key, target_agent, target is not None, view, trace, deny)

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
            "session key rules (OpenClaw 2026.9.6)",
            _fixes.unknown_target(policy, None, policy.known_agents),
            None,
            None,
        )
    if not known(key.agent_id):
        return deny(
            "unknown-target",
            f'Unknown agent "{key.agent_id}" in session key {key.key}: it is not '
            "configured on any known gateway.",
            f"{policy.path}: agents.entries and gateway.peers",
            _fixes.unknown_target(policy, key.agent_id, policy.known_agents),
            key.key,
            key.agent_id,
        )
    if trace.enabled:  # the trace's text is built only when someone asked for it (explain)
        trace.add("unknown-target", "pass", f"{key.key} belongs to known agent {key.agent_id!r}")

    action = _ACTION[tool]
    vis = visibility_for(agent, tool)
    is_self = key.key == req_key.key
    owned = not is_self and view.parent_of(key.key) == req_key.key

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

    failure = _guard(policy, agent, req_key, key, vis, action, is_self, owned, trace)
    if failure is not None:
        gate, message, source, fix = failure
        return Decision(
            False, tool, requester, key.key, key.agent_id, gate, message, source, fix, trace.finish()
        )

    # -- receives-from (sends only; reads are governed by the reader's visibility) ----------------
    if tool == "sessions_send" and key.agent_id != requester.agent_id:
        inbound = policy.for_agent(key.agent_id)
        rf = inbound.receives_from
        if rf.value is not None and not any_matches(rf.value, requester.agent_id):
            return deny(
                "receives-from",
                f"Agent-to-agent messaging to {key.agent_id} is refused by its "
                "tools.agentToAgent.receivesFrom.",
                rf.describe(),
                _fixes.receives_from(policy, inbound, requester.agent_id),
                key.key,
                key.agent_id,
                "",
                rf,
            )
        if trace.enabled:
            trace.add("receives-from", "pass", f"{key.agent_id} accepts {requester.agent_id}", rf)
    source = agent.allow.describe() if key.agent_id != requester.agent_id and not owned else vis.describe()
    return Decision(True, tool, requester, key.key, key.agent_id, source=source, checks=trace.finish())


def _guard(
    policy: Policy,
    agent: AgentPolicy,
    req: SessionKey,
    key: SessionKey,
    vis: Resolved[str],
    action: Action,
    is_self: bool,
    owned: bool,
    trace: _Trace,
) -> tuple[str, str, str, str] | None:
    """OpenClaw 2026.9.6's visibility guard plus the `scoped` extension. Returns (gate, message, source, fix)."""
    tool: Tool = (
        "sessions_send" if action == "send" else ("sessions_list" if action == "list" else "sessions_history")
    )
    prefix = _PREFIX[action]
    cross = key.agent_id != req.agent_id
    mode = vis.value
    if key.is_incognito:
        trace.add("visibility", "fail", "incognito sessions are hidden from session tools", vis)
        return (
            "visibility",
            f"Session not visible from session tools: {key.key}",
            vis.describe(),
            "Incognito sessions are never reachable through session tools; target a regular session.",
        )
    # Rows the requester spawned stay reachable under tree/all even on another agent (ACP/subagent children).
    if owned and mode in ("tree", "all") and (not cross or key.is_subagent):
        trace.add("visibility", "pass", f"{key.key} was spawned by {req.key}", vis)
        return None
    if cross:
        if mode == "scoped":
            if not any_matches(agent.visible_agents.value, key.agent_id):
                trace.add(
                    "visibility",
                    "fail",
                    f"{key.agent_id!r} is not in visibleAgents",
                    vis,
                    agent.visible_agents,
                )
                return (
                    "visibility",
                    f"{prefix} visibility is restricted to this agent's sessions and the agents in "
                    f"tools.sessions.visibleAgents ({', '.join(agent.visible_agents.value) or 'none'}).",
                    agent.visible_agents.describe(),
                    _fixes.visibility(policy, agent, vis, tool, key.agent_id, True)
                    + _later_fixes(policy, agent, req, key, action),
                )
        elif mode != "all":
            trace.add("visibility", "fail", f"visibility {mode!r} does not reach other agents", vis)
            return (
                "visibility",
                f"{prefix} visibility is restricted. Set tools.sessions.visibility=all to allow cross-agent "
                "access; use tools.agentToAgent to restrict permitted agent pairs.",
                vis.describe(),
                _fixes.visibility(policy, agent, vis, tool, key.agent_id, True)
                + _later_fixes(policy, agent, req, key, action),
            )
        if trace.enabled:
            trace.add("visibility", "pass", f"visibility {mode!r} reaches {key.agent_id!r}", vis)
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
        patterns = agent.allow.value
        req_ok = agent.allow_is_per_agent or not patterns or any_matches(patterns, req.agent_id)
        tgt_ok = not patterns or any_matches(patterns, key.agent_id)
        if not (req_ok and tgt_ok):
            trace.add(
                "allow-list",
                "fail",
                _allow_detail(agent, req.agent_id, key.agent_id, req_ok, tgt_ok),
                agent.allow,
            )
            return (
                "allow-list",
                f"Agent-to-agent {_A2A_NOUN[action][0]} denied by tools.agentToAgent.allow.",
                agent.allow.describe(),
                _fixes.allow_list(policy, agent, key.agent_id, req_ok, tgt_ok),
            )
        if trace.enabled:
            trace.add(
                "allow-list",
                "pass",
                _allow_detail(agent, req.agent_id, key.agent_id, True, True),
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
    if mode == "tree" and not is_self and not owned and req.rest != policy.main_key:
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


def _later_fixes(policy: Policy, agent: AgentPolicy, req: SessionKey, key: SessionKey, action: Action) -> str:
    """When visibility fails first, name the later gates that would still refuse, so one fix is enough."""
    tool: Tool = "sessions_send" if action == "send" else "sessions_history"
    also = []
    if not agent.a2a_enabled.value:
        also.append(_fixes.a2a_disabled(policy, agent))
    patterns = agent.allow.value
    req_ok = agent.allow_is_per_agent or not patterns or any_matches(patterns, req.agent_id)
    tgt_ok = not patterns or any_matches(patterns, key.agent_id)
    if not (req_ok and tgt_ok):
        also.append(_fixes.allow_list(policy, agent, key.agent_id, req_ok, tgt_ok))
    if tool == "sessions_send":
        inbound = policy.for_agent(key.agent_id)
        rf = inbound.receives_from.value
        if rf is not None and not any_matches(rf, req.agent_id):
            also.append(_fixes.receives_from(policy, inbound, req.agent_id))
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
    target_agent: str,
    explicit: bool,
    view: SessionView,
    trace: _Trace,
    deny: _Denier,
) -> Decision:
    cross = target_agent != requester.agent_id
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
    if cross:
        rf = target_policy.receives_from
        if rf.value is not None and not any_matches(rf.value, requester.agent_id):
            return deny(
                "receives-from",
                f"sessions_spawn on {target_agent} is refused by its tools.agentToAgent.receivesFrom.",
                rf.describe(),
                _fixes.receives_from(policy, target_policy, requester.agent_id),
                None,
                target_agent,
                "",
                rf,
            )
        trace.add("receives-from", "pass", f"{target_agent} accepts {requester.agent_id}", rf)
    else:
        trace.add("receives-from", "n/a", "same agent")
    depth = view.depth_of(req_key.key)
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
    active = view.active_children(req_key.key)
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
    if cross and not any(_spawn_pattern(p, target_agent) for p in allowed):
        return deny(
            "spawn-allow",
            f"agentId is not allowed for sessions_spawn (allowed: {', '.join(allowed) or 'none'})",
            agent.spawn_allow.describe(),
            _fixes.spawn_allow(policy, agent, target_agent),
            None,
            target_agent,
            "",
            agent.spawn_allow,
        )
    trace.add(
        "spawn-allow",
        "pass",
        "same agent" if not cross else f"{target_agent!r} is in allowAgents",
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
    )


def _spawn_pattern(pattern: str, agent_id: str) -> bool:
    # OpenClaw compares allowAgents entries after normalising them to lowercase ids; `*` globs are ours.
    raw = pattern.strip()
    return pattern_matches(raw, agent_id) if "*" in raw else raw.lower() == agent_id


@dataclass(frozen=True, slots=True)
class ListScope:
    """What a scoped sessions_list shows, and how much it hid."""

    visible: tuple[str, ...]
    hidden: int
    mode: str
    source: str
    warning: str | None


def filter_sessions(
    policy: Policy, requester: Requester, keys: Iterable[str], view: SessionView
) -> ListScope:
    """Apply the list guard to each row before anything is serialised; count what was hidden."""
    agent = policy.for_agent(requester.agent_id)
    req_key = requester.key if requester.key.key else parse_agent_key(requester.session_key)
    vis = agent.visibility
    restrict = False
    if is_sandboxed(agent, req_key, policy.main_key) and agent.sandbox_clamp.value == "spawned":
        vis = Resolved("tree", agent.sandbox_clamp.source)
        restrict = not req_key.is_subagent
    off = _Trace(False)
    visible: list[str] = []
    hidden = 0
    verdicts: dict[tuple[str, bool, bool, bool, bool], bool] = {}
    for raw in keys:
        try:
            key = canonical_key(
                raw, requester_key=req_key.key, default_agent=policy.default_agent, main_key=policy.main_key
            )
        except MalformedKey:
            hidden += 1
            continue
        is_self = key.key == req_key.key
        owned = not is_self and view.parent_of(key.key) == req_key.key
        if restrict and not (is_self or owned):
            hidden += 1
            continue
        # The guard's verdict depends only on these facts of a row, so decide each combination once
        # (a 10k-row list otherwise builds thousands of identical denials, fix text included).
        facts = (key.agent_id, key.is_subagent, key.is_incognito, is_self, owned)
        verdict = verdicts.get(facts)
        if verdict is None:
            verdict = verdicts[facts] = (
                _guard(policy, agent, req_key, key, vis, "list", is_self, owned, off) is None
            )
        if verdict:
            visible.append(raw)
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
