"""ListGuard: the list guard row by row, and when verdicts kept under one guard still hold for another."""

from __future__ import annotations

import json
from typing import Any

from sidecar.policy import ListGuard, Requester, StaticView, filter_sessions, parse_policy

ROWS = ["agent:ops:main", "agent:ops:side", "agent:dev-1:main", "agent:ops:subagent:c1", "unknown", "x y"]


def policy(**doc: Any) -> Any:
    doc.setdefault("agents", {"entries": {a: {} for a in ("main", "ops", "dev-1")}})
    return parse_policy(json.dumps(doc), "p.json5")


def test_row_by_row_it_answers_as_filter_sessions_does() -> None:
    view = StaticView(parents={"agent:ops:subagent:c1": "agent:ops:main"})
    for visibility in ("self", "tree", "agent", "all"):
        p = policy(tools={"sessions": {"visibility": visibility}})
        ops = Requester.of("ops")
        guard = ListGuard(p, ops, view)
        scope = filter_sessions(p, ops, ROWS, view)
        shown = tuple(row for row in ROWS if guard.visible("home", row))
        assert shown == scope.visible, visibility
        hidden = len(ROWS) - len(shown)
        assert (guard.mode, guard.source, guard.warning(hidden)) == (scope.mode, scope.source, scope.warning)


def test_a_new_policy_object_another_requester_or_another_class_is_another_scope() -> None:
    p = policy()
    ops = Requester.of("ops")
    guard = ListGuard(p, ops, StaticView())
    assert guard.same_scope(ListGuard(p, Requester.of("ops"), StaticView()))
    assert not guard.same_scope(ListGuard(policy(), ops, StaticView()))  # reloaded: equal text, new object
    assert not guard.same_scope(ListGuard(p, Requester.of("dev-1"), StaticView()))
    sub = Requester.of("ops", "agent:ops:subagent:c1")
    shallow = ListGuard(p, sub, StaticView(depths={"agent:ops:subagent:c1": 1}))
    deep = ListGuard(p, sub, StaticView(depths={"agent:ops:subagent:c1": 5}))
    assert shallow.cls != deep.cls and not shallow.same_scope(deep)
    assert not guard.same_scope(object())


def test_a_class_that_may_not_list_hides_every_row_without_a_warning() -> None:
    p = policy()
    leaf = Requester.of("ops", "agent:ops:subagent:c1")
    guard = ListGuard(p, leaf, StaticView(depths={"agent:ops:subagent:c1": 5}))
    assert guard.refused and not any(guard.visible("home", row) for row in ROWS)
    assert guard.warning(len(ROWS)) is None


def test_rows_of_one_class_differ_by_owner_and_each_is_decided_as_decide_does() -> None:
    """One verdict pair per class of row: an owned and an unowned row of the same class (same agent,
    kind, gateway) may differ, and each row gets its own, as `decide` gives it."""
    from sidecar.policy import decide

    rows = ["agent:dev-1:subagent:mine", "agent:dev-1:subagent:theirs", "agent:dev-1:main", "agent:ops:main"]
    view = StaticView(
        parents={"agent:dev-1:subagent:mine": "agent:ops:main", "agent:dev-1:subagent:theirs": "x"}
    )
    for visibility in ("self", "tree", "agent", "all"):
        for sandbox in ({}, {"sandbox": {"mode": "all", "sessionToolsVisibility": "spawned"}}):
            p = (
                policy(
                    tools={"sessions": {"visibility": visibility}},
                    agents={"defaults": sandbox, "entries": {a: {} for a in ("main", "ops", "dev-1")}},
                )
                if sandbox
                else policy(
                    tools={
                        "sessions": {"visibility": visibility},
                        "agentToAgent": {"enabled": True, "allow": ["*"]},
                    }
                )
            )
            ops = Requester.of("ops")
            guard = ListGuard(p, ops, view)
            for row in rows:
                expected = decide(p, ops, "sessions_history", row, view).allowed
                assert guard.visible("home", row) == expected, (visibility, sandbox, row)
    tree = ListGuard(policy(tools={"sessions": {"visibility": "tree"}}), Requester.of("ops"), view)
    assert tree.visible("home", rows[0]) and not tree.visible("home", rows[1])
