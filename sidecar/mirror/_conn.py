"""`Connection`: what the mirror asks of its SQLite connection, on the standard library alone.

This was `sqlite_utils.Database`, of which the mirror used seven members; importing it (with
python-dateutil, more-itertools, pluggy and importlib-metadata behind it) cost every `sidecar serve`
about 50 ms of its cold start. The behaviour kept is sqlite-utils' own: a write statement run outside a
transaction is committed at once, `atomic()` nests as savepoints, and recursive triggers are on.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

_TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "END", "RELEASE", "ROLLBACK", "SAVEPOINT"})


class TransactionError(sqlite3.ProgrammingError):
    """An operation that would commit an open transaction as a side effect."""


def first_keyword(sql: str) -> str:
    """The first keyword of `sql`, uppercased, after whitespace, `;`, a BOM and comments ('' if none)."""
    i, n = 0, len(sql)
    while i < n:
        if sql[i].isspace() or sql[i] in (";", "\ufeff"):
            i += 1
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            if newline == -1:
                return ""
            i = newline + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end == -1:
                return ""
            i = end + 2
        else:
            break
    j = i
    while j < n and (sql[j].isalpha() or sql[j] == "_"):
        j += 1
    return sql[i:j].upper()


class Connection:
    """One sqlite3 connection (default transaction handling) with the mirror's transaction helpers."""

    __slots__ = ("_savepoints", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._savepoints = itertools.count(1)
        self.execute("PRAGMA recursive_triggers=on;")

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> sqlite3.Cursor:
        """Run one statement. A write outside a transaction is committed at once (the driver would
        otherwise leave its implicit transaction open to capture every later write)."""
        conn = self.conn
        was_in_transaction = conn.in_transaction
        try:
            cursor = conn.execute(sql) if parameters is None else conn.execute(sql, parameters)
        except Exception:
            if not was_in_transaction and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if (
            not was_in_transaction
            and conn.in_transaction
            and cursor.description is None
            and first_keyword(sql) not in _TRANSACTION_CONTROL
        ):
            conn.execute("COMMIT")
        return cursor

    @property
    def journal_mode(self) -> str:
        return str(self.execute("PRAGMA journal_mode;").fetchone()[0])

    def enable_wal(self) -> None:
        """Switch the file to write-ahead logging (never inside a transaction: it would be committed)."""
        if self.journal_mode == "wal":
            return
        if self.conn.in_transaction:
            raise TransactionError("enable_wal() cannot be used while a transaction is open")
        old = self.conn.isolation_level
        try:
            self.conn.isolation_level = None
            self.execute("PRAGMA journal_mode=wal;")
        finally:
            self.conn.isolation_level = old

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Connection]:
        """A transaction, or a savepoint inside the one already open; rolled back on any exception."""
        conn = self.conn
        if conn.in_transaction:
            savepoint = f"sidecar_{next(self._savepoints)}"
            conn.execute(f"SAVEPOINT {savepoint};")
            try:
                yield self
            except BaseException:
                # A RAISE(ROLLBACK) may have ended the whole transaction, savepoints included.
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint};")
                    conn.execute(f"RELEASE SAVEPOINT {savepoint};")
                raise
            conn.execute(f"RELEASE SAVEPOINT {savepoint};")
            return
        conn.execute("BEGIN")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        """Roll back the open transaction, if there is one."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def table_names(self) -> list[str]:
        return [row[0] for row in self.execute("select name from sqlite_master where type = 'table'")]

    def close(self) -> None:
        self.conn.close()
