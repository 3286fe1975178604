"""Session-key canonicalisation and agent-id pattern matching.

The engine decides on the canonical key and the sidecar forwards that same canonical key, so no input
can make the decision and the gateway disagree about which session is meant. Anything that the gateway
might read differently from us (non-ASCII look-alikes, inner whitespace, empty segments) is refused.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

AGENT_ID_RE = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,63}$")
SESSION_KEY_MAX = 512
LEGACY_KEYS = frozenset({"global", "unknown"})
_INCOGNITO_RE = re.compile(r"agent:[^:]+:(?:dashboard|subagent|internal-session-effects):incognito-[^:]+")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SEGMENT_RE = re.compile(r"^[\x21-\x7e]+$")
_AGENT_KEY_RE = re.compile(
    r"agent:([a-z0-9_][a-z0-9_-]{0,63}):([\x21-\x39\x3b-\x7e]+(?::[\x21-\x39\x3b-\x7e]+)*)"
)
# An `agent:` key already in canonical form: what _AGENT_KEY_RE matches, without upper-case letters (so
# lowering it changes nothing) and, being printable ASCII only, without whitespace to strip.
_CANONICAL_AGENT_RE = re.compile(
    r"agent:([a-z0-9_][a-z0-9_-]{0,63}):([\x21-\x39\x3b-\x40\x5b-\x7e]+(?::[\x21-\x39\x3b-\x40\x5b-\x7e]+)*)"
)
_new_key = tuple.__new__


class MalformedKey(ValueError):
    """A target that is not a session key the gateway would read the way we do."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"Malformed session key {raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


class SessionKey(NamedTuple):
    """A canonical session key and the agent that owns it (a named tuple: one is built per decision)."""

    key: str
    agent_id: str
    rest: str

    @property
    def is_incognito(self) -> bool:
        """OpenClaw hides incognito sessions from every session tool, whatever the visibility."""
        return "incognito-" in self.key and _INCOGNITO_RE.fullmatch(self.key) is not None

    @property
    def is_subagent(self) -> bool:
        return self.rest.startswith(("subagent:", "acp:"))


def is_agent_id(value: str) -> bool:
    return AGENT_ID_RE.match(value) is not None


def main_key_of(agent_id: str, main_key: str = "main") -> str:
    return f"agent:{agent_id}:{main_key}"


def looks_like_session_id(value: str) -> bool:
    return _UUID_RE.match(value.strip().lower()) is not None


CANONICAL_MEMO_MAX = 8192
"""Canonical keys kept (a decision and a list row each canonicalise one); the memo starts over when full,
so it stays small with 100k sessions mirrored (a miss costs about a microsecond)."""
_CANONICAL: dict[tuple[str, str, str, str], SessionKey] = {}


def canonical_key(raw: str, *, requester_key: str, default_agent: str, main_key: str = "main") -> SessionKey:
    """Canonicalise a tool-facing session reference.

    The answer for (raw, requester_key, default_agent, main_key) never changes, so it is kept; `raw` is
    stripped and length-checked before the memo, so it holds only short, stripped keys (padding cannot grow
    it).

    `main` is the default agent's main session (the gateway resolves the bare alias that way, not to the
    caller's own main session); `current` is the caller's own session. Keys without the `agent:` prefix
    belong to the default agent, as OpenClaw's policy treats them.

    Raises:
        MalformedKey: the reference is not a key the gateway would resolve to the same session.
    """
    if type(raw) is not str:
        return canonical_uncached(raw, requester_key, default_agent, main_key)
    text = raw.strip()
    if len(text) > SESSION_KEY_MAX:
        raise MalformedKey(text[:40] + "…", f"it is longer than {SESSION_KEY_MAX} characters")
    facts = (text, requester_key, default_agent, main_key)
    found = _CANONICAL.get(facts)
    if found is None:
        # A key already canonical (what sessions_list hands out) is parsed at once: cheaper than the
        # checks of the general path, and than filling the memo with keys drawn from 100k sessions.
        fast = parse_canonical(text)
        if fast is not None:
            return fast
        found = canonical_uncached(text, requester_key, default_agent, main_key)
        if len(_CANONICAL) >= CANONICAL_MEMO_MAX:
            _CANONICAL.clear()
        _CANONICAL[facts] = found
    return found


def parse_canonical(raw: str) -> SessionKey | None:
    """`raw` parsed when it is an `agent:` key in canonical form already (what `canonical_uncached`
    would return for it, for any requester), else None: the caller takes the general path."""
    match = _CANONICAL_AGENT_RE.fullmatch(raw)
    if match is None or len(raw) > SESSION_KEY_MAX:
        return None
    agent_id, rest = match.groups()
    return _new_key(SessionKey, (raw, agent_id, rest))


def canonical_uncached(raw: str, requester_key: str, default_agent: str, main_key: str) -> SessionKey:
    """`canonical_key` without its memo: for a caller that reads each key once (a whole listing)."""
    if not isinstance(raw, str):
        raise MalformedKey(repr(raw), "a session key must be a string")
    text = raw.strip()
    if not text:
        raise MalformedKey(raw, "it is empty")
    if len(text) > SESSION_KEY_MAX:
        raise MalformedKey(raw[:40] + "…", f"it is longer than {SESSION_KEY_MAX} characters")
    if not text.isascii():
        raise MalformedKey(raw, "it contains non-ASCII characters (look-alike letters are refused)")
    lowered = text.lower()
    if lowered == "current":
        return parse_agent_key(requester_key)
    if lowered == "main":
        return SessionKey(main_key_of(default_agent, main_key), default_agent, main_key)
    if lowered.startswith("agent:"):
        return parse_agent_key(lowered, raw=raw)
    if any(not _SEGMENT_RE.match(part) for part in lowered.split(":")):
        raise MalformedKey(raw, "it has an empty segment, whitespace or a control character")
    if ":" not in lowered and lowered not in LEGACY_KEYS:
        hint = "a session id" if looks_like_session_id(lowered) else "a label or an agent id"
        raise MalformedKey(
            raw,
            f"it looks like {hint}, not a session key; use the full key (agent:<id>:<rest>) from sessions_list",
        )
    return SessionKey(lowered, default_agent, lowered)


def parse_agent_key(key: str, raw: str | None = None) -> SessionKey:
    """Parse an already lowercased `agent:<id>:<rest>` key.

    Raises:
        MalformedKey: naming what is wrong with it.
    """
    match = _AGENT_KEY_RE.fullmatch(key)
    if match is not None:
        return SessionKey(key, match.group(1), match.group(2))
    raw = key if raw is None else raw
    parts = key.split(":")
    if len(parts) < 3:
        raise MalformedKey(raw, "expected agent:<agentId>:<rest>")
    if any(not _SEGMENT_RE.match(part) for part in parts):
        raise MalformedKey(raw, "it has an empty segment, whitespace or a control character")
    agent_id = parts[1]
    if not is_agent_id(agent_id):
        raise MalformedKey(raw, f"{agent_id!r} is not a valid agent id ([a-z0-9_][a-z0-9_-]{{0,63}})")
    return SessionKey(key, agent_id, ":".join(parts[2:]))


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> tuple[str, tuple[str, ...]]:
    raw = pattern.strip()
    if not raw:
        return ("deny", ())
    if raw == "*":
        return ("all", ())
    if "*" not in raw:
        return ("exact", (raw,))
    return ("glob", tuple(raw.lower().split("*")))


def pattern_matches(pattern: str, agent_id: str) -> bool:
    """OpenClaw's allow-pattern rule: exact ids are case-sensitive, `*` globs are case-insensitive."""
    kind, parts = _compile(pattern)
    if kind == "all":
        return True
    if kind == "deny":
        return False
    if kind == "exact":
        return parts[0] == agent_id
    value = agent_id.lower()
    first, *middle, last = parts
    if not value.startswith(first):
        return False
    pos = len(first)
    end = len(value) - len(last)
    if not value.endswith(last) or end < pos:
        return False
    for part in middle:
        if not part:
            continue
        idx = value.find(part, pos)
        if idx == -1 or idx + len(part) > end:
            return False
        pos = idx + len(part)
    return True


def any_matches(patterns: tuple[str, ...], agent_id: str) -> bool:
    return any(pattern_matches(p, agent_id) for p in patterns)


def near_misses(patterns: tuple[str, ...], agent_id: str) -> list[str]:
    """Exact entries that would match if compared case-insensitively or trimmed."""
    return [p for p in patterns if "*" not in p and p != agent_id and p.strip().lower() == agent_id.lower()]
