"""OpenClaw's built-in session tools are closed for every agent the gateway runs, named in the policy or
not: the fragment denies them globally, and the audit flags any agent that still has them, with one fix."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sidecar.deploy import (
    BUILTIN_SESSION_TOOLS,
    audit_openclaw_config,
    group_findings,
    host_fragment,
    launch_for,
    openclaw_fragment,
)
from sidecar.deploy._builtins import openclaw_agents
from sidecar.policy import Policy, parse_policy

POLICY = parse_policy(json.dumps({"agents": {"entries": {"lead": {}, "dev-1": {}}}}), "/p/team.json5")


def fragment(version: str | None = None) -> dict[str, Any]:
    launches = {a: launch_for(a, "/p/team.json5", ("/bin/sidecar",), None) for a in POLICY.agent_ids}
    return openclaw_fragment(POLICY, launches, openclaw_version=version)


def deployed(roster: dict[str, Any] | None, policy: Policy = POLICY) -> dict[str, Any]:
    """An openclaw.json with the fragment merged: its servers and global deny, each agent's own deny."""
    made = fragment()
    config: dict[str, Any] = {"mcp": made["mcp"], "tools": copy.deepcopy(made["tools"])}
    if roster is not None:
        entries = {a: {"name": a} for a in roster}
        for agent, entry in made["agents"]["entries"].items():
            entries.setdefault(agent, {}).update(copy.deepcopy(entry))
        config["agents"] = {"entries": entries}
    return config


def builtin(config: dict[str, Any]) -> dict[str | None, tuple[str, str, tuple[str, ...]]]:
    return {
        f.agent: (f.key, f.fix, f.values)
        for f in audit_openclaw_config(config, POLICY)
        if f.code == "builtin-session-tools"
    }


@pytest.mark.parametrize("version", ["2026.9.6", "2026.4.12"])
def test_the_fragment_denies_the_built_in_session_tools_globally_for_every_agent(version: str) -> None:
    made = fragment(version)
    assert made["tools"] == {"deny": list(BUILTIN_SESSION_TOOLS)}
    assert list(made) == ["mcp", "tools", "agents"]


def test_the_host_fragment_denies_the_built_in_session_tools_globally_too(tmp_path: Any) -> None:
    made = host_fragment(POLICY, "http://127.0.0.1:9100", tmp_path / "attest.key")
    assert made["tools"] == {"deny": list(BUILTIN_SESSION_TOOLS)}


def test_an_agent_the_policy_does_not_name_is_closed_by_the_merged_fragment() -> None:
    assert builtin(deployed({"main": {}, "lead": {}, "dev-1": {}})) == {}


def test_an_agent_outside_the_policy_that_kept_the_built_ins_is_flagged_with_one_grouped_fix() -> None:
    config = deployed({"main": {}, "ops": {}, "lead": {}, "dev-1": {}})
    del config["tools"]
    found = builtin(config)
    assert set(found) == {"main", "ops"}  # lead and dev-1 keep the per-agent deny the fragment gave them
    assert {key for key, _, _ in found.values()} == {"tools.deny"}
    assert len({fix for _, fix, _ in found.values()}) == 1
    findings = audit_openclaw_config(config, POLICY)
    assert any(f.agent == "main" and "not in /p/team.json5" in f.message for f in findings)
    (group,) = [g for g in group_findings(findings, "sidecar manifest openclaw", "openclaw.json") if
                g.code == "builtin-session-tools"]  # fmt: skip
    assert set(group.agents) == {"main", "ops"}
    assert "tools.deny in openclaw.json" in group.fix and "likewise" not in group.fix
    # doing what the fix says closes them for all
    (values,) = {v for _, _, v in found.values()}
    config["tools"] = {"deny": list(values)}
    assert builtin(config) == {}


def test_the_implicit_main_of_a_config_with_no_agents_is_flagged() -> None:
    config = deployed(None)
    del config["tools"]
    found = audit_openclaw_config(config, POLICY)
    main = [f for f in found if f.agent == "main" and f.code == "builtin-session-tools"]
    assert main and "implicit default agent" in main[0].message
    # ...and it is checked for other agents' sidecars as well: it runs, so it could borrow them
    assert {f.values[0] for f in found if f.agent == "main" and f.code == "foreign-sidecar"} == {
        "sessions-lead__*",
        "sessions-dev-1__*",
    }


def test_a_per_agent_allow_does_not_reopen_a_global_deny_but_a_missing_global_deny_is_seen_per_agent() -> (
    None
):
    config = deployed({"main": {}, "lead": {}, "dev-1": {}})
    config["agents"]["entries"]["main"]["tools"] = {"allow": ["sessions_send", "sessions-*"]}
    assert builtin(config) == {}
    config["tools"] = {"deny": ["sessions_list"]}
    found = builtin(config)
    assert set(found) == {"main"}  # lead and dev-1 keep their own per-agent deny
    assert found["main"][2] == ("sessions_send",)


def test_the_agents_openclaw_runs_are_its_entries_else_its_list_else_main() -> None:
    both = {"agents": {"entries": {"a": {}}, "list": [{"id": "b"}]}}
    assert [a for a, _, _ in openclaw_agents(both)] == ["a"]
    listed = {"agents": {"list": [{"id": "B"}, {"id": "b"}, {"id": "c"}]}}
    assert [(a, k) for a, k, _ in openclaw_agents(listed)] == [
        ("b", "agents.list[0]"),
        ("c", "agents.list[2]"),
    ]
    assert [a for a, _, _ in openclaw_agents({})] == ["main"]
    assert openclaw_agents({"agents": {"entries": {}}}) == []
