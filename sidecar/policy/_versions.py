"""OpenClaw's session-tool semantics per release: defaults, the tree guard and the exact denial strings.

Each gateway applies its own release's rules, so the engine decides with the semantics of the gateway
the requester lives on (picked from that gateway's hello); without a gateway at hand (`explain`,
`policy show`) it uses the newest supported release unless told otherwise (`--openclaw-version`).

Measured differences (2026.3.13 and 2026.4.12 against 2026.9.6):

* defaults: `tools.sessions.visibility` is `tree` and `tools.agentToAgent.enabled` off before 2026.9
  (which flipped them to `all` and on);
* tree guard: before 2026.9 it is the requester's own session plus its direct children. 2026.9 adds
  that an agent's main session sees every session of its agent, that the requester's own
  subagent/ACP children on other agents stay visible, and hides incognito sessions;
* the cross-agent denial ends after "... to allow cross-agent access." before 2026.9; 2026.9 appends
  "; use tools.agentToAgent to restrict permitted agent pairs.".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_COMMON: dict[str, Any] = {
    "tools.agentToAgent.allow": (),
    "subagents.allowAgents": (),
    "subagents.maxSpawnDepth": 1,
    "subagents.maxChildrenPerAgent": 5,
    "subagents.requireAgentId": False,
    "sandbox.mode": "off",
    "sandbox.sessionToolsVisibility": "spawned",
    "session.mainKey": "main",
}


@dataclass(frozen=True, slots=True)
class Semantics:
    """One OpenClaw release's session-tool rules, as the engine needs them."""

    version: str
    defaults: MappingProxyType[str, Any] = field(repr=False)
    main_sees_agent: bool
    """Under `tree`, a requester that is its agent's main session sees all of that agent's sessions."""
    owned_cross_agent: bool
    """Requester-owned subagent/ACP children on another agent pass the guard under `tree`/`all`."""
    incognito_hidden: bool
    cross_suffix: str
    """What follows "to allow cross-agent access" in the cross-agent visibility denial."""
    refuses_waiting_self_send: bool = False
    """sessions_send to the calling session itself with a wait (timeoutSeconds != 0) is an error (2026.9)."""

    @property
    def label(self) -> str:
        return f"OpenClaw {self.version}"

    def cross_agent_denial(self, prefix: str) -> str:
        return (
            f"{prefix} visibility is restricted. Set tools.sessions.visibility=all to allow cross-agent "
            f"access{self.cross_suffix}"
        )


def _semantics(version: str, *, newest: bool) -> Semantics:
    defaults = dict(_COMMON)
    defaults["tools.sessions.visibility"] = "all" if newest else "tree"
    defaults["tools.agentToAgent.enabled"] = newest
    if newest:
        # 2026.9.6 reads agents.defaults.subagents.maxSpawnDepth ?? 5 for both the spawn depth check and
        # the orchestrator/leaf role (dist/subagent-capabilities-*.mjs, subagent-spawn-ownership-*.mjs).
        defaults["subagents.maxSpawnDepth"] = 5
    return Semantics(
        version=version,
        defaults=MappingProxyType(defaults),
        main_sees_agent=newest,
        owned_cross_agent=newest,
        incognito_hidden=newest,
        cross_suffix="; use tools.agentToAgent to restrict permitted agent pairs." if newest else ".",
        refuses_waiting_self_send=newest,
    )


SEMANTICS: dict[str, Semantics] = {
    "2026.3.13": _semantics("2026.3.13", newest=False),
    "2026.4.12": _semantics("2026.4.12", newest=False),
    "2026.9.6": _semantics("2026.9.6", newest=True),
}
"""Keyed by the measured release; `semantics_for` maps any supported version onto one of these."""
NEWEST = SEMANTICS["2026.9.6"]

_VERSION = re.compile(r"^\s*(?:openclaw\s*)?v?(\d{4})\.(\d{1,2})\.(\d{1,3})\b", re.IGNORECASE)


def _parse(text: str) -> tuple[int, int, int] | None:
    found = _VERSION.match(text or "")
    return (int(found.group(1)), int(found.group(2)), int(found.group(3))) if found else None


def semantics_for(version: str | None) -> Semantics:
    """The semantics of a release: the newest measured one not newer than `version`; None = newest.

    Raises:
        ValueError: `version` is not a version, or outside the supported range (the message names it).
    """
    if version is None or not version.strip():
        return NEWEST
    parsed = _parse(version)
    measured = sorted((_parse(v), s) for v, s in SEMANTICS.items())
    oldest, newest = measured[0][0], measured[-1][0]
    if parsed is None or oldest is None or newest is None or not oldest <= parsed <= newest:
        raise ValueError(
            f"OpenClaw {version.strip()!r} is outside the supported range (OpenClaw "
            f"{measured[0][1].version} to {measured[-1][1].version}); supported releases: "
            f"{', '.join(SEMANTICS)}"
        )
    chosen = measured[0][1]
    for at, sem in measured:
        if at is not None and at <= parsed:
            chosen = sem
    return chosen
