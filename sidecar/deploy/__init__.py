"""Deployment: client manifests, the OpenClaw fragment, and the audit of an openclaw.json."""

from sidecar.deploy._audit import Finding, audit_openclaw_config
from sidecar.deploy._grouping import FRAGMENT_FIXES, FindingGroup, group_findings
from sidecar.deploy._host_fragment import (
    PLUGIN_DIR,
    PLUGIN_ID,
    host_fragment,
    host_header,
    token_env,
    write_env_file,
)
from sidecar.deploy._manifests import (
    CLIENTS,
    DEFAULT_GATEWAY,
    WHERE,
    Client,
    NoMcpClient,
    client_config,
    codex_header,
    default_command,
    fragment_release,
    launch_for,
    openclaw_fragment,
    openclaw_header,
    render,
)
from sidecar.deploy._naming import (
    BUILTIN_SESSION_TOOLS,
    SIDECAR_TOOLS,
    safe_server_names,
    server_name,
    valid_server_name,
)

__all__ = [
    "BUILTIN_SESSION_TOOLS",
    "CLIENTS",
    "DEFAULT_GATEWAY",
    "FRAGMENT_FIXES",
    "PLUGIN_DIR",
    "PLUGIN_ID",
    "SIDECAR_TOOLS",
    "WHERE",
    "Client",
    "Finding",
    "FindingGroup",
    "NoMcpClient",
    "audit_openclaw_config",
    "client_config",
    "codex_header",
    "default_command",
    "fragment_release",
    "group_findings",
    "host_fragment",
    "host_header",
    "launch_for",
    "openclaw_fragment",
    "openclaw_header",
    "render",
    "safe_server_names",
    "server_name",
    "token_env",
    "valid_server_name",
    "write_env_file",
]
