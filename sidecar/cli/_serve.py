"""`sidecar serve`: run the MCP server for one agent (stdio by default, or HTTP on 127.0.0.1)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio

from sidecar import telemetry
from sidecar.cli import add_strict
from sidecar.config import (
    ENV_VAR,
    GATEWAY_TOKEN_ENV,
    GATEWAY_URL_ENV,
    HTTP_TOKEN_ENV,
    LOG_FILE_ENV,
    LOG_LEVEL_ENV,
    TOKEN_STORE_ENV,
    TOKEN_STORES,
    gateway_url_help,
    load_policy,
    resolve_gateway_url,
    resolve_token_store,
)
from sidecar.mirror import MirrorError
from sidecar.policy import MalformedKey, Policy, PolicyError, Requester, is_agent_id, observe_warning
from sidecar.reload import PolicyWatcher
from sidecar.runtime import Runtime
from sidecar.secrets import SecretStoreUnavailable, UnsafeFile, append_private
from sidecar.tools import SessionsService

log = logging.getLogger("sidecar")
GATEWAY_ENV = GATEWAY_URL_ENV
TOKEN_ENV = GATEWAY_TOKEN_ENV

SERVE_EPILOG = f"""\
examples:
  # what an MCP client launches (see `sidecar manifest --help` for ready-made client configs)
  sidecar serve --policy manifests/policies/team.json5 --agent lead

  # the home gateway from the environment, another agent session than agent:<id>:main
  OPENCLAW_GATEWAY_URL=ws://127.0.0.1:18789 sidecar serve --policy manifests/policies/team.json5 --agent lead \\
      --session agent:lead:planning

  # streamable HTTP on 127.0.0.1:8765; clients must send Authorization: Bearer <token>, where the token
  # is read from ${HTTP_TOKEN_ENV} or created in <state dir>/http-token (0600; the path is printed)
  sidecar serve --policy manifests/policies/team.json5 --agent lead --transport http --port 8765

  # also answer other hosts' sidecars (gateway.peers.<name>.sidecar on their side); TLS off loopback
  sidecar serve --policy manifests/policies/peer-imac.json5 --agent pepper --peer-port 8766 --peer-host 0.0.0.0 \\
      --peer-cert /path/to/cert.pem --peer-key /path/to/key.pem

The agent this sidecar serves comes from --agent and never from tool arguments. Pair once first with
`sidecar pair --gateway URL --agent ID` (loopback gateways approve silently).
{gateway_url_help()} The policy may also come from ${ENV_VAR}, the token store from ${TOKEN_STORE_ENV}.
Logs go to stderr (stdout is the MCP wire in stdio mode); the first line says which gateway, token store
and policy were used. Exit 2 on bad input.

Live operation: edits of the policy file (and of the openclaw.json it inherits) apply to the next call
without a restart; an edit that does not validate is refused with its file and line in the log and the
previous policy stays in force (`sidecar doctor` shows it). Connected clients get tools/list_changed when
the offered tools change. `sidecar pause --agent ID` stops this agent on its next call. With
mode: "observe" the startup banner says so and would-be denials are let through and logged.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the MCP server for one agent",
        description="Run the per-agent MCP server: sessions_list, sessions_history, sessions_send, sessions_spawn.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--policy", metavar="FILE", help=f"policy file (JSON5); default ${ENV_VAR}")
    parser.add_argument("--agent", metavar="ID", required=True, help="the agent this sidecar serves")
    parser.add_argument("--session", metavar="KEY", help="the agent's session key (default agent:<ID>:main)")
    parser.add_argument(
        "--gateway",
        metavar="URL",
        help=f"home gateway URL (default: policy gateway.url, ${GATEWAY_ENV}, OpenClaw's default)",
    )
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        default=TOKEN_ENV,
        help=f"variable holding the gateway's shared token, used only until paired (default {TOKEN_ENV})",
    )
    parser.add_argument(
        "--token-store",
        choices=TOKEN_STORES,
        help=f"where the device token lives (default keyring, or ${TOKEN_STORE_ENV})",
    )
    parser.add_argument(
        "--db", metavar="PATH", help="session mirror database (default: <state dir>/<agent>/mirror.db)"
    )
    add_strict(parser)
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument(
        "--host", default="127.0.0.1", help="HTTP bind address: loopback only (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    parser.add_argument(
        "--peer-port",
        type=int,
        metavar="PORT",
        help="also serve the inbound peer endpoint (https://HOST:PORT/peer) for the hosts in gateway.peers",
    )
    parser.add_argument(
        "--peer-host", default="127.0.0.1", help="peer endpoint bind address (off loopback needs --peer-cert)"
    )
    parser.add_argument("--peer-cert", metavar="FILE", help="TLS certificate (PEM) for the peer endpoint")
    parser.add_argument("--peer-key", metavar="FILE", help="TLS private key (PEM) for the peer endpoint")
    parser.add_argument(
        "--log-level",
        default=os.environ.get(LOG_LEVEL_ENV, "warning"),
        choices=("debug", "info", "warning", "error"),
    )
    parser.add_argument(
        "--log-file",
        metavar="PATH",
        default=os.environ.get(LOG_FILE_ENV),
        help=f"also append logs to PATH (created 0600; default ${LOG_FILE_ENV}); many MCP clients discard stderr",
    )
    parser.add_argument(
        "--otel",
        action="store_true",
        help="export OpenTelemetry traces and metrics over OTLP (needs the otel extra; configured by the "
        "standard OTEL_* variables, e.g. OTEL_EXPORTER_OTLP_ENDPOINT; also $SIDECAR_OTEL=1)",
    )
    parser.set_defaults(handler=_handle)


def _bad(message: str) -> int:
    print(f"sidecar serve: {message}", file=sys.stderr)
    return 2


def _handle(args: argparse.Namespace) -> int:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log_file:
        try:  # through the checked descriptor: no symlink, this user's, 0600
            handlers.append(logging.StreamHandler(append_private(Path(args.log_file))))
        except (UnsafeFile, OSError) as exc:
            return _bad(f"--log-file: {exc}")
    logging.basicConfig(
        level=args.log_level.upper(),
        handlers=handlers,
        format="%(asctime)s sidecar[%(process)d] %(levelname)s %(message)s",
    )
    try:
        policy = load_policy(args.policy, strict=args.strict, warn=sys.stderr)
    except PolicyError as exc:
        return _bad(str(exc))
    if not is_agent_id(args.agent):
        return _bad(f"--agent {args.agent!r} is not a valid agent id (lowercase letters, digits, _ and -)")
    if args.agent not in policy.known_agents:
        return _bad(
            f"agent {args.agent!r} is not in {policy.path}; add agents.entries.{args.agent}: {{}} so its "
            "policy is explicit"
        )
    try:
        requester = Requester.of(args.agent, args.session, main_key=policy.main_key)
    except MalformedKey as exc:
        return _bad(f"--session: {exc}")
    home = resolve_gateway_url(args.gateway, policy)
    store = resolve_token_store(args.token_store)
    wiring = (
        f"agent {args.agent}: gateway {home}; token store {store.value} (from {store.source}); "
        f"policy {policy.path}"
    )
    print(f"sidecar serve: {wiring}", file=sys.stderr)
    log.info("serving %s", wiring)
    if args.transport == "http" and args.host not in ("127.0.0.1", "::1", "localhost"):
        return _bad(f"--host {args.host}: the HTTP transport binds loopback only")
    if args.peer_port is not None:
        if args.peer_host not in ("127.0.0.1", "::1", "localhost") and not (args.peer_cert and args.peer_key):
            return _bad(
                f"--peer-host {args.peer_host}: off loopback the peer endpoint needs TLS; pass --peer-cert and "
                "--peer-key"
            )
        if not any(p.mode == "sidecar" for p in policy.peers):
            return _bad(
                f"--peer-port: {policy.path} names no peer with a sidecar address under gateway.peers"
            )
    if telemetry.wanted(args.otel):
        try:
            telemetry.configure(args.agent)
        except telemetry.TelemetryUnavailable as exc:
            return _bad(str(exc))
    runtime = Runtime(
        policy=policy,
        requester=requester,
        home_url=home.value,
        token_env=args.token_env,
        token_store=store.value,
        db=Path(args.db) if args.db else None,
    )
    try:
        anyio.run(_serve, runtime, args)
    except KeyboardInterrupt:
        return 0
    except (PolicyError, ValueError) as exc:
        return _bad(str(exc))
    except (SecretStoreUnavailable, MirrorError) as exc:
        print(f"sidecar serve: {exc}", file=sys.stderr)
        return 1
    finally:
        telemetry.shutdown()
    return 0


async def _serve_peers(runtime: Runtime, args: argparse.Namespace) -> None:
    import uvicorn

    config = uvicorn.Config(
        runtime.peer_app(args.peer_host),
        host=args.peer_host,
        port=args.peer_port,
        log_level="warning",
        lifespan="on",
        ssl_certfile=args.peer_cert,
        ssl_keyfile=args.peer_key,
    )
    scheme = "https" if args.peer_cert else "http"
    print(f"sidecar: peer endpoint on {scheme}://{args.peer_host}:{args.peer_port}/peer", file=sys.stderr)
    server = uvicorn.Server(config)
    await server.serve()


def observe_banner(policy: Policy, agent: str) -> str | None:
    """The loud startup line when this agent's calls are observed rather than enforced."""
    mine = policy.for_agent(agent)
    if not mine.observing:
        return None
    return f"sidecar: {observe_warning(mine)}"


async def _serve(runtime: Runtime, args: argparse.Namespace) -> None:
    service = await runtime.open()
    watcher = PolicyWatcher(runtime.policy, runtime.adopt, runtime.state_dir, runtime.vet)
    banner = observe_banner(runtime.policy, runtime.requester.agent_id)
    if banner:
        print(banner, file=sys.stderr)
        log.warning("%s", banner)
    # The background tasks (mirror sync, decision-log writer, policy watcher, peers) run beside the server
    # and stop when the server's lifespan ends, not after the server returns: `--transport http` runs
    # uvicorn, which re-raises the SIGTERM it shut down for once it returns, and the process then ends
    # before any code after it. Each sync marks its gateway's cursor no longer live as it stops, which
    # needs the mirror still open, so the mirror closes only after them.
    stop = anyio.CancelScope()
    stopped = anyio.Event()

    async def background_tasks() -> None:
        try:
            with stop:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(runtime.keep_mirror_fresh)
                    if args.peer_port is not None:
                        tasks.start_soon(_serve_peers, runtime, args)
                    tasks.start_soon(watcher.run)
        finally:
            stopped.set()

    @asynccontextmanager
    async def until_shutdown() -> AsyncIterator[object]:
        try:
            yield None
        finally:
            stop.cancel()
            with anyio.CancelScope(shield=True):
                await stopped.wait()
            runtime.close()

    try:
        async with anyio.create_task_group() as outer:
            # The home gateway connects (keep_mirror_fresh) while the MCP layer loads: its handshake is
            # mostly waiting for the gateway, and loading the MCP SDK is most of a cold start, so the
            # SDK is imported on a worker thread and the event loop meanwhile carries the handshake on.
            outer.start_soon(background_tasks)
            try:
                await anyio.to_thread.run_sync(importlib.import_module, "sidecar.mcp")
                await _run_server(runtime, service, args, until_shutdown)
            finally:
                stop.cancel()
    finally:
        runtime.close()


async def _run_server(
    runtime: Runtime,
    service: SessionsService,
    args: argparse.Namespace,
    background: Callable[[], AbstractAsyncContextManager[object]],
) -> None:
    from sidecar.cli import serving_started
    from sidecar.mcp import build_server

    server = build_server(service, background=background)
    serving_started()
    runtime.on_policy.append(server.policy_changed)
    if args.transport == "stdio":
        await server.run_stdio_async()
        return
    from sidecar.mcp import FleetPage, WithFleet, load_or_create_token, serve_http

    token_path = runtime.state_dir / "http-token"
    token = load_or_create_token(token_path)
    print(
        f"sidecar: serving {runtime.requester.agent_id} on http://{args.host}:{args.port}/mcp "
        f"(bearer token in {token_path} or ${HTTP_TOKEN_ENV})",
        file=sys.stderr,
    )
    mirror = runtime.mirror
    assert mirror is not None
    fleet = FleetPage(lambda: service.policy, service.view, mirror.decisions.recent)
    print(
        f"sidecar: the fleet page is at http://{args.host}:{args.port}{fleet.prefix}/#token=<token>",
        file=sys.stderr,
    )
    app = WithFleet(server.streamable_http_app(host=args.host), fleet)
    await serve_http(app, args.host, args.port, token, public=fleet.public_paths)
