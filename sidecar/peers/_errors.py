"""What a peer call can fail with, and the secret's name: importable without the HTTP and MCP stacks,
which `sidecar serve` loads only once a peer is called (`sidecar.peers` loads the rest on first use)."""

from __future__ import annotations

from typing import Any

__all__ = ["PeerAuthError", "PeerCallFailed", "PeerDenied", "PeerUnreachable", "secret_name"]


class PeerAuthError(RuntimeError):
    """The other side did not prove it holds this pair's secret, or the address is not safe to use."""


class PeerUnreachable(ConnectionError):
    """The peer's sidecar could not be reached (down, restarting, or cut off): retrying may help."""


class PeerCallFailed(RuntimeError):
    """The peer's sidecar answered with an error that is not a policy decision."""


class PeerDenied(Exception):
    """The receiving host refused the call under its own policy; `decision` is its explanation."""

    def __init__(self, peer: str, decision: dict[str, Any]) -> None:
        super().__init__(decision.get("message"))
        self.peer = peer
        self.decision = decision


def secret_name(peer: str) -> str:
    """The secret store entry holding the pair secret shared with `peer`."""
    return f"peer-secret:{peer}"
