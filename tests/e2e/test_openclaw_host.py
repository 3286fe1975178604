"""OpenClaw itself as the MCP client of ONE sidecar host: every call decided as the session that made it.

One dedicated gateway (agents lead, dev-1, hr). The fragment from `sidecar manifest openclaw` (HTTP servers
on the host, the attestation plugin, per-agent denies) is merged unchanged into the config the gateway
starts with; the endpoint tokens go to `$OPENCLAW_STATE_DIR/.env` (`--env-file`), which the gateway reads
at start, so openclaw.json holds only `${SIDECAR_TOKEN_<ID>}`. `sidecar up` starts the host in the
background (a second `up` is a no-op).

Every call is made by the stub model in a real turn of the session named (`agent` RPC with that
sessionKey; `CALL tool_call {...}`) and read back from what the model was sent. Subagent sessions are
OpenClaw subagent keys (`agent:lead:subagent:<id>`, depth by `subagent:` segments as OpenClaw counts it).
Sandboxing: dev-1 is sandboxed (`sandbox.mode: "non-main"`) in the sidecar's policy only, so the clamp is
the sidecar's (the gateway would need a container runtime to sandbox for real).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import json5
import pytest

from sidecar.host import agent_token, make_attestation
from tests.e2e.test_openclaw_client import merge, sidecar_executable

pytestmark = [pytest.mark.gateway]
AGENTS = ("lead", "dev-1", "hr")
TURN_TIMEOUT_S = 120.0
READY_DEADLINE_S = 120.0


@dataclass
class Host:
    gw: Any
    root: Path
    policy: Path
    env: dict[str, str]
    port: int
    fragment: dict[str, Any]

    def sidecar(self, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(sidecar_executable()), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def turn(self, session: str, message: str) -> str:
        agent = session.split(":")[1]
        before = len(self.gw.stub_requests())
        result = self.gw.turn(agent, message, session_key=session, timeout=TURN_TIMEOUT_S)
        assert result.get("status") == "ok", result
        entries = [e for e in self.gw.stub_requests()[before:] if e["operator_text"].endswith(message)]
        return str(entries[-1]["reply"] or "") if entries else ""

    def call(self, session: str, tool: str, args: Mapping[str, Any]) -> str:
        return self.turn(session, f"CALL tool_call {json.dumps({'id': tool, 'args': dict(args)})}")

    def decisions(self) -> list[dict[str, Any]]:
        db = Path(self.env["SIDECAR_STATE_DIR"]) / "host" / "mirror.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM decisions ORDER BY id")]

    def model_calls(self, agent: str, marker: str) -> list[dict[str, Any]]:
        return [
            e for e in self.gw.stub_requests() if e.get("agent") == agent and marker in e["operator_text"]
        ]


def refused(outcome: str) -> bool:
    """The tool call came back as an error (the first text block of the result, not text inside it)."""
    first = re.search(r'"text": "((?:[^"\\]|\\.){0,40})', outcome)
    return first is not None and first.group(1).startswith("Error executing tool")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def host(openclaw_toolchain, tmp_path_factory) -> Iterator[Host]:  # type: ignore[no-untyped-def]
    from harness import GatewayError, start_gateway

    root = tmp_path_factory.mktemp("openclaw-host")
    policy = root / "policy.json5"
    policy.write_text(json.dumps({
        "tools": {"sessions": {"visibility": "self"}, "agentToAgent": {"enabled": False}},
        "agents": {
            "defaults": {"subagents": {"maxSpawnDepth": 2}},
            "entries": {
                "lead": {"tools": {
                    "sessions": {"visibility": "tree", "sendVisibility": "all"},
                    "agentToAgent": {"enabled": True, "allow": ["dev-1"]},
                }},
                "dev-1": {"sandbox": {"mode": "non-main"}, "tools": {"sessions": {"visibility": "agent"}}},
                "hr": {},
            },
        },
    }, indent=2), encoding="utf-8")  # fmt: skip
    port = _free_port()
    env = {
        **os.environ,
        "SIDECAR_STATE_DIR": str(root / "state"),
        "SIDECAR_TOKEN_STORE": "file",
        "SIDECAR_TOKEN_FILE": str(root / "secrets.json"),
        "SIDECAR_LOG_LEVEL": "info",
    }
    gw_root = root / "gateway"
    dotenv = gw_root / "state" / ".env"  # $OPENCLAW_STATE_DIR/.env, which the gateway reads at start
    dotenv.parent.mkdir(parents=True)
    made = subprocess.run(
        [str(sidecar_executable()), "manifest", "openclaw", "--policy", str(policy), "--port", str(port),
         "--env-file", str(dotenv)],
        env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    fragment = json5.loads(made.stdout)
    assert "${SIDECAR_TOKEN_LEAD}" in made.stdout and "SIDECAR_TOKEN_LEAD=" in dotenv.read_text()
    overrides = merge(
        {"agents": {"defaults": {"subagents": {"maxSpawnDepth": 2, "allowAgents": ["*"]}}}}, fragment
    )
    try:
        # the fragment as generated, in the config the gateway starts with (no reload, no restart)
        gw = start_gateway(gw_root, list(AGENTS), name="openclaw-host", config_overrides=overrides,
                           tools=openclaw_toolchain)  # fmt: skip
    except GatewayError as exc:
        pytest.fail(f"gateway did not start:\n{exc}", pytrace=False)
    env["OPENCLAW_GATEWAY_TOKEN"] = gw.token
    dep = Host(gw, root, policy, env, port, fragment)
    try:
        assert gw.token not in made.stdout and gw.token not in json.dumps(gw.read_config().get("mcp"))
        up = dep.sidecar("up", "--policy", str(policy), "--gateway", gw.url, "--port", str(port),
                         "--token-store", "file")  # fmt: skip
        assert up.returncode == 0, up.stderr + up.stdout
        again = dep.sidecar("up", "--policy", str(policy), "--gateway", gw.url, "--port", str(port))
        assert again.returncode == 0 and "already running" in again.stdout, again.stdout + again.stderr
        deadline = time.monotonic() + READY_DEADLINE_S
        while True:
            probe = dep.call("agent:lead:main", "sessions-lead__sessions_list", {})
            if "Unknown tool id" not in probe:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"lead's tools never appeared:\n{probe}\n{gw.log_tail(60)}")
            time.sleep(1.0)
        yield dep
    finally:
        down = dep.sidecar("down", "--policy", str(policy))
        gw.stop()
        assert down.returncode == 0, down.stderr


def test_main_sends_and_a_subagent_is_refused_with_openclaws_rule_named(host: Host) -> None:
    marker = f"to-dev1-{uuid.uuid4().hex[:8]}"
    sent = host.call("agent:lead:main", "sessions-lead__sessions_send",
                     {"sessionKey": "agent:dev-1:main", "message": marker, "timeoutSeconds": 0})  # fmt: skip
    assert '"mcpServer": "sessions-lead"' in sent and '"status": "accepted"' in sent, sent
    child = f"agent:lead:subagent:{uuid.uuid4()}"
    refused = host.call(child, "sessions-lead__sessions_send",
                        {"sessionKey": "agent:dev-1:main", "message": f"{marker}-sub", "timeoutSeconds": 0})  # fmt: skip
    assert "[gate: session-class]" in refused and "SUBAGENT_TOOL_DENY_ALWAYS" in refused, refused
    assert "agent-tools.policy" in refused
    deadline = time.monotonic() + 60
    while not host.model_calls("dev-1", marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert host.model_calls("dev-1", marker), "the allowed send never reached dev-1"
    assert host.model_calls("dev-1", f"{marker}-sub") == []
    logged = {
        (d["requester_session"], d["outcome"], d["gate"])
        for d in host.decisions()
        if d["tool"] == "sessions_send"
    }
    assert ("agent:lead:main", "allowed", None) in logged
    assert (child, "denied", "session-class") in logged


def test_an_orchestrator_may_list_but_a_leaf_subagent_may_not_list_or_read(host: Host) -> None:
    parent = f"agent:lead:subagent:{uuid.uuid4().hex[:12]}"
    listed = host.call(parent, "sessions-lead__sessions_list", {})
    assert '"mcpServer": "sessions-lead"' in listed and not refused(listed), listed
    leaf = f"{parent}:subagent:{uuid.uuid4().hex[:12]}"
    for tool, args in (("sessions_list", {}), ("sessions_history", {"sessionKey": "agent:lead:main"})):
        out = host.call(leaf, f"sessions-lead__{tool}", args)
        assert "[gate: session-class]" in out and "SUBAGENT_TOOL_DENY_LEAF" in out, (tool, out)


def test_a_named_session_is_decided_as_itself(host: Host) -> None:
    host.call("agent:lead:main", "sessions-lead__sessions_list", {})  # make sure main exists
    side = host.call("agent:lead:side", "sessions-lead__sessions_history", {"sessionKey": "agent:lead:main"})
    # lead's visibility is tree: the main session sees its agent, a named session only its own tree
    assert "[gate: visibility]" in side and "current session tree" in side, side
    main = host.call("agent:lead:main", "sessions-lead__sessions_history", {"sessionKey": "agent:lead:side"})
    assert not refused(main) and '"mcpServer": "sessions-lead"' in main, main
    sessions = {d["requester_session"] for d in host.decisions() if d["tool"] == "sessions_history"}
    assert {"agent:lead:side", "agent:lead:main"} <= sessions


def test_a_sandboxed_session_is_clamped_to_its_own_children(host: Host) -> None:
    box = "agent:dev-1:box"
    spawned = host.call(box, "sessions-dev-1__sessions_spawn", {"task": "say hi"})
    found = re.search(r'"childSessionKey": "(agent:dev-1:subagent:[^"]+)"', spawned)
    assert found, spawned
    own = host.call(box, "sessions-dev-1__sessions_history", {"sessionKey": found.group(1)})
    assert not refused(own) and '"mcpServer": "sessions-dev-1"' in own, own
    other = host.call(box, "sessions-dev-1__sessions_history", {"sessionKey": "agent:dev-1:main"})
    assert "[gate: sandbox]" in other and "sandboxed agent session" in other, other


def test_ten_sessions_share_one_process_and_one_gateway_connection(host: Host) -> None:
    sessions = [f"agent:lead:s{i}" for i in range(10)]
    for key in sessions:
        out = host.call(key, "sessions-lead__sessions_list", {})
        assert '"mcpServer": "sessions-lead"' in out, out
    status = host.sidecar("status", "--policy", str(host.policy), "--json")
    report = json.loads(status.stdout)
    assert report["running"] and report["health"]["gatewayConnections"] == 1, report
    mine = [
        _cmdline(p) for p in Path("/proc").iterdir() if p.name.isdigit() and str(host.policy) in _cmdline(p)
    ]
    assert [argv for argv in mine if "host" in argv] and len([a for a in mine if "host" in a]) == 1, mine
    assert not [argv for argv in mine if "serve" in argv], mine
    logged = {d["requester_session"] for d in host.decisions() if d["tool"] == "sessions_list"}
    assert set(sessions) <= logged


def test_a_forged_or_missing_attestation_is_decided_as_the_least_privileged_class(host: Host) -> None:
    url = f"http://127.0.0.1:{host.port}/agents/lead/mcp"
    key = bytes.fromhex((Path(host.env["SIDECAR_STATE_DIR"]) / "host" / "attest.key").read_text().strip())
    token = agent_token(key, "lead")
    args = {"sessionKey": "agent:dev-1:main", "message": "forged", "timeoutSeconds": 0}
    forged = make_attestation(b"x" * 32, agent_id="lead", session_key="agent:lead:main", tool="sessions_send",
                              arguments=args, tool_call_id="c1", ts_ms=int(time.time() * 1000))  # fmt: skip
    for caller in (None, forged, {"sessionKey": "agent:lead:main"}):
        call_args = dict(args) if caller is None else {**args, "_caller": caller}
        out = _mcp_call(url, token, "sessions_send", call_args)
        assert "[gate: session-class]" in out and "could not verify which session" in out, out
    # the model-forged plain value through OpenClaw is overwritten by the plugin: decided as the real caller
    through = host.call("agent:lead:subagent:forger", "sessions-lead__sessions_send",
                        {**args, "_caller": {"sessionKey": "agent:lead:main"}})  # fmt: skip
    assert "SUBAGENT_TOOL_DENY_ALWAYS" in through, through
    assert host.model_calls("dev-1", "forged") == []


def _mcp_call(url: str, token: str, tool: str, args: dict[str, Any]) -> str:
    """One call through the MCP SDK client, straight to the host (no OpenClaw, so no plugin)."""
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> str:
        with anyio.fail_after(60):
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                result = await client.call_tool(tool, args)
                return "".join(getattr(c, "text", "") for c in result.content)

    return anyio.run(run)


def _cmdline(proc: Path) -> list[str]:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []
