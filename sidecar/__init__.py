"""openclaw-sessions-sidecar: a per-agent MCP server for OpenClaw's session tools."""

__version__ = "0.1.0"
