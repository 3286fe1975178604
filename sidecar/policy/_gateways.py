"""Gateways in identities: which gateway holds a target, and how a pattern names an agent on a peer.

An identity is (gateway, agent, session). Gateway names are this policy's own: `home` (or the policy's
`gateway.name`) for the gateway this host's sidecar talks to, and the keys of `gateway.peers` for the
others. Every OpenClaw gateway has an agent `main`, so an agent id alone never says which agent is meant.

Spelling: `jarvis@macbook` names agent `jarvis` on the gateway this policy calls `macbook`. In allow lists,
visibleAgents, allowAgents and receivesFrom a pattern may carry a gateway part (`pepper@imac`,
`*@studio`, `ops@*`). A bare pattern (`pepper`, `dev-*`, `*`) names agents on this host's own gateway, plus
agents the policy itself pins to a peer in `gateway.peers.<name>.agents` (the operator placed them there
by name); it never matches an agent a peer merely reported, and never a remote requester.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sidecar.policy._keys import pattern_matches
from sidecar.policy._model import HOME, Policy

__all__ = ["HOME", "Placement", "place", "principal", "principal_matches", "split_principal"]


class _Holds(Protocol):
    def has_agent(self, agent_id: str, gateway: str | None = None) -> bool: ...


def principal(agent_id: str, gateway: str, policy: Policy | None = None) -> str:
    """How explanations and patterns spell an agent: `jarvis` at home, `pepper@imac` on a peer."""
    if gateway == HOME:
        return agent_id
    return f"{agent_id}@{gateway}"


def split_principal(text: str) -> tuple[str, str | None]:
    """`pepper@imac` -> ("pepper", "imac"); `pepper` -> ("pepper", None)."""
    agent, sep, gateway = text.strip().rpartition("@")
    if not sep:
        return text.strip(), None
    return agent, gateway.strip()


def principal_matches(policy: Policy, patterns: Iterable[str], agent_id: str, gateway: str) -> bool:
    """Whether any pattern names `agent_id` on `gateway` (see the module docstring for the spelling)."""
    for raw in patterns:
        agent_part, gateway_part = split_principal(raw)
        if gateway_part is None:
            if gateway != HOME and agent_id not in policy.pinned(gateway):
                continue
        elif gateway_part != "*" and policy.gateway_of(gateway_part) != gateway:
            continue
        if pattern_matches(agent_part, agent_id):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a target agent lives: `gateway`, or why no single gateway could be named (`problem`)."""

    gateway: str | None
    holders: tuple[str, ...]
    problem: str | None = None


def holders(policy: Policy, view: _Holds, agent_id: str) -> tuple[str, ...]:
    """Every gateway known to hold `agent_id`: pinned in the policy or reported by that gateway itself."""
    return tuple(
        name
        for name in policy.gateway_names
        if agent_id in policy.pinned(name) or view.has_agent(agent_id, name)
    )


def place(policy: Policy, view: _Holds, agent_id: str, explicit: str | None) -> Placement:
    """The gateway a call on `agent_id` goes to. `explicit` is the caller's `gateway` argument.

    Unqualified, an agent the home gateway holds stays home; otherwise the one peer that holds it. An
    explicit gateway must be known and must hold the agent: naming a gateway is never a way to reach an
    agent that is not there.
    """
    found = holders(policy, view, agent_id)
    if explicit is not None:
        name = policy.gateway_of(explicit)
        if name is None:
            return Placement(
                None,
                found,
                f"Unknown gateway {explicit.strip()!r}. Known gateways: {', '.join(policy.gateway_names)} "
                "(peers are named under gateway.peers in the policy file).",
            )
        if name not in found:
            where = ", ".join(found) if found else "no known gateway"
            return Placement(
                None,
                found,
                f"Agent {agent_id!r} is not on gateway {name!r} (it is known on: {where}).",
            )
        return Placement(name, found)
    if HOME in found:
        return Placement(HOME, found)
    if len(found) == 1:
        return Placement(found[0], found)
    if found:
        return Placement(
            None,
            found,
            f"Agent {agent_id!r} exists on several gateways ({', '.join(found)}); pass gateway: "
            '"<name>" to say which one.',
        )
    return Placement(None, found, None)
