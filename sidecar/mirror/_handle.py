"""`MirrorHandle`: what the parts of a Mirror (decision log, outbox, cursors, view) use of the Mirror.

`Mirror` builds its parts and hands each the Mirror itself. Typing them against this protocol instead of
the class keeps the import graph one way: `_db` imports the parts, and no part imports `_db`, not even
for the type checker.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from sidecar.mirror._conn import Connection
from sidecar.mirror._errors import MirrorError

__all__ = ["MirrorHandle", "SeqSource"]


class SeqSource(Protocol):
    def seq(self, gateway: str | None = None) -> int | None:
        """The last event seq seen from `gateway`."""
        ...


class MirrorHandle(Protocol):
    """The Mirror as its parts see it: its file, its locked reads and writes, and its error translation."""

    @property
    def path(self) -> Path | None: ...

    @property
    def cursors(self) -> SeqSource: ...

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """The connection under the mirror's lock, for reads."""
        ...

    def write(self, *, durable: bool = False) -> AbstractContextManager[Connection]:
        """One logical write (a transaction, or a savepoint inside one)."""
        ...

    def _translate(self, exc: sqlite3.DatabaseError) -> MirrorError:
        """The database's error as a MirrorError naming the file and the fix."""
        ...
