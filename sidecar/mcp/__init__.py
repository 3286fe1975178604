"""The MCP layer: translate tool calls to the service and results back; never decide."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sidecar.mcp._results import DELIVERY_STATES, RESULT_MODELS, DeliveryState, Denial, validate_result
from sidecar.mcp._server import build_server

if TYPE_CHECKING:
    from sidecar.mcp._fleet import FLEET_PREFIX, FleetPage, WithFleet
    from sidecar.mcp._http import BearerAuth, load_or_create_token, serve_http

__all__ = [
    "DELIVERY_STATES",
    "FLEET_PREFIX",
    "RESULT_MODELS",
    "BearerAuth",
    "DeliveryState",
    "Denial",
    "FleetPage",
    "WithFleet",
    "build_server",
    "load_or_create_token",
    "serve_http",
    "validate_result",
]

# The HTTP transport and the fleet page are loaded on first use: `sidecar serve` over stdio needs
# neither, and the fleet page brings the policy matrix and its renderers with it.
_LAZY = {
    "FLEET_PREFIX": "sidecar.mcp._fleet",
    "FleetPage": "sidecar.mcp._fleet",
    "WithFleet": "sidecar.mcp._fleet",
    "BearerAuth": "sidecar.mcp._http",
    "load_or_create_token": "sidecar.mcp._http",
    "serve_http": "sidecar.mcp._http",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
