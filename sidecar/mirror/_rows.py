"""`SessionRow`: the part of a gateway session row the mirror keeps, and how gateway rows map onto it.

The gateway's rows (sessions.list, and the `session` snapshot inside sessions.changed / session.message
events) carry sixty-odd fields, some with message text (`lastMessagePreview`, `derivedTitle`,
`lastMessage`). The mirror keeps an explicit allow-list of fields, so no message text reaches the file
whatever the gateway adds later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import is_not, itemgetter
from typing import Any, NamedTuple

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
    "parent_gateway",
)

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
    if type(value) is str:
        value = value.strip().lower()
        return value or None
    return None


def _text(value: Any) -> str | None:
    return value if type(value) is str else None


_new = tuple.__new__


def _int(value: Any) -> int | None:
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is float and value.is_integer():
        return int(value)
    return None


class SessionRow(NamedTuple):
    """One mirrored session. `parent_key` is what the policy engine calls the parent.

    A named tuple, in COLUMNS order: a snapshot builds one per gateway row and a listing one per
    mirrored row, and a tuple is built several times faster than a frozen dataclass (which sets each
    field through `object.__setattr__`), while staying just as immutable.
    """

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
    # The gateway the parent lives on. None for every row a gateway reports: a gateway can only describe
    # its own sessions, so its spawnedBy names a session on that same gateway. Only a child this host
    # spawned on a peer itself names a parent elsewhere (its requester, at home).
    parent_gateway: str | None = None

    @property
    def parent_key(self) -> str | None:
        """spawnedBy, else parentSessionKey: OpenClaw's own order when it decides who owns a child."""
        return self.spawned_by or self.parent

    @property
    def owner(self) -> tuple[str, str] | None:
        """(gateway, key) of the session that spawned this one."""
        parent = self.parent_key
        return None if parent is None else (self.parent_gateway or self.gateway, parent)

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
        # A snapshot parses every row of every page: plain lookups and inline `type() is` checks, no
        # helper calls for the common case, and the tuple built directly (no NamedTuple.__new__).
        get = row.get
        found = _key(get("key")) or _key(key)
        if found is None:
            raise ValueError("a gateway session row without a key")
        agent = get("agentId")
        spawned_by = get("spawnedBy")
        parent = get("parentSessionKey")
        depth = get("spawnDepth")
        started = get("startedAt")
        ended = get("endedAt")
        updated = get("updatedAt")
        captured = get("snapshotAt")
        return _new(
            cls,
            (
                found,
                gateway,
                agent.lower() if type(agent) is str and agent else agent_of_key(found),
                v if type(v := get("kind")) is str else None,
                v if type(v := get("channel")) is str else None,
                v if type(v := get("label")) is str else None,
                v if type(v := get("displayName")) is str else None,
                None if spawned_by is None else _key(spawned_by),
                None if parent is None else _key(parent),
                depth if type(depth) is int else _int(depth),
                v if type(v := get("status")) is str else None,
                started if type(started) is int else _int(started),
                ended if type(ended) is int else _int(ended),
                updated if type(updated) is int else _int(updated),
                v if type(v := get("sessionId")) is str else None,
                v if type(v := get("model")) is str else None,
                captured if type(captured) is int else _int(captured),
                seen_at,
                None,  # parent_gateway: a gateway's spawnedBy names a session on that same gateway
            ),
        )

    @classmethod
    def from_db(cls, record: Mapping[str, Any]) -> SessionRow:
        return cls(**{name: record[name] for name in COLUMNS})

    def as_db(self, gen: int) -> tuple[Any, ...]:
        """The values for COLUMNS, then `gen` (sync_gen)."""
        return (*self, gen)

    def as_tool_row(self) -> dict[str, Any]:
        """The sessions_list row (camelCase, absent fields left out), as the gateway would show it."""
        out: dict[str, Any] = {}
        for at, name in _TOOL_INDEX:
            value = self[at]
            if value is not None:
                out[name] = value
        return out


# Each tool field by its place in the tuple: a listing shapes every row it returns (no getattr per field).
_TOOL_INDEX = tuple((SessionRow._fields.index(attr), name) for attr, name in _TOOL_FIELDS)

DbRow = tuple[Any, ...]
"""A row as the mirror writes it: the values of COLUMNS, then sync_gen (what `SessionRow.as_db` returns)."""


def gateway_values(
    records: Sequence[Mapping[str, Any]], gateway: str, *, seen_at: float, gen: int
) -> list[DbRow]:
    """The rows a snapshot page writes: `SessionRow.from_gateway(record, gateway, seen_at=seen_at)
    .as_db(gen)` for each record, a record without a usable key left out, and equal to it value for
    value, but without a SessionRow (or a call) per record.

    A 100k-row snapshot parses every row it writes, and per row the parse was a fifth of the ingest. Here
    one comprehension reads each field once and checks its type inline (as `from_gateway` does), and the
    session keys and agent ids, which `from_gateway` strips and lowercases one by one, are checked for the
    whole page at once instead: gateways report them lowercased, so a page normally needs no change.
    A page where any of them is not already in that form is parsed by `from_gateway`, row by row.
    """
    out = [
        (
            row.get("key"),
            gateway,
            row.get("agentId"),
            v if type(v := row.get("kind")) is str else None,
            v if type(v := row.get("channel")) is str else None,
            v if type(v := row.get("label")) is str else None,
            v if type(v := row.get("displayName")) is str else None,
            row.get("spawnedBy"),
            row.get("parentSessionKey"),
            v if type(v := row.get("spawnDepth")) is int or v is None else _int(v),
            v if type(v := row.get("status")) is str else None,
            v if type(v := row.get("startedAt")) is int or v is None else _int(v),
            v if type(v := row.get("endedAt")) is int or v is None else _int(v),
            v if type(v := row.get("updatedAt")) is int or v is None else _int(v),
            v if type(v := row.get("sessionId")) is str else None,
            v if type(v := row.get("model")) is str else None,
            v if type(v := row.get("snapshotAt")) is int or v is None else _int(v),
            seen_at,
            None,  # parent_gateway: a gateway's spawnedBy names a session on that same gateway
            gen,
        )
        for row in records
    ]
    try:
        plain = (
            _as_stored(set(map(_KEY_AT, out)), strip=True)
            and _as_stored(set(map(_AGENT_AT, out)), strip=False)
            and _as_stored({*map(_SPAWNED_BY_AT, out), *map(_PARENT_AT, out)}, strip=True, optional=True)
        )
    except TypeError:  # an unhashable value where a key belongs
        plain = False
    if plain:
        return out
    parsed = []
    for record in records:
        try:
            parsed.append(SessionRow.from_gateway(record, gateway, seen_at=seen_at).as_db(gen))
        except ValueError:
            continue
    return parsed


_KEY_AT = itemgetter(COLUMNS.index("key"))
_AGENT_AT = itemgetter(COLUMNS.index("agent"))
_SPAWNED_BY_AT = itemgetter(COLUMNS.index("spawned_by"))
_PARENT_AT = itemgetter(COLUMNS.index("parent"))
_STR = frozenset({str})


def _as_stored(values: set[Any], *, strip: bool, optional: bool = False) -> bool:
    """Whether each of `values` is a str that `from_gateway` stores unchanged: not empty, lowercase and,
    if `strip`, without surrounding whitespace (None too, if `optional`). Loops in C, not per value."""
    if optional:
        values.discard(None)
    if "" in values or not set(map(type, values)) <= _STR:
        return False
    if strip and any(map(is_not, map(str.strip, values), values)):
        return False  # str.strip returns the very same object when there is nothing to strip
    joined = "".join(values)
    return joined.lower() == joined
