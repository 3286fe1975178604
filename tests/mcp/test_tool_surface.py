"""The tool surface is static and reviewed: any change to a name, description, schema or annotation fails here.

Tool poisoning and rug pulls work by changing what a model reads about a tool; this snapshot makes every
such change a deliberate edit of the constant below.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import anyio
import pytest
from mcp import Client

from sidecar.mcp._server import build_server
from sidecar.policy import Requester, parse_policy
from sidecar.tools import SessionsService
from sidecar.tools._routing import GatewayPool
from tests.fakes import FakeGateway, MemoryStore

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = "cd0056266d34b5af7e1f9315e3276978cb5835f8773136b7acd7fd633b348822"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def surface() -> tuple[str, list[dict[str, object]]]:
    policy = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))["policy"]
    gw = FakeGateway(agents=["manager"])

    async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
        return gw

    service = SessionsService(
        parse_policy(json.dumps(policy), "p.json5"),
        Requester.of("manager"),
        MemoryStore(),
        GatewayPool("ws://127.0.0.1:1", (), connect),
    )
    async with Client(build_server(service)) as client:
        with anyio.fail_after(5):
            tools = (await client.list_tools()).tools
    shown = [t.model_dump(mode="json", exclude_none=True, exclude={"meta"}) for t in tools]
    digest = hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()
    return digest, shown


async def test_the_tool_surface_matches_the_reviewed_snapshot() -> None:
    digest, shown = await surface()
    assert [t["name"] for t in shown] == [
        "sessions_list",
        "sessions_history",
        "sessions_send",
        "sessions_spawn",
    ]
    assert digest == SNAPSHOT, f"tool surface changed: review it, then set SNAPSHOT = {digest!r}"


async def test_descriptions_carry_nothing_from_the_gateway_or_the_policy() -> None:
    _, shown = await surface()
    text = json.dumps(shown)
    for runtime_value in ("127.0.0.1", "manager", "p.json5", "dev-"):
        assert runtime_value not in text


async def test_every_tool_declares_an_output_schema_and_send_names_its_delivery_states() -> None:
    _, shown = await surface()
    schemas = {str(t["name"]): t.get("output_schema") for t in shown}
    assert all(isinstance(schema, dict) and schema.get("type") == "object" for schema in schemas.values())
    send = schemas["sessions_send"]
    assert isinstance(send, dict)
    assert send["properties"]["state"]["enum"] == ["accepted", "delivered", "replied", "timeout", "failed"]
    assert {"state", "next", "runId"} <= set(send["required"])
