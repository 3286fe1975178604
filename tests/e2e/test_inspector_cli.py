"""A third-party MCP client: the MCP Inspector CLI, pinned in scripts/inspector/, drives `sidecar serve`.

`npx @modelcontextprotocol/inspector --cli` (run with the project's Node 24 from `.cache/bin`, resolved
offline from the `npm ci` install in `.cache/inspector/`, so nothing is downloaded at test time) launches
`sidecar serve --agent manager` over stdio against the shared real gateway, lists the four tools and
calls them. The install comes from `scripts/inspector/install`; locally this module runs it when needed,
in CI (CI=true) a missing install is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness.node import cache_dir

pytestmark = [pytest.mark.gateway]
REPO = Path(__file__).resolve().parents[2]
PIN_DIR = REPO / "scripts" / "inspector"
INSTALLER = PIN_DIR / "install"
PACKAGE = "@modelcontextprotocol/inspector"
HIERARCHY = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
TOOLS = {"sessions_list", "sessions_history", "sessions_send", "sessions_spawn"}
RUN_TIMEOUT_S = 120


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def lock_hash() -> str:
    """The install stamp, as scripts/inspector/install computes it: sha256 of the lockfile then package.json."""
    data = (PIN_DIR / "package-lock.json").read_bytes() + (PIN_DIR / "package.json").read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def install_dir() -> Path:
    return cache_dir() / "inspector"


def installed() -> bool:
    target = install_dir()
    entry = target / "node_modules" / PACKAGE / "package.json"
    return (target / f".installed-{lock_hash()}").is_file() and entry.is_file()


def ensure_inspector() -> Path:
    """The install dir of the pinned inspector; installs it (idempotently) unless in CI, where it must exist."""
    node = cache_dir() / "bin" / "node"
    if not os.access(node, os.X_OK):
        message = f"no Node at {node}: run scripts/gateway install (scripts/test does)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    if installed():
        return install_dir()
    if in_ci():
        pytest.fail(
            f"the pinned MCP Inspector is not installed in {install_dir()}: scripts/test must run "
            "scripts/inspector/install",
            pytrace=False,
        )
    run = subprocess.run([str(INSTALLER)], capture_output=True, text=True, timeout=900, check=False)
    if run.returncode != 0 or not installed():
        pytest.fail(f"scripts/inspector/install failed (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
    return install_dir()


@pytest.fixture(scope="module")
def inspector() -> list[str]:
    """The command prefix for `npx @modelcontextprotocol/inspector --cli` with the project's Node."""
    ensure_inspector()
    bin_dir = cache_dir() / "bin"
    npx = Path(os.path.realpath(bin_dir / "npm")).with_name("npx-cli.js")
    # --offline --no: resolve the package from the local install or fail; `--` so npm leaves --cli alone
    return [str(bin_dir / "node"), str(npx), "--offline", "--no", "--", PACKAGE, "--cli"]


def inspector_env(home: Path) -> dict[str, str]:
    """A clean environment for the inspector itself: its own HOME (it keeps a catalog and secrets there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_", "npm_", "NPM_"))}
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([str(cache_dir() / "bin"), env.get("PATH", "")]),
        npm_config_cache=str(home / ".npm"),
        # without ~/.npmrc npx would ask the registry for a newer npm: with these, the run opens no
        # connection but the sidecar's to the gateway (checked with strace)
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        MCP_INSPECTOR_SECRET_STORE="memory",
        MCP_CATALOG_PATH=str(home / "mcp.json"),
        NO_COLOR="1",
    )
    return env


def sidecar_vars(root: Path) -> dict[str, str]:
    """What `sidecar serve` needs here: its own state dir and a 0600 file token store (no keyring, no token)."""
    return {
        "SIDECAR_STATE_DIR": str(root / "state"),
        "SIDECAR_TOKEN_STORE": "file",
        "SIDECAR_TOKEN_FILE": str(root / "secrets" / "secrets.json"),
    }


def pair(url: str, agent: str, token: str, root: Path) -> None:
    """Pair `agent` once with the gateway's shared token, so the served sidecar needs no token at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
    env.update(sidecar_vars(root), PAIR_TOKEN=token)
    run = subprocess.run(
        [sys.executable, "-m", "sidecar", "pair", "--gateway", url, "--agent", agent, "--token-env", "PAIR_TOKEN"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


def run_inspector(
    inspector: list[str], root: Path, policy: Path, agent: str, *method: str, exit_code: int = 0
) -> Any:
    """One inspector CLI run against `sidecar serve`; returns its JSON output (stdout).

    The CLI exits 5 when a called tool returns `isError: true` (and still prints the result).
    """
    sidecar = Path(sys.executable).with_name("sidecar")
    env_flags = [arg for k, v in sidecar_vars(root).items() for arg in ("-e", f"{k}={v}")]
    serve = [str(sidecar), "serve", "--policy", str(policy), "--agent", agent]
    cmd = [*inspector, *serve, *env_flags, "--cwd", str(root), *method]
    home = root / "inspector-home"
    home.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        cmd, cwd=install_dir(), env=inspector_env(home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == exit_code, f"inspector exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    try:
        return json.loads(out)
    except ValueError:
        pytest.fail(f"inspector output is not JSON:\nstdout:\n{out}\nstderr:\n{err}")


def text(result: dict[str, Any]) -> str:
    return "".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))


def test_the_inspector_pin_is_exact_and_resolves_only_from_the_npm_registry() -> None:
    package = json.loads((PIN_DIR / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((PIN_DIR / "package-lock.json").read_text(encoding="utf-8"))
    version = package["dependencies"][PACKAGE]
    assert version[0].isdigit() and all(part.isdigit() for part in version.split(".")), version
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    assert lock["packages"][f"node_modules/{PACKAGE}"]["version"] == version
    for name, entry in lock["packages"].items():
        if name and not entry.get("link"):
            assert entry["resolved"].startswith("https://registry.npmjs.org/"), name
            assert entry["integrity"].startswith("sha512-"), name


def test_the_inspector_lists_the_four_tools_and_calls_sessions_list(  # type: ignore[no-untyped-def]
    inspector, openclaw_gateway, tmp_path
) -> None:
    policy = json.loads(json.dumps(HIERARCHY["policy"]))
    policy["gateway"] = {"url": openclaw_gateway.url}
    path = tmp_path / "policy.json5"
    path.write_text(json.dumps(policy, indent=2), encoding="utf-8")
    pair(openclaw_gateway.url, "manager", openclaw_gateway.token, tmp_path)
    before = len(openclaw_gateway.stub_requests())

    listed = run_inspector(inspector, tmp_path, path, "manager", "--method", "tools/list")
    called = run_inspector(
        inspector, tmp_path, path, "manager", "--method", "tools/call", "--tool-name", "sessions_list"
    )
    refused = run_inspector(
        inspector, tmp_path, path, "manager", "--method", "tools/call", "--tool-name", "sessions_send",
        "--tool-arg", "sessionKey=agent:research:main", "message=hello", exit_code=5,
    )  # fmt: skip

    assert {t["name"] for t in listed["tools"]} == TOOLS
    assert all(t["inputSchema"]["type"] == "object" for t in listed["tools"])
    assert not called.get("isError"), text(called)
    out = called["structuredContent"]
    assert out["visibility"]["mode"] == "all" and out["visibility"]["hidden"] == 0
    keys = {row["key"] for row in out["sessions"]}
    assert "agent:main:main" in keys, keys  # the fixture's warm-up turn
    assert all(row["gateway"] == "home" for row in out["sessions"])
    # A denial reaches the third-party client explained, and never reached the gateway.
    assert refused.get("isError") is True
    assert "[gate: receives-from]" in text(refused) and "Fix:" in text(refused)
    assert len(openclaw_gateway.stub_requests()) == before
    # No token on any command line or in the inspector's files: the sidecar used its paired device token.
    for file in (tmp_path / "inspector-home").rglob("*"):
        assert not file.is_file() or openclaw_gateway.token.encode() not in file.read_bytes(), file
