"""The fleet page served live, as `sidecar serve --transport http` mounts it: the shell is public, the
data needs the bearer token, and in Chromium the page shows recent decisions and explains their cells."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn

from sidecar.mcp import BearerAuth, FleetPage, WithFleet
from sidecar.mirror import Mirror
from sidecar.policy import StaticView, parse_policy
from tests.fleet.test_page_in_chromium import keep, needs_chromium  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.anyio
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TOKEN = "fleet-page-test-token-0123456789"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def not_mcp(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_a_running_sidecar_serves_the_page_live_with_its_recent_decisions(tmp_path: Path) -> None:
    hierarchy = json.loads((SCENARIOS / "hierarchy.json").read_text(encoding="utf-8"))
    policy = parse_policy(json.dumps(hierarchy["policy"], indent=2), "hierarchy.json5")
    with Mirror.open(tmp_path / "lead" / "mirror.db") as mirror:
        for target, outcome, gate in (
            ("agent:dev-1:main", "allowed", None),
            ("agent:hr:main", "denied", "visibility"),
        ):
            mirror.decisions.record(
                requester_agent="lead", requester_session="agent:lead:main", tool="sessions_send",
                target=target, outcome=outcome, gate=gate, source="hierarchy.json5:28",
            )  # fmt: skip
        page = FleetPage(
            lambda: policy, lambda: StaticView(agents=policy.known_agents), mirror.decisions.recent
        )
        app = BearerAuth(WithFleet(not_mcp, page), TOKEN, page.public_paths)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        base = f"http://127.0.0.1:{port}"
        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve)
                while not server.started:
                    await anyio.sleep(0.05)
                try:
                    status, shell = await anyio.to_thread.run_sync(get, f"{base}/fleet/")
                    assert status == 200 and b"fleet-data" in shell and b"dev-1" not in shell
                    assert (await anyio.to_thread.run_sync(get, f"{base}/fleet/data.json"))[0] == 401
                    assert (await anyio.to_thread.run_sync(get, f"{base}/mcp"))[0] == 401
                    status, body = await anyio.to_thread.run_sync(get, f"{base}/fleet/data.json", TOKEN)
                    assert status == 200 and len(json.loads(body)["recent"]) == 2

                    from tests.fleet.chromium import chromium

                    async with chromium() as browser:
                        await browser.open(f"{base}/fleet/#token={TOKEN}")
                        await browser.wait_for("document.querySelectorAll('#recent li').length === 2")
                        assert await browser.evaluate("location.hash") == ""  # the token leaves the URL
                        assert (
                            await browser.evaluate(
                                "getComputedStyle(document.getElementById('live')).display"
                            )
                            != "none"
                        )
                        await browser.click("#tabs button[data-t='2']")
                        assert await browser.evaluate("document.querySelectorAll('#grid td.hot').length") == 2
                        await browser.click("#recent li[data-k='0']")
                        text = await browser.wait_for(
                            "document.querySelector('#detail h2') && document.getElementById('detail').innerText"
                        )
                        assert "lead \u2192 hr" in text and "DENIED at gate 'visibility'" in text
                        assert (
                            "Recent decisions on this cell" in text or "RECENT DECISIONS ON THIS CELL" in text
                        )
                        keep(await browser.screenshot(tmp_path / "live-page.png"))
                finally:
                    server.should_exit = True
