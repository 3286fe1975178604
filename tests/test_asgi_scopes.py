"""The authenticating middlewares (the HTTP transport's bearer, the peer endpoint's pair secret) guard
every kind of connection: lifespan passes, a WebSocket needs the credential, an unknown scope never
reaches the app."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.mcp import BearerAuth
from sidecar.peers import PeerAuth, client_token

pytestmark = pytest.mark.anyio
TOKEN = "http-token-0123456789abcdef"
SECRET = "ab" * 32


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class App:
    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept", "headers": []})


async def call(middleware: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": f"{scope['type']}.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


def websocket(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "websocket", "path": "/mcp", "headers": list(headers)}


def bearer() -> tuple[App, BearerAuth]:
    app = App()
    return app, BearerAuth(app, TOKEN, public=("/mcp",))


def peer() -> tuple[App, PeerAuth]:
    app = App()
    return app, PeerAuth(app, lambda: {"macbook": SECRET})


async def test_a_websocket_without_the_bearer_token_is_closed_before_it_reaches_the_app() -> None:
    app, auth = bearer()
    sent = await call(auth, websocket())
    assert app.scopes == []
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "unauthorized"}]


async def test_a_websocket_with_the_bearer_token_reaches_the_app() -> None:
    app, auth = bearer()
    await call(auth, websocket((b"authorization", f"Bearer {TOKEN}".encode())))
    assert [s["type"] for s in app.scopes] == ["websocket"]


async def test_lifespan_passes_the_bearer_check_and_unknown_scopes_never_reach_the_app() -> None:
    app, auth = bearer()
    await call(auth, {"type": "lifespan"})
    assert await call(auth, {"type": "telepathy", "headers": []}) == []
    assert [s["type"] for s in app.scopes] == ["lifespan"]


async def test_a_websocket_without_a_peer_credential_is_closed_before_it_reaches_the_app() -> None:
    app, auth = peer()
    sent = await call(auth, websocket((b"x-sidecar-nonce", b"n1")))
    assert app.scopes == []
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "unauthorized"}]


async def test_an_authenticated_peer_websocket_reaches_the_app_and_its_accept_carries_the_proof() -> None:
    app, auth = peer()
    sent = await call(
        auth,
        websocket((b"authorization", f"Bearer {client_token(SECRET)}".encode()), (b"x-sidecar-nonce", b"n1")),
    )
    assert [s["sidecar.peer"] for s in app.scopes] == ["macbook"]
    assert [name for name, _ in sent[0]["headers"]] == [b"x-sidecar-proof"]


async def test_lifespan_passes_the_peer_check_and_unknown_scopes_never_reach_the_app() -> None:
    app, auth = peer()
    await call(auth, {"type": "lifespan"})
    assert await call(auth, {"type": "telepathy", "headers": []}) == []
    assert [s["type"] for s in app.scopes] == ["lifespan"]
