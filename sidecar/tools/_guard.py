"""Loop and cost guard: a hop count and trace id travel with every inter-agent message we send.

OpenClaw's ping-pong limit counts pairs only, so A→B→C→A loops run all night (openclaw#37842). Each
message the sidecar sends carries a one-line trailer `[sidecar-trace id=… hop=N from=…]`; the receiving
agent's sidecar reads the newest inbound trailer in its own session and sends on with hop N+1, so a
chain is limited however many agents it passes through. A trailer counts only on an inter-session message
from the agent it names: a chat user can type one, but cannot make the gateway mark it inter-session.
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
    """The trace of the newest user message in the requester's own session, if another agent's sidecar sent it.

    Only an inter-session message (OpenClaw's `provenance`, set by whoever calls the gateway's `agent`
    RPC, never by a chat user) whose trailer's `from=` is the agent of the session it came from continues
    a chain. Any other trailer is text someone typed: it is ignored and the send starts a fresh trace, so a
    forged `hop=9999` cannot block this agent's sends.
    """
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _trusted_trailer(message)
    return None


def _trusted_trailer(message: dict[str, Any]) -> Trace | None:
    provenance = message.get("provenance")
    if not isinstance(provenance, dict) or provenance.get("kind") != "inter_session":
        return None
    source = provenance.get("sourceSessionKey")
    match = _TRAILER_RE.search(_text_of(message))
    if match is None or not isinstance(source, str):
        return None
    parts = source.strip().lower().split(":")
    if len(parts) < 3 or parts[0] != "agent" or parts[1] != match.group(3):
        return None
    return Trace(match.group(1), int(match.group(2)))


def turn_seed(messages: list[Any]) -> str | None:
    """A stable identity for the newest user message: the turn this agent is acting in."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            meta = message.get("__openclaw")
            ident = meta.get("id") if isinstance(meta, dict) else None
            ident = ident or message.get("idempotencyKey") or message.get("timestamp")
            return json.dumps([ident, _text_of(message)], sort_keys=True, default=str)
    return None


class SendRateLimiter:
    """The sends of one agent in the last 60 seconds; the limit itself is the engine's `rate-limit` gate."""

    WINDOW_S = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sent: deque[float] = deque()

    def recent(self) -> tuple[int, float | None]:
        """How many sends the window holds, and in how many seconds the oldest leaves it (None: empty)."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.WINDOW_S:
            self._sent.popleft()
        return len(self._sent), (self.WINDOW_S - (now - self._sent[0])) if self._sent else None

    def record(self) -> None:
        """Count one send that the engine allowed."""
        self._sent.append(self._clock())
