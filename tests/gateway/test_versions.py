"""Negotiating with OpenClaw 2026.3.13, 2026.4.12 and 2026.9.6: protocols 3-4, one adapter per release,
features from hello plus probing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar.gateway import (
    ADAPTERS,
    SUPPORTED_RANGE,
    ErrorShape,
    Features,
    GatewayProtocol,
    HelloOk,
    InvalidRequest,
    ProtocolMismatch,
    ProtocolViolation,
    RequestError,
    UnsupportedVersion,
    adapter_for,
    features_of,
    inter_session_run,
    is_supported,
    is_unknown_method,
    parse_version,
    sent_under,
)


def hello(protocol: int, version: str, methods: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "hello-ok",
        "protocol": protocol,
        "server": {"version": version, "connId": "c1"},
        "features": {"methods": methods or ["sessions.list", "agent"], "events": []},
        "snapshot": {
            "sessionDefaults": {
                "defaultAgentId": "main",
                "mainKey": "main",
                "mainSessionKey": "agent:main:main",
            }
        },
        "policy": {"maxPayload": 26214400, "maxBufferedBytes": 52428800, "tickIntervalMs": 30000},
    }


def test_a_protocol_3_hello_from_an_older_release_is_accepted() -> None:
    parsed = HelloOk.parse(hello(3, "2026.3.13"))
    assert parsed.protocol == 3
    assert parsed.server_version == "2026.3.13"
    # 3.x sends `auth` only when it issues a token: absent is fine.
    assert parsed.auth.device_token is None


def test_a_hello_outside_the_offered_protocols_is_a_violation() -> None:
    with pytest.raises(ProtocolViolation, match="only 3 to 4 were offered"):
        HelloOk.parse(hello(5, "2027.1.1"))


def test_connect_offers_protocols_3_to_4() -> None:
    proto = GatewayProtocol()
    proto.receive(
        json.dumps({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n", "ts": 1}}), 0
    )
    sent = json.loads(proto.send_connect({"minProtocol": 3, "maxProtocol": 4}))
    assert sent["params"] == {"minProtocol": 3, "maxProtocol": 4}


@pytest.mark.parametrize(
    ("version", "measured"),
    [
        ("2026.3.13", "2026.3.13"),
        ("2026.3.20", "2026.3.13"),
        ("2026.4.12", "2026.4.12"),
        ("2026.4.12-beta.1", "2026.4.12"),
        ("2026.8.1", "2026.4.12"),
        ("2026.9.6", "2026.9.6"),
    ],
)
def test_each_supported_release_maps_to_its_measured_adapter(version: str, measured: str) -> None:
    assert adapter_for(version).measured == measured
    assert is_supported(version)


@pytest.mark.parametrize("version", ["2026.3.8", "2026.9.7", "2027.1.1", "", "dev"])
def test_a_release_outside_the_range_is_refused_naming_the_range(version: str) -> None:
    with pytest.raises(UnsupportedVersion) as caught:
        adapter_for(version, where="the gateway at ws://127.0.0.1:1")
    assert SUPPORTED_RANGE in str(caught.value)
    assert "2026.3.13 to 2026.9.6" in str(caught.value)
    assert "sidecar doctor" in str(caught.value)


def test_the_protocol_mismatch_hint_names_the_supported_range() -> None:
    error = ProtocolMismatch("gateway refused the protocol version (protocol mismatch)", 5)
    assert "protocols 3 and 4" in str(error) and "2026.3.13 to 2026.9.6" in str(error)


def test_the_adapters_hold_the_measured_differences() -> None:
    old, mid, new = ADAPTERS["2026.3.13"], ADAPTERS["2026.4.12"], ADAPTERS["2026.9.6"]
    assert (old.protocol, mid.protocol, new.protocol) == (3, 3, 4)
    assert not old.paged_list and not mid.paged_list and new.paged_list
    assert not old.session_events and mid.session_events and new.session_events
    assert (old.spawn_sequence, mid.spawn_sequence, new.spawn_sequence) == (
        "patch-agent",
        "patch-agent",
        "create",
    )
    assert not old.transcript_keys and not mid.transcript_keys and new.transcript_keys
    assert not old.mcp_servers and mid.mcp_servers and new.mcp_servers
    assert old.list_params(0, 1000) == {} and new.list_params(1000, 1000) == {"offset": 1000, "limit": 1000}
    assert old.line == "2026.3" and new.line == "2026.9"


def test_a_flattened_changed_event_of_2026_4_yields_its_row() -> None:
    mid = ADAPTERS["2026.4.12"]
    payload = {"sessionKey": "agent:main:x", "reason": "patch", "ts": 5, "updatedAt": 4, "label": "l"}
    assert mid.changed_row(payload) == {"key": "agent:main:x", "updatedAt": 4, "label": "l"}
    # A bare change says only that something changed: no row.
    assert mid.changed_row({"sessionKey": "agent:main:x", "reason": "patch"}) is None
    # 2026.9 nests the row; a flat payload there is not a row.
    new = ADAPTERS["2026.9.6"]
    assert new.changed_row({"sessionKey": "k", "session": {"key": "k", "updatedAt": 1}}) == {
        "key": "k",
        "updatedAt": 1,
    }
    assert new.changed_row(payload) is None


def test_features_come_from_hello_and_probes() -> None:
    features = features_of(HelloOk.parse(hello(3, "2026.3.13", ["sessions.list"])))
    assert isinstance(features, Features)
    assert not features.has("sessions.subscribe") and not features.has("sessions.create")
    # Unlisted on 3.x but served: tried.
    assert features.has("sessions.resolve")
    new = features_of(HelloOk.parse(hello(4, "2026.9.6", ["sessions.subscribe"])))
    assert new.has("sessions.subscribe")
    new.note_missing("sessions.subscribe")
    assert not new.has("sessions.subscribe")
    assert new.describe()["missing"] == ["sessions.subscribe"]


def test_an_unsupported_hello_raises_from_features_of() -> None:
    with pytest.raises(UnsupportedVersion, match=r"OpenClaw 2026\.2\.1"):
        features_of(HelloOk.parse(hello(3, "2026.2.1")))


def test_unknown_method_is_recognised_as_a_fact() -> None:
    unknown = InvalidRequest(
        "sessions.subscribe", ErrorShape("INVALID_REQUEST", "unknown method: sessions.subscribe")
    )
    other = RequestError("sessions.list", ErrorShape("INVALID_REQUEST", "invalid sessions.list params"))
    assert is_unknown_method(unknown)
    assert not is_unknown_method(other)
    assert not is_unknown_method(ValueError("unknown method"))


def test_versions_parse_with_and_without_suffixes() -> None:
    assert parse_version("2026.4.12-beta.1") == (2026, 4, 12)
    assert parse_version("v2026.9.6") == (2026, 9, 6)
    assert parse_version("nightly") is None


def test_an_inter_session_run_is_direct_and_labelled_with_its_source() -> None:
    run = inter_session_run("hi", "agent:dev-1:main", "k-1", "agent:lead:main")
    assert run["deliver"] is False and run["lane"] == "nested" and run["idempotencyKey"] == "k-1"
    assert run["inputProvenance"] == {
        "kind": "inter_session",
        "sourceSessionKey": "agent:lead:main",
        "sourceChannel": "webchat",
        "sourceTool": "sessions_send",
    }
    assert "Agent 1 (requester) session: agent:lead:main." in run["extraSystemPrompt"]
    shown = inter_session_run("hi", "agent:dev-1:main", "k-1", "agent:lead:main", source_label="lead@lab")
    assert "session: lead@lab." in shown["extraSystemPrompt"]
    assert shown["inputProvenance"]["sourceSessionKey"] == "agent:lead:main"


def test_a_transcript_message_is_matched_by_its_key_a_retried_key_or_its_run_id() -> None:
    assert sent_under({"idempotencyKey": "k-1:user"}, "k-1")
    assert sent_under({"idempotencyKey": "k-1-r2:user"}, "k-1")
    assert sent_under({"__openclaw": {"runId": "k-1"}}, "k-1")
    assert not sent_under({"idempotencyKey": "k-2:user"}, "k-1")
    assert not sent_under({"role": "user", "content": "no key (2026.4)"}, "k-1")
    assert not sent_under("not a message", "k-1")
