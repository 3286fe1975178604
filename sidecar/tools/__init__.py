"""The service front and its pipelines: decide each call locally, then list, read, send or spawn."""

from sidecar.tools._routing import HOME, GatewayLike, GatewayPool, RoutingError
from sidecar.tools._service import BadCall, Denied, GatewayFault, SessionsService, Store

__all__ = [
    "HOME",
    "BadCall",
    "Denied",
    "GatewayFault",
    "GatewayLike",
    "GatewayPool",
    "RoutingError",
    "SessionsService",
    "Store",
]
