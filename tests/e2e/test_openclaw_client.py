"""OpenClaw itself as the MCP client: the fragment from `sidecar manifest openclaw`, merged into a real
gateway's openclaw.json, gives each agent its own sidecar and no way around it.

One dedicated gateway (agents lead, dev-1, hr, main). The policy scopes lead to dev-1 and governs lead,
dev-1 and hr; `main` is deliberately left out of it and serves as the control: it has no deny, so it shows
that what lead is refused exists and works, and that it is the fragment's deny that refuses it. Every
call is made by the stub model in a real turn (`CALL tool_call {"id": ..., "args": ...}`: OpenClaw 2026.9.6
defers MCP and session tools behind its tool_search/tool_call surface) and read back from what the model
was sent (`gw.stub_requests()`) and from chat.history.

What the test adds to the generated fragment, and why: each `mcp.servers.sessions-<id>` entry gets an
`env` block. OpenClaw starts a stdio MCP server with only the MCP SDK's default variables (HOME, LOGNAME,
PATH, SHELL, TERM, USER) plus that block, so nothing of the gateway's own environment reaches the sidecar.
Here the block selects a file token store per agent and a state dir, and hands over the gateway's shared
token by OpenClaw's `${OPENCLAW_GATEWAY_TOKEN}` config substitution (resolved from the gateway process's
environment; no literal token in openclaw.json). None of these names is caught by OpenClaw's stdio env
safety filter. The fragment itself is used unchanged.

The same mechanism is why the fragment as generated (no `env`, and its header says to pair with the default
OS keyring) does not start on Linux: DBUS_SESSION_BUS_ADDRESS never reaches the sidecar, the keyring falls
back to its fail backend, `sidecar serve` exits and OpenClaw logs `failed to start server "sessions-<id>"`.
`test_the_generated_fragment_is_what_the_gateway_runs` pins the environment OpenClaw passes.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import json5
import pytest

from sidecar.deploy import BUILTIN_SESSION_TOOLS, SIDECAR_TOOLS

pytestmark = [pytest.mark.gateway]
AGENTS = ("lead", "dev-1", "hr", "main")
GOVERNED = ("lead", "dev-1", "hr")
READY_DEADLINE_S = 120.0
TURN_TIMEOUT_S = 120.0
# What OpenClaw's stdio transport passes besides the server's `env` (MCP SDK getDefaultEnvironment), and
# PWD, which the spawn helper sets for the child's working directory.
DEFAULT_CHILD_ENV = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "PWD"}


def sidecar_executable() -> Path:
    """This venv's console script (`.venv/bin/sidecar`), absolute and unresolved."""
    path = Path(sys.executable).absolute().with_name("sidecar")
    assert path.is_file(), f"no sidecar console script beside {sys.executable}"
    return path


def server_env(root: Path, agent: str) -> dict[str, str]:
    """What `sidecar serve` needs here, for one agent's server entry (see the module docstring)."""
    return {
        "SIDECAR_STATE_DIR": str(root / "state"),
        "SIDECAR_TOKEN_STORE": "file",
        # one file per agent: FileSecretStore's read-modify-write is not locked across processes
        "SIDECAR_TOKEN_FILE": str(root / "secrets" / f"{agent}.json"),
        "OPENCLAW_GATEWAY_TOKEN": "${OPENCLAW_GATEWAY_TOKEN}",
        "SIDECAR_LOG_LEVEL": "info",
    }


def merge(base: dict[str, Any], fragment: Mapping[str, Any]) -> dict[str, Any]:
    """The fragment merged the way its header says: objects merge, a tools.deny list is extended."""
    out = copy.deepcopy(base)
    for key, value in fragment.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif key == "deny" and isinstance(out.get(key), list):
            out[key] = [*out[key], *(v for v in value if v not in out[key])]
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class Turn:
    """One real turn: what the stub model decided for the turn's own message, in order."""

    agent: str
    message: str
    entries: list[dict[str, Any]]

    @property
    def call(self) -> dict[str, Any] | None:
        return next((e for e in self.entries if e["rule"] == "call"), None)

    @property
    def outcome(self) -> str:
        """The model's last reply: `tool-result: ...` or `call-error: ...`."""
        return str(self.entries[-1]["reply"] or "") if self.entries else ""


@dataclass
class Deployment:
    gw: Any
    root: Path
    policy: Path
    fragment: dict[str, Any]

    def turn(self, agent: str, message: str) -> Turn:
        before = len(self.gw.stub_requests())
        result = self.gw.turn(agent, message, timeout=TURN_TIMEOUT_S)
        assert result.get("status") == "ok", result
        # this turn's own model calls (not the target's turn, nor OpenClaw's agent-to-agent reply steps)
        entries = [
            e
            for e in self.gw.stub_requests()[before:]
            if e.get("agent") == agent and e["operator_text"] == message
        ]
        return Turn(agent, message, entries)

    def call(self, agent: str, tool: str, args: Mapping[str, Any]) -> Turn:
        """The model calls `tool` through OpenClaw's tool_call (how deferred and MCP tools are reached)."""
        return self.turn(agent, f"CALL tool_call {json.dumps({'id': tool, 'args': dict(args)})}")

    def direct(self, agent: str, tool: str, args: Mapping[str, Any]) -> Turn:
        """The model calls `tool` as a top-level tool (works only if OpenClaw offers it directly)."""
        return self.turn(agent, f"CALL {tool} {json.dumps(dict(args))}")

    def search(self, agent: str, query: str) -> set[str]:
        """The tool names OpenClaw's tool_search shows `agent` for `query`."""
        found = self.turn(agent, f"CALL tool_search {json.dumps({'query': query, 'limit': 50})}")
        assert found.outcome.startswith("tool-result:"), found.outcome
        return set(re.findall(r'"name": "([^"]+)"', found.outcome))

    def history(self, key: str) -> list[dict[str, Any]]:
        with self.gw.rpc() as rpc:
            payload = rpc.request("chat.history", {"sessionKey": key, "limit": 200})
        return list(payload.get("messages", []))

    def model_calls(self, agent: str, marker: str) -> list[dict[str, Any]]:
        return [
            e for e in self.gw.stub_requests() if e.get("agent") == agent and marker in e["operator_text"]
        ]


def unknown_tool(turn: Turn, tool: str) -> bool:
    """OpenClaw's tool_call refused `tool` as not in this agent's catalog."""
    return turn.outcome.startswith("tool-result:") and f"Unknown tool id: {tool}." in turn.outcome


def not_offered(turn: Turn, tool: str) -> bool:
    """The stub could not call `tool`: OpenClaw did not offer it to the model."""
    return [e["rule"] for e in turn.entries] == ["call-unavailable"] and turn.outcome.startswith(
        f"call-error: tool {tool} is not offered"
    )


def message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(
        b.get("text", "") if isinstance(b.get("text"), str) else json.dumps(b)
        for b in content or []
        if isinstance(b, dict)
    )


def sidecar_processes(policy: Path) -> dict[str, dict[str, str]]:
    """agent -> environment of each live `sidecar serve` started with this policy (by the gateway)."""
    out: dict[str, dict[str, str]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if "serve" not in argv or str(policy) not in argv:
                continue
            raw = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        env = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
        out[argv[argv.index("--agent") + 1]] = env
    return out


@pytest.fixture(scope="module")
def deployment(gateway_factory, tmp_path_factory) -> Iterator[Deployment]:  # type: ignore[no-untyped-def]
    gw = gateway_factory("openclaw-client", agents=AGENTS)
    root = tmp_path_factory.mktemp("openclaw-client")
    policy = root / "policy.json5"
    policy.write_text(json.dumps({
        "gateway": {"url": gw.url},
        "tools": {"sessions": {"visibility": "self"}, "agentToAgent": {"enabled": False}},
        "agents": {"entries": {
            "lead": {"tools": {
                "sessions": {"visibility": "scoped", "visibleAgents": ["dev-1"]},
                "agentToAgent": {"enabled": True, "allow": ["dev-1"]},
            }},
            "dev-1": {},
            "hr": {},
        }},
    }, indent=2), encoding="utf-8")  # fmt: skip
    generated = subprocess.run(
        [str(sidecar_executable()), "manifest", "openclaw", "--via", "stdio", "--policy", str(policy),
         "--sidecar", str(sidecar_executable()), "--gateway", gw.url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    fragment = json5.loads(generated.stdout)
    assert sorted(fragment["mcp"]["servers"]) == sorted(f"sessions-{a}" for a in GOVERNED)
    assert sorted(fragment["agents"]["entries"]) == sorted(GOVERNED)
    deployed = copy.deepcopy(fragment)
    for name, server in deployed["mcp"]["servers"].items():
        server["env"] = {**server.get("env", {}), **server_env(root, name.removeprefix("sessions-"))}
    # patch_config raises if the gateway rejects the merged config (`config reload skipped (invalid config)`)
    gw.patch_config(lambda config: config.update(merge(config, deployed)))
    dep = Deployment(gw, root, policy, fragment)
    # OpenClaw starts the sidecar when lead's run first needs its tools: poll until they are there.
    deadline = time.monotonic() + READY_DEADLINE_S
    while True:
        probe = dep.call("lead", "sessions-lead__sessions_list", {})
        if not unknown_tool(probe, "sessions-lead__sessions_list"):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"lead's sidecar never appeared in its catalog:\n{probe.outcome}\n{gw.log_tail(60)}")
        time.sleep(1.0)
    try:
        yield dep
    finally:
        gw.stop()  # with the sidecars it started; now rather than at the end of the run (memory)


def test_the_generated_fragment_is_what_the_gateway_runs(deployment) -> None:  # type: ignore[no-untyped-def]
    config = deployment.gw.read_config()
    for agent in GOVERNED:
        server = config["mcp"]["servers"][f"sessions-{agent}"]
        want = deployment.fragment["mcp"]["servers"][f"sessions-{agent}"]
        assert {k: v for k, v in server.items() if k != "env"} == {
            k: v for k, v in want.items() if k != "env"
        }
        assert want["env"].items() <= server["env"].items()  # the generated bus address is kept
        assert server["command"] == str(sidecar_executable())
        deny = deployment.fragment["agents"]["entries"][agent]["tools"]["deny"]
        assert config["agents"]["entries"][agent]["tools"]["deny"] == deny
    assert "tools" not in config["agents"]["entries"]["main"]  # the control agent: no deny at all
    # The sidecar OpenClaw started for lead got the env block (token substituted from the gateway's own
    # environment) and, of the gateway's environment, nothing but the MCP SDK's defaults.
    running = sidecar_processes(deployment.policy)
    assert "lead" in running, sorted(running)
    lead = running["lead"]
    assert lead["OPENCLAW_GATEWAY_TOKEN"] == deployment.gw.token
    assert lead["SIDECAR_TOKEN_FILE"] == str(deployment.root / "secrets" / "lead.json")
    assert (
        set(lead) - set(server_env(deployment.root, "lead")) - {"DBUS_SESSION_BUS_ADDRESS"}
        <= DEFAULT_CHILD_ENV
    )
    for inherited in ("XDG_DATA_HOME", "OPENCLAW_STATE_DIR", "TMPDIR"):
        assert inherited in deployment.gw.process_env and inherited not in lead, inherited


def test_lead_calls_its_own_sidecar_and_gets_real_results(deployment) -> None:  # type: ignore[no-untyped-def]
    marker = f"lead-to-dev1-{uuid.uuid4().hex[:8]}"
    sent = deployment.call("lead", "sessions-lead__sessions_send",
                           {"sessionKey": "agent:dev-1:main", "message": marker})  # fmt: skip
    listed = deployment.call("lead", "sessions-lead__sessions_list", {})
    refused = deployment.call("lead", "sessions-lead__sessions_send",
                              {"sessionKey": "agent:hr:main", "message": f"{marker}-hr"})  # fmt: skip

    # (a) the call went out through lead's own sidecar and came back with dev-1's real reply
    assert (
        sent.call is not None and json.loads(sent.call["arguments"])["id"] == "sessions-lead__sessions_send"
    )
    assert sent.outcome.startswith("tool-result:"), sent.outcome
    assert '"mcpServer": "sessions-lead"' in sent.outcome and '"mcpTool": "sessions_send"' in sent.outcome
    assert '"status": "ok"' in sent.outcome and f"echo: {marker}" in sent.outcome
    assert [e["rule"] for e in deployment.model_calls("dev-1", marker)].count("echo") == 1
    dev1 = [message_text(m) for m in deployment.history("agent:dev-1:main")]
    assert any(marker in t and not t.startswith("echo:") for t in dev1)
    assert any(f"echo: {marker}" in t for t in dev1)
    # lead's own transcript holds the tool result it was given
    lead = [message_text(m) for m in deployment.history("agent:lead:main")]
    assert any("sessions-lead__sessions_send" in t and f"echo: {marker}" in t for t in lead)

    # sessions_list: lead's scope (itself and dev-1), from the real gateway
    assert '"mcpServer": "sessions-lead"' in listed.outcome
    assert '"mode": "scoped"' in listed.outcome
    keys = set(re.findall(r'"key": "(agent:[^"]+)"', listed.outcome))
    assert {"agent:lead:main", "agent:dev-1:main"} <= keys
    assert all(k.split(":")[1] in ("lead", "dev-1") for k in keys), keys

    # the sidecar's own policy still decides: hr is outside lead's scope, refused with the gate and the fix
    assert '"mcpServer": "sessions-lead"' in refused.outcome and "[gate: visibility]" in refused.outcome
    assert "Fix:" in refused.outcome
    assert deployment.model_calls("hr", f"{marker}-hr") == []


def test_lead_cannot_reach_openclaws_built_in_session_tools(deployment) -> None:  # type: ignore[no-untyped-def]
    marker = f"builtin-{uuid.uuid4().hex[:8]}"
    args = {"sessionKey": "agent:hr:main", "message": marker}
    for tool in BUILTIN_SESSION_TOOLS:
        via_catalog = deployment.call("lead", tool, args)
        assert unknown_tool(via_catalog, tool), f"{tool}: {via_catalog.outcome}"
        top_level = deployment.direct("lead", tool, args)
        assert not_offered(top_level, tool), f"{tool}: {top_level.outcome}"
    assert not {*BUILTIN_SESSION_TOOLS} & deployment.search("lead", "sessions send list history spawn status")
    assert deployment.model_calls("hr", marker) == []
    assert not any(marker in message_text(m) for m in deployment.history("agent:hr:main"))

    # Control: main has no deny, and the very same call reaches hr through the built-in tool.
    control = deployment.call(
        "main", "sessions_send", {"sessionKey": "agent:hr:main", "message": f"{marker}-main"}
    )
    assert '"name": "sessions_send"' in control.outcome and '"source": "openclaw"' in control.outcome
    assert "echo" in [e["rule"] for e in deployment.model_calls("hr", f"{marker}-main")]


def test_lead_cannot_call_another_agents_sidecar(deployment) -> None:  # type: ignore[no-untyped-def]
    marker = f"borrowed-{uuid.uuid4().hex[:8]}"
    for other in ("hr", "dev-1"):
        for tool in SIDECAR_TOOLS:
            name = f"sessions-{other}__{tool}"
            args = {"sessionKey": "agent:dev-1:main", "message": marker} if tool == "sessions_send" else {}
            via_catalog = deployment.call("lead", name, args)
            assert unknown_tool(via_catalog, name), f"{name}: {via_catalog.outcome}"
            top_level = deployment.direct("lead", name, args)
            assert not_offered(top_level, name), f"{name}: {top_level.outcome}"
    seen = deployment.search("lead", "sessions list history send spawn")
    assert {f"sessions-lead__{t}" for t in SIDECAR_TOOLS} & seen
    assert not {n for n in seen if n.startswith(("sessions-hr__", "sessions-dev-1__"))}, seen
    assert deployment.model_calls("dev-1", marker) == []

    # Control: main (no deny) finds hr's sidecar with the same search and can call it, acting as hr.
    control_seen = deployment.search("main", "sessions list history send spawn")
    assert {n for n in control_seen if n.startswith("sessions-hr__")}, control_seen
    control = deployment.call("main", "sessions-hr__sessions_list", {})
    assert '"mcpServer": "sessions-hr"' in control.outcome and '"mode": "self"' in control.outcome
