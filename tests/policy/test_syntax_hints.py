"""JSON5 syntax mistakes in compact layouts (several entries on one line) get the hint that fixes them,
and a bracket is blamed only when the brackets are unbalanced, saying whether one is missing or extra."""

from __future__ import annotations

import pytest

from sidecar.policy import PolicyError, parse_policy


def error_of(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "team.json5")
    return caught.value


def test_an_unquoted_dashed_key_after_another_key_on_the_same_line_says_to_quote_it() -> None:
    exc = error_of("{\n  agents: { entries: { lead: {}, dev-1: {} } },\n}\n")
    assert exc.line == 2
    assert 'write "dev-1": instead of dev-1:' in str(exc)


def test_a_dashed_key_beside_an_underscored_one_is_not_blamed_on_a_brace() -> None:
    exc = error_of("{\n  agents: {\n    entries: { dev_1: {}, dev-2: {}, },\n  },\n  tools: {},\n}\n")
    assert exc.line == 3
    assert 'write "dev-2": instead of dev-2:' in str(exc)
    assert "'}'" not in str(exc)


@pytest.mark.parametrize("word", ["dev-1", "dev", "dev-*"])
def test_an_unquoted_string_in_a_list_says_to_quote_it_not_that_a_brace_is_extra(word: str) -> None:
    exc = error_of(
        '{\n  agents: {\n    entries: {\n      lead: { tools: { agentToAgent: { allow: ["hr", '
        + word
        + "] } } },\n    },\n  },\n}\n"
    )
    assert exc.line == 4
    assert f'write "{word}" instead of {word}' in str(exc)
    assert "extra" not in str(exc)


def test_an_unquoted_string_value_says_to_quote_it() -> None:
    exc = error_of("{\n  tools: { sessions: { visibility: self } },\n}\n")
    assert exc.line == 2 and 'write "self" instead of self' in str(exc)


@pytest.mark.parametrize(
    ("line", "after"),
    [
        ('  agents: { entries: { lead: {} "dev-1": {} } },', "'}' at column 32"),
        (
            '  tools: { sessions: { visibility: "self" } agentToAgent: { enabled: true } },',
            "'}' at column 44",
        ),
        ("  limits: { maxHops: 4 sendsPerMinute: 20 },", "'4' at column 23"),
    ],
)
def test_a_missing_comma_between_two_entries_on_one_line_is_pointed_at(line: str, after: str) -> None:
    exc = error_of("{\n" + line + "\n}\n")
    assert exc.line == 2
    assert "a comma is missing between" in str(exc) and f"add a comma after {after}" in str(exc)


def test_a_missing_brace_is_called_missing_at_the_line_where_its_block_has_ended() -> None:
    text = '{\n  agents: {\n    entries: {\n      lead: {},\n      "dev-1": {},\n    },\n  tools: {},\n}\n'
    exc = error_of(text)
    assert exc.line == 7
    assert "a '}' is missing" in str(exc) and "add the missing '}' before this line" in str(exc)
    assert "extra" not in str(exc)


def test_a_missing_brace_of_an_inner_block_is_blamed_on_the_block_it_does_not_close() -> None:
    text = "{\n  agents: {\n    entries: {\n      lead: {\n    },\n  },\n}\n"
    exc = error_of(text)
    assert exc.line == 4
    assert "never closed" in str(exc) and "add the missing '}' before line 5" in str(exc)
    assert "extra" not in str(exc)


def test_a_missing_brace_in_a_one_line_policy_counts_what_is_missing() -> None:
    exc = error_of("{ agents: { entries: { lead: {} }, tools: {} \n")
    assert exc.line == 1
    assert "2 '}' missing" in str(exc) and "add the missing '}'" in str(exc)
    assert "extra" not in str(exc)


def test_an_extra_brace_in_a_compact_layout_is_called_extra() -> None:
    exc = error_of("{\n  agents: { entries: { lead: {}} }, tools: {} },\n}\n")
    assert "remove the extra closing brace" in str(exc) or "remove the extra '}'" in str(exc)
    assert "missing" not in str(exc)
