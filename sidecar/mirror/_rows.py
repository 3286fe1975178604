"""`SessionRow`: the part of a gateway session row the mirror keeps, and how gateway rows map onto it.

The gateway's rows (sessions.list, and the `session` snapshot inside sessions.changed / session.message
events) carry sixty-odd fields, some with message text (`lastMessagePreview`, `derivedTitle`,
`lastMessage`). The mirror keeps an explicit allow-list of fields, so no message text reaches the file
whatever the gateway adds later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENDED_STATUSES = frozenset({"done", "failed", "killed", "timeout", "interrupted"})

COLUMNS = (
    "key",
    "gateway",
    "agent",
    "kind",
    "channel",
    "label",
    "display_name",
    "spawned_by",
    "parent",
    "depth",
    "status",
    "started_at",
    "ended_at",
    "updated_at",
    "session_id",
    "model",
    "snapshot_at",
    "seen_at",
)

# gateway field -> column, for the plain copies
_TEXT = {
    "kind": "kind",
    "channel": "channel",
    "label": "label",
    "displayName": "display_name",
    "status": "status",
    "sessionId": "session_id",
    "model": "model",
}
_INT = {
    "startedAt": "started_at",
    "endedAt": "ended_at",
    "updatedAt": "updated_at",
    "snapshotAt": "snapshot_at",
    "spawnDepth": "depth",
}
_TOOL_FIELDS = (
    ("key", "key"),
    ("kind", "kind"),
    ("channel", "channel"),
    ("label", "label"),
    ("display_name", "displayName"),
    ("spawned_by", "spawnedBy"),
    ("parent", "parentSessionKey"),
    ("depth", "spawnDepth"),
    ("status", "status"),
    ("started_at", "startedAt"),
    ("ended_at", "endedAt"),
    ("updated_at", "updatedAt"),
    ("session_id", "sessionId"),
    ("model", "model"),
)


def agent_of_key(key: str, default: str = "main") -> str:
    """The agent owning `key`; non-`agent:` keys (`global`, `unknown`) belong to the default agent."""
    parts = key.split(":")
    if len(parts) >= 3 and parts[0] == "agent" and parts[1]:
        return parts[1]
    return default


def _key(value: Any) -> str | None:
    # OpenClaw stores keys lowercased and the policy engine decides on lowercased keys; a key that
    # arrives in another case must still index to the same session.
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One mirrored session. `parent_key` is what the policy engine calls the parent."""

    key: str
    gateway: str
    agent: str
    kind: str | None = None
    channel: str | None = None
    label: str | None = None
    display_name: str | None = None
    spawned_by: str | None = None
    parent: str | None = None
    depth: int | None = None
    status: str | None = None
    started_at: int | None = None
    ended_at: int | None = None
    updated_at: int | None = None
    session_id: str | None = None
    model: str | None = None
    snapshot_at: int | None = None
    seen_at: float = 0.0

    @property
    def parent_key(self) -> str | None:
        """spawnedBy, else parentSessionKey: OpenClaw's own order when it decides who owns a child."""
        return self.spawned_by or self.parent

    @property
    def active(self) -> bool:
        """Counts towards its parent's maxChildren: running, or no terminal status and not ended."""
        if self.status == "running":
            return True
        return self.status not in ENDED_STATUSES and self.ended_at is None

    @property
    def order(self) -> int | None:
        """The gateway time this row was captured (snapshotAt): an earlier capture never replaces a later.

        updatedAt is no substitute: a status change need not move it, and rows the sidecar records
        itself carry the local clock, which must never outrank the gateway's own rows.
        """
        return self.snapshot_at

    @classmethod
    def from_gateway(
        cls, row: Mapping[str, Any], gateway: str, *, seen_at: float, key: str | None = None
    ) -> SessionRow:
        """Map one gateway row (camelCase) to a SessionRow; `key` fills in for a row without one.

        Raises:
            ValueError: the row has no usable session key.
        """
        found = _key(row.get("key")) or _key(key)
        if found is None:
            raise ValueError("a gateway session row without a key")
        values: dict[str, Any] = {}
        for field, column in _TEXT.items():
            value = row.get(field)
            values[column] = value if isinstance(value, str) else None
        for field, column in _INT.items():
            values[column] = _int(row.get(field))
        agent = row.get("agentId")
        return cls(
            key=found,
            gateway=gateway,
            agent=agent.lower() if isinstance(agent, str) and agent else agent_of_key(found),
            spawned_by=_key(row.get("spawnedBy")),
            parent=_key(row.get("parentSessionKey")),
            seen_at=seen_at,
            **values,
        )

    @classmethod
    def from_db(cls, record: Mapping[str, Any]) -> SessionRow:
        return cls(**{name: record[name] for name in COLUMNS})

    def as_db(self, gen: int) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in COLUMNS}
        values["sync_gen"] = gen
        return values

    def as_tool_row(self) -> dict[str, Any]:
        """The sessions_list row (camelCase, absent fields left out), as the gateway would show it."""
        out: dict[str, Any] = {}
        for attr, name in _TOOL_FIELDS:
            value = getattr(self, attr)
            if value is not None:
                out[name] = value
        return out
