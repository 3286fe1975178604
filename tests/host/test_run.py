"""The opened host as `sidecar up` runs it (real mirror and state files, fake gateway): each agent's pause,
budgets and pending sends are its own, and a policy edit applies to the next attested call."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from sidecar.cli import main
from sidecar.config import load_policy
from sidecar.host import Host, HostConfig, HostPaths, load_or_create_key, make_attestation, open_host
from sidecar.reload import read_status
from tests.fakes import FakeGateway

pytestmark = pytest.mark.anyio
AGENTS = ["lead", "dev-1"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def team(lead: dict[str, Any] | None = None) -> dict[str, Any]:
    a2a = {"tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True}}}
    return {"agents": {"entries": {"lead": {**a2a, **(lead or {})}, "dev-1": a2a}}}


def write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    st = path.stat()  # a change visible even within one mtime tick
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@dataclass
class Opened:
    host: Host
    gw: FakeGateway
    key: bytes
    policy_file: Path
    state: Path

    def signed(self, agent: str, session: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        caller = make_attestation(self.key, agent_id=agent, session_key=session, tool=tool, arguments=args,
                                  tool_call_id=f"c{time.monotonic_ns()}", ts_ms=int(time.time() * 1000))  # fmt: skip
        return {**args, "_caller": caller}

    @asynccontextmanager
    async def client(self, agent: str) -> AsyncIterator[Client]:
        server: Any = self.host.served.servers[agent]
        async with Client(server) as client:
            yield client


@pytest.fixture
async def opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Opened]:
    state = tmp_path / "state"
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(state))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("SIDECAR_POLICY", raising=False)
    policy_file = tmp_path / "team.json5"
    write(policy_file, team({"limits": {"sendsPerDay": 2}}))
    gw = FakeGateway(agents=AGENTS)
    for agent in AGENTS:
        gw.histories.setdefault(f"agent:{agent}:main", [])

    async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
        return gw

    paths = HostPaths(state / "host")
    paths.ensure()
    config = HostConfig(load_policy(str(policy_file)), "ws://127.0.0.1:1", 0, paths, token_store="file")
    host = await open_host(config, connect=connect)
    assert host.runtime.mirror is not None
    host.runtime.mirror.set_agents("home", AGENTS)
    for key in gw.histories:
        host.services["lead"].store.upsert({"key": key, "updatedAt": 1, "kind": "other"}, "home")
    try:
        yield Opened(host, gw, load_or_create_key(paths.key), policy_file, state)
    finally:
        host.runtime.close()


def text(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "text", None))


async def test_a_paused_agents_attested_call_is_refused_at_gate_pause_until_it_is_resumed(
    opened: Opened,
) -> None:
    assert main(["pause", "--agent", "lead", "--reason", "looping on the release thread"]) == 0
    args: dict[str, Any] = {}
    async with opened.client("lead") as lead, opened.client("dev-1") as dev:
        with anyio.fail_after(10):
            paused = await lead.call_tool(
                "sessions_list", opened.signed("lead", "agent:lead:planning", "sessions_list", args)
            )
            other = await dev.call_tool(
                "sessions_list", opened.signed("dev-1", "agent:dev-1:main", "sessions_list", args)
            )
            assert main(["resume", "--agent", "lead"]) == 0
            resumed = await lead.call_tool(
                "sessions_list", opened.signed("lead", "agent:lead:planning", "sessions_list", args)
            )
    assert paused.is_error and "[gate: pause]" in text(paused), text(paused)
    assert "looping on the release thread" in text(paused)
    assert not other.is_error, text(other)  # a pause is one agent's, not the host's
    assert not resumed.is_error, text(resumed)


async def test_a_send_budget_refuses_at_exactly_its_limit_across_the_agents_sessions(opened: Opened) -> None:
    results = []
    async with opened.client("lead") as lead:
        for n, session in enumerate(("agent:lead:main", "agent:lead:planning", "agent:lead:main")):
            args = {"sessionKey": "agent:dev-1:main", "message": f"note {n}", "timeoutSeconds": 0}
            with anyio.fail_after(10):
                results.append(
                    await lead.call_tool(
                        "sessions_send", opened.signed("lead", session, "sessions_send", args)
                    )
                )
    first, second, third = results
    assert not first.is_error and not second.is_error, text(first) + text(second)
    assert third.is_error and "[gate: sends-per-day]" in text(third), text(third)
    assert "limit 2" in text(third)
    assert opened.gw.runs and len(opened.gw.runs) == 2


async def test_each_pending_send_resumes_after_a_restart_as_the_session_that_wrote_it(opened: Opened) -> None:
    store = opened.host.services["lead"].store
    for key, writer, target in (
        ("k-lead", "agent:lead:main", "agent:dev-1:main"),
        ("k-dev", "agent:dev-1:main", "agent:lead:main"),
    ):
        store.outbox_begin(key, requester=writer, target=target, gateway="home", body=f"from {writer}",
                           hop=1, trace_id="00000000000000ab", created_at=time.time())  # fmt: skip
    mirror = opened.host.runtime.mirror
    assert mirror is not None
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(opened.host.background)
            while mirror.outbox.pending():
                await anyio.sleep(0.05)
            tasks.cancel_scope.cancel()
    sent = {params["idempotencyKey"]: params for method, params in opened.gw.calls if method == "agent"}
    assert sent["k-dev"]["inputProvenance"]["sourceSessionKey"] == "agent:dev-1:main"
    assert "requester) session: agent:dev-1:main" in sent["k-dev"]["extraSystemPrompt"]
    assert sent["k-lead"]["inputProvenance"]["sourceSessionKey"] == "agent:lead:main"
    assert {e.status for e in mirror.outbox.pending()} == set()


async def test_a_policy_edit_applies_to_the_next_attested_call_and_tells_connected_clients(
    opened: Opened,
) -> None:
    args = {"sessionKey": "agent:dev-1:main", "message": "hi", "timeoutSeconds": 0}
    async with opened.client("lead") as lead:
        with anyio.fail_after(10):
            before = await lead.call_tool(
                "sessions_send", opened.signed("lead", "agent:lead:main", "sessions_send", args)
            )
            async with lead.listen(tools_list_changed=True) as changes:
                no_sends = {"tools": {"sessions": {"visibility": "self"}, "agentToAgent": {"enabled": False}}}
                write(opened.policy_file, team(no_sends))
                assert await opened.host.watcher.poll() is True
                event = await changes.__anext__()
            after = await lead.call_tool(
                "sessions_send", opened.signed("lead", "agent:lead:main", "sessions_send", args)
            )
            listed = {t.name for t in (await lead.list_tools()).tools}
    assert not before.is_error, text(before)
    assert type(event).__name__ == "ToolsListChanged"
    assert after.is_error and after.meta is not None
    assert after.meta["sidecar/denial"]["gate"] in ("visibility", "agent-to-agent"), text(after)
    assert "sessions_send" not in listed
    # `sidecar doctor --agent lead` reads the reload status from the agent's own state directory.
    for where in (opened.state / "lead", opened.state / "host"):
        status = read_status(where)
        assert (
            status is not None and status["lastError"] is None and status["policy"] == str(opened.policy_file)
        )


async def test_every_agents_attested_caller_keeps_its_agents_peer_links_pause_and_budgets(
    opened: Opened,
) -> None:
    for agent in AGENTS:
        base = opened.host.services[agent]
        args: dict[str, Any] = {}
        bound = opened.host.binders[agent](
            "sessions_list", opened.signed(agent, f"agent:{agent}:x", "sessions_list", args)
        )
        assert bound.requester.session_key == f"agent:{agent}:x"
        # Without peer links a call to a sidecar peer failed with "no peer links are set up".
        assert bound.ctx.peers is not None and bound.ctx.peers is base.ctx.peers
        assert bound.ctx.usage is base.ctx.usage is not None
    assert opened.host.services["lead"].ctx.usage is not opened.host.services["dev-1"].ctx.usage
