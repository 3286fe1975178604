"""Mutual authentication between two hosts' sidecars with one per-peer secret held in each keyring.

Both hosts hold the same 256-bit secret for their pair, each under the name it gives the other
(`peer-secret:<name>` in the secret store; `sidecar peer secret` creates and stores it). Nothing derived
from one pair's secret is usable with another pair.

* The caller proves itself with `Authorization: Bearer <HMAC(secret, "client")>`. The receiving side
  finds which peer is calling by comparing that against each peer's expected value in constant time;
  the peer's name comes from that match, never from anything the caller says.
* The receiver proves itself on every response: the caller sends a fresh `X-Sidecar-Nonce`, the
  receiver answers `X-Sidecar-Proof: HMAC(secret, "server:" + nonce)`, and the caller refuses any
  response without the right proof (a host that only knows the caller's token cannot impersonate the
  receiver, even on loopback).

Off loopback, TLS is required as well: the bearer is a long-lived credential and must not cross a
network in clear text.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx2
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sidecar import asgi
from sidecar.peers._errors import PeerAuthError, secret_name

__all__ = [
    "NONCE_HEADER",
    "PROOF_HEADER",
    "PeerAuth",
    "PeerAuthError",
    "PeerCredential",
    "client_token",
    "is_loopback_url",
    "new_secret",
    "secret_name",
    "server_proof",
]

NONCE_HEADER = "x-sidecar-nonce"
PROOF_HEADER = "x-sidecar-proof"
SCOPE_KEY = "sidecar.peer"


def new_secret() -> str:
    return secrets.token_hex(32)


def _mac(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def client_token(secret: str) -> str:
    return _mac(secret, "client")


def server_proof(secret: str, nonce: str) -> str:
    return _mac(secret, "server:" + nonce)


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PeerCredential(httpx2.Auth):
    """httpx auth for calls to one peer: the bearer, a fresh nonce per request, the proof checked."""

    requires_response_body = False

    def __init__(self, peer: str, secret: str, url: str) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise PeerAuthError(f"peer {peer}: {url!r} is not an http(s) URL")
        if scheme != "https" and not is_loopback_url(url):
            raise PeerAuthError(
                f"peer {peer}: {url} is not loopback, so it must use https:// (TLS is required between "
                "hosts: the peer credential must never cross a network in clear text)"
            )
        self.peer = peer
        self._secret = secret

    def __repr__(self) -> str:
        return f"PeerCredential({self.peer!r})"

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        nonce = secrets.token_hex(16)
        request.headers["Authorization"] = f"Bearer {client_token(self._secret)}"
        request.headers[NONCE_HEADER] = nonce
        response = yield request
        given = response.headers.get(PROOF_HEADER, "")
        if not hmac.compare_digest(given, server_proof(self._secret, nonce)):
            await response.aclose()
            raise PeerAuthError(
                f"peer {self.peer} answered without proving it holds this pair's secret (HTTP "
                f"{response.status_code}); check the address, and that both hosts stored the same secret "
                f"with `sidecar peer secret`"
            )


class PeerAuth:
    """ASGI middleware for the inbound peer endpoint: names the calling peer, or answers 401.

    `secrets` is called per request and returns {peer name: pair secret}, so a rotated secret takes
    effect without a restart. The peer's name is put in the scope under "sidecar.peer".
    """

    def __init__(self, app: ASGIApp, secrets_of: Callable[[], Mapping[str, str]]) -> None:
        self.app = app
        self._secrets_of = secrets_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = asgi.kind_of(scope)
        if kind == "lifespan":
            await self.app(scope, receive, send)
            return
        if kind == "unknown":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        given = headers.get("authorization", "")
        nonce = headers.get(NONCE_HEADER, "")
        peer, secret = None, None
        for name, candidate in self._secrets_of().items():
            # Every candidate is compared, so the time taken says nothing about which one matched.
            if hmac.compare_digest(given.encode(), f"Bearer {client_token(candidate)}".encode()):
                peer, secret = name, candidate
        if peer is None or secret is None or not nonce or len(nonce) > 128:
            await asgi.refuse(
                scope,
                send,
                "Not a known peer: store this pair's secret on both hosts with `sidecar peer secret`.",
            )
            return
        proof = server_proof(secret, nonce).encode()
        inner: dict[str, Any] = dict(scope)
        inner[SCOPE_KEY] = peer
        state = dict(scope.get("state") or {})
        state["peer"] = peer
        inner["state"] = state

        async def send_with_proof(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (PROOF_HEADER.encode(), proof)],
                }
            await send(message)

        await self.app(inner, receive, send_with_proof)


def peer_of_scope(scope: Mapping[str, Any]) -> str | None:
    """The authenticated peer's name of a request that passed PeerAuth."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, str) else None
