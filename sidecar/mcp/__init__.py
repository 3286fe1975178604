"""The MCP layer: translate tool calls to the service and results back; never decide."""

from sidecar.mcp._http import load_or_create_token, serve_http
from sidecar.mcp._server import build_server

__all__ = ["build_server", "load_or_create_token", "serve_http"]
