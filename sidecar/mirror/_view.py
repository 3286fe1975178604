"""`MirrorView`: the policy engine's `SessionView` over the mirror, answered from memory.

The engine's budget is a few microseconds per decision, far less than one SQLite query, so every
question `decide` asks (`parent_of`, `has_agent`, `depth_of`, `active_children`) is a dict lookup in
`SessionIndex`, which the Mirror updates in the same call that commits each write. Listing and full rows
(`session_keys`, `get`, `children_of`) come from SQLite.

Sessions are (gateway, key) in the view, as they are to the engine: every gateway has an
`agent:main:main`, and a key one gateway reports says nothing about a session on another. A row's parent
lives on the row's own gateway (a peer's rows can only describe that peer's sessions), except for a
child this host spawned on a peer itself, whose parent gateway the row records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from sidecar.mirror._handle import MirrorHandle
from sidecar.mirror._listing import BULK_ROWS, SEQ_BITS, SEQ_MASK, TS_MAX, ListingIndex, RowFilter, sort_key
from sidecar.mirror._rows import COLUMNS, ENDED_STATUSES, DbRow, SessionRow

HOME = "home"
MAX_DEPTH_WALK = 64
# Rows are keyed by (gateway, key), so no row replaces another and no order is needed (sorting 100k rows
# by seen_at cost more than the rest of the load). SQLite works out what `put` derives from several
# columns (the owner's key, whether the row is active), so fewer values per row become Python objects:
# most of a 100k-row load is making them.
LOAD_SQL = (
    "SELECT key, gateway, CASE WHEN spawned_by <> '' THEN spawned_by ELSE parent END, parent_gateway, depth, "
    "CASE WHEN status = 'running' THEN 1 WHEN ended_at IS NOT NULL THEN 0 "
    f"WHEN status IN ({', '.join(repr(s) for s in sorted(ENDED_STATUSES))}) THEN 0 ELSE 1 END, "
    "snapshot_at, updated_at, rowid FROM sessions"
)
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


_Ref = tuple[str, str]  # (gateway, key)


# What the engine asks about one row, as a plain tuple: (parent, depth, active, order, sort key). Python's
# cyclic collector stops tracking a plain tuple of plain values (not a NamedTuple or a slotted object), so
# 100k of them add nothing to each full collection; those collections were a fifth of a 100k-row ingest
# and the tail of a decision's latency.
_Node = tuple[_Ref | None, int | None, bool, int | None, int]
PARENT: Final = 0
DEPTH: Final = 1
ACTIVE: Final = 2
ORDER: Final = 3
SORT: Final = 4


class SessionIndex:
    """The in-memory facts behind MirrorView. Only the Mirror writes it, after each commit."""

    __slots__ = ("_next_seq", "active", "agents", "listings", "nodes")

    def __init__(self) -> None:
        self.nodes: dict[_Ref, _Node] = {}
        self.active: dict[_Ref, int] = {}
        self.agents: dict[str, frozenset[str]] = {}
        self.listings = ListingIndex(self._sort_keys, self.nodes.__len__)
        self._next_seq = 1

    def _sort_keys(self) -> Iterator[tuple[_Ref, int]]:
        return ((ref, node[SORT]) for ref, node in self.nodes.items())

    def put(self, row: SessionRow) -> None:
        self.put_all([row.as_db(0)])

    def load(self, records: Iterable[tuple[Any, ...]]) -> None:
        """Take the rows `LOAD_SQL` selects (a mirror opened on a file): the facts `put` keeps, without a
        SessionRow per row, and with one string object per distinct gateway and parent (100k rows at every
        start; equal strings read from SQLite are otherwise separate objects)."""
        nodes, active = self.nodes, self.active
        shared: dict[Any, Any] = {}
        share = shared.setdefault
        last = 0
        for key, gateway, owner_key, parent_gateway, depth, is_active, order, updated, rowid in records:
            gateway = share(gateway, gateway)
            owner = None
            if owner_key is not None:
                ref = (parent_gateway or gateway, owner_key)
                owner = share(ref, ref)
                if is_active:
                    active[owner] = active.get(owner, 0) + 1
            if type(updated) is int and 0 <= updated <= TS_MAX:
                sk = ((TS_MAX - updated) << SEQ_BITS) | rowid
            else:
                sk = sort_key(updated, rowid)
            nodes[(gateway, key)] = (owner, depth, is_active == 1, order, sk)
            if rowid > last:
                last = rowid
        self._next_seq = max(self._next_seq, last + 1)
        self.listings.forget()

    def put_all(self, rows: Sequence[DbRow]) -> None:
        """Take rows as the mirror writes them (`SessionRow.as_db`: COLUMNS, then sync_gen). A snapshot
        puts 100k at a time, so this is one loop that unpacks each row in one step, no call per row."""
        if len(rows) > BULK_ROWS:
            self.listings.forget()
        listings = self.listings if len(self.listings) else None
        nodes, active = self.nodes, self.active
        setdefault = nodes.setdefault
        # One parent reference per distinct parent, as `load` keeps them: every decoded row brings its own
        # copy of the parent's key (a tuple and a string per row, about 12 MB at 100k).
        parents: dict[_Ref, _Ref] = {}
        share = parents.setdefault
        seq = self._next_seq
        ended_statuses = ENDED_STATUSES
        for (
            key,
            gateway,
            _agent,
            _kind,
            _channel,
            _label,
            _display_name,
            spawned_by,
            parent_key,
            depth,
            status,
            _started_at,
            ended_at,
            updated,
            _session_id,
            _model,
            order,
            _seen_at,
            parent_gateway,
            _gen,
        ) in rows:
            ref = (gateway, key)
            owner_key = spawned_by or parent_key  # SessionRow.parent_key
            if owner_key is None:
                parent = None
            else:
                parent = (parent_gateway or gateway, owner_key)
                parent = share(parent, parent)
            is_active = status == "running" or (status not in ended_statuses and ended_at is None)
            if type(updated) is int and 0 <= updated <= TS_MAX:
                sk = ((TS_MAX - updated) << SEQ_BITS) | seq
            else:
                sk = sort_key(updated, seq)
            # A new row (most of a snapshot) costs one dict operation; a row already held, a second.
            node = (parent, depth, is_active, order, sk)
            held = setdefault(ref, node)
            old = None if held is node else held
            if old is None:
                seq += 1
            else:
                if old[PARENT] is not None and old[ACTIVE]:
                    self._release(old)
                # spawnedBy and spawnDepth never change once set; an event captured between the gateway's
                # two spawn patches carries neither, and must not make a known child look parentless.
                parent = parent or old[PARENT]
                depth = old[DEPTH] if depth is None else depth
                sk = sort_key(updated, old[SORT] & SEQ_MASK)  # an upsert keeps the row's rowid
                nodes[ref] = (parent, depth, is_active, order, sk)
            if parent is not None and is_active:
                active[parent] = active.get(parent, 0) + 1
            if listings is not None:
                listings.moved(ref, None if old is None else old[SORT], sk)
        self._next_seq = seq

    def drop(self, key: str, gateway: str) -> None:
        old = self.nodes.pop((gateway, key), None)
        if old is not None:
            self._release(old)
            if len(self.listings):
                self.listings.moved((gateway, key), old[SORT], None)

    def drop_all(self, keys: Sequence[str], gateway: str) -> None:
        if len(keys) > BULK_ROWS:
            self.listings.forget()
        for key in keys:
            self.drop(key, gateway)

    def _release(self, node: _Node) -> None:
        if node[PARENT] is not None and node[ACTIVE]:
            left = self.active.get(node[PARENT], 0) - 1
            if left > 0:
                self.active[node[PARENT]] = left
            else:
                self.active.pop(node[PARENT], None)


class MirrorView:
    """The policy engine's SessionView over one Mirror (get it as `mirror.view`)."""

    __slots__ = ("_index", "_mirror", "_nodes")

    def __init__(self, mirror: MirrorHandle, index: SessionIndex) -> None:
        self._mirror = mirror
        self._index = index
        self._nodes = index.nodes

    # -- SessionView: O(1), from memory -----------------------------------------------------------

    def owner_of(self, key: str, gateway: str = HOME) -> tuple[str, str] | None:
        node = self._nodes.get((gateway, key))
        return None if node is None else node[PARENT]

    def parent_of(self, key: str, gateway: str = HOME) -> str | None:
        node = self._nodes.get((gateway, key))
        return None if node is None or node[PARENT] is None else node[PARENT][1]

    def has_agent(self, agent_id: str, gateway: str | None = None) -> bool:
        agents = self._index.agents
        if gateway is None:
            return any(agent_id in held for held in agents.values())
        return agent_id in agents.get(gateway, ())

    def depth_of(self, key: str, gateway: str = HOME) -> int:
        """spawnDepth when the gateway reported it, else the number of parents above `key` (bounded).

        A `:subagent:` key the mirror has never seen counts one level per `:subagent:` segment, as
        OpenClaw's own fallback does: an unknown child is never treated as a top-level session.
        """
        nodes = self._nodes
        walked = 0
        current = (gateway, key)
        while walked < MAX_DEPTH_WALK:
            node = nodes.get(current)
            if node is None:
                return walked if walked else key.count(":subagent:")
            if node[DEPTH] is not None:
                return walked + node[DEPTH]
            if node[PARENT] is None:
                return walked
            current = node[PARENT]
            walked += 1
        return walked

    def active_children(self, key: str, gateway: str = HOME) -> int:
        return self._index.active.get((gateway, key), 0)

    def active_children_of_agent(self, agent_id: str, gateway: str = HOME) -> int:
        """Active children of every session of `agent_id` on `gateway` (the `maxActiveChildren` budget)."""
        prefix = f"agent:{agent_id}:"
        return sum(
            n
            for (where, parent), n in self._index.active.items()
            if where == gateway and parent.startswith(prefix)
        )

    # -- rows, from SQLite -------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        """`key in view`: a home key, or a (gateway, key) pair."""
        return (key if isinstance(key, tuple) else (HOME, key)) in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, key: str, gateway: str | None = None) -> SessionRow | None:
        """The mirrored row for `key` on `gateway` (None: the home row, else any gateway's), else None."""
        key = key.strip().lower()
        if gateway is None:
            rows = self._rows(
                f"{_SELECT} WHERE key = ? ORDER BY gateway = ? DESC, gateway LIMIT 1", (key, HOME)
            )
        else:
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

    def listing_keys(
        self, gateway: str | None = None, *, updated_since: int | None = None
    ) -> list[str | tuple[str, str]]:
        """The rows of `session_keys`, in its order, without reading or building them (a list call
        decides on keys alone and fetches only its page): a home row as its key, another gateway's row as
        (gateway, key), since the same key on two gateways is two sessions."""
        where, params = _listing_filter(gateway, updated_since)
        with self._mirror.reading() as conn:
            cursor = conn.execute(
                f"SELECT gateway, key FROM sessions {where} ORDER BY updated_at DESC, rowid", params
            )
            return [key if gw == HOME else (gw, key) for (gw, key) in cursor]

    def visible_page(
        self,
        shows: RowFilter,
        scope: object,
        *,
        gateway: str | None = None,
        updated_since: int | None = None,
        limit: int | None = None,
        want: Callable[[str | tuple[str, str]], bool] | None = None,
    ) -> tuple[list[str | tuple[str, str]], int]:
        """`listing_keys` cut to what `shows` lets through (and `want` accepts), its first `limit` rows,
        and how many rows `shows` hid, from the kept listing of `scope` (see `ListingIndex`): the cost of
        a page, not of the mirror. Rows as `listing_keys` names them."""

        def named(ref: _Ref) -> str | tuple[str, str]:
            return ref[1] if ref[0] == HOME else ref

        accept = None if want is None else (lambda ref: want(named(ref)))
        refs, hidden = self._index.listings.page(
            shows, scope, gateway=gateway, updated_since=updated_since, limit=limit, want=accept
        )
        return [named(ref) for ref in refs], hidden

    def rows_for(self, keys: Iterable[str | tuple[str, str]], gateway: str | None = None) -> list[SessionRow]:
        """The rows of `keys` (home keys, or (gateway, key) refs; only on `gateway` if given), in
        `session_keys` order."""
        by_gateway: dict[str, list[str]] = {}
        for ref in dict.fromkeys(keys):
            gw, key = (HOME, ref) if isinstance(ref, str) else ref
            if gateway is None or gw == gateway:
                by_gateway.setdefault(gw, []).append(key)
        found: list[tuple[int, SessionRow]] = []
        with self._mirror.reading() as conn:
            for gw, wanted in by_gateway.items():
                for start in range(0, len(wanted), _IN_CHUNK):
                    chunk = wanted[start : start + _IN_CHUNK]
                    where = f"WHERE key IN ({', '.join('?' * len(chunk))}) AND gateway = ?"
                    cursor = conn.execute(
                        f"SELECT rowid, {', '.join(COLUMNS)} FROM sessions {where}", [*chunk, gw]
                    )
                    found += [(record[0], SessionRow(*record[1:])) for record in cursor]
        # session_keys' order: updatedAt newest first, undated last, then rowid (one int per row).
        found.sort(key=lambda pair: sort_key(pair[1].updated_at, pair[0]))
        return [row for _, row in found]

    def children_of(self, key: str, gateway: str = HOME) -> list[SessionRow]:
        """Direct children of (gateway, key) (spawnedBy or parentSessionKey is `key`), newest first."""
        key = key.strip().lower()
        same = "COALESCE(parent_gateway, gateway) = :g"
        sql = (
            f"{_SELECT} WHERE spawned_by = :k AND {same} UNION {_SELECT} WHERE parent = :k AND "
            f"spawned_by IS NULL AND {same} ORDER BY updated_at DESC, key"
        )
        return self._rows(sql, {"k": key, "g": gateway})

    def _rows(self, sql: str, params: Iterable[object] | dict[str, object]) -> list[SessionRow]:
        with self._mirror.reading() as conn:
            cursor = conn.execute(sql, params if isinstance(params, dict) else tuple(params))
            return [SessionRow(*record) for record in cursor]
