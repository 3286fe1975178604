"""The host's per-call binding through a real MCP client (in memory, fake gateway), and its writer lock."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from sidecar.host import CallerBinder, HostLocked, HostPaths, Verifier, WriterLock, make_attestation
from sidecar.mcp import build_server
from sidecar.policy import Requester, parse_policy
from sidecar.tools import SessionsService
from tests.fakes import FakeGateway, MemoryStore, home_fleet

pytestmark = pytest.mark.anyio
KEY = b"k" * 32
AGENTS = ["lead", "dev-1"]
POLICY = {
    "agents": {
        "entries": {
            "lead": {"tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True}}},
            "dev-1": {},
        }
    }
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def host_server() -> tuple[Any, FakeGateway, MemoryStore, CallerBinder]:
    gw = FakeGateway(agents=AGENTS)
    store, pool = home_fleet(gw, AGENTS)
    service = SessionsService(
        parse_policy(json.dumps(POLICY), "team.json5"), Requester.of("lead"), store, pool
    )
    binder = CallerBinder("lead", service, Verifier(KEY))
    return build_server(service, bind=binder), gw, store, binder


def signed(session: str, tool: str, args: dict[str, Any], call_id: str = "c1") -> dict[str, Any]:
    caller = make_attestation(KEY, agent_id="lead", session_key=session, tool=tool, arguments=args,
                              tool_call_id=call_id, ts_ms=int(time.time() * 1000))  # fmt: skip
    return {**args, "_caller": caller}


def text(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "text", None))


async def test_each_call_is_decided_as_its_attested_session_and_logged_so() -> None:
    server, gw, store, _ = host_server()
    args = {"sessionKey": "agent:dev-1:main", "message": "hi", "timeoutSeconds": 0}
    async with Client(server) as client:
        with anyio.fail_after(10):
            main = await client.call_tool("sessions_send", signed("agent:lead:main", "sessions_send", args))
            sub = await client.call_tool(
                "sessions_send", signed("agent:lead:subagent:0f3c", "sessions_send", args, "c2")
            )
    assert not main.is_error, text(main)
    assert sub.is_error and "SUBAGENT_TOOL_DENY_ALWAYS" in text(sub) and "[gate: session-class]" in text(sub)
    logged = [(d["requester_session"], d["outcome"]) for d in store.decisions if d["tool"] == "sessions_send"]
    assert logged == [("agent:lead:main", "allowed"), ("agent:lead:subagent:0f3c", "denied")]
    assert "_caller" not in json.dumps(gw.calls)  # stripped before anything else saw the arguments


async def test_a_call_without_a_valid_attestation_is_decided_as_the_least_privileged_class() -> None:
    server, _gw, store, binder = host_server()
    async with Client(server) as client:
        with anyio.fail_after(10):
            bare = await client.call_tool("sessions_list", {})
            forged = await client.call_tool("sessions_list", {"_caller": {"sessionKey": "agent:lead:main"}})
    for result in (bare, forged):
        assert result.is_error and "could not verify which session" in text(result)
        assert "sidecar manifest openclaw" in text(result)
    assert binder.unattested == 2
    assert {d["requester_session"] for d in store.decisions} == {"agent:lead:unattested"}


def test_one_writer_per_host_state_dir(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path / "host")
    first = WriterLock(paths)
    first.acquire()
    try:
        assert paths.running_pid() is not None
        with pytest.raises(HostLocked, match="already owns"):
            WriterLock(paths).acquire()
    finally:
        first.release()
    assert paths.running_pid() is None
