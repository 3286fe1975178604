from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.gateway import ProtocolViolation
from sidecar.gateway._frames import EventFrame, RequestFrame, ResponseFrame, parse_frame

from .conftest import FRAMES, captured

CAPTURES = [
    "agent-rpc-events.txt",
    "device-after-approve.txt",
    "device-pairing-required.txt",
    "errors.txt",
    "token-backend.txt",
]


@pytest.mark.parametrize("name", CAPTURES)
def test_every_complete_captured_frame_parses_as_a_v4_frame(name: str) -> None:
    frames = captured(name)
    assert frames
    for item in frames:
        parsed = parse_frame(item.raw)
        kind = {"req": RequestFrame, "res": ResponseFrame, "event": EventFrame}[item.frame["type"]]
        assert isinstance(parsed, kind)


def test_the_full_hello_ok_payload_fits_a_response_frame() -> None:
    payload = json.loads((FRAMES / "hello-ok.payload.json").read_text())
    frame = parse_frame(json.dumps({"type": "res", "id": "c1", "ok": True, "payload": payload}))
    assert isinstance(frame, ResponseFrame)
    assert frame.payload["type"] == "hello-ok"


def test_event_frames_keep_name_payload_and_seq() -> None:
    frame = parse_frame('{"type":"event","event":"tick","payload":{"ts":5},"seq":7}')
    assert frame == EventFrame("tick", {"ts": 5}, 7)


def test_the_optional_profile_ids_of_the_pinned_schema_are_part_of_the_closed_shapes() -> None:
    event = parse_frame('{"type":"event","event":"chat","payload":{},"seq":0,"recipientProfileId":"p-1"}')
    assert isinstance(event, EventFrame)
    assert event.recipient_profile_id == "p-1"
    request = parse_frame('{"type":"req","id":"1","method":"health","expectedProfileId":"p-1"}')
    assert isinstance(request, RequestFrame)


def test_a_targeted_event_has_no_seq() -> None:
    frame = parse_frame('{"type":"event","event":"session.message","payload":{}}')
    assert isinstance(frame, EventFrame)
    assert frame.seq is None


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"res","id":"1","ok":true,"extra":1}',
        '{"type":"event","event":"tick","surprise":true}',
        '{"type":"res","id":"1","ok":false,"error":{"code":"X","message":"m","hint":"?"}}',
    ],
)
def test_a_frame_with_a_key_outside_the_closed_shape_is_a_protocol_violation(text: str) -> None:
    with pytest.raises(ProtocolViolation, match="outside protocol v4"):
        parse_frame(text)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1,2]",
        '{"type":"nope"}',
        '{"type":"res","ok":true}',
        '{"type":"res","id":"1","ok":"yes"}',
        '{"type":"event","event":""}',
        '{"type":"event","event":"x","seq":"3"}',
        '{"type":"event","event":"x","seq":-1}',
        b"\xff\xfe",
    ],
)
def test_malformed_messages_are_protocol_violations(text: str | bytes) -> None:
    with pytest.raises(ProtocolViolation):
        parse_frame(text)


def test_a_protocol_violation_message_names_the_next_step() -> None:
    with pytest.raises(ProtocolViolation) as info:
        parse_frame("{}")
    assert "report it" in str(info.value)


def test_a_request_without_params_encodes_without_the_key() -> None:
    assert json.loads(RequestFrame("1", "health").encode()) == {"type": "req", "id": "1", "method": "health"}


def test_error_shape_exposes_detail_code_and_retry_after() -> None:
    frame = parse_frame(
        json.dumps(
            {
                "type": "res",
                "id": "9",
                "ok": False,
                "error": {
                    "code": "UNAVAILABLE",
                    "message": "busy",
                    "details": {"code": "STARTUP"},
                    "retryable": True,
                    "retryAfterMs": 500,
                },
            }
        )
    )
    assert isinstance(frame, ResponseFrame)
    assert frame.error is not None
    assert (frame.error.detail_code, frame.error.retryable, frame.error.retry_after_ms) == (
        "STARTUP",
        True,
        500,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(request_id=st.text(min_size=1), method=st.text(min_size=1), params=json_values)
def test_any_request_frame_round_trips_through_the_parser(
    request_id: str, method: str, params: object
) -> None:
    frame = RequestFrame(request_id, method, params)
    assert parse_frame(frame.encode()) == frame
