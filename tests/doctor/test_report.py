"""What doctor prints and returns: one line per finding, fixes only where something needs doing, the totals."""

from __future__ import annotations

from sidecar.doctor import Check, exit_code, render, report

CHECKS = [
    Check("policy", "PASS", "team.json5 parses", "never shown for a pass"),
    Check(
        "gateway",
        "FAIL",
        "nothing is listening on 127.0.0.1:18789",
        "Start the gateway\nthen run doctor again",
    ),
    Check("mirror", "WARN", "stale", "Start the sidecar"),
    Check("pairing", "SKIP", "pass --agent ID"),
]


def test_a_failed_check_makes_the_run_fail_and_warnings_do_not() -> None:
    assert exit_code(CHECKS) == 1 and report(CHECKS)["ok"] is False
    passing = [c for c in CHECKS if c.status != "FAIL"]
    assert exit_code(passing) == 0 and report(passing)["ok"] is True


def test_the_text_shows_each_fix_under_its_finding_and_counts_every_status() -> None:
    text = render(CHECKS)
    assert "never shown for a pass" not in text
    assert "fix: Start the gateway\n" in text and "           then run doctor again" in text
    assert text.endswith("1 failed, 1 warning, 1 passed, 1 skipped")


def test_the_json_report_holds_every_check_with_its_fix() -> None:
    assert report(CHECKS)["checks"][1] == {
        "name": "gateway",
        "status": "FAIL",
        "detail": "nothing is listening on 127.0.0.1:18789",
        "fix": "Start the gateway\nthen run doctor again",
    }
