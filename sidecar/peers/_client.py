"""`PeerClient`: calls to another host's peer endpoint, over the MCP python SDK's streamable-HTTP client.

One MCP session per call: a peer call is rare next to the cost of the agent run it starts, and a fresh
session cannot be left half-open by a peer that restarted in between.
"""

from __future__ import annotations

from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sidecar.peers._auth import PeerAuthError, PeerCredential
from sidecar.peers._errors import PeerCallFailed, PeerDenied, PeerUnreachable

__all__ = ["PeerCallFailed", "PeerClient", "PeerDenied", "PeerUnreachable"]

CONNECT_TIMEOUT_S = 10.0


class PeerClient:
    """Authenticated calls to one peer's sidecar. `transport` replaces the network (tests)."""

    def __init__(
        self, name: str, url: str, secret: str, *, transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        self.name = name
        self.url = url
        self._auth = PeerCredential(name, secret, url)
        self._transport = transport

    def __repr__(self) -> str:
        return f"PeerClient({self.name!r}, {self.url!r})"

    async def call(self, tool: str, arguments: dict[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
        """Call one peer tool and return its structured result.

        Raises:
            PeerDenied: the receiving host's policy refused it (the result names its gate, key and fix).
            PeerUnreachable: no answer from the peer's sidecar (retry later; the send stays queued).
            PeerAuthError: the peer did not prove it holds this pair's secret.
            PeerCallFailed: the peer rejected the call itself.
        """
        http = httpx2.AsyncClient(
            auth=self._auth,
            timeout=httpx2.Timeout(timeout + 5, connect=CONNECT_TIMEOUT_S),
            transport=self._transport,
            trust_env=False,
        )
        try:
            async with http, Client(streamable_http_client(self.url, http_client=http)) as client:
                result = await client.call_tool(tool, arguments)
        except PeerAuthError:
            raise
        except (httpx2.TransportError, OSError) as exc:
            raise PeerUnreachable(
                f"peer {self.name} ({self.url}) is unreachable: {exc or type(exc).__name__}"
            ) from None
        except BaseExceptionGroup as group:
            auth = group.subgroup(PeerAuthError)
            if auth is not None:
                raise auth.exceptions[0] from None
            cut = group.subgroup((httpx2.TransportError, OSError))
            why = cut.exceptions[0] if cut is not None else group.exceptions[0]
            raise PeerUnreachable(f"peer {self.name} ({self.url}) is unreachable: {why}") from None
        except Exception as exc:
            if _is_transport_problem(exc):
                raise PeerUnreachable(f"peer {self.name} ({self.url}) failed mid-call: {exc}") from None
            raise PeerCallFailed(f"peer {self.name}: {exc}") from None
        if result.is_error:
            text = "".join(getattr(c, "text", "") for c in result.content)
            raise PeerCallFailed(f"peer {self.name} refused the call: {text}")
        data = result.structured_content
        if not isinstance(data, dict):
            raise PeerCallFailed(f"peer {self.name} answered without a structured result")
        if data.get("outcome") == "denied":
            raise PeerDenied(self.name, dict(data.get("decision") or {}))
        return data


def _is_transport_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (httpx2.TransportError, OSError, PeerAuthError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
