"""A tiny reference model of the access rules, written straight from the spec with sets and loops.

It shares no code with sidecar.policy. Property tests check that the engine agrees with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass
class AgentCfg:
    visibility: str | None = None
    send_visibility: str | None = None
    visible_agents: list[str] | None = None
    a2a: bool | None = None
    allow: list[str] | None = None
    receives_from: list[str] | None = None


@dataclass
class Cfg:
    visibility: str | None = None  # sidecar-wide
    a2a: bool | None = None
    allow: list[str] | None = None
    agents: dict[str, AgentCfg] = field(default_factory=dict)


def matches(pattern: str, agent: str) -> bool:
    p = pattern.strip()
    if p == "":
        return False
    if p == "*":
        return True
    if "*" in p:
        # fnmatch also knows ? and [..]; agent ids and our patterns never contain them.
        return fnmatchcase(agent.lower(), p.lower())
    return p == agent


def ref_decide(
    cfg: Cfg, requester: str, req_key: str, tool: str, target: str, parents: dict[str, str]
) -> tuple[bool, str | None]:
    # OpenClaw's fixed subagent deny (maxSpawnDepth unset = 5, so every subagent here is an orchestrator)
    if req_key.split(":")[2] in ("subagent", "acp") and tool == "sessions_send":
        return False, "session-class"
    parts = target.split(":")
    tgt = parts[1]
    if tgt not in cfg.agents:
        return False, "unknown-target"
    me = cfg.agents[requester]
    vis = me.visibility or cfg.visibility or "all"
    if tool == "sessions_send":
        vis = me.send_visibility or vis
    a2a = me.a2a if me.a2a is not None else (cfg.a2a if cfg.a2a is not None else True)
    per_agent_allow = me.allow is not None
    allow = me.allow if me.allow is not None else (cfg.allow or [])

    is_me = target == req_key
    mine = (not is_me) and parents.get(target) == req_key
    cross = tgt != requester
    sub = parts[2] in ("subagent", "acp")

    skip_a2a = False
    if mine and vis in ("tree", "all") and (not cross or sub):
        skip_a2a = True
    elif cross:
        if vis == "scoped":
            if not any(matches(p, tgt) for p in (me.visible_agents or [])):
                return False, "visibility"
        elif vis != "all":
            return False, "visibility"
    else:
        if vis == "self" and not is_me:
            return False, "visibility"
        if vis == "tree" and not is_me and not mine and ":".join(req_key.split(":")[2:]) != "main":
            return False, "visibility"

    if cross and not skip_a2a:
        if not a2a:
            return False, "agent-to-agent"
        if allow:
            ok_target = any(matches(p, tgt) for p in allow)
            ok_requester = per_agent_allow or any(matches(p, requester) for p in allow)
            if not (ok_target and ok_requester):
                return False, "allow-list"

    if tool == "sessions_send" and cross:
        rf = cfg.agents[tgt].receives_from
        if rf is not None and not any(matches(p, requester) for p in rf):
            return False, "receives-from"
    # 2026.9: a send to the calling session itself that waits for a reply (the default) is refused.
    if tool == "sessions_send" and is_me:
        return False, "self-target"
    return True, None


def to_policy(cfg: Cfg) -> dict[str, object]:
    """The same configuration in the policy file's own shape."""
    tools: dict[str, object] = {}
    if cfg.visibility is not None:
        tools["sessions"] = {"visibility": cfg.visibility}
    a2a: dict[str, object] = {}
    if cfg.a2a is not None:
        a2a["enabled"] = cfg.a2a
    if cfg.allow is not None:
        a2a["allow"] = cfg.allow
    if a2a:
        tools["agentToAgent"] = a2a
    entries: dict[str, object] = {}
    for agent, ac in cfg.agents.items():
        sessions: dict[str, object] = {}
        if ac.visibility is not None:
            sessions["visibility"] = ac.visibility
        if ac.send_visibility is not None:
            sessions["sendVisibility"] = ac.send_visibility
        if ac.visible_agents is not None:
            sessions["visibleAgents"] = ac.visible_agents
        agent_a2a: dict[str, object] = {}
        if ac.a2a is not None:
            agent_a2a["enabled"] = ac.a2a
        if ac.allow is not None:
            agent_a2a["allow"] = ac.allow
        if ac.receives_from is not None:
            agent_a2a["receivesFrom"] = ac.receives_from
        agent_tools: dict[str, object] = {}
        if sessions:
            agent_tools["sessions"] = sessions
        if agent_a2a:
            agent_tools["agentToAgent"] = agent_a2a
        entries[agent] = {"tools": agent_tools} if agent_tools else {}
    out: dict[str, object] = {"agents": {"entries": entries}}
    if tools:
        out["tools"] = tools
    return out
