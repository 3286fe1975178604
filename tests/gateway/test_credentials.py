from __future__ import annotations

import pytest

from sidecar.gateway import (
    DeviceIdentity,
    InsecureGatewayURL,
    InvalidGatewayURL,
    TokenStore,
    canonical_url,
    check_url,
    entry_name,
)
from sidecar.gateway._credentials import DeviceRecord, is_loopback_host
from sidecar.secrets import KeyringSecretStore, SecretStoreUnavailable

from .memory_keyring import MemoryKeyring

pytestmark = pytest.mark.anyio
URL = "ws://127.0.0.1:18789"


async def test_one_entry_per_gateway_and_agent_holds_the_key_and_the_token(
    memory_keyring: MemoryKeyring,
) -> None:
    tokens = TokenStore(KeyringSecretStore())
    identity = await tokens.identity(URL, "dev-1")
    assert await tokens.device_token(URL, "dev-1", identity) is None
    await tokens.store_token(URL, "dev-1", identity, "tok-1", ["operator.read"])
    assert await tokens.device_token(URL, "dev-1", identity) == "tok-1"
    assert list(memory_keyring.entries) == [("openclaw-sessions-sidecar", "dev-1@ws://127.0.0.1:18789")]
    record = await tokens.load(URL, "dev-1")
    assert record is not None
    assert record.identity.device_id == identity.device_id
    assert record.scopes == ("operator.read",)


async def test_dropping_the_token_keeps_the_key_so_re_pairing_keeps_the_device_id() -> None:
    tokens = TokenStore(KeyringSecretStore())
    identity = await tokens.identity(URL, "dev-1")
    await tokens.store_token(URL, "dev-1", identity, "tok-1", [])
    await tokens.drop_token(URL, "dev-1")
    assert await tokens.device_token(URL, "dev-1", identity) is None
    assert (await tokens.identity(URL, "dev-1")).device_id == identity.device_id
    await tokens.forget(URL, "dev-1")
    assert await tokens.load(URL, "dev-1") is None


async def test_a_token_issued_to_another_key_is_never_sent() -> None:
    tokens = TokenStore(KeyringSecretStore())
    await tokens.store_token(URL, "dev-1", DeviceIdentity.generate(), "tok-other", [])
    assert await tokens.device_token(URL, "dev-1", DeviceIdentity.generate()) is None


async def test_a_damaged_entry_names_the_fix(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("openclaw-sessions-sidecar", entry_name(URL, "dev-1"), "{broken")
    with pytest.raises(SecretStoreUnavailable, match="re-pair"):
        await TokenStore(KeyringSecretStore()).load(URL, "dev-1")


def test_record_repr_never_shows_the_token_or_key() -> None:
    identity = DeviceIdentity.generate()
    record = DeviceRecord(identity, "tok-secret-9", ("operator.read",))
    text = repr(record)
    assert "tok-secret-9" not in text
    assert identity.private_bytes().hex() not in text
    assert DeviceRecord.loads(record.dumps(), "x").device_token == "tok-secret-9"
    assert "TokenStore(KeyringSecretStore(" in repr(TokenStore(KeyringSecretStore()))


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("ws://127.0.0.1:18789/", "ws://127.0.0.1:18789"),
        ("WS://LOCALHOST:18789", "ws://localhost:18789"),
        ("wss://gw.example.com:443/", "wss://gw.example.com"),
        ("ws://[::1]:18789", "ws://[::1]:18789"),
        ("wss://gw.example.com/openclaw/", "wss://gw.example.com/openclaw"),
    ],
)
def test_gateway_urls_have_one_canonical_spelling(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:18789", "127.0.0.1:18789", "ws://", "ws://u:p@127.0.0.1:1", "ws://127.0.0.1:99999"],
)
def test_urls_that_are_not_gateway_websockets_are_refused(url: str) -> None:
    with pytest.raises(InvalidGatewayURL):
        canonical_url(url)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.1", "localhost", "[::1]", "::ffff:127.0.0.1", "api.localhost"]
)
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "192.168.1.2", "example.com", "::2", "127.example.com"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_plain_ws_is_for_loopback_unless_insecure_is_explicitly_allowed() -> None:
    assert check_url("ws://127.0.0.1:18789") == "ws://127.0.0.1:18789"
    assert check_url("wss://gw.example.com") == "wss://gw.example.com"
    with pytest.raises(InsecureGatewayURL, match="SSH tunnel"):
        check_url("ws://gw.example.com:18789")
    assert check_url("ws://gw.example.com:18789", allow_insecure=True) == "ws://gw.example.com:18789"
