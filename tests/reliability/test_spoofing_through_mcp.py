"""The spoofing suite end to end through MCP: case, look-alikes, whitespace, colons, prefixes, main/current,
labels and agentId forms of every refused target. No bypass: a refused target never gets an `agent`,
`chat.history` or `sessions.create` RPC (tests/reliability/fuzz.py `spoofing`)."""

from __future__ import annotations

import logging

import pytest

from tests.reliability.fuzz import spoof_forms, spoofing


def test_every_spoofed_form_of_a_refused_target_is_refused_before_any_rpc(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    outcome = spoofing(generated=500)
    assert outcome.ok, outcome.report()
    assert outcome.counts["bypasses"] == 0
    assert (
        outcome.counts["hand_written"] > 1000
        and outcome.counts["calls"] >= outcome.counts["hand_written"] + 500
    )
    assert outcome.counts.get("crash", 0) == outcome.counts.get("unclear", 0) == 0


def test_the_hand_written_forms_cover_each_family_of_spoof() -> None:
    forms = spoof_forms("agent:hr:main", "lead")
    families = {
        "case": "AGENT:HR:MAIN",
        "whitespace": " agent:hr:main ",
        "look-alike": "\u0430gent:hr:main",
        "extra colon": "agent:hr:main:",
        "agent: prefix": "agent:agent:hr:main",
        "main/current": "current",
        "label-shaped": "label:hr",
        "bare id": "hr",
    }
    assert {name for name, form in families.items() if form in forms} == set(families)
