"""`sidecar explain` and `sidecar policy show`: the engine's answers, with every gate and source shown."""

from __future__ import annotations

import argparse
import json
import sys

from sidecar.config import ENV_VAR, load_policy
from sidecar.policy import (
    TOOLS,
    MalformedKey,
    Policy,
    PolicyError,
    Requester,
    StaticView,
    decide,
    is_agent_id,
    policy_report,
    render_decision,
    render_policy,
)

EXPLAIN_EPILOG = f"""\
TARGET is a session key (agent:<id>:<rest>, or the aliases main / current) for sessions_history and
sessions_send, an agent id for sessions_spawn, and omitted for sessions_list.

examples:
  sidecar explain --policy team.json5 --agent lead sessions_send agent:dev-1:main
  sidecar explain --policy team.json5 --agent dev-2 sessions_history agent:lead:main --json
  sidecar explain --policy team.json5 --agent manager sessions_spawn research
  sidecar explain --policy team.json5 --agent hr sessions_list

Prints every gate in OpenClaw's order (unknown-target, sandbox, visibility, agent-to-agent, allow-list,
receives-from, spawn-allow) with pass or fail and the file:line that set each value, then the fix.
--json prints one object with allowed, gate, message, source, fix and checks.
The policy may also come from ${ENV_VAR}. Exit 0 when a decision was made (allowed or denied), 2 on bad input.
"""

SHOW_EPILOG = f"""\
examples:
  sidecar policy show --policy team.json5 --agent lead
  SIDECAR_POLICY=team.json5 sidecar policy show --agent research --json

Shows each effective value (visibility, sendVisibility, agent-to-agent, allow lists, receivesFrom,
subagents, sandbox) with where it came from: this agent's entry, the policy's sidecar-wide value, the
inherited openclaw.json, or OpenClaw 2026.9.6's default. Warns loudly when the agent can read and message
every other agent. The policy may also come from ${ENV_VAR}. Exit 0 on success, 2 on bad input.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = sub.add_parser(
        "explain",
        help="decide one tool call and explain every gate",
        description="Decide one tool call locally, exactly as the sidecar would, and explain it.",
        epilog=EXPLAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(explain)
    explain.add_argument(
        "--session", metavar="KEY", help="the requester's session key (default agent:<ID>:main)"
    )
    explain.add_argument("tool", metavar="TOOL", choices=TOOLS, help="one of " + ", ".join(TOOLS))
    explain.add_argument("target", metavar="TARGET", nargs="?", help="session key, or agent id for spawn")
    explain.set_defaults(handler=_explain)

    policy = sub.add_parser("policy", help="inspect a policy file", description="Inspect a policy file.")
    policy_sub = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)
    show = policy_sub.add_parser(
        "show",
        help="print an agent's effective policy with the source of each value",
        description="Print one agent's effective policy, each value with its source.",
        epilog=SHOW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(show)
    show.set_defaults(handler=_show)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE", help=f"policy file (JSON5); default ${ENV_VAR}")
    parser.add_argument("--agent", metavar="ID", required=True, help="the agent this sidecar serves")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def bad_input(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace) -> Policy | None:
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        bad_input(str(exc))
        return None
    if not is_agent_id(args.agent):
        bad_input(f"--agent {args.agent!r} is not a valid agent id (lowercase letters, digits, _ and -)")
        return None
    if args.agent not in policy.known_agents:
        known = ", ".join(sorted(policy.known_agents)) or "none"
        bad_input(
            f"agent {args.agent!r} is not in {policy.path} (known: {known}). "
            f"Add it as agents.entries.{args.agent}: {{}} so its policy is explicit."
        )
        return None
    return policy


def _explain(args: argparse.Namespace) -> int:
    policy = _load(args)
    if policy is None:
        return 2
    try:
        requester = Requester.of(args.agent, args.session, main_key=policy.main_key)
    except MalformedKey as exc:
        return bad_input(f"--session: {exc}")
    if args.tool == "sessions_list" and args.target:
        return bad_input("sessions_list takes no TARGET")
    if args.tool in ("sessions_history", "sessions_send") and not args.target:
        return bad_input(f"{args.tool} needs a TARGET session key, e.g. agent:{args.agent}:main")
    view = StaticView(agents=policy.known_agents)
    decision = decide(policy, requester, args.tool, args.target, view, explain=True)
    if args.json:
        print(json.dumps(decision.as_dict(), indent=2))
    else:
        print(render_decision(decision, policy))
    return 0


def _show(args: argparse.Namespace) -> int:
    policy = _load(args)
    if policy is None:
        return 2
    report = policy_report(policy, args.agent, StaticView(agents=policy.known_agents))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_policy(report))
    return 0
