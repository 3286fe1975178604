"""The home gateway and named peers: which gateway serves an agent, and one lazy connection to each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from sidecar.policy import Peer

HOME = "home"


class GatewayLike(Protocol):
    """What the sidecar needs from a gateway connection (GatewayClient, or a fake in tests)."""

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any: ...

    async def agent(self, params: Any, *, timeout: float | None = None, resend: bool = True) -> Any: ...


class RoutingError(ValueError):
    """A target that cannot be placed on exactly one gateway."""


@dataclass
class GatewayPool:
    """Routes agents to gateways and keeps one connection per gateway, opened on first use."""

    home_url: str | None
    peers: tuple[Peer, ...]
    connect: Callable[[str, str, bool], Awaitable[GatewayLike]]
    _clients: dict[str, GatewayLike] = field(default_factory=dict)
    _learned: dict[str, set[str]] = field(default_factory=dict)
    _locks: dict[str, anyio.Lock] = field(default_factory=dict)
    _releases: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return (HOME, *(p.name for p in self.peers))

    def url_of(self, name: str) -> str | None:
        if name == HOME:
            return self.home_url
        for peer in self.peers:
            if peer.name == name:
                return peer.url
        return None

    def learn_agents(self, name: str, agent_ids: Iterable[str]) -> None:
        """Remember the agents a gateway's `agents.list` reported."""
        self._learned[name] = set(agent_ids)

    def learn_release(self, name: str, version: str) -> None:
        """Remember the OpenClaw release a gateway's hello reported (its semantics decide for its agents)."""
        self._releases[name] = version

    def release_of(self, name: str) -> str | None:
        """The OpenClaw release of gateway `name` as last seen (this run or a previous one), or None."""
        return self._releases.get(name)

    def known_on(self, name: str) -> set[str]:
        pinned = next((set(p.agents) for p in self.peers if p.name == name), set())
        return pinned | self._learned.get(name, set())

    def route(self, agent_id: str, explicit: str | None = None) -> str:
        """The gateway that serves `agent_id`; `explicit` (a `gateway` tool argument) wins if valid.

        Raises:
            RoutingError: an unknown gateway name, or an agent on several gateways with no `gateway` given.
        """
        if explicit is not None:
            name = explicit.strip()
            if name not in self.names:
                raise RoutingError(
                    f"Unknown gateway {explicit!r}. Known gateways: {', '.join(self.names)} "
                    "(peers are named under gateway.peers in the policy file)."
                )
            return name
        holders = [p.name for p in self.peers if agent_id in self.known_on(p.name)]
        if agent_id in self._learned.get(HOME, set()):
            holders.insert(0, HOME)
        if len(holders) > 1:
            raise RoutingError(
                f"Agent {agent_id!r} exists on several gateways ({', '.join(holders)}); pass gateway: "
                f'"<name>" to say which one.'
            )
        return holders[0] if holders else HOME

    async def client(self, name: str) -> GatewayLike:
        """The connection to gateway `name`, opened (and paired if needed) on first use."""
        existing = self._clients.get(name)
        if existing is not None:
            return existing
        lock = self._locks.setdefault(name, anyio.Lock())
        async with lock:
            existing = self._clients.get(name)
            if existing is None:
                url = self.url_of(name)
                if url is None:
                    raise RoutingError(
                        "No home gateway URL: set gateway.url in the policy file, pass --gateway URL, or set "
                        "OPENCLAW_GATEWAY_URL."
                    )
                allow_insecure = next((p.allow_insecure for p in self.peers if p.name == name), False)
                existing = self._clients[name] = await self.connect(name, url, allow_insecure)
        return existing

    def open_count(self) -> int:
        """How many gateway connections are open (the host reports it: one per gateway, whatever the sessions)."""
        return len(self._clients)

    def forget(self, name: str) -> None:
        """Drop a dead connection so the next use reconnects (and reports why, if it still cannot)."""
        self._clients.pop(name, None)

    async def aclose(self) -> None:
        # Taken out first: a close awaits, and meanwhile a failing sync may `forget` its connection.
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            close = getattr(client, "close", None)
            if close is not None:
                await close()


__all__ = ["HOME", "GatewayLike", "GatewayPool", "RoutingError"]
