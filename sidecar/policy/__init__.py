"""The pure policy engine: no I/O, no clock. Every decision names its gate, source and fix."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sidecar.policy._decide import decide
from sidecar.policy._decision import GATES, TOOLS, Check, Decision, Requester, SessionView, StaticView, Tool
from sidecar.policy._explain import (
    observe_warning,
    open_default_warning,
    policy_report,
    render_decision,
    render_policy,
)
from sidecar.policy._gateways import Placement, place, principal, principal_matches, split_principal
from sidecar.policy._guard import session_class
from sidecar.policy._keys import (
    MalformedKey,
    SessionKey,
    canonical_key,
    is_agent_id,
    looks_like_session_id,
    main_key_of,
    pattern_matches,
)
from sidecar.policy._lint import PolicyWarning, direct_peer_notes, lint_policy
from sidecar.policy._listing import ListGuard, ListScope, filter_sessions
from sidecar.policy._model import HOME, OPENCLAW_DEFAULTS, AgentPolicy, Peer, Policy, Resolved, Source
from sidecar.policy._operations import ALWAYS_ENFORCED, BUDGET_GATES, PAUSE_GATE, Pause, Usage
from sidecar.policy._retention import DecisionRetention, decision_retention
from sidecar.policy._schema import PolicyError, parse_json5, validate
from sidecar.policy._sessions import DENY_ALWAYS, DENY_LEAF, SessionClass, classify
from sidecar.policy._versions import NEWEST, SEMANTICS, Semantics, semantics_for

if TYPE_CHECKING:
    from sidecar.policy._cases import Case, CaseResult, parse_cases, render_results, run_cases
    from sidecar.policy._inbound import decide_inbound, inbound_visible
    from sidecar.policy._matrix import GATE_LETTERS, Cell, Matrix, access_matrix, render_matrix_text

__all__ = [
    "ALWAYS_ENFORCED",
    "BUDGET_GATES",
    "DENY_ALWAYS",
    "DENY_LEAF",
    "GATES",
    "GATE_LETTERS",
    "HOME",
    "NEWEST",
    "OPENCLAW_DEFAULTS",
    "PAUSE_GATE",
    "SEMANTICS",
    "TOOLS",
    "AgentPolicy",
    "Case",
    "CaseResult",
    "Cell",
    "Check",
    "Decision",
    "DecisionRetention",
    "ListGuard",
    "ListScope",
    "MalformedKey",
    "Matrix",
    "Pause",
    "Peer",
    "Placement",
    "Policy",
    "PolicyError",
    "PolicyWarning",
    "Requester",
    "Resolved",
    "Semantics",
    "SessionClass",
    "SessionKey",
    "SessionView",
    "Source",
    "StaticView",
    "Tool",
    "Usage",
    "access_matrix",
    "canonical_key",
    "classify",
    "decide",
    "decide_inbound",
    "decision_retention",
    "direct_peer_notes",
    "filter_sessions",
    "inbound_visible",
    "is_agent_id",
    "lint_policy",
    "looks_like_session_id",
    "main_key_of",
    "observe_warning",
    "open_default_warning",
    "parse_cases",
    "parse_json5",
    "parse_policy",
    "pattern_matches",
    "place",
    "policy_report",
    "principal",
    "principal_matches",
    "render_decision",
    "render_matrix_text",
    "render_policy",
    "render_results",
    "run_cases",
    "semantics_for",
    "session_class",
    "split_principal",
    "validate",
]


def parse_policy(
    text: str, path: str, openclaw_text: str | None = None, openclaw_path: str | None = None
) -> Policy:
    """Build a Policy from the policy file's text and, optionally, the openclaw.json text it names.

    Raises:
        PolicyError: with the file, line, key and what is allowed there.
    """
    doc = parse_json5(text, path)
    validate(doc)
    openclaw = (
        parse_json5(openclaw_text, openclaw_path or "openclaw.json") if openclaw_text is not None else None
    )
    policy = Policy(doc, openclaw)
    for agent_id in policy.agent_ids:
        policy.for_agent(agent_id)
    policy.peers  # noqa: B018 -- a peer spelled wrong fails here, with its line, not at first use
    return policy


# Policy test cases, the access matrix and inbound (peer) decisions are loaded on first use: `sidecar
# serve` decides its own agent's calls without them, and their modules are part of its cold start.
_LAZY = {
    "Case": "sidecar.policy._cases",
    "CaseResult": "sidecar.policy._cases",
    "parse_cases": "sidecar.policy._cases",
    "render_results": "sidecar.policy._cases",
    "run_cases": "sidecar.policy._cases",
    "decide_inbound": "sidecar.policy._inbound",
    "inbound_visible": "sidecar.policy._inbound",
    "GATE_LETTERS": "sidecar.policy._matrix",
    "Cell": "sidecar.policy._matrix",
    "Matrix": "sidecar.policy._matrix",
    "access_matrix": "sidecar.policy._matrix",
    "render_matrix_text": "sidecar.policy._matrix",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
