"""The exact edit that would change a denial, naming the file and key path (both sides where both count)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable

from sidecar.policy._keys import near_misses
from sidecar.policy._model import AgentPolicy, Policy, Resolved

_SEND_TOOLS = ("sessions_send",)


def _where(policy: Policy) -> str:
    return f"in {policy.path}"


def _entry(agent_id: str) -> str:
    return f"agents.entries.{agent_id}"


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def _with(values: Iterable[str], *added: str) -> tuple[str, ...]:
    """`values` plus `added`, where an entry that only differs from an added id in case or spaces (and so
    never matched it) is replaced rather than kept beside it."""
    kept = list(values)
    for agent_id in added:
        wrong = set(near_misses(tuple(kept), agent_id))
        if wrong:
            first = next(i for i, v in enumerate(kept) if v in wrong)
            kept = [agent_id if i == first else v for i, v in enumerate(kept) if i == first or v not in wrong]
        elif agent_id not in kept:
            kept.append(agent_id)
    return tuple(kept)


def unknown_target(policy: Policy, agent_id: str | None, known: Iterable[str]) -> str:
    names = sorted(known)
    if agent_id is None:
        return "Use the full session key (agent:<agentId>:<rest>) exactly as sessions_list shows it."
    close = difflib.get_close_matches(agent_id, names, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
    return (
        f"Target an agent that exists.{hint} Known agents: {shown or 'none'}. If {agent_id!r} is real, add it "
        f"{_where(policy)} as {_entry(agent_id)}: {{}} (or to gateway.peers.<name>.agents when it lives on a peer)."
    )


def sandbox(policy: Policy, requester: AgentPolicy, tool: str, target_agent: str | None) -> str:
    if tool == "sessions_spawn":
        return (
            f'Spawn on a sandboxed agent (set {_entry(str(target_agent))}.sandbox.mode to "all" or "non-main"), '
            f"or spawn on {requester.agent_id} itself."
        )
    return (
        "Target one of the sessions this sandboxed session spawned, or set "
        f'{_entry(requester.agent_id)}.sandbox.sessionToolsVisibility: "all" {_where(policy)} '
        f'(agents.defaults.sandbox.sessionToolsVisibility: "all" for every sandboxed agent).'
    )


def visibility(
    policy: Policy, requester: AgentPolicy, vis: Resolved[str], tool: str, target_agent: str, cross: bool
) -> str:
    key = "sendVisibility" if tool in _SEND_TOOLS else "visibility"
    own = f"{_entry(requester.agent_id)}.tools.sessions.{key}"
    if not cross:
        return f'Set {own}: "agent" {_where(policy)} so {requester.agent_id} may reach its own agent\'s sessions.'
    if vis.value == "scoped":
        listed = _with(requester.visible_agents.value, target_agent)
        wrong = near_misses(requester.visible_agents.value, target_agent)
        verb = (
            f"Replace {_list(wrong)} (which never matches) with {target_agent!r} in"
            if wrong
            else (f"Add {target_agent!r} to")
        )
        return (
            f"{verb} {_entry(requester.agent_id)}.tools.sessions.visibleAgents {_where(policy)}: "
            f"visibleAgents: {_list(listed)}."
        )
    options = [
        f'for {requester.agent_id} alone, set {own}: "all" (or "scoped" with '
        f"{_entry(requester.agent_id)}.tools.sessions.visibleAgents: {_list([target_agent])})"
    ]
    if tool in _SEND_TOOLS:
        options[0] += "; it can then message without gaining history access"
    if vis.source.origin != "agent":
        options.append(f'for every agent, widen tools.sessions.visibility to "all" (now {vis.describe()})')
    return "Either " + "; or ".join(options) + f", {_where(policy)}."


def a2a_disabled(policy: Policy, requester: AgentPolicy) -> str:
    own = f"{_entry(requester.agent_id)}.tools.agentToAgent.enabled: true"
    text = f"Set {own} {_where(policy)} (this agent only)"
    if requester.a2a_enabled.source.origin != "agent":
        text += (
            f", or tools.agentToAgent.enabled: true for every agent (now {requester.a2a_enabled.describe()})"
        )
    return text + "."


def allow_list(
    policy: Policy, requester: AgentPolicy, target_agent: str, requester_ok: bool, target_ok: bool
) -> str:
    patterns = requester.allow.value
    missing = [a for a, ok in ((requester.agent_id, requester_ok), (target_agent, target_ok)) if not ok]
    notes = []
    for agent_id in missing:
        for miss in near_misses(patterns, agent_id):
            notes.append(
                f"{miss!r} does not match agent id {agent_id!r}: exact entries are case-sensitive "
                "(only '*' patterns ignore case)"
            )
    if requester.allow_is_per_agent:
        text = (
            f"Add {target_agent!r} to {_entry(requester.agent_id)}.tools.agentToAgent.allow {_where(policy)}: "
            f"allow: {_list(_with(patterns, target_agent))}."
        )
    else:
        sides = " and ".join(
            f"the {role} {agent_id!r} {'matches' if ok else 'does not match'}"
            for role, agent_id, ok in (
                ("requester", requester.agent_id, requester_ok),
                ("target", target_agent, target_ok),
            )
        )
        text = (
            f"Both sides must match the global list ({requester.allow.describe()}): {sides}. "
            f"Set tools.agentToAgent.allow: {_list(_with(patterns, *missing))} {_where(policy)}, or give "
            f"{requester.agent_id} its own list, {_entry(requester.agent_id)}.tools.agentToAgent.allow: "
            f"{_list([target_agent])}, which scopes only its own targets."
        )
    if notes:
        text += " Note: " + "; ".join(notes) + "."
    return text


def receives_from(policy: Policy, target: AgentPolicy, requester_agent: str) -> str:
    listed = _with(target.receives_from.value or (), requester_agent)
    return (
        f"{target.agent_id} accepts sends and spawns only from {_list(target.receives_from.value or [])}. "
        f"If {requester_agent} should reach it, set {_entry(target.agent_id)}.tools.agentToAgent.receivesFrom: "
        f"{_list(listed)} {_where(policy)}."
    )


def spawn_allow(policy: Policy, requester: AgentPolicy, target_agent: str) -> str:
    listed = _with(requester.spawn_allow.value, target_agent)
    return (
        f"Set {_entry(requester.agent_id)}.subagents.allowAgents: {_list(listed)} {_where(policy)} "
        f"(now {requester.spawn_allow.describe()})."
    )


def spawn_limit(policy: Policy, requester: AgentPolicy, which: str) -> str:
    if which == "depth":
        return (
            f"Spawn from a shallower session, or raise {_entry(requester.agent_id)}.subagents.maxSpawnDepth "
            f"{_where(policy)} (now {requester.max_spawn_depth.describe()})."
        )
    if which == "children":
        return (
            "Wait for a child to finish, or raise "
            f"{_entry(requester.agent_id)}.subagents.maxChildrenPerAgent {_where(policy)} "
            f"(now {requester.max_children.describe()})."
        )
    return "Pass agentId explicitly (requireAgentId is configured)."
