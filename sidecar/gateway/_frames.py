"""The three wire frames of gateway protocol v4 and their JSON encoding.

Every frame is one JSON object in one text message, discriminated by `type`. The gateway's schema
declares all three closed (`closedObject` in openclaw 2026.9.6's gateway-protocol), so a frame with a
key we do not know is not a newer gateway being generous: it is a different protocol, and we refuse it
rather than guess. The key sets below are that schema's, including its optional profile ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sidecar.gateway._errors import ErrorShape, ProtocolViolation

_REQUEST_KEYS = frozenset({"type", "id", "method", "params", "traceparent", "expectedProfileId"})
_RESPONSE_KEYS = frozenset({"type", "id", "ok", "payload", "error"})
_EVENT_KEYS = frozenset({"type", "event", "payload", "seq", "stateVersion", "recipientProfileId"})
_ERROR_KEYS = frozenset({"code", "message", "details", "retryable", "retryAfterMs"})


@dataclass(frozen=True, slots=True)
class RequestFrame:
    id: str
    method: str
    params: Any = None
    # W3C trace context of the caller's span; the gateway runs the request as a child of it.
    traceparent: str | None = None

    def encode(self) -> str:
        frame: dict[str, Any] = {"type": "req", "id": self.id, "method": self.method}
        if self.params is not None:
            frame["params"] = self.params
        if self.traceparent is not None:
            frame["traceparent"] = self.traceparent
        return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ResponseFrame:
    id: str
    ok: bool
    payload: Any = None
    error: ErrorShape | None = None


@dataclass(frozen=True, slots=True)
class EventFrame:
    event: str
    payload: Any = None
    seq: int | None = None
    state_version: Any = None
    recipient_profile_id: str | None = None


Frame = RequestFrame | ResponseFrame | EventFrame


def parse_frame(data: str | bytes) -> Frame:
    """Decode one message; anything that is not a well-formed v4 frame raises `ProtocolViolation`."""
    try:
        obj = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ProtocolViolation(f"gateway sent a message that is not JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise ProtocolViolation("gateway sent a binary message that is not UTF-8") from None
    if not isinstance(obj, dict):
        raise ProtocolViolation(f"gateway sent a JSON {type(obj).__name__}, not a frame object")
    kind = obj.get("type")
    if kind == "res":
        _closed(obj, _RESPONSE_KEYS, "res")
        ok = obj.get("ok")
        if not isinstance(ok, bool):
            raise ProtocolViolation("res frame without a boolean `ok`")
        error = obj.get("error")
        return ResponseFrame(
            id=_nonempty(obj, "id", "res"),
            ok=ok,
            payload=obj.get("payload"),
            error=None if error is None else _parse_error(error),
        )
    if kind == "event":
        _closed(obj, _EVENT_KEYS, "event")
        seq = obj.get("seq")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
            raise ProtocolViolation(f"event frame with a seq that is not a non-negative integer: {seq!r}")
        recipient = obj.get("recipientProfileId")
        return EventFrame(
            event=_nonempty(obj, "event", "event"),
            payload=obj.get("payload"),
            seq=seq,
            state_version=obj.get("stateVersion"),
            recipient_profile_id=recipient if isinstance(recipient, str) else None,
        )
    if kind == "req":
        _closed(obj, _REQUEST_KEYS, "req")
        return RequestFrame(
            id=_nonempty(obj, "id", "req"), method=_nonempty(obj, "method", "req"), params=obj.get("params")
        )
    raise ProtocolViolation(f"gateway sent a frame of unknown type {kind!r}")


def _closed(obj: dict[str, Any], allowed: frozenset[str], kind: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise ProtocolViolation(f"{kind} frame has keys outside protocol v4: {', '.join(extra)}")


def _nonempty(obj: dict[str, Any], key: str, kind: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolViolation(f"{kind} frame without a non-empty string `{key}`")
    return value


def _parse_error(raw: Any) -> ErrorShape:
    if not isinstance(raw, dict):
        raise ProtocolViolation("res frame whose `error` is not an object")
    _closed(raw, _ERROR_KEYS, "error shape of a res")
    code, message = raw.get("code"), raw.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        raise ProtocolViolation("error shape without string `code` and `message`")
    retryable = raw.get("retryable")
    retry_after = raw.get("retryAfterMs")
    return ErrorShape(
        code=code,
        message=message,
        details=raw.get("details"),
        retryable=retryable if isinstance(retryable, bool) else None,
        retry_after_ms=retry_after
        if isinstance(retry_after, int) and not isinstance(retry_after, bool)
        else None,
    )
