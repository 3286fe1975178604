"""Session classes as OpenClaw 2026.9.6 has them, and the tool denials that come with a class.

A call is decided as the session that made it. That session's class is read from its key and the mirror:
the agent's main session, another named session, a subagent (orchestrator or leaf by depth), a cron,
hook or isolated run. OpenClaw gives subagents a fixed deny list (`SUBAGENT_TOOL_DENY_ALWAYS` and
`SUBAGENT_TOOL_DENY_LEAF` in the pinned package's `dist/agent-tools.policy-*.mjs`); it applies before any
configured policy, and a policy can add to it (`tools.subagents.tools.deny`) but never remove from it.

A call whose caller could not be verified is decided as the agent's least privileged class: a leaf
subagent, which may use none of the four tools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from sidecar.policy._keys import SessionKey
from sidecar.policy._model import Policy

ClassName = Literal["main", "named", "orchestrator", "leaf", "cron", "hook", "isolated", "unattested"]
DIST_RULE = "dist/agent-tools.policy-*.mjs"
# Of OpenClaw's fixed lists, the names that are ours (the rest are tools the sidecar does not expose).
DENY_ALWAYS: tuple[str, ...] = ("sessions_send",)
DENY_LEAF: tuple[str, ...] = ("sessions_list", "sessions_history", "sessions_spawn")
_SUBAGENT_SEGMENT = re.compile(r"(^|:)subagent:")
_ISOLATED = re.compile(r"(^|:)run:")


@dataclass(frozen=True, slots=True)
class SessionClass:
    """What kind of session the caller is, and why: the facts `explain` shows."""

    name: ClassName
    depth: int = 0
    max_depth: int = 0
    reason: str = ""

    @property
    def is_subagent(self) -> bool:
        return self.name in ("orchestrator", "leaf", "unattested")

    def describe(self) -> str:
        if self.name == "unattested":
            return f"unverified caller, decided as a leaf subagent ({self.reason})"
        if self.name in ("orchestrator", "leaf"):
            return f"{self.name} subagent (depth {self.depth}, maxSpawnDepth {self.max_depth})"
        return {
            "main": "the agent's main session",
            "named": "a named session of the agent (not its main session)",
            "cron": "a cron run",
            "hook": "a hook run",
            "isolated": "an isolated run",
        }[self.name]


def subagent_depth(key: SessionKey, stored: int) -> int:
    """OpenClaw's depth: the stored spawnDepth when known, else one per `subagent:` segment of the key."""
    segments = len(_SUBAGENT_SEGMENT.findall(key.rest))
    return max(stored, segments)


def classify(
    policy: Policy, key: SessionKey, stored_depth: int, unattested: str | None = None
) -> SessionClass:
    """The class of the calling session `key` (`stored_depth` from the mirror, 0 when unknown)."""
    limit = max(1, policy.for_agent(key.agent_id).max_spawn_depth.value)
    if unattested is not None:
        return SessionClass("unattested", limit, limit, unattested)
    rest = key.rest
    if rest.startswith(("subagent:", "acp:")) or _SUBAGENT_SEGMENT.search(rest):
        depth = max(1, subagent_depth(key, stored_depth))
        # resolveSubagentRoleForDepth: an orchestrator while depth < maxSpawnDepth, a leaf from there on
        return SessionClass("orchestrator" if depth < limit else "leaf", depth, limit)
    if rest == policy.main_key:
        return SessionClass("main")
    if rest.startswith("cron:"):
        return SessionClass("isolated" if _ISOLATED.search(rest) else "cron")
    if rest.startswith("hook:"):
        return SessionClass("hook")
    return SessionClass("named")


def configured_subagent_deny(policy: Policy) -> tuple[str, tuple[str, ...]] | None:
    """`tools.subagents.tools.deny` from the policy, else from openclaw.json: (source, names)."""
    for doc in (policy.doc, policy.openclaw):
        if doc is None:
            continue
        found: Any = doc.data
        for part in ("tools", "subagents", "tools", "deny"):
            found = found.get(part) if isinstance(found, dict) else None
        if isinstance(found, list):
            keys = ("tools", "subagents", "tools", "deny")
            line = doc.line_of(keys)
            where = f"{doc.path}:{line}" if line else doc.path
            return (f"{where} tools.subagents.tools.deny", tuple(str(v) for v in found))
    return None


def class_denial(policy: Policy, cls: SessionClass, tool: str) -> tuple[str, str, str] | None:
    """(message, source, fix) when the caller's class may not use `tool` at all, else None."""
    if not cls.is_subagent:
        return None
    leaf = cls.name in ("leaf", "unattested")
    if tool in DENY_ALWAYS:
        rule = f"{policy.semantics.label}'s fixed subagent deny (SUBAGENT_TOOL_DENY_ALWAYS in {DIST_RULE})"
        why = f"{tool} is never available to subagent sessions"
    elif leaf and tool in DENY_LEAF:
        rule = f"{policy.semantics.label}'s fixed leaf-subagent deny (SUBAGENT_TOOL_DENY_LEAF in {DIST_RULE})"
        why = (
            f"{tool} is not available to leaf subagents (depth {cls.depth} >= maxSpawnDepth {cls.max_depth})"
        )
    else:
        configured = configured_subagent_deny(policy)
        if configured is None or tool not in configured[1]:
            return None
        source, _ = configured
        return (
            f"{tool} is denied to subagent sessions by tools.subagents.tools.deny.",
            source,
            f"Remove {tool!r} from tools.subagents.tools.deny ({source}) to let orchestrator subagents use it.",
        )
    if cls.name == "unattested":
        return (
            f"The sidecar could not verify which session made this call ({cls.reason}), so it was decided as "
            f"the agent's least privileged session class, a leaf subagent: {why}.",
            rule,
            "Wire the caller attestation: load the sidecar's OpenClaw plugin (plugins.load.paths and "
            "plugins.entries.openclaw-sessions-sidecar from `sidecar manifest openclaw`), make sure its key file "
            "is the one `sidecar host` uses, and run `sidecar doctor` to check the chain.",
        )
    if tool in DENY_ALWAYS:
        fix = (
            "A subagent reports back by finishing its run (the result is announced to its requester); send "
            "from the requester's own session instead. No policy can widen OpenClaw's fixed subagent deny."
        )
    else:
        fix = (
            f"Call {tool} from the requester's session, or raise agents.defaults.subagents.maxSpawnDepth above "
            f"{cls.depth} in openclaw.json (and in {policy.path}) so subagents at this depth are orchestrators."
        )
    return (f"{why}: {rule}.", rule, fix)
