"""Every call is decided as the session that made it, with OpenClaw 2026.9.6's session classes."""

from __future__ import annotations

import json

import pytest

from sidecar.policy import (
    DENY_LEAF,
    TOOLS,
    Requester,
    StaticView,
    canonical_key,
    classify,
    decide,
    filter_sessions,
    parse_policy,
)


def key_of(key: str):  # type: ignore[no-untyped-def]
    return canonical_key(key, requester_key=key, default_agent="lead")


def policy(depth: int | None = None, sandbox: str | None = None):  # type: ignore[no-untyped-def]
    lead: dict[str, object] = {
        "tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True, "allow": ["*"]}},
        "subagents": {"allowAgents": ["*"]},
    }
    if depth is not None:
        lead["subagents"] = {"allowAgents": ["*"], "maxSpawnDepth": depth}
    if sandbox is not None:
        lead["sandbox"] = {"mode": sandbox}
    doc = {"agents": {"entries": {"lead": lead, "dev-1": {}}}}
    return parse_policy(json.dumps(doc), "team.json5")


SUB = "agent:lead:subagent:0f3c"


def test_each_session_key_gets_openclaws_class() -> None:
    p = policy(depth=2)
    names = {
        key: classify(p, key_of(key), 0).name
        for key in (
            "agent:lead:main",
            "agent:lead:side",
            SUB,
            "agent:lead:subagent:a:subagent:b",
            "agent:lead:cron:nightly",
            "agent:lead:cron:nightly:run:7",
            "agent:lead:hook:gmail",
        )
    }
    assert names == {
        "agent:lead:main": "main",
        "agent:lead:side": "named",
        SUB: "orchestrator",
        "agent:lead:subagent:a:subagent:b": "leaf",
        "agent:lead:cron:nightly": "cron",
        "agent:lead:cron:nightly:run:7": "isolated",
        "agent:lead:hook:gmail": "hook",
    }
    # the stored spawnDepth wins over the key's shape (OpenClaw's child keys are flat)
    assert classify(p, key_of(SUB), 2).name == "leaf"


def test_a_subagent_is_refused_sessions_send_with_openclaws_fixed_deny_named() -> None:
    p = policy()
    main = decide(p, Requester.of("lead"), "sessions_send", "agent:dev-1:main", StaticView())
    assert main.allowed
    refused = decide(
        p, Requester.of("lead", SUB), "sessions_send", "agent:dev-1:main", StaticView(), explain=True
    )
    assert not refused.allowed and refused.gate == "session-class"
    assert refused.source is not None and "SUBAGENT_TOOL_DENY_ALWAYS" in refused.source
    assert "dist/agent-tools.policy-" in refused.source
    assert refused.fix is not None and "never" in refused.message  # type: ignore[operator]
    assert [c.outcome for c in refused.checks if c.gate == "session-class"] == ["fail"]


def test_an_orchestrator_subagent_may_read_but_a_leaf_may_not_list_read_or_spawn() -> None:
    p = policy(depth=2)
    orchestrator = Requester.of("lead", SUB)
    view = StaticView(depths={SUB: 1})
    assert decide(p, orchestrator, "sessions_history", "agent:lead:main", view).allowed
    leaf_view = StaticView(depths={SUB: 2})
    for tool in DENY_LEAF:
        target = (
            None if tool == "sessions_list" else ("lead" if tool == "sessions_spawn" else "agent:lead:main")
        )
        d = decide(p, orchestrator, tool, target, leaf_view)  # type: ignore[arg-type]
        assert d.gate == "session-class" and "SUBAGENT_TOOL_DENY_LEAF" in str(d.source), tool
    scope = filter_sessions(p, orchestrator, ["agent:lead:main", SUB], leaf_view)
    assert scope.visible == () and scope.hidden == 2


def test_no_policy_widens_the_fixed_subagent_deny() -> None:
    # the widest policy there is: visibility all, agent-to-agent to everyone
    p = policy(depth=5)
    for target in ("agent:dev-1:main", "agent:lead:main", SUB):
        assert (
            decide(p, Requester.of("lead", SUB), "sessions_send", target, StaticView()).gate
            == "session-class"
        )


def test_tree_and_self_are_relative_to_the_calling_session() -> None:
    doc = {"agents": {"entries": {"lead": {"tools": {"sessions": {"visibility": "tree"}}}}}}
    p = parse_policy(json.dumps(doc), "team.json5")
    child, sibling = "agent:lead:subagent:c1", "agent:lead:subagent:c2"
    view = StaticView(parents={child: "agent:lead:main", sibling: "agent:lead:main"})
    # main sees its whole agent (2026.9.6), a child sees only itself
    assert decide(p, Requester.of("lead"), "sessions_history", sibling, view).allowed
    kid = decide(p, Requester.of("lead", child), "sessions_history", sibling, view)
    assert kid.gate == "visibility" and "current session tree" in str(kid.message)
    assert decide(p, Requester.of("lead", child), "sessions_history", child, view).allowed
    side = decide(p, Requester.of("lead", "agent:lead:side"), "sessions_history", "agent:lead:main", view)
    assert side.gate == "visibility"


def test_a_sandboxed_session_is_clamped_to_its_own_children() -> None:
    p = policy(sandbox="non-main")
    side = Requester.of("lead", "agent:lead:side")
    view = StaticView(parents={"agent:lead:subagent:mine": "agent:lead:side"})
    assert decide(p, side, "sessions_history", "agent:lead:subagent:mine", view).allowed
    clamped = decide(p, side, "sessions_history", "agent:lead:main", view)
    assert clamped.gate == "sandbox" and "sandboxed" in str(clamped.message)
    # the main session is not sandboxed under mode non-main
    assert decide(p, Requester.of("lead"), "sessions_history", "agent:lead:side", view).allowed


@pytest.mark.parametrize("tool", TOOLS)
def test_an_unverified_caller_is_decided_as_the_least_privileged_class(tool: str) -> None:
    p = policy(depth=5)
    caller = Requester.unverified("lead", "no attestation on the call")
    target = {"sessions_list": None, "sessions_spawn": "lead"}.get(tool, "agent:lead:main")
    d = decide(p, caller, tool, target, StaticView())  # type: ignore[arg-type]
    assert not d.allowed and d.gate == "session-class"
    assert "could not verify which session" in str(d.message) and "no attestation on the call" in str(
        d.message
    )
    assert d.fix is not None and "sidecar manifest openclaw" in d.fix and "sidecar doctor" in d.fix
    assert d.as_dict()["requester"] == {
        "agentId": "lead",
        "sessionKey": "agent:lead:unattested",
        "gateway": "home",
        "attested": False,
    }


def test_a_configured_subagent_deny_narrows_further(tmp_path) -> None:  # type: ignore[no-untyped-def]
    openclaw = json.dumps({"tools": {"subagents": {"tools": {"deny": ["sessions_history"]}}}})
    doc = json.dumps({"agents": {"entries": {"lead": {}}}})
    p = parse_policy(doc, "team.json5", openclaw, "openclaw.json")
    d = decide(p, Requester.of("lead", SUB), "sessions_history", SUB, StaticView())
    assert d.gate == "session-class" and "tools.subagents.tools.deny" in str(d.source)
    assert decide(p, Requester.of("lead"), "sessions_history", SUB, StaticView()).allowed
