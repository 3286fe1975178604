"""Client manifests: the shipped files parse and are exactly what `sidecar manifest` generates; every
client gets its own shape with absolute paths; the OpenClaw fragment leaves each agent its own sidecar
and nothing else; the audit flags a deployment that lacks those denies; the real OpenClaw accepts it."""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import json5
import pytest

from sidecar import deploy as m
from sidecar.cli._manifest import register
from sidecar.config import load_policy
from sidecar.deploy._audit import sidecar_agent
from sidecar.deploy._manifests import Launch
from sidecar.deploy._naming import glob_matches
from sidecar.policy import Policy

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
HIERARCHY_POLICY = MANIFESTS / "openclaw" / "hierarchy.json5"
OPENCLAW = ROOT / ".cache" / "bin" / "openclaw"
OPENCLAW_PACKAGE = ROOT / ".cache" / "openclaw" / "node_modules" / "openclaw"
# What the shipped examples assume: the console script installed (or linked) at /usr/local/bin and the
# hierarchy policy copied to /etc. `sidecar manifest` writes the real paths of the machine it runs on.
SHIPPED_SIDECAR = "/usr/local/bin/sidecar"
SHIPPED_POLICY = "/etc/openclaw-sessions-sidecar/hierarchy.json5"
SHIPPED_AGENT = "lead"
CLIENT_FILES: dict[m.Client, str] = {
    "claude-desktop": "claude_desktop_config.json",
    "claude-code": "claude-code.mcp.json",
    "cursor": "cursor.mcp.json",
    "vscode": "vscode.mcp.json",
    "codex": "codex.config.toml",
}
HIERARCHY = ["manager", "lead", "dev-1", "dev-2", "dev-3", "dev-4", "dev-5", "hr", "finance", "research"]


# -- helpers --------------------------------------------------------------------------------------


def hierarchy() -> Policy:
    return load_policy(str(HIERARCHY_POLICY))


def launches(policy: Policy, sidecar: str = SHIPPED_SIDECAR, path: str = SHIPPED_POLICY) -> dict[str, Launch]:
    return {a: m.launch_for(a, path, (sidecar,), m.DEFAULT_GATEWAY) for a in policy.agent_ids}


def shipped() -> dict[str, str]:
    """Every generated file under manifests/, keyed by its path there."""
    policy = hierarchy()
    out = {
        "openclaw/mcp-servers.json5": m.render(
            "openclaw", m.openclaw_fragment(policy, launches(policy)), m.openclaw_header(SHIPPED_POLICY)
        )
    }
    launch = launches(policy)[SHIPPED_AGENT]
    for client, name in CLIENT_FILES.items():
        config = m.client_config(client, launch, m.server_name(SHIPPED_AGENT))
        header = m.codex_header(SHIPPED_AGENT) if client == "codex" else ()
        out[name] = m.render(client, config, header)
    return out


def write_shipped() -> None:
    """Regenerate the files under manifests/ (python -c 'import tests.deploy.test_manifests as t; t.write_shipped()')."""
    for name, text in shipped().items():
        (MANIFESTS / name).write_text(text, encoding="utf-8")


def parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        return tomllib.loads(text)
    if path.suffix == ".json5":
        return json5.loads(text)
    return json.loads(text)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="sidecar")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["manifest", *argv])
    code: int = args.handler(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def merged(base: Mapping[str, Any], fragment: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in fragment.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def base_config(agents: list[str]) -> dict[str, Any]:
    """A minimal valid openclaw.json for a fleet: local gateway, an explicit multi-agent roster."""
    return {
        "gateway": {"mode": "local", "bind": "loopback", "auth": {"mode": "token", "token": "dev-token"}},
        "agents": {"ownership": "explicit", "entries": {a: {"name": a} for a in agents}},
    }


def deny_of(config: Mapping[str, Any], agent: str) -> list[str]:
    return list(config["agents"]["entries"][agent]["tools"]["deny"])


def reachable(config: Mapping[str, Any], agent: str, tool: str) -> bool:
    entry = config["agents"]["entries"].get(agent, {})
    denies = [*config.get("tools", {}).get("deny", []), *entry.get("tools", {}).get("deny", [])]
    return not any(glob_matches(p, tool) for p in denies)


# -- the files under manifests/ -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted(p for p in MANIFESTS.rglob("*") if p.suffix in (".json", ".json5", ".toml")),
    ids=lambda p: str(p.relative_to(MANIFESTS)),
)
def test_every_file_in_manifests_parses(path: Path) -> None:
    assert isinstance(parse(path), dict)


def test_every_manifest_says_where_it_goes() -> None:
    readme = (MANIFESTS / "README.md").read_text(encoding="utf-8")
    for path in MANIFESTS.rglob("*"):
        if path.is_file() and path.suffix != ".md" and "policies" not in path.parts:
            name = str(path.relative_to(MANIFESTS))
            assert f"`{name}`" in readme, f"manifests/README.md does not say where {name} goes"


@pytest.mark.parametrize("name", sorted(shipped()))
def test_the_shipped_manifest_is_what_sidecar_manifest_generates(name: str) -> None:
    assert (MANIFESTS / name).read_text(encoding="utf-8") == shipped()[name], (
        f"manifests/{name} is stale; regenerate with: "
        ".venv/bin/python -c 'import tests.deploy.test_manifests as t; t.write_shipped()'"
    )


def test_the_hierarchy_policy_next_to_the_fragment_is_the_scenarios_policy() -> None:
    scenario = json.loads((ROOT / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    assert parse(HIERARCHY_POLICY) == scenario["policy"]
    assert list(hierarchy().agent_ids) == HIERARCHY


def test_server_json_follows_the_mcp_registry_rules() -> None:
    server = parse(MANIFESTS / "server.json")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    readme_name = re.search(r"<!-- mcp-name: (\S+) -->", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert server["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", server["name"])
    assert server["name"].count("/") == 1
    assert readme_name is not None and server["name"] == readme_name.group(1)
    assert 1 <= len(server["description"]) <= 100
    assert server["version"] == version == "0.1.0"
    assert not re.search(r"[\^~<>=*x]|latest", server["version"])
    (package,) = server["packages"]
    assert package["registryType"] == "pypi"
    assert package["identifier"] == "openclaw-sessions-sidecar"
    assert package["version"] == version
    assert package["transport"] == {"type": "stdio"}
    arguments = package["packageArguments"]
    assert arguments[0] == {"type": "positional", "value": "serve", "valueHint": "command"}
    named = {a["name"]: a for a in arguments if a["type"] == "named"}
    assert named["--agent"]["isRequired"] and named["--policy"]["isRequired"]
    assert named["--policy"]["format"] == "filepath"
    for argument in arguments:
        assert argument["type"] in ("positional", "named")
        assert argument["type"] == "named" or "value" in argument or "valueHint" in argument
    allowed = {"registryType", "identifier", "version", "runtimeHint", "transport", "packageArguments",
               "environmentVariables", "registryBaseUrl", "runtimeArguments", "fileSha256"}  # fmt: skip
    assert set(package) <= allowed
    assert all(variable["name"] and not variable.get("value") for variable in package["environmentVariables"])


# -- sidecar manifest <client> --------------------------------------------------------------------


def test_every_client_gets_its_own_shape_with_absolute_paths(capsys, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "team.json5").write_text(HIERARCHY_POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    for client in m.CLIENTS:
        via = ("--via", "stdio") if client == "openclaw" else ()
        code, out, err = cli(capsys, client, "--agent", "lead", "--policy", "team.json5", *via)
        assert code == 0, err
        doc = tomllib.loads(out) if client == "codex" else json5.loads(out)
        if client == "vscode":
            (entry,) = doc["servers"].values()
            assert entry["type"] == "stdio"
        elif client == "codex":
            (entry,) = doc["mcp_servers"].values()
            assert entry["startup_timeout_sec"] > 0
        elif client == "openclaw":
            (entry,) = doc["mcp"]["servers"].values()
            assert entry["toolFilter"] == {"include": ["sessions_*"]}
        else:
            (entry,) = doc["mcpServers"].values()
            json.loads(out)  # strict JSON: Claude Desktop, Claude Code and Cursor reject comments
        assert os.path.isabs(entry["command"]) and Path(entry["command"]).exists()
        args = entry["args"]
        assert args[args.index("serve") :][:5] == [
            "serve",
            "--agent",
            "lead",
            "--policy",
            str(tmp_path / "team.json5"),
        ]
        assert "note:" not in out and "note:" in err


def test_the_server_is_named_after_the_agent_unless_a_name_is_given(capsys) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = cli(capsys, "cursor", "--agent", "dev-2", "--policy", str(HIERARCHY_POLICY))
    assert list(json.loads(out)["mcpServers"]) == ["sessions-dev-2"]
    _, out, _ = cli(capsys, "cursor", "--agent", "dev-2", "--policy", str(HIERARCHY_POLICY), "--name", "dev2")
    assert list(json.loads(out)["mcpServers"]) == ["dev2"]


def test_the_gateway_comes_from_the_flag_then_the_policy_then_openclaws_default(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, out, err = cli(capsys, "cursor", "--agent", "lead", "--policy", str(HIERARCHY_POLICY))
    assert json.loads(out)["mcpServers"]["sessions-lead"]["args"][-2:] == ["--gateway", m.DEFAULT_GATEWAY]
    assert "assuming OpenClaw's default" in err
    flag = ["--gateway", "wss://gw.example.com"]
    _, out, _ = cli(capsys, "cursor", "--agent", "lead", "--policy", str(HIERARCHY_POLICY), *flag)
    assert json.loads(out)["mcpServers"]["sessions-lead"]["args"][-2:] == flag
    peers = ROOT / "manifests" / "policies" / "peer-fleet.json5"
    _, out, _ = cli(capsys, "cursor", "--agent", "jarvis", "--policy", str(peers))
    assert "--gateway" not in json.loads(out)["mcpServers"]["sessions-jarvis"]["args"]


def test_an_explicit_sidecar_path_is_written_absolute(capsys, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(
        capsys, "vscode", "--agent", "lead", "--policy", str(HIERARCHY_POLICY), "--sidecar", "bin/sidecar"
    )
    assert code == 0
    assert json.loads(out)["servers"]["sessions-lead"]["command"] == str(tmp_path / "bin" / "sidecar")
    assert "not an executable file" in err


def test_codex_toml_strings_survive_any_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    odd = '/tmp/we"ird\\dir\t\x7f/é/policy.json5'
    launch = m.launch_for("lead", odd, ("/opt/side car/sidecar",), None)
    doc = tomllib.loads(m.render("codex", m.client_config("codex", launch, "sessions-lead"), ["x"]))
    assert doc["mcp_servers"]["sessions-lead"]["args"][-1] == odd
    assert doc["mcp_servers"]["sessions-lead"]["command"] == "/opt/side car/sidecar"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["cursor", "--policy", str(HIERARCHY_POLICY)], "--agent ID is required for cursor"),
        (["vscode", "--agent", "nobody", "--policy", str(HIERARCHY_POLICY)], "agents.entries.nobody: {}"),
        (["vscode", "--agent", "Bad Id", "--policy", str(HIERARCHY_POLICY)], "not a valid agent id"),
        (["openclaw", "--policy", str(HIERARCHY_POLICY), "--name", "x"], "--name does not apply to openclaw"),
        (["codex", "--agent", "lead", "--policy", str(HIERARCHY_POLICY), "--name", "a b"], "--name 'a b'"),
        (["codex", "--agent", "lead", "--policy", str(HIERARCHY_POLICY), "--gateway", "http://x"], "ws://"),
        (["codex", "--agent", "lead", "--policy", "/nonexistent.json5"], "policy file not found"),
    ],
)
def test_bad_input_exits_2_with_a_message_that_says_what_to_do(capsys, monkeypatch, argv, expected) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SIDECAR_POLICY", raising=False)
    code, out, err = cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert expected in err


def test_manifest_help_teaches_with_examples(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exit_:
        cli(capsys, "--help")
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "examples:" in out
    for client in m.CLIENTS:
        assert f"sidecar manifest {client}" in out


# -- the OpenClaw fragment ------------------------------------------------------------------------


def test_the_fleet_fragment_gives_every_hierarchy_agent_one_sidecar_and_denies_the_rest(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli(capsys, "openclaw", "--policy", str(HIERARCHY_POLICY), "--via", "stdio")
    assert code == 0
    fragment = json5.loads(out)
    servers = fragment["mcp"]["servers"]
    assert list(servers) == [f"sessions-{a}" for a in HIERARCHY]
    for agent in HIERARCHY:
        server = servers[f"sessions-{agent}"]
        assert server["args"][:4] == ["serve", "--agent", agent, "--policy"]
        assert server["toolFilter"] == {"include": ["sessions_*"]}
        assert server["codex"] == {"agents": [agent]}
        deny = deny_of(fragment, agent)
        assert set(m.BUILTIN_SESSION_TOOLS) <= set(deny)
        assert {"sessions_list", "sessions_history", "sessions_send", "sessions_spawn"} <= set(deny)
        assert {f"sessions-{other}__*" for other in HIERARCHY if other != agent} <= set(deny)
        assert f"sessions-{agent}__*" not in deny


def test_through_the_fragment_each_agent_reaches_its_own_sidecar_and_no_other_session_tool() -> None:
    fragment = m.openclaw_fragment(hierarchy(), launches(hierarchy()))
    for agent in HIERARCHY:
        for tool in m.BUILTIN_SESSION_TOOLS:
            assert not reachable(fragment, agent, tool)
        for owner in HIERARCHY:
            for tool in m.SIDECAR_TOOLS:
                assert reachable(fragment, agent, f"sessions-{owner}__{tool}") is (owner == agent)


def test_one_agents_fragment_names_the_fleet_and_says_the_others_must_deny_it(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(
        capsys, "openclaw", "--agent", "dev-1", "--policy", str(HIERARCHY_POLICY), "--via", "stdio"
    )
    fragment = json5.loads(out)
    assert code == 0
    assert list(fragment["mcp"]["servers"]) == ["sessions-dev-1"]
    assert list(fragment["agents"]["entries"]) == ["dev-1"]
    assert "sessions-lead__*" in deny_of(fragment, "dev-1")
    assert "every other agent must also deny sessions-dev-1__*" in err


def test_ids_whose_namespaces_nest_are_denied_tool_by_tool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.json5"
    path.write_text('{agents: {entries: {a: {}, "a__b": {}}}}', encoding="utf-8")
    policy = load_policy(str(path))
    fragment = m.openclaw_fragment(policy, launches(policy))
    assert "sessions-a__*" not in deny_of(fragment, "a__b")
    assert "sessions-a__sessions_send" in deny_of(fragment, "a__b")
    for agent, owner in (("a", "a__b"), ("a__b", "a"), ("a", "a"), ("a__b", "a__b")):
        for tool in m.SIDECAR_TOOLS:
            assert reachable(fragment, agent, f"sessions-{owner}__{tool}") is (owner == agent)


def test_safe_server_names_follow_openclaws_truncation_and_collision_rules() -> None:
    long_a, long_b = "sessions-" + "x" * 30 + "a", "sessions-" + "x" * 30 + "b"
    assert m.safe_server_names(["sessions-lead", "9lives", "a.b c", long_a, long_b]) == {
        "sessions-lead": "sessions-lead",
        "9lives": "mcp-9lives",
        "a.b c": "a-b-c",
        long_a: "sessions-" + "x" * 21,
        long_b: "sessions-" + "x" * 19 + "-2",
    }


# -- audit_openclaw_config ------------------------------------------------------------------------


def generated_config(policy: Policy) -> dict[str, Any]:
    return merged(base_config(list(policy.agent_ids)), m.openclaw_fragment(policy, launches(policy)))


def apply(config: dict[str, Any], finding: m.Finding) -> None:
    """Do what the finding's fix says: add its values to the list at its key."""
    node: Any = config
    *parents, last = finding.key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node.setdefault(last, [])
    node[last] += [v for v in finding.values if v not in node[last]]


def test_the_audit_passes_the_generated_fragment() -> None:
    assert m.audit_openclaw_config(generated_config(hierarchy()), hierarchy()) == []


def test_the_audit_flags_a_governed_agent_that_kept_the_built_in_session_tools() -> None:
    config = generated_config(hierarchy())
    del config["tools"]
    config["agents"]["entries"]["lead"]["tools"]["deny"] = ["sessions-manager__*"]
    findings = m.audit_openclaw_config(config, hierarchy())
    builtins = [f for f in findings if f.code == "builtin-session-tools"]
    assert [(f.agent, f.key, f.values) for f in builtins] == [("lead", "tools.deny", m.BUILTIN_SESSION_TOOLS)]
    assert '"sessions_send"' in builtins[0].fix and "to tools.deny in openclaw.json" in builtins[0].fix
    for finding in findings:
        apply(config, finding)
    assert m.audit_openclaw_config(config, hierarchy()) == []


def test_the_audit_flags_an_agent_that_can_borrow_another_agents_sidecar() -> None:
    config = generated_config(hierarchy())
    config["agents"]["entries"]["dev-1"]["tools"]["deny"].remove("sessions-manager__*")
    (finding,) = m.audit_openclaw_config(config, hierarchy())
    assert (finding.code, finding.agent, finding.values) == (
        "foreign-sidecar",
        "dev-1",
        ("sessions-manager__*",),
    )
    assert "act with manager's identity" in finding.message
    apply(config, finding)
    assert m.audit_openclaw_config(config, hierarchy()) == []


def test_an_agent_outside_the_policy_is_flagged_for_every_sidecar_it_can_reach() -> None:
    config = generated_config(hierarchy())
    config["agents"]["entries"]["main"] = {"name": "main"}
    findings = m.audit_openclaw_config(config, hierarchy())
    assert {f.code for f in findings} == {"foreign-sidecar"}
    assert sorted(f.values[0] for f in findings) == sorted(f"sessions-{a}__*" for a in HIERARCHY)
    assert all(f.agent == "main" and "not in" in f.message for f in findings)


def test_a_config_with_no_denies_at_all_is_flagged_for_every_agent() -> None:
    config = generated_config(hierarchy())
    del config["tools"]
    for entry in config["agents"]["entries"].values():
        del entry["tools"]
    findings = m.audit_openclaw_config(config, hierarchy())
    assert {f.agent for f in findings if f.code == "builtin-session-tools"} == set(HIERARCHY)
    assert len([f for f in findings if f.code == "foreign-sidecar"]) == len(HIERARCHY) * (len(HIERARCHY) - 1)
    for finding in findings:
        apply(config, finding)
    assert m.audit_openclaw_config(config, hierarchy()) == []


def test_a_global_group_deny_counts_for_the_built_ins_but_must_not_cover_the_sidecar() -> None:
    config = generated_config(hierarchy())
    config["tools"] = {"deny": ["group:sessions"]}
    for entry in config["agents"]["entries"].values():
        entry["tools"]["deny"] = [d for d in entry["tools"]["deny"] if d not in m.BUILTIN_SESSION_TOOLS]
    assert m.audit_openclaw_config(config, hierarchy()) == []
    config["tools"] = {"deny": ["bundle-mcp"]}
    findings = m.audit_openclaw_config(config, hierarchy())
    blocked = [f for f in findings if f.code == "own-sidecar-blocked"]
    assert len(blocked) == len(HIERARCHY) and blocked[0].values == ("bundle-mcp",)


def test_a_governed_agent_without_a_usable_sidecar_is_told_how_to_add_one() -> None:
    config = generated_config(hierarchy())
    del config["mcp"]["servers"]["sessions-hr"]
    config["mcp"]["servers"]["sessions-finance"]["enabled"] = False
    findings = {f.agent: f for f in m.audit_openclaw_config(config, hierarchy())}
    assert findings["hr"].code == "missing-sidecar"
    assert "sidecar manifest openclaw --agent hr --policy" in findings["hr"].fix
    assert findings["finance"].code == "sidecar-disabled"


def test_the_audit_warns_when_the_sandbox_gate_or_a_relative_path_hides_the_sidecar() -> None:
    config = generated_config(hierarchy())
    config["agents"]["entries"]["research"]["sandbox"] = {"mode": "all"}
    config["mcp"]["servers"]["sessions-hr"]["command"] = "sidecar"
    config["mcp"]["servers"]["sessions-hr"]["args"][4] = "team.json5"
    del config["mcp"]["servers"]["sessions-hr"]["toolFilter"]
    findings = {(f.code, f.agent) for f in m.audit_openclaw_config(config, hierarchy())}
    assert findings == {
        ("sandbox-hides-sidecar", "research"),
        ("relative-command", "hr"),
        ("relative-policy", "hr"),
        ("no-tool-filter", "hr"),
    }
    config["agents"]["entries"]["research"]["tools"]["sandbox"] = {
        "tools": {"alsoAllow": ["sessions-research__*"]}
    }
    assert ("sandbox-hides-sidecar", "research") not in {
        (f.code, f.agent) for f in m.audit_openclaw_config(config, hierarchy())
    }


def test_sidecars_are_recognised_however_they_are_launched() -> None:
    assert sidecar_agent({"command": "/opt/bin/sidecar", "args": ["serve", "--agent", "x"]}) == "x"
    assert (
        sidecar_agent({"command": "/usr/bin/python3", "args": ["-m", "sidecar", "serve", "--agent=y"]}) == "y"
    )
    assert (
        sidecar_agent({"command": "uvx", "args": ["openclaw-sessions-sidecar", "serve", "--agent", "z"]})
        == "z"
    )
    assert sidecar_agent({"command": "npx", "args": ["serve", "--agent", "x"]}) is None
    assert sidecar_agent({"command": "/opt/bin/sidecar", "args": ["explain", "--agent", "x"]}) is None


# -- the real OpenClaw ----------------------------------------------------------------------------


def openclaw_env(tmp_path: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_") and k != "NODE_OPTIONS"}
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "state").mkdir(exist_ok=True)
    env.update(
        HOME=str(tmp_path / "home"),
        OPENCLAW_STATE_DIR=str(tmp_path / "state"),
        OPENCLAW_CONFIG_PATH=str(config),
        PATH=f"{OPENCLAW.parent}{os.pathsep}{env.get('PATH', '')}",
        NO_COLOR="1",
    )
    return env


def require_openclaw() -> None:
    if OPENCLAW.exists():
        return
    message = f"{OPENCLAW} is missing: run scripts/gateway install (scripts/test does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def run_openclaw(env: dict[str, str], *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPENCLAW), *argv], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.gateway
def test_openclaw_validates_a_config_containing_the_generated_fragment(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    require_openclaw()
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(tmp_path / "state"))  # the host key the fragment names
    policy_file = tmp_path / "hierarchy.json5"
    policy_file.write_text(HIERARCHY_POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    code, fragment_text, err = cli(capsys, "openclaw", "--policy", str(policy_file))
    assert code == 0, err
    fragment = json5.loads(fragment_text)
    config_path = tmp_path / "openclaw.json5"
    config = merged(base_config(HIERARCHY), fragment)
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    env = openclaw_env(tmp_path, config_path)

    validated = run_openclaw(env, "config", "validate", "--json")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert json.loads(validated.stdout)["valid"] is True

    # mcp.servers entries are an open object in OpenClaw's schema: check our keys are ones it declares.
    schema = json.loads(run_openclaw(env, "config", "schema").stdout)
    server_schema = schema["properties"]["mcp"]["properties"]["servers"]["additionalProperties"]
    for server in fragment["mcp"]["servers"].values():
        assert set(server) <= set(server_schema["properties"])
        assert set(server["toolFilter"]) <= set(server_schema["properties"]["toolFilter"]["properties"])

    # Static checks of each saved server (the command exists and is executable), without starting it.
    doctor = run_openclaw(env, "mcp", "doctor", "--json")
    report = json.loads(doctor.stdout[doctor.stdout.index("{") :])
    assert report["ok"] is True, report

    # A config that breaks a key the fragment uses is refused, so the validation above means something.
    broken = copy.deepcopy(config)
    broken["agents"]["entries"]["lead"]["tools"]["denyy"] = broken["agents"]["entries"]["lead"]["tools"].pop(
        "deny"
    )
    config_path.write_text(json.dumps(broken), encoding="utf-8")
    refused = run_openclaw(env, "config", "validate", "--json")
    assert refused.returncode != 0 and "denyy" in refused.stdout


@pytest.mark.gateway
def test_openclaws_own_tool_policy_gives_each_agent_only_its_own_sidecar(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The fragment's denies, run through OpenClaw's exported safe-name and tool-policy functions."""
    require_openclaw()
    fragment = m.openclaw_fragment(hierarchy(), launches(hierarchy()))
    servers = [*fragment["mcp"]["servers"], "sessions-" + "x" * 30 + "a", "sessions-" + "x" * 30 + "b"]
    sdk = OPENCLAW_PACKAGE / "dist" / "plugin-sdk" / "agent-harness-runtime.js"
    script = f"""
        const sdk = await import({json.dumps(sdk.as_uri())});
        const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
        const safe = Object.fromEntries(sdk.assignMcpCatalogSafeServerNames(input.servers));
        const allowed = {{}};
        for (const [agent, deny] of Object.entries(input.deny)) {{
            const matches = sdk.toolPolicy.createToolPolicyMatcher({{ deny }});
            allowed[agent] = input.tools.map((t) => t.replace(/^<(.*?)>/, (_, s) => safe[s])).filter(matches);
        }}
        console.log(JSON.stringify({{ safe, allowed }}));
    """
    tools = [
        *m.BUILTIN_SESSION_TOOLS,
        *(f"<{s}>__{t}" for s in fragment["mcp"]["servers"] for t in m.SIDECAR_TOOLS),
    ]
    deny = {a: e["tools"]["deny"] for a, e in fragment["agents"]["entries"].items()}
    env = openclaw_env(tmp_path, tmp_path / "none.json5")
    result = subprocess.run(
        [str(OPENCLAW.parent / "node"), "--input-type=commonjs", "-e", f"(async () => {{ {script} }})()"],
        input=json.dumps({"servers": servers, "deny": deny, "tools": tools}),
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["safe"] == m.safe_server_names(servers)
    for agent in HIERARCHY:
        assert answer["allowed"][agent] == [f"sessions-{agent}__{t}" for t in m.SIDECAR_TOOLS]
