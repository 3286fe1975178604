"""The fleet page served live by a long-running sidecar: the access matrix and the recent decisions.

`FleetPage` is a plain ASGI app, mountable under any prefix by any host (`sidecar serve --transport
http` mounts it at /fleet/ beside /mcp):

    GET <prefix>/                 the page shell: script and style only, no data (public)
    GET <prefix>/data.json        the matrix of the current policy and the newest decisions
    GET <prefix>/decisions.json   the newest decisions alone (the page polls it)

Only the shell may be served without the host's bearer token (a browser cannot send a header when it
navigates); the page reads the token from the URL fragment (`#token=...`, never sent to a server) and
fetches the data with it. The matrix is recomputed only when the policy object changes (a reload).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from sidecar.fleet import DecisionLike, page_data, recent_data, render_html
from sidecar.policy import Policy, SessionView, access_matrix

FLEET_PREFIX = "/fleet"
RECENT = 200
_SHELL_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class FleetPage:
    def __init__(
        self,
        policy: Callable[[], Policy],
        view: Callable[[], SessionView],
        recent: Callable[[int], Sequence[DecisionLike]],
        prefix: str = FLEET_PREFIX,
    ) -> None:
        self._policy = policy
        self._view = view
        self._recent = recent
        self.prefix = prefix.rstrip("/")
        self._shell = render_html(None).encode("utf-8")
        self._cached: tuple[int, dict[str, Any]] | None = None

    @property
    def public_paths(self) -> tuple[str, ...]:
        """The paths a host lets through without its credentials: the data-less shell only."""
        return (self.prefix, f"{self.prefix}/")

    def handles(self, path: str) -> bool:
        return path == self.prefix or path.startswith(f"{self.prefix}/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, b'{"error":"method not allowed"}', [(b"allow", b"GET")])
        elif path == self.prefix:
            await _send(send, 307, b"", [(b"location", f"{self.prefix}/".encode())])
        elif path == f"{self.prefix}/":
            await _send(send, 200, self._shell, _SHELL_HEADERS)
        elif path == f"{self.prefix}/data.json":
            data = await anyio.to_thread.run_sync(self._data)
            await _send_json(send, data)
        elif path == f"{self.prefix}/decisions.json":
            records = await anyio.to_thread.run_sync(self._recent, RECENT)
            await _send_json(send, recent_data(records))
        else:
            await _send(send, 404, b'{"error":"not found"}')

    def _data(self) -> dict[str, Any]:
        policy = self._policy()
        if self._cached is None or self._cached[0] != id(policy):
            matrix = access_matrix(policy, self._view(), explain=True)
            self._cached = (id(policy), page_data(matrix, main_key=policy.main_key))
        return {**self._cached[1], "recent": recent_data(self._recent(RECENT))}


class WithFleet:
    """Route the fleet page's paths to `page` and everything else to `app`."""

    def __init__(self, app: ASGIApp, page: FleetPage) -> None:
        self.app = app
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.page.handles(scope["path"]):
            await self.page(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def _send_json(send: Send, value: Any) -> None:
    body = json.dumps(value, separators=(",", ":")).encode("utf-8")
    await _send(send, 200, body, [(b"cache-control", b"no-store")])


async def _send(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    base = headers or [(b"content-type", b"application/json")]
    if not any(k == b"content-type" for k, _ in base):
        base = [(b"content-type", b"application/json"), *base]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*base, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
