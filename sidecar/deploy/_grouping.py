"""The audit's findings grouped per cause, each group with one fix.

An openclaw.json that has never had the fragment merged fails the same way for every agent: each still
has the built-in session tools and can reach every other agent's sidecar. Reported per agent that is
two near-identical paragraphs times the fleet; per cause it is one finding naming the agents, and for
the causes `sidecar manifest openclaw` fixes, one command: merge its output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sidecar.deploy._audit import Finding

__all__ = ["FRAGMENT_FIXES", "FindingGroup", "group_findings"]

FRAGMENT_FIXES = frozenset({"builtin-session-tools", "foreign-sidecar", "missing-sidecar"})
"""Causes that merging `sidecar manifest openclaw --policy FILE` into openclaw.json removes."""

_CAUSES = {
    "builtin-session-tools": "still have OpenClaw's built-in session tools, which bypass the sidecar policy",
    "foreign-sidecar": "can call another agent's sidecar, acting with that agent's identity and scope",
    "missing-sidecar": "have no sidecar of their own in mcp.servers",
}


@dataclass(frozen=True, slots=True)
class FindingGroup:
    """Every finding of one cause: which agents, what is wrong, and the one fix."""

    code: str
    severity: Literal["error", "warning"]
    agents: tuple[str, ...]
    message: str
    fix: str
    findings: tuple[Finding, ...]


def group_findings(
    findings: Sequence[Finding], fragment_command: str, config_path: str
) -> list[FindingGroup]:
    """Group by cause (code and severity), in first-seen order.

    A cause the generated fragment fixes gets `merge the output of <fragment_command>` as its fix; any
    other keeps its findings' own fixes (joined when there are several).
    """
    order: list[tuple[str, str]] = []
    by_cause: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        cause = (finding.code, finding.severity)
        if cause not in by_cause:
            order.append(cause)
            by_cause[cause] = []
        by_cause[cause].append(finding)
    groups = []
    for code, severity in order:
        members = by_cause[(code, severity)]
        agents = tuple(dict.fromkeys(f.agent for f in members if f.agent is not None))
        if len(members) == 1:
            message, fix = members[0].message, members[0].fix
        else:
            what = _CAUSES.get(code, members[0].message)
            message = f"{len(agents)} agents ({', '.join(agents)}) {what}" if agents else what
            fix = "; ".join(dict.fromkeys(f.fix for f in members))
        if code in FRAGMENT_FIXES:
            by_hand = members[0].fix.rstrip(".")
            others = " (and likewise for the other agents)" if len({f.fix for f in members}) > 1 else ""
            fix = (
                f"Merge the output of `{fragment_command}` into {config_path} (it denies every agent the "
                "built-in session tools, each agent every other agent's sidecar, and gives it its own), then run "
                f"`openclaw config validate`. By hand instead: {by_hand}{others}"
            )
        level: Literal["error", "warning"] = "error" if severity == "error" else "warning"
        groups.append(FindingGroup(code, level, agents, message, fix, tuple(members)))
    return groups
