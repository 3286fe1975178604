"""Caller attestation: which OpenClaw session made a `tools/call`, proven by an HMAC the model cannot make.

OpenClaw tells an MCP server nothing about the calling session. The sidecar's OpenClaw plugin hooks
`before_tool_call` (which sees the real `ctx.sessionKey`) and adds one argument to each call of our tools:

    "_caller": {"v": 1, "sessionKey": ..., "agentId": ..., "runId": ..., "toolCallId": ..., "tool": ...,
                "ts": <ms since epoch>, "args": <sha256 hex of the other arguments>, "mac": <hex>}

`mac` is HMAC-SHA256 over the canonical JSON of every field but `mac`, keyed with a secret only the plugin
and the sidecar read (a 0600 key file). The hook sits in the call path, so its value reaches the server in
the same `tools/call`, and it overrides a `_caller` the model typed. Without the plugin, a model-forged
value reaches the server untouched: that is why only a valid MAC counts, and why anything else is decided
as the agent's least privileged class. Each attestation is accepted once (a replayed toolCallId is refused) within the freshness window.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sidecar.secrets import read_or_create_private

FIELD = "_caller"
VERSION = 1
FRESH_MS = 120_000
KEY_BYTES = 32
REPLAY_MEMORY = 65_536


class AttestationError(ValueError):
    """Why a call's caller could not be verified (safe to show: it never contains the key or the MAC)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller."""

    agent_id: str
    session_key: str
    run_id: str | None
    tool_call_id: str


def canonical(value: Any) -> str:
    """The JSON both sides MAC: sorted keys, no spaces, non-ASCII as is, numbers as JavaScript prints
    them (the plugin's `canonical`; `json.dumps` alone would write 1e-07 where JavaScript writes 1e-7)."""
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_string(k)}:{canonical(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value)
    return _string(str(value))


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _js_number(x: float) -> str:
    """ECMAScript Number::toString for a finite double (NaN and infinities stringify as null)."""
    if math.isnan(x) or math.isinf(x):
        return "null"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    exact = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, exact.digits))
    k = len(digits)
    n = k + int(exact.exponent)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e > 0 else "e-") + str(abs(e))
    return sign + text


def args_digest(arguments: dict[str, Any]) -> str:
    text = canonical({k: v for k, v in arguments.items() if k != FIELD})
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def sign(key: bytes, claims: dict[str, Any]) -> str:
    return hmac.new(key, canonical(claims).encode(), hashlib.sha256).hexdigest()


def make_attestation(
    key: bytes,
    *,
    agent_id: str,
    session_key: str,
    tool: str,
    arguments: dict[str, Any],
    tool_call_id: str,
    ts_ms: int,
    run_id: str | None = None,
) -> dict[str, Any]:
    """What the plugin writes (used by tests and by `sidecar doctor`'s round trip)."""
    claims: dict[str, Any] = {
        "v": VERSION,
        "agentId": agent_id,
        "sessionKey": session_key,
        "runId": run_id,
        "toolCallId": tool_call_id,
        "tool": tool,
        "ts": ts_ms,
        "args": args_digest(arguments),
    }
    return {**claims, "mac": sign(key, claims)}


class Verifier:
    """Checks `_caller` values for one host: MAC, agent, tool, arguments, freshness, replay."""

    def __init__(self, key: bytes, *, fresh_ms: int = FRESH_MS) -> None:
        if len(key) < 16:
            raise ValueError("the attestation key must be at least 16 bytes")
        self._key = key
        self._fresh_ms = fresh_ms
        # Replay is the same attestation twice, so the MAC itself is the key: provider call ids are not
        # unique (a model may reuse one across sessions), but no two legitimate calls share ts, run and id.
        self._seen: OrderedDict[str, int] = OrderedDict()

    def verify(
        self, value: Any, *, agent_id: str, tool: str, arguments: dict[str, Any], now_ms: int
    ) -> Caller:
        """The verified caller of `tool` on `agent_id`'s endpoint.

        Raises:
            AttestationError: naming what was wrong, never echoing the MAC.
        """
        if value is None:
            raise AttestationError("the call carries no caller attestation")
        if not isinstance(value, dict):
            raise AttestationError("the caller attestation is not an object")
        given = value.get("mac")
        claims = {k: v for k, v in value.items() if k != "mac"}
        if not isinstance(given, str):
            raise AttestationError("the caller attestation has no MAC")
        if not hmac.compare_digest(given.encode(), sign(self._key, claims).encode()):
            raise AttestationError("the caller attestation's MAC does not verify (forged, or another key)")
        if claims.get("v") != VERSION:
            raise AttestationError(f"unsupported attestation version {claims.get('v')!r}")
        session_key, call_id, ts = claims.get("sessionKey"), claims.get("toolCallId"), claims.get("ts")
        if not isinstance(session_key, str) or not isinstance(call_id, str) or not call_id:
            raise AttestationError("the caller attestation lacks sessionKey or toolCallId")
        if claims.get("agentId") != agent_id or not session_key.lower().startswith(f"agent:{agent_id}:"):
            raise AttestationError(f"the attested session is not one of {agent_id}'s")
        if claims.get("tool") != tool:
            raise AttestationError("the attestation was made for another tool")
        if claims.get("args") != args_digest(arguments):
            raise AttestationError("the arguments differ from the attested ones")
        if not isinstance(ts, int) or abs(now_ms - ts) > self._fresh_ms:
            raise AttestationError(f"the attestation is stale (older than {self._fresh_ms // 1000} s)")
        self._forget(now_ms)
        if given in self._seen:
            raise AttestationError(f"the attestation of toolCallId {call_id!r} was already used (replay)")
        self._seen[given] = ts
        run_id = claims.get("runId")
        return Caller(agent_id, session_key.lower(), run_id if isinstance(run_id, str) else None, call_id)

    def _forget(self, now_ms: int) -> None:
        while self._seen:
            (oldest, ts) = next(iter(self._seen.items()))
            if now_ms - ts <= 2 * self._fresh_ms and len(self._seen) < REPLAY_MEMORY:
                break
            del self._seen[oldest]


def load_or_create_key(path: Path) -> bytes:
    """The host's attestation key: read from `path`, or created there (0600, in a 0700 directory).

    Raises:
        UnsafeFile: `path` is a symbolic link, or another user owns it or may read or write it.
        ValueError: it does not hold a hex key of at least 16 bytes.
    """
    raw = read_or_create_private(path, lambda: secrets.token_bytes(KEY_BYTES).hex() + "\n").strip()
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise ValueError(f"{path} is not a hex attestation key; delete it to make a new one") from None
    if len(key) < 16:
        raise ValueError(f"{path} holds a key shorter than 16 bytes; delete it to make a new one")
    return key


def agent_token(key: bytes, agent_id: str) -> str:
    """The bearer credential of one agent's endpoint, derived from the host key (nothing more to store)."""
    return hmac.new(key, f"endpoint:{agent_id}".encode(), hashlib.sha256).hexdigest()
