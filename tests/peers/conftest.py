"""A peer endpoint served for real (uvicorn on a loopback port) over an in-memory gateway and mirror."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
import uvicorn

from sidecar.mirror import Mirror
from sidecar.peers import PeerHost, build_peer_app, new_secret
from sidecar.policy import Policy, parse_policy
from tests.fakes import FakeGateway


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


IMAC_POLICY: dict[str, Any] = {
    "gateway": {"name": "imac", "peers": {"macbook": {"sidecar": "http://127.0.0.1:1/peer"}}},
    "agents": {
        "entries": {
            "pepper": {"tools": {"agentToAgent": {"receivesFrom": ["jarvis@macbook"]}}},
            "friday": {},
        }
    },
}


@dataclass
class Served:
    url: str
    secret: str
    host: PeerHost
    gateway: FakeGateway
    mirror: Mirror


@asynccontextmanager
async def serve_peer(policy: Policy | None = None, secret: str | None = None) -> AsyncIterator[Served]:
    policy = policy or parse_policy(json.dumps(IMAC_POLICY), "imac.json5")
    secret = secret or new_secret()
    gateway = FakeGateway(agents=["pepper", "friday", "main"])
    mirror = Mirror.memory()
    mirror.set_agents("home", gateway.agents)

    async def home() -> FakeGateway:
        return gateway

    host = PeerHost(policy, mirror, home, secrets=lambda: {"macbook": secret})
    port = free_port()
    config = uvicorn.Config(
        build_peer_app(host), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:
                await anyio.sleep(0.05)
        try:
            yield Served(f"http://127.0.0.1:{port}/peer", secret, host, gateway, mirror)
        finally:
            server.should_exit = True
