"""Loop and cost guard: a hop count and trace id travel with every inter-agent message we send.

OpenClaw's ping-pong limit counts pairs only, so A→B→C→A loops run all night (openclaw#37842). Each
message the sidecar sends carries a one-line trailer `[sidecar-trace id=… hop=N from=…]`; the receiving
agent's sidecar reads the newest inbound trailer in its own session and sends on with hop N+1, so a
chain is limited however many agents it passes through.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_HOPS = 8
DEFAULT_SENDS_PER_MINUTE = 30
_TRAILER_RE = re.compile(r"\[sidecar-trace id=([0-9a-f]{8,32}) hop=(\d{1,4}) from=([a-z0-9_-]{1,64})\]\s*$")


@dataclass(frozen=True, slots=True)
class Trace:
    trace_id: str
    hop: int

    @classmethod
    def start(cls, seed: str | None = None) -> Trace:
        """A new chain. Seeded by the turn that triggered it, so a retried call derives the same trace."""
        if seed is None:
            return cls(secrets.token_hex(8), 1)
        return cls(hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16], 1)

    def next(self) -> Trace:
        return Trace(self.trace_id, self.hop + 1)

    def trailer(self, agent_id: str) -> str:
        return f"[sidecar-trace id={self.trace_id} hop={self.hop} from={agent_id}]"


def stamp(message: str, trace: Trace, agent_id: str) -> str:
    return f"{message.rstrip()}\n\n{trace.trailer(agent_id)}"


def parse_trailer(text: str) -> Trace | None:
    match = _TRAILER_RE.search(text)
    return Trace(match.group(1), int(match.group(2))) if match else None


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def carries(message: Any, stamped: str) -> bool:
    """Whether a transcript message is the user turn of a message we sent as `stamped` (body plus
    trailer). Releases before 2026.9 keep neither the send's idempotency key nor its run id in the
    transcript, so the stamp is the mark: its trailer names the chain and hop, and the body must match
    too (two messages of one hop differ in the body, and so in their idempotency key)."""
    if not isinstance(message, dict) or message.get("role") != "user":
        return False
    text = _text_of(message)
    body, _, trailer = stamped.rstrip().rpartition("\n\n")
    return bool(trailer) and trailer in text and body.strip() in text


def inbound_trace(messages: list[Any]) -> Trace | None:
    """The trace of the newest user message in the requester's own session, if one carried a trailer."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return parse_trailer(_text_of(message))
    return None


def turn_seed(messages: list[Any]) -> str | None:
    """A stable identity for the newest user message: the turn this agent is acting in."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            meta = message.get("__openclaw")
            ident = meta.get("id") if isinstance(meta, dict) else None
            ident = ident or message.get("idempotencyKey") or message.get("timestamp")
            return json.dumps([ident, _text_of(message)], sort_keys=True, default=str)
    return None


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.0f}s")
        self.retry_after = retry_after


class SendRateLimiter:
    """At most `per_minute` sends in any 60-second window, for one agent."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sent: deque[float] = deque()

    def acquire(self) -> None:
        """Record one send, or raise RateLimited with how long to wait.

        Raises:
            RateLimited: the window is full.
        """
        now = self._clock()
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()
        if len(self._sent) >= self.per_minute:
            raise RateLimited(60.0 - (now - self._sent[0]))
        self._sent.append(now)
