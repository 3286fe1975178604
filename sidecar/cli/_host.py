"""`sidecar host` (foreground), `sidecar up` / `down` / `status`: the one long-lived process for OpenClaw."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio

from sidecar import telemetry
from sidecar.cli._serve import GATEWAY_ENV, TOKEN_ENV, observe_banner
from sidecar.config import ENV_VAR, load_policy
from sidecar.host import DEFAULT_PORT, HostConfig, HostLocked, HostPaths, governed_agents, run_host
from sidecar.mirror import MirrorError, PauseFile
from sidecar.policy import Policy, PolicyError
from sidecar.reload import read_status
from sidecar.secrets import SecretStoreUnavailable

UP_WAIT_S = 60.0
DOWN_WAIT_S = 20.0

HOST_EPILOG = f"""\
examples:
  sidecar up --policy manifests/policies/team.json5 --gateway ws://127.0.0.1:18789   # in the background
  sidecar status --policy manifests/policies/team.json5             # what runs, where, since when
  sidecar down --policy manifests/policies/team.json5               # stop it
  sidecar host --policy manifests/policies/team.json5 --gateway ws://127.0.0.1:18789  # in the foreground

One process serves every agent of the policy and every session of each agent over streamable HTTP on
127.0.0.1: agent <id> at http://127.0.0.1:PORT/agents/<id>/mcp behind its own bearer token. It holds one
gateway connection and one mirror per gateway, and a lock that makes it the mirror's only writer.
Each call is decided as the session that made it, attested by the sidecar's OpenClaw plugin (an HMAC
with the key in <state dir>/host/attest.key); a call without a valid attestation is decided as the
agent's least privileged class. `sidecar manifest openclaw` prints the matching openclaw.json fragment.
Files: <state dir>/host/ (host.pid, host.json, host.log, attest.key, mirror.db). The policy may also
come from ${ENV_VAR}; the gateway from --gateway, gateway.url in the policy, or ${GATEWAY_ENV}.
status and down act on the running host and need no policy; one that is given must exist.
Exit 0 on success (status: a host is running), 1 when the host fails to start or stop, 2 on bad input
(a missing or invalid policy file, no gateway), 3 from status when no host is running.

Live operation, as for `sidecar serve`: policy edits apply to every agent's next call without a restart
(clients get tools/list_changed; a broken edit is refused and the old policy stays, see `sidecar
doctor`); `sidecar pause --agent ID` stops one agent's calls from all its sessions; each agent's budgets
count its own calls; `sidecar decisions --agent ID` and `sidecar outbox --agent ID` read the host's
database. `status` shows paused agents and a refused edit.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, help_text, handler in (
        ("host", "run the multi-session host in the foreground", _host),
        ("up", "start the multi-session host in the background (idempotent)", _up),
        ("down", "stop the background host", _down),
        ("status", "say whether the host runs, where, and for which agents", _status),
    ):
        parser = sub.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=HOST_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("--policy", metavar="FILE", help=f"policy file (JSON5); default ${ENV_VAR}")
        if name in ("host", "up"):
            parser.add_argument("--gateway", metavar="URL", help="home gateway URL")
            parser.add_argument(
                "--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT})"
            )
            parser.add_argument(
                "--token-env",
                metavar="NAME",
                default=TOKEN_ENV,
                help=f"variable holding the gateway's shared token, used only until paired (default {TOKEN_ENV})",
            )
            parser.add_argument(
                "--token-store",
                choices=("keyring", "file"),
                help="where the device tokens live (default keyring, or $SIDECAR_TOKEN_STORE)",
            )
            parser.add_argument(
                "--log-level",
                default=os.environ.get("SIDECAR_LOG_LEVEL", "info"),
                choices=("debug", "info", "warning", "error"),
                help="log verbosity (default $SIDECAR_LOG_LEVEL, else info)",
            )
            parser.add_argument(
                "--otel",
                action="store_true",
                help="export OpenTelemetry traces and metrics over OTLP for every agent's calls (needs the otel "
                "extra; configured by the standard OTEL_* variables; also $SIDECAR_OTEL=1)",
            )
        if name == "status":
            parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.set_defaults(handler=handler)


def _bad(command: str, message: str) -> int:
    print(f"sidecar {command}: {message}", file=sys.stderr)
    return 2


def _policy(command: str, args: argparse.Namespace) -> Policy | None:
    try:
        return load_policy(args.policy)
    except PolicyError as exc:
        _bad(command, str(exc))
        return None


def _policy_url(policy: Policy) -> str | None:
    gateway = policy.doc.data.get("gateway")
    url = gateway.get("url") if isinstance(gateway, dict) else None
    return url if isinstance(url, str) else None


def _home(policy: Policy, args: argparse.Namespace) -> str | None:
    return args.gateway or _policy_url(policy) or os.environ.get(GATEWAY_ENV)


def _host(args: argparse.Namespace) -> int:
    policy = _policy("host", args)
    if policy is None:
        return 2
    home = _home(policy, args)
    if not home:
        return _bad(
            "host",
            f"no gateway: pass --gateway URL, set gateway.url in {policy.path}, or export {GATEWAY_ENV}",
        )
    paths = HostPaths.default()
    paths.ensure()
    logging.basicConfig(
        level=args.log_level.upper(),
        handlers=[logging.StreamHandler(sys.stderr)],
        format="%(asctime)s sidecar-host[%(process)d] %(levelname)s %(message)s",
    )
    for agent in governed_agents(policy):
        banner = observe_banner(policy, agent)
        if banner:
            print(banner, file=sys.stderr)
    config = HostConfig(
        policy, home, args.port, paths, token_env=args.token_env, token_store=args.token_store
    )
    if telemetry.wanted(args.otel):
        try:
            telemetry.configure("host")
        except telemetry.TelemetryUnavailable as exc:
            return _bad("host", str(exc))
    try:
        anyio.run(run_host, config)
    except KeyboardInterrupt:
        return 0
    except HostLocked as exc:
        print(f"sidecar host: {exc}", file=sys.stderr)
        return 1
    except (SecretStoreUnavailable, MirrorError, OSError) as exc:
        print(f"sidecar host: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        return _bad("host", str(exc))
    finally:
        telemetry.shutdown()
    return 0


def health(port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    """The running host's /healthz, or None when nothing answers on `port`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def _up(args: argparse.Namespace) -> int:
    policy = _policy("up", args)
    if policy is None:
        return 2
    home = _home(policy, args)
    if not home:
        return _bad(
            "up", f"no gateway: pass --gateway URL, set gateway.url in {policy.path}, or export {GATEWAY_ENV}"
        )
    if not governed_agents(policy):
        return _bad("up", f"{policy.path} governs no agent: add agents.entries.<id> for each agent to serve")
    paths = HostPaths.default()
    pid = paths.running_pid()
    if pid is not None:
        info = paths.read_info() or {}
        if info.get("policy") not in (None, policy.path):
            print(
                f"sidecar up: a host (pid {pid}) already runs with {info.get('policy')}; "
                "`sidecar down` it first to serve another policy.",
                file=sys.stderr,
            )
            return 1
        print(f"sidecar host already running (pid {pid}) on {info.get('url', '?')}; nothing to do.")
        return 0
    paths.ensure()
    os.close(os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600))
    command = [sys.executable, "-m", "sidecar", "host", "--policy", policy.path, "--gateway", home,
               "--port", str(args.port), "--token-env", args.token_env, "--log-level", args.log_level]  # fmt: skip
    if args.token_store:
        command += ["--token-store", args.token_store]
    if args.otel:
        command.append("--otel")
    with paths.log.open("ab") as log:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
        )
    deadline = time.monotonic() + UP_WAIT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            print(
                f"sidecar up: the host exited with {child.returncode}; see {paths.log}:\n"
                + _tail(paths.log, 15),
                file=sys.stderr,
            )
            return 1
        found = health(args.port, timeout=1.0)
        if found is not None and found.get("pid") == child.pid:
            agents = ", ".join(found.get("agents", []))
            print(f"sidecar host started (pid {child.pid}) on http://127.0.0.1:{args.port} for {agents}")
            print(f"log: {paths.log}")
            return 0
        time.sleep(0.2)
    print(
        f"sidecar up: the host (pid {child.pid}) did not answer within {UP_WAIT_S:.0f} s; see {paths.log}",
        file=sys.stderr,
    )
    return 1


def _down(args: argparse.Namespace) -> int:
    if args.policy is not None and _policy("down", args) is None:  # a given policy must exist, not be ignored
        return 2
    paths = HostPaths.default()
    pid = paths.running_pid()
    if pid is None:
        print("sidecar host is not running; nothing to do.")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_WAIT_S
    while time.monotonic() < deadline:
        if paths.running_pid() is None:
            print(f"sidecar host (pid {pid}) stopped.")
            return 0
        time.sleep(0.1)
    print(
        f"sidecar down: pid {pid} is still running after {DOWN_WAIT_S:.0f} s; kill -9 {pid} if it hangs",
        file=sys.stderr,
    )
    return 1


def _status(args: argparse.Namespace) -> int:
    if (
        args.policy is not None and _policy("status", args) is None
    ):  # a given policy must exist, not be ignored
        return 2
    paths = HostPaths.default()
    pid = paths.running_pid()
    info = paths.read_info() or {}
    found = health(int(info.get("port", DEFAULT_PORT))) if pid is not None else None
    paused = _paused(paths, list(info.get("agents") or {}))
    refused = (read_status(paths.root) or {}).get("lastError") if pid is not None else None
    report = {
        "running": pid is not None,
        "pid": pid,
        **({"host": info} if info else {}),
        "health": found,
        "paused": paused,
        "policyError": refused,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if pid is not None else 3
    if pid is None:
        print(f"sidecar host: not running (state in {paths.root}). Start it with `sidecar up --policy FILE`.")
        return 3
    print(f"sidecar host: running, pid {pid}, {info.get('url', '?')}, policy {info.get('policy', '?')}")
    print(
        f"  gateway: {info.get('gateway', '?')}  connections open: {(found or {}).get('gatewayConnections', '?')}"
    )
    for agent, path in (info.get("agents") or {}).items():
        pause = paused.get(agent)
        state = f"  PAUSED ({pause}); `sidecar resume --agent {agent}` lifts it" if pause else ""
        print(f"  agent {agent}: {info.get('url', '')}{path}{state}")
    if refused:
        print(f"  policy: the last edit was refused, the previous policy is in force: {refused}")
    print(f"  log: {info.get('log', paths.log)}")
    return 0


def _paused(paths: HostPaths, agents: list[str]) -> dict[str, str]:
    """Each served agent under an operator's pause, with the reason."""
    found: dict[str, str] = {}
    for agent in agents:
        try:
            pause = PauseFile.in_dir(paths.agent_dir(str(agent))).read()
        except ValueError:
            continue
        if pause is not None:
            found[str(agent)] = pause.reason or "no reason given"
    return found


def _tail(path: Path, n: int) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return ""
