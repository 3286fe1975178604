"""Sidecar to sidecar: how one host's agents reach another host's, with consent on both sides.

    app = build_peer_app(PeerHost(policy, mirror, gateway=home_client, secrets=pair_secrets))
    client = PeerClient("imac", "https://imac.local:8766/peer", secret)
    await client.call("peer_send", {...})

The protocol is streamable-HTTP MCP (the MCP python SDK on both ends) behind mutual authentication
with one per-pair secret in each host's keyring (`_auth`), TLS required off loopback. The receiving
host decides every call again under its own policy (`decide_inbound`) and alone talks to its gateway.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sidecar.peers._errors import PeerAuthError, PeerCallFailed, PeerDenied, PeerUnreachable, secret_name
from sidecar.peers._links import PeerLinks

if TYPE_CHECKING:
    from sidecar.peers._auth import (
        PeerAuth,
        PeerCredential,
        client_token,
        is_loopback_url,
        new_secret,
        server_proof,
    )
    from sidecar.peers._client import PeerClient
    from sidecar.peers._endpoint import PeerGateway, PeerHost, build_peer_app, build_peer_server

__all__ = [
    "PeerAuth",
    "PeerAuthError",
    "PeerCallFailed",
    "PeerClient",
    "PeerCredential",
    "PeerDenied",
    "PeerGateway",
    "PeerHost",
    "PeerLinks",
    "PeerUnreachable",
    "build_peer_app",
    "build_peer_server",
    "client_token",
    "is_loopback_url",
    "new_secret",
    "secret_name",
    "server_proof",
]

# The HTTP client and server stacks (httpx2, starlette, the MCP SDK's streamable HTTP) load on first use:
# `sidecar serve` answers its first call without them unless a peer is involved.
_LAZY = {
    "PeerAuth": "sidecar.peers._auth",
    "PeerCredential": "sidecar.peers._auth",
    "client_token": "sidecar.peers._auth",
    "is_loopback_url": "sidecar.peers._auth",
    "new_secret": "sidecar.peers._auth",
    "server_proof": "sidecar.peers._auth",
    "PeerClient": "sidecar.peers._client",
    "PeerGateway": "sidecar.peers._endpoint",
    "PeerHost": "sidecar.peers._endpoint",
    "build_peer_app": "sidecar.peers._endpoint",
    "build_peer_server": "sidecar.peers._endpoint",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
