"""A malformed policy file or unknown key is rejected with the file, line, key and what is allowed."""

from __future__ import annotations

import pytest

from sidecar.policy import PolicyError, parse_policy


def error_of(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "team.json5")
    return info.value


def test_an_unknown_key_names_the_line_and_the_allowed_keys() -> None:
    err = error_of(
        "{\n  agents: {\n    entries: {\n      lead: { tools: { agentToAgnet: {} } },\n    },\n  },\n}"
    )
    assert (err.file, err.line, err.key) == ("team.json5", 4, "agents.entries.lead.tools.agentToAgnet")
    assert "unknown key" in str(err) and "sessions, agentToAgent" in str(err)


def test_a_bad_enum_value_lists_the_allowed_values() -> None:
    err = error_of('{\n tools: {\n  sessions: { visibility: "everyone" } } }')
    assert err.line == 3 and err.key == "tools.sessions.visibility"
    assert '"self", "tree", "agent", "all", "scoped"' in str(err)


def test_a_json5_syntax_error_gives_the_line() -> None:
    err = error_of("{\n  tools: {\n    sessions: {visibility: 'all',,}\n  }\n}")
    assert err.line == 3 and "not valid JSON5" in str(err)


def test_duplicate_keys_are_rejected_rather_than_silently_overwritten() -> None:
    err = error_of('{ tools: { sessions: { visibility: "self", visibility: "all" } } }')
    assert "Duplicate key" in str(err)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{ tools: { agentToAgent: { enabled: "yes" } } }', "tools.agentToAgent.enabled"),
        ('{ tools: { agentToAgent: { allow: "dev-*" } } }', "tools.agentToAgent.allow"),
        (
            "{ agents: { defaults: { subagents: { maxSpawnDepth: -1 } } } }",
            "agents.defaults.subagents.maxSpawnDepth",
        ),
        ('{ agents: { entries: { "Bad Id": {} } } }', "agents.entries.Bad Id"),
        ("{ agents: { list: [ { name: 'x' } ] } }", "agents.list[0]"),
        ("[1, 2]", ""),
    ],
)
def test_wrong_types_are_named(text: str, key: str) -> None:
    assert error_of(text).key == key


def test_openclaw_json_values_are_inherited_with_their_source() -> None:
    openclaw = '{\n  // real OpenClaw config, with keys we do not read\n  gateway: { mode: "local" },\n  tools: {\n    sessions: { visibility: "tree" },\n    agentToAgent: { allow: ["a*"] },\n  },\n  agents: { list: [ { id: "alpha", default: true }, { id: "beta", subagents: { allowAgents: ["alpha"] } } ],\n            defaults: { subagents: { maxSpawnDepth: 2 } } },\n}'
    policy = parse_policy("{ openclawConfig: './openclaw.json' }", "p.json5", openclaw, "openclaw.json")
    assert policy.agent_ids == ("alpha", "beta") and policy.default_agent == "alpha"
    beta = policy.for_agent("beta")
    assert beta.visibility.describe() == 'openclaw.json:5 tools.sessions.visibility = "tree"'
    assert beta.allow.value == ("a*",) and not beta.allow_is_per_agent
    assert beta.spawn_allow.describe() == 'openclaw.json:8 agents.list.1.subagents.allowAgents = ["alpha"]'
    assert beta.max_spawn_depth.value == 2 and beta.max_spawn_depth.source.origin == "openclaw"
    assert beta.a2a_enabled.describe() == "default (OpenClaw 2026.9.6): tools.agentToAgent.enabled = true"


def test_the_policy_file_wins_over_openclaw_json_and_agents_win_over_sidecar_wide() -> None:
    openclaw = '{ tools: { sessions: { visibility: "tree" } } }'
    policy = parse_policy(
        '{ tools: { sessions: { visibility: "self" } }, agents: { entries: { a: {}, b: { tools: { sessions: { visibility: "all" } } } } } }',
        "p.json5",
        openclaw,
        "openclaw.json",
    )
    assert policy.for_agent("a").visibility.source.origin == "sidecar"
    assert policy.for_agent("a").visibility.value == "self"
    assert policy.for_agent("b").visibility.value == "all"
    assert policy.for_agent("b").send_visibility.value == "all"


def test_an_invalid_visibility_in_openclaw_json_falls_back_to_openclaws_default() -> None:
    policy = parse_policy(
        "{ agents: { entries: { a: {} } } }", "p.json5", '{ tools: { sessions: { visibility: "bogus" } } }'
    )
    assert policy.for_agent("a").visibility.value == "all"
