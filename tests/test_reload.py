"""The policy watcher: a valid edit (of the policy or the openclaw.json it inherits) is applied whole; a
broken one is refused with its file and line while the previous policy stays; the status file says so."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from sidecar.config import load_policy
from sidecar.policy import Policy
from sidecar.reload import PolicyWatcher, read_status

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def write(path: Path, doc: dict[str, Any] | str) -> None:
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=2)
    path.write_text(text, encoding="utf-8")
    # Make the change visible even within one mtime tick.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def team(visibility: str = "all", **extra: Any) -> dict[str, Any]:
    return {
        "tools": {"sessions": {"visibility": visibility}},
        "agents": {"entries": {"lead": {}, "dev-1": {}}},
        **extra,
    }


async def watcher_for(path: Path, state: Path) -> tuple[PolicyWatcher, list[Policy]]:
    applied: list[Policy] = []

    async def apply(policy: Policy) -> None:
        applied.append(policy)

    def vet(policy: Policy) -> str | None:
        return None if "lead" in policy.known_agents else "agent 'lead' is no longer in the policy"

    return PolicyWatcher(load_policy(str(path)), apply, state, vet), applied


async def test_a_valid_edit_is_applied_as_a_whole_new_policy(tmp_path: Path) -> None:
    path = tmp_path / "team.json5"
    write(path, team())
    watcher, applied = await watcher_for(path, tmp_path / "state")
    assert await watcher.poll() is False
    write(path, team("tree"))
    assert await watcher.poll() is True
    assert applied[-1].for_agent("lead").visibility.value == "tree"
    assert watcher.current is applied[-1]
    status = read_status(tmp_path / "state")
    assert status is not None and status["lastError"] is None and status["policy"] == str(path)


async def test_a_broken_edit_keeps_the_old_policy_and_logs_file_and_line_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "team.json5"
    write(path, team())
    watcher, applied = await watcher_for(path, tmp_path / "state")
    before = watcher.current
    write(path, '{\n  "tools": {\n    "sessions": {"visibility": "everyone"}\n  }\n}\n')
    with caplog.at_level(logging.ERROR, logger="sidecar"):
        assert await watcher.poll() is False
        assert await watcher.poll() is False
    assert applied == [] and watcher.current is before
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"{path}:3" in errors[0] and "still enforcing the previous policy" in errors[0]
    status = read_status(tmp_path / "state")
    assert status is not None and f"{path}:3" in str(status["lastError"])
    write(path, team("tree"))
    assert await watcher.poll() is True
    status = read_status(tmp_path / "state")
    assert status is not None and status["lastError"] is None


async def test_an_edit_that_drops_the_served_agent_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "team.json5"
    write(path, team())
    watcher, applied = await watcher_for(path, tmp_path / "state")
    write(path, {"agents": {"entries": {"dev-1": {}}}})
    assert await watcher.poll() is False
    assert applied == [] and "no longer in the policy" in str(watcher.last_error)


async def test_an_edit_of_the_inherited_openclaw_json_is_seen(tmp_path: Path) -> None:
    openclaw = tmp_path / "openclaw.json"
    write(openclaw, {"tools": {"sessions": {"visibility": "all"}}})
    path = tmp_path / "team.json5"
    write(path, {"openclawConfig": "openclaw.json", "agents": {"entries": {"lead": {}}}})
    watcher, applied = await watcher_for(path, tmp_path / "state")
    assert watcher.current.for_agent("lead").visibility.value == "all"
    write(openclaw, {"tools": {"sessions": {"visibility": "self"}}})
    assert await watcher.poll() is True
    assert applied[-1].for_agent("lead").visibility.value == "self"
    assert applied[-1].for_agent("lead").visibility.source.origin == "openclaw"


async def test_observe_mode_is_recorded_in_the_status_for_doctor(tmp_path: Path) -> None:
    path = tmp_path / "team.json5"
    write(path, team(mode="observe"))
    await watcher_for(path, tmp_path / "state")
    status = read_status(tmp_path / "state")
    assert (
        status is not None and status["mode"] == "observe" and status["observedAgents"] == ["lead", "dev-1"]
    )
