"""`sidecar explain` and `sidecar policy show`: the engine's answers, with every gate and source shown."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from sidecar.cli import _matrix, add_strict
from sidecar.config import ENV_VAR, MIRROR_FILE, ScenarioStep, load_policy, load_scenario, state_dir
from sidecar.mirror import Mirror, MirrorError, PauseFile, usage_of
from sidecar.policy import (
    BUDGET_GATES,
    GATES,
    PAUSE_GATE,
    TOOLS,
    CaseResult,
    Check,
    Decision,
    MalformedKey,
    Policy,
    PolicyError,
    Requester,
    StaticView,
    Usage,
    decide,
    decide_inbound,
    is_agent_id,
    parse_cases,
    policy_report,
    render_decision,
    render_policy,
    render_results,
    run_cases,
    semantics_for,
)

OPERATOR_GATES = (PAUSE_GATE, *BUDGET_GATES)

EXPLAIN_EPILOG = f"""\
TARGET is a session key (agent:<id>:<rest>, or the aliases main / current) for sessions_history and
sessions_send, an agent id for sessions_spawn, and omitted for sessions_list.

examples:
  sidecar explain --policy manifests/policies/team.json5 --agent lead sessions_send agent:dev-1:main
  sidecar explain --scenario alfred-fleet --step 2          # steps[2] of scenarios/alfred-fleet.json
  sidecar explain --scenario hierarchy --agent lead sessions_send agent:hr:main
  sidecar explain --policy manifests/policies/team.json5 --agent dev-2 sessions_history agent:lead:main --json
  sidecar explain --policy manifests/policies/team.json5 --agent manager sessions_spawn research
  sidecar explain --policy manifests/policies/team.json5 --agent hr sessions_list
  sidecar explain --policy manifests/policies/peer-fleet.json5 --agent jarvis --gateway imac sessions_send agent:pepper:main
  sidecar explain --policy manifests/policies/peer-imac.json5 --from macbook --agent jarvis sessions_send agent:pepper:main
  sidecar explain --policy manifests/policies/team.json5 --agent lead --openclaw-version 2026.3.13 sessions_send agent:dev-1:main
  # as one of lead's sessions: a subagent (OpenClaw's fixed subagent deny), a leaf at depth 2, a cron run
  sidecar explain --policy manifests/policies/team.json5 --agent lead --session agent:lead:subagent:0f3c sessions_send agent:dev-1:main
  sidecar explain --policy manifests/policies/team.json5 --agent lead --session agent:lead:subagent:0f3c --depth 2 sessions_list
  sidecar explain --policy manifests/policies/team.json5 --agent lead --session agent:lead:cron:nightly sessions_list

--session decides as that session: its class (main, named, orchestrator or leaf subagent, cron, hook,
isolated run) comes first, then tree/self are relative to it and a sandboxed session is clamped.

--gateway NAME places the target on that gateway (as the tool argument `gateway` does); without it the
target goes to the gateway known to hold its agent (home first). A target on a peer reached through its
sidecar is decided twice: here, outbound, under this policy; and on the peer, inbound, under the peer's
policy (its receivesFrom must name the requester as <agent>@<this host>). --from PEER explains that
inbound side, as the receiving host decides a call from PEER's agent --agent.

Decides under the semantics of the newest supported OpenClaw release (2026.9.6) unless
--openclaw-version names the gateway's release (2026.3.13 to 2026.9.6): its defaults (before 2026.9:
visibility tree, agent-to-agent off), its tree guard and its exact denial strings.
Prints every gate in order (the operator's pause, the caller's session-class, then OpenClaw's unknown-target, sandbox, visibility,
agent-to-agent, allow-list, then receives-from, spawn-allow and the budgets sends-per-day, spawns-per-hour,
max-active-children) with pass or fail and the file:line that set each value, then the fix. In observe
mode (mode: "observe") a would-be denial is shown as allowed, with the gate that would refuse it.
The pause and budget gates are read-only checked against the agent's state here: its pause file and,
for the budgets, the counts in its mirror (<state dir>/<agent>/mirror.db, or --db PATH for a sidecar
started with --db). Without them those gates print "not checked offline" instead of PASS.
--json prints one object with allowed, gate, message, source, fix and checks.
--scenario NAME explains under the policy of a bundled scenario (scenarios/NAME.json, or a path); with
--step N it takes steps[N]'s policy, and its requester, tool and target unless given, and prints what
the scenario expects. A scenario file also works as --policy (the policy inside it).
The policy may also come from ${ENV_VAR}. Exit 0 when a decision was made (allowed or denied), 2 on bad input.
"""

SHOW_EPILOG = f"""\
examples:
  sidecar policy show --policy manifests/policies/team.json5 --agent lead
  SIDECAR_POLICY=manifests/policies/team.json5 sidecar policy show --agent research --json
  sidecar policy show --scenario alfred-fleet --step 0 --agent aialfred
  sidecar policy show --policy manifests/policies/team.json5 --agent lead --openclaw-version 2026.4.12

Shows each effective value (visibility, sendVisibility, agent-to-agent, allow lists, receivesFrom,
subagents, sandbox) with where it came from: this agent's entry, the policy's sidecar-wide value, the
inherited openclaw.json, or the OpenClaw release's default (2026.9.6's unless --openclaw-version names
another supported release; before 2026.9 visibility defaults to tree and agent-to-agent to off). Warns loudly when the agent can read and message
every other agent. The policy may also come from ${ENV_VAR}. Exit 0 on success, 2 on bad input.
"""


TEST_EPILOG = f"""\
CASES is a JSON5 file: a list of cases (or {{ cases: [...] }}), each
  {{ agent: "lead", tool: "sessions_send", target: "agent:dev-1:main", expect: "allow" }}
  {{ agent: "dev-2", tool: "sessions_history", target: "agent:lead:main", expect: "deny", gate: "visibility" }}
with optional session (the requester's session key, default agent:<agent>:main), gate (the gate that
must refuse: {", ".join(g for g in GATES if g not in OPERATOR_GATES)}) and name (shown in the table).
The pause and budget gates depend on the agent's live state, not the policy: check them with explain. target is a session key for
sessions_history and sessions_send, an agent id for sessions_spawn, and omitted for sessions_list.

examples:
  sidecar policy test --policy manifests/policies/team-lead.json5 manifests/policies/cases/team-lead.json5
  SIDECAR_POLICY=manifests/policies/team.json5 sidecar policy test manifests/policies/cases/team.json5 --json

Each case is decided by the same engine `sidecar serve` uses. Every case is checked for typos (unknown
keys, agents the policy does not know, tools and gates that do not exist) before any runs.
The policy may also come from ${ENV_VAR}. Exit 0 when every case passes, 1 when one fails, 2 on bad input
(the message names the file, line and what to write instead).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = sub.add_parser(
        "explain",
        help="decide one tool call and explain every gate",
        description="Decide one tool call locally, exactly as the sidecar would, and explain it.",
        epilog=EXPLAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(explain, agent_required=False)
    explain.add_argument(
        "--session", metavar="KEY", help="the requester's session key (default agent:<ID>:main)"
    )
    explain.add_argument("--gateway", metavar="NAME", help="the gateway the target is on (default: routed)")
    explain.add_argument(
        "--db",
        metavar="PATH",
        help="the agent's mirror database, if its sidecar was started with --db (pause and budget gates)",
    )
    explain.add_argument(
        "--from",
        dest="from_peer",
        metavar="PEER",
        help="explain the receiving side: --agent is an agent of PEER calling this host's agents",
    )
    explain.add_argument(
        "--depth",
        metavar="N",
        type=int,
        help="the requester's spawn depth when --session is a subagent (default: from the key, 1)",
    )
    explain.add_argument(
        "--scenario", metavar="NAME", help="explain under a bundled scenario's policy (scenarios/NAME.json)"
    )
    explain.add_argument(
        "--step", type=int, metavar="N", help="with --scenario: steps[N]'s policy and call (0-based)"
    )
    explain.add_argument("tool", metavar="TOOL", nargs="?", choices=TOOLS, help="one of " + ", ".join(TOOLS))
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
    show.add_argument(
        "--scenario",
        metavar="NAME",
        help="a bundled scenario's policy (scenarios/NAME.json) instead of --policy",
    )
    show.add_argument("--step", type=int, metavar="N", help="with --scenario: steps[N]'s policy (0-based)")
    show.set_defaults(handler=_show)

    test = policy_sub.add_parser(
        "test",
        help="check a policy against a file of expected decisions",
        description="Decide every case of a cases file and print a pass/fail table.",
        epilog=TEST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    test.add_argument("--policy", metavar="FILE", help=f"policy file (JSON5); default ${ENV_VAR}")
    test.add_argument("cases", metavar="CASES", help="JSON5 file of cases")
    test.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    test.set_defaults(handler=_test)
    _matrix.register(policy_sub)


def _common(parser: argparse.ArgumentParser, *, agent_required: bool = True) -> None:
    parser.add_argument("--policy", metavar="FILE", help=f"policy file (JSON5); default ${ENV_VAR}")
    parser.add_argument(
        "--agent",
        metavar="ID",
        required=agent_required,
        help="the agent this sidecar serves" + ("" if agent_required else " (with --step: the step's)"),
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument(
        "--openclaw-version",
        metavar="VERSION",
        help="decide under this OpenClaw release's semantics (supported: 2026.3.13 to 2026.9.6; "
        "default: the newest, 2026.9.6)",
    )
    add_strict(parser)


def bad_input(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace, policy: Policy | None = None) -> Policy | None:
    if policy is None:
        try:
            policy = load_policy(args.policy, strict=args.strict, warn=sys.stderr)
        except PolicyError as exc:
            bad_input(str(exc))
            return None
    if args.agent is None:
        bad_input("--agent ID is required (or --scenario NAME --step N, which names its own)")
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
    try:
        semantics = semantics_for(args.openclaw_version)
    except ValueError as exc:
        bad_input(f"--openclaw-version: {exc}")
        return None
    return policy.for_release(semantics)


def _explain(args: argparse.Namespace) -> int:
    if args.from_peer:
        return _explain_inbound(args)
    scenario_policy: Policy | None = None
    step: ScenarioStep | None = None
    if args.step is not None and args.scenario is None:
        return bad_input("--step needs --scenario NAME")
    if args.scenario is not None:
        if args.policy is not None:
            return bad_input("pass --policy FILE or --scenario NAME, not both")
        try:
            scenario_policy, step = load_scenario(args.scenario, args.step)
        except PolicyError as exc:
            return bad_input(str(exc))
        if step is not None:
            args.agent = args.agent or step.requester
            if args.tool is None:
                args.tool, args.target = step.tool, step.target
    if args.tool is None:
        return bad_input("TOOL is required: one of " + ", ".join(TOOLS))
    policy = _load(args, scenario_policy)
    if policy is None:
        return 2
    try:
        requester = Requester.of(args.agent, args.session, main_key=policy.main_key)
    except MalformedKey as exc:
        return bad_input(f"--session: {exc}")
    if args.gateway and policy.gateway_of(args.gateway) is None:
        return bad_input(
            f"--gateway {args.gateway!r} is not a gateway of {policy.path} (known: {', '.join(policy.gateway_names)})"
        )
    if args.tool == "sessions_list" and args.target:
        return bad_input("sessions_list takes no TARGET")
    if args.tool in ("sessions_history", "sessions_send") and not args.target:
        return bad_input(f"{args.tool} needs a TARGET session key, e.g. agent:{args.agent}:main")
    if args.depth is not None and (args.depth < 1 or not requester.key.is_subagent):
        return bad_input(
            "--depth N (N >= 1) applies only to a subagent --session (agent:<id>:subagent:<uuid>)"
        )
    view = pinned_view(policy)
    if args.depth is not None:
        view = dataclasses.replace(view, depths={requester.session_key: args.depth})
    usage, unchecked = operator_facts(policy, args.agent, args.tool, args.db)
    decision = decide(
        policy, requester, args.tool, args.target, view, gateway=args.gateway, explain=True, usage=usage
    )
    decision = mark_unchecked(decision, unchecked)
    if args.json:
        out = decision.as_dict()
        if step is not None:
            out["scenario"] = {"file": policy.path, "step": step.index, "expected": step.expected}
        print(json.dumps(out, indent=2))
    else:
        print(render_decision(decision, policy))
        if step is not None:
            shown = ", ".join(f"{k}: {json.dumps(v)}" for k, v in step.expected.items())
            print(f"\nscenario expects: {shown}")
    return 0


def operator_facts(
    policy: Policy, agent_id: str, tool: str, db: str | None, now: float | None = None
) -> tuple[Usage, dict[str, str]]:
    """What this machine knows of the operator's gates for `agent_id`, read without writing anything:
    its pause file, and for the budgets that apply to `tool` the counts in its mirror. Returns the usage
    to decide with and, for each gate it could not check, why (shown instead of PASS)."""
    mirror_file = Path(db).expanduser() if db else state_dir(agent_id) / MIRROR_FILE
    directory = mirror_file.parent
    unchecked: dict[str, str] = {}
    pause = None
    if directory.is_dir():
        pause = PauseFile.in_dir(directory).read()
    else:
        unchecked[PAUSE_GATE] = (
            f"not checked offline: no state directory at {directory} (no sidecar of {agent_id} has run "
            "here; pass --db PATH for one started with --db)"
        )
    agent = policy.for_agent(agent_id)
    limits = {
        "sends-per-day": tool == "sessions_send" and agent.sends_per_day.value is not None,
        "spawns-per-hour": tool == "sessions_spawn" and agent.spawns_per_hour.value is not None,
        "max-active-children": tool == "sessions_spawn" and agent.max_active_children.value is not None,
    }
    budgets = [gate for gate in BUDGET_GATES if limits.get(gate)]
    if not budgets:
        return Usage(paused=pause), unchecked
    why = f"not checked offline: no mirror at {mirror_file}"
    if mirror_file.is_file():
        try:
            with Mirror.open(mirror_file, readonly=True) as mirror:
                usage = usage_of(
                    mirror,
                    agent_id,
                    pause,
                    time.time() if now is None else now,
                    sends=limits["sends-per-day"],
                    spawns=limits["spawns-per-hour"],
                    children=limits["max-active-children"],
                )
            return usage, unchecked
        except MirrorError as exc:
            why = f"not checked offline: cannot read the mirror at {mirror_file} ({exc})"
    unchecked.update(dict.fromkeys(budgets, why))
    return Usage(paused=pause), unchecked


def mark_unchecked(decision: Decision, unchecked: dict[str, str]) -> Decision:
    """Turn the PASS of each gate that could not be checked here into "not checked", with why."""
    if not unchecked or not decision.checks:
        return decision
    checks = tuple(
        Check(c.gate, "not checked", unchecked[c.gate], c.sources)
        if c.gate in unchecked and c.outcome == "pass"
        else c
        for c in decision.checks
    )
    return decision._replace(checks=checks)


def pinned_view(policy: Policy) -> StaticView:
    """What explain knows offline: this policy's agents at home, each peer's pinned agents."""
    return StaticView(
        agents=frozenset(policy.agent_ids),
        peer_agents={peer.name: frozenset(peer.agents) for peer in policy.peers},
    )


def _explain_inbound(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        return bad_input(str(exc))
    peer = policy.gateway_of(args.from_peer)
    if peer is None or peer == "home":
        known = ", ".join(p.name for p in policy.peers) or "none"
        return bad_input(f"--from {args.from_peer!r} is not a peer in {policy.path} (peers: {known})")
    if not is_agent_id(args.agent):
        return bad_input(
            f"--agent {args.agent!r} is not a valid agent id (lowercase letters, digits, _ and -)"
        )
    try:
        requester = Requester.of(args.agent, args.session, main_key=policy.main_key, gateway=peer)
    except MalformedKey as exc:
        return bad_input(f"--session: {exc}")
    decision = decide_inbound(policy, requester, args.tool, args.target, pinned_view(policy), explain=True)
    if args.json:
        print(json.dumps(decision.as_dict(), indent=2))
    else:
        print(render_decision(decision, policy))
    return 0


def _show(args: argparse.Namespace) -> int:
    scenario_policy: Policy | None = None
    if args.step is not None and args.scenario is None:
        return bad_input("--step needs --scenario NAME")
    if args.scenario is not None:
        try:
            scenario_policy = load_scenario(args.scenario, args.step)[0]
        except PolicyError as exc:
            return bad_input(str(exc))
    policy = _load(args, scenario_policy)
    if policy is None:
        return 2
    report = policy_report(policy, args.agent, pinned_view(policy))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_policy(report))
    return 0


def _test(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        return bad_input(str(exc))
    path = Path(args.cases)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return bad_input(f"{path}: cases file not found")
    except (OSError, UnicodeDecodeError) as exc:
        return bad_input(f"{path}: cannot read the cases file: {exc}")
    try:
        cases = parse_cases(text, str(path), policy)
    except PolicyError as exc:
        return bad_input(str(exc))
    results = run_cases(policy, cases, StaticView(agents=policy.known_agents))
    if args.json:
        print(
            json.dumps(
                {"cases": str(path), "policy": policy.path, "results": [_result(r) for r in results]},
                indent=2,
            )
        )
    else:
        print(render_results(results, str(path), policy))
    return 0 if all(r.passed for r in results) else 1


def _result(result: CaseResult) -> dict[str, object]:
    case, decision = result.case, result.decision
    return {
        "line": case.line,
        "name": case.name,
        "agent": case.agent,
        "session": decision.requester.session_key,
        "tool": case.tool,
        "target": case.target,
        "expect": case.expect,
        "gate": case.gate,
        "passed": result.passed,
        "got": result.got,
        "decision": {k: v for k, v in decision.as_dict().items() if k != "checks"},
    }
