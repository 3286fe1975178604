"""`CallContext`: what every tool pipeline shares for one agent — its policy, identity, mirror and gateways.

Deciding lives here so that every pipeline decides, and logs the decision, the same way: the pure engine
over the mirror's view (plus every agent a gateway reported), before anything touches the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sidecar.policy import (
    Decision,
    MalformedKey,
    Policy,
    Requester,
    SessionView,
    Tool,
    canonical_key,
    decide,
)
from sidecar.tools._errors import BadCall, Denied, GatewayFault
from sidecar.tools._routing import HOME, GatewayLike, GatewayPool, RoutingError
from sidecar.tools._store import Store


@dataclass
class CallContext:
    policy: Policy
    requester: Requester
    store: Store
    gateways: GatewayPool
    clock: Callable[[], float] = time.time

    def decide(self, tool: Tool, target: str | None, gateway: str = HOME) -> Decision:
        """Decide and log; raise `Denied` on a refusal."""
        started = time.perf_counter_ns()
        decision = decide(self.policy, self.requester, tool, target, self.view())
        self.store.log_decision(
            requester_agent=self.requester.agent_id,
            requester_session=self.requester.session_key,
            tool=tool,
            target=decision.target or decision.target_agent or target,
            outcome="allowed" if decision.allowed else "denied",
            gate=decision.gate,
            source=decision.source,
            gateway=gateway,
            latency_us=(time.perf_counter_ns() - started) // 1000,
        )
        if not decision.allowed:
            raise Denied(decision)
        return decision

    def view(self) -> SessionView:
        return _KnownAgents(self.store.view, self.gateways.all_agents())

    def canonical(self, raw: str) -> str:
        """The canonical key the engine will decide on, or `raw` when it is malformed (the engine refuses it)."""
        try:
            return canonical_key(
                raw,
                requester_key=self.requester.session_key,
                default_agent=self.policy.default_agent,
                main_key=self.policy.main_key,
            ).key
        except MalformedKey:
            return raw

    async def client(self, name: str) -> GatewayLike:
        try:
            return await self.gateways.client(name)
        except RoutingError as exc:
            raise GatewayFault(str(exc)) from None

    def route(self, agent_id: str, explicit: str | None) -> str:
        try:
            return self.gateways.route(agent_id, explicit)
        except RoutingError as exc:
            raise BadCall(str(exc)) from None


@dataclass(frozen=True)
class _KnownAgents:
    """The mirror's view plus every agent any gateway reported."""

    inner: SessionView
    extra: frozenset[str]

    def parent_of(self, key: str) -> str | None:
        return self.inner.parent_of(key)

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self.extra or self.inner.has_agent(agent_id)

    def depth_of(self, key: str) -> int:
        return self.inner.depth_of(key)

    def active_children(self, key: str) -> int:
        return self.inner.active_children(key)
