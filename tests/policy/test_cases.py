"""Cases files: parsed strictly with file and line, decided by the engine, failures explained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sidecar.policy import PolicyError, StaticView, parse_cases, parse_policy, run_cases
from sidecar.policy import render_results as render

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
HIERARCHY: dict[str, Any] = json.loads((SCENARIOS / "hierarchy.json").read_text(encoding="utf-8"))
POLICY = parse_policy(json.dumps(HIERARCHY["policy"], indent=2), "hierarchy.json5")


def cases_from_scenario() -> str:
    cases = []
    for item in HIERARCHY["expected"]:
        case = {
            "agent": item["requester"],
            "tool": item["tool"],
            "expect": "allow" if item["allowed"] else "deny",
        }
        if item["target"]:
            case["target"] = item["target"]
        if "gate" in item:
            case["gate"] = item["gate"]
        cases.append(case)
    return json.dumps(cases, indent=2)


def test_every_expectation_of_the_hierarchy_scenario_passes_as_a_case() -> None:
    cases = parse_cases(cases_from_scenario(), "h.cases.json5", POLICY)
    results = run_cases(POLICY, cases, StaticView(agents=POLICY.known_agents))
    assert len(results) == len(HIERARCHY["expected"])
    assert all(r.passed for r in results), [r.case for r in results if not r.passed]


def test_a_case_expecting_the_wrong_gate_fails_and_says_which_gate_decided() -> None:
    text = '[{agent: "lead", tool: "sessions_send", target: "agent:hr:main", expect: "deny", gate: "allow-list"}]'
    [result] = run_cases(POLICY, parse_cases(text, "c.json5", POLICY), StaticView())
    assert not result.passed
    assert result.got == "deny (visibility)" and result.wanted == "deny (allow-list)"
    table = render([result], "c.json5", POLICY)
    assert "FAIL" in table and "fix:" in table and "result: 1 of 1 cases FAIL" in table


def test_a_case_expecting_deny_fails_when_the_policy_allows() -> None:
    text = '{cases: [{agent: "manager", tool: "sessions_send", target: "agent:dev-1:main", expect: "deny"}]}'
    [result] = run_cases(POLICY, parse_cases(text, "c.json5", POLICY), StaticView())
    assert not result.passed and result.decision.allowed


def test_a_session_case_decides_from_that_session() -> None:
    text = '[{agent: "dev-1", session: "agent:dev-1:other", tool: "sessions_history", target: "agent:dev-1:main", expect: "deny", gate: "visibility"}]'
    [result] = run_cases(POLICY, parse_cases(text, "c.json5", POLICY), StaticView())
    assert result.passed
    assert result.decision.requester.session_key == "agent:dev-1:other"


BAD = [
    (
        "[\n  {agent: 'lead', tool: 'sessions_send', target: 'agent:dev-1:main', expect: 'allow'},\n"
        "  {agent: 'lead', tol: 'sessions_send'},\n]",
        3,
        "unknown key (did you mean 'tool'?)",
    ),
    ("[\n\n  {agent: 'nobody', tool: 'sessions_list', expect: 'allow'}]", 3, "is not an agent of"),
    (
        "[{agent: 'lead', tool: 'send', target: 'agent:dev-1:main', expect: 'allow'}]",
        1,
        "did you mean 'sessions_send'?",
    ),
    (
        "[{agent: 'lead', tool: 'sessions_send', target: 'agent:dev-1:main', expect: 'yes'}]",
        1,
        "'yes' is not allowed",
    ),
    (
        "[{agent: 'lead', tool: 'sessions_send', target: 'agent:dev-1:main', expect: 'allow', gate: 'visibility'}]",
        1,
        'only makes sense with expect: "deny"',
    ),
    (
        "[{agent: 'lead', tool: 'sessions_send', target: 'agent:dev-1:main', expect: 'deny', gate: 'acl'}]",
        1,
        "'acl' is not a gate",
    ),
    ("[{agent: 'lead', tool: 'sessions_send', expect: 'deny'}]", 1, "needs a target session key"),
    (
        "[{agent: 'lead', tool: 'sessions_list', target: 'agent:dev-1:main', expect: 'allow'}]",
        1,
        "takes no target",
    ),
    (
        "[{agent: 'lead', session: 'agent:dev-1:main', tool: 'sessions_list', expect: 'allow'}]",
        1,
        "belongs to agent 'dev-1'",
    ),
    ("[\n  // comment with a { brace\n  'not a case']", 1, "each case must be an object"),
    ("[]", 1, "the file has no cases"),
    ("{cases: [], policy: 'x'}", 1, "unknown key"),
    ("[\n{agent: 'lead',,}]", 2, "not valid JSON5"),
]


@pytest.mark.parametrize(("text", "line", "problem"), BAD, ids=[b[2][:30] for b in BAD])
def test_a_bad_case_is_refused_with_its_line_and_what_to_write(text: str, line: int, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_cases(text, "bad.json5", POLICY)
    assert caught.value.line == line or (line == 1 and caught.value.line is None)
    assert problem in str(caught.value)
    assert str(caught.value).startswith("bad.json5")
