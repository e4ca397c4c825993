"""What the SQLite store and the SQLite job board do alike with the standard ``sqlite3``.

Both open their files the same way (explicit transactions, a busy timeout,
durable commits, rows as dicts), write in ``BEGIN IMMEDIATE`` transactions so
that what a write checks still holds when it writes, and report driver errors
as :class:`~steadyflow.errors.PersistenceError` naming the file, never the
values. How each keeps its connections differs (one behind a mutex for the
store, a pool for the board), so that stays with them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from steadyflow.errors import PersistenceError, SteadyflowError

__all__ = ["Row", "connect", "translated", "write_transaction"]

Row = dict[str, Any]


def _dict_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}


def connect(
    target: str, busy_timeout: float, *, wal: bool = True, foreign_keys: bool = False
) -> sqlite3.Connection:
    """A connection with dict rows, no implicit transactions and ``synchronous=FULL``.

    ``check_same_thread`` is off: callers hand a connection to one thread at a
    time themselves. The connection is closed again if a pragma fails.
    """
    db = sqlite3.connect(
        target,
        timeout=busy_timeout,
        isolation_level=None,  # transactions are begun explicitly
        check_same_thread=False,
    )
    try:
        db.row_factory = _dict_row
        db.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
        if wal:
            _enter_wal(db, busy_timeout)
        db.execute("PRAGMA synchronous = FULL")
        if foreign_keys:
            db.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        db.close()
        raise
    return db


def _enter_wal(db: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch a new file to WAL, waiting (up to ``busy_timeout``) for connections racing it.

    Connections opening a new file at once each switch it to WAL, which needs
    the file to themselves; SQLite answers "database is locked" at once rather
    than calling the busy handler there (waiting could deadlock), so it is
    tried again here. Once a file is in WAL the switch is a no-op.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


@contextlib.contextmanager
def translated(where: str) -> Iterator[None]:
    """sqlite3 errors become steadyflow errors naming the file (never the values)."""
    try:
        yield
    except SteadyflowError:
        raise
    except sqlite3.Error as exc:
        raise PersistenceError(f"sqlite error on {where}: {exc}") from exc


@contextlib.contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, the write lock taken before anything is read."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:  # SQLite rolls back by itself on some errors
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
