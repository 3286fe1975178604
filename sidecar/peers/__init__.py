"""Sidecar to sidecar: how one host's agents reach another host's, with consent on both sides.

    app = build_peer_app(PeerHost(policy, mirror, gateway=home_client, secrets=pair_secrets))
    client = PeerClient("imac", "https://imac.local:8766/peer", secret)
    await client.call("peer_send", {...})

The protocol is streamable-HTTP MCP (the MCP python SDK on both ends) behind mutual authentication
with one per-pair secret in each host's keyring (`_auth`), TLS required off loopback. The receiving
host decides every call again under its own policy (`decide_inbound`) and alone talks to its gateway.
"""

from sidecar.peers._auth import (
    PeerAuth,
    PeerAuthError,
    PeerCredential,
    client_token,
    is_loopback_url,
    new_secret,
    secret_name,
    server_proof,
)
from sidecar.peers._client import PeerCallFailed, PeerClient, PeerDenied, PeerUnreachable
from sidecar.peers._endpoint import PeerGateway, PeerHost, build_peer_app, build_peer_server
from sidecar.peers._links import PeerLinks

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
