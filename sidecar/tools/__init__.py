"""The service front and its pipelines: decide each call locally, then list, read, send or spawn."""

from sidecar.tools._context import CallContext
from sidecar.tools._errors import BadCall, Denied, GatewayFault
from sidecar.tools._routing import HOME, GatewayLike, GatewayPool, RoutingError
from sidecar.tools._send import SendPipeline
from sidecar.tools._service import SessionsService
from sidecar.tools._store import OutboxRow, OutboxStatus, Store

__all__ = [
    "HOME",
    "BadCall",
    "CallContext",
    "Denied",
    "GatewayFault",
    "GatewayLike",
    "GatewayPool",
    "OutboxRow",
    "OutboxStatus",
    "RoutingError",
    "SendPipeline",
    "SessionsService",
    "Store",
]
