"""`sidecar doctor`: check that everything `sidecar serve` needs is in place, and print the fix for what is not."""

from __future__ import annotations

import argparse
import json
import sys

import anyio

from sidecar.config import ENV_VAR, gateway_url_help
from sidecar.doctor import CONNECT_TIMEOUT_S, TOKEN_ENV, DoctorOptions, exit_code, render, report, run_checks
from sidecar.gateway import InvalidGatewayURL, canonical_url
from sidecar.policy import is_agent_id
from sidecar.secrets import STORE_ENV, STORE_KINDS

DOCTOR_EPILOG = f"""\
examples:
  # the policy, the secret store, the gateway, and every agent's policy; no agent's credentials used
  sidecar doctor --policy manifests/policies/team.json5

  # everything `sidecar serve --agent lead` needs: also lead's pairing, its mirror and its peers
  sidecar doctor --policy manifests/policies/team.json5 --agent lead

  # also audit the gateway's openclaw.json (here the one `source <(scripts/gateway env)` points at):
  # built-in session tools left on, another agent's sidecar reachable
  sidecar doctor --policy manifests/policies/team.json5 --agent lead --openclaw-config "$OPENCLAW_CONFIG_PATH"

  # machine-readable, for CI or a health probe
  sidecar doctor --policy manifests/policies/team.json5 --agent lead --json | jq '.checks[] | select(.status == "FAIL")'

Checks, in order, each PASS, WARN, FAIL or SKIP with a one-line finding and the fix:
  policy            the policy parses; policy:<id> per agent: not wide open by accident
  secret-store      the OS keyring backend is usable (or the weaker file store was chosen); no entry is read
  gateway           something listens, GET /readyz answers, and a protocol-4 connect is accepted
  pairing           (--agent) the stored device connects with every scope the sidecar uses
  mirror            (--agent) the session mirror, read-only; mirror:<gateway> is live, stale or syncing
  peer:<name>       each gateway.peers entry like gateway; peer-pairing:<name> like pairing (--agent)
  openclaw-config   (--openclaw-config, or the policy's openclawConfig) the deployment audit's findings

{gateway_url_help()}
The shared token comes from ${TOKEN_ENV} and is sent only as `sidecar serve` sends it (home gateway).
The policy may also come from ${ENV_VAR}, the store kind from ${STORE_ENV}.
Doctor writes nothing: the secret store and the mirror are only read, a token the gateway issues while
doctor connects is dropped, and the reachability probe carries no device or credential, so it can
neither pair a device nor count as a failed login. No token or key is ever printed. Every connection
attempt gives up after {CONNECT_TIMEOUT_S:g} s.
--json prints {{"ok": bool, "checks": [{{"name", "status", "detail", "fix"}}]}}.
Exit codes: 0 nothing failed (warnings allowed), 1 at least one FAIL, 2 bad input.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "doctor",
        help="check the policy, secret store, gateway, pairing, mirror and peers, with the fix for each failure",
        description="Check that everything `sidecar serve` needs is in place, and say how to fix what is not.",
        epilog=DOCTOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--policy", metavar="FILE", help=f"policy file (JSON5); default ${ENV_VAR}")
    parser.add_argument(
        "--agent", metavar="ID", help="also check this agent's pairing, mirror and peer pairings"
    )
    parser.add_argument(
        "--gateway",
        metavar="URL",
        help="home gateway URL (default: policy gateway.url, $OPENCLAW_GATEWAY_URL, OpenClaw's default)",
    )
    parser.add_argument(
        "--openclaw-config",
        metavar="FILE",
        help="the gateway's openclaw.json to audit (default: the policy's openclawConfig, if any)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument(
        "--token-store",
        choices=STORE_KINDS,
        help=f"the store `sidecar serve` uses (default keyring, or ${STORE_ENV})",
    )
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        default=TOKEN_ENV,
        help=f"variable holding the gateway's shared token (default {TOKEN_ENV})",
    )
    parser.add_argument(
        "--db", metavar="PATH", help="the agent's mirror database (default: <state dir>/<agent>/mirror.db)"
    )
    parser.set_defaults(handler=_handle)


def _bad(message: str) -> int:
    print(f"sidecar doctor: {message}", file=sys.stderr)
    return 2


def _handle(args: argparse.Namespace) -> int:
    if args.agent is not None and not is_agent_id(args.agent):
        return _bad(f"--agent {args.agent!r} is not a valid agent id (lowercase letters, digits, _ and -)")
    if args.gateway is not None:
        try:
            canonical_url(args.gateway)
        except InvalidGatewayURL as exc:
            return _bad(f"--gateway: {exc}")
    options = DoctorOptions(
        policy=args.policy,
        agent=args.agent,
        gateway=args.gateway,
        openclaw_config=args.openclaw_config,
        token_store=args.token_store,
        token_env=args.token_env,
        db=args.db,
    )
    checks = anyio.run(run_checks, options)
    if args.json:
        print(json.dumps(report(checks), indent=2))
    else:
        print(render(checks))
    return exit_code(checks)
