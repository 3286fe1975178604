"""`SessionsService`: the four session tools for one agent, each a pipeline over one `CallContext`.

Every call is decided by the pure policy engine over the session mirror before anything touches the
network. A denial raises `Denied` (the MCP layer turns it into a tool error the model can read); a
problem with the call itself raises `BadCall`; an infrastructure fault raises `GatewayFault`, which
names the remedy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sidecar import telemetry
from sidecar.peers import PeerLinks
from sidecar.policy import Decision, Policy, Requester, SessionView, Tool
from sidecar.tools._context import CallContext, UsageSource
from sidecar.tools._forwarding import recording_errors
from sidecar.tools._listing import list_sessions
from sidecar.tools._reading import read_history
from sidecar.tools._routing import HOME, GatewayLike, GatewayPool
from sidecar.tools._send import SendPipeline
from sidecar.tools._spawn import spawn
from sidecar.tools._store import Store


@dataclass
class SessionsService:
    policy: Policy
    requester: Requester
    store: Store
    gateways: GatewayPool
    clock: Callable[[], float] = time.time
    peers: PeerLinks | None = None
    usage: UsageSource | None = None
    ctx: CallContext = field(init=False)
    sends: SendPipeline = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = CallContext(
            self.policy, self.requester, self.store, self.gateways, self.clock, self.peers, usage=self.usage
        )
        self.sends = SendPipeline(self.ctx)

    def as_caller(self, requester: Requester) -> SessionsService:
        """The same tools decided as another session of this agent (the host's attested caller), sharing
        the mirror, the gateways, the peer links, the agent's pause and budgets (`usage`), its send rate
        window and the sends in flight."""
        if requester.agent_id != self.requester.agent_id:
            raise ValueError(f"{requester.session_key} is not a session of {self.requester.agent_id}")
        twin = SessionsService(
            self.policy, requester, self.store, self.gateways, self.clock, peers=self.peers, usage=self.usage
        )
        twin.sends.limiter = self.sends.limiter
        twin.sends.peers.in_flight = self.sends.peers.in_flight
        return twin

    def adopt(self, policy: Policy) -> None:
        """Decide every call from the next one on by `policy` (a hot reload swaps a whole new Policy in;
        a call already decided finishes under the one it was decided by)."""
        self.policy = policy
        self.ctx.adopt(policy)

    def decide(self, tool: Tool, target: str | None, gateway: str = HOME) -> Decision:
        """Decide and log one call without running it; raises `Denied` on a refusal."""
        return self.ctx.decide(tool, target, gateway)

    def view(self) -> SessionView:
        return self.ctx.view()

    async def client(self, name: str) -> GatewayLike:
        return await self.ctx.client(name)

    async def sessions_list(
        self,
        *,
        kinds: list[str] | None = None,
        limit: int | None = None,
        active_minutes: int | None = None,
        gateway: str | None = None,
    ) -> dict[str, Any]:
        with telemetry.tool_call("sessions_list", self.requester.agent_id), recording_errors(self.store):
            return await list_sessions(
                self.ctx, kinds=kinds, limit=limit, active_minutes=active_minutes, gateway=gateway
            )

    async def sessions_history(
        self,
        *,
        session_key: str,
        limit: int | None = None,
        include_tools: bool = False,
        gateway: str | None = None,
    ) -> dict[str, Any]:
        with telemetry.tool_call("sessions_history", self.requester.agent_id), recording_errors(self.store):
            return await read_history(
                self.ctx, session_key=session_key, limit=limit, include_tools=include_tools, gateway=gateway
            )

    async def sessions_send(
        self,
        *,
        message: str,
        session_key: str | None = None,
        label: str | None = None,
        agent_id: str | None = None,
        timeout_seconds: float | None = None,
        gateway: str | None = None,
    ) -> dict[str, Any]:
        with telemetry.tool_call("sessions_send", self.requester.agent_id), recording_errors(self.store):
            return await self.sends.send(
                message=message,
                session_key=session_key,
                label=label,
                agent_id=agent_id,
                timeout_seconds=timeout_seconds,
                gateway=gateway,
            )

    async def sessions_spawn(
        self,
        *,
        task: str,
        agent_id: str | None = None,
        label: str | None = None,
        run_timeout_seconds: int | None = None,
        gateway: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with telemetry.tool_call("sessions_spawn", self.requester.agent_id), recording_errors(self.store):
            return await spawn(
                self.ctx,
                task=task,
                agent_id=agent_id,
                label=label,
                run_timeout_seconds=run_timeout_seconds,
                gateway=gateway,
                extra=extra,
            )

    async def resume_pending(self) -> int:
        """Deliver sends a previous run of this sidecar left in the outbox (see `SendPipeline.resume_pending`)."""
        return await self.sends.resume_pending()
