"""Human- and machine-readable renderings of decisions and effective policies."""

from __future__ import annotations

from typing import Any

from sidecar.policy._decide import decide
from sidecar.policy._decision import Decision, Requester, SessionView
from sidecar.policy._keys import main_key_of
from sidecar.policy._model import AgentPolicy, Policy, Resolved

_MARK = {"pass": "PASS", "fail": "FAIL", "n/a": " n/a", "not reached": "  - ", "not checked": "  ? "}


def render_decision(decision: Decision, policy: Policy) -> str:
    req = decision.requester
    target = decision.target or decision.target_agent or "(no target)"
    here = policy.gateway_name
    on = decision.target_gateway
    lines = [
        f"{decision.tool}: {req.principal} ({req.session_key}) -> {target}"
        + (f" on {on if on != 'home' else here}" if on else ""),
        f"policy: {policy.path}" + (f" (inherits {policy.openclaw.path})" if policy.openclaw else ""),
    ]
    peer = policy.peer(on) if on else None
    if decision.side == "inbound":
        lines.append(
            f"decided by: {here} (the receiving host), inbound, under this policy; {req.gateway} already "
            "decided it outbound under its own"
        )
    elif peer is not None and peer.mode == "sidecar":
        lines.append(
            f"decided by: {here} (the sending host), outbound; {on}'s sidecar decides it again inbound under "
            f"{on}'s policy (there: sidecar explain --from {here} --agent {req.agent_id} {decision.tool} "
            f"{target})"
        )
    elif peer is not None:
        lines.append(
            f"decided by: {here} only: {on} is a direct peer (this host holds a device on {on}'s gateway), "
            "so no inbound decision is made there"
        )
    lines.append("")
    for check in decision.checks:
        detail = check.detail or ("not reached" if check.outcome == "not reached" else "")
        lines.append(f"  {_MARK[check.outcome]}  {check.gate:<15} {detail}".rstrip())
        lines.extend(f"{'':24}from {source}" for source in check.sources)
    lines.append("")
    if decision.would_deny:
        lines += [
            f"ALLOWED IN OBSERVE MODE: under enforce this call would be DENIED at gate '{decision.gate}'",
            f"  message: {decision.message}",
            f"  source:  {decision.source}",
            f"  fix:     {decision.fix}",
        ]
    elif decision.allowed:
        lines.append("ALLOWED")
        if decision.source:
            lines.append(f"  decided by: {decision.source}")
        unchecked = [c.gate for c in decision.checks if c.outcome == "not checked"]
        if unchecked:
            lines.append(
                f"  not checked here: {', '.join(unchecked)}; the running sidecar checks them on every call "
                "and may still refuse it"
            )
    else:
        lines += [
            f"DENIED at gate '{decision.gate}'",
            f"  message: {decision.message}",
            f"  source:  {decision.source}",
            f"  fix:     {decision.fix}",
        ]
    return "\n".join(lines)


def open_default_warning(agent: AgentPolicy) -> str | None:
    """Warn when an agent can read and message every other agent, naming the keys that made it so."""
    if agent.visibility.value != "all" or not agent.a2a_enabled.value:
        return None
    if agent.allow.value and "*" not in [p.strip() for p in agent.allow.value]:
        return None
    keys: list[tuple[str, Resolved[Any]]] = [
        ("tools.sessions.visibility", agent.visibility),
        ("tools.agentToAgent.enabled", agent.a2a_enabled),
        ("tools.agentToAgent.allow", agent.allow),
    ]
    unset = [
        f"{name} (unset: {v.source.release} defaults to {v.describe().split(' = ')[-1]})"
        for name, v in keys
        if v.is_default
    ]
    set_ = [f"{name} set at {v.describe()}" for name, v in keys if not v.is_default]
    why = "; ".join(unset + set_)
    if agent.acknowledge_open is not None:
        return (
            f"note: {agent.agent_id} reads and messages every agent, as intended "
            f"({agent.acknowledge_open.describe()})."
        )
    fix = (
        f'narrow it with agents.entries.{agent.agent_id}.tools.sessions.visibility ("self", "tree", "agent" or '
        f'"scoped" with visibleAgents) and agents.entries.{agent.agent_id}.tools.agentToAgent.allow'
    )
    return (
        f"WARNING: {agent.agent_id} can read and message every other agent's sessions. Because: {why}. "
        f"To scope it, {fix}. If this is intended, set agents.entries.{agent.agent_id}.acknowledgeOpen: true "
        "and this warning becomes one line."
    )


def observe_warning(agent: AgentPolicy) -> str:
    """The loud line every surface (policy show, doctor, the serve banner) prints for an observed agent."""
    return (
        f"OBSERVE MODE: {agent.agent_id}'s calls are decided but NOT enforced; would-be denials are let "
        f"through and logged (sidecar decisions --would-deny). Set by {agent.mode.describe()}; "
        'set mode: "enforce" (the default) to enforce.'
    )


def reach(policy: Policy, agent_id: str, view: SessionView) -> dict[str, dict[str, bool]]:
    """For each known agent: may this agent read its main session, message it, spawn on it?"""
    requester = Requester.of(agent_id, main_key=policy.main_key)
    table = {}
    for other in sorted(policy.known_agents):
        key = main_key_of(other, policy.main_key)
        table[other] = {
            "history": decide(policy, requester, "sessions_history", key, view).allowed,
            "send": decide(policy, requester, "sessions_send", key, view).allowed,
            "spawn": decide(policy, requester, "sessions_spawn", other, view).allowed,
        }
    return table


def policy_report(policy: Policy, agent_id: str, view: SessionView) -> dict[str, Any]:
    agent = policy.for_agent(agent_id)
    values = {
        name: {
            "value": list(v.value) if isinstance(v.value, tuple) else v.value,
            "origin": v.source.origin,
            "source": v.describe(),
        }
        for name, v in agent.values().items()
    }
    warning = open_default_warning(agent)
    warnings = [warning] if warning else []
    if agent.observing:
        warnings.insert(0, observe_warning(agent))
    return {
        "agent": agent_id,
        "policy": policy.path,
        "openclawConfig": policy.openclaw.path if policy.openclaw else None,
        "known": agent_id in policy.known_agents,
        "values": values,
        "mode": agent.mode.value,
        "warnings": warnings,
        "reach": reach(policy, agent_id, view),
    }


def render_policy(report: dict[str, Any]) -> str:
    lines = [f"Effective policy for agent '{report['agent']}' from {report['policy']}"]
    if report["openclawConfig"]:
        lines.append(f"  (inherits {report['openclawConfig']})")
    if not report["known"]:
        lines.append(f"  NOTE: '{report['agent']}' has no entry in the policy; defaults apply to it.")
    lines.append("")
    for warning in report["warnings"]:
        if warning.startswith("note: "):
            lines += [f"  {warning}", ""]
        else:
            lines += ["!" * 78, *_wrap(warning, 78), "!" * 78, ""]
    width = max(len(name) for name in report["values"])
    for name, item in report["values"].items():
        lines.append(f"  {name:<{width}}  <- {item['source']}")
    col = max([len("agent"), *(len(a) + 7 for a in report["reach"])])
    lines += ["", "  Reach (main session of each known agent):", f"    {'agent':<{col}} history  send  spawn"]
    for other, row in report["reach"].items():
        cells = ["yes" if row[t] else "no" for t in ("history", "send", "spawn")]
        name = f"{other} (self)" if other == report["agent"] else other
        lines.append(f"    {name:<{col}} {cells[0]:<8} {cells[1]:<5} {cells[2]}")
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*out, line] if line else out
