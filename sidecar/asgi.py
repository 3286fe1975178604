"""What the sidecar's authenticating ASGI middlewares do with each kind of connection (scope).

`lifespan` is the server's own start and stop: it carries no request and passes through. `http` and
`websocket` reach the application only once authenticated; a refused WebSocket is closed before it is
accepted (the client sees HTTP 403). Any other scope type is unknown to us and never reaches the app.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from starlette.types import Scope, Send

POLICY_VIOLATION = 1008

ScopeKind = Literal["lifespan", "guarded", "unknown"]


def kind_of(scope: Scope) -> ScopeKind:
    """`lifespan` (pass it through), `guarded` (http or websocket: authenticate it) or `unknown` (drop it)."""
    kind = scope.get("type")
    if kind == "lifespan":
        return "lifespan"
    if kind in ("http", "websocket"):
        return "guarded"
    return "unknown"


async def refuse(scope: Scope, send: Send, message: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer an unauthenticated request: 401 with a JSON body saying what to send, or close a WebSocket."""
    if scope.get("type") == "websocket":
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": "unauthorized"})
        return
    body = json.dumps({"error": "unauthorized", "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                *headers,
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
