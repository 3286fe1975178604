"""What the engine decides about and with: tools and gates, the session view, the requester, a Decision.

`Trace` and `Denier` are the engine's own helpers for `decide` and its gate modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

from sidecar.policy import _operations
from sidecar.policy._gateways import principal
from sidecar.policy._keys import MalformedKey, SessionKey, parse_agent_key
from sidecar.policy._model import HOME, Resolved

Tool = Literal["sessions_list", "sessions_history", "sessions_send", "sessions_spawn"]
TOOLS: tuple[Tool, ...] = ("sessions_list", "sessions_history", "sessions_send", "sessions_spawn")
GATES = (
    "pause",
    "session-class",
    "unknown-target",
    "sandbox",
    "visibility",
    "agent-to-agent",
    "allow-list",
    "receives-from",
    "spawn-allow",
    *_operations.SEND_GUARD_GATES,
    *_operations.BUDGET_GATES,
)
Action = Literal["history", "send", "list"]
ACTION: dict[str, Action] = {"sessions_history": "history", "sessions_send": "send", "sessions_list": "list"}
PREFIX = {"history": "Session history", "send": "Session send", "list": "Session list"}
A2A_NOUN = {
    "history": ("history", "access"),
    "send": ("messaging", "sends"),
    "list": ("listing", "visibility"),
}


class SessionView(Protocol):
    """Read-only facts about sessions that the engine needs (the mirror implements this).

    Sessions are named by (gateway, key): the same key on two gateways is two sessions. `owner_of` says
    which session spawned one, as (gateway, key), so a child is owned only by a parent on the gateway the
    fact came from (or one this host recorded itself). `has_agent` with no gateway means any gateway.
    """

    def parent_of(self, key: str, gateway: str = HOME) -> str | None: ...

    def owner_of(self, key: str, gateway: str = HOME) -> tuple[str, str] | None: ...

    def has_agent(self, agent_id: str, gateway: str | None = None) -> bool: ...

    def depth_of(self, key: str, gateway: str = HOME) -> int: ...

    def active_children(self, key: str, gateway: str = HOME) -> int: ...


@dataclass(frozen=True)
class StaticView:
    """A SessionView over plain dicts: for `explain`, tests and benchmarks.

    `agents` and `parents` describe the home gateway; `peer_agents` maps a peer to its agents and
    `peer_parents` maps (gateway, key) to the (gateway, key) that spawned it.
    """

    agents: frozenset[str] = frozenset()
    parents: dict[str, str] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)
    peer_agents: dict[str, frozenset[str]] = field(default_factory=dict)
    peer_parents: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    depths: dict[str, int] = field(default_factory=dict)

    def owner_of(self, key: str, gateway: str = HOME) -> tuple[str, str] | None:
        found = self.peer_parents.get((gateway, key))
        if found is None and gateway == HOME and key in self.parents:
            found = (HOME, self.parents[key])
        return found

    def parent_of(self, key: str, gateway: str = HOME) -> str | None:
        owner = self.owner_of(key, gateway)
        return None if owner is None else owner[1]

    def has_agent(self, agent_id: str, gateway: str | None = None) -> bool:
        if gateway is None:
            return agent_id in self.agents or any(agent_id in a for a in self.peer_agents.values())
        if gateway == HOME:
            return agent_id in self.agents
        return agent_id in self.peer_agents.get(gateway, frozenset())

    def depth_of(self, key: str, gateway: str = HOME) -> int:
        if gateway == HOME and key in self.depths:
            return self.depths[key]
        depth = 0
        node: tuple[str, str] | None = (gateway, key)
        while node is not None and (node := self.owner_of(node[1], node[0])) and depth < 64:
            depth += 1
        return depth

    def active_children(self, key: str, gateway: str = HOME) -> int:
        return self.running.get(key, 0) if gateway == HOME else 0


@dataclass(frozen=True, slots=True)
class Requester:
    """The agent a sidecar serves and its session, both from launch configuration, never from arguments.

    `gateway` is the gateway the requester lives on, in this policy's names: `home` for the agent this
    sidecar serves; a peer's name for a call that peer's sidecar forwarded (set from the peer's
    authenticated identity, never from what the peer claims).

    The session comes from launch configuration or OpenClaw's attestation (the multi-session host).
    `unattested` holds why a call's caller could not be verified; such a call is decided as the agent's
    least privileged session class.
    """

    agent_id: str
    session_key: str
    key: SessionKey = field(compare=False, repr=False, default=SessionKey("", "", ""))
    gateway: str = HOME
    unattested: str | None = None

    @classmethod
    def of(
        cls, agent_id: str, session_key: str | None = None, main_key: str = "main", *, gateway: str = HOME
    ) -> Requester:
        key = parse_agent_key((session_key or f"agent:{agent_id}:{main_key}").strip().lower())
        if key.agent_id != agent_id:
            raise MalformedKey(key.key, f"the session belongs to agent {key.agent_id!r}, not {agent_id!r}")
        return cls(agent_id, key.key, key, gateway)

    @classmethod
    def unverified(cls, agent_id: str, reason: str) -> Requester:
        """A caller of `agent_id` whose session is unknown: decided as the least privileged class."""
        key = parse_agent_key(f"agent:{agent_id}:unattested")
        return cls(agent_id, key.key, key, unattested=reason)

    @property
    def principal(self) -> str:
        """`jarvis` at home, `jarvis@macbook` for a peer's agent."""
        return principal(self.agent_id, self.gateway)


@dataclass(frozen=True, slots=True)
class Check:
    gate: str
    outcome: Literal["pass", "fail", "n/a", "not reached", "not checked"]  # not checked: explain, offline
    detail: str = ""
    sources: tuple[str, ...] = ()


class Decision(NamedTuple):
    """One decision. A named tuple: built on every call, and a tuple is built several times faster than a
    frozen dataclass (one `object.__setattr__` per field), while staying just as immutable."""

    allowed: bool
    tool: Tool
    requester: Requester
    target: str | None
    target_agent: str | None
    gate: str | None = None
    message: str | None = None
    source: str | None = None
    fix: str | None = None
    checks: tuple[Check, ...] = ()
    target_gateway: str | None = None
    side: Literal["outbound", "inbound"] = "outbound"
    # Observe mode: the call is let through, but `gate`, `message`, `source` and `fix` say what would
    # have refused it under enforce.
    would_deny: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "tool": self.tool,
            "requester": {
                "agentId": self.requester.agent_id,
                "sessionKey": self.requester.session_key,
                "gateway": self.requester.gateway,
                "attested": self.requester.unattested is None,
            },
            "target": self.target,
            "targetAgent": self.target_agent,
            "targetGateway": self.target_gateway,
            "side": self.side,
            "gate": self.gate,
            "message": self.message,
            "source": self.source,
            "fix": self.fix,
            "wouldDeny": self.would_deny,
            "checks": [
                {"gate": c.gate, "outcome": c.outcome, "detail": c.detail, "sources": list(c.sources)}
                for c in self.checks
            ],
        }


class Trace:
    """Collects per-gate outcomes for `explain`; a no-op on the hot path."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.checks: list[Check] = []

    def add(
        self, gate: str, outcome: Literal["pass", "fail", "n/a"], detail: str, *values: Resolved[Any]
    ) -> None:
        if self.enabled:
            self.checks.append(Check(gate, outcome, detail, tuple(v.describe() for v in values)))

    def finish(self) -> tuple[Check, ...]:
        if not self.enabled:
            return ()
        seen = {c.gate for c in self.checks}
        failed = any(c.outcome == "fail" for c in self.checks)
        rest = [Check(g, "not reached" if failed else "n/a") for g in GATES if g not in seen]
        order = {g: i for i, g in enumerate(GATES)}
        return tuple(sorted((*self.checks, *rest), key=lambda c: order[c.gate]))


class Denier:
    def __init__(self, tool: Tool, requester: Requester, trace: Trace) -> None:
        self.tool = tool
        self.requester = requester
        self.trace = trace
        self.gateway: str | None = None

    def __call__(
        self,
        gate: str,
        message: str,
        source: str,
        fix: str,
        target_key: str | None,
        target_agent: str | None,
        detail: str = "",
        *values: Resolved[Any],
    ) -> Decision:
        self.trace.add(gate, "fail", detail or message, *values)
        return Decision(
            False,
            self.tool,
            self.requester,
            target_key,
            target_agent,
            gate,
            message,
            source,
            fix,
            self.trace.finish(),
            self.gateway,
        )
