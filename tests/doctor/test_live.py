"""Doctor shows observe mode, an operator's pause, and a running sidecar's refused reload."""

from __future__ import annotations

import json
from pathlib import Path

from sidecar.doctor._live import check_live
from sidecar.mirror import PauseFile
from sidecar.policy import parse_policy
from sidecar.reload import STATUS_FILE, fingerprint


def policy(**extra: object) -> object:
    return parse_policy(json.dumps({"agents": {"entries": {"lead": {}, "dev-1": {}}}, **extra}), "team.json5")


def test_observe_mode_is_a_loud_warning_naming_the_agents_and_the_review_command() -> None:
    (mode,) = check_live(policy(mode="observe"), None, None)  # type: ignore[arg-type]
    assert mode.status == "WARN" and "OBSERVE MODE for lead, dev-1" in mode.detail
    assert "sidecar decisions --agent lead --would-deny" in str(mode.fix)
    (enforce,) = check_live(policy(), None, None)  # type: ignore[arg-type]
    assert enforce.status == "PASS"


def test_a_pause_and_a_refused_reload_are_shown_with_their_fixes(tmp_path: Path) -> None:
    p = policy()
    PauseFile.in_dir(tmp_path).pause(reason="runaway", by="ops", now=0.0)
    (tmp_path / STATUS_FILE).write_text(
        json.dumps(
            {
                "policy": "team.json5",
                "pid": 42,
                "loadedAt": 0.0,
                "fingerprint": fingerprint(p),  # type: ignore[arg-type]
                "lastError": "team.json5:3: tools.sessions.visibility: 'everyone' is not allowed",
            }
        ),
        encoding="utf-8",
    )
    checks = {c.name: c for c in check_live(p, "lead", tmp_path)}  # type: ignore[arg-type]
    assert checks["pause"].status == "WARN" and "runaway" in checks["pause"].detail
    assert checks["pause"].fix == "sidecar resume --agent lead"
    reload = checks["reload"]
    assert reload.status == "FAIL" and "pid 42" in reload.detail and "team.json5:3" in reload.detail
