"""The floor for MCP over stdio: a bare MCPServer (same SDK as the sidecar) with one echo tool.

    python -m benchmarks.echo_server      # speaks MCP on stdin/stdout

Nothing else is imported, so its cold start and RSS are what the SDK itself costs.
"""

from __future__ import annotations

from mcp.server import MCPServer

server: MCPServer = MCPServer("bench-echo")


@server.tool(description="Return the text unchanged.")
def echo(text: str) -> str:
    return text


if __name__ == "__main__":
    server.run("stdio")
