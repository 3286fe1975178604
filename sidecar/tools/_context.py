"""`CallContext`: what every tool pipeline shares for one agent — its policy, identity, mirror and gateways.

Deciding lives here so that every pipeline decides, and logs the decision, the same way: the pure engine
over the mirror's view (plus every agent a gateway reported), before anything touches the network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio

from sidecar import telemetry
from sidecar.peers import PeerAuthError, PeerCallFailed, PeerDenied, PeerLinks, PeerUnreachable
from sidecar.policy import (
    TOOLS,
    Decision,
    MalformedKey,
    Policy,
    Requester,
    SessionView,
    Tool,
    Usage,
    canonical_key,
    decide,
    semantics_for,
)
from sidecar.tools._errors import BadCall, Denied, GatewayFault
from sidecar.tools._forwarding import note_decided
from sidecar.tools._routing import HOME, GatewayLike, GatewayPool, RoutingError
from sidecar.tools._store import Store

if TYPE_CHECKING:
    from sidecar.peers import PeerClient

log = logging.getLogger("sidecar")
MALFORMED = "<malformed>"
UsageSource = Callable[[Tool], Usage]


@dataclass
class CallContext:
    policy: Policy
    requester: Requester
    store: Store
    gateways: GatewayPool
    clock: Callable[[], float] = time.time
    peers: PeerLinks | None = None
    # The operator's facts for this agent (pause, counts against its budgets), read fresh for each call.
    usage: UsageSource | None = None
    _learned: set[str] = field(default_factory=set, repr=False)
    _by_release: dict[str, Policy] = field(default_factory=dict, repr=False)

    def adopt(self, policy: Policy) -> None:
        """Decide from the next call on by `policy` (and the per-release views derived from it)."""
        self.policy = policy
        self._by_release.clear()

    def effective_policy(self) -> Policy:
        """The policy under the semantics of the requester's own gateway (home): its OpenClaw release as
        its hello reported it (this run or, until home answers, the last run's), else the newest."""
        release = self.gateways.release_of(HOME)
        if release is None:
            return self.policy
        held = self._by_release.get(release)
        if (
            held is None
            or held.default_agent != self.policy.default_agent
            or held.main_key != self.policy.main_key
        ):
            held = self._by_release[release] = self.policy.for_release(semantics_for(release))
        return held

    def via_sidecar(self, gateway: str) -> bool:
        """Whether `gateway` is a peer reached through its own sidecar (never through its gateway)."""
        peer = self.policy.peer(gateway)
        return peer is not None and peer.mode == "sidecar"

    def peer(self, gateway: str) -> PeerClient:
        """The client for a sidecar peer; a missing secret or address is a fault naming the fix."""
        if self.peers is None:
            raise GatewayFault(f"peer {gateway} is reached through its sidecar, but no peer links are set up")
        try:
            return self.peers.client(gateway)
        except PeerAuthError as exc:
            raise GatewayFault(str(exc)) from None

    def decide(
        self,
        tool: Tool,
        target: str | None,
        gateway: str | None = None,
        *,
        facts: Mapping[str, Any] | None = None,
        final: bool = True,
    ) -> Decision:
        """Decide and log; raise `Denied` on a refusal. `gateway` is the caller's explicit `gateway`
        argument; the decision's `target_gateway` says where the target is (route the call there). In
        observe mode a would-be denial is let through, logged (decision log and a warning) with its gate,
        source and fix.

        `facts` are this call's own facts for the send guards (`Usage` fields: whether it waits, the sends
        of the last minute, its hop). With `final=False` an allowed decision is not logged: the caller
        decides again once it knows more (a send's hop), and that decision is the one logged; a refusal is
        always logged and raised at once."""
        started = time.perf_counter_ns()
        if telemetry.enabled() and final:
            with telemetry.span("sidecar.decide", **{"sidecar.tool": tool}):
                decision = self.evaluate(tool, target, gateway, facts=facts)
                outcome = "allowed" if decision.allowed else "denied"
                telemetry.decided(tool, outcome, decision.gate, (time.perf_counter_ns() - started) / 1e9)
        else:
            decision = self.evaluate(tool, target, gateway, facts=facts)
        return self.settle(tool, target, decision, started, final=final)

    def evaluate(
        self,
        tool: Tool,
        target: str | None,
        gateway: str | None = None,
        *,
        facts: Mapping[str, Any] | None = None,
    ) -> Decision:
        """The decision `decide` makes (this call's usage and `facts` included), neither logged nor raised."""
        usage = self.usage(tool) if self.usage is not None else None
        if facts:
            usage = replace(usage or Usage(), **facts)
        return decide(
            self.effective_policy(), self.requester, tool, target, self.view(), gateway=gateway, usage=usage
        )

    def settle(
        self, tool: Tool, target: str | None, decision: Decision, started: int, *, final: bool = True
    ) -> Decision:
        """The rest of `decide` for a decision `evaluate` made (timed from `started`, perf_counter_ns):
        log it, raise `Denied` on a refusal; with `final=False` an allowed decision is returned unlogged."""
        if decision.allowed and not final:
            return decision
        if telemetry.enabled() and not final:  # a provisional decision that refused: it is the one reported
            with telemetry.span("sidecar.decide", **{"sidecar.tool": tool}):
                seconds = (time.perf_counter_ns() - started) / 1e9
                telemetry.decided(tool, "denied", decision.gate, seconds)
        logged = decision.target or decision.target_agent or self.loggable(target)
        if decision.would_deny:
            log.warning(
                "observe mode: %s %s would be DENIED at gate %s (source: %s; fix: %s); let through",
                tool,
                logged,
                decision.gate,
                decision.source,
                decision.fix,
            )
        self.store.log_decision(
            requester_agent=self.requester.agent_id,
            requester_session=self.requester.session_key,
            tool=tool,
            target=logged,
            outcome="allowed" if decision.allowed else "denied",
            gate=decision.gate,
            source=decision.source,
            gateway=decision.target_gateway or HOME,
            latency_us=(time.perf_counter_ns() - started) // 1000,
            requester_gateway=self.requester.gateway,
            target_gateway=decision.target_gateway,
            side=decision.side,
            fix=decision.fix,
            would_deny=decision.would_deny,
        )
        if not decision.allowed:
            raise Denied(decision)
        note_decided(decision)  # a GatewayFault forwarding it is logged as outcome "error"
        return decision

    async def call_peer(
        self, gateway: str, tool: str, args: dict[str, Any], timeout: float = 60.0
    ) -> dict[str, Any]:
        """One call to a sidecar peer as this agent; a remote denial becomes `Denied` naming that host."""
        full = {
            "requesterAgent": self.requester.agent_id,
            "requesterSession": self.requester.session_key,
            **args,
        }
        try:
            return await self.peer(gateway).call(tool, full, timeout=timeout)
        except PeerDenied as exc:
            raise Denied(remote_decision(self.requester, gateway, exc.decision)) from None
        except PeerUnreachable as exc:
            raise GatewayFault(
                f"{exc}. Start that host's sidecar with --peer-port, or check the address in "
                f"gateway.peers.{gateway}.sidecar ({self.policy.path}); `sidecar doctor` checks it."
            ) from None
        except (PeerAuthError, PeerCallFailed) as exc:
            raise GatewayFault(str(exc)) from None

    async def learn_peers(self, gateway: str | None) -> None:
        """Ask sidecar peers (the named one, else every one) that have not said yet which agents they hold,
        so a target on them is placed on what they hold, not refused as unknown."""
        names = [gateway] if gateway is not None else [p.name for p in self.policy.peers]
        for name in names:
            if not self.via_sidecar(name) or name in self._learned or self.peers is None:
                continue
            try:
                with anyio.fail_after(15):
                    answer = await self.call_peer(name, "peer_agents", {}, timeout=10)
            except (GatewayFault, TimeoutError) as exc:
                log.info("peer %s did not list its agents: %s", name, exc)
                continue
            self.learned_from(name, [str(a) for a in answer.get("agents", []) if isinstance(a, str)])

    def learned_from(self, name: str, agents: list[str]) -> None:
        self.gateways.learn_agents(name, agents)
        self._learned.add(name)

    def view(self) -> SessionView:
        return _KnownAgents(
            self.store.view, {name: frozenset(self.gateways.known_on(name)) for name in self.gateways.names}
        )

    def canonical(self, raw: str) -> str:
        """The canonical key the engine will decide on, or `raw` when it is malformed (the engine refuses it)."""
        return self._key_of(raw) or raw

    def loggable(self, target: str | None) -> str | None:
        """What a log may say about a target the decision did not name: its canonical key, or `MALFORMED`.

        The raw argument is the caller's text (a message, a secret, megabytes): it is never logged.
        """
        return None if target is None else self._key_of(target) or MALFORMED

    def _key_of(self, raw: str) -> str | None:
        try:
            return canonical_key(
                raw,
                requester_key=self.requester.session_key,
                default_agent=self.policy.default_agent,
                main_key=self.policy.main_key,
            ).key
        except MalformedKey:
            return None

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


def remote_decision(requester: Requester, gateway: str, found: dict[str, Any]) -> Decision:
    """The receiving host's denial, told as its own: its gate, its key, and the fix on that host."""
    host = str(found.get("host") or gateway)
    return Decision(
        False,
        "sessions_send" if found.get("tool") not in TOOLS else found["tool"],
        requester,
        found.get("target"),
        found.get("targetAgent"),
        str(found.get("gate") or "receives-from"),
        f"{gateway} refused it (inbound, under that host's own policy): {found.get('message')}",
        str(found.get("source") or f"{host}'s policy"),
        str(found.get("fix") or f"The fix must be made in {host}'s policy."),
        (),
        gateway,
        "inbound",
    )


@dataclass(frozen=True)
class _KnownAgents:
    """The mirror's view plus the agents each gateway reported (or its peer sidecar listed), per gateway."""

    inner: SessionView
    held: dict[str, frozenset[str]]

    def parent_of(self, key: str, gateway: str = HOME) -> str | None:
        return self.inner.parent_of(key, gateway)

    def owner_of(self, key: str, gateway: str = HOME) -> tuple[str, str] | None:
        return self.inner.owner_of(key, gateway)

    def has_agent(self, agent_id: str, gateway: str | None = None) -> bool:
        if gateway is None:
            found = any(agent_id in agents for agents in self.held.values())
        else:
            found = agent_id in self.held.get(gateway, frozenset())
        return found or self.inner.has_agent(agent_id, gateway)

    def depth_of(self, key: str, gateway: str = HOME) -> int:
        return self.inner.depth_of(key, gateway)

    def active_children(self, key: str, gateway: str = HOME) -> int:
        return self.inner.active_children(key, gateway)
