"""The MCP layer: translate tool calls to the service and results back; never decide."""

from sidecar.mcp._fleet import FLEET_PREFIX, FleetPage, WithFleet
from sidecar.mcp._http import BearerAuth, load_or_create_token, serve_http
from sidecar.mcp._results import DELIVERY_STATES, RESULT_MODELS, DeliveryState, Denial, validate_result
from sidecar.mcp._server import build_server

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
