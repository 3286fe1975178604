"""The operator's gates: pause, budgets refusing at exactly their limit, and observe mode."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar.policy import (
    GATES,
    Pause,
    PolicyError,
    Requester,
    StaticView,
    Usage,
    decide,
    parse_policy,
    policy_report,
    render_decision,
    render_policy,
)

AGENTS = ("lead", "dev-1", "hr")
SINCE = 1_764_600_000.0  # 2025-12-01T14:40:00Z


def policy(**doc: Any) -> Any:
    entries: dict[str, Any] = {a: {} for a in AGENTS}
    entries.update(doc.pop("entries", {}))
    doc.setdefault("tools", {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True}})
    return parse_policy(json.dumps({**doc, "agents": {"entries": entries}}), "team.json5")


LEAD = Requester.of("lead")
VIEW = StaticView(agents=frozenset(AGENTS))


def test_the_operator_gates_are_listed_with_the_policy_gates_pause_first_and_budgets_last() -> None:
    assert GATES[0] == "pause"
    assert GATES[-3:] == ("sends-per-day", "spawns-per-hour", "max-active-children")


def test_a_paused_agent_is_refused_on_every_tool_with_the_operators_reason_and_how_to_resume() -> None:
    p = policy()
    usage = Usage(paused=Pause(since=SINCE, reason="runaway loop, see ticket 42", by="ops"))
    for tool, target in (
        ("sessions_list", None),
        ("sessions_history", "agent:dev-1:main"),
        ("sessions_send", "agent:dev-1:main"),
        ("sessions_spawn", "lead"),
    ):
        decision = decide(p, LEAD, tool, target, VIEW, usage=usage)  # type: ignore[arg-type]
        assert not decision.allowed and decision.gate == "pause"
        assert "runaway loop, see ticket 42" in str(decision.message)
        assert "2025-12-01T14:40:00Z" in str(decision.message) and "by ops" in str(decision.message)
        assert "sidecar resume --agent lead" in str(decision.fix)


def test_observe_mode_never_lets_a_paused_agent_through() -> None:
    p = policy(mode="observe")
    decision = decide(p, LEAD, "sessions_send", "agent:dev-1:main", VIEW, usage=Usage(paused=Pause(SINCE)))
    assert not decision.allowed and decision.gate == "pause" and not decision.would_deny


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_the_daily_send_budget_refuses_at_exactly_its_limit(limit: int) -> None:
    p = policy(entries={"lead": {"limits": {"sendsPerDay": limit}}})
    under = decide(p, LEAD, "sessions_send", "agent:dev-1:main", VIEW, usage=Usage(sends_today=limit - 1))
    assert under.allowed
    at = Usage(sends_today=limit, sends_reset_at=SINCE + 3600)
    refused = decide(p, LEAD, "sessions_send", "agent:dev-1:main", VIEW, usage=at)
    assert not refused.allowed and refused.gate == "sends-per-day"
    assert f"made {limit} sends in the last 24 hours (limit {limit})" in str(refused.message)
    assert "2025-12-01T15:40:00Z" in str(refused.message)
    assert "agents.entries.lead.limits.sendsPerDay" in str(refused.source)
    assert "team.json5" in str(refused.fix)


def test_a_sidecar_wide_budget_applies_to_every_agent_and_an_agent_entry_overrides_it() -> None:
    p = policy(limits={"sendsPerDay": 2}, entries={"dev-1": {"limits": {"sendsPerDay": 5}}})
    at_two = Usage(sends_today=2)
    assert decide(p, LEAD, "sessions_send", "agent:hr:main", VIEW, usage=at_two).gate == "sends-per-day"
    dev1 = Requester.of("dev-1")
    assert decide(p, dev1, "sessions_send", "agent:hr:main", VIEW, usage=at_two).allowed
    assert decide(p, dev1, "sessions_send", "agent:hr:main", VIEW, usage=Usage(sends_today=5)).gate == (
        "sends-per-day"
    )


def test_spawn_budgets_count_spawns_per_hour_and_active_children_across_the_agent() -> None:
    p = policy(entries={"lead": {"limits": {"spawnsPerHour": 2, "maxActiveChildren": 3}}})
    assert decide(p, LEAD, "sessions_spawn", None, VIEW, usage=Usage(spawns_this_hour=1)).allowed
    hourly = decide(
        p, LEAD, "sessions_spawn", None, VIEW, usage=Usage(spawns_this_hour=2, spawns_reset_at=SINCE)
    )
    assert hourly.gate == "spawns-per-hour" and "spawned 2 subagents in the last hour" in str(hourly.message)
    assert "2025-12-01T14:40:00Z" in str(hourly.message)
    children = decide(p, LEAD, "sessions_spawn", None, VIEW, usage=Usage(active_children=3))
    assert children.gate == "max-active-children" and "3 subagent runs still active" in str(children.message)


def test_budgets_do_not_apply_to_reads_and_a_policy_denial_is_never_reported_as_over_budget() -> None:
    p = policy(
        limits={"sendsPerDay": 1},
        entries={"lead": {"tools": {"agentToAgent": {"allow": ["dev-*"]}}}},
    )
    over = Usage(sends_today=9)
    assert decide(p, LEAD, "sessions_history", "agent:dev-1:main", VIEW, usage=over).allowed
    assert decide(p, LEAD, "sessions_send", "agent:hr:main", VIEW, usage=over).gate == "allow-list"


def test_observe_mode_lets_a_would_be_denial_through_with_its_gate_source_and_fix() -> None:
    p = policy(mode="observe", entries={"lead": {"tools": {"agentToAgent": {"allow": ["dev-*"]}}}})
    decision = decide(p, LEAD, "sessions_send", "agent:hr:main", VIEW)
    assert decision.allowed and decision.would_deny
    assert decision.gate == "allow-list" and decision.source and decision.fix
    assert decision.target == "agent:hr:main"
    assert decide(p, LEAD, "sessions_send", "agent:dev-1:main", VIEW).would_deny is False


def test_observe_mode_per_agent_leaves_the_other_agents_enforced() -> None:
    p = policy(limits={"sendsPerDay": 1}, entries={"dev-1": {"mode": "observe"}})
    over = Usage(sends_today=1)
    assert decide(p, LEAD, "sessions_send", "agent:hr:main", VIEW, usage=over).allowed is False
    observed = decide(p, Requester.of("dev-1"), "sessions_send", "agent:hr:main", VIEW, usage=over)
    assert observed.allowed and observed.would_deny and observed.gate == "sends-per-day"
    assert p.observed_agents == ("dev-1",) and p.mode.value == "enforce"


def test_observe_mode_still_refuses_an_unknown_target() -> None:
    p = policy(mode="observe")
    decision = decide(p, LEAD, "sessions_send", "agent:nobody:main", VIEW)
    assert not decision.allowed and decision.gate == "unknown-target"


def test_explain_shows_the_operator_gates_and_an_observed_denial_loudly() -> None:
    p = policy(mode="observe", entries={"lead": {"limits": {"sendsPerDay": 10}}})
    decision = decide(
        p, LEAD, "sessions_send", "agent:dev-1:main", VIEW, explain=True, usage=Usage(sends_today=10)
    )
    text = render_decision(decision, p)
    assert "FAIL  sends-per-day" in text and "PASS  pause" in text
    assert "ALLOWED IN OBSERVE MODE" in text and "would be DENIED at gate 'sends-per-day'" in text
    passing = decide(
        p, LEAD, "sessions_send", "agent:dev-1:main", VIEW, explain=True, usage=Usage(sends_today=3)
    )
    assert "3 of 10 sends in 24 h" in render_decision(passing, p)


def test_policy_show_puts_observe_mode_first_and_names_its_key() -> None:
    p = policy(mode="observe")
    report = policy_report(p, "lead", VIEW)
    assert report["mode"] == "observe"
    text = render_policy(report)
    assert "OBSERVE MODE" in text and "team.json5" in text
    assert (
        report["values"]["limits.sendsPerDay"]["source"]
        == "default (sidecar): limits.sendsPerDay = unlimited"
    )


def test_an_unknown_mode_or_a_negative_budget_is_refused_with_its_line() -> None:
    with pytest.raises(PolicyError, match=r'mode.*the string "watch" is not allowed'):
        parse_policy(json.dumps({"mode": "watch"}), "p.json5")
    with pytest.raises(PolicyError, match="sendsPerDay"):
        parse_policy(json.dumps({"agents": {"entries": {"a": {"limits": {"sendsPerDay": -1}}}}}), "p.json5")
