"""GatewayPool: one connection per gateway, and every one of them closed at shutdown."""

from __future__ import annotations

import anyio
import pytest

from sidecar.tools._routing import HOME, GatewayPool


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Closing:
    """A connection whose close lets another task run, which drops a connection from the pool meanwhile."""

    def __init__(self, pool: GatewayPool, drops: str) -> None:
        self.pool, self.drops, self.closed = pool, drops, False

    async def close(self) -> None:
        await anyio.sleep(0)
        self.pool.forget(self.drops)
        self.closed = True


@pytest.mark.anyio
async def test_closing_the_pool_closes_every_connection_even_when_one_is_forgotten_meanwhile() -> None:
    async def connect(name: str, url: str, insecure: bool) -> Closing:
        raise AssertionError("not connected in this test")

    pool = GatewayPool("ws://127.0.0.1:1", (), connect)
    home, peer = Closing(pool, "peer"), Closing(pool, HOME)
    pool._clients.update({HOME: home, "peer": peer})
    with anyio.fail_after(5):
        await pool.aclose()
    assert home.closed and peer.closed
    assert pool.open_count() == 0
