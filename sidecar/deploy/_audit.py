"""The audit of an openclaw.json that deploys the sidecar: what lets a governed agent bypass its sidecar.

Pure: a parsed config and the policy in, `Finding`s out, each with the exact edit that fixes it, so
`sidecar manifest`, `sidecar doctor` and the tests share one definition of a correct deployment.
`group:sessions` and `group:openclaw` expand to OpenClaw's built-in session tools; `bundle-mcp` and
`group:plugins` stand for every configured MCP server's tools (pinned 2026.9.6).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sidecar.deploy._builtins import builtin_findings, openclaw_agents
from sidecar.deploy._manifests import TOOL_FILTER_INCLUDE
from sidecar.deploy._naming import (
    BUILTIN_SESSION_TOOLS,
    SIDECAR_TOOLS,
    glob_matches,
    namespace_deny,
    safe_fragment,
    safe_server_names,
    server_name,
    tool_name,
)
from sidecar.policy import Policy

_BUILTIN_GROUPS = frozenset({"group:sessions", "group:openclaw"})
_MCP_GROUPS = frozenset({"bundle-mcp", "group:plugins"})


@dataclass(frozen=True)
class Finding:
    """One problem in an OpenClaw deployment of the sidecar, with the exact edit that fixes it."""

    code: str
    severity: Literal["error", "warning"]
    agent: str | None
    message: str
    fix: str
    key: str
    values: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "agent": self.agent,
            "message": self.message,
            "fix": self.fix,
            "key": self.key,
            "values": list(self.values),
        }


@dataclass(frozen=True)
class _Sidecar:
    name: str
    safe: str
    agent: str
    entry: Mapping[str, Any]

    @property
    def enabled(self) -> bool:
        return self.entry.get("enabled") is not False

    def offered(self) -> list[str]:
        """The sidecar tools its `toolFilter` lets through, as OpenClaw names them."""
        tool_filter = _obj(self.entry.get("toolFilter"))
        include, exclude = _strings(tool_filter.get("include")), _strings(tool_filter.get("exclude"))
        return [
            tool_name(self.safe, t)
            for t in SIDECAR_TOOLS
            if (not include or any(glob_matches(p, t) for p in include))
            and not any(glob_matches(p, t) for p in exclude)
        ]


@dataclass(frozen=True)
class _Layer:
    allow: tuple[str, ...]
    deny: tuple[str, ...]


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _covers(pattern: str, tool: str, *, mcp: bool) -> bool:
    group = pattern.strip().lower()
    if group in _MCP_GROUPS:
        return mcp
    if group in _BUILTIN_GROUPS:
        return not mcp and tool in BUILTIN_SESSION_TOOLS
    return glob_matches(pattern, tool)


def _reachable(tool: str, layers: Sequence[_Layer], *, mcp: bool) -> bool:
    for layer in layers:
        if any(_covers(p, tool, mcp=mcp) for p in layer.deny):
            return False
        if layer.allow and not any(_covers(p, tool, mcp=mcp) for p in layer.allow):
            return False
    return True


_HOST_URL_RE = re.compile(
    r"^http://(?:127\.0\.0\.1|localhost|\[::1\]):\d+/agents/([a-z0-9_][a-z0-9_-]{0,63})/mcp/?$"
)


def sidecar_agent(entry: Mapping[str, Any]) -> str | None:
    """The agent an `mcp.servers` entry serves: it launches `sidecar serve --agent ID`, or it is agent ID's
    endpoint on the multi-session host (`http://127.0.0.1:PORT/agents/ID/mcp`)."""
    url = entry.get("url")
    if isinstance(url, str):
        found = _HOST_URL_RE.match(url.strip())
        return found.group(1) if found else None
    command = entry.get("command")
    args = list(_strings(entry.get("args")))
    if not isinstance(command, str) or "serve" not in args:
        return None
    launched = [Path(command).name, *args[: args.index("serve")]]
    if not any(part.startswith(("sidecar", "openclaw-sessions-sidecar")) for part in launched):
        return None
    for index, arg in enumerate(args):
        if arg == "--agent" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--agent="):
            return arg.split("=", 1)[1]
    return None


def _policy_arg(entry: Mapping[str, Any]) -> str | None:
    args = list(_strings(entry.get("args")))
    for index, arg in enumerate(args):
        if arg == "--policy" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--policy="):
            return arg.split("=", 1)[1]
    return None


def _agents_of(config: Mapping[str, Any]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Agent id -> (its key path, its entry), from `agents.entries` or the older `agents.list`."""
    agents = _obj(config.get("agents"))
    found: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for agent_id, entry in _obj(agents.get("entries")).items():
        found[agent_id] = (f"agents.entries.{agent_id}", _obj(entry))
    listed = agents.get("list")
    for index, entry in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
            found.setdefault(entry["id"], (f"agents.list[{index}]", entry))
    return found


def _add_fix(values: Sequence[str], key: str, extra: str = "") -> str:
    quoted = ", ".join(json.dumps(v) for v in values)
    return f"Add {quoted} to {key} in openclaw.json{extra}."


def audit_openclaw_config(config: Mapping[str, Any], policy: Policy) -> list[Finding]:
    """Check a parsed `openclaw.json` against the policy's fleet.

    Flags any agent (in openclaw.json, the implicit `main`, or governed) that still has OpenClaw's
    built-in session tools (`_builtins`), any agent that can call
    another agent's sidecar (it would act with that agent's identity and scope), a governed agent with
    no usable sidecar of its own, and setups that hide the sidecar's tools (disabled server, a deny
    that covers them, the sandbox tool gate) or launch it by a relative path. Tool profiles are not
    evaluated: an explicit deny is required whatever the profile, so a later profile change cannot
    reopen the built-ins.
    """
    servers = _obj(_obj(config.get("mcp")).get("servers"))
    safe = safe_server_names(list(servers))
    sidecars = [
        _Sidecar(name, safe[name], agent, _obj(entry))
        for name, entry in servers.items()
        if (agent := sidecar_agent(_obj(entry))) is not None
    ]
    configured = _agents_of(config)
    governed = list(policy.agent_ids)
    agents = list(dict.fromkeys([*configured, *(a for a, _, _ in openclaw_agents(config)), *governed]))
    tools = _obj(config.get("tools"))
    global_layer = _Layer(_strings(tools.get("allow")), _strings(tools.get("deny")))
    findings: list[Finding] = []
    findings += _launch_findings(sidecars, policy)
    findings += [
        Finding(*gap) for gap in builtin_findings(config, policy, functools.partial(_covers, mcp=False))
    ]

    for agent_id in agents:
        key, entry = configured.get(agent_id, (f"agents.entries.{agent_id}", {}))
        agent_tools = _obj(entry.get("tools"))
        layers = (global_layer, _Layer(_strings(agent_tools.get("allow")), _strings(agent_tools.get("deny"))))
        deny_key = f"{key}.tools.deny"
        own = [s for s in sidecars if s.agent == agent_id]
        own_safe = own[0].safe if own else safe_fragment(server_name(agent_id))

        if agent_id in governed:
            findings += _own_sidecar_findings(agent_id, own, layers, key, entry, config, policy)

        for other in sidecars:
            if other.agent == agent_id or not other.enabled:
                continue
            reachable = [t for t in other.offered() if _reachable(t, layers, mcp=True)]
            if not reachable:
                continue
            values = tuple(namespace_deny(other.safe, own_safe))
            who = agent_id if agent_id in governed else f"{agent_id} (not in {policy.path})"
            findings.append(
                Finding(
                    "foreign-sidecar",
                    "error",
                    agent_id,
                    f"{who} can call {other.agent}'s sidecar ({', '.join(reachable)}) and would act with "
                    f"{other.agent}'s identity and scope.",
                    _add_fix(values, deny_key),
                    deny_key,
                    values,
                )
            )
    return findings


def _launch_findings(sidecars: Sequence[_Sidecar], policy: Policy) -> list[Finding]:
    findings: list[Finding] = []
    for sidecar in sidecars:
        key = f"mcp.servers.{sidecar.name}"
        if "url" in sidecar.entry:
            findings += _host_entry_findings(sidecar.agent, sidecar.entry, key)
            continue
        command = str(sidecar.entry.get("command"))
        policy_arg = _policy_arg(sidecar.entry)
        if not os.path.isabs(command):
            findings.append(
                Finding(
                    "relative-command",
                    "warning",
                    sidecar.agent,
                    f"{key} starts {command!r} by name; OpenClaw resolves it with the gateway's own PATH.",
                    f"Set {key}.command to the absolute path printed by: sidecar manifest openclaw --agent "
                    f"{sidecar.agent} --policy {policy.path}",
                    f"{key}.command",
                )
            )
        if policy_arg is not None and not os.path.isabs(policy_arg):
            findings.append(
                Finding(
                    "relative-policy",
                    "error",
                    sidecar.agent,
                    f"{key} passes --policy {policy_arg!r}, relative to whatever directory OpenClaw starts it in.",
                    f"Pass the policy's absolute path in {key}.args (e.g. {Path(policy.path).absolute()}).",
                    f"{key}.args",
                )
            )
        include = _strings(_obj(sidecar.entry.get("toolFilter")).get("include"))
        if not include:
            findings.append(
                Finding(
                    "no-tool-filter",
                    "warning",
                    sidecar.agent,
                    f"{key} has no toolFilter.include, so any tool the server ever lists reaches the agent.",
                    f'Set {key}.toolFilter: {{ include: ["sessions_*"] }} in openclaw.json.',
                    f"{key}.toolFilter.include",
                    TOOL_FILTER_INCLUDE,
                )
            )
    return findings


def _host_entry_findings(agent: str, entry: Mapping[str, Any], key: str) -> list[Finding]:
    """A host endpoint entry must take its bearer token from the environment, never in clear."""
    auth = _obj(entry.get("headers")).get("Authorization")
    if isinstance(auth, str) and "${" in auth:
        return []
    return [
        Finding(
            "literal-endpoint-token",
            "error",
            agent,
            f"{key}.headers.Authorization is missing or holds a literal token: openclaw.json is readable by "
            "agents, and the token is the endpoint's credential.",
            f'Set {key}.headers.Authorization: "Bearer ${{SIDECAR_TOKEN_...}}" as `sidecar manifest openclaw` '
            "prints it, and put the token in the gateway's environment (--env-file ~/.openclaw/.env).",
            f"{key}.headers.Authorization",
        )
    ]


def _own_sidecar_findings(
    agent_id: str,
    own: Sequence[_Sidecar],
    layers: Sequence[_Layer],
    key: str,
    entry: Mapping[str, Any],
    config: Mapping[str, Any],
    policy: Policy,
) -> list[Finding]:
    name = server_name(agent_id)
    if not own:
        return [
            Finding(
                "missing-sidecar",
                "error",
                agent_id,
                f"{agent_id} is governed by {policy.path} but no mcp.servers entry launches its sidecar.",
                f"Add mcp.servers.{name} to openclaw.json; print it with: sidecar manifest openclaw --agent "
                f"{agent_id} --policy {policy.path}",
                f"mcp.servers.{name}",
            )
        ]
    enabled = [s for s in own if s.enabled]
    if not enabled:
        return [
            Finding(
                "sidecar-disabled",
                "error",
                agent_id,
                f"{agent_id}'s sidecar mcp.servers.{own[0].name} is disabled (enabled: false).",
                f"Remove enabled: false from mcp.servers.{own[0].name} in openclaw.json.",
                f"mcp.servers.{own[0].name}.enabled",
            )
        ]
    sidecar = enabled[0]
    offered = sidecar.offered()
    if not any(_reachable(t, layers, mcp=True) for t in offered):
        blocking = sorted(
            {p for layer in layers for p in layer.deny for t in offered if _covers(p, t, mcp=True)}
        )
        where = f"{key}.tools.deny or tools.deny"
        return [
            Finding(
                "own-sidecar-blocked",
                "error",
                agent_id,
                f"{agent_id} cannot call its own sidecar: OpenClaw's tool policy removes {sidecar.safe}__* "
                f"({', '.join(blocking) or 'an allow list that omits it'}).",
                f"Remove {', '.join(json.dumps(b) for b in blocking)} from {where}, or list "
                f'"{sidecar.safe}__*" in the allow list that omits it.',
                where,
                tuple(blocking),
            )
        ]
    if _sandboxed(entry, config) and not _sandbox_admits(entry, config, offered):
        sandbox_key = f"{key}.tools.sandbox.tools.alsoAllow"
        glob = f"{sidecar.safe}__*"
        return [
            Finding(
                "sandbox-hides-sidecar",
                "warning",
                agent_id,
                f"{agent_id} runs sandboxed and the sandbox tool gate does not admit MCP tools, so its "
                "sidecar's tools are filtered out of sandboxed turns.",
                _add_fix(
                    [glob],
                    sandbox_key,
                    " (setting it replaces tools.sandbox.tools for this agent: copy "
                    "the global entries you still want)",
                ),
                sandbox_key,
                (glob,),
            )
        ]
    return []


def _sandboxed(entry: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    mode = _obj(entry.get("sandbox")).get("mode")
    if mode is None:
        mode = _obj(_obj(_obj(config.get("agents")).get("defaults")).get("sandbox")).get("mode")
    return mode in ("all", "non-main")


def _sandbox_admits(entry: Mapping[str, Any], config: Mapping[str, Any], offered: Sequence[str]) -> bool:
    own = _obj(_obj(_obj(entry.get("tools")).get("sandbox")).get("tools"))
    policy = own or _obj(_obj(_obj(config.get("tools")).get("sandbox")).get("tools"))
    admitted = (*_strings(policy.get("allow")), *_strings(policy.get("alsoAllow")))
    return any(_covers(p, t, mcp=True) for p in admitted for t in offered)


__all__ = ["Finding", "audit_openclaw_config", "sidecar_agent"]
