from __future__ import annotations

import hashlib
import pickle
import re

import pytest

from sidecar.gateway import DeviceIdentity
from sidecar.gateway._identity import b64url_decode, device_id_for, normalize_metadata, signature_payload_v3

from .conftest import captured

B64URL_NO_PAD = re.compile(r"^[A-Za-z0-9_-]+$")


def test_device_id_is_the_hex_sha256_of_the_raw_32_byte_public_key() -> None:
    identity = DeviceIdentity.generate()
    assert len(identity.public_key_raw) == 32
    assert identity.device_id == hashlib.sha256(identity.public_key_raw).hexdigest()
    assert identity.device_id == identity.device_id.lower()


def test_the_captured_device_id_matches_its_captured_public_key() -> None:
    connect = next(
        f.frame for f in captured("device-pairing-required.txt") if f.frame.get("method") == "connect"
    )
    device = connect["params"]["device"]
    assert device_id_for(b64url_decode(device["publicKey"])) == device["id"]


def test_public_key_and_signature_are_base64url_without_padding() -> None:
    identity = DeviceIdentity.generate()
    signature = identity.sign("v3|x")
    for text in (identity.public_key, signature):
        assert B64URL_NO_PAD.match(text)
    assert len(b64url_decode(identity.public_key)) == 32
    assert len(b64url_decode(signature)) == 64


def test_the_v3_payload_joins_eleven_fields_with_pipes_and_no_trailing_separator() -> None:
    payload = signature_payload_v3(
        device_id="dev",
        client_id="gateway-client",
        client_mode="backend",
        role="operator",
        scopes=["operator.read", "operator.write"],
        signed_at_ms=1795311828794,
        token="tok",
        nonce="n-1",
        platform=" Linux ",
        device_family=None,
    )
    assert (
        payload
        == "v3|dev|gateway-client|backend|operator|operator.read,operator.write|1795311828794|tok|n-1|linux|"
    )


def test_an_empty_scope_list_and_missing_token_leave_empty_fields() -> None:
    payload = signature_payload_v3(
        device_id="d",
        client_id="c",
        client_mode="m",
        role="operator",
        scopes=[],
        signed_at_ms=1,
        token=None,
        nonce="n",
        platform=None,
        device_family="Phone",
    )
    assert payload == "v3|d|c|m|operator||1||n||phone"


def test_metadata_is_trimmed_and_only_ascii_letters_are_lowercased() -> None:
    assert normalize_metadata("  MacOS ") == "macos"
    assert normalize_metadata("ÄRGER") == "Ärger"


@pytest.mark.parametrize("name", ["device-pairing-required.txt", "device-after-approve.txt"])
def test_our_v3_payload_verifies_the_signature_the_reference_client_sent(name: str) -> None:
    frames = captured(name)
    challenge = next(f.frame["payload"] for f in frames if f.frame.get("event") == "connect.challenge")
    params = next(f.frame["params"] for f in frames if f.frame.get("method") == "connect")
    device = params["device"]
    payload = signature_payload_v3(
        device_id=device["id"],
        client_id=params["client"]["id"],
        client_mode=params["client"]["mode"],
        role=params["role"],
        scopes=params["scopes"],
        signed_at_ms=challenge["ts"],
        token=params["auth"]["token"],
        nonce=challenge["nonce"],
        platform=params["client"]["platform"],
        device_family=None,
    )
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(b64url_decode(device["publicKey"]))
    key.verify(b64url_decode(device["signature"]), payload.encode())


def test_an_identity_round_trips_through_its_private_bytes() -> None:
    identity = DeviceIdentity.generate()
    again = DeviceIdentity.from_private_bytes(identity.private_bytes())
    assert again.device_id == identity.device_id
    assert again.verify("hello", identity.sign("hello"))
    assert not again.verify("hello!", identity.sign("hello"))


def test_repr_and_pickling_never_expose_the_private_key() -> None:
    identity = DeviceIdentity.generate()
    seed = identity.private_bytes()
    text = repr(identity) + str(identity)
    assert identity.device_id in text
    for form in (seed.hex(), seed.hex().upper(), identity.public_key):
        assert form not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(identity)


def test_a_private_key_must_be_a_32_byte_seed() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        DeviceIdentity.from_private_bytes(b"short")
