"""The README's main command: its offline part explains an allowed and a denied call for each scenario."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_demo_explains_allowed_and_denied_calls_for_the_bundled_scenarios() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--offline"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Scenario 'hierarchy'" in out and "Scenario 'alfred-fleet'" in out
    assert out.count("ALLOWED") >= 2 and out.count("DENIED at gate") >= 3
    assert "WARNING: aialfred can read and message every other agent's sessions" in " ".join(out.split())
