"""`sidecar pair`: give this sidecar's agent a device identity approved by a gateway.

Pairing happens once per (gateway, agent). The sidecar asks for every scope it will ever use, so no
later call can trigger a scope-upgrade approval that nobody is watching for. A loopback gateway approves
silently; any other answers PAIRING_REQUIRED with a request id, which an operator approves on the
gateway host while this command waits and retries. The issued device token goes to the OS keyring.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TextIO

import anyio
import anyio.to_thread

from sidecar.config import (
    GATEWAY_TOKEN_ENV,
    POLICY_ENV,
    gateway_url_help,
    load_policy,
    resolve_gateway_url,
    resolve_token_store,
)
from sidecar.gateway import (
    ALL_SCOPES,
    GatewayClient,
    GatewayError,
    InsecureGatewayURL,
    InvalidGatewayURL,
    PairingRequired,
    SharedTokenMissing,
    TokenStore,
    check_url,
)
from sidecar.policy import PolicyError
from sidecar.secrets import STORE_ENV, STORE_KINDS, SecretStoreUnavailable, open_secret_store

DEFAULT_TOKEN_ENV = GATEWAY_TOKEN_ENV
APPROVAL_WINDOW_S = 300.0
RETRY_EVERY_S = 2.0
AGENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

PAIR_EPILOG = f"""\
examples:
  # a gateway on this machine approves silently
  sidecar pair --gateway ws://127.0.0.1:18789 --agent dev-1

  # the gateway the policy names (gateway.url), as `sidecar serve --policy` would use it
  sidecar pair --policy manifests/policies/team.json5 --agent lead

  # a remote gateway: prints a request id, then waits up to 5 minutes for
  #   openclaw devices approve <requestId>
  # to be run on the gateway host
  OPENCLAW_GATEWAY_TOKEN=... sidecar pair --gateway wss://gw.example.com --agent dev-1

  # the shared token in another variable; no OS keyring on this machine (weaker, warns)
  sidecar pair --gateway ws://127.0.0.1:18789 --agent lead --token-env GW_TOKEN --token-store file

The device key and the issued device token are stored in the OS keyring (service
openclaw-sessions-sidecar), one entry per gateway URL and agent. {STORE_ENV}=file selects the
file store like --token-store file.
{gateway_url_help()}
Exit codes: 0 paired, 2 bad input, 1 pairing failed.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "pair",
        help="pair this sidecar's agent with a gateway (once per gateway and agent)",
        description="Pair this sidecar's agent with an OpenClaw gateway, requesting every scope the sidecar\n"
        "needs (" + ", ".join(ALL_SCOPES) + "),\nand store the issued device token.",
        epilog=PAIR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--gateway",
        metavar="URL",
        help="the gateway's WebSocket URL, e.g. ws://127.0.0.1:18789 (default: as `sidecar serve` picks it)",
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help=f"policy file whose gateway.url to pair with when --gateway is not given (default ${POLICY_ENV})",
    )
    parser.add_argument(
        "--agent", default="main", metavar="ID", help="the agent this sidecar serves (default: main)"
    )
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        default=None,
        help=f"environment variable holding the gateway's shared token (default: "
        f"{DEFAULT_TOKEN_ENV}, if set)",
    )
    parser.add_argument(
        "--token-store",
        choices=STORE_KINDS,
        default=None,
        help=f"where secrets live (default: keyring, or ${STORE_ENV}); 'file' is a weaker "
        "0600 file and warns",
    )
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow plain ws:// to a non-loopback host (trusted private networks only)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=APPROVAL_WINDOW_S,
        metavar="SECONDS",
        help="how long to wait for an approval (default: 300, the gateway's request lifetime)",
    )
    parser.set_defaults(handler=_handle_pair)


@dataclass(frozen=True)
class PairOptions:
    gateway: str
    agent: str = "main"
    token_env: str | None = None
    token_store: str | None = None
    allow_insecure: bool = False
    timeout: float = APPROVAL_WINDOW_S
    retry_every: float = RETRY_EVERY_S


def _handle_pair(args: argparse.Namespace) -> int:
    policy = None
    if args.gateway is None and (args.policy or os.environ.get(POLICY_ENV)):
        try:
            policy = load_policy(args.policy, warn=sys.stderr)
        except PolicyError as exc:
            print(f"sidecar pair: {exc}", file=sys.stderr)
            return 2
    gateway = resolve_gateway_url(args.gateway, policy)
    store = resolve_token_store(args.token_store)
    if gateway.source != "--gateway":
        print(f"sidecar pair: gateway {gateway}", file=sys.stderr)
    if store.source != "--token-store":
        print(f"sidecar pair: token store {store}", file=sys.stderr)
    options = PairOptions(
        gateway.value, args.agent, args.token_env, args.token_store, args.allow_insecure, args.timeout
    )
    try:
        return anyio.run(pair, options, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted; nothing was stored for a pending request", file=sys.stderr)
        return 130


async def pair(
    options: PairOptions, out: TextIO, err: TextIO, clock: Callable[[], float] = time.monotonic
) -> int:
    """Pair and return the exit code. Prints what to approve on `out`, progress on `err`."""
    try:
        url = check_url(options.gateway, allow_insecure=options.allow_insecure)
    except (InvalidGatewayURL, InsecureGatewayURL) as exc:
        print(f"sidecar pair: {exc}", file=err)
        return 2
    if not AGENT_ID.match(options.agent):
        print(
            f"sidecar pair: agent id {options.agent!r} must match [a-z0-9][a-z0-9_-]{{0,63}} "
            "(lowercase, as the gateway stores it)",
            file=err,
        )
        return 2
    if options.timeout <= 0:
        print("sidecar pair: --timeout must be positive", file=err)
        return 2
    env_name = options.token_env or DEFAULT_TOKEN_ENV
    shared_token = os.environ.get(env_name) or None
    if options.token_env and shared_token is None:
        print(
            f"sidecar pair: --token-env {env_name} names a variable that is not set (or empty); export "
            "it with the gateway's gateway.auth.token, or drop --token-env",
            file=err,
        )
        return 2
    try:
        # Choosing a keyring backend probes D-Bus; like every keyring call it blocks, so not on the loop.
        secrets = await anyio.to_thread.run_sync(partial(open_secret_store, options.token_store, warn=err))
        tokens = TokenStore(secrets)
        identity = await tokens.identity(url, options.agent)
    except SecretStoreUnavailable as exc:
        print(f"sidecar pair: {exc}", file=err)
        return 1

    waiting = _Waiting(out, err, clock, options.timeout)
    while True:
        client = GatewayClient(
            url,
            identity,
            tokens,
            options.agent,
            shared_token=shared_token,
            allow_insecure=options.allow_insecure,
            reconnect=False,
        )
        try:
            hello = await client.connect()
        except PairingRequired as exc:
            if not waiting.pending(exc.request_id):
                print(
                    f"\nsidecar pair: no approval within {options.timeout:g} s; the gateway drops pending "
                    f"requests after 5 minutes. Run this command again and approve the id it prints.",
                    file=err,
                )
                return 1
            await anyio.sleep(min(options.retry_every, waiting.remaining()))
            continue
        except SharedTokenMissing:
            waiting.finish()
            print(
                f"sidecar pair: {url} needs its shared token to pair a new device: export {env_name} with "
                "the gateway's gateway.auth.token (or name another variable with --token-env)",
                file=err,
            )
            return 1
        except GatewayError as exc:
            waiting.finish()
            print(f"sidecar pair: {exc}", file=err)
            return 1
        except SecretStoreUnavailable as exc:
            waiting.finish()
            print(f"sidecar pair: {exc}", file=err)
            return 1
        await client.close()
        waiting.finish()
        break

    record = await tokens.load(url, options.agent)
    granted = ", ".join(hello.auth.scopes) or "none reported"
    print(f"paired: agent {options.agent} at {url} as device {identity.device_id}", file=out)
    print(f"  scopes: {granted}", file=out)
    if record is not None and record.device_token:
        print(
            f"  device token stored in the {tokens.kind} store (service openclaw-sessions-sidecar)", file=out
        )
        return 0
    print(
        "  the gateway accepted this device but issued no device token; the sidecar will need the shared "
        f"token (${env_name}) on every connect",
        file=out,
    )
    return 0


class _Waiting:
    """Approval-wait bookkeeping and its display: the current request id on `out`, time on `err`."""

    def __init__(self, out: TextIO, err: TextIO, clock: Callable[[], float], window: float) -> None:
        self.out, self.err, self.clock, self.window = out, err, clock, window
        self.started: float | None = None
        self.request_id: str | None = None
        self.tty = err.isatty()
        self.last_line: float | None = None

    def remaining(self) -> float:
        return 0.0 if self.started is None else max(0.0, self.window - (self.clock() - self.started))

    def pending(self, request_id: str | None) -> bool:
        """Record another PAIRING_REQUIRED; False once the window has closed."""
        now = self.clock()
        if self.started is None:
            self.started = now
        if request_id != self.request_id:
            what = "Pairing request" if self.request_id is None else "The request was superseded; new request"
            shown = request_id or "<requestId>"
            print(
                f"{what} {shown} is waiting for approval. On the gateway host run:\n"
                f"  openclaw devices approve {shown}",
                file=self.out,
                flush=True,
            )
            self.request_id = request_id
        elapsed = now - self.started
        left = max(0.0, self.window - elapsed)
        if left <= 0:
            return False
        line = f"waiting for approval of {self.request_id}: {_mmss(elapsed)} elapsed, {_mmss(left)} left"
        if self.tty:
            print(f"\r{line}", end="", file=self.err, flush=True)
        elif self.last_line is None or now - self.last_line >= 10:
            print(line, file=self.err, flush=True)
            self.last_line = now
        return True

    def finish(self) -> None:
        if self.tty and self.started is not None:
            print(file=self.err)


def _mmss(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
