"""Operating a live fleet on a real gateway: `sidecar serve` over stdio, driven by the MCP SDK client.

A policy edit reaches a connected client as tools/list_changed and decides its next call; a broken edit
leaves the previous policy in force with its file and line in the log; observe mode lets a denied send
through and records the would-be denial; a pause stops the agent's next call; budgets refuse at exactly
their limit. Every result is checked against its tool's output schema (see `served`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from sidecar.cli import main
from sidecar.mcp import Denial, validate_result
from tests.e2e.test_mcp_gateway import (
    hierarchy_policy,
    served,
    sidecar_env,
    text,
    transcript,
    user_texts,
    write_policy,
)

pytestmark = [pytest.mark.anyio, pytest.mark.gateway]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def lead_without_sends(policy: dict[str, Any]) -> dict[str, Any]:
    edited = json.loads(json.dumps(policy))
    lead = edited["agents"]["entries"]["lead"]
    lead["tools"] = {"sessions": {"visibility": "self"}, "agentToAgent": {"enabled": False}}
    return edited


async def wait_for_line(path: Path, needle: str, deadline: float = 10.0) -> str:
    """The first line of the sidecar's log file containing `needle` (polled: the sidecar writes it)."""
    with anyio.fail_after(deadline):
        while True:
            if path.exists():
                for line in path.read_text(encoding="utf-8").splitlines():
                    if needle in line:
                        return line
            await anyio.sleep(0.05)


async def test_a_policy_edit_reaches_a_connected_client_within_two_seconds_and_a_broken_one_changes_nothing(
    openclaw_gateway, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    policy = hierarchy_policy(openclaw_gateway.url)
    path = write_policy(tmp_path, policy)
    env = sidecar_env(tmp_path, openclaw_gateway.token)
    log_file = Path(env["SIDECAR_LOG_FILE"])
    async with served(path, "lead", env) as lead:
        with anyio.fail_after(120):
            before = {t.name for t in (await lead.list_tools()).tools}
            read = await lead.call_tool("sessions_history", {"sessionKey": "agent:dev-1:main"})
        assert "sessions_send" in before and not read.is_error, text(read)
        async with lead.listen(tools_list_changed=True) as changes:
            write_policy(tmp_path, lead_without_sends(policy))
            started = time.monotonic()
            with anyio.fail_after(2):
                await changes.__anext__()
            noticed = time.monotonic() - started
        with anyio.fail_after(60):
            after = {t.name for t in (await lead.list_tools()).tools}
            refused = await lead.call_tool(
                "sessions_send", {"sessionKey": "agent:dev-1:main", "message": "x"}
            )
            unread = await lead.call_tool("sessions_history", {"sessionKey": "agent:dev-1:main"})
        assert noticed < 2.0
        assert "sessions_send" not in after and "sessions_list" in after
        denial = validate_result("sessions_send", refused)
        assert refused.is_error and refused.structured_content is None and isinstance(denial, Denial)
        assert denial.gate == "visibility"
        assert "agents.entries.lead.tools.sessions.visibility" in str(denial.source)
        assert unread.is_error and "[gate: visibility]" in text(unread)

        # A broken edit: the sidecar logs it with file and line and keeps deciding by the last good policy.
        path.write_text('{\n  "agents": {\n    "entries": {"lead": {"mode": "watch"}}\n  }\n}\n', "utf-8")
        line = await wait_for_line(log_file, "policy reload refused")
        with anyio.fail_after(60):
            still = await lead.call_tool("sessions_history", {"sessionKey": "agent:dev-1:main"})
            tools = {t.name for t in (await lead.list_tools()).tools}
    assert f"{path}:3" in line and "still enforcing the previous policy" in line
    assert still.is_error and "[gate: visibility]" in text(still)
    assert "sessions_send" not in tools


async def test_observe_mode_lets_a_denied_send_through_and_records_the_would_be_denial(
    openclaw_gateway, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    policy = hierarchy_policy(openclaw_gateway.url)
    policy["agents"]["entries"]["manager"]["mode"] = "observe"
    path = write_policy(tmp_path, policy)
    env = sidecar_env(tmp_path, openclaw_gateway.token)
    async with served(path, "manager", env) as manager:
        with anyio.fail_after(120):
            sent = await manager.call_tool(
                "sessions_send",
                {"sessionKey": "agent:research:main", "message": "observed hello", "timeoutSeconds": 0},
            )
    assert not sent.is_error, text(sent)
    result = validate_result("sessions_send", sent)
    assert result is not None and result.state == "accepted"  # type: ignore[attr-defined]
    with anyio.fail_after(60):
        while not any(
            "observed hello" in t for t in user_texts(transcript(openclaw_gateway, "agent:research:main"))
        ):
            await anyio.sleep(0.5)
    banner = await wait_for_line(Path(env["SIDECAR_LOG_FILE"]), "OBSERVE MODE")
    assert "manager" in banner
    db = Path(env["SIDECAR_STATE_DIR"]) / "manager" / "mirror.db"
    capsys.readouterr()
    assert main(["decisions", "--db", str(db), "--would-deny", "--since", "1h", "--json"]) == 1
    (row,) = json.loads(capsys.readouterr().out)
    assert row["gate"] == "receives-from" and row["target"] == "agent:research:main"
    assert "agents.entries.research.tools.agentToAgent.receivesFrom" in row["source"]
    assert row["fix"] and row["outcome"] == "allowed" and row["would_deny"] is True


async def test_a_paused_agent_is_refused_on_its_next_call_and_budgets_refuse_at_exactly_the_limit(
    openclaw_gateway, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    policy = hierarchy_policy(openclaw_gateway.url)
    policy["agents"]["entries"]["lead"]["limits"] = {"sendsPerDay": 2, "spawnsPerHour": 1}
    path = write_policy(tmp_path, policy)
    env = sidecar_env(tmp_path, openclaw_gateway.token)
    db = Path(env["SIDECAR_STATE_DIR"]) / "lead" / "mirror.db"
    async with served(path, "lead", env) as lead:
        with anyio.fail_after(180):
            sends = [
                await lead.call_tool(
                    "sessions_send",
                    {"sessionKey": f"agent:dev-{n}:main", "message": f"budget {n}", "timeoutSeconds": 0},
                )
                for n in (1, 2, 3)
            ]
            spawned = await lead.call_tool("sessions_spawn", {"task": "one child", "agentId": "dev-4"})
            second = await lead.call_tool("sessions_spawn", {"task": "one too many", "agentId": "dev-4"})
            assert (
                main(["pause", "--agent", "lead", "--db", str(db), "--reason", "runaway loop, ticket 7"]) == 0
            )
            paused = await lead.call_tool("sessions_list", {})
            assert main(["resume", "--agent", "lead", "--db", str(db)]) == 0
            resumed = await lead.call_tool("sessions_list", {})
    first, second_send, third = sends
    assert not first.is_error and not second_send.is_error, text(first) + text(second_send)
    assert first.structured_content is not None and first.structured_content["state"] == "accepted"
    over = validate_result("sessions_send", third)
    assert third.is_error and third.structured_content is None and isinstance(over, Denial)
    assert over.gate == "sends-per-day"
    assert "made 2 sends in the last 24 hours (limit 2)" in text(third) and "fits at" in text(third)
    assert not spawned.is_error, text(spawned)
    assert second.is_error and "[gate: spawns-per-hour]" in text(second)
    assert "spawned 1 subagents in the last hour (limit 1)" in text(second)
    assert paused.is_error and "runaway loop, ticket 7" in text(paused) and "[gate: pause]" in text(paused)
    assert not resumed.is_error, text(resumed)
