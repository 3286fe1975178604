"""The agent's local state: a SQLite mirror of the gateway's sessions, the decision log and the outbox.

    mirror = Mirror.open(mirror_path("lead"))       # or Mirror.memory()
    async with anyio.create_task_group() as tg:
        syncer = MirrorSync(mirror, client, gateway="home")
        await tg.start(syncer.run)                   # first snapshot in; events follow
        decide(policy, requester, tool, target, mirror.view)

`mirror.view` answers the policy engine from memory; `mirror.decisions` and `mirror.outbox` share the
file. See each module for the corner cases.
"""

from sidecar.mirror._audit import AUDIT_FIELDS, audit_records
from sidecar.mirror._db import BUSY_TIMEOUT_S, Mirror
from sidecar.mirror._errors import MirrorError, MirrorLocked
from sidecar.mirror._log import (
    FLUSH_AFTER_S,
    FLUSH_ROWS,
    DecisionLog,
    DecisionRecord,
    Outcome,
    journal_path,
    journaled_decisions,
)
from sidecar.mirror._operations import PAUSE_FILE, PauseFile, usage_of
from sidecar.mirror._outbox import Outbox, OutboxEntry, OutboxError, OutboxStatus
from sidecar.mirror._retention import Retention
from sidecar.mirror._rows import ENDED_STATUSES, SessionRow, agent_of_key
from sidecar.mirror._schema import SCHEMA_VERSION
from sidecar.mirror._source import PAGE_SIZE, PAGES_PER_WRITE, EventLike, GatewaySource, Progress, SyncError
from sidecar.mirror._state import STALE_AFTER_S, CursorStore, State, SyncCursor
from sidecar.mirror._store import ServiceStore
from sidecar.mirror._sync import MirrorSync, sync
from sidecar.mirror._view import MirrorView, SessionIndex

__all__ = [
    "AUDIT_FIELDS",
    "BUSY_TIMEOUT_S",
    "ENDED_STATUSES",
    "FLUSH_AFTER_S",
    "FLUSH_ROWS",
    "PAGES_PER_WRITE",
    "PAGE_SIZE",
    "PAUSE_FILE",
    "SCHEMA_VERSION",
    "STALE_AFTER_S",
    "CursorStore",
    "DecisionLog",
    "DecisionRecord",
    "EventLike",
    "GatewaySource",
    "Mirror",
    "MirrorError",
    "MirrorLocked",
    "MirrorSync",
    "MirrorView",
    "Outbox",
    "OutboxEntry",
    "OutboxError",
    "OutboxStatus",
    "Outcome",
    "PauseFile",
    "Progress",
    "Retention",
    "ServiceStore",
    "SessionIndex",
    "SessionRow",
    "State",
    "SyncCursor",
    "SyncError",
    "agent_of_key",
    "audit_records",
    "journal_path",
    "journaled_decisions",
    "sync",
    "usage_of",
]
