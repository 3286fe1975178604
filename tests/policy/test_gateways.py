"""Gateways are part of identity: the same agent id on another gateway is another agent.

The attacks from the peer review, decided by the pure engine (the MCP-level versions live in
tests/tools/test_peer_identity.py): none of them may pass.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar.policy import (
    HOME,
    PolicyError,
    Requester,
    StaticView,
    decide,
    decide_inbound,
    filter_sessions,
    parse_policy,
    place,
    principal_matches,
)

PEERS = {
    "imac": {"sidecar": "https://imac.local:8766/peer", "agents": ["pepper", "friday"]},
    "studio": {"sidecar": "https://studio.local:8766/peer", "agents": ["ultron"]},
}
# Every gateway has an agent `main`; the peers reported theirs (learned from agents.list).
VIEW = StaticView(
    agents=frozenset({"main", "lead", "dev-1", "dev-2"}),
    peer_agents={"imac": frozenset({"main", "pepper", "friday"}), "studio": frozenset({"main", "ultron"})},
)


def policy(entries: dict[str, Any], **extra: Any) -> Any:
    doc = {"gateway": {"name": "macbook", "peers": PEERS}, "agents": {"entries": entries}, **extra}
    return parse_policy(json.dumps(doc), "macbook.json5")


def test_reading_current_on_a_peer_is_not_reading_ones_own_session() -> None:
    p = policy({"main": {"tools": {"sessions": {"visibility": "agent"}, "agentToAgent": {"enabled": False}}}})
    main = Requester.of("main")
    assert decide(p, main, "sessions_history", "current", VIEW).allowed
    peer = decide(p, main, "sessions_history", "current", VIEW, gateway="imac")
    assert not peer.allowed and peer.gate == "visibility" and peer.target_gateway == "imac"


def test_a_same_named_agent_on_a_peer_is_another_agent_for_sends() -> None:
    p = policy({"main": {"tools": {"sessions": {"visibility": "agent"}, "agentToAgent": {"enabled": False}}}})
    main = Requester.of("main")
    assert decide(p, main, "sessions_send", "agent:main:work", VIEW).allowed
    peer = decide(p, main, "sessions_send", "agent:main:work", VIEW, gateway="imac")
    assert not peer.allowed and peer.gate == "visibility"


def test_spawning_on_ones_own_id_on_a_peer_needs_allow_agents() -> None:
    p = policy({"main": {"tools": {"sessions": {"visibility": "self"}}}})
    main = Requester.of("main")
    assert decide(p, main, "sessions_spawn", None, VIEW).allowed
    peer = decide(p, main, "sessions_spawn", None, VIEW, gateway="imac")
    assert not peer.allowed and peer.gate == "spawn-allow"
    assert "main@imac" in str(peer.fix)
    granted = policy({"main": {"subagents": {"allowAgents": ["main@imac"]}}})
    assert decide(granted, main, "sessions_spawn", None, VIEW, gateway="imac").allowed


def test_naming_a_gateway_that_does_not_hold_the_agent_is_an_unknown_target() -> None:
    p = policy({"main": {}})
    main = Requester.of("main")
    wrong = decide(p, main, "sessions_send", "agent:pepper:main", VIEW, gateway="studio")
    assert wrong.gate == "unknown-target" and "not on gateway 'studio'" in str(wrong.message)
    spawn = decide(p, main, "sessions_spawn", "ultron", VIEW, gateway="imac")
    assert spawn.gate == "unknown-target"
    unknown = decide(p, main, "sessions_send", "agent:main:main", VIEW, gateway="nowhere")
    assert unknown.gate == "unknown-target" and "Unknown gateway" in str(unknown.message)


def test_a_target_is_placed_on_the_gateway_that_holds_it() -> None:
    p = policy({"main": {}})
    assert place(p, VIEW, "pepper", None).gateway == "imac"
    assert place(p, VIEW, "main", None).gateway == HOME  # unqualified stays home
    assert place(p, VIEW, "main", "studio").gateway == "studio"
    assert place(p, VIEW, "main", "macbook").gateway == HOME  # this host's own gateway.name
    decision = decide(p, Requester.of("main"), "sessions_send", "agent:ultron:main", VIEW)
    assert decision.allowed and decision.target_gateway == "studio"


def test_a_peers_row_cannot_make_a_home_session_anyones_child() -> None:
    p = policy({"lead": {"tools": {"sessions": {"visibility": "tree"}}}})
    lead = Requester.of("lead")
    child = "agent:dev-2:subagent:x"
    # The peer imac reported (imac, child) spawned by agent:lead:main: that names imac's own lead, not ours.
    forged = StaticView(
        agents=VIEW.agents,
        peer_agents=VIEW.peer_agents,
        peer_parents={("imac", child): ("imac", "agent:lead:main")},
    )
    assert not decide(p, lead, "sessions_history", child, forged).allowed
    # The child this host recorded itself (its own spawn on a peer) is owned.
    ours = StaticView(
        agents=VIEW.agents,
        peer_agents={"imac": frozenset({"dev-2"})},
        peer_parents={("imac", child): (HOME, "agent:lead:main")},
    )
    granted = policy({"lead": {"tools": {"sessions": {"visibility": "tree"}}}})
    assert decide(granted, lead, "sessions_history", child, ours, gateway="imac").allowed


def test_bare_patterns_name_home_agents_and_pinned_peer_agents_only() -> None:
    p = policy({"main": {}})
    assert principal_matches(p, ("main",), "main", HOME)
    assert not principal_matches(p, ("main",), "main", "imac")  # learned, not pinned
    assert not principal_matches(p, ("*",), "main", "imac")
    assert principal_matches(p, ("pepper",), "pepper", "imac")  # pinned under gateway.peers.imac.agents
    assert principal_matches(p, ("main@imac",), "main", "imac")
    assert principal_matches(p, ("*@studio",), "main", "studio")
    assert not principal_matches(p, ("*@studio",), "main", "imac")
    assert principal_matches(p, ("main@macbook",), "main", HOME)


def test_scoped_visibility_and_allow_lists_can_name_remote_agents() -> None:
    p = policy(
        {
            "main": {
                "tools": {
                    "sessions": {"visibility": "scoped", "visibleAgents": ["main@studio"]},
                    "agentToAgent": {"enabled": True, "allow": ["main@studio"]},
                }
            }
        }
    )
    main = Requester.of("main")
    assert decide(p, main, "sessions_history", "agent:main:main", VIEW, gateway="studio").allowed
    refused = decide(p, main, "sessions_history", "agent:main:main", VIEW, gateway="imac")
    assert refused.gate == "visibility" and "main@imac" in str(refused.fix)


def test_receives_from_of_a_sidecar_peer_is_left_to_that_host() -> None:
    p = policy({"main": {}})
    decision = decide(p, Requester.of("main"), "sessions_send", "agent:pepper:main", VIEW, explain=True)
    assert decision.allowed
    check = next(c for c in decision.checks if c.gate == "receives-from")
    assert check.outcome == "n/a" and "imac" in check.detail


def test_a_direct_peer_is_an_explicit_opt_in() -> None:
    with pytest.raises(PolicyError, match="direct: true"):
        parse_policy(json.dumps({"gateway": {"peers": {"imac": {"url": "wss://imac:18789"}}}}), "p.json5")
    direct = {"imac": {"url": "wss://imac:18789", "direct": True, "agents": ["pepper"]}}
    p = parse_policy(json.dumps({"gateway": {"peers": direct}}), "p.json5")
    assert p.peers[0].mode == "direct" and p.peers[0].sidecar is None


def test_list_rows_are_judged_on_their_own_gateway() -> None:
    p = policy({"main": {"tools": {"sessions": {"visibility": "agent"}}}})
    rows = ["agent:main:main", ("imac", "agent:main:main"), "agent:main:work"]
    scope = filter_sessions(p, Requester.of("main"), rows, VIEW)
    assert scope.visible == ("agent:main:main", "agent:main:work") and scope.hidden == 1


# -- the receiving host -----------------------------------------------------------------------------

IMAC = parse_policy(
    json.dumps(
        {
            "gateway": {"name": "imac", "peers": {"macbook": {"sidecar": "https://macbook.local:8766/peer"}}},
            "agents": {
                "entries": {
                    "pepper": {"tools": {"agentToAgent": {"receivesFrom": ["jarvis@macbook"]}}},
                    "friday": {"tools": {"agentToAgent": {"receivesFrom": ["jarvis"]}}},
                    "main": {},
                }
            },
        }
    ),
    "imac.json5",
)
JARVIS = Requester.of("jarvis", gateway="macbook")


def test_the_receiving_host_accepts_only_remote_agents_its_receives_from_names() -> None:
    view = StaticView()
    assert decide_inbound(IMAC, JARVIS, "sessions_send", "agent:pepper:main", view).allowed
    for target in ("agent:friday:main", "agent:main:main"):
        refused = decide_inbound(IMAC, JARVIS, "sessions_send", target, view)
        assert not refused.allowed and refused.gate == "receives-from" and refused.side == "inbound"
        assert "imac.json5" in str(refused.fix) and "jarvis@macbook" in str(refused.fix)
    assert decide_inbound(IMAC, JARVIS, "sessions_spawn", "friday", view).gate == "receives-from"
    assert decide_inbound(IMAC, JARVIS, "sessions_history", "agent:pepper:main", view).allowed


def test_the_receiving_host_refuses_aliases_unknown_agents_and_unknown_peers() -> None:
    view = StaticView()
    assert decide_inbound(IMAC, JARVIS, "sessions_send", "current", view).gate == "unknown-target"
    assert decide_inbound(IMAC, JARVIS, "sessions_send", "agent:ultron:main", view).gate == "unknown-target"
    stranger = Requester.of("jarvis", gateway="studio")
    assert decide_inbound(IMAC, stranger, "sessions_send", "agent:pepper:main", view).gate == "unknown-target"
    # A remote requester never passes as a local one, whatever its agent id.
    local_name = Requester.of("pepper", gateway="macbook")
    assert not decide_inbound(IMAC, local_name, "sessions_send", "agent:pepper:main", view).allowed
