"""Doctor's checks of the policy file, each agent's scope in it, and the openclaw.json that deploys it.

The policy parses and no agent in it is accidentally wide open; an openclaw.json, when given (or named
by the policy), does not let a governed agent bypass its sidecar.
"""

from __future__ import annotations

from pathlib import Path

from sidecar.config import load_policy
from sidecar.deploy import audit_openclaw_config, group_findings
from sidecar.doctor._report import Check, count
from sidecar.policy import Policy, PolicyError, open_default_warning, parse_json5


def check_policy(explicit: str | None) -> tuple[list[Check], Policy | None]:
    try:
        policy = load_policy(explicit)
    except PolicyError as exc:
        if exc.file == "<no policy>":
            return [Check("policy", "FAIL", "no policy file given", str(exc))], None
        where = f"{exc.file}:{exc.line}" if exc.line else exc.file
        key = f"{exc.key}: " if exc.key else ""
        return [Check("policy", "FAIL", f"{where} cannot be used: {key}{exc.problem}", str(exc))], None
    agents = ", ".join(policy.agent_ids) or "none"
    inherits = f", inherits {policy.openclaw.path}" if policy.openclaw is not None else ""
    detail = f"{policy.path} parses: {count(len(policy.agent_ids), 'agent')} ({agents}){inherits}"
    return [Check("policy", "PASS", detail)], policy


def check_agents(policy: Policy, agent: str | None) -> list[Check]:
    """Per agent: not wide open by accident. With `agent`, also that it is in the policy at all."""
    checks = []
    if agent is not None and agent not in policy.known_agents:
        checks.append(
            Check(
                f"policy:{agent}",
                "FAIL",
                f"agent {agent} is not in {policy.path}, so `sidecar serve --agent {agent}` refuses to start",
                f"Add agents.entries.{agent}: {{}} to {policy.path} (then narrow it as that agent needs)",
            )
        )
    for agent_id in policy.agent_ids:
        resolved = policy.for_agent(agent_id)
        warning = open_default_warning(resolved)
        if warning is not None and warning.startswith("note: "):
            checks.append(Check(f"policy:{agent_id}", "PASS", warning.removeprefix("note: ")))
            continue
        if warning is None:
            a2a = "on" if resolved.a2a_enabled.value else "off"
            detail = f"{agent_id}: sessions visibility {resolved.visibility.value}, agent-to-agent {a2a}"
            checks.append(Check(f"policy:{agent_id}", "PASS", detail))
            continue
        text = warning.removeprefix("WARNING: ")
        detail, sep, how = text.partition(" To scope it, ")
        if not sep:
            how = (
                f"set agents.entries.{agent_id}.tools.sessions.visibility and "
                f"agents.entries.{agent_id}.tools.agentToAgent.allow"
            )
        checks.append(Check(f"policy:{agent_id}", "WARN", detail, f"In {policy.path}, {how.rstrip('.')}"))
    return checks


def check_openclaw_config(explicit: str | None, policy: Policy | None) -> list[Check]:
    name = "openclaw-config"
    if explicit:
        path = str(Path(explicit).expanduser())
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = parse_json5(text, path).data
        except FileNotFoundError:
            return [
                Check(
                    name,
                    "FAIL",
                    f"{path} does not exist",
                    "Pass the path of the gateway's openclaw.json "
                    "(default ~/.openclaw/openclaw.json) to --openclaw-config",
                )
            ]
        except (OSError, UnicodeDecodeError) as exc:
            return [Check(name, "FAIL", f"cannot read {path}: {exc}", f"Check the permissions of {path}")]
        except PolicyError as exc:
            return [Check(name, "FAIL", f"{path} does not parse: {exc.problem}", str(exc))]
    elif policy is not None and policy.openclaw is not None:
        path, data = policy.openclaw.path, policy.openclaw.data
    else:
        return [
            Check(
                name,
                "SKIP",
                "no openclaw.json to audit",
                "Pass --openclaw-config ~/.openclaw/openclaw.json (or set openclawConfig in the policy)",
            )
        ]
    if policy is None:
        return [
            Check(name, "SKIP", f"{path} is audited against the policy, which does not parse (see policy)")
        ]
    findings = audit_openclaw_config(data, policy)
    if not findings:
        governed = len(policy.agent_ids)
        return [
            Check(
                name,
                "PASS",
                f"{path}: each of the {governed} governed agents reaches sessions only "
                "through its own sidecar",
            )
        ]
    # One finding per cause, not per agent: an unmerged fragment is one problem with one fix.
    groups = group_findings(findings, f"sidecar manifest openclaw --policy {policy.path}", path)
    return [
        Check(name, "FAIL" if g.severity == "error" else "WARN", f"{path}: {g.message}", g.fix)
        for g in groups
    ]


__all__ = ["check_agents", "check_openclaw_config", "check_policy"]
