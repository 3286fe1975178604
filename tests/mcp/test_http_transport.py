"""`sidecar serve --transport http`: 127.0.0.1 only, and every request needs the bearer token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-http-token-0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_sidecar(tmp_path: Path):  # type: ignore[no-untyped-def]
    policy = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))["policy"]
    path = tmp_path / "policy.json5"
    path.write_text(json.dumps(policy), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
    env.update(
        SIDECAR_STATE_DIR=str(tmp_path / "state"),
        SIDECAR_TOKEN_STORE="file",
        SIDECAR_TOKEN_FILE=str(tmp_path / "secrets.json"),
        SIDECAR_HTTP_TOKEN=TOKEN,
    )
    # A gateway port nothing listens on: the server must still start and answer from its mirror.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sidecar",
            "serve",
            "--policy",
            str(path),
            "--agent",
            "hr",
            "--transport",
            "http",
            "--port",
            str(port),
            "--gateway",
            f"ws://127.0.0.1:{free_port()}",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with anyio.from_thread.start_blocking_portal() as portal:
            portal.call(_wait_listening, port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        assert TOKEN not in err


async def _wait_listening(port: int) -> None:
    with anyio.fail_after(30):
        while True:
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.1)
                continue
            await stream.aclose()
            return


async def test_a_request_without_the_bearer_token_gets_401(http_sidecar: str) -> None:
    async with httpx2.AsyncClient() as http:
        answer = await http.post(http_sidecar, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        wrong = await http.post(http_sidecar, json={}, headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401 and wrong.status_code == 401
    assert "Bearer" in answer.headers["www-authenticate"]


async def test_an_authorised_client_lists_the_tools_and_gets_a_scoped_list_from_the_mirror(
    http_sidecar: str,
) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    async with http, Client(streamable_http_client(http_sidecar, http_client=http)) as client:
        with anyio.fail_after(30):
            tools = {t.name for t in (await client.list_tools()).tools}
            listed = await client.call_tool("sessions_list", {})
            denied = await client.call_tool("sessions_history", {"sessionKey": "agent:lead:main"})
    assert tools == {"sessions_list", "sessions_history", "sessions_spawn"}
    assert not listed.is_error
    assert listed.structured_content["mirror"]["fresh"] is False
    assert denied.is_error and "[gate: visibility]" in "".join(c.text for c in denied.content)
