"""Generated tool arguments through the in-memory MCP client: no crash, every rejection clear, no bypass.

CI runs 2,000 calls; the soak runs 100,000 (tests/reliability/fuzz.py).
"""

from __future__ import annotations

import logging

import pytest

from tests.reliability.fuzz import classify, fuzz_arguments


def test_two_thousand_generated_calls_never_crash_and_every_rejection_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    outcome = fuzz_arguments(examples=2000)
    assert outcome.ok, outcome.report()
    counts = outcome.counts
    assert counts["calls"] == 2000
    assert counts.get("crash", 0) == counts.get("unclear", 0) == counts.get("bypass", 0) == 0
    # The generator reaches every outcome, not only argument validation.
    assert counts.get("ok", 0) > 100 and counts.get("denied", 0) > 50 and counts.get("invalid", 0) > 100


def test_the_bare_sdk_crash_text_is_told_apart_from_a_clear_error() -> None:
    class Result:
        def __init__(self, body: str) -> None:
            self.is_error = True
            self.content = [type("T", (), {"text": body})()]

    assert classify("sessions_list", Result("Error executing tool sessions_list"))[0] == "crash"
    denial = "Error executing tool sessions_send: nope\n[gate: visibility] [decided by: x]\nFix: y"
    assert classify("sessions_send", Result(denial))[0] == "denied"
    assert classify("x", Result("Unknown tool: x"))[0] == "invalid"
    assert classify("sessions_list", Result("Error executing tool sessions_list: boom"))[0] == "unclear"
