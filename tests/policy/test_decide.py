"""Behaviour of decide() beyond the measured matrix: per-agent extensions, sandbox, spawn gates."""

from __future__ import annotations

import json
from typing import Any

from sidecar.policy import GATES, Requester, StaticView, decide, filter_sessions, parse_policy


def policy(**doc: Any) -> Any:
    doc.setdefault("agents", {"entries": {a: {} for a in ("main", "ops", "dev-1", "dev-2")}})
    return parse_policy(json.dumps(doc), "p.json5")


def entries(**agents: Any) -> dict[str, Any]:
    base: dict[str, Any] = {a: {} for a in ("main", "ops", "dev-1", "dev-2")}
    base.update(agents)
    return {"entries": base}


def test_send_visibility_lets_an_agent_message_without_reading() -> None:
    p = policy(agents=entries(ops={"tools": {"sessions": {"visibility": "self", "sendVisibility": "all"}}}))
    ops = Requester.of("ops")
    assert decide(p, ops, "sessions_send", "agent:dev-1:main", StaticView()).allowed
    history = decide(p, ops, "sessions_history", "agent:dev-1:main", StaticView())
    assert not history.allowed and history.gate == "visibility"
    assert "agents.entries.ops.tools.sessions.visibility" in str(history.source)


def test_a_per_agent_allow_list_scopes_only_that_agents_targets() -> None:
    p = policy(
        tools={"agentToAgent": {"allow": ["main"]}},
        agents=entries(ops={"tools": {"agentToAgent": {"allow": ["dev-*"]}}}),
    )
    assert decide(p, Requester.of("ops"), "sessions_send", "agent:dev-2:main", StaticView()).allowed
    denied = decide(p, Requester.of("ops"), "sessions_send", "agent:main:main", StaticView())
    assert denied.gate == "allow-list" and "agents.entries.ops.tools.agentToAgent.allow" in str(denied.fix)
    # the global list still needs both sides: dev-1 is not in ["main"]
    assert (
        decide(p, Requester.of("dev-1"), "sessions_send", "agent:main:main", StaticView()).gate
        == "allow-list"
    )


def test_receives_from_guards_sends_and_spawns_but_not_reads() -> None:
    p = policy(
        agents=entries(
            ops={"tools": {"agentToAgent": {"receivesFrom": ["main"]}}},
            **{"dev-1": {"subagents": {"allowAgents": ["ops"]}}},
        )
    )
    dev1 = Requester.of("dev-1")
    assert decide(p, dev1, "sessions_send", "agent:ops:main", StaticView()).gate == "receives-from"
    assert decide(p, dev1, "sessions_spawn", "ops", StaticView()).gate == "receives-from"
    assert decide(p, dev1, "sessions_history", "agent:ops:main", StaticView()).allowed
    assert decide(p, Requester.of("main"), "sessions_send", "agent:ops:main", StaticView()).allowed


def test_under_tree_a_requester_reaches_its_spawned_child_on_another_agent_but_not_under_agent() -> None:
    view = StaticView(parents={"agent:dev-1:subagent:c1": "agent:main:main"})
    main = Requester.of("main")
    tree = policy(tools={"sessions": {"visibility": "tree"}, "agentToAgent": {"enabled": False}})
    assert decide(tree, main, "sessions_history", "agent:dev-1:subagent:c1", view).allowed
    agent = policy(tools={"sessions": {"visibility": "agent"}})
    assert decide(agent, main, "sessions_history", "agent:dev-1:subagent:c1", view).gate == "visibility"


def test_a_sandboxed_session_is_clamped_to_its_own_children() -> None:
    p = policy(agents={"defaults": {"sandbox": {"mode": "all"}}, **entries()})
    view = StaticView(parents={"agent:main:subagent:c1": "agent:main:main"})
    main = Requester.of("main")
    denied = decide(p, main, "sessions_history", "agent:main:side", view)
    assert denied.gate == "sandbox"
    assert denied.message == "Session not visible from this sandboxed agent session: agent:main:side"
    assert decide(p, main, "sessions_history", "agent:main:subagent:c1", view).allowed
    scope = filter_sessions(p, main, ["agent:main:main", "agent:main:side", "agent:main:subagent:c1"], view)
    assert scope.visible == ("agent:main:main", "agent:main:subagent:c1") and scope.hidden == 1


def test_non_main_sandboxing_leaves_the_main_session_alone() -> None:
    p = policy(agents={"defaults": {"sandbox": {"mode": "non-main"}}, **entries()})
    assert decide(p, Requester.of("main"), "sessions_history", "agent:main:side", StaticView()).allowed
    side = Requester.of("main", "agent:main:side")
    assert decide(p, side, "sessions_history", "agent:main:other", StaticView()).gate == "sandbox"


def test_spawn_gates_follow_openclaws_order_and_strings() -> None:
    p = policy(
        agents=entries(
            main={"subagents": {"allowAgents": ["dev-1"], "maxChildrenPerAgent": 2, "maxSpawnDepth": 1}}
        )
    )
    main = Requester.of("main")
    assert decide(p, main, "sessions_spawn", "dev-1", StaticView()).allowed
    assert decide(p, main, "sessions_spawn", None, StaticView()).allowed  # same agent needs no allow list
    refused = decide(p, main, "sessions_spawn", "ops", StaticView())
    assert refused.message == "agentId is not allowed for sessions_spawn (allowed: dev-1)"
    full = decide(p, main, "sessions_spawn", "dev-1", StaticView(running={"agent:main:main": 2}))
    assert full.message == "sessions_spawn has reached max active children for this session (2/2)"
    deep = Requester.of("main", "agent:main:subagent:c1")
    nested = decide(
        p, deep, "sessions_spawn", "dev-1", StaticView(parents={"agent:main:subagent:c1": "agent:main:main"})
    )
    # a depth-1 subagent under maxSpawnDepth 1 is a leaf: OpenClaw does not even offer it sessions_spawn
    assert nested.gate == "session-class" and nested.message is not None
    assert "SUBAGENT_TOOL_DENY_LEAF" in nested.message
    bad = decide(p, main, "sessions_spawn", "Not An Id", StaticView())
    assert (
        bad.gate == "unknown-target"
        and bad.message is not None
        and bad.message.startswith('Invalid agentId "Not An Id"')
    )
    assert decide(p, main, "sessions_spawn", "nobody", StaticView()).gate == "unknown-target"


def test_an_agent_the_gateway_reports_is_known_even_if_the_policy_omits_it() -> None:
    p = policy()
    main = Requester.of("main")
    assert decide(p, main, "sessions_history", "agent:ext:main", StaticView()).gate == "unknown-target"
    assert decide(
        p, main, "sessions_history", "agent:ext:main", StaticView(agents=frozenset({"ext"}))
    ).allowed


def test_peer_agents_are_known_targets() -> None:
    p = policy(gateway={"peers": {"imac": {"sidecar": "https://imac.local:8766/peer", "agents": ["pepper"]}}})
    assert decide(p, Requester.of("main"), "sessions_send", "agent:pepper:main", StaticView()).allowed


def test_explain_reports_every_gate_once_in_order() -> None:
    p = policy(tools={"agentToAgent": {"enabled": False}})
    decision = decide(p, Requester.of("main"), "sessions_send", "agent:ops:main", StaticView(), explain=True)
    assert [c.gate for c in decision.checks] == list(GATES)
    outcomes = {c.gate: c.outcome for c in decision.checks}
    assert outcomes["agent-to-agent"] == "fail" and outcomes["allow-list"] == "not reached"
    assert decision.as_dict()["gate"] == "agent-to-agent"


def test_a_visibility_denial_also_names_the_later_gates_that_would_refuse() -> None:
    p = policy(tools={"sessions": {"visibility": "self"}, "agentToAgent": {"enabled": False}})
    fix = decide(p, Requester.of("main"), "sessions_send", "agent:ops:main", StaticView()).fix
    assert fix is not None and "Also needed: Set agents.entries.main.tools.agentToAgent.enabled: true" in fix


def test_incognito_sessions_are_hidden_whatever_the_visibility() -> None:
    p = policy()
    key = "agent:main:subagent:incognito-7f"
    view = StaticView(parents={key: "agent:main:main"})
    denied = decide(p, Requester.of("main"), "sessions_history", key, view)
    assert denied.gate == "visibility" and denied.message == f"Session not visible from session tools: {key}"
    assert filter_sessions(p, Requester.of("main"), [key, "agent:main:main"], view).hidden == 1
