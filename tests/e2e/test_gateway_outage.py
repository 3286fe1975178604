"""With the real gateway stopped mid-session the sidecar answers fast, keeps every send and says what is wrong.

One dedicated gateway (this test stops it). A sidecar for `manager` is paired and serving over stdio
through the MCP SDK client; then the gateway goes away and, within the bounds the issue sets:
`sessions_list` reports `fresh: false` within 2 s, a `sessions_send` with `timeoutSeconds: 5` is a clear
error within 15 s and is in the outbox as failed, a spawn that fails leaves no row, and the log file
holds one WARNING for the drop (not one per reconnect attempt).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.reliability.support import served, sidecar_argv, sidecar_env, text, write_policy

pytestmark = [pytest.mark.anyio, pytest.mark.gateway]
AGENTS = ["main", "manager", "dev-1", "dev-2"]


def policy_for(url: str) -> dict[str, Any]:
    return {
        "gateway": {"url": url},
        "tools": {"sessions": {"visibility": "self"}, "agentToAgent": {"enabled": False}},
        "agents": {
            "entries": {
                "manager": {
                    "acknowledgeOpen": True,
                    "tools": {
                        "sessions": {"visibility": "all"},
                        "agentToAgent": {"enabled": True, "allow": ["*"]},
                    },
                    "subagents": {"allowAgents": ["dev-*"]},
                },
                "main": {},
                "dev-1": {},
                "dev-2": {},
            }
        },
    }


def outbox(env: dict[str, str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        sidecar_argv("outbox", "--agent", "manager", "--json"),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


async def test_with_the_gateway_stopped_the_sidecar_answers_fast_and_keeps_every_send(
    gateway_factory: Any, tmp_path: Path
) -> None:
    gw = gateway_factory("outage", agents=AGENTS)
    env = sidecar_env(tmp_path, shared_token=gw.token)
    policy = write_policy(tmp_path, policy_for(gw.url))
    paired = subprocess.run(
        sidecar_argv("pair", "--gateway", gw.url, "--agent", "manager"),
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert paired.returncode == 0, paired.stderr
    async with served(policy, "manager", env) as client:
        with anyio.fail_after(180):
            warm = await client.call_tool(
                "sessions_send",
                {"sessionKey": "agent:dev-1:main", "message": "warm up", "timeoutSeconds": 90},
            )
        assert not warm.is_error, text(warm)
        listed = await client.call_tool("sessions_list", {})
        assert (listed.structured_content or {})["mirror"]["fresh"] is True

        await anyio.to_thread.run_sync(gw.stop)
        stopped = time.monotonic()

        with anyio.fail_after(10):
            while True:
                listed = await client.call_tool("sessions_list", {})
                mirror = (listed.structured_content or {})["mirror"]
                if mirror["fresh"] is False:
                    break
                await anyio.sleep(0.1)
        assert time.monotonic() - stopped < 2.0, mirror
        assert "down" in mirror["note"] or "unreachable" in mirror["note"]

        # A gateway fault is an MCP error (a denial would be a tool error the model reads).
        started = time.monotonic()
        with anyio.fail_after(60), pytest.raises(MCPError) as send_error:
            await client.call_tool(
                "sessions_send",
                {"sessionKey": "agent:dev-1:main", "message": "during the outage", "timeoutSeconds": 5},
            )
        took = time.monotonic() - started
        said = str(send_error.value)
        assert took < 15.0, (took, said)
        assert "not sent" in said and "outbox" in said and "timeoutSeconds 5" in said, said

        with anyio.fail_after(60):
            try:
                spawned = await client.call_tool(
                    "sessions_spawn", {"task": "write a test", "agentId": "dev-2"}
                )
            except MCPError:
                pass
            else:
                assert spawned.is_error, text(spawned)
        rows = (await client.call_tool("sessions_list", {})).structured_content or {}
        assert not [r for r in rows["sessions"] if ":subagent:" in r["key"]], rows["sessions"]

    entries = outbox(env)
    states = {e.get("status") for e in entries}
    assert len(entries) == 2 and states == {"delivered", "failed"}, entries
    log = Path(env["SIDECAR_LOG_FILE"]).read_text(encoding="utf-8")
    assert log.count("connection lost") == 1, log
    assert log.count("WARNING") <= 6, log
