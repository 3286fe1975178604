"""``scripts/gateway``: install, start, inspect and stop a real OpenClaw gateway for local work.

Run through ``scripts/gateway`` (it bootstraps the venv); ``python -m harness.cli`` with ``scripts`` on
PYTHONPATH is the same thing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .gateway import FLAG_ENV, GatewayError, attach, port_is_free, stable_port, start_gateway
from .node import (
    OPENCLAW_VERSION,
    VERSIONS,
    ProvisioningError,
    cache_dir,
    ensure_openclaw,
    openclaw_version,
    resolve_version,
)

DEFAULT_AGENTS = "main,pa,dev-1,dev-2"

MAIN_HELP = """\
Run the real OpenClaw gateway (npm openclaw@{version}, Node 24 from PyPI) against a deterministic stub
model, isolated under one root directory and bound to 127.0.0.1 only.

Supported releases: {versions} (default {version}); --openclaw VERSION (or $OPENCLAW_VERSION)
picks one for install and up, each pinned in scripts/openclaw/[VERSION/] and installed in its own
.cache/openclaw[-VERSION]/ directory.

examples:
  scripts/gateway install                      # node links + npm ci into .cache/openclaw (once)
  scripts/gateway install --openclaw 2026.3.13 # another release, into .cache/openclaw-2026.3.13
  scripts/gateway up --agents main,dev-1       # start; prints the ws:// url
  scripts/gateway up --openclaw 2026.4.12 --agents main,dev-1 --root /tmp/gw-old
  source <(scripts/gateway env)                # point the openclaw CLI at it
  openclaw gateway call sessions.list --params '{{}}'
  openclaw agent --agent main --message "hello" --json     # -> "echo: hello"
  scripts/gateway status
  scripts/gateway down

Stub model rules: "CALL <tool> <json>" makes the agent call a tool, e.g.
  openclaw agent --agent main --json --message \\
    'CALL tool_call {{"id":"sessions_send","args":{{"sessionKey":"agent:dev-1:main","message":"hi"}}}}'
anything else is answered "echo: <text>". Each model call is logged to <root>/stub-requests.jsonl.
"""

INSTALL_HELP = """\
Create .cache/bin/{node,npm,openclaw} and `npm ci` the pinned scripts/openclaw/package-lock.json into
.cache/openclaw. Reused while the lockfile is unchanged (stamp .cache/openclaw/.installed-<hash>).
With --openclaw VERSION: `npm ci` scripts/openclaw/VERSION/ into .cache/openclaw-VERSION instead
(2026.3.x pins an npm override for libsignal, whose git-hosted original cannot be fetched).

examples:
  scripts/gateway install
  scripts/gateway install --openclaw 2026.3.13
  scripts/gateway install --force     # reinstall even if the stamp matches
"""

UP_HELP = """\
Start the stub model and a gateway under ROOT (default .cache/gateway-root) and wait for /readyz
(about 15 s; up to 120 s). Writes ROOT/info.json (0600: ports, url, pids, token, paths). The processes
keep running after this command returns; stop them with `scripts/gateway down`.
The gateway listens on --port, else on a port derived from ROOT's path (20000-29999), the same on
every start, so a URL in a policy or a pairing stays valid across `down` and `up`.

With --openclaw VERSION the gateway is that release, with a config in the shape it validates
(agents.list[] before 2026.9, agents.entries{} from 2026.9).

examples:
  scripts/gateway up
  scripts/gateway up --port 18789 --agents manager,lead,research,hr,dev-1,dev-2
  scripts/gateway up --agents main,manager,dev-1,dev-2
  scripts/gateway up --openclaw 2026.3.13 --agents main,dev-1 --root /tmp/gw-313
  scripts/gateway up --root /tmp/gw-b --name studio
  scripts/gateway up --config '{"tools": {"sessions": {"visibility": "self"}}}'
"""

DOWN_HELP = """\
Stop exactly the processes recorded in ROOT/info.json (SIGTERM to their process groups, SIGKILL after
15 s). State and logs under ROOT are kept.

examples:
  scripts/gateway down
  scripts/gateway down --root /tmp/gw-b
"""

ENV_HELP = """\
Print shell `export` lines that point the real `openclaw` CLI at the running gateway
(OPENCLAW_GATEWAY_URL, OPENCLAW_GATEWAY_TOKEN, OPENCLAW_CONFIG_PATH, OPENCLAW_STATE_DIR, OPENCLAW_HOME
and a PATH that finds node 24 and openclaw). HOME is left alone.

examples:
  source <(scripts/gateway env)
  openclaw gateway call sessions.list --params '{}'
  openclaw gateway call chat.history --params '{"sessionKey":"agent:main:main"}' --json
  eval "$(scripts/gateway env --root /tmp/gw-b)"
"""

STATUS_HELP = """\
Show ROOT/info.json (token hidden) and whether the gateway answers /health.

examples:
  scripts/gateway status
  scripts/gateway status --json
"""


ROOT_ENV = "SIDECAR_GATEWAY_ROOT"


def _default_root() -> Path:
    """$SIDECAR_GATEWAY_ROOT, else .cache/gateway-root."""
    explicit = os.environ.get(ROOT_ENV, "").strip()
    return Path(explicit) if explicit else cache_dir() / "gateway-root"


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help=f"the gateway's root dir (default: ${ROOT_ENV}, else .cache/gateway-root)",
    )


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--openclaw",
        metavar="VERSION",
        choices=VERSIONS,
        default=None,
        help=f"OpenClaw release: {', '.join(VERSIONS)} (default $OPENCLAW_VERSION, else {OPENCLAW_VERSION})",
    )


def _root(args: argparse.Namespace) -> Path:
    root: Path = args.root if args.root is not None else _default_root()
    return root.resolve()


def cmd_install(args: argparse.Namespace) -> int:
    started = time.monotonic()
    tools = ensure_openclaw(force=args.force, version=resolve_version(args.openclaw))
    print(f"node:     {tools.node}")
    print(f"npm:      {tools.npm}")
    print(f"openclaw: {tools.openclaw} ({openclaw_version(tools)})")
    print(f"ready in {time.monotonic() - started:.1f}s")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    root = _root(args)
    if (root / "info.json").exists():
        with contextlib.suppress(GatewayError, OSError, ValueError, KeyError):
            existing = attach(root)
            if existing.is_running():
                print(f"already up: {existing.url} (root {root}); `scripts/gateway down` first to restart")
                return 0
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    overrides = json.loads(args.config) if args.config else None
    tools = ensure_openclaw(version=resolve_version(args.openclaw))
    port = args.port if args.port is not None else stable_port(root)
    if not port_is_free(port):
        how = "--port" if args.port is not None else f"this root's stable port (from {root})"
        print(
            f"error: 127.0.0.1:{port} ({how}) is already in use; stop what listens there, or pass "
            "--port N (or another --root)",
            file=sys.stderr,
        )
        return 1
    gw = start_gateway(
        root, agents, name=args.name, config_overrides=overrides, detach=True, tools=tools, port=port
    )
    root_arg = "" if args.root is None else f" --root {shlex.quote(str(root))}"
    print(f"gateway {gw.name!r} (openclaw {tools.version}) ready in {gw.t_ready_s:.1f}s")
    print(f"  url:     {gw.url}")
    print(f"  http:    {gw.http_url}   (GET /readyz, POST /tools/invoke)")
    print(f"  agents:  {', '.join(gw.agents)}")
    print(f"  info:    {gw.info_path}")
    print(f"  logs:    {gw.log_path}, {gw.stub_log_path}")
    print(f"use it:    source <(scripts/gateway env{root_arg})")
    print("           openclaw gateway call sessions.list --params '{}'")
    print(f"stop it:   scripts/gateway down{root_arg}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    root = _root(args)
    if not (root / "info.json").exists():
        print(f"nothing to stop: no {root / 'info.json'}")
        return 0
    gw = attach(root)
    started = time.monotonic()
    gw.stop()
    (root / "info.json").unlink()
    print(f"stopped gateway {gw.name!r} (pids {gw.info()['pids']}) in {time.monotonic() - started:.1f}s")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    root = _root(args)
    if not (root / "info.json").exists():
        print(f"no gateway under {root}: run scripts/gateway up first", file=sys.stderr)
        return 1
    gw = attach(root)
    env = gw.env
    keys = [
        "OPENCLAW_GATEWAY_URL",
        "OPENCLAW_GATEWAY_TOKEN",
        "OPENCLAW_CONFIG_PATH",
        "OPENCLAW_STATE_DIR",
        "OPENCLAW_HOME",
        *[k for k in FLAG_ENV if k.startswith("OPENCLAW_")],
    ]
    print(f"# openclaw gateway {gw.name!r} at {gw.url} (root {root})")
    for key in keys:
        print(f"export {key}={shlex.quote(env[key])}")
    bins = gw.tools.path_env("")
    print(f'export PATH={shlex.quote(bins)}:"$PATH"')
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    root = _root(args)
    if not (root / "info.json").exists():
        print(f"down: no {root / 'info.json'}")
        return 1
    gw = attach(root)
    info = gw.info()
    info["token"] = "***"
    info["running"] = gw.is_running()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        state = "up" if info["running"] else "NOT RUNNING"
        print(f"{state}: gateway {gw.name!r} {gw.url} agents={','.join(gw.agents)} pids={info['pids']}")
        print(f"  root {root}; logs {gw.log_path}")
    return 0 if info["running"] else 1


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="scripts/gateway",
        description=MAIN_HELP.format(version=OPENCLAW_VERSION, versions=", ".join(VERSIONS)),
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{install,up,down,env,status}")

    p = sub.add_parser("install", help="node 24 links + npm ci openclaw", description=INSTALL_HELP)
    p.formatter_class = fmt
    p.add_argument("--force", action="store_true", help="reinstall even if the lockfile stamp matches")
    _add_version(p)
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("up", help="start stub model + gateway and wait for /readyz", description=UP_HELP)
    p.formatter_class = fmt
    _add_root(p)
    p.add_argument(
        "--agents", default=DEFAULT_AGENTS, help=f"comma-separated agent ids (default {DEFAULT_AGENTS})"
    )
    p.add_argument("--name", default="home", help="a label for this gateway (default home)")
    p.add_argument(
        "--port", type=int, default=None, help="the gateway's port (default: stable per --root, 20000-29999)"
    )
    p.add_argument("--config", help="JSON object deep-merged into the generated openclaw.json")
    _add_version(p)
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop the processes recorded in ROOT/info.json", description=DOWN_HELP)
    p.formatter_class = fmt
    _add_root(p)
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("env", help="print export lines for the openclaw CLI", description=ENV_HELP)
    p.formatter_class = fmt
    _add_root(p)
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("status", help="is it running? (info.json without the token)", description=STATUS_HELP)
    p.formatter_class = fmt
    _add_root(p)
    p.add_argument("--json", action="store_true", help="print info.json (token hidden) as JSON")
    p.set_defaults(func=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (GatewayError, ProvisioningError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
