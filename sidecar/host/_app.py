"""`sidecar host`: one long-lived process serving every governed agent of a policy over streamable HTTP.

Each agent has its own endpoint, `/agents/<id>/mcp`, behind its own bearer credential (derived from the
host key, so nothing more is stored). Every session of every agent shares one gateway connection and one
mirror per gateway, and one writer: the host holds an exclusive lock on its mirror for as long as it
runs. A call is decided as the session that made it, attested by the sidecar's OpenClaw plugin; a call
without a valid attestation is decided as the agent's least privileged class.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from sidecar.host._attest import FIELD, AttestationError, Verifier, agent_token
from sidecar.policy import MalformedKey, Requester
from sidecar.tools import SessionsService

log = logging.getLogger("sidecar")
ENDPOINT_RE = re.compile(r"^/agents/([a-z0-9_][a-z0-9_-]{0,63})/mcp/?$")


def endpoint_path(agent_id: str) -> str:
    return f"/agents/{agent_id}/mcp"


@dataclass
class AgentEndpoint:
    """One agent's MCP server and the credential its endpoint takes."""

    agent_id: str
    app: ASGIApp
    session_manager: Any
    token: str


@dataclass
class CallerBinder:
    """Turns a call's `_caller` into the service that decides as that caller (one per agent endpoint)."""

    agent_id: str
    base: SessionsService
    verifier: Verifier
    clock: Callable[[], float] = time.time
    unattested: int = field(default=0, init=False)

    def __call__(self, tool: str, arguments: dict[str, Any]) -> SessionsService:
        raw = arguments.pop(FIELD, None)
        try:
            caller = self.verifier.verify(
                raw, agent_id=self.agent_id, tool=tool, arguments=arguments, now_ms=int(self.clock() * 1000)
            )
            requester = Requester.of(self.agent_id, caller.session_key, main_key=self.base.policy.main_key)
        except (AttestationError, MalformedKey) as exc:
            self.unattested += 1
            # The reason is safe to log: it never holds the key or the MAC.
            log.warning(
                "%s: unverified caller of %s (%s); deciding as least privileged", self.agent_id, tool, exc
            )
            requester = Requester.unverified(self.agent_id, str(exc))
        return self.base.as_caller(requester)


class _Dispatch:
    """Routes `/agents/<id>/mcp` to that agent's server after checking its bearer credential."""

    def __init__(self, endpoints: dict[str, AgentEndpoint], health: Callable[[], dict[str, Any]]) -> None:
        self.endpoints = endpoints
        self.health = health
        self._expected = {a: f"Bearer {e.token}".encode() for a, e in endpoints.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        if path == "/healthz":
            await _json(send, 200, self.health())
            return
        match = ENDPOINT_RE.match(path)
        endpoint = self.endpoints.get(match.group(1)) if match else None
        if endpoint is None:
            await _json(
                send,
                404,
                {
                    "error": "not_found",
                    "message": f"No agent endpoint at {path}. Endpoints: "
                    + ", ".join(endpoint_path(a) for a in sorted(self.endpoints)),
                },
            )
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if not hmac.compare_digest(given, self._expected[endpoint.agent_id]):
            await _json(
                send,
                401,
                {
                    "error": "unauthorized",
                    "message": f"Send Authorization: Bearer <{endpoint.agent_id}'s endpoint token>; "
                    "`sidecar manifest openclaw` says where OpenClaw reads it from.",
                },
                [(b"www-authenticate", b"Bearer")],
            )
            return
        await endpoint.app(scope, receive, send)


async def _json(send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] = []) -> None:  # noqa: B006
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class ToolLister(Protocol):
    """An agent endpoint's MCP server, as a reload sees it."""

    async def policy_changed(self) -> bool: ...


@dataclass
class HostApp:
    """The host's ASGI app, and per agent the binder of its calls and its MCP server."""

    app: Starlette
    binders: dict[str, CallerBinder]
    servers: dict[str, ToolLister]

    async def policy_changed(self) -> int:
        """After a reload: recompute each endpoint's offered tools and tell its connected clients
        (`notifications/tools/list_changed`) where the set changed; returns how many changed."""
        changed = 0
        for agent_id, server in self.servers.items():
            try:
                changed += bool(await server.policy_changed())
            except Exception as exc:  # one endpoint's closed clients must not keep the others uninformed
                log.warning("%s: could not tell clients the tool list changed: %s", agent_id, exc)
        return changed


def build_host_app(
    services: dict[str, SessionsService],
    verifier: Verifier,
    key: bytes,
    *,
    background: Callable[[], Any] | None = None,
    health: Callable[[], dict[str, Any]] | None = None,
    host: str = "127.0.0.1",
) -> HostApp:
    """The host's ASGI app: one MCP server per agent (each `services[agent]` is that agent's main session,
    rebound per call), started and stopped with the app. `background` runs for the app's lifetime."""
    from sidecar.mcp import build_server

    endpoints: dict[str, AgentEndpoint] = {}
    binders: dict[str, CallerBinder] = {}
    servers: dict[str, ToolLister] = {}
    for agent_id, service in services.items():
        binder = CallerBinder(agent_id, service, verifier)
        server = build_server(service, bind=binder, close_gateways=False)
        app = server.streamable_http_app(streamable_http_path=endpoint_path(agent_id), host=host)
        endpoints[agent_id] = AgentEndpoint(agent_id, app, server.session_manager, agent_token(key, agent_id))
        binders[agent_id] = binder
        servers[agent_id] = server

    def default_health() -> dict[str, Any]:
        return {"ok": True, "agents": sorted(endpoints)}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for endpoint in endpoints.values():
                await stack.enter_async_context(endpoint.session_manager.run())
            # The background task group sits inside the session managers' scopes and ends first.
            async with anyio.create_task_group() as tasks:
                if background is not None:
                    tasks.start_soon(background)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()

    dispatch = _Dispatch(endpoints, health or default_health)
    return HostApp(Starlette(routes=[Mount("/", app=dispatch)], lifespan=lifespan), binders, servers)
