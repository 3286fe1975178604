"""The shown commands that need a gateway (pair, mirror, outbox, doctor, serve) run as written on a real one.

Collected by tests/cli/examples.py from README, docs and every `--help`. They run from the repo root in
the environment `source <(scripts/gateway env)` gives a reader (the gateway's URL, shared token and
openclaw.json), with a file token store and a state dir of this test's own; the only edit is the port:
examples say OpenClaw's default 18789, and the session gateway listens elsewhere. Pair examples run
first, as a reader would. Exit 1 is a result for doctor, mirror status and outbox (a FAIL found, a stale
mirror, a failed send); a usage error (2) or a traceback never is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.cli.examples import REPO, Example, collect

pytestmark = [pytest.mark.gateway]
ORDER = ("pair", "serve", "mirror", "outbox", "doctor")
RESULT_CODES = {"doctor": {0, 1}, "mirror": {0, 1}, "outbox": {0, 1}}


def gateway_examples() -> list[Example]:
    found = [e for e in collect() if e.program == "sidecar" and e.command in ORDER and not e.placeholder]
    # As a reader would: pair, serve (which creates the mirror), sync before status, then the rest.
    return sorted(found, key=lambda e: (ORDER.index(e.command), "sync" not in e.argv))


def argv_for(example: Example, url: str, env: dict[str, str]) -> list[str]:
    words = [w.replace("ws://127.0.0.1:18789", url) for w in example.argv[1:]]
    words = [env["HOME"] + w[1:] if w.startswith("~/") else w for w in words]
    # expandvars reads os.environ; the reader's variables are in env
    return [env.get(w[1:], w) if w.startswith("$") else w for w in words]


@pytest.fixture(scope="module")
def reader_env(openclaw_gateway: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
    gw_env = openclaw_gateway.env
    env.update(
        {k: gw_env[k] for k in ("OPENCLAW_GATEWAY_URL", "OPENCLAW_GATEWAY_TOKEN", "OPENCLAW_CONFIG_PATH")},
        GW_TOKEN=openclaw_gateway.token,
        # The reader's home: the default state dir (~/.local/state/openclaw-sessions-sidecar) is in it.
        HOME=str(root / "home"),
        SIDECAR_TOKEN_STORE="file",
        SIDECAR_TOKEN_FILE=str(root / "secrets.json"),
        PYTHONPATH=str(REPO),
    )
    return env


def test_every_gateway_command_group_has_a_shown_example() -> None:
    assert {e.command for e in gateway_examples()} == set(ORDER)


@pytest.mark.parametrize("example", gateway_examples(), ids=lambda e: " ".join(e.argv[1:])[:90])
def test_the_gateway_example_runs_as_written(
    example: Example, reader_env: dict[str, str], openclaw_gateway: Any
) -> None:
    env = {**reader_env, **example.env}
    argv = argv_for(example, openclaw_gateway.url, env)
    if example.command == "serve":
        serve(argv, env)
        return
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", *argv], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=180, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    allowed = RESULT_CODES.get(example.command, {0})
    assert done.returncode in allowed, (
        f"{example.where}: {example.line}\nexit {done.returncode}\n{done.stderr}"
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip() or done.stderr.strip()


def serve(argv: list[str], env: dict[str, str]) -> None:
    if "--transport" in argv:
        serve_http(argv, env)
        return

    async def listed() -> set[str]:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "sidecar", *argv], env=env, cwd=str(REPO)
        )
        async with Client(params) as client:
            return {t.name for t in (await client.list_tools()).tools}

    async def run() -> set[str]:
        with anyio.fail_after(120):
            return await listed()

    tools = anyio.run(run)
    # Which tools are offered is the policy's to say (a send-less agent is not offered sessions_send).
    assert "sessions_list" in tools
    assert tools <= {"sessions_list", "sessions_history", "sessions_send", "sessions_spawn"}


def serve_http(argv: list[str], env: dict[str, str]) -> None:
    port = int(argv[argv.index("--port") + 1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecar", *argv], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        import socket
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert f"http://127.0.0.1:{port}/mcp" in err
