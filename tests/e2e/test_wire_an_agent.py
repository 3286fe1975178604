"""README's "Wire an agent", pasted into bash from the repo root as a newcomer would, on a real gateway.

The block runs unchanged (`set -e`, every line must succeed) with two things a newcomer's machine has and
a test machine must not share: a 0600 file token store in place of the desktop keyring (chosen through
$SIDECAR_TOKEN_STORE, which every command honours and `manifest` writes into the launch), and the
gateway's root under this test's tmp dir ($SIDECAR_GATEWAY_ROOT). If 18789 is taken on this machine the
block's port is moved to a free one, and only then.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli.examples import REPO

pytestmark = [pytest.mark.gateway]
README_PORT = 18789


def wire_block() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Wire an agent", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "README's Wire an agent has no bash block"
    return match.group(1)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_readme_block_has_the_whole_journey() -> None:
    block = wire_block()
    for step in (
        "scripts/gateway up",
        "sidecar pair",
        "sidecar manifest",
        "sidecar doctor",
        "scripts/inspector/run",
    ):
        assert step in block, step


def test_wire_an_agent_runs_end_to_end_as_written(openclaw_toolchain: object, tmp_path: Path) -> None:
    if not (REPO / ".venv" / "bin" / "activate").is_file():
        pytest.skip("the block activates .venv, which scripts/test creates at the repo root")
    block = wire_block()
    port = README_PORT if port_free(README_PORT) else free_port()
    script = block.replace(str(README_PORT), str(port))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_", "VIRTUAL_ENV"))}
    env.update(
        SIDECAR_CACHE=os.environ.get("SIDECAR_CACHE", str(REPO / ".cache")),
        SIDECAR_GATEWAY_ROOT=str(tmp_path / "gateway-root"),
        SIDECAR_STATE_DIR=str(tmp_path / "state"),
        SIDECAR_TOKEN_STORE="file",
        SIDECAR_TOKEN_FILE=str(tmp_path / "secrets.json"),
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
        HARNESS_READY_TIMEOUT_S=os.environ.get("HARNESS_READY_TIMEOUT_S", "300"),
    )
    down = f"SIDECAR_GATEWAY_ROOT={tmp_path / 'gateway-root'} scripts/gateway down >/dev/null 2>&1 || true"
    full = f"set -euo pipefail\ntrap '{down}' EXIT\n{script}"
    try:
        run = subprocess.run(
            ["bash", "-c", full], cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
        )
    finally:
        subprocess.run(["bash", "-c", down], cwd=REPO, env=env, timeout=120, check=False)
    assert run.returncode == 0, (
        f"exit {run.returncode}\nstdout:\n{run.stdout[-6000:]}\nstderr:\n{run.stderr[-6000:]}"
    )
    out = run.stdout
    assert f"ws://127.0.0.1:{port}" in out  # scripts/gateway up
    assert "paired: agent lead" in out
    # The client configs launch the sidecar with the store the pairing used (doctor's exit 0 under set -e
    # already says nothing FAILed).
    assert '"--token-store"' in out and '"file"' in out
    assert "sessions-manager" in out  # the OpenClaw fragment names every agent
    assert "sessions_send" in out and "sessions_spawn" in out  # the Inspector's tools/list
    assert "Traceback" not in run.stderr
