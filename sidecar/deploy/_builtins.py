"""OpenClaw's built-in session tools, closed for every agent the gateway runs, named in the policy or not.

An agent the policy does not name (often `main`) is still an agent of the gateway, and with the built-in
`sessions_*` tools at the gateway's open defaults it reaches other agents' sessions with no sidecar
policy at all. So the fragment denies the built-ins in the global `tools.deny`, and the audit flags any
agent that still has them, with one fix for all of them.

OpenClaw facts this relies on (pinned 2026.9.6 and 2026.4.12: docs/tools/multi-agent-sandbox-tools.md,
`resolveEffectiveToolPolicy` and `listAgentIds` in dist/):

- Tool policy is filtered layer by layer: profile, provider profile, the global `tools.allow`/`tools.deny`,
  the provider policy, then the agent's own `tools.allow`/`tools.deny` (`agents.entries.<id>` in 2026.9,
  `agents.list[]` before). Each layer can only restrict, deny wins, and a later layer cannot grant back
  what an earlier one denied: a global deny holds for every agent, listed in openclaw.json or not.
- The agents a gateway runs: the keys of `agents.entries` when that key is present, else the ids of
  `agents.list`; with neither, the one implicit agent `main`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from sidecar.policy import Policy

__all__ = ["BUILTIN_SESSION_TOOLS", "BuiltinGap", "builtin_findings", "close_builtins", "openclaw_agents"]

# OpenClaw's own tools that read or act on other sessions. Left alone on purpose: `sessions_yield`
# (ends the caller's turn), `subagents` (the caller's own session tree), `agents_wait` (its own swarm),
# `conversations_*` (external channel addresses, not agent sessions), `suggest_task` / `dismiss_task`.
BUILTIN_SESSION_TOOLS = (
    "sessions",
    "sessions_list",
    "sessions_history",
    "sessions_search",
    "sessions_send",
    "sessions_spawn",
    "session_status",
)
GLOBAL_DENY = "tools.deny"
IMPLICIT_AGENT = "main"


def close_builtins(fragment: Mapping[str, Any]) -> dict[str, Any]:
    """`fragment` with the built-in session tools in the global `tools.deny` (after `mcp`, before `agents`)."""
    out: dict[str, Any] = {}
    for key, value in fragment.items():
        if key == "agents":
            out["tools"] = {"deny": list(BUILTIN_SESSION_TOOLS)}
        out[key] = value
    out.setdefault("tools", {"deny": list(BUILTIN_SESSION_TOOLS)})
    return out


def openclaw_agents(config: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(agent id, key path of its entry, entry) for every agent the gateway runs, as OpenClaw reads them;
    the implicit `main` of a config with no agents has no entry (an empty key path)."""
    agents = config.get("agents")
    agents = agents if isinstance(agents, Mapping) else {}
    entries = agents.get("entries")
    if entries is not None:
        if not isinstance(entries, Mapping):
            return []
        return [
            (str(a).strip().lower(), f"agents.entries.{a}", e)
            for a, e in entries.items()
            if isinstance(e, Mapping)
        ]
    listed = agents.get("list")
    if listed is not None:
        found: dict[str, tuple[str, str, Mapping[str, Any]]] = {}
        for index, entry in enumerate(listed if isinstance(listed, list) else []):
            if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
                agent_id = entry["id"].strip().lower()
                found.setdefault(agent_id, (agent_id, f"agents.list[{index}]", entry))
        return list(found.values())
    return [(IMPLICIT_AGENT, "", {})]


class BuiltinGap(NamedTuple):
    """One agent that still has built-in session tools; the fields of the audit's `Finding`."""

    code: str
    severity: Literal["error", "warning"]
    agent: str | None
    message: str
    fix: str
    key: str
    values: tuple[str, ...]


def _patterns(tools: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = tools.get(name)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _open(tool: str, layers: Sequence[Mapping[str, Any]], covers: Callable[[str, str], bool]) -> bool:
    for layer in layers:
        if any(covers(p, tool) for p in _patterns(layer, "deny")):
            return False
        allow = _patterns(layer, "allow")
        if allow and not any(covers(p, tool) for p in allow):
            return False
    return True


def builtin_findings(
    config: Mapping[str, Any], policy: Policy, covers: Callable[[str, str], bool]
) -> list[BuiltinGap]:
    """Every agent the gateway runs (and every agent the policy governs) that can still call a built-in
    session tool. `covers(pattern, tool)` is OpenClaw's match of one allow/deny entry (groups included).
    Each gap carries the same fix: the tools to add to the global `tools.deny`."""
    tools = config.get("tools")
    global_layer: Mapping[str, Any] = tools if isinstance(tools, Mapping) else {}
    found = {a: (k, e) for a, k, e in openclaw_agents(config)}
    agents = list(dict.fromkeys([*found, *policy.agent_ids]))
    open_for: dict[str, list[str]] = {}
    for agent_id in agents:
        entry = found.get(agent_id, ("", {}))[1]
        own = entry.get("tools")
        layers = (global_layer, own if isinstance(own, Mapping) else {})
        tools_open = [t for t in BUILTIN_SESSION_TOOLS if _open(t, layers, covers)]
        if tools_open:
            open_for[agent_id] = tools_open
    needed = tuple(t for t in BUILTIN_SESSION_TOOLS if any(t in o for o in open_for.values()))
    fix = (
        f"Add {', '.join(json.dumps(t) for t in needed)} to {GLOBAL_DENY} in openclaw.json: the global list "
        "closes them for every agent the gateway runs, named in the policy or not, and no per-agent allow "
        "can grant them back."
    )
    gaps = []
    for agent_id, tools_open in open_for.items():
        if agent_id in policy.agent_ids:
            who, why = agent_id, "which bypass its sidecar policy (OpenClaw scopes them gateway-wide)"
        else:
            who = f"{agent_id} (not in {policy.path})"
            if found.get(agent_id, ("-", {}))[0] == "":
                who = f"{agent_id} (OpenClaw's implicit default agent; not in {policy.path})"
            why = "at the gateway's open defaults: it reaches other agents' sessions with no sidecar policy"
        gaps.append(
            BuiltinGap(
                "builtin-session-tools",
                "error",
                agent_id,
                f"{who} still has OpenClaw's built-in {', '.join(tools_open)}, {why}.",
                fix,
                GLOBAL_DENY,
                needed,
            )
        )
    return gaps
