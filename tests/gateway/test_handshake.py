from __future__ import annotations

import json

import pytest

from sidecar.gateway import (
    ALL_SCOPES,
    ClientInfo,
    DeviceIdentity,
    HelloOk,
    ProtocolViolation,
)
from sidecar.gateway._handshake import Challenge, ConnectAuth, build_connect_params
from sidecar.gateway._identity import signature_payload_v3

from .conftest import FRAMES, captured

CHALLENGE = Challenge(nonce="cee07099-43a5-4248-8e02-fa60d9de1970", ts=1795311383889)


def hello_payload() -> dict[str, object]:
    payload: dict[str, object] = json.loads((FRAMES / "hello-ok.payload.json").read_text())
    return payload


def signed_payload(params: dict[str, object], identity: DeviceIdentity, token: str) -> str:
    client = params["client"]
    assert isinstance(client, dict)
    return signature_payload_v3(
        device_id=identity.device_id,
        client_id=client["id"],
        client_mode=client["mode"],
        role="operator",
        scopes=list(ALL_SCOPES),
        signed_at_ms=CHALLENGE.ts,
        token=token,
        nonce=CHALLENGE.nonce,
        platform=client["platform"],
        device_family=None,
    )


def test_the_captured_challenge_parses_with_nonce_and_ts() -> None:
    event = next(
        f.frame for f in captured("agent-rpc-events.txt") if f.frame.get("event") == "connect.challenge"
    )
    assert Challenge.from_payload(event["payload"]) == CHALLENGE


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"nonce": "n"},
        {"nonce": "n", "ts": "1"},
        {"nonce": "n", "ts": -1},
        {"nonce": " ", "ts": 1},
        {"nonce": "n", "ts": True},
    ],
)
def test_a_challenge_without_a_nonce_or_integer_ts_is_a_protocol_violation(payload: object) -> None:
    with pytest.raises(ProtocolViolation):
        Challenge.from_payload(payload)


def test_connect_offers_protocol_4_only_as_a_gateway_client_operator_in_cli_mode() -> None:
    params = build_connect_params(challenge=CHALLENGE, identity=DeviceIdentity.generate(), auth=ConnectAuth())
    assert (params["minProtocol"], params["maxProtocol"]) == (3, 4)
    assert params["client"]["id"] == "gateway-client"
    assert params["client"]["mode"] == "cli"
    assert params["client"]["platform"] and params["client"]["version"]
    assert params["role"] == "operator"
    assert params["scopes"] == list(ALL_SCOPES)


def test_the_device_block_signs_the_challenge_nonce_and_ts() -> None:
    identity = DeviceIdentity.generate()
    params = build_connect_params(challenge=CHALLENGE, identity=identity, auth=ConnectAuth())
    device = params["device"]
    assert device == {
        "id": identity.device_id,
        "publicKey": identity.public_key,
        "signature": device["signature"],
        "signedAt": CHALLENGE.ts,
        "nonce": CHALLENGE.nonce,
    }
    assert identity.verify(signed_payload(params, identity, ""), device["signature"])
    assert "auth" not in params


def test_the_shared_token_is_signed_when_both_tokens_are_sent() -> None:
    identity = DeviceIdentity.generate()
    params = build_connect_params(
        challenge=CHALLENGE, identity=identity, auth=ConnectAuth(shared_token="shared", device_token="device")
    )
    assert params["auth"] == {"token": "shared", "deviceToken": "device"}
    assert identity.verify(signed_payload(params, identity, "shared"), params["device"]["signature"])


def test_the_device_token_is_sent_and_signed_when_it_is_the_only_credential() -> None:
    identity = DeviceIdentity.generate()
    params = build_connect_params(
        challenge=CHALLENGE, identity=identity, auth=ConnectAuth(device_token="device")
    )
    assert params["auth"] == {"deviceToken": "device"}
    assert identity.verify(signed_payload(params, identity, "device"), params["device"]["signature"])


def test_scopes_are_signed_in_the_order_they_are_sent() -> None:
    identity = DeviceIdentity.generate()
    scopes = ["operator.write", "operator.read"]
    params = build_connect_params(challenge=CHALLENGE, identity=identity, auth=ConnectAuth(), scopes=scopes)
    payload = signed_payload(params, identity, "").replace(",".join(ALL_SCOPES), ",".join(scopes))
    assert params["scopes"] == scopes
    assert identity.verify(payload, params["device"]["signature"])


def test_device_family_is_sent_as_given_and_signed_lowercased() -> None:
    identity = DeviceIdentity.generate()
    client = ClientInfo(platform="Linux", device_family="Server")
    params = build_connect_params(challenge=CHALLENGE, identity=identity, auth=ConnectAuth(), client=client)
    assert params["client"]["deviceFamily"] == "Server"
    assert signature_payload_v3(
        device_id=identity.device_id,
        client_id="gateway-client",
        client_mode="cli",
        role="operator",
        scopes=list(ALL_SCOPES),
        signed_at_ms=CHALLENGE.ts,
        token="",
        nonce=CHALLENGE.nonce,
        platform="Linux",
        device_family="Server",
    ).endswith("|linux|server")


def test_connect_auth_repr_hides_both_tokens() -> None:
    text = repr(ConnectAuth(shared_token="s3cr3t-shared", device_token="s3cr3t-device"))
    assert "s3cr3t" not in text


def test_the_real_hello_ok_parses_policy_auth_and_session_defaults() -> None:
    hello = HelloOk.parse(hello_payload())
    assert hello.protocol == 4
    assert hello.server_version == "2026.9.6"
    assert hello.policy.max_payload == 26214400
    assert hello.policy.tick_interval_ms == 30000
    assert hello.policy.max_buffered_bytes == 52428800
    assert hello.auth.role == "operator"
    assert set(hello.auth.scopes) == set(ALL_SCOPES)
    assert hello.auth.device_token is None
    assert hello.auth.method == "token"
    assert hello.session_defaults is not None
    assert hello.session_defaults.main_key == "main"
    assert hello.session_defaults.main_session_key == "agent:main:main"
    assert hello.session_defaults.default_agent_id == "main"
    assert {"sessions.list", "agent", "agent.wait", "chat.history"} <= hello.methods
    assert {"tick", "shutdown", "sessions.changed"} <= hello.events


def test_a_device_token_in_hello_ok_is_parsed_but_kept_out_of_repr() -> None:
    payload = hello_payload()
    payload["auth"] = {
        "role": "operator",
        "scopes": ["operator.read"],
        "deviceToken": "dxGKq9jvuWlZxbn7q83D1",
    }
    hello = HelloOk.parse(payload)
    assert hello.auth.device_token == "dxGKq9jvuWlZxbn7q83D1"
    assert "dxGKq9jvuWlZxbn7q83D1" not in repr(hello)


@pytest.mark.parametrize(
    ("key", "value"),
    [("type", "hello"), ("protocol", 5), ("policy", {"maxPayload": 1}), ("server", None)],
)
def test_a_hello_ok_that_breaks_the_contract_is_a_protocol_violation(key: str, value: object) -> None:
    payload = hello_payload()
    payload[key] = value
    with pytest.raises(ProtocolViolation):
        HelloOk.parse(payload)


def test_the_default_identity_avoids_the_gateway_reserved_loopback_backend_path() -> None:
    client = ClientInfo()
    assert client.id == "gateway-client"
    assert (client.id, client.mode) != ("gateway-client", "backend")
