"""`PeerLinks`: this host's clients for the peers it reaches through their sidecars, one per peer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sidecar.peers._errors import PeerAuthError, secret_name
from sidecar.policy import Policy

if TYPE_CHECKING:
    import httpx2

    from sidecar.peers._client import PeerClient

__all__ = ["PeerLinks"]


class PeerLinks:
    """Peer clients built on first use from the policy's `sidecar` address and the keyring's secret."""

    def __init__(
        self,
        policy: Policy,
        secret_of: Callable[[str], str | None],
        *,
        transport: Callable[[str], httpx2.AsyncBaseTransport | None] | None = None,
    ) -> None:
        self.policy = policy
        self._secret_of = secret_of
        self._transport = transport
        self._clients: dict[str, PeerClient] = {}

    def handles(self, name: str) -> bool:
        peer = self.policy.peer(name)
        return peer is not None and peer.mode == "sidecar" and peer.sidecar is not None

    def client(self, name: str) -> PeerClient:
        """The client for peer `name`.

        Raises:
            PeerAuthError: the peer has no sidecar address, no pair secret is stored, or its address is
                not safe (plain http off loopback).
        """
        found = self._clients.get(name)
        if found is not None:
            return found
        peer = self.policy.peer(name)
        if peer is None or peer.sidecar is None:
            raise PeerAuthError(f"{name} is not a peer reached through its sidecar in {self.policy.path}")
        secret = self._secret_of(secret_name(name))
        if not secret:
            raise PeerAuthError(
                f"no secret shared with peer {name} is stored: run `sidecar peer secret --peer {name}` here "
                "and store the same secret on that host (`sidecar peer secret --peer <this host> --set`)"
            )
        from sidecar.peers._client import PeerClient  # the HTTP and MCP client stacks: on first use

        transport = self._transport(name) if self._transport is not None else None
        found = self._clients[name] = PeerClient(name, peer.sidecar, secret, transport=transport)
        return found
