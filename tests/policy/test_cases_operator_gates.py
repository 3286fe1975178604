"""Cases against gates a policy alone does not decide: the operator's pause and the budgets."""

from __future__ import annotations

import json

import pytest

from sidecar.policy import PolicyError, parse_cases, parse_policy

POLICY = parse_policy(
    json.dumps({"agents": {"entries": {"lead": {"limits": {"sendsPerDay": 1}}, "dev-1": {}}}}), "team.json5"
)


@pytest.mark.parametrize("gate", ["pause", "sends-per-day", "spawns-per-hour", "max-active-children"])
def test_a_case_expecting_an_operator_gate_is_refused_with_where_to_check_it_instead(gate: str) -> None:
    text = (
        "[\n  {agent: 'lead', tool: 'sessions_send', target: 'agent:dev-1:main',\n"
        f"   expect: 'deny', gate: '{gate}'}},\n]"
    )
    with pytest.raises(PolicyError) as caught:
        parse_cases(text, "cases.json5", POLICY)
    message = str(caught.value)
    assert caught.value.line == 2
    assert "live state" in message and "sidecar explain --agent lead" in message
    assert "a policy gate: session-class" in message and "pause," not in message.split("a policy gate")[1]
