"""MCP client configs that launch the sidecar, and an audit of an OpenClaw deployment that uses it.

Pure functions: callers pass absolute paths in and get plain data (or text) out, so `sidecar manifest`,
the tests and `sidecar doctor` share one definition of what a correct deployment looks like.

OpenClaw facts this relies on (checked against the pinned 2026.9.6 package, `dist/` and `docs/`):

- An MCP tool is offered to a model as `<safe-server>__<tool>`. The safe server name keeps
  `[A-Za-z0-9_-]`, turns anything else into `-`, prefixes `mcp-` when it does not start with a letter,
  is cut to 30 characters and, on a collision, suffixed `-2`, `-3`, ... in declaration order
  (`agent-bundle-mcp-names`).
- `tools.deny` / `agents.entries.<id>.tools.deny` entries are case-insensitive, anchored `*` globs;
  deny beats allow, and a later layer cannot grant back what an earlier one denied
  (`tool-policy-match`, `glob-pattern`). A deny ending in `*` that covers `<safe-server>__` removes the
  whole server before it is started for that agent (`createMcpServerToolDenyMatcher`).
- `group:sessions` and `group:openclaw` expand to the built-in session tools; `bundle-mcp` and
  `group:plugins` stand for every configured MCP server's tools.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sidecar.deploy._builtins import BUILTIN_SESSION_TOOLS, builtin_findings, close_builtins, openclaw_agents
from sidecar.policy import Policy, semantics_for

CLIENTS = ("openclaw", "claude-desktop", "claude-code", "cursor", "vscode", "codex")
Client = Literal["openclaw", "claude-desktop", "claude-code", "cursor", "vscode", "codex"]

SIDECAR_TOOLS = ("sessions_list", "sessions_history", "sessions_send", "sessions_spawn")
TOOL_FILTER_INCLUDE = ("sessions_*",)
SERVER_PREFIX = "sessions-"
DEFAULT_GATEWAY = "ws://127.0.0.1:18789"
CODEX_STARTUP_TIMEOUT_SEC = 30
# sessions_send waits timeoutSeconds (default 30, at most 3600) for a reply.
CODEX_TOOL_TIMEOUT_SEC = 300

_BUILTIN_GROUPS = frozenset({"group:sessions", "group:openclaw"})
_MCP_GROUPS = frozenset({"bundle-mcp", "group:plugins"})
_SAFE_RE = re.compile(r"[^A-Za-z0-9_-]")
_SAFE_PREFIX_MAX = 30
_SAFE_TOOL_MAX = 64
_CODEX_AGENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

WHERE = {
    "openclaw": "merge into ~/.openclaw/openclaw.json (or $OPENCLAW_CONFIG_PATH), then run: openclaw config "
    "validate",
    "claude-desktop": "merge into claude_desktop_config.json (macOS: ~/Library/Application Support/Claude/, "
    "Windows: %APPDATA%\\Claude\\), then restart Claude Desktop",
    "claude-code": "save as .mcp.json at the project root (or: claude mcp add-json --scope project NAME "
    "'<the entry>'); Claude Code asks once to approve project servers",
    "cursor": "save as .cursor/mcp.json in the project, or ~/.cursor/mcp.json for every project",
    "vscode": "save as .vscode/mcp.json in the workspace (VS Code 1.99+, Copilot agent mode)",
    "codex": "append to ~/.codex/config.toml (or a trusted project's .codex/config.toml)",
}


# -- launching ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """How a client starts one agent's sidecar: an absolute command and its arguments."""

    command: str
    args: tuple[str, ...]


def default_command() -> tuple[str, ...]:
    """This installation's sidecar as an absolute command: the console script beside the running
    interpreter, else the one on PATH, else `<python> -m sidecar`."""
    beside = Path(sys.executable).with_name("sidecar")
    if beside.is_file() and os.access(beside, os.X_OK):
        return (str(beside.absolute()),)
    found = shutil.which("sidecar")
    if found:
        return (str(Path(found).absolute()),)
    return (str(Path(sys.executable).absolute()), "-m", "sidecar")


def launch_for(
    agent_id: str,
    policy_path: str,
    command: Sequence[str],
    gateway: str | None = None,
    extra: Sequence[str] = (),
) -> Launch:
    """`sidecar serve --agent ID --policy FILE [--gateway URL] [extra...]` with `command` as the executable.

    Raises:
        ValueError: the executable or the policy path is not absolute (MCP clients start servers in a
            working directory of their own choosing).
    """
    if not command or not os.path.isabs(command[0]):
        raise ValueError(f"the sidecar executable must be an absolute path, got {command[:1]!r}")
    if not os.path.isabs(policy_path):
        raise ValueError(f"the policy path must be absolute, got {policy_path!r}")
    args = (*command[1:], "serve", "--agent", agent_id, "--policy", policy_path)
    if gateway:
        args = (*args, "--gateway", gateway)
    return Launch(command[0], (*args, *extra))


def server_name(agent_id: str) -> str:
    return f"{SERVER_PREFIX}{agent_id}"


def valid_server_name(name: str) -> bool:
    """A name every client accepts as-is (and Codex as a bare TOML key)."""
    return _NAME_RE.match(name) is not None


# -- OpenClaw tool naming -------------------------------------------------------------------------


def _safe_fragment(raw: str) -> str:
    normalized = _SAFE_RE.sub("-", raw.strip()) or "mcp"
    safe = normalized if re.match(r"^[A-Za-z]", normalized) else f"mcp-{normalized}"
    return safe[:_SAFE_PREFIX_MAX]


def safe_server_names(names: Sequence[str]) -> dict[str, str]:
    """OpenClaw's model-facing prefix for each `mcp.servers` name, assigned in declaration order."""
    used: set[str] = set()
    out: dict[str, str] = {}
    for name in names:
        base = candidate = _safe_fragment(name)
        n = 2
        while candidate.lower() in used:
            suffix = f"-{n}"
            candidate = base[: max(1, _SAFE_PREFIX_MAX - len(suffix))] + suffix
            n += 1
        used.add(candidate.lower())
        out[name] = candidate
    return out


def tool_name(safe_server: str, tool: str) -> str:
    """The name OpenClaw offers (and matches allow/deny against) for one MCP tool."""
    return f"{safe_server}__{tool[: max(1, _SAFE_TOOL_MAX - len(safe_server) - 2)]}"


def glob_matches(pattern: str, name: str) -> bool:
    """OpenClaw's tool-policy match: trimmed, case-insensitive, `*` = any run, anchored."""
    pat, value = pattern.strip().lower(), name.lower()
    if not pat:
        return False
    if pat == "*":
        return True
    if "*" not in pat:
        return pat == value
    return re.fullmatch(".*".join(re.escape(part) for part in pat.split("*")), value) is not None


def _namespace_deny(other_safe: str, own_safe: str) -> list[str]:
    """Deny another sidecar as a whole (`<safe>__*`, which also keeps it from starting), unless that glob
    would catch this agent's own tools too (ids such as `a` and `a__b`); then deny its tools by name."""
    glob = f"{other_safe}__*"
    if any(glob_matches(glob, tool_name(own_safe, t)) for t in SIDECAR_TOOLS):
        return [tool_name(other_safe, t) for t in SIDECAR_TOOLS]
    return [glob]


# -- client configs -------------------------------------------------------------------------------


OPENCLAW_SERVER_ENV = {"DBUS_SESSION_BUS_ADDRESS": "${DBUS_SESSION_BUS_ADDRESS}"}


def openclaw_server(agent_id: str, launch: Launch) -> dict[str, Any]:
    """One `mcp.servers` entry: the sidecar for `agent_id`, exposing only `sessions_*` tools."""
    entry: dict[str, Any] = {
        "command": launch.command,
        "args": list(launch.args),
        "toolFilter": {"include": list(TOOL_FILTER_INCLUDE)},
        # OpenClaw starts stdio servers with a minimal environment; without the session bus address the
        # sidecar cannot reach the Secret Service that holds its device token (Linux; harmless elsewhere).
        "env": dict(OPENCLAW_SERVER_ENV),
    }
    if _CODEX_AGENT_RE.match(agent_id):
        # Codex app-server threads get this server only for its own agent.
        entry["codex"] = {"agents": [agent_id]}
    return entry


def client_config(client: Client, launch: Launch, name: str) -> dict[str, Any]:
    """The config document for one agent's sidecar in `client`'s own shape."""
    entry: dict[str, Any] = {"command": launch.command, "args": list(launch.args)}
    if client == "vscode":
        return {"servers": {name: {"type": "stdio", **entry}}}
    if client == "codex":
        return {
            "mcp_servers": {
                name: {
                    **entry,
                    "startup_timeout_sec": CODEX_STARTUP_TIMEOUT_SEC,
                    "tool_timeout_sec": CODEX_TOOL_TIMEOUT_SEC,
                }
            }
        }
    if client == "claude-code":
        return {"mcpServers": {name: {"type": "stdio", **entry}}}
    if client == "openclaw":
        agent_id = launch.args[launch.args.index("--agent") + 1]
        return {"mcp": {"servers": {name: openclaw_server(agent_id, launch)}}}
    return {"mcpServers": {name: entry}}


class NoMcpClient(ValueError):
    """The OpenClaw release cannot launch MCP servers (no `mcp` key), so no fragment can wire it."""


NON_OPENCLAW_CLIENTS = tuple(c for c in CLIENTS if c != "openclaw")


def fragment_release(version: str | None) -> str:
    """The measured release whose config shape a fragment for `version` takes (default: the newest).

    Raises:
        ValueError: `version` is outside the supported range (the message names it).
        NoMcpClient: the release has no `mcp.servers` (2026.3.x); the message names the clients that work.
    """
    release = semantics_for(version).version
    if release == "2026.3.13":
        shown = version or release
        raise NoMcpClient(
            f"OpenClaw {shown} has no mcp key in openclaw.json (mcp.servers arrived in 2026.4), so it cannot "
            "launch the sidecar as an MCP server and there is no fragment to print. The sidecar still serves "
            f"agents of a {shown} gateway through any other MCP client: {', '.join(NON_OPENCLAW_CLIENTS)} "
            "(sidecar manifest <client> --agent ID --policy FILE). Or upgrade the gateway to 2026.4.12 or later"
        )
    return release


def openclaw_fragment(
    policy: Policy,
    launches: Mapping[str, Launch],
    agents: Sequence[str] | None = None,
    *,
    openclaw_version: str | None = None,
) -> dict[str, Any]:
    """The `openclaw.json` fragment for a fleet: per agent, its sidecar under `mcp.servers.sessions-<id>`
    and `agents.entries.<id>.tools.deny` listing OpenClaw's built-in session tools and every other
    agent's sidecar, so each agent's only way to other sessions is its own sidecar.

    `launches` maps every agent in the policy to its launch; `agents` picks whose entries to emit
    (default: all of them). The denies always cover every agent in the policy. `openclaw_version` picks
    the shape that release validates: before 2026.9 agents are `agents.list[]` entries `{id, tools}`.

    Raises:
        NoMcpClient: the release has no `mcp.servers` (see `fragment_release`).
    """
    release = fragment_release(openclaw_version)
    fleet = list(policy.agent_ids)
    missing = [a for a in fleet if a not in launches]
    if missing:
        raise ValueError(f"no launch given for {', '.join(missing)}")
    chosen = fleet if agents is None else list(agents)
    safe = safe_server_names([server_name(a) for a in fleet])
    servers: dict[str, Any] = {}
    entries: dict[str, Any] = {}
    for agent_id in chosen:
        own = safe[server_name(agent_id)]
        servers[server_name(agent_id)] = openclaw_server(agent_id, launches[agent_id])
        deny = list(BUILTIN_SESSION_TOOLS)
        for other in fleet:
            if other != agent_id:
                deny += _namespace_deny(safe[server_name(other)], own)
        entries[agent_id] = {"tools": {"deny": deny}}
    if release != "2026.9.6":
        listed = [{"id": agent_id, **entry} for agent_id, entry in entries.items()]
        return close_builtins({"mcp": {"servers": servers}, "agents": {"list": listed}})
    return close_builtins({"mcp": {"servers": servers}, "agents": {"entries": entries}})


def openclaw_header(policy_path: str, openclaw_version: str | None = None) -> list[str]:
    """The comment on top of an OpenClaw fragment: where it goes and what each part does."""
    release = semantics_for(openclaw_version).version
    entries = "agents.entries.<id>" if release == "2026.9.6" else "agents.list[] entry {id: <id>}"
    shape = [] if openclaw_version is None else [f"In the shape OpenClaw {openclaw_version} validates."]
    return [
        f"openclaw.json fragment for the agents in {policy_path}, from `sidecar manifest openclaw`.",
        *shape,
        f"Where: {WHERE['openclaw']}.",
        "mcp.servers.sessions-<id>: the sidecar for agent <id>, exposing only its sessions_* tools.",
        *(
            []
            if release == "2026.9.6"
            else [
                "Merge each agents.list entry into the existing entry with the same id (lists do not merge)."
            ]
        ),
        "tools.deny: OpenClaw's built-in session tools, closed for every agent the gateway runs (in the",
        "policy or not: a global deny holds for all of them, and no per-agent allow grants it back).",
        f"{entries}.tools.deny: OpenClaw's built-in session tools and every other agent's sidecar",
        "(tools are named <server>__<tool>), so each agent reaches other sessions only through its own sidecar.",
        "If openclaw.json or an agent already has a tools.deny list, add these entries to it instead of "
        "replacing it.",
        "Pair each agent once first: sidecar pair --gateway URL --agent <id>",
        "env passes the Secret Service's session bus (OpenClaw starts stdio servers with a minimal",
        "environment); run the gateway inside the same D-Bus session the keyring unlocks in.",
    ]


def codex_header(agent_id: str) -> list[str]:
    return [f"Codex config for agent {agent_id}'s sidecar: {WHERE['codex']}."]


# -- rendering ------------------------------------------------------------------------------------


def render(client: Client, config: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """Text to save: JSON for the JSON clients (no comments: Claude Desktop reads strict JSON), JSON5
    with `//` comments for OpenClaw, TOML with `#` comments for Codex."""
    if client == "codex":
        return "".join(f"# {line}\n" for line in header) + to_toml(config)
    body = pretty_json(config) + "\n"
    if client == "openclaw":
        return "".join(f"// {line}\n" for line in header) + body
    return body


def pretty_json(value: Any, indent: int = 0, width: int = 110) -> str:
    """Indented JSON with short lists of scalars kept on one line (still plain, strict JSON)."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, Mapping) and value:
        items = [f"{inner}{json.dumps(k)}: {pretty_json(v, indent + 2, width)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list | tuple) and value:
        flat = json.dumps(list(value), ensure_ascii=False, separators=(", ", ": "))
        if not any(isinstance(v, Mapping | list | tuple) for v in value) and indent + len(flat) <= width:
            return flat
        return "[\n" + ",\n".join(inner + pretty_json(v, indent + 2, width) for v in value) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


def _toml_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(doc: Mapping[str, Any], path: tuple[str, ...] = ()) -> str:
    """Tables of scalars, arrays and inline tables: enough for a Codex `[mcp_servers.<name>]` block."""
    scalars = {k: v for k, v in doc.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in doc.items() if isinstance(v, Mapping)}
    out = ""
    if scalars:
        if path:
            out += "[" + ".".join(_toml_key(p) for p in path) + "]\n"
        out += "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in scalars.items())
    for key, table in tables.items():
        out += to_toml(table, (*path, key))
    return out


# -- auditing an openclaw.json --------------------------------------------------------------------


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
        own_safe = own[0].safe if own else _safe_fragment(server_name(agent_id))

        if agent_id in governed:
            findings += _own_sidecar_findings(agent_id, own, layers, key, entry, config, policy)

        for other in sidecars:
            if other.agent == agent_id or not other.enabled:
                continue
            reachable = [t for t in other.offered() if _reachable(t, layers, mcp=True)]
            if not reachable:
                continue
            values = tuple(_namespace_deny(other.safe, own_safe))
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
