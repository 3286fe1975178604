from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from sidecar.gateway import (
    Accepted,
    AuthRateLimited,
    ChallengeReceived,
    ConnectionLost,
    DeviceAuthRejected,
    DeviceTokenMismatch,
    EventReceived,
    GatewayAuthChanged,
    GatewayError,
    GatewayProtocol,
    HandshakeFailed,
    HandshakeRejected,
    HelloReceived,
    InvalidRequest,
    MissingScope,
    PairingRequired,
    PayloadTooLarge,
    Phase,
    PolicyViolation,
    ProtocolMismatch,
    ProtocolViolation,
    RequestError,
    RequestFailed,
    ResponseReceived,
    ScopeMismatch,
    ServiceRestart,
    SharedTokenMismatch,
    SharedTokenMissing,
    ShutdownAnnounced,
    Unavailable,
)
from sidecar.gateway._errors import ErrorContext

from .conftest import FRAMES, captured

CTX = ErrorContext("ws://127.0.0.1:18789", "dev-1")
CHALLENGE = {
    "type": "event",
    "event": "connect.challenge",
    "payload": {"nonce": "n-1", "ts": 1795311383889, "capabilities": ["model-catalog-snapshot"]},
}


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"r{next(counter)}"


def text(frame: dict[str, Any]) -> str:
    return json.dumps(frame)


def hello_frame(request_id: str, tick_ms: int = 30000) -> str:
    payload = json.loads((FRAMES / "hello-ok.payload.json").read_text())
    payload["policy"]["tickIntervalMs"] = tick_ms
    return text({"type": "res", "id": request_id, "ok": True, "payload": payload})


def error_res(request_id: str, code: str, message: str, details: Any = None, **extra: Any) -> str:
    error: dict[str, Any] = {"code": code, "message": message, **extra}
    if details is not None:
        error["details"] = details
    return text({"type": "res", "id": request_id, "ok": False, "error": error})


def awaiting_hello() -> GatewayProtocol:
    protocol = GatewayProtocol(CTX, new_id=ids())
    protocol.receive(text(CHALLENGE), 0.0)
    protocol.send_connect({"minProtocol": 4})
    return protocol


def open_protocol(tick_ms: int = 30000) -> GatewayProtocol:
    protocol = awaiting_hello()
    protocol.receive(hello_frame("r1", tick_ms), 1.0)
    return protocol


def test_the_handshake_runs_challenge_then_connect_then_hello() -> None:
    protocol = GatewayProtocol(CTX, new_id=ids())
    assert protocol.phase is Phase.AWAIT_CHALLENGE
    [out] = protocol.receive(text(CHALLENGE), 0.0)
    assert isinstance(out, ChallengeReceived)
    assert (out.challenge.nonce, out.challenge.ts) == ("n-1", 1795311383889)
    sent = json.loads(protocol.send_connect({"minProtocol": 4, "maxProtocol": 4}))
    assert sent == {
        "type": "req",
        "id": "r1",
        "method": "connect",
        "params": {"minProtocol": 4, "maxProtocol": 4},
    }
    assert protocol.phase is Phase.AWAIT_HELLO
    [hello] = protocol.receive(hello_frame("r1"), 1.0)
    assert isinstance(hello, HelloReceived)
    assert protocol.phase is Phase.OPEN
    assert protocol.hello is hello.hello


def test_connect_cannot_be_sent_before_the_challenge_or_twice() -> None:
    protocol = GatewayProtocol(CTX)
    with pytest.raises(RuntimeError, match="after the challenge"):
        protocol.send_connect({})
    protocol.receive(text(CHALLENGE), 0.0)
    protocol.send_connect({})
    with pytest.raises(RuntimeError):
        protocol.send_connect({})


def test_requests_are_refused_before_hello() -> None:
    with pytest.raises(RuntimeError, match="open connection"):
        awaiting_hello().send_request("health")


def test_events_before_the_challenge_or_hello_are_ignored() -> None:
    protocol = GatewayProtocol(CTX, new_id=ids())
    assert protocol.receive(text({"type": "event", "event": "tick", "payload": {}}), 0.0) == []
    protocol.receive(text(CHALLENGE), 0.0)
    protocol.send_connect({})
    assert protocol.receive(text({"type": "event", "event": "health", "payload": {}}), 0.0) == []


@pytest.mark.parametrize(
    "frame",
    [{"type": "res", "id": "x", "ok": True}, {"type": "req", "id": "x", "method": "node.invoke"}],
)
def test_a_response_before_connect_or_a_request_from_the_gateway_is_a_violation(
    frame: dict[str, Any],
) -> None:
    with pytest.raises(ProtocolViolation):
        GatewayProtocol(CTX).receive(text(frame), 0.0)


def test_a_response_to_another_id_before_hello_is_a_violation() -> None:
    with pytest.raises(ProtocolViolation, match="before hello-ok"):
        awaiting_hello().receive(text({"type": "res", "id": "zzz", "ok": True}), 1.0)


def test_each_response_resolves_only_its_own_request() -> None:
    protocol = open_protocol()
    first, _ = protocol.send_request("sessions.list", {"limit": 2})
    second, frame = protocol.send_request("health")
    assert json.loads(frame) == {"type": "req", "id": second, "method": "health"}
    [out] = protocol.receive(text({"type": "res", "id": second, "ok": True, "payload": {"ok": True}}), 2.0)
    assert out == ResponseReceived(second, {"ok": True})
    assert protocol.in_flight == (first,)


def test_agent_answers_twice_under_one_id_and_both_answers_are_correlated() -> None:
    frames = captured("agent-rpc-events.txt")
    request = next(f.frame for f in frames if f.frame.get("method") == "agent")
    accepted = next(f.raw for f in frames if f.frame.get("type") == "res" and f.frame["id"] == request["id"])
    protocol = open_protocol()
    protocol._new_id = lambda: request["id"]
    request_id, _ = protocol.send_request("agent", request["params"], expect_final=True)
    [first] = protocol.receive(accepted, 2.0)
    assert isinstance(first, Accepted)
    assert first.payload["status"] == "accepted"
    assert first.payload["runId"] == request["params"]["idempotencyKey"]
    assert protocol.in_flight == (request_id,)
    events = [
        protocol.receive(f.raw, 3.0)
        for f in frames
        if f.frame.get("type") == "event" and f.frame["event"] != "connect.challenge"
    ]
    assert all(isinstance(out[0], EventReceived) for out in events)
    final = {
        "type": "res",
        "id": request_id,
        "ok": True,
        "payload": {"runId": first.payload["runId"], "status": "ok", "summary": "completed", "result": {}},
    }
    [second] = protocol.receive(text(final), 4.0)
    assert second == ResponseReceived(request_id, final["payload"])
    assert protocol.in_flight == ()


def test_a_failed_final_agent_answer_carries_its_payload() -> None:
    protocol = open_protocol()
    request_id, _ = protocol.send_request("agent", {}, expect_final=True)
    protocol.receive(
        text({"type": "res", "id": request_id, "ok": True, "payload": {"status": "accepted"}}), 2.0
    )
    [out] = protocol.receive(error_res(request_id, "UNAVAILABLE", "run failed"), 3.0)
    assert isinstance(out, RequestFailed)
    assert isinstance(out.error, Unavailable)
    assert out.error.method == "agent"


def test_the_late_second_answer_to_a_plain_request_is_ignored() -> None:
    protocol = open_protocol()
    request_id, _ = protocol.send_request("agent", {})
    [first] = protocol.receive(
        text({"type": "res", "id": request_id, "ok": True, "payload": {"status": "accepted"}}), 2.0
    )
    assert isinstance(first, ResponseReceived)
    assert (
        protocol.receive(
            text({"type": "res", "id": request_id, "ok": True, "payload": {"status": "ok"}}), 3.0
        )
        == []
    )


def test_a_forgotten_request_drops_its_late_response() -> None:
    protocol = open_protocol()
    request_id, _ = protocol.send_request("health")
    protocol.forget(request_id)
    assert protocol.receive(text({"type": "res", "id": request_id, "ok": True}), 2.0) == []


def test_events_carry_name_payload_and_seq() -> None:
    protocol = open_protocol()
    [out] = protocol.receive(text({"type": "event", "event": "tick", "payload": {"ts": 1}, "seq": 42}), 2.0)
    assert out == EventReceived("tick", {"ts": 1}, 42)


def test_a_shutdown_event_is_announced_with_the_expected_restart_delay() -> None:
    protocol = open_protocol()
    outs = protocol.receive(
        text(
            {
                "type": "event",
                "event": "shutdown",
                "payload": {"reason": "restart", "restartExpectedMs": 1500},
            }
        ),
        2.0,
    )
    assert outs[1] == ShutdownAnnounced("restart", 1500)


def test_the_connection_is_dead_two_tick_intervals_after_the_last_frame() -> None:
    protocol = open_protocol(tick_ms=1000)
    assert protocol.dead_at() == 1.0 + 2.0
    protocol.receive(text({"type": "event", "event": "tick", "payload": {}}), 5.5)
    assert protocol.dead_at() == 7.5
    assert "2 s" in str(protocol.tick_timeout())
    assert awaiting_hello().dead_at() is None


def test_a_close_reports_every_request_still_in_flight() -> None:
    protocol = open_protocol()
    a, _ = protocol.send_request("health")
    b, _ = protocol.send_request("status")
    closed = protocol.connection_closed(1012, "service restart")
    assert set(closed.in_flight) == {a, b}
    assert isinstance(closed.error, ServiceRestart)
    assert protocol.phase is Phase.CLOSED
    assert protocol.receive(text({"type": "res", "id": a, "ok": True}), 9.0) == []


def test_a_captured_pairing_rejection_wins_over_the_close_that_follows() -> None:
    frames = captured("device-pairing-required.txt")
    response = next(f.raw for f in frames if f.frame.get("type") == "res")
    protocol = awaiting_hello()
    protocol._connect_id = json.loads(response)["id"]
    [out] = protocol.receive(response, 1.0)
    assert isinstance(out, HandshakeFailed)
    error = out.error
    assert isinstance(error, PairingRequired)
    assert error.request_id == "855137a8-29f2-4220-83f1-2187239b7660"
    assert error.reason == "not-paired"
    assert "openclaw devices approve 855137a8-29f2-4220-83f1-2187239b7660" in str(error)
    closed = protocol.connection_closed(1008, "pairing required: device is not approved yet (requestId: x)")
    assert closed.error is error


def test_a_pairing_close_reason_alone_yields_the_request_id_and_the_approve_command() -> None:
    reason = "pairing required: device is not approved yet (requestId: 855137a8-29f2-4220-83f1-2187239b7660)"
    error = awaiting_hello().connection_closed(1008, reason).error
    assert isinstance(error, PairingRequired)
    assert error.request_id == "855137a8-29f2-4220-83f1-2187239b7660"
    assert "openclaw devices approve 855137a8-29f2-4220-83f1-2187239b7660" in str(error)
    assert "sidecar pair --gateway ws://127.0.0.1:18789 --agent dev-1" in str(error)


def test_the_captured_bad_token_rejection_is_a_shared_token_mismatch() -> None:
    frames = [f for f in captured("errors.txt") if f.tag == "badtoken"]
    response = next(f.raw for f in frames if f.frame.get("type") == "res")
    protocol = awaiting_hello()
    protocol._connect_id = json.loads(response)["id"]
    [out] = protocol.receive(response, 1.0)
    assert isinstance(out, HandshakeFailed)
    assert isinstance(out.error, SharedTokenMismatch)
    assert "OPENCLAW_GATEWAY_TOKEN" in str(out.error)


def test_the_captured_invalid_connect_params_rejection_is_a_handshake_rejection() -> None:
    frames = [f for f in captured("errors.txt") if f.tag == "docs-mode"]
    response = next(f.raw for f in frames if f.frame.get("type") == "res")
    protocol = awaiting_hello()
    protocol._connect_id = json.loads(response)["id"]
    [out] = protocol.receive(response, 1.0)
    assert isinstance(out.error, HandshakeRejected)  # type: ignore[union-attr]
    assert "/client/mode" in str(out.error)  # type: ignore[union-attr]


def connect_error(code: str, message: str, details: Any = None, **extra: Any) -> GatewayError:
    protocol = awaiting_hello()
    [out] = protocol.receive(error_res("r1", code, message, details, **extra), 1.0)
    assert isinstance(out, HandshakeFailed)
    return out.error


@pytest.mark.parametrize(
    ("code", "message", "details", "expected"),
    [
        (
            "INVALID_REQUEST",
            "unauthorized: device token mismatch (rotate/reissue device token)",
            {"code": "AUTH_DEVICE_TOKEN_MISMATCH"},
            DeviceTokenMismatch,
        ),
        (
            "INVALID_REQUEST",
            "unauthorized: gateway token missing (provide gateway auth token)",
            {"code": "AUTH_TOKEN_MISSING"},
            SharedTokenMissing,
        ),
        (
            "INVALID_REQUEST",
            "unauthorized: too many failed authentication attempts (retry later)",
            {"code": "AUTH_RATE_LIMITED"},
            AuthRateLimited,
        ),
        (
            "INVALID_REQUEST",
            "device token does not cover scopes",
            {"code": "AUTH_SCOPE_MISMATCH"},
            ScopeMismatch,
        ),
        (
            "INVALID_REQUEST",
            "device signature expired",
            {"code": "DEVICE_AUTH_SIGNATURE_EXPIRED"},
            DeviceAuthRejected,
        ),
        (
            "INVALID_REQUEST",
            "protocol mismatch",
            {"code": "PROTOCOL_MISMATCH", "expectedProtocol": 5},
            ProtocolMismatch,
        ),
        (
            "NOT_PAIRED",
            "pairing required",
            {"code": "PAIRING_REQUIRED", "reason": "scope-upgrade"},
            PairingRequired,
        ),
        ("UNAVAILABLE", "connect unavailable during gateway startup", None, Unavailable),
    ],
)
def test_connect_rejections_map_to_typed_errors(
    code: str, message: str, details: Any, expected: type[GatewayError]
) -> None:
    assert type(connect_error(code, message, details)) is expected


def test_a_device_token_mismatch_says_it_was_dropped_and_how_to_re_pair() -> None:
    error = connect_error(
        "INVALID_REQUEST",
        "unauthorized: device token mismatch (rotate/reissue device token)",
        {"code": "AUTH_DEVICE_TOKEN_MISMATCH"},
    )
    assert "rotated or revoked" in str(error)
    assert "sidecar pair --gateway ws://127.0.0.1:18789 --agent dev-1" in str(error)


def test_a_protocol_mismatch_names_the_gateway_protocol() -> None:
    error = connect_error("INVALID_REQUEST", "protocol mismatch", {"expectedProtocol": 5})
    assert isinstance(error, ProtocolMismatch)
    assert error.expected_protocol == 5
    assert "protocol 5" in str(error)


def request_error(code: str, message: str, details: Any = None, **extra: Any) -> RequestError:
    protocol = open_protocol()
    request_id, _ = protocol.send_request("sessions.patch", {})
    [out] = protocol.receive(error_res(request_id, code, message, details, **extra), 2.0)
    assert isinstance(out, RequestFailed)
    assert isinstance(out.error, RequestError)
    return out.error


def test_forbidden_missing_scope_names_the_scope_and_how_to_re_pair() -> None:
    error = request_error(
        "FORBIDDEN",
        "missing scope: operator.admin",
        {"code": "MISSING_SCOPE", "missingScope": "operator.admin", "requiredScopes": ["operator.admin"]},
    )
    assert isinstance(error, MissingScope)
    assert (error.missing_scope, error.required_scopes) == ("operator.admin", ("operator.admin",))
    assert "sidecar pair" in str(error)


def test_an_older_gateway_missing_scope_message_is_also_a_missing_scope() -> None:
    error = request_error("INVALID_REQUEST", "missing scope: operator.write")
    assert isinstance(error, MissingScope)
    assert error.missing_scope == "operator.write"


def test_unavailable_carries_retry_after() -> None:
    error = request_error(
        "UNAVAILABLE",
        "rate limit exceeded for config.patch; retry after 3s",
        retryable=True,
        retryAfterMs=3000,
    )
    assert isinstance(error, Unavailable)
    assert (error.retryable, error.retry_after_ms) == (True, 3000)
    assert "Retry after 3000 ms" in str(error)


def test_invalid_request_keeps_the_gateway_message() -> None:
    error = request_error("INVALID_REQUEST", "unknown method: sessions.nope")
    assert isinstance(error, InvalidRequest)
    assert error.gateway_message == "unknown method: sessions.nope"
    assert error.method == "sessions.patch"


def test_an_unknown_error_code_is_a_plain_request_error() -> None:
    error = request_error("AGENT_TIMEOUT", "agent timed out")
    assert type(error) is RequestError
    assert error.code == "AGENT_TIMEOUT"


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (1002, "protocol mismatch", ProtocolMismatch),
        (1002, "bad frame", ProtocolViolation),
        (
            1008,
            "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)",
            SharedTokenMismatch,
        ),
        (1008, "unauthorized: device token mismatch (rotate/reissue device token)", DeviceTokenMismatch),
        (1008, "device signature invalid", DeviceAuthRejected),
        (1008, "repeated unauthorized calls", PolicyViolation),
        (1009, "preauth payload too large", PayloadTooLarge),
        (1012, "service restart", ServiceRestart),
        (4001, "gateway auth changed", GatewayAuthChanged),
        (1006, "", ConnectionLost),
        (None, "", ConnectionLost),
    ],
)
def test_close_codes_map_to_typed_errors(code: int | None, reason: str, expected: type[GatewayError]) -> None:
    assert type(open_protocol().connection_closed(code, reason).error) is expected


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1002, "protocol mismatch"),
        (1002, "x"),
        (1008, "pairing required: not approved (requestId: abc)"),
        (1008, "unauthorized: gateway token mismatch"),
        (1008, "unauthorized: device token mismatch"),
        (1008, "whatever"),
        (1009, ""),
        (1012, ""),
        (4001, ""),
        (1000, ""),
        (None, ""),
    ],
)
def test_every_close_error_says_what_to_do_next(code: int | None, reason: str) -> None:
    error = awaiting_hello().connection_closed(code, reason).error
    assert error.hint
    assert str(error).endswith(error.hint)
