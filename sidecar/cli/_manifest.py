"""`sidecar manifest`: print a ready-to-save MCP client config that launches an agent's sidecar."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from sidecar.cli import add_strict
from sidecar.config import (
    DEFAULT_GATEWAY_URL,
    ENV_VAR,
    GATEWAY_URL_ENV,
    TOKEN_FILE_ENV,
    TOKEN_STORE_ENV,
    TOKEN_STORES,
    gateway_url_help,
    load_policy,
    resolve_gateway_url,
    resolve_token_store,
)
from sidecar.deploy import (
    CLIENTS,
    WHERE,
    Client,
    client_config,
    codex_header,
    default_command,
    launch_for,
    openclaw_fragment,
    openclaw_header,
    render,
    safe_server_names,
    server_name,
    valid_server_name,
)
from sidecar.policy import Policy, PolicyError, is_agent_id

GATEWAY_ENV = GATEWAY_URL_ENV
DEFAULT_GATEWAY = DEFAULT_GATEWAY_URL

EPILOG = f"""\
CLIENT is one of: {", ".join(CLIENTS)}.
The snippet goes to stdout; where to save it, and any assumption made, go to stderr.

examples:
  # Claude Desktop, acting as agent lead
  sidecar manifest claude-desktop --agent lead --policy manifests/policies/team.json5

  # a project's .mcp.json (Claude Code), .cursor/mcp.json, .vscode/mcp.json; Codex's config.toml
  sidecar manifest claude-code --agent lead --policy manifests/policies/team.json5 > .mcp.json
  sidecar manifest cursor --agent lead --policy manifests/policies/team.json5 > .cursor/mcp.json
  sidecar manifest vscode --agent lead --policy manifests/policies/team.json5 > .vscode/mcp.json
  sidecar manifest codex --agent lead --policy manifests/policies/team.json5 >> ~/.codex/config.toml

  # OpenClaw itself, for every agent in the policy: one sidecar per agent under mcp.servers, and per
  # agent a tools.deny of OpenClaw's built-in session tools and of every other agent's sidecar
  sidecar manifest openclaw --policy manifests/policies/team.json5 > sidecar-fragment.json5
  sidecar manifest openclaw --policy manifests/policies/team.json5 --openclaw-version 2026.4.12   # agents.list[] shape

  # one agent of an OpenClaw fleet, on another gateway, with the sidecar installed elsewhere
  sidecar manifest openclaw --agent dev-1 --policy manifests/policies/team.json5 --gateway ws://127.0.0.1:19001 \\
      --sidecar /opt/sidecar/bin/sidecar

Paths in the output are absolute: the sidecar is this installation's (the `sidecar` beside the running
Python, else the one on PATH, else `python -m sidecar`) unless --sidecar names another, and the policy is
resolved from the current directory. Servers are named sessions-<ID> unless --name says otherwise.
{gateway_url_help()} When it is the policy's gateway.url no --gateway flag is written (serve reads
the same file). The token store is --token-store, else ${TOKEN_STORE_ENV}, else the OS keyring; a file
store is written into the launch as --token-store file, so the client's sidecar finds the same tokens.
No token is ever written: pair each agent once with `sidecar pair --gateway URL --agent ID`.
The policy may also come from ${ENV_VAR}. Exit 0 on success, 2 on bad input.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "manifest",
        help="print an MCP client config (OpenClaw, Claude, Cursor, VS Code, Codex) for an agent's sidecar",
        description="Print a ready-to-save MCP client config that launches one agent's sidecar, or for\n"
        "OpenClaw the whole fleet's fragment, with absolute paths.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("client", metavar="CLIENT", choices=CLIENTS, help="one of " + ", ".join(CLIENTS))
    parser.add_argument(
        "--agent",
        metavar="ID",
        help="the agent this sidecar serves (required, except for openclaw: omit it for the whole fleet)",
    )
    parser.add_argument("--policy", metavar="FILE", help=f"policy file (JSON5); default ${ENV_VAR}")
    parser.add_argument(
        "--name", metavar="NAME", help="server name in the client config (default sessions-<ID>)"
    )
    parser.add_argument("--gateway", metavar="URL", help="gateway URL written as serve --gateway")
    parser.add_argument(
        "--sidecar", metavar="PATH", help="the sidecar executable to launch (default: this installation's)"
    )
    parser.add_argument(
        "--openclaw-version",
        metavar="VERSION",
        help="the OpenClaw release of the gateway, for the fragment's shape (default: the newest "
        "supported, 2026.9.6); 2026.3.x has no mcp.servers, so there the other clients apply",
    )
    parser.add_argument(
        "--token-store",
        choices=TOKEN_STORES,
        help=f"the token store the launched sidecar uses (default ${TOKEN_STORE_ENV}, else keyring)",
    )
    add_strict(parser)
    parser.add_argument(
        "--via",
        choices=("host", "stdio"),
        default="host",
        help="openclaw only: one `sidecar host` process for every session (default), or the older stdio "
        "server per session (each OpenClaw session then starts its own process)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="openclaw --via host: the host's port (default 8766)"
    )
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        help="openclaw --via host: write each agent's SIDECAR_TOKEN_<ID>=... to this dotenv file (0600), "
        "e.g. ~/.openclaw/.env, which OpenClaw reads at start; other lines are kept",
    )
    parser.set_defaults(handler=_handle)


def _bad(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _handle(args: argparse.Namespace) -> int:
    client: Client = args.client
    try:
        policy = load_policy(args.policy, strict=args.strict, warn=sys.stderr)
    except PolicyError as exc:
        return _bad(str(exc))
    policy_path = str(Path(policy.path).expanduser().resolve())
    known = ", ".join(policy.agent_ids) or "none"
    if not policy.agent_ids:
        return _bad(f"{policy.path} names no agents: add agents.entries.<id>: {{}} for each agent it governs")
    if args.agent is None and client != "openclaw":
        return _bad(
            f"--agent ID is required for {client}: one sidecar serves one agent (agents in {policy.path}: "
            f"{known}). Example: sidecar manifest {client} --agent {(policy.agent_ids or ('lead',))[0]} "
            f"--policy {policy.path}"
        )
    if args.agent is not None:
        if not is_agent_id(args.agent):
            return _bad(
                f"--agent {args.agent!r} is not a valid agent id (lowercase letters, digits, _ and -)"
            )
        if args.agent not in policy.agent_ids:
            return _bad(
                f"agent {args.agent!r} is not in {policy.path} (agents: {known}). Add it as "
                f"agents.entries.{args.agent}: {{}} so its policy is explicit."
            )
    if args.name is not None:
        if client == "openclaw":
            return _bad(
                "--name does not apply to openclaw: its servers are named sessions-<ID> so that every "
                "agent's tools.deny can name the other agents' sidecars"
            )
        if not valid_server_name(args.name):
            return _bad(
                f"--name {args.name!r}: use letters, digits, _ and - (at most 64, starting alphanumeric)"
            )
    if args.gateway is not None and not _is_ws_url(args.gateway):
        return _bad(
            f"--gateway {args.gateway!r} is not a ws:// or wss:// URL, e.g. --gateway {DEFAULT_GATEWAY}"
        )
    command = _command(args.sidecar)
    gateway = _gateway(args.gateway, policy)
    store = resolve_token_store(args.token_store)
    if store.value not in TOKEN_STORES:
        return _bad(
            f"token store {store.value!r} (from {store.source}) is not one of {', '.join(TOKEN_STORES)}"
        )
    store_args: tuple[str, ...] = ()
    if store.value != "keyring":
        store_args = ("--token-store", store.value)
        _note(f"token store {store.value} (from {store.source}) written into the launch as --token-store")
        if os.environ.get(TOKEN_FILE_ENV):
            _note(
                f"${TOKEN_FILE_ENV} is set here; set it the same way where the client runs, or the sidecar "
                "uses the default file"
            )

    if client == "openclaw" and args.via == "host":
        if args.openclaw_version in (None, "2026.9.6"):
            return _host_fragment(args, policy, policy_path)
        # The host's attestation plugin is built and tested against 2026.9.6 only.
        _note(
            f"--openclaw-version {args.openclaw_version}: the host is for 2026.9.6; printing the stdio fragment"
        )
    if client == "openclaw":
        _note(
            "stdio servers: every session of an agent, its subagents included, is decided as the agent's "
            "main session (OpenClaw does not tell a stdio server who calls); the host decides per session"
        )
        launches = {a: launch_for(a, policy_path, command, gateway, store_args) for a in policy.agent_ids}
        agents = [args.agent] if args.agent else None
        try:
            config = openclaw_fragment(policy, launches, agents, openclaw_version=args.openclaw_version)
        except ValueError as exc:  # NoMcpClient names the clients that work; else an unsupported release
            return _bad(str(exc))
        _warn_truncated(policy)
        if args.agent:
            _note(
                f"every other agent must also deny sessions-{args.agent}__* or it can act as {args.agent}; "
                f"print the whole fleet with: sidecar manifest openclaw --policy {policy.path}"
            )
        print(render(client, config, openclaw_header(policy_path, args.openclaw_version)), end="")
        return 0

    launch = launch_for(args.agent, policy_path, command, gateway, store_args)
    config = client_config(client, launch, args.name or server_name(args.agent))
    if client == "codex":
        print(render(client, config, codex_header(args.agent)), end="")
    else:
        print(render(client, config), end="")
        _note(f"{WHERE[client]}.")
    pair_store = f" --token-store {store.value}" if store_args else ""
    _note(
        f"pair once first: sidecar pair --gateway {gateway or _policy_url(policy)} --agent {args.agent}"
        f"{pair_store}"
    )
    return 0


def _is_ws_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme in ("ws", "wss") and bool(parts.hostname)


def _command(explicit: str | None) -> tuple[str, ...]:
    if explicit is None:
        command = default_command()
        if len(command) > 1:
            _note(
                f"no sidecar executable found beside {sys.executable} or on PATH; launching {' '.join(command)}"
            )
        return command
    path = Path(explicit).expanduser().absolute()
    if not (path.is_file() and os.access(path, os.X_OK)):
        _note(
            f"--sidecar {path} is not an executable file on this machine; make sure it is where the client runs"
        )
    return (str(path),)


def _gateway(explicit: str | None, policy: Policy) -> str | None:
    """The URL to write as `--gateway`, or None when the policy's own gateway.url will be used."""
    setting = resolve_gateway_url(explicit, policy)
    if setting.source.startswith("gateway.url in "):
        return None
    if setting.is_default:
        _note(
            f"no gateway.url in {policy.path}: assuming OpenClaw's default {setting.value} (--gateway to change)"
        )
    elif setting.source != "--gateway":
        _note(f"gateway {setting.value} taken from {setting.source}")
    return setting.value


def _policy_url(policy: Policy) -> str:
    own = policy.doc.data.get("gateway")
    url = own.get("url") if isinstance(own, dict) else None
    return url if isinstance(url, str) else ""


def _warn_truncated(policy: Policy) -> None:
    names = [server_name(a) for a in policy.agent_ids]
    for name, safe in safe_server_names(names).items():
        if safe != name:
            _note(f"OpenClaw shortens server {name} to {safe} in tool names; the denies use {safe}__*")


def _host_fragment(args: argparse.Namespace, policy: Policy, policy_path: str) -> int:
    from sidecar.deploy import host_fragment, host_header, token_env, write_env_file
    from sidecar.host import DEFAULT_PORT, HostPaths, agent_token, load_or_create_key

    paths = HostPaths.default()
    try:
        key = load_or_create_key(paths.key)
    except (OSError, ValueError) as exc:
        return _bad(f"cannot read or create the host key {paths.key}: {exc}")
    port = args.port or DEFAULT_PORT
    agents = [args.agent] if args.agent else None
    try:
        config = host_fragment(policy, f"http://127.0.0.1:{port}", paths.key, agents)
    except ValueError as exc:
        return _bad(str(exc))
    env_file = str(Path(args.env_file).expanduser()) if args.env_file else None
    if env_file:
        write_env_file(Path(env_file), {token_env(a): agent_token(key, a) for a in policy.agent_ids})
        _note(
            f"wrote {len(policy.agent_ids)} endpoint token(s) to {env_file} (0600); restart the gateway to load them"
        )
    _warn_truncated(policy)
    print(render("openclaw", config, host_header(policy_path, env_file)), end="")
    return 0
