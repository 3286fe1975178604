"""`probe_gateway`: an anonymous connect that tells whether a gateway lets clients in, and leaves no trace."""

from __future__ import annotations

import time

import pytest

from sidecar.gateway import AuthError, HandshakeTimeout, probe_gateway
from tests.gateway.fake_gateway import FakeGateway, pairing_rejection

pytestmark = pytest.mark.anyio


async def test_the_probe_sends_no_device_and_no_credential_and_returns_hello() -> None:
    async with FakeGateway(allow_anonymous=True) as gw:
        hello = await probe_gateway(gw.url, 2)
    [connect] = gw.connects
    assert "device" not in connect and not connect.get("auth")
    assert hello.server_version


async def test_a_gateway_that_wants_a_device_answers_with_its_typed_error() -> None:
    async with FakeGateway(allow_anonymous=True, on_connect=lambda params: pairing_rejection("r")) as gw:
        with pytest.raises(AuthError):
            await probe_gateway(gw.url, 2)


async def test_a_gateway_that_never_answers_connect_is_given_up_within_the_timeout() -> None:
    async with FakeGateway(send_challenge=False) as gw:
        started = time.monotonic()
        with pytest.raises(HandshakeTimeout, match=r"did not answer connect within 0\.3 s"):
            await probe_gateway(gw.url, 0.3)
    assert time.monotonic() - started < 3
