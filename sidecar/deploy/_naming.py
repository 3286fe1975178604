"""How OpenClaw names the sidecar's MCP tools, and how its tool policy matches those names.

Checked against the pinned 2026.9.6 package (`dist/` and `docs/`):

- An MCP tool is offered to a model as `<safe-server>__<tool>`. The safe server name keeps
  `[A-Za-z0-9_-]`, turns anything else into `-`, prefixes `mcp-` when it does not start with a letter,
  is cut to 30 characters and, on a collision, suffixed `-2`, `-3`, ... in declaration order
  (`agent-bundle-mcp-names`).
- `tools.deny` / `agents.entries.<id>.tools.deny` entries are case-insensitive, anchored `*` globs;
  deny beats allow, and a later layer cannot grant back what an earlier one denied
  (`tool-policy-match`, `glob-pattern`). A deny ending in `*` that covers `<safe-server>__` removes the
  whole server before it is started for that agent (`createMcpServerToolDenyMatcher`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sidecar.deploy._builtins import BUILTIN_SESSION_TOOLS

SIDECAR_TOOLS = ("sessions_list", "sessions_history", "sessions_send", "sessions_spawn")
SERVER_PREFIX = "sessions-"

_SAFE_RE = re.compile(r"[^A-Za-z0-9_-]")
_SAFE_PREFIX_MAX = 30
_SAFE_TOOL_MAX = 64
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def server_name(agent_id: str) -> str:
    return f"{SERVER_PREFIX}{agent_id}"


def valid_server_name(name: str) -> bool:
    """A name every client accepts as-is (and Codex as a bare TOML key)."""
    return _NAME_RE.match(name) is not None


def safe_fragment(raw: str) -> str:
    normalized = _SAFE_RE.sub("-", raw.strip()) or "mcp"
    safe = normalized if re.match(r"^[A-Za-z]", normalized) else f"mcp-{normalized}"
    return safe[:_SAFE_PREFIX_MAX]


def safe_server_names(names: Sequence[str]) -> dict[str, str]:
    """OpenClaw's model-facing prefix for each `mcp.servers` name, assigned in declaration order."""
    used: set[str] = set()
    out: dict[str, str] = {}
    for name in names:
        base = candidate = safe_fragment(name)
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


def namespace_deny(other_safe: str, own_safe: str) -> list[str]:
    """Deny another sidecar as a whole (`<safe>__*`, which also keeps it from starting), unless that glob
    would catch this agent's own tools too (ids such as `a` and `a__b`); then deny its tools by name."""
    glob = f"{other_safe}__*"
    if any(glob_matches(glob, tool_name(own_safe, t)) for t in SIDECAR_TOOLS):
        return [tool_name(other_safe, t) for t in SIDECAR_TOOLS]
    return [glob]


__all__ = [
    "BUILTIN_SESSION_TOOLS",
    "SERVER_PREFIX",
    "SIDECAR_TOOLS",
    "glob_matches",
    "namespace_deny",
    "safe_fragment",
    "safe_server_names",
    "server_name",
    "tool_name",
    "valid_server_name",
]
