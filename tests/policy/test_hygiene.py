"""Policy file hygiene: an agent defined twice, or a key written twice, is an error naming both lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.cli import main
from sidecar.policy import PolicyError, parse_policy

LISTED_TWICE = """{
  agents: {
    list: [
      { id: "a" },
      { id: "b" },
      { id: "b", tools: { agentToAgent: { receivesFrom: [] } } },
    ],
  },
}
"""
IN_ENTRIES_AND_LIST = """{
  agents: {
    entries: {
      a: {},
      b: {},
    },
    list: [
      { id: "b", tools: { agentToAgent: { receivesFrom: [] } } },
    ],
  },
}
"""
KEY_TWICE = """{
  agents: {
    entries: {
      a: {},
      b: {},
      b: { tools: { agentToAgent: { receivesFrom: [] } } },
    },
  },
}
"""


def error_of(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "team.json5")
    return info.value


def test_an_agent_listed_twice_in_agents_list_is_an_error_naming_both_lines() -> None:
    err = error_of(LISTED_TWICE)
    assert (err.line, err.key) == (6, "agents.list[2].id")
    assert "team.json5:5 (agents.list[1].id)" in str(err) and "team.json5:6" in str(err)
    assert "fix: merge the two into one entry for b" in str(err)


def test_an_agent_in_both_entries_and_list_is_an_error_naming_both_lines() -> None:
    err = error_of(IN_ENTRIES_AND_LIST)
    assert (err.line, err.key) == (8, "agents.list[0].id")
    assert "team.json5:5 (agents.entries.b)" in str(err) and "team.json5:8 (agents.list[0].id)" in str(err)


def test_an_agent_id_differing_only_in_case_counts_as_the_same_agent() -> None:
    err = error_of('{\n  agents: {\n    entries: { b: {} },\n    list: [ { id: "B" } ],\n  },\n}')
    assert err.line == 4 and "team.json5:3" in str(err)


def test_the_same_key_twice_in_agents_entries_names_both_lines() -> None:
    err = error_of(KEY_TWICE)
    assert (err.line, err.key) == (6, "agents.entries.b")
    assert "team.json5:5" in str(err) and "team.json5:6" in str(err)
    assert "fix:" in str(err)


def test_a_key_written_twice_on_one_line_still_gets_its_line() -> None:
    err = error_of('{\n  tools: { sessions: { visibility: "self", visibility: "all" } },\n}')
    assert (err.line, err.key) == (2, "tools.sessions.visibility")


@pytest.mark.parametrize("text", [LISTED_TWICE, IN_ENTRIES_AND_LIST, KEY_TWICE])
@pytest.mark.parametrize(
    "command",
    [["explain", "--agent", "a", "sessions_send", "agent:b:main"], ["policy", "show", "--agent", "a"]],
)
def test_explain_and_policy_show_refuse_a_duplicate_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, command: list[str]
) -> None:
    path = tmp_path / "team.json5"
    path.write_text(text, encoding="utf-8")
    assert main([*command, "--policy", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and ("twice" in err or "Duplicate key" in err) and "fix:" in err


# -- keys that were accepted and never read ---------------------------------------------------------


def test_limits_reply_back_turns_is_refused_with_what_limits_chains_instead() -> None:
    err = error_of("{\n  limits: { maxHops: 4, replyBackTurns: 2 },\n}")
    assert (err.line, err.key) == (2, "limits.replyBackTurns")
    assert "is not read" in err.problem and "limits.maxHops" in err.fix


def test_an_agents_gateway_key_is_refused_and_points_at_the_peers_agents_list() -> None:
    err = error_of('{\n  agents: {\n    entries: {\n      b: { gateway: "imac" },\n    },\n  },\n}')
    assert (err.line, err.key) == (4, "agents.entries.b.gateway")
    assert "gateway.peers.imac.agents" in err.fix and "(move b there)" in err.fix
    listed = error_of('{\n  agents: {\n    list: [\n      { id: "c", gateway: "studio" },\n    ],\n  },\n}')
    assert listed.line == 4 and "gateway.peers.studio.agents" in listed.fix and "(move c there)" in listed.fix


def test_retired_keys_are_not_offered_as_allowed_or_as_a_guess() -> None:
    err = error_of("{\n  limits: { replyBackTurn: 2 },\n}")
    assert "replyBackTurns" not in str(err)
    err = error_of('{\n  agents: { entries: { b: { gatewy: "x" } } },\n}')
    assert "gateway" not in err.allowed and "did you mean" not in err.problem


def test_the_readme_key_table_names_no_key_the_schema_refuses() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = [line for line in readme.splitlines() if line.startswith("| `")]
    assert table and not [line for line in table if "replyBackTurns" in line or "<id>.gateway" in line]
