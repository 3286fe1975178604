"""Streamable HTTP on 127.0.0.1 behind a bearer token: the sidecar's only network-facing surface.

stdio is the default and the safer choice; HTTP exists for clients that cannot spawn a process. The
token is compared in constant time and never logged; it is read from a 0600 file or the environment.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Collection
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from sidecar import asgi
from sidecar.secrets import read_or_create_private

TOKEN_ENV = "SIDECAR_HTTP_TOKEN"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class BearerAuth:
    """ASGI middleware: every HTTP request and WebSocket must carry `Authorization: Bearer <token>`.

    The server's lifespan passes through; a scope of any other type never reaches the app.
    """

    def __init__(self, app: ASGIApp, token: str, public: Collection[str] = ()) -> None:
        if len(token) < 16:
            raise ValueError("the HTTP bearer token must be at least 16 characters")
        self.app = app
        self._expected = f"Bearer {token}".encode()
        # Exact paths served without the token (the fleet page's data-less shell; see FleetPage).
        self._public = frozenset(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = asgi.kind_of(scope)
        if kind == "lifespan":
            await self.app(scope, receive, send)
            return
        if kind == "unknown":
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected) or (
            scope["type"] == "http"
            and scope.get("path") in self._public
            and scope.get("method") in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        await asgi.refuse(
            scope,
            send,
            "Send Authorization: Bearer <token> (see `sidecar serve --help`).",
            [(b"www-authenticate", b"Bearer")],
        )


def load_or_create_token(path: Path) -> str:
    """The token from $SIDECAR_HTTP_TOKEN, else from `path` (created 0600 with a fresh token if missing).

    Raises:
        UnsafeFile: `path` is a symbolic link, or another user owns it or may read or write it.
    """
    from_env = os.environ.get(TOKEN_ENV)
    if from_env:
        return from_env.strip()
    return read_or_create_private(path, lambda: secrets.token_urlsafe(32) + "\n").strip()


async def serve_http(app: Any, host: str, port: int, token: str, public: Collection[str] = ()) -> None:
    import uvicorn

    if host not in LOOPBACK:
        raise ValueError(f"refusing to listen on {host}: the sidecar's HTTP transport binds loopback only")
    config = uvicorn.Config(
        BearerAuth(app, token, public), host=host, port=port, log_level="warning", lifespan="on"
    )
    await uvicorn.Server(config).serve()
