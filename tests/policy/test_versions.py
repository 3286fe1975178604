"""Decisions under each supported OpenClaw release's own semantics: defaults, tree guard, denial strings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar.policy import (
    NEWEST,
    SEMANTICS,
    Requester,
    StaticView,
    decide,
    filter_sessions,
    parse_policy,
    render_decision,
    semantics_for,
)

AGENTS = ("main", "ops", "dev-1")
OLD = ("2026.3.13", "2026.4.12")


def policy(release: str | None = None, **doc: Any) -> Any:
    doc.setdefault("agents", {"entries": {a: {} for a in AGENTS}})
    base = parse_policy(json.dumps(doc), "p.json5")
    return base.for_release(semantics_for(release))


@pytest.mark.parametrize("release", OLD)
def test_older_releases_default_to_tree_and_no_agent_to_agent(release: str) -> None:
    agent = policy(release).for_agent("ops")
    assert agent.visibility.value == "tree" and agent.a2a_enabled.value is False
    assert agent.visibility.describe() == f'default (OpenClaw {release}): tools.sessions.visibility = "tree"'
    assert policy().for_agent("ops").visibility.value == "all"


@pytest.mark.parametrize("release", OLD)
def test_the_cross_agent_denial_of_older_releases_has_no_agent_to_agent_suffix(release: str) -> None:
    d = decide(policy(release), Requester.of("ops"), "sessions_send", "agent:dev-1:main", StaticView())
    assert not d.allowed and d.gate == "visibility"
    assert d.message == (
        "Session send visibility is restricted. Set tools.sessions.visibility=all to allow cross-agent access."
    )
    assert d.source == f'default (OpenClaw {release}): tools.sessions.visibility = "tree"'
    assert f"OpenClaw {release}" in render_decision(d, policy(release))


def test_the_newest_release_keeps_the_suffix() -> None:
    p = policy(tools={"sessions": {"visibility": "tree"}})
    d = decide(p, Requester.of("ops"), "sessions_history", "agent:dev-1:main", StaticView())
    assert d.message is not None and d.message.endswith(
        "to allow cross-agent access; use tools.agentToAgent to restrict permitted agent pairs."
    )


def test_a_main_session_sees_its_whole_agent_under_tree_only_from_2026_9() -> None:
    other = "agent:ops:cron:nightly"
    main = Requester.of("ops")
    tree = {"tools": {"sessions": {"visibility": "tree"}}}
    assert decide(policy(None, **tree), main, "sessions_history", other, StaticView()).allowed
    for release in OLD:
        d = decide(policy(release, **tree), main, "sessions_history", other, StaticView())
        assert not d.allowed and d.message == (
            "Session history visibility is restricted to the current session tree (tools.sessions.visibility=tree)."
        )


def test_direct_children_stay_visible_under_tree_on_every_release() -> None:
    child = "agent:ops:subagent:c1"
    view = StaticView(parents={child: "agent:ops:main", "agent:ops:subagent:g1": child})
    for release in (*OLD, None):
        p = policy(release, tools={"sessions": {"visibility": "tree"}})
        assert decide(p, Requester.of("ops"), "sessions_history", child, view).allowed
    # A grandchild is not a direct child: hidden on the older releases.
    for release in OLD:
        p = policy(release, tools={"sessions": {"visibility": "tree"}})
        assert not decide(p, Requester.of("ops"), "sessions_history", "agent:ops:subagent:g1", view).allowed


def test_an_owned_child_on_another_agent_is_visible_only_from_2026_9() -> None:
    child = "agent:dev-1:subagent:c1"
    view = StaticView(parents={child: "agent:ops:main"})
    tree = {"tools": {"sessions": {"visibility": "tree"}}}
    assert decide(policy(None, **tree), Requester.of("ops"), "sessions_history", child, view).allowed
    for release in OLD:
        d = decide(policy(release, **tree), Requester.of("ops"), "sessions_history", child, view)
        assert not d.allowed and d.gate == "visibility"


def test_an_old_release_with_explicit_keys_decides_like_the_newest() -> None:
    doc = {"tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True}}}
    for release in OLD:
        assert decide(
            policy(release, **doc), Requester.of("ops"), "sessions_send", "agent:dev-1:main", StaticView()
        ).allowed


def test_lists_filter_under_the_releases_guard() -> None:
    keys = ["agent:ops:main", "agent:ops:cron:x", "agent:dev-1:main"]
    newest = filter_sessions(policy(), Requester.of("ops"), keys, StaticView())
    assert newest.hidden == 0
    old = filter_sessions(policy("2026.3.13"), Requester.of("ops"), keys, StaticView())
    assert old.visible == ("agent:ops:main",) and old.hidden == 2
    assert "OpenClaw 2026.3.13" in old.source


def test_semantics_map_every_supported_release_and_refuse_the_rest() -> None:
    assert semantics_for(None) is NEWEST and NEWEST.version == "2026.9.6"
    assert semantics_for("2026.3.20") is SEMANTICS["2026.3.13"]
    assert semantics_for("OpenClaw 2026.4.12") is SEMANTICS["2026.4.12"]
    for bad in ("2026.3.8", "2026.10.1", "latest"):
        with pytest.raises(ValueError, match=r"supported range \(OpenClaw 2026\.3\.13 to 2026\.9\.6\)"):
            semantics_for(bad)
