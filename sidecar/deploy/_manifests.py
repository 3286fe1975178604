"""MCP client configs that launch the sidecar: one agent's entry per client, and the OpenClaw fragment.

Pure functions: callers pass absolute paths in and get plain data (or text) out. How OpenClaw names the
tools and matches its denies is in `_naming.py`; the audit of a deployed openclaw.json in `_audit.py`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sidecar.deploy._builtins import close_builtins
from sidecar.deploy._naming import BUILTIN_SESSION_TOOLS, namespace_deny, safe_server_names, server_name
from sidecar.policy import Policy, semantics_for

CLIENTS = ("openclaw", "claude-desktop", "claude-code", "cursor", "vscode", "codex")
Client = Literal["openclaw", "claude-desktop", "claude-code", "cursor", "vscode", "codex"]

TOOL_FILTER_INCLUDE = ("sessions_*",)
STDIO_IDLE_TTL_MS = 900_000
DEFAULT_GATEWAY = "ws://127.0.0.1:18789"
CODEX_STARTUP_TIMEOUT_SEC = 30
# sessions_send waits timeoutSeconds (default 30, at most 3600) for a reply.
CODEX_TOOL_TIMEOUT_SEC = 300

_CODEX_AGENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

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
                deny += namespace_deny(safe[server_name(other)], own)
        entries[agent_id] = {"tools": {"deny": deny}}
    if release != "2026.9.6":
        listed = [{"id": agent_id, **entry} for agent_id, entry in entries.items()]
        return close_builtins({"mcp": {"servers": servers}, "agents": {"list": listed}})
    # OpenClaw starts a stdio server per session and, unless told, never retires one.
    mcp = {"servers": servers, "sessionIdleTtlMs": STDIO_IDLE_TTL_MS}
    return close_builtins({"mcp": mcp, "agents": {"entries": entries}})


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
        "Trust: OpenClaw tells a stdio server nothing about which session calls, so every session of <id>,",
        "its subagents included, is decided as <id>'s main session (OpenClaw itself never gives a subagent",
        "sessions_send). For decisions per calling session use the host: `sidecar manifest openclaw` without",
        "--via stdio (OpenClaw 2026.9.6).",
        *(
            [
                f"mcp.sessionIdleTtlMs: OpenClaw starts one sidecar process per session; this retires one idle "
                f"for {STDIO_IDLE_TTL_MS // 60_000} minutes."
            ]
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


__all__ = [
    "CLIENTS",
    "DEFAULT_GATEWAY",
    "TOOL_FILTER_INCLUDE",
    "WHERE",
    "Client",
    "Launch",
    "NoMcpClient",
    "client_config",
    "codex_header",
    "default_command",
    "fragment_release",
    "launch_for",
    "openclaw_fragment",
    "openclaw_header",
    "render",
]
