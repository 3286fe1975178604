"""The OpenClaw fragment per release: agents.entries on 2026.9, agents.list[] on 2026.4, none on 2026.3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.deploy import NoMcpClient, fragment_release, launch_for, openclaw_fragment, openclaw_header
from sidecar.policy import parse_policy

POLICY = parse_policy(json.dumps({"agents": {"entries": {"lead": {}, "dev-1": {}}}}), "/p/team.json5")


def fragment(version: str | None) -> dict[str, object]:
    launches = {a: launch_for(a, "/p/team.json5", ("/bin/sidecar",), None) for a in POLICY.agent_ids}
    return openclaw_fragment(POLICY, launches, openclaw_version=version)


def test_the_newest_release_gets_agents_entries() -> None:
    assert set(fragment(None)["agents"]) == {"entries"}  # type: ignore[arg-type]
    assert fragment("2026.9.6") == fragment(None)


def test_2026_4_gets_the_agents_list_shape_with_the_same_servers_and_denies() -> None:
    old, new = fragment("2026.4.12"), fragment(None)
    assert old["mcp"]["servers"] == new["mcp"]["servers"]  # type: ignore[index]
    # 2026.9 retires idle per-session servers; 2026.4.12 has no such key (it would not validate).
    assert new["mcp"]["sessionIdleTtlMs"] == 900_000 and "sessionIdleTtlMs" not in old["mcp"]  # type: ignore[index, operator]
    listed = old["agents"]["list"]  # type: ignore[index]
    assert [e["id"] for e in listed] == ["lead", "dev-1"]
    assert {e["id"]: {"tools": e["tools"]} for e in listed} == new["agents"]["entries"]  # type: ignore[index]
    assert any("agents.list" in line for line in openclaw_header("/p/team.json5", "2026.4.12"))


def test_2026_3_has_no_fragment_and_the_message_names_the_clients_that_work() -> None:
    with pytest.raises(NoMcpClient) as caught:
        fragment("2026.3.13")
    text = str(caught.value)
    assert "OpenClaw 2026.3.13 has no mcp key" in text
    for client in ("claude-desktop", "claude-code", "cursor", "vscode", "codex"):
        assert client in text
    with pytest.raises(ValueError, match="outside the supported range"):
        fragment_release("2026.2.1")


def test_the_cli_refuses_a_3_x_fragment_with_exit_2(tmp_path: Path) -> None:
    policy = tmp_path / "team.json5"
    policy.write_text(json.dumps({"agents": {"entries": {"lead": {}}}}), encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sidecar",
            "manifest",
            "openclaw",
            "--policy",
            str(policy),
            "--openclaw-version",
            "2026.3.13",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert "claude-code" in run.stderr and "2026.4.12" in run.stderr
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "sidecar",
            "manifest",
            "openclaw",
            "--policy",
            str(policy),
            "--openclaw-version",
            "2026.4.12",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and '"list"' in ok.stdout
