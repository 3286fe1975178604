"""`sidecar peer secret`: create or store the secret two hosts' sidecars share to authenticate each other."""

from __future__ import annotations

import argparse
import sys

from sidecar.peers import new_secret, secret_name
from sidecar.policy import is_agent_id
from sidecar.secrets import SecretStoreUnavailable, open_secret_store

PEER_EPILOG = """\
Two hosts pair their sidecars once. On the first host (it prints the new secret once, for the other):
  sidecar peer secret --peer imac
On the other host, store the same secret under the first host's name (read from stdin, never argv):
  sidecar peer secret --peer macbook --set < secret.txt

Each host then names the other in its policy with gateway.peers.<name>.sidecar (its peer endpoint,
https:// off loopback) and starts `sidecar serve --peer-port PORT` so the other host can reach it. The
secret lives in the OS keyring (or --token-store file) under peer-secret:<name>; it authenticates both
ways: the caller with a bearer derived from it, the receiver with a proof on every response.
Exit 0 on success, 2 on bad input, 1 when no secret store can be used.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    peer = sub.add_parser(
        "peer", help="pair this host's sidecar with another host's", description="Pair sidecars across hosts."
    )
    peer_sub = peer.add_subparsers(dest="peer_command", metavar="SUBCOMMAND", required=True)
    secret = peer_sub.add_parser(
        "secret",
        help="create (or --set) the secret shared with one peer host",
        description="Create, or store, the per-peer secret both sidecars hold in their keyring.",
        epilog=PEER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    secret.add_argument(
        "--peer", metavar="NAME", required=True, help="the other host, as this policy names it"
    )
    secret.add_argument(
        "--set", action="store_true", help="read the secret from stdin instead of creating one"
    )
    secret.add_argument("--token-store", choices=("keyring", "file"), help="where it lives (default keyring)")
    secret.set_defaults(handler=_secret)


def _secret(args: argparse.Namespace) -> int:
    name = args.peer.strip().lower()
    if not is_agent_id(name):
        print(
            f"error: --peer {args.peer!r} is not a valid peer name (lowercase letters, digits, _ and -)",
            file=sys.stderr,
        )
        return 2
    if args.set:
        value = sys.stdin.readline().strip()
        if len(value) < 32:
            print(
                "error: the secret read from stdin is shorter than 32 characters; paste the one the other host printed",
                file=sys.stderr,
            )
            return 2
    else:
        value = new_secret()
    try:
        open_secret_store(args.token_store).set(secret_name(name), value)
    except SecretStoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.set:
        print(f"stored the secret shared with {name}", file=sys.stderr)
    else:
        print(value)
        print(
            f"stored the secret shared with {name}; on that host run: sidecar peer secret --peer <this host's "
            "name> --set (and paste it on stdin). It is shown only this once.",
            file=sys.stderr,
        )
    return 0
