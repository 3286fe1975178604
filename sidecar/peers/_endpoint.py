"""The inbound peer endpoint: what another host's sidecar may ask of this host, decided here.

A streamable-HTTP MCP server (its own ASGI app, so a long-lived host process can mount it beside the
agent endpoints), behind `PeerAuth`. Each tool call carries the requester the sending sidecar decided
for; its gateway is the authenticated peer's name. This host decides again with `decide_inbound` under
its own policy and, only if that allows, acts on its own gateway with its own local device: no other
host ever holds a credential for this host's gateway.

Sends keep the home guarantees across the hop: the sender's idempotency key is used unchanged on this
gateway, queued first in this host's outbox under the sender's identity, and looked for in the target's
transcript before any resend, so a sender that retries after this host died delivers once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field
from starlette.types import ASGIApp

from sidecar import __version__
from sidecar.gateway import inter_session_run, sent_under
from sidecar.mirror import Mirror
from sidecar.peers._auth import PeerAuth, peer_of_scope
from sidecar.policy import (
    HOME,
    Decision,
    MalformedKey,
    Policy,
    Requester,
    decide_inbound,
    inbound_visible,
    is_agent_id,
)

__all__ = ["PeerGateway", "PeerHost", "build_peer_app", "build_peer_server"]

log = logging.getLogger("sidecar")
HISTORY_LIMIT = 200


class PeerGateway(Protocol):
    """The host's own gateway connection (GatewayClient, or a fake in tests)."""

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any: ...

    async def agent(self, params: Any, *, timeout: float | None = None, resend: bool = True) -> Any: ...


class PeerCallError(ValueError):
    """A malformed peer call (not a policy decision): the text says what was wrong."""


@dataclass
class PeerHost:
    """This host's side of the peer protocol: its policy, its mirror and its own gateway connection."""

    policy: Policy
    mirror: Mirror
    gateway: Callable[[], Awaitable[PeerGateway]]
    secrets: Callable[[], Mapping[str, str]]
    clock: Callable[[], float] = time.time

    def requester(self, peer: str | None, agent_id: str, session_key: str) -> Requester:
        if peer is None:
            raise PeerCallError("not an authenticated peer")
        if not is_agent_id(agent_id):
            raise PeerCallError(f"requester agent id {agent_id!r} is not valid")
        try:
            return Requester.of(agent_id, session_key, self.policy.main_key, gateway=peer)
        except MalformedKey as exc:
            raise PeerCallError(f"requester session: {exc}") from None

    def decide(self, requester: Requester, tool: Any, target: str | None) -> Decision:
        started = time.perf_counter_ns()
        decision = decide_inbound(self.policy, requester, tool, target, self.mirror.view, explain=True)
        self.mirror.decisions.record(
            requester_agent=requester.agent_id,
            requester_session=requester.session_key,
            tool=tool,
            target=decision.target or decision.target_agent or target,
            outcome="allowed" if decision.allowed else "denied",
            gate=decision.gate,
            source=decision.source,
            gateway=HOME,
            latency_us=(time.perf_counter_ns() - started) // 1000,
            requester_gateway=requester.gateway,
            target_gateway=HOME,
            side="inbound",
        )
        return decision

    # -- the four operations -----------------------------------------------------------------------

    async def send(
        self,
        requester: Requester,
        session_key: str,
        message: str,
        idempotency_key: str,
        timeout_seconds: float,
        trace: Mapping[str, Any],
    ) -> dict[str, Any]:
        decision = self.decide(requester, "sessions_send", session_key)
        if not decision.allowed:
            return _denied(decision, self.policy)
        target = str(decision.target)
        outbox = self.mirror.outbox
        entry = outbox.add(
            idempotency_key=idempotency_key,
            send_id=idempotency_key,
            requester=requester.session_key,
            requester_gateway=requester.gateway,
            target=target,
            gateway=HOME,
            body=message,
            hop=int(trace.get("hop") or 0),
            trace_id=str(trace.get("id") or "") or None,
            created_at=self.clock(),
        )
        base = {"outcome": "ok", "sessionKey": target, "runId": idempotency_key, "decision": _brief(decision)}
        if entry.status == "delivered":
            return {**base, "status": "duplicate", "delivery": {"status": "delivered", "mode": "peer"}}
        if entry.status == "pending":
            outbox.attempt(idempotency_key)
        client = await self.gateway()
        if not await _already_delivered(client, target, idempotency_key):
            await client.agent(_send_params(message, target, idempotency_key, requester), resend=False)
        outbox.delivered(idempotency_key, run_id=idempotency_key)
        if timeout_seconds <= 0:
            return {**base, "status": "accepted", "delivery": {"status": "delivered", "mode": "peer"}}
        try:
            waited = await client.request(
                "agent.wait",
                {"runId": idempotency_key, "timeoutMs": int(timeout_seconds * 1000)},
                timeout=timeout_seconds + 2,
            )
        except Exception as exc:  # the message is in; only the wait for its reply failed
            log.info("peer send %s: waiting for the reply failed (%s)", idempotency_key, exc)
            waited = {"status": "timeout"}
        status = str((waited or {}).get("status") or "timeout") if isinstance(waited, dict) else "timeout"
        result: dict[str, Any] = {
            **base,
            "status": status if status in ("ok", "timeout", "error") else "timeout",
            "delivery": {"status": "delivered", "mode": "peer"},
        }
        terminal = waited.get("terminalReply") if isinstance(waited, dict) else None
        if isinstance(terminal, dict) and terminal.get("disposition") == "visible" and terminal.get("text"):
            result["reply"] = str(terminal["text"])
        if status == "error":
            result["error"] = str((waited or {}).get("error") or "agent error")
        return result

    async def history(self, requester: Requester, session_key: str, limit: int) -> dict[str, Any]:
        decision = self.decide(requester, "sessions_history", session_key)
        if not decision.allowed:
            return _denied(decision, self.policy)
        client = await self.gateway()
        payload = await client.request(
            "chat.history",
            {"sessionKey": decision.target, "limit": max(1, min(limit, HISTORY_LIMIT))},
            idempotent=True,
        )
        messages = payload.get("messages", []) if isinstance(payload, dict) else []
        return {"outcome": "ok", "sessionKey": decision.target, "messages": messages}

    async def spawn(
        self,
        requester: Requester,
        agent_id: str,
        task: str,
        label: str | None,
        run_timeout_seconds: int | None,
    ) -> dict[str, Any]:
        decision = self.decide(requester, "sessions_spawn", agent_id)
        if not decision.allowed:
            return _denied(decision, self.policy)
        target = str(decision.target_agent)
        child = f"agent:{target}:subagent:{uuid.uuid4()}"
        params: dict[str, Any] = {
            "key": child,
            "agentId": target,
            "task": task,
            "idempotencyKey": f"spawn-{uuid.uuid4()}",
        }
        if label:
            params["label"] = label
        if run_timeout_seconds is not None:
            params["timeoutMs"] = int(run_timeout_seconds) * 1000
        client = await self.gateway()
        created = await client.request("sessions.create", params, timeout=30)
        created = created if isinstance(created, dict) else {}
        return {
            "outcome": "ok",
            "childSessionKey": str(created.get("key") or child),
            "runId": str(created.get("runId") or params["idempotencyKey"]),
            "decision": _brief(decision),
        }

    def listing(self, requester: Requester, limit: int) -> dict[str, Any]:
        decision = self.decide(requester, "sessions_list", None)
        if not decision.allowed:
            return _denied(decision, self.policy)
        rows = []
        hidden = 0
        accepted: dict[str, bool] = {}
        for row in self.mirror.view.session_keys(HOME):
            ok = accepted.get(row.agent)
            if ok is None:
                ok = accepted[row.agent] = inbound_visible(self.policy, requester, row.agent)
            if ok and ":incognito" not in row.key:
                rows.append(row.as_tool_row())
            else:
                hidden += 1
        return {"outcome": "ok", "sessions": rows[: max(0, limit)], "hidden": hidden}

    def agents(self) -> list[str]:
        return sorted(set(self.policy.pinned(HOME)) | set(self.mirror.agents(HOME)))


def _brief(decision: Decision) -> dict[str, Any]:
    return {"side": "inbound", "source": decision.source}


def _denied(decision: Decision, policy: Policy) -> dict[str, Any]:
    """A denial travels back whole: the sender shows the remote gate, key and fix to its agent."""
    return {"outcome": "denied", "decision": {**decision.as_dict(), "host": policy.gateway_name}}


def _send_params(message: str, target: str, idem: str, requester: Requester) -> dict[str, Any]:
    shown = f"{requester.session_key}@{requester.gateway} (another host's agent)"
    return inter_session_run(message, target, idem, requester.session_key, source_label=shown)


async def _already_delivered(client: PeerGateway, target: str, idem: str) -> bool:
    payload = await client.request("chat.history", {"sessionKey": target, "limit": 100}, idempotent=True)
    messages = (payload or {}).get("messages", []) if isinstance(payload, dict) else []
    return any(sent_under(message, idem) for message in messages)


def _peer(ctx: Context[Any, Any]) -> str | None:
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    return peer_of_scope(scope) if isinstance(scope, Mapping) else None


Agent = Annotated[str, Field(min_length=1, max_length=64)]
Key = Annotated[str, Field(min_length=1, max_length=512)]


def build_peer_server(host: PeerHost) -> MCPServer[Any]:
    """The peer tools as an MCPServer (peer_agents, peer_list, peer_history, peer_send, peer_spawn)."""
    server: MCPServer[Any] = MCPServer("openclaw-sessions-sidecar-peer", version=__version__)

    async def peer_agents(ctx: Context[Any, Any]) -> dict[str, Any]:
        host.requester(_peer(ctx), "main", "agent:main:main")  # authenticated peers only
        return {"gateway": host.policy.gateway_name, "agents": host.agents()}

    async def peer_list(
        ctx: Context[Any, Any], requesterAgent: Agent, requesterSession: Key, limit: int = 200
    ) -> dict[str, Any]:
        return host.listing(host.requester(_peer(ctx), requesterAgent, requesterSession), limit)

    async def peer_history(
        ctx: Context[Any, Any],
        requesterAgent: Agent,
        requesterSession: Key,
        sessionKey: Key,
        limit: int = 200,
    ) -> dict[str, Any]:
        requester = host.requester(_peer(ctx), requesterAgent, requesterSession)
        return await host.history(requester, sessionKey, limit)

    async def peer_send(
        ctx: Context[Any, Any],
        requesterAgent: Agent,
        requesterSession: Key,
        sessionKey: Key,
        message: Annotated[str, Field(min_length=1, max_length=100_000)],
        idempotencyKey: Annotated[str, Field(min_length=8, max_length=128)],
        timeoutSeconds: Annotated[float, Field(ge=0, le=3600)] = 30,
        traceId: str | None = None,
        hop: int = 0,
    ) -> dict[str, Any]:
        requester = host.requester(_peer(ctx), requesterAgent, requesterSession)
        return await host.send(
            requester, sessionKey, message, idempotencyKey, timeoutSeconds, {"id": traceId, "hop": hop}
        )

    async def peer_spawn(
        ctx: Context[Any, Any],
        requesterAgent: Agent,
        requesterSession: Key,
        agentId: Agent,
        task: Annotated[str, Field(min_length=1, max_length=100_000)],
        label: str | None = None,
        runTimeoutSeconds: int | None = None,
    ) -> dict[str, Any]:
        requester = host.requester(_peer(ctx), requesterAgent, requesterSession)
        return await host.spawn(requester, agentId, task, label, runTimeoutSeconds)

    for fn in (peer_agents, peer_list, peer_history, peer_send, peer_spawn):
        server.add_tool(fn, name=fn.__name__)
    return server


def build_peer_app(host: PeerHost, *, bind: str = "127.0.0.1", path: str = "/peer") -> ASGIApp:
    """The inbound endpoint as one ASGI app, PeerAuth in front. It has a lifespan (the MCP session
    manager): whoever mounts it must run it (uvicorn does with lifespan="on")."""
    app = build_peer_server(host).streamable_http_app(streamable_http_path=path, host=bind)
    return PeerAuth(app, host.secrets)
