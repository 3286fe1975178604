"""Which OpenClaw releases the sidecar talks to, and the small ways each differs on the wire.

The protocol core (`_protocol`, `_handshake`) is the same for every release: the client offers protocols
3 to 4 and takes what `hello-ok` says. What differs is above the frames, and is measured, not guessed
(2026.3.13 and 2026.4.12 against 2026.9.6 on real gateways):

* 2026.3.x and 2026.4.x speak protocol 3, 2026.9 protocol 4 (it refuses 3 for operators);
* `sessions.list` pages (`offset`, `hasMore`, `nextOffset`) only from 2026.9; older releases reject
  `offset` and answer every row at once;
* `sessions.subscribe` (and its `sessions.changed` events) is absent in 2026.3.x; 2026.4.x has it but
  flattens the row into the event payload instead of nesting it under `session`;
* `sessions.create` is absent in 2026.3.x and, in 2026.4.x, rejects `spawnDepth` and `idempotencyKey`,
  so a spawn there is `sessions.patch` then `agent` on the `subagent` lane;
* transcripts carry a send's `idempotencyKey` only from 2026.9, so older releases need another mark to
  prove a message was delivered;
* `mcp.servers` (so OpenClaw as an MCP client of the sidecar) exists from 2026.4.

`adapter_for(version)` maps a gateway's `server.version` to one `Adapter`; a release outside the
supported range raises `UnsupportedVersion` naming the range. `Features` combines the adapter with what
the gateway itself said: the methods listed in hello, and methods a probe found missing (an
`unknown method` answer is a fact about that gateway, remembered for the connection's life).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sidecar.gateway._errors import GatewayError, RequestError

MIN_PROTOCOL = 3
MAX_PROTOCOL = 4
SUPPORTED_VERSIONS: tuple[str, ...] = ("2026.3.13", "2026.4.12", "2026.9.6")
"""The releases measured end to end, oldest first; the newest is the default for offline answers."""
NEWEST_VERSION = SUPPORTED_VERSIONS[-1]
SUPPORTED_RANGE = f"OpenClaw {SUPPORTED_VERSIONS[0]} to {NEWEST_VERSION}"

_VERSION = re.compile(r"^\s*v?(\d{4})\.(\d{1,2})\.(\d{1,3})(?:[-+.]?(.*))?$")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`2026.4.12`, `v2026.4.12` or `2026.4.12-beta.1` as (2026, 4, 12); None when it is not a version."""
    found = _VERSION.match(text or "")
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


class UnsupportedVersion(GatewayError):
    """The gateway runs an OpenClaw release this sidecar has no adapter for."""

    def __init__(self, version: str, where: str = "the gateway") -> None:
        shown = version or "an unknown version"
        super().__init__(
            f"{where} runs OpenClaw {shown}, outside the supported range ({SUPPORTED_RANGE})",
            f"Run a supported OpenClaw release (measured: {', '.join(SUPPORTED_VERSIONS)}); "
            "`sidecar doctor` shows each gateway's version",
        )
        self.version = version


@dataclass(frozen=True, slots=True)
class Adapter:
    """What one OpenClaw release line does differently. Pure data plus pure request shapers."""

    measured: str
    """The release of this line the sidecar was measured against (semantics and denial strings)."""
    protocol: int
    paged_list: bool
    session_events: bool
    changed_row_nested: bool
    create_method: bool
    create_takes_spawn_fields: bool
    transcript_keys: bool
    mcp_servers: bool
    listed_resolve: bool
    """Whether hello's `features.methods` lists `sessions.resolve` (older releases serve it unlisted)."""

    @property
    def line(self) -> str:
        year, month, _ = parse_version(self.measured) or (0, 0, 0)
        return f"{year}.{month}"

    @property
    def spawn_sequence(self) -> str:
        """`create` (sessions.create with depth and key) or `patch-agent` (sessions.patch, then agent)."""
        return "create" if self.create_method and self.create_takes_spawn_fields else "patch-agent"

    def list_params(self, offset: int, limit: int) -> dict[str, Any]:
        """`sessions.list` parameters for one snapshot page; unpaged releases get the whole list at once
        (they reject `offset`, and a `limit` would cut the snapshot short with no way to ask for more)."""
        if self.paged_list:
            return {"offset": offset, "limit": limit}
        return {}

    def changed_row(self, payload: Any) -> dict[str, Any] | None:
        """The session row a `sessions.changed` / `session.message` event carries, or None.

        2026.9 nests it under `session`; 2026.4 spreads the row's fields into the payload itself, next to
        `sessionKey` and `reason`. Only a payload that has row fields counts (a bare `{sessionKey,
        reason}` says only that something changed)."""
        if not isinstance(payload, dict):
            return None
        nested = payload.get("session")
        if isinstance(nested, dict):
            return nested
        if self.changed_row_nested:
            return None
        key = payload.get("sessionKey") or payload.get("key")
        if not isinstance(key, str) or not any(name in payload for name in _ROW_FIELDS):
            return None
        row = {k: v for k, v in payload.items() if k not in _EVENT_ONLY}
        row["key"] = key
        return row


_ROW_FIELDS = ("updatedAt", "sessionId", "kind", "spawnedBy", "label", "status", "displayName")
_EVENT_ONLY = frozenset({"sessionKey", "reason", "phase", "ts", "message", "messageId", "messageSeq"})

_ADAPTERS: tuple[Adapter, ...] = (
    Adapter(
        measured="2026.3.13",
        protocol=3,
        paged_list=False,
        session_events=False,
        changed_row_nested=False,
        create_method=False,
        create_takes_spawn_fields=False,
        transcript_keys=False,
        mcp_servers=False,
        listed_resolve=False,
    ),
    Adapter(
        measured="2026.4.12",
        protocol=3,
        paged_list=False,
        session_events=True,
        changed_row_nested=False,
        create_method=True,
        create_takes_spawn_fields=False,
        transcript_keys=False,
        mcp_servers=True,
        listed_resolve=False,
    ),
    Adapter(
        measured="2026.9.6",
        protocol=4,
        paged_list=True,
        session_events=True,
        changed_row_nested=True,
        create_method=True,
        create_takes_spawn_fields=True,
        transcript_keys=True,
        mcp_servers=True,
        listed_resolve=True,
    ),
)
ADAPTERS: dict[str, Adapter] = {a.measured: a for a in _ADAPTERS}


def adapter_for(version: str, *, where: str = "the gateway") -> Adapter:
    """The adapter for a gateway's `server.version`: the newest measured release not newer than it.

    Raises:
        UnsupportedVersion: older than the oldest or newer than the newest measured release, or not a
            version at all.
    """
    parsed = parse_version(version)
    if parsed is None or parsed < parse_version(SUPPORTED_VERSIONS[0]):  # type: ignore[operator]
        raise UnsupportedVersion(version, where)
    if parsed > parse_version(NEWEST_VERSION):  # type: ignore[operator]
        raise UnsupportedVersion(version, where)
    chosen = _ADAPTERS[0]
    for adapter in _ADAPTERS:
        if parse_version(adapter.measured) <= parsed:  # type: ignore[operator]
            chosen = adapter
    return chosen


def is_supported(version: str) -> bool:
    try:
        adapter_for(version)
    except UnsupportedVersion:
        return False
    return True


def is_unknown_method(exc: BaseException) -> bool:
    """The gateway answered `unknown method: <m>`: the method does not exist there (a fact, not a fault)."""
    return isinstance(exc, RequestError) and exc.gateway_message.strip().lower().startswith("unknown method")


def sent_under(message: Any, idempotency_key: str) -> bool:
    """Whether a transcript message (a `chat.history` entry) is the one sent under `idempotency_key`.

    From 2026.9 the transcript records the key (a retried run's derived `<key>-r<n>` too) or the run id it
    became; older releases record neither, so nothing matches there and the caller needs another mark.
    """
    if not isinstance(message, dict):
        return False
    meta = message.get("__openclaw")
    meta = meta if isinstance(meta, dict) else {}
    return (
        str(message.get("idempotencyKey", "")).startswith(idempotency_key)
        or meta.get("runId") == idempotency_key
    )


def inter_session_run(
    message: str, target: str, idempotency_key: str, source_session: str, *, source_label: str | None = None
) -> dict[str, Any]:
    """The `agent` request OpenClaw's own `sessions_send` makes for an inter-agent message: delivered
    directly (`deliver: false`, the nested lane, no announce step) and labelled as inter-session data from
    `source_session` (`source_label`, when given, is how the target's prompt names the sender)."""
    return {
        "message": message,
        "sessionKey": target,
        "idempotencyKey": idempotency_key,
        "deliver": False,
        "channel": "webchat",
        "lane": "nested",
        "extraSystemPrompt": (
            "Agent-to-agent message context:\n"
            f"Agent 1 (requester) session: {source_label or source_session}.\n"
            f"Agent 2 (target) session: {target}."
        ),
        "inputProvenance": {
            "kind": "inter_session",
            "sourceSessionKey": source_session,
            "sourceChannel": "webchat",
            "sourceTool": "sessions_send",
        },
    }


@dataclass(slots=True)
class Features:
    """What one gateway connection can do: its release's adapter, hello's method list, probe results."""

    version: str
    protocol: int
    adapter: Adapter
    methods: frozenset[str] = frozenset()
    missing: set[str] = field(default_factory=set)

    def has(self, method: str) -> bool:
        """Whether to call `method`: not if a probe found it missing or the release lacks it; listed
        methods yes; unlisted ones are tried (older releases serve `sessions.resolve` unlisted)."""
        if method in self.missing:
            return False
        if method in ("sessions.subscribe", "sessions.messages.subscribe"):
            return self.adapter.session_events or method in self.methods
        if method == "sessions.create":
            return self.adapter.create_method or method in self.methods
        return True

    def note_missing(self, method: str) -> None:
        self.missing.add(method)

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "protocol": self.protocol,
            "line": self.adapter.line,
            "pagedList": self.adapter.paged_list,
            "sessionEvents": self.adapter.session_events and "sessions.subscribe" not in self.missing,
            "spawn": self.adapter.spawn_sequence,
            "transcriptKeys": self.adapter.transcript_keys,
            "mcpServers": self.adapter.mcp_servers,
            "missing": sorted(self.missing),
        }
