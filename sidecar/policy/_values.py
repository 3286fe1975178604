"""Resolved values (each with the key and file it came from), one agent's resolved policy, and a peer.

`Policy` (in `_model`) builds these from the policy file, openclaw.json and the release's defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sidecar.policy._versions import NEWEST

T = TypeVar("T")
Origin = Literal["agent", "sidecar", "openclaw", "default"]
OPENCLAW_VERSION = NEWEST.label

# The newest release's values when a key is unset. Note the 2026.9 flip: visibility `all` and
# agent-to-agent on, so an unset config is wide open (older releases default to `tree` and off; see
# `Semantics.defaults` for each).
OPENCLAW_DEFAULTS: dict[str, Any] = dict(NEWEST.defaults)
# The sidecar's own keys (not OpenClaw's): their defaults are the sidecar's.
SIDECAR_DEFAULTS: dict[str, Any] = {
    "mode": "enforce",
    "limits.sendsPerDay": None,
    "limits.spawnsPerHour": None,
    "limits.maxActiveChildren": None,
    "limits.maxHops": 8,
    "limits.sendsPerMinute": 30,
}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value came from: a file and key path, or OpenClaw's default."""

    origin: Origin
    key: str
    file: str | None = None
    line: int | None = None
    release: str = OPENCLAW_VERSION
    """For a default: the OpenClaw release whose default it is, e.g. `OpenClaw 2026.3.13`."""

    def describe(self, value: Any) -> str:
        shown = _show(value)
        if self.origin == "default" and self.key in SIDECAR_DEFAULTS:
            return f"default (sidecar): {self.key} = {shown if value is not None else 'unlimited'}"
        if self.origin == "default":
            return f"default ({self.release}): {self.key} = {shown}"
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where} {self.key} = {shown}"


@dataclass(frozen=True, slots=True)
class Resolved(Generic[T]):
    value: T
    source: Source

    def describe(self) -> str:
        # Every decision names its deciding key this way, and the answer never changes: keep it (keyed by
        # identity, holding the object, so an address is never reused while its entry lives).
        held = _DESCRIBED.get(id(self))
        if held is not None and held[0] is self:
            return held[1]
        text = self.source.describe(self.value)
        if len(_DESCRIBED) >= 4096:
            _DESCRIBED.clear()
        _DESCRIBED[id(self)] = (self, text)
        return text

    @property
    def is_default(self) -> bool:
        return self.source.origin == "default"


_DESCRIBED: dict[int, tuple[Resolved[Any], str]] = {}


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    if value is None:
        return "unset"
    return json.dumps(value)


@dataclass(frozen=True)
class AgentPolicy:
    """Everything the engine needs about one agent, resolved once."""

    agent_id: str
    visibility: Resolved[str]
    send_visibility: Resolved[str]
    visible_agents: Resolved[tuple[str, ...]]
    a2a_enabled: Resolved[bool]
    allow: Resolved[tuple[str, ...]]
    receives_from: Resolved[tuple[str, ...] | None]
    spawn_allow: Resolved[tuple[str, ...]]
    max_spawn_depth: Resolved[int]
    max_children: Resolved[int]
    require_agent_id: Resolved[bool]
    sandbox_mode: Resolved[str]
    sandbox_clamp: Resolved[str]
    mode: Resolved[str]
    sends_per_day: Resolved[int | None]
    spawns_per_hour: Resolved[int | None]
    max_active_children: Resolved[int | None]
    max_hops: Resolved[int]
    sends_per_minute: Resolved[int]

    @property
    def observing(self) -> bool:
        """Observe mode: decisions are made and logged as usual, but would-be denials are let through."""
        return self.mode.value == "observe"

    acknowledge_open: Resolved[bool] | None = None
    """Set (`acknowledgeOpen: true` in the agent's entry) when reaching every agent is intended."""

    @property
    def allow_is_per_agent(self) -> bool:
        """A per-agent allow list scopes this agent's targets only; the global one needs both sides."""
        return self.allow.source.origin == "agent"

    def values(self) -> dict[str, Resolved[Any]]:
        return {
            "tools.sessions.visibility": self.visibility,
            "tools.sessions.sendVisibility": self.send_visibility,
            "tools.sessions.visibleAgents": self.visible_agents,
            "tools.agentToAgent.enabled": self.a2a_enabled,
            "tools.agentToAgent.allow": self.allow,
            "tools.agentToAgent.receivesFrom": self.receives_from,
            "subagents.allowAgents": self.spawn_allow,
            "subagents.maxSpawnDepth": self.max_spawn_depth,
            "subagents.maxChildrenPerAgent": self.max_children,
            "subagents.requireAgentId": self.require_agent_id,
            "sandbox.mode": self.sandbox_mode,
            "sandbox.sessionToolsVisibility": self.sandbox_clamp,
            "mode": self.mode,
            "limits.sendsPerDay": self.sends_per_day,
            "limits.spawnsPerHour": self.spawns_per_hour,
            "limits.maxActiveChildren": self.max_active_children,
            "limits.maxHops": self.max_hops,
            "limits.sendsPerMinute": self.sends_per_minute,
        }


HOME = "home"
PeerMode = Literal["sidecar", "direct"]


@dataclass(frozen=True)
class Peer:
    """Another host's gateway, named in `gateway.peers`.

    `sidecar` mode (the default) reaches that host's own sidecar, which decides again under its own policy
    and alone talks to its gateway. `direct` mode (`direct: true`, a warned opt-in) pairs a device of this
    host with the peer's gateway itself: whoever controls this host then acts on that gateway.
    """

    name: str
    url: str
    agents: tuple[str, ...]
    allow_insecure: bool = False
    sidecar: str | None = None
    mode: PeerMode = "sidecar"
