"""The mirror's tables, versioned with `PRAGMA user_version` and created idempotently.

`sessions` has the primary key (key, gateway), so a lookup by key alone uses that index's prefix. It is
a rowid table on purpose: with text keys in random order it ingests about half again as fast as
WITHOUT ROWID. The
`decisions` table has no column that could hold a message body, and the `outbox` refuses (CHECK) to keep a
body on any entry that is no longer pending.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

SCHEMA_VERSION = 4

TABLES = (
    """
    CREATE TABLE IF NOT EXISTS sessions (
        key TEXT NOT NULL,
        gateway TEXT NOT NULL,
        agent TEXT NOT NULL,
        kind TEXT,
        channel TEXT,
        label TEXT,
        display_name TEXT,
        spawned_by TEXT,
        parent TEXT,
        depth INTEGER,
        status TEXT,
        started_at INTEGER,
        ended_at INTEGER,
        updated_at INTEGER,
        session_id TEXT,
        model TEXT,
        snapshot_at INTEGER,
        seen_at REAL NOT NULL,
        sync_gen INTEGER NOT NULL DEFAULT 0,
        parent_gateway TEXT,
        PRIMARY KEY (key, gateway)
    )
    """,
    "CREATE INDEX IF NOT EXISTS sessions_spawned_by ON sessions (spawned_by) WHERE spawned_by IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS sessions_parent ON sessions (parent) WHERE parent IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS sessions_agent ON sessions (agent)",
    "CREATE INDEX IF NOT EXISTS sessions_newest ON sessions (updated_at DESC)",
    """
    CREATE TABLE IF NOT EXISTS agents (
        gateway TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('agents.list', 'config')),
        seen_at REAL NOT NULL,
        PRIMARY KEY (gateway, agent_id, source)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS sync_cursor (
        gateway TEXT PRIMARY KEY,
        seq INTEGER,
        epoch INTEGER,
        last_full_sync REAL,
        last_event REAL,
        rows INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'stale' CHECK (state IN ('syncing', 'live', 'stale')),
        snapshot_gen INTEGER NOT NULL DEFAULT 0,
        snapshot_offset INTEGER NOT NULL DEFAULT 0,
        snapshot_started REAL,
        snapshot_ts INTEGER,
        last_error TEXT,
        mode TEXT,
        stale_bound REAL,
        openclaw_version TEXT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS decisions (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        requester_agent TEXT NOT NULL,
        requester_session TEXT NOT NULL,
        tool TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error')),
        gate TEXT,
        source TEXT,
        latency_us INTEGER,
        cursor INTEGER,
        trace_id TEXT,
        requester_gateway TEXT,
        target_gateway TEXT,
        side TEXT,
        fix TEXT,
        would_deny INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts)",
    """
    CREATE TABLE IF NOT EXISTS outbox (
        idempotency_key TEXT PRIMARY KEY,
        send_id TEXT NOT NULL,
        requester TEXT NOT NULL,
        target TEXT NOT NULL,
        gateway TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        run_id TEXT,
        last_error TEXT,
        delivered_at REAL,
        hop INTEGER NOT NULL DEFAULT 0,
        trace_id TEXT,
        body TEXT,
        requester_gateway TEXT NOT NULL DEFAULT 'home',
        CHECK (status = 'pending' OR body IS NULL)
    )
    """,
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (status, created_at)",
    "CREATE INDEX IF NOT EXISTS outbox_send ON outbox (send_id)",
    "CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at)",
)


# Version 1 -> 2: gateways are part of identity (a recorded child's parent gateway; both gateways of a
# decision and which side decided it; the requester's gateway of an outbox entry).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE sessions ADD COLUMN parent_gateway TEXT",
        "ALTER TABLE decisions ADD COLUMN requester_gateway TEXT",
        "ALTER TABLE decisions ADD COLUMN target_gateway TEXT",
        "ALTER TABLE decisions ADD COLUMN side TEXT",
        "ALTER TABLE outbox ADD COLUMN requester_gateway TEXT NOT NULL DEFAULT 'home'",
    ),
    # 2 -> 3: how the mirror follows each gateway (`events`, or `polling` where the release has no
    # session events), the staleness it promises when polling, and the gateway's OpenClaw release.
    2: (
        "ALTER TABLE sync_cursor ADD COLUMN mode TEXT",
        "ALTER TABLE sync_cursor ADD COLUMN stale_bound REAL",
        "ALTER TABLE sync_cursor ADD COLUMN openclaw_version TEXT",
    ),
    # 3 -> 4: the decision log keeps the fix of a denial and marks observe mode's would-be denials;
    # sendsPerDay counts a day of the outbox by creation time.
    3: (
        "ALTER TABLE decisions ADD COLUMN fix TEXT",
        "ALTER TABLE decisions ADD COLUMN would_deny INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at)",
    ),
}


class SchemaTooNew(RuntimeError):
    """The database was written by a newer sidecar whose schema this one does not know."""


def ensure_schema(execute: Callable[[str], Any], version: int) -> bool:
    """Create every table and index at `version` 0, inside the caller's write transaction.

    `execute` runs one statement; `version` is the database's current `user_version`. Returns True when
    the schema was created now. Creating twice is harmless (IF NOT EXISTS), so two processes opening a
    new file at once both succeed.

    Raises:
        SchemaTooNew: `version` is above SCHEMA_VERSION.
    """
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the mirror database has schema version {version}, newer than this sidecar's "
            f"{SCHEMA_VERSION}: upgrade the sidecar, or delete the file (it is rebuilt from the gateway)"
        )
    if version == SCHEMA_VERSION:
        return False
    if version in MIGRATIONS:
        for upgrade in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[upgrade]:
                if not _column_exists(execute, statement):
                    execute(statement)
        execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return False
    for statement in TABLES:
        execute(statement)
    # user_version lives in the file header and commits with the tables, so a crash leaves either both
    # or neither.
    execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return True


_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+)")


def _column_exists(execute: Callable[[str], Any], statement: str) -> bool:
    """Whether an `ADD COLUMN` step is already in place (a file some steps reached by another route), so
    migrating is idempotent per column; SQLite has no ADD COLUMN IF NOT EXISTS."""
    match = _ADD_COLUMN.match(statement)
    if match is None:
        return False
    table, column = match.groups()
    return any(row[1] == column for row in execute(f"PRAGMA table_info({table})").fetchall())
