"""What the WebSocket library may log about gateway traffic: nothing that carries a frame, at any level."""

from __future__ import annotations

import logging

import pytest

from sidecar.gateway import Backoff, GatewayClient, TokenStore
from sidecar.secrets import KeyringSecretStore

from .fake_gateway import FakeGateway

pytestmark = pytest.mark.anyio

TOKEN = "devtok-0123456789abcdefghijklmnopqrstuvwxyz-TAIL"


async def test_at_debug_level_no_log_line_shows_a_frame_or_any_part_of_the_device_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = TokenStore(KeyringSecretStore())
    async with FakeGateway(issue_token=TOKEN) as gw:
        identity = await tokens.identity(gw.url, "dev-1")
        for _ in range(2):  # the second connect sends the stored token back in auth.deviceToken
            async with GatewayClient(
                gw.url, identity, tokens, "dev-1", backoff=Backoff(initial=0.01, cap=0.05)
            ) as client:
                await client.request("health", {})
        assert gw.connects[1]["auth"] == {"deviceToken": TOKEN}
    # The fake gateway's own server-side logging is not the sidecar's.
    ours = [r for r in caplog.records if not r.name.startswith("websockets.server")]
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in ours)
    assert "TAIL" not in text and TOKEN[:12] not in text
    assert not [r for r in ours if r.name.startswith("websockets")], text[:2000]
