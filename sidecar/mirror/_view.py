"""`MirrorView`: the policy engine's `SessionView` over the mirror, answered from memory.

The engine's budget is a few microseconds per decision, far less than one SQLite query, so every
question `decide` asks (`parent_of`, `has_agent`, `depth_of`, `active_children`) is a dict lookup in
`SessionIndex`, which the Mirror updates in the same call that commits each write. Listing and full rows
(`session_keys`, `get`, `children_of`) come from SQLite.

Session keys are global in the view, as they are to the engine: agents are pinned to one gateway, and
the only keys two gateways share are main sessions like `agent:main:main`, which have no parent. When
two gateways do report one key, the view follows the row written last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sidecar.mirror._rows import COLUMNS, SessionRow

if TYPE_CHECKING:
    from sidecar.mirror._db import Mirror

MAX_DEPTH_WALK = 64
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM sessions"
_IN_CHUNK = 500  # bound parameters per IN (...) query, well under SQLITE_MAX_VARIABLE_NUMBER


def _listing_filter(gateway: str | None, updated_since: int | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if gateway is not None:
        clauses.append("gateway = ?")
        params.append(gateway)
    if updated_since is not None:
        clauses.append("coalesce(updated_at, 0) >= ?")
        params.append(updated_since)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


@dataclass(slots=True)
class _Node:
    gateway: str
    parent: str | None
    depth: int | None
    active: bool
    order: int | None


class SessionIndex:
    """The in-memory facts behind MirrorView. Only the Mirror writes it, after each commit."""

    __slots__ = ("active", "agents", "nodes")

    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {}
        self.active: dict[str, int] = {}
        self.agents: frozenset[str] = frozenset()

    def put(self, row: SessionRow) -> None:
        old = self.nodes.get(row.key)
        parent, depth = row.parent_key, row.depth
        if old is not None:
            self._release(old)
            # spawnedBy and spawnDepth never change once set; an event captured between the gateway's two
            # spawn patches carries neither, and must not make a known child look parentless.
            parent = parent or old.parent
            depth = old.depth if depth is None else depth
        node = _Node(row.gateway, parent, depth, row.active, row.order)
        self.nodes[row.key] = node
        if node.parent is not None and node.active:
            self.active[node.parent] = self.active.get(node.parent, 0) + 1

    def put_all(self, rows: Iterable[SessionRow]) -> None:
        for row in rows:
            self.put(row)

    def drop(self, key: str, gateway: str) -> None:
        old = self.nodes.get(key)
        if old is not None and old.gateway == gateway:
            self._release(old)
            del self.nodes[key]

    def _release(self, node: _Node) -> None:
        if node.parent is not None and node.active:
            left = self.active.get(node.parent, 0) - 1
            if left > 0:
                self.active[node.parent] = left
            else:
                self.active.pop(node.parent, None)


class MirrorView:
    """The policy engine's SessionView over one Mirror (get it as `mirror.view`)."""

    __slots__ = ("_index", "_mirror", "_nodes")

    def __init__(self, mirror: Mirror, index: SessionIndex) -> None:
        self._mirror = mirror
        self._index = index
        self._nodes = index.nodes

    # -- SessionView: O(1), from memory -----------------------------------------------------------

    def parent_of(self, key: str) -> str | None:
        node = self._nodes.get(key)
        return None if node is None else node.parent

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self._index.agents

    def depth_of(self, key: str) -> int:
        """spawnDepth when the gateway reported it, else the number of parents above `key` (bounded).

        A `:subagent:` key the mirror has never seen counts one level per `:subagent:` segment, as
        OpenClaw's own fallback does: an unknown child is never treated as a top-level session.
        """
        nodes = self._nodes
        walked = 0
        current = key
        while walked < MAX_DEPTH_WALK:
            node = nodes.get(current)
            if node is None:
                return walked if walked else current.count(":subagent:")
            if node.depth is not None:
                return walked + node.depth
            if node.parent is None:
                return walked
            current = node.parent
            walked += 1
        return walked

    def active_children(self, key: str) -> int:
        return self._index.active.get(key, 0)

    # -- rows, from SQLite -------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, key: str, gateway: str | None = None) -> SessionRow | None:
        """The mirrored row for `key` (on `gateway`, or the one the view follows), else None."""
        key = key.strip().lower()
        if gateway is None:
            node = self._nodes.get(key)
            if node is None:
                return None
            gateway = node.gateway
        rows = self._rows(f"{_SELECT} WHERE key = ? AND gateway = ?", (key, gateway))
        return rows[0] if rows else None

    def session_keys(self, gateway: str | None = None, *, limit: int | None = None) -> list[SessionRow]:
        """Rows for sessions_list, newest first (by the gateway's updatedAt; undated rows last)."""
        params: list[object] = []
        where = ""
        if gateway is not None:
            where, params = "WHERE gateway = ?", [gateway]
        tail = " LIMIT ?" if limit is not None else ""
        if limit is not None:
            params.append(max(0, limit))
        return self._rows(f"{_SELECT} {where} ORDER BY updated_at DESC, rowid{tail}", params)

    def listing_keys(self, gateway: str | None = None, *, updated_since: int | None = None) -> list[str]:
        """The keys of `session_keys`, in its order, without reading or building the rows (a list call
        decides on keys alone and fetches only its page)."""
        where, params = _listing_filter(gateway, updated_since)
        with self._mirror.reading() as conn:
            cursor = conn.execute(f"SELECT key FROM sessions {where} ORDER BY updated_at DESC, rowid", params)
            return [key for (key,) in cursor]

    def rows_for(self, keys: Iterable[str], gateway: str | None = None) -> list[SessionRow]:
        """The rows of `keys` (on `gateway`), in `session_keys` order."""
        wanted = list(dict.fromkeys(keys))
        found: list[tuple[int, SessionRow]] = []
        with self._mirror.reading() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                params: list[object] = list(chunk)
                where = f"WHERE key IN ({', '.join('?' * len(chunk))})"
                if gateway is not None:
                    where += " AND gateway = ?"
                    params.append(gateway)
                cursor = conn.execute(f"SELECT rowid, {', '.join(COLUMNS)} FROM sessions {where}", params)
                found += [(record[0], SessionRow(*record[1:])) for record in cursor]
        # session_keys' order: updatedAt newest first, undated last, then rowid.
        found.sort(key=lambda pair: (pair[1].updated_at is None, -(pair[1].updated_at or 0), pair[0]))
        return [row for _, row in found]

    def children_of(self, key: str) -> list[SessionRow]:
        """Direct children (spawnedBy or parentSessionKey is `key`), newest first."""
        key = key.strip().lower()
        sql = (
            f"{_SELECT} WHERE spawned_by = :k UNION {_SELECT} WHERE parent = :k AND spawned_by IS NULL "
            "ORDER BY updated_at DESC, key"
        )
        return self._rows(sql, {"k": key})

    def _rows(self, sql: str, params: Iterable[object] | dict[str, object]) -> list[SessionRow]:
        with self._mirror.reading() as conn:
            cursor = conn.execute(sql, params if isinstance(params, dict) else tuple(params))
            return [SessionRow(*record) for record in cursor]
