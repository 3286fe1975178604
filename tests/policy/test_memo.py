"""What the engine keeps per Policy (a session's class, a visibility verdict with its text) never changes
an answer: a kept answer equals the one worked out afresh, and what it depends on invalidates it."""

from __future__ import annotations

import json
from typing import Any

from sidecar.policy import Requester, StaticView, canonical_key, decide, parse_policy, session_class


def policy(**doc: Any) -> Any:
    doc.setdefault("agents", {"entries": {a: {} for a in ("main", "ops", "dev-1")}})
    return parse_policy(json.dumps(doc), "p.json5")


def test_a_kept_denial_is_the_denial_worked_out_with_the_trace_on() -> None:
    p = policy(tools={"sessions": {"visibility": "self"}})
    ops = Requester.of("ops")
    first = decide(p, ops, "sessions_history", "agent:ops:side", StaticView())
    again = decide(p, ops, "sessions_history", "agent:ops:other", StaticView())
    traced = decide(p, ops, "sessions_history", "agent:ops:other", StaticView(), explain=True)
    assert first.gate == again.gate == traced.gate == "visibility"
    assert (again.message, again.source, again.fix) == (traced.message, traced.source, traced.fix)
    assert again.target == "agent:ops:other"


def test_a_verdict_is_kept_per_requester_and_relation_not_shared_across_them() -> None:
    p = policy(tools={"sessions": {"visibility": "tree"}})
    child = "agent:ops:subagent:c1"
    owned = StaticView(parents={child: "agent:ops:side"})
    side, other = Requester.of("ops", "agent:ops:side"), Requester.of("ops", "agent:ops:other")
    assert decide(p, side, "sessions_history", child, owned).allowed
    assert decide(p, other, "sessions_history", child, owned).gate == "visibility"
    # The same target once the mirror no longer says who spawned it: no kept verdict lets it through.
    assert decide(p, side, "sessions_history", child, StaticView()).gate == "visibility"


def test_incognito_targets_are_named_in_their_own_denial() -> None:
    p = policy()
    ops = Requester.of("ops")
    for name in ("incognito-a", "incognito-b"):
        key = f"agent:ops:dashboard:{name}"
        denied = decide(p, ops, "sessions_history", key, StaticView())
        assert denied.gate == "visibility" and key in str(denied.message)


def test_a_session_class_follows_the_depth_the_view_reports() -> None:
    p = policy(agents={"defaults": {"subagents": {"maxSpawnDepth": 2}}, "entries": {"ops": {}}})
    sub = Requester.of("ops", "agent:ops:subagent:c1")
    assert session_class(p, sub, StaticView(depths={"agent:ops:subagent:c1": 1})).name == "orchestrator"
    assert session_class(p, sub, StaticView(depths={"agent:ops:subagent:c1": 2})).name == "leaf"


def test_adopting_the_gateways_main_key_drops_what_was_kept_under_the_old_one() -> None:
    p = policy()
    ops = Requester.of("ops", "agent:ops:home")
    assert session_class(p, ops, StaticView()).name == "named"
    adopted = p.with_gateway_defaults(p.default_agent, "home")
    assert session_class(adopted, ops, StaticView()).name == "main"
    assert session_class(p, ops, StaticView()).name == "named"  # the built policy is unchanged


def test_canonical_keys_are_kept_per_requester_and_defaults() -> None:
    mine = canonical_key("current", requester_key="agent:ops:main", default_agent="main")
    theirs = canonical_key("current", requester_key="agent:dev-1:main", default_agent="main")
    assert (mine.key, theirs.key) == ("agent:ops:main", "agent:dev-1:main")
    assert canonical_key("main", requester_key="agent:ops:main", default_agent="ops").key == "agent:ops:main"
    assert canonical_key("main", requester_key="agent:ops:main", default_agent="main").key == "agent:main:main"
