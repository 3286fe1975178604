"""The five policy mistakes a newcomer makes each say which line caused them and what to do."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sidecar.config import load_policy
from sidecar.policy import (
    PolicyError,
    Requester,
    StaticView,
    decide,
    lint_policy,
    parse_json5,
    parse_policy,
)


def error_of(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "team.json5")
    return caught.value


def test_an_unquoted_key_with_a_dash_points_at_its_line_and_says_to_quote_it() -> None:
    text = "{\n  agents: {\n    entries: {\n      lead: {},\n      dev-1: {},\n    },\n  },\n}\n"
    exc = error_of(text)
    assert exc.line == 5
    assert "dev-1: {}," in str(exc)
    assert 'write "dev-1": instead of dev-1:' in str(exc)


def test_an_extra_brace_is_reported_on_its_own_line_not_where_the_parser_gave_up() -> None:
    text = (
        '{\n  agents: {\n    entries: {\n      lead: {}},\n      "dev-1": {},\n    },\n  },\n'
        "  tools: {},\n}\n"
    )
    exc = error_of(text)
    assert exc.line == 4
    assert "lead: {}}," in str(exc)
    assert "remove the extra '}'" in str(exc)
    assert "the parser stopped at line" in str(exc)


def test_trailing_text_after_the_policy_is_named_with_its_line() -> None:
    exc = error_of("{\n  agents: { entries: { lead: {} } },\n}\n}\n")
    assert exc.line == 4
    assert "after the end of the policy" in str(exc)
    assert "remove the extra closing brace" in str(exc)


def test_a_missing_comma_suggests_the_comma_on_the_line_before() -> None:
    exc = error_of('{\n  session: { mainKey: "main" }\n  tools: {}\n}\n')
    assert "add a comma at the end of line 2" in str(exc)


def test_a_typod_key_gets_a_did_you_mean() -> None:
    exc = error_of('{\n  tools: {\n    sessions: { visiblity: "self" },\n  },\n}\n')
    assert exc.line == 3
    assert "did you mean visibility?" in str(exc)
    assert "fix: rename it to visibility" in str(exc)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('["self"]', 'a list ["self"]'),
        ("true", "true"),
        ("null", "null"),
        ("3", "the number 3"),
    ],
)
def test_type_errors_speak_json_never_python(value: str, shown: str) -> None:
    exc = error_of("{\n  tools: {\n    sessions: { visibility: " + value + " },\n  },\n}\n")
    assert shown in str(exc)
    assert "['self']" not in str(exc) and "True" not in str(exc) and "None" not in str(exc)


def test_a_string_where_a_list_belongs_offers_the_list() -> None:
    exc = error_of('{\n  tools: {\n    agentToAgent: { allow: "dev-1" },\n  },\n}\n')
    assert 'expected a list of strings, got the string "dev-1"' in str(exc)
    assert 'fix: write allow: ["dev-1"]' in str(exc)


POLICY = """{
  agents: {
    entries: {
      lead: {
        tools: {
          sessions: {
            visibility: "scoped",
            visibleAgents: ["Dev-1", "dev-9"],
          },
        },
      },
      "dev-1": {},
      "dev-2": {},
    },
  },
}
"""


def test_ids_that_never_match_are_warnings_with_a_did_you_mean() -> None:
    warnings = lint_policy(parse_policy(POLICY, "team.json5"))
    by_value = {w.value: w for w in warnings}
    assert set(by_value) == {"Dev-1", "dev-9"}
    assert by_value["Dev-1"].line == 8
    assert 'did you mean "dev-1"?' in by_value["Dev-1"].problem
    assert 'did you mean "dev-2"?' in by_value["dev-9"].problem


def test_under_strict_the_first_warning_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "team.json5"
    path.write_text(POLICY, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(str(path), strict=True)
    assert caught.value.line == 8 and 'replace "Dev-1" with "dev-1"' in str(caught.value)
    shown = io.StringIO()
    load_policy(str(path), warn=shown)
    assert shown.getvalue().count("warning:") == 2


def test_the_fix_replaces_the_miscased_id_instead_of_appending_beside_it() -> None:
    policy = parse_policy(POLICY, "team.json5")
    lead = Requester.of("lead", None)
    decision = decide(
        policy, lead, "sessions_send", "agent:dev-1:main", StaticView(agents=policy.known_agents)
    )
    assert not decision.allowed
    assert 'visibleAgents: ["dev-1", "dev-9"]' in decision.fix
    assert "Dev-1" in decision.fix and "never matches" in decision.fix


def test_a_clean_policy_has_no_warnings() -> None:
    text = '{ agents: { entries: { lead: { tools: { agentToAgent: { allow: ["dev-*", "dev-1"] } } }, "dev-1": {} } } }'
    assert lint_policy(parse_policy(text, "team.json5")) == ()
    assert parse_json5(text, "team.json5").data["agents"]
