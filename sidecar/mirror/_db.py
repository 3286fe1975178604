"""`Mirror`: one SQLite file per agent holding the session mirror, the decision log and the outbox.

One write connection per process (this object), WAL so the CLI and other readers never block it, and
`BEGIN IMMEDIATE` for every write so a busy file waits `busy_timeout` and then fails with `MirrorLocked`
instead of SQLITE_BUSY_SNAPSHOT halfway through a transaction. The mirror rows run at
`synchronous=NORMAL` (after a power cut the last commits may roll back; the gateway rebuilds them), the
outbox at FULL for the length of each outbox write, because a lost outbox row is a lost or repeated send.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from operator import countOf, itemgetter
from pathlib import Path
from typing import Any

from sidecar.mirror._conn import Connection
from sidecar.mirror._errors import MirrorError, MirrorLocked
from sidecar.mirror._log import DecisionLog
from sidecar.mirror._outbox import Outbox
from sidecar.mirror._rows import COLUMNS, DbRow, SessionRow
from sidecar.mirror._schema import SCHEMA_VERSION, SchemaTooNew, ensure_schema
from sidecar.mirror._state import CursorStore
from sidecar.mirror._view import LOAD_SQL, ORDER, MirrorView, SessionIndex

BUSY_TIMEOUT_S = 5.0
CACHE_KIB = -8000
"""SQLite page cache between snapshots (negative: KiB): lookups by key and listing pages need little."""
BULK_CACHE_KIB = -32000
"""...and during a snapshot: 32 MB keeps a 100k-session snapshot from thrashing the indexes."""
_REF_AT = itemgetter(COLUMNS.index("gateway"), COLUMNS.index("key"))  # the index's (gateway, key)
_GATEWAY_OF_REF = itemgetter(0)
_ORDER_AT = COLUMNS.index("snapshot_at")
_UPSERT = (
    f"INSERT INTO sessions ({', '.join(COLUMNS)}, sync_gen) VALUES ({', '.join('?' for _ in COLUMNS)}, ?) "
    "ON CONFLICT (key, gateway) DO UPDATE SET "
    + ", ".join(
        f"{c} = COALESCE(excluded.{c}, sessions.{c})"
        if c in ("spawned_by", "parent", "depth", "parent_gateway")
        else f"{c} = excluded.{c}"
        for c in COLUMNS
        if c not in ("key", "gateway")
    )
    + ", sync_gen = excluded.sync_gen"
)


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    # The umask is process-wide: a thread creating a file meanwhile gets 0600/0700 too, which is only
    # ever stricter than it asked for.
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        # An existing file keeps its mode on open; tighten it (SQLite gives -wal/-shm the db file's mode).
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            if side.stat().st_mode & 0o077:
                side.chmod(0o600)


class Mirror:
    """The agent's state database. Build with `Mirror.open(path)` or `Mirror.memory()`; close when done.

    Attributes:
        view: the policy engine's SessionView, answered from memory and current after every write.
        decisions: the decision log (never a message body).
        outbox: sessions_send messages on their way to a gateway (bodies only while pending).
        cursors: per-gateway sync freshness (`sync_cursor`).
    """

    def __init__(
        self, conn: sqlite3.Connection, path: Path | None, *, busy_timeout: float, readonly: bool
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        self.db = Connection(conn)
        self._lock = threading.RLock()
        self._index = SessionIndex()
        self._pending: list[Callable[[], None]] = []
        self.view = MirrorView(self, self._index)
        self.cursors = CursorStore(self)
        self.decisions = DecisionLog(self)
        self.outbox = Outbox(self)

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT_S, readonly: bool = False
    ) -> Mirror:
        """Open (creating if needed, mode 0600) the mirror at `path`.

        `readonly` opens an existing file without taking write locks or creating anything (for status).

        Raises:
            MirrorLocked: another process kept the file locked for `busy_timeout` seconds.
            MirrorError: the file is missing (readonly), not a mirror, or from a newer sidecar.
        """
        file = Path(path).expanduser()
        try:
            if readonly:
                if not file.is_file():
                    raise MirrorError(f"no mirror database at {file}")
                conn = sqlite3.connect(
                    f"{file.absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False
                )
            else:
                with _private_umask():
                    _create_private(file)
                    conn = sqlite3.connect(file, check_same_thread=False)
        except OSError as exc:
            raise MirrorError(f"cannot open the mirror database {file}: {exc.strerror or exc}") from None
        mirror = cls(conn, file, busy_timeout=busy_timeout, readonly=readonly)
        try:
            with _private_umask():
                mirror._setup(wal=True)
        except BaseException:
            conn.close()
            raise
        return mirror

    @classmethod
    def memory(cls) -> Mirror:
        """A private in-memory mirror (tests, `explain`, one-shot tools)."""
        mirror = cls(
            sqlite3.connect(":memory:", check_same_thread=False), None, busy_timeout=0, readonly=False
        )
        mirror._setup(wal=False)
        return mirror

    def _setup(self, *, wal: bool) -> None:
        conn = self.db.conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if self.readonly:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    raise MirrorError(f"{self.path} is not a sidecar mirror database (schema version 0)")
                if version > SCHEMA_VERSION:
                    raise MirrorError(
                        f"{self.path} was written by a newer sidecar (schema version {version})"
                    )
                if version < SCHEMA_VERSION:
                    raise MirrorError(
                        f"{self.path} has schema version {version}; run `sidecar serve` once to upgrade "
                        f"it to {SCHEMA_VERSION}"
                    )
                self._load()
                return
            if wal and self.db.journal_mode != "wal":
                self.db.enable_wal()
            # Bodies cleared from the outbox are overwritten with zeros, not left in free pages.
            for pragma in ("synchronous = NORMAL", "secure_delete = ON", f"cache_size = {CACHE_KIB}"):
                conn.execute(f"PRAGMA {pragma}")
            with self.write():
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                ensure_schema(self.db.execute, version)
            with _private_umask():
                self.decisions._open(self.path)
        except SchemaTooNew as exc:
            raise MirrorError(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from None
        self._load()

    def _load(self) -> None:
        with self.reading() as conn:
            self._index.load(conn.execute(LOAD_SQL))
            self._refresh_agents(conn)
        self.cursors.load()

    def close(self) -> None:
        """Close the connection. A writer first checkpoints and empties the WAL, so no page image of a
        cleared outbox body outlives the session in the -wal file."""
        with self._lock:
            if not self.readonly:
                # Left in the journal if the database refuses: the next open replays it.
                with contextlib.suppress(MirrorError, sqlite3.DatabaseError):
                    self.decisions._close()
            if not self.readonly and self.path is not None:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Mirror({str(self.path) if self.path else ':memory:'!r}, sessions={len(self.view)})"

    # -- transactions ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self.db.conn
            except sqlite3.OperationalError as exc:
                raise self._translate(exc) from None

    @contextlib.contextmanager
    def write(self, *, durable: bool = False) -> Iterator[Connection]:
        """One logical write: `BEGIN IMMEDIATE` ... `COMMIT`; `durable` commits at synchronous=FULL.

        Nested calls join the outer transaction (as a savepoint, `db.atomic()`). The outermost needs
        none, since any failure rolls the whole transaction back (and a savepoint open across a
        snapshot batch made SQLite copy every index page it touched to a sub-journal: 6% of an ingest).
        The in-memory index follows only after the outermost COMMIT, so a rolled-back write never shows
        in the view.

        Raises:
            MirrorLocked: the write lock was not free within busy_timeout.
        """
        if self.readonly:
            raise MirrorError(f"{self.path} is open read-only")
        with self._lock:
            if self.db.conn.in_transaction:
                with self.db.atomic() as db:
                    yield db
                return
            if durable:
                self.db.execute("PRAGMA synchronous = FULL")
            try:
                try:
                    self.db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    raise self._translate(exc) from None
                try:
                    yield self.db
                    self.db.execute("COMMIT")
                except BaseException:
                    self._pending.clear()
                    self.db.rollback()
                    raise
            finally:
                if durable:
                    self.db.execute("PRAGMA synchronous = NORMAL")
            pending, self._pending = self._pending, []
            for change in pending:
                change()

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Many writes in a row (a snapshot): checkpoint the WAL every 10000 pages instead of every 1000,
        then once at the end. Each checkpoint syncs the file, and at 1000 pages they cost a fifth of a
        100k-row ingest."""
        if self.path is None or self.readonly:
            yield
            return
        with self._lock:
            self.db.conn.execute("PRAGMA wal_autocheckpoint = 10000")
            self.db.conn.execute(f"PRAGMA cache_size = {BULK_CACHE_KIB}")
        try:
            yield
        finally:
            with self._lock:
                self.db.conn.execute("PRAGMA wal_autocheckpoint = 1000")
                # Shrinking the cache gives its pages back: RSS with 100k mirrored stays in budget.
                self.db.conn.execute(f"PRAGMA cache_size = {CACHE_KIB}")
                if not self.db.conn.in_transaction:
                    with contextlib.suppress(sqlite3.OperationalError):
                        self.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _translate(self, exc: sqlite3.DatabaseError) -> MirrorError:
        where = str(self.path) if self.path else "the in-memory mirror"
        text = str(exc)
        if "locked" in text or "busy" in text:
            return MirrorLocked(
                f"the mirror database {where} is locked by another process (waited {self.busy_timeout:g} s). "
                "Is another sidecar for this agent running? Stop it, or give this one its own "
                "SIDECAR_STATE_DIR."
            )
        return MirrorError(
            f"the mirror database {where} failed: {text}. If it is damaged, delete it: "
            "the sidecar rebuilds it from the gateway."
        )

    # -- sessions --------------------------------------------------------------------------------

    def apply(self, rows: Iterable[SessionRow], *, gen: int | None = None) -> int:
        """Upsert rows in one transaction, each only if it is not older than the row already held.

        `gen` stamps the rows for the snapshot sweep (default: the gateway's current snapshot generation).
        Returns how many rows were written.
        """
        gens = self.cursors.gen
        return self.apply_values([row.as_db(gens(row.gateway) if gen is None else gen) for row in rows])

    def apply_values(self, rows: list[DbRow], *, then: Callable[[], object] | None = None) -> int:
        """`apply` for rows already in the table's shape (`SessionRow.as_db`, `gateway_values`): what a
        snapshot writes, with no SessionRow per row. `then` runs in the same transaction, after the rows
        (a snapshot moves its resume point with them); called as the outermost write, the rows go in
        without a savepoint around them."""
        nodes = self._index.nodes
        held = list(map(nodes.get, map(_REF_AT, rows))) if nodes else []  # a first snapshot holds none
        if held.count(None) != len(held):
            rows = [
                row
                for row, old in zip(rows, held, strict=True)
                if old is None or old[ORDER] is None or row[_ORDER_AT] is None or row[_ORDER_AT] >= old[ORDER]
            ]
        if not rows and then is None:
            return 0
        with self.write():
            if rows:
                self.db.conn.executemany(_UPSERT, rows)
                self._pending.append(partial(self._index.put_all, rows))
            if then is not None:
                then()
        return len(rows)

    def remove(self, key: str, gateway: str) -> bool:
        """Forget one session (deleted or archived on the gateway). Returns whether it was mirrored."""
        key = key.strip().lower()
        with self.write():
            removed = self.db.execute(
                "DELETE FROM sessions WHERE key = ? AND gateway = ?", (key, gateway)
            ).rowcount
            self._pending.append(partial(self._index.drop, key, gateway))
        return bool(removed)

    def sweep(self, gateway: str, gen: int) -> list[str]:
        """Delete the gateway's rows not stamped with `gen` (gone since the last snapshot); their keys."""
        with self.write():
            keys = [
                row[0]
                for row in self.db.execute(
                    "DELETE FROM sessions WHERE gateway = ? AND sync_gen < ? RETURNING key", (gateway, gen)
                ).fetchall()
            ]
            self._pending.append(partial(self._index.drop_all, keys, gateway))
        return keys

    def record_spawned_child(
        self, child_key: str, parent_key: str, agent: str, gateway: str, *, parent_gateway: str = "home"
    ) -> SessionRow:
        """Make a child this sidecar just spawned visible to its own policy at once, before any event.

        Without it, the parent's next call would meet a child the view has never heard of: not owned
        (so `tree` visibility refuses it) and not counted against maxChildren. The parent is this
        sidecar's requester, on `parent_gateway` (home), also when the child runs on a peer.
        """
        now = time.time()
        parent = parent_key.strip().lower()
        row = SessionRow(
            key=child_key.strip().lower(),
            gateway=gateway,
            agent=agent.strip().lower(),
            spawned_by=parent,
            parent=parent,
            depth=self.view.depth_of(parent, parent_gateway) + 1,
            updated_at=int(now * 1000),
            seen_at=now,
            parent_gateway=parent_gateway,
        )
        self.apply([row])
        return row

    def holds(self, gateway: str) -> bool:
        """Whether any session of `gateway` is mirrored."""
        with self.reading() as conn:
            found = conn.execute("SELECT EXISTS (SELECT 1 FROM sessions WHERE gateway = ?)", (gateway,))
            return bool(found.fetchone()[0])

    def count_in_view(self, gateway: str) -> int:
        """`count(gateway)` from the in-memory index, which follows every write (no scan of the table)."""
        return countOf(map(_GATEWAY_OF_REF, self._index.nodes), gateway)

    def count(self, gateway: str | None = None) -> int:
        with self.reading() as conn:
            if gateway is None:
                return int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])
            return int(
                conn.execute("SELECT count(*) FROM sessions WHERE gateway = ?", (gateway,)).fetchone()[0]
            )

    # -- agents ----------------------------------------------------------------------------------

    def set_agents(self, gateway: str, agent_ids: Iterable[str], *, source: str = "agents.list") -> None:
        """Replace the agents `gateway` is known to host from `source` ('agents.list' or 'config' pins)."""
        ids = sorted({a.strip().lower() for a in agent_ids if a and a.strip()})
        now = time.time()
        with self.write():
            self.db.execute("DELETE FROM agents WHERE gateway = ? AND source = ?", (gateway, source))
            self.db.conn.executemany(
                "INSERT INTO agents (gateway, agent_id, source, seen_at) VALUES (?, ?, ?, ?)",
                [(gateway, a, source, now) for a in ids],
            )
            self._pending.append(partial(self._refresh_agents, self.db.conn))

    def agents(self, gateway: str | None = None) -> list[str]:
        with self.reading() as conn:
            if gateway is None:
                rows = conn.execute("SELECT DISTINCT agent_id FROM agents ORDER BY agent_id")
            else:
                rows = conn.execute(
                    "SELECT DISTINCT agent_id FROM agents WHERE gateway = ? ORDER BY agent_id", (gateway,)
                )
            return [r[0] for r in rows]

    def _refresh_agents(self, conn: sqlite3.Connection) -> None:
        held: dict[str, set[str]] = {}
        for gateway, agent_id in conn.execute("SELECT gateway, agent_id FROM agents"):
            held.setdefault(gateway, set()).add(agent_id)
        self._index.agents = {gateway: frozenset(ids) for gateway, ids in held.items()}

    def pragma(self, name: str) -> Any:
        with self.reading() as conn:
            return conn.execute(f"PRAGMA {name}").fetchone()[0]
