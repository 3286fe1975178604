"""The multi-session host's chain: the process, its key, and the OpenClaw wiring that attests callers.

Read-only: it reads the host's state files and /healthz and the openclaw.json it is given; it never makes
a tool call (that would write the decision log).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from sidecar.deploy import PLUGIN_DIR, PLUGIN_ID, safe_server_names, server_name
from sidecar.doctor._report import Check, Status
from sidecar.host import DEFAULT_PORT, HostPaths
from sidecar.policy import Policy

UP = "Start it: sidecar up --policy {policy} --gateway URL"


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2.0) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def check_host(
    policy: Policy, openclaw: Mapping[str, Any] | None, paths: HostPaths | None = None
) -> list[Check]:
    """host (process, agents served, one gateway connection), host-key (0600) and, given openclaw.json,
    host-wiring (plugin loaded and enabled with this key file and every agent's server)."""
    paths = paths or HostPaths.default()
    servers = _obj(_obj((openclaw or {}).get("mcp")).get("servers"))
    uses_host = any(
        isinstance(_obj(s).get("url"), str) and "/agents/" in str(_obj(s)["url"]) for s in servers.values()
    )
    checks: list[Check] = []
    pid = paths.running_pid()
    info = paths.read_info() or {}
    if pid is None and not uses_host:
        return checks  # a stdio deployment: nothing of the host's to check
    if pid is None:
        status: Status = "FAIL" if uses_host else "SKIP"
        checks.append(
            Check(
                "host", status, f"no sidecar host runs (state in {paths.root})", UP.format(policy=policy.path)
            )
        )
    else:
        found = _health(int(info.get("port", DEFAULT_PORT)))
        if found is None:
            checks.append(
                Check(
                    "host",
                    "FAIL",
                    f"pid {pid} holds the lock but /healthz does not answer",
                    f"See {paths.log}; `sidecar down` then `sidecar up`",
                )
            )
        else:
            missing = sorted(set(policy.agent_ids) - set(found.get("agents", [])))
            if missing or info.get("policy") != policy.path:
                checks.append(
                    Check(
                        "host",
                        "WARN",
                        f"pid {pid} serves {info.get('policy')} for {', '.join(found.get('agents', []))}; not {', '.join(missing) or policy.path}",
                        "Restart it with this policy: sidecar down && " + UP.format(policy=policy.path),
                    )
                )
            else:
                conns = found.get("gatewayConnections")
                checks.append(
                    Check(
                        "host",
                        "PASS",
                        f"pid {pid} on {info.get('url')} serves {len(policy.agent_ids)} agent(s) over {conns} gateway connection(s)",
                    )
                )
    if paths.key.exists():
        mode = paths.key.stat().st_mode & 0o777
        if mode & 0o077:
            checks.append(
                Check(
                    "host-key",
                    "FAIL",
                    f"{paths.key} is readable by others (mode {mode:o})",
                    f"chmod 600 {paths.key}",
                )
            )
        else:
            checks.append(Check("host-key", "PASS", f"{paths.key} is private (0600)"))
    elif uses_host or pid is not None:
        checks.append(
            Check("host-key", "FAIL", f"no attestation key at {paths.key}", UP.format(policy=policy.path))
        )
    if openclaw is None or not uses_host:
        return checks
    plugins = _obj(openclaw.get("plugins"))
    paths_loaded = [str(p) for p in (_obj(plugins.get("load")).get("paths") or []) if isinstance(p, str)]
    entry = _obj(_obj(plugins.get("entries")).get(PLUGIN_ID))
    config = _obj(entry.get("config"))
    allow = plugins.get("allow")
    safe = safe_server_names([server_name(a) for a in policy.agent_ids])
    problems: list[str] = []
    if str(PLUGIN_DIR) not in paths_loaded:
        problems.append(f"plugins.load.paths lacks {PLUGIN_DIR}")
    if entry.get("enabled") is False or not entry:
        problems.append(f"plugins.entries.{PLUGIN_ID} is missing or disabled")
    if config.get("keyFile") != str(paths.key):
        problems.append(
            f"plugins.entries.{PLUGIN_ID}.config.keyFile is {config.get('keyFile')!r}, not {str(paths.key)!r}"
        )
    named = _obj(config.get("servers"))
    absent = [a for a in policy.agent_ids if named.get(safe[server_name(a)]) != a]
    if absent:
        problems.append(f"config.servers does not name the servers of {', '.join(absent)}")
    if isinstance(allow, list) and PLUGIN_ID not in allow:
        problems.append(f"plugins.allow does not list {PLUGIN_ID!r}")
    if problems:
        checks.append(
            Check(
                "host-wiring",
                "FAIL",
                "; ".join(problems) + ": calls go unattested and are decided as the least privileged class",
                "Merge the plugins block printed by: sidecar manifest openclaw --policy " + policy.path,
            )
        )
    else:
        checks.append(
            Check(
                "host-wiring",
                "PASS",
                "the attestation plugin is loaded with the host's key file for every agent's server",
            )
        )
    return checks


__all__ = ["check_host"]
