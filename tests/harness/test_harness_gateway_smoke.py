"""Smoke tests against ONE real OpenClaw gateway (session fixture ``openclaw_gateway``)."""

from __future__ import annotations

import json
import os
import stat
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from harness import Gateway
from websockets.sync.client import connect

pytestmark = pytest.mark.gateway

SELF_VISIBILITY_ERROR = (
    "Session history visibility is restricted. Set tools.sessions.visibility=all to allow cross-agent access; "
    "use tools.agentToAgent to restrict permitted agent pairs."
)


def test_readyz_reports_ready_without_failing_checks(openclaw_gateway: Gateway) -> None:
    with urllib.request.urlopen(f"{openclaw_gateway.http_url}/readyz", timeout=10) as resp:
        payload = json.loads(resp.read())
    assert resp.status == 200
    assert payload["ready"] is True
    assert payload["failing"] == []


def test_info_json_records_the_gateway_and_is_private(openclaw_gateway: Gateway) -> None:
    info = json.loads(openclaw_gateway.info_path.read_text())
    assert stat.S_IMODE(os.stat(openclaw_gateway.info_path).st_mode) == 0o600
    assert info["url"] == openclaw_gateway.url
    assert info["token"] == openclaw_gateway.token
    assert info["pids"]["gateway"] and info["pids"]["stub"]
    assert info["config_path"] == str(openclaw_gateway.config_path)


def test_raw_websocket_token_connect_speaks_protocol_4_and_lists_sessions(openclaw_gateway: Gateway) -> None:
    with connect(openclaw_gateway.url, open_timeout=10, max_size=None) as ws:
        challenge = json.loads(ws.recv(timeout=10))
        assert challenge["type"] == "event" and challenge["event"] == "connect.challenge"
        connect_id = str(uuid.uuid4())
        params = {
            "minProtocol": 4,
            "maxProtocol": 4,
            "client": {"id": "gateway-client", "version": "0.0.1", "platform": "linux", "mode": "backend"},
            "role": "operator",
            "scopes": ["operator.read", "operator.write"],
            "auth": {"token": openclaw_gateway.token},
        }
        ws.send(json.dumps({"type": "req", "id": connect_id, "method": "connect", "params": params}))
        hello = _response(ws, connect_id)
        assert hello["ok"] is True, hello
        assert hello["payload"]["type"] == "hello-ok"
        assert hello["payload"]["protocol"] == 4
        assert "sessions.list" in hello["payload"]["features"]["methods"]

        list_id = str(uuid.uuid4())
        ws.send(json.dumps({"type": "req", "id": list_id, "method": "sessions.list", "params": {}}))
        listed = _response(ws, list_id)
        assert listed["ok"] is True, listed
        keys = {row["key"] for row in listed["payload"]["sessions"]}
        assert "agent:main:main" in keys  # the fixture's warm-up turn


def _response(ws: Any, req_id: str) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.recv(timeout=30))
        if frame.get("type") == "res" and frame.get("id") == req_id:
            result: dict[str, Any] = frame
            return result


def test_agent_turn_with_agent_wait_returns_the_stub_echo(openclaw_gateway: Gateway) -> None:
    before = len(openclaw_gateway.stub_requests())
    result = openclaw_gateway.turn("dev-3", "smoke hello")
    assert result["status"] == "ok"
    assert result["terminalReply"]["text"] == "echo: smoke hello"
    calls = openclaw_gateway.stub_requests()[before:]
    assert [(c["rule"], c["session"]) for c in calls] == [("echo", "agent:dev-3:main")]


def test_tools_invoke_reports_forbidden_history_under_self_visibility(openclaw_gateway: Gateway) -> None:
    gw = openclaw_gateway
    args = {"sessionKey": "agent:main:main", "limit": 1}
    allowed = gw.invoke_tool("sessions_history", args, "agent:dev-3:main")
    assert allowed["ok"] is True and allowed["result"]["details"].get("status") != "forbidden"

    gw.patch_config(lambda c: c["tools"]["sessions"].__setitem__("visibility", "self"))
    try:
        denied = gw.invoke_tool("sessions_history", args, "agent:dev-3:main")
    finally:
        gw.patch_config(lambda c: c["tools"]["sessions"].__setitem__("visibility", "all"))
    assert denied["ok"] is True  # a policy denial is HTTP 200, not an RPC error
    assert denied["result"]["details"] == {"status": "forbidden", "error": SELF_VISIBILITY_ERROR}


def test_sessions_send_is_reachable_over_tools_invoke(openclaw_gateway: Gateway) -> None:
    status, body = openclaw_gateway.invoke_tool_http(
        "sessions_send",
        {"sessionKey": "agent:ghost:main", "message": "x", "timeoutSeconds": 0},
        "agent:main:main",
    )
    assert status == 200, body  # gateway.tools.allow opened it (404 "Tool not available" otherwise)
    assert body["result"]["details"]["status"] == "forbidden"  # ghost is not in agentToAgent.allow


def test_the_real_openclaw_cli_talks_to_the_gateway_through_env(openclaw_gateway: Gateway) -> None:
    proc = openclaw_gateway.openclaw("gateway", "call", "sessions.list", "--params", "{}", "--json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert "agent:main:main" in {row["key"] for row in payload["sessions"]}


def test_the_real_openclaw_cli_works_from_a_separate_env_with_url_and_token(
    openclaw_gateway: Gateway,
) -> None:
    gw = openclaw_gateway
    proc = gw.openclaw(
        "gateway", "call", "agents.list", "--url", gw.url, "--token", gw.token, "--params", "{}", "--json",
        env=gw.cli_env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert {agent["id"] for agent in payload["agents"]} >= {"main", "manager", "dev-5", "raul"}


def test_a_second_named_gateway_is_isolated_and_survives_kill_and_restart(
    openclaw_gateway: Gateway, gateway_factory: Callable[..., Gateway]
) -> None:
    home_calls = len(openclaw_gateway.stub_requests())
    peer = gateway_factory("peer", agents=["main", "scout"])
    assert (peer.url, peer.token, peer.root) != (
        openclaw_gateway.url,
        openclaw_gateway.token,
        openclaw_gateway.root,
    )

    assert peer.turn("scout", "hello peer")["terminalReply"]["text"] == "echo: hello peer"
    assert [c["session"] for c in peer.stub_requests()] == ["agent:scout:main"]
    assert len(openclaw_gateway.stub_requests()) == home_calls

    peer.kill()
    assert not peer.is_running()
    peer.restart()
    assert peer.is_running()
    with peer.rpc() as client:
        sessions = client.request("sessions.list", {})["sessions"]
    assert {row["key"] for row in sessions} == {"agent:scout:main"}  # state kept, nothing from home
