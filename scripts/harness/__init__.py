"""The project's real-gateway test harness: Node 24 + pinned openclaw, a stub model, isolated gateways.

    from harness import Gateway, start_gateway, ensure_openclaw

See ``scripts/gateway --help`` for the command line and docs in each module.
"""

from .gateway import (
    Gateway,
    GatewayError,
    GatewayRpc,
    attach,
    build_config,
    clean_environ,
    deep_merge,
    free_port,
    start_gateway,
)
from .node import ProvisioningError, Toolchain, ensure_openclaw, find_openclaw, was_ever_installed

__all__ = [
    "Gateway",
    "GatewayError",
    "GatewayRpc",
    "ProvisioningError",
    "Toolchain",
    "attach",
    "build_config",
    "clean_environ",
    "deep_merge",
    "ensure_openclaw",
    "find_openclaw",
    "free_port",
    "start_gateway",
    "was_ever_installed",
]
