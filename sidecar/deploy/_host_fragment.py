"""The OpenClaw fragment for the multi-session host: HTTP servers, the attestation plugin, the denies.

Every agent's `mcp.servers.sessions-<id>` entry points at the host's endpoint for that agent; its bearer
credential is `${SIDECAR_TOKEN_<ID>}`, which OpenClaw fills from its own environment (or `~/.openclaw/.env`)
at config load, so no credential sits in openclaw.json. The plugin entry names only the key file's path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sidecar.deploy._builtins import close_builtins
from sidecar.deploy._manifests import TOOL_FILTER_INCLUDE
from sidecar.deploy._naming import BUILTIN_SESSION_TOOLS, namespace_deny, safe_server_names, server_name
from sidecar.policy import Policy

PLUGIN_ID = "openclaw-sessions-sidecar"
PLUGIN_DIR = Path(__file__).resolve().parent / "openclaw_plugin"


def token_env(agent_id: str) -> str:
    """The environment variable OpenClaw reads `agent_id`'s endpoint token from."""
    return "SIDECAR_TOKEN_" + re.sub(r"[^A-Z0-9]", "_", agent_id.upper())


def host_fragment(
    policy: Policy, base_url: str, key_file: Path, agents: Sequence[str] | None = None
) -> dict[str, Any]:
    """`mcp.servers` (one HTTP entry per agent), `plugins` (load path + attestation config), `tools.deny`
    (the built-in session tools, for every agent the gateway runs) and `agents.entries.<id>.tools.deny`
    (built-in session tools and every other agent's server)."""
    fleet = list(policy.agent_ids)
    names = [token_env(a) for a in fleet]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ValueError(f"agent ids map to the same variable {', '.join(clash)}; rename one of them")
    chosen = fleet if agents is None else list(agents)
    safe = safe_server_names([server_name(a) for a in fleet])
    servers: dict[str, Any] = {}
    entries: dict[str, Any] = {}
    for agent_id in chosen:
        servers[server_name(agent_id)] = {
            "url": f"{base_url.rstrip('/')}/agents/{agent_id}/mcp",
            "transport": "streamable-http",
            "headers": {"Authorization": "Bearer ${" + token_env(agent_id) + "}"},
            "toolFilter": {"include": list(TOOL_FILTER_INCLUDE)},
        }
        own = safe[server_name(agent_id)]
        deny = list(BUILTIN_SESSION_TOOLS)
        for other in fleet:
            if other != agent_id:
                deny += namespace_deny(safe[server_name(other)], own)
        entries[agent_id] = {"tools": {"deny": deny}}
    plugin = {
        "enabled": True,
        "config": {"keyFile": str(key_file), "servers": {safe[server_name(a)]: a for a in fleet}},
    }
    return close_builtins(
        {
            "mcp": {"servers": servers},
            "plugins": {"load": {"paths": [str(PLUGIN_DIR)]}, "entries": {PLUGIN_ID: plugin}},
            "agents": {"entries": entries},
        }
    )


def host_header(policy_path: str, env_file: str | None) -> list[str]:
    where = (
        f"the tokens were written to {env_file}"
        if env_file
        else "write them with --env-file ~/.openclaw/.env (or into the gateway service's environment)"
    )
    return [
        f"openclaw.json fragment for the agents in {policy_path}, served by ONE sidecar host process.",
        "Start it first: sidecar up --policy " + policy_path + "   (sidecar status / sidecar down)",
        "mcp.servers.sessions-<id>: agent <id>'s endpoint on the host (streamable HTTP, loopback); its bearer",
        f"token comes from ${{SIDECAR_TOKEN_<ID>}} in the gateway's environment: {where}.",
        f"plugins: loads the sidecar's attestation plugin ({PLUGIN_ID}); its before_tool_call hook signs",
        "each call of a sessions-<id>__* tool with the calling session (HMAC, key file named by path only).",
        "Without it every call is decided as the agent's least privileged class. If you use plugins.allow,",
        f"add {PLUGIN_ID!r} to it. OpenClaw logs that it cannot verify where this local plugin came from.",
        "tools.deny: OpenClaw's built-in session tools, closed for every agent the gateway runs (in the",
        "policy or not: a global deny holds for all of them, and no per-agent allow grants it back).",
        "agents.entries.<id>.tools.deny: OpenClaw's built-in session tools and every other agent's server.",
        "If openclaw.json or an agent already has a tools.deny list, add these entries to it instead of "
        "replacing it.",
        "No mcp.sessionIdleTtlMs is needed: sessions add no processes.",
    ]


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Set `values` in a dotenv file (0600), keeping its other lines."""
    import os

    lines: list[str] = []
    if path.exists():
        lines = [
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.split("=", 1)[0].strip() not in values
        ]
    lines += [f"{k}={v}" for k, v in values.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


__all__ = ["PLUGIN_DIR", "PLUGIN_ID", "host_fragment", "host_header", "token_env", "write_env_file"]
