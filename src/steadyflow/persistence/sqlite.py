"""The embedded default: SQLite through the standard library's :mod:`sqlite3`.

No third-party package is needed, and opening a store costs a few
milliseconds: there is no SQLAlchemy to import and no Alembic to consult.
The schema is versioned in one place, :data:`SCHEMA_STEPS` below, and the
version a file is at lives in ``PRAGMA user_version``. A store created by
:class:`~steadyflow.persistence.sql.SQLBackend` (Alembic's
``steadyflow_alembic_version`` table) is the same schema and is adopted as it
is; in turn every store this module creates or migrates keeps Alembic's
revision current, so either backend can open the file later.

Durability is that of the SQLAlchemy path: WAL, ``synchronous=FULL`` (an
acknowledged completion must survive power loss), foreign keys, and a busy
timeout so concurrent writers wait instead of failing. Every write is one
``BEGIN IMMEDIATE`` transaction: the write lock is taken up front, so a
check made inside it (a version, a lease epoch) still holds when the write lands.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from steadyflow.errors import (
    ConflictError,
    NotFoundError,
    PersistenceError,
    SchemaVersionError,
)
from steadyflow.persistence._fencing import locked_error, lost_error, stale_epoch_error
from steadyflow.persistence._sqlite3 import Row, connect, translated, write_transaction
from steadyflow.persistence.base import Backend, Lease

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from steadyflow.persistence.models import AtomDetail, FlowDetail, LogBook
    from steadyflow.persistence.query import FlowFilter, FlowSummary
    from steadyflow.persistence.serializer import Serializer

__all__ = ["SCHEMA_STEPS", "SCHEMA_VERSION", "SQLiteBackend"]

SCHEMA_STEPS: tuple[tuple[str, ...], ...] = (
    # 1: logbooks, flows and atoms (Alembic revision 0001).
    (
        """CREATE TABLE steadyflow_logbooks (
            uuid VARCHAR(64) NOT NULL PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            meta TEXT NOT NULL,
            created_at FLOAT NOT NULL,
            updated_at FLOAT NOT NULL)""",
        """CREATE TABLE steadyflow_flows (
            uuid VARCHAR(64) NOT NULL PRIMARY KEY,
            book_uuid VARCHAR(64) NOT NULL
                REFERENCES steadyflow_logbooks (uuid) ON DELETE CASCADE,
            name VARCHAR(255) NOT NULL,
            state VARCHAR(32) NOT NULL,
            meta TEXT NOT NULL,
            version INTEGER NOT NULL,
            created_at FLOAT NOT NULL,
            updated_at FLOAT NOT NULL)""",
        "CREATE INDEX ix_steadyflow_flows_book_uuid ON steadyflow_flows (book_uuid)",
        """CREATE TABLE steadyflow_atoms (
            flow_uuid VARCHAR(64) NOT NULL
                REFERENCES steadyflow_flows (uuid) ON DELETE CASCADE,
            name VARCHAR(255) NOT NULL,
            uuid VARCHAR(64) NOT NULL,
            kind VARCHAR(16) NOT NULL,
            state VARCHAR(32) NOT NULL,
            intention VARCHAR(16) NOT NULL,
            atom_version VARCHAR(64) NOT NULL,
            result TEXT NOT NULL,
            failure TEXT,
            revert_result TEXT NOT NULL,
            revert_failure TEXT,
            history TEXT NOT NULL,
            meta TEXT NOT NULL,
            created_at FLOAT NOT NULL,
            updated_at FLOAT NOT NULL,
            PRIMARY KEY (flow_uuid, name))""",
    ),
    # 2: leases (Alembic revision 0002); rows outlive their flows, epochs only grow.
    (
        """CREATE TABLE steadyflow_leases (
            flow_uuid VARCHAR(64) NOT NULL PRIMARY KEY,
            owner VARCHAR(64),
            epoch BIGINT NOT NULL,
            expires_at FLOAT NOT NULL)""",
    ),
    # 3: listing flows newest first, by state too (Alembic revision 0003).
    (
        "CREATE INDEX ix_steadyflow_flows_created ON steadyflow_flows (created_at, uuid)",
        "CREATE INDEX ix_steadyflow_flows_state_created "
        "ON steadyflow_flows (state, created_at, uuid)",
    ),
)
"""The DDL of each schema version, in order: version N is ``SCHEMA_STEPS[:N]``.

Append a step to change the schema (never edit one that shipped), and add
the Alembic migration that does the same for the SQLAlchemy backend.
"""

SCHEMA_VERSION = len(SCHEMA_STEPS)
"""The version this code writes and reads (``PRAGMA user_version``)."""

ALEMBIC_TABLE = "steadyflow_alembic_version"
_ALEMBIC_REVISIONS = {"0001": 1, "0002": 2, "0003": 3}
"""Alembic revision id -> the schema version it creates (both paths share the schema)."""

MIN_SQLITE = (3, 24, 0)
"""The oldest SQLite library this module works with (upserts: ``ON CONFLICT DO UPDATE``)."""

BUSY_TIMEOUT = 5.0
"""Seconds a writer waits for another process's write lock before failing."""

_ATOM_COLUMNS = (
    "flow_uuid",
    "name",
    "uuid",
    "kind",
    "state",
    "intention",
    "atom_version",
    "result",
    "failure",
    "revert_result",
    "revert_failure",
    "history",
    "meta",
    "created_at",
    "updated_at",
)
_UPSERT_ATOM = (
    f"INSERT INTO steadyflow_atoms ({', '.join(_ATOM_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _ATOM_COLUMNS)}) "
    "ON CONFLICT (flow_uuid, name) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ATOM_COLUMNS[2:])
)
_UPSERT_BOOK = (
    "INSERT INTO steadyflow_logbooks (uuid, name, meta, created_at, updated_at) "
    "VALUES (:uuid, :name, :meta, :created_at, :updated_at) "
    "ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, meta = excluded.meta, "
    "created_at = excluded.created_at, updated_at = excluded.updated_at"
)
_FENCE = "SELECT 1 FROM steadyflow_leases WHERE flow_uuid = ? AND epoch = ? AND owner IS NOT NULL"


def _filter_sql(where: FlowFilter) -> tuple[list[str], list[Any]]:
    """The WHERE conditions (ANDed) and parameters of a flow filter."""
    from steadyflow.persistence.query import LIKE_ESCAPE

    conditions: list[str] = []
    params: list[Any] = []
    if where.states:
        marks = ", ".join("?" * len(where.states))
        conditions.append(f"state IN ({marks})")
        params.extend(sorted(state.value for state in where.states))
    if where.since is not None:
        conditions.append("created_at >= ?")
        params.append(where.since)
    if where.id_prefix is not None:
        # Ids hold no GLOB metacharacters, and GLOB is case-sensitive (LIKE is not).
        conditions.append("uuid GLOB ?")
        params.append(where.id_prefix.replace("[", "[[]") + "*")
    pattern = where.name_like()
    if pattern is not None:
        conditions.append(f"lower(name) LIKE ? ESCAPE '{LIKE_ESCAPE}'")
        params.append(pattern)
    return conditions, params


def _where(conditions: list[str]) -> str:
    return "WHERE " + " AND ".join(f"({c})" for c in conditions) if conditions else ""


class SQLiteBackend(Backend):
    """Keeps everything in one SQLite file (or a private in-memory database).

    Thread-safe: one connection, used by one thread at a time. Other
    processes may open the same file; SQLite serializes their writes.

    Args:
        path: the database file (created if missing, its directory must
            exist); None or ``":memory:"`` for a private in-memory database,
            gone when the backend is closed.
        serializer: turns values into text; strict JSON by default.
        busy_timeout: seconds to wait for another process's write lock.

    Raises:
        SchemaVersionError: the file's schema is newer than this code.
        PersistenceError: the file cannot be opened or is not a database.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        serializer: Serializer | None = None,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, int | float):
            raise TypeError(f"busy_timeout must be a number of seconds, not {busy_timeout!r}")
        if not busy_timeout >= 0:
            raise ValueError(f"busy_timeout must be >= 0 seconds, not {busy_timeout!r}")
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise PersistenceError(
                f"SQLiteBackend needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer; "
                f"this Python links {sqlite3.sqlite_version}"
            )
        super().__init__(serializer=serializer)
        name = None if path is None else os.fspath(path)
        memory = name is None or name == ":memory:"
        self.path: str | None = None if name is None or memory else os.path.abspath(name)
        """The database file (absolute), or None for an in-memory database."""
        self.leases_across_processes = not memory  # type: ignore[misc]
        self.is_durable = not memory  # type: ignore[misc]
        self._where = self.path or ":memory:"
        self._busy_timeout = busy_timeout
        self._mutex = threading.RLock()
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []
        self._db = self._connect()
        try:
            self.upgrade()
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteBackend({self._where!r})"

    def _connect(self) -> sqlite3.Connection:
        with self._translated():
            # self._mutex serializes the threads that share the connection.
            return connect(
                self._where, self._busy_timeout, wal=self.path is not None, foreign_keys=True
            )

    @contextlib.contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """The connection, for this thread alone, with sqlite3 errors translated."""
        if self._pid != os.getpid() and self.path is not None:
            self._reconnect_after_fork()
        with self._mutex, self._translated():
            yield self._db

    def _reconnect_after_fork(self) -> None:
        # A SQLite connection must not cross a fork: its locks belong to the parent.
        # The child opens its own and keeps the inherited one unused and unclosed,
        # so that nothing the child does can disturb the parent's use of the file.
        # (Its mutex may have been copied while held by a thread that did not follow.)
        self._mutex = threading.RLock()
        self._inherited.append(self._db)
        self._db = self._connect()
        self._pid = os.getpid()

    # -- schema ----------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Bring the file's schema to :data:`SCHEMA_VERSION` (one query when it is there).

        Raises:
            SchemaVersionError: the schema is newer than this code (left untouched).
        """
        with self._using() as db:
            if self._stored_version(db) == SCHEMA_VERSION:
                return
            with self._writing():
                # Read again under the write lock: another process may have migrated.
                current = self._stored_version(db)
                for step in SCHEMA_STEPS[current:]:
                    for statement in step:
                        db.execute(statement)
                if current < SCHEMA_VERSION:
                    self._stamp(db)

    def _stored_version(self, db: sqlite3.Connection) -> int:
        version = int(db.execute("PRAGMA user_version").fetchone()["user_version"])
        alembic = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (ALEMBIC_TABLE,)
        ).fetchone()
        if alembic is not None:
            # Written by the SQLAlchemy backend, possibly after our last visit.
            revision = db.execute(f"SELECT version_num FROM {ALEMBIC_TABLE}").fetchone()
            if revision is not None:
                adopted = _ALEMBIC_REVISIONS.get(revision["version_num"])
                if adopted is None:
                    raise SchemaVersionError(
                        f"{self._where} has schema revision {revision['version_num']!r}, "
                        "newer than this steadyflow's; upgrade steadyflow "
                        "(schemas are never downgraded)"
                    )
                version = max(version, adopted)
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self._where} has schema version {version}, newer than this steadyflow's "
                f"{SCHEMA_VERSION}; upgrade steadyflow (schemas are never downgraded)"
            )
        return version

    @staticmethod
    def _stamp(db: sqlite3.Connection) -> None:
        """Record :data:`SCHEMA_VERSION` for us and for Alembic (inside the migration)."""
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        revision = max(_ALEMBIC_REVISIONS, key=_ALEMBIC_REVISIONS.__getitem__)
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {ALEMBIC_TABLE} ("
            "version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
        )
        db.execute(f"DELETE FROM {ALEMBIC_TABLE}")
        db.execute(f"INSERT INTO {ALEMBIC_TABLE} (version_num) VALUES (?)", (revision,))

    # -- plumbing ----------------------------------------------------------------------------

    def _translated(self) -> contextlib.AbstractContextManager[None]:
        return translated(self._where)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, with the write lock taken before anything is read."""
        with self._using() as db, write_transaction(db):
            yield db

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for reads spanning several queries."""
        with self._using() as db:
            db.execute("BEGIN")
            try:
                yield db
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")

    def _fence(self, db: sqlite3.Connection, flow_uuid: str, epoch: int | None) -> None:
        """Refuse a write made under ``epoch`` unless it is the flow's current lease."""
        if epoch is None:
            return
        if db.execute(_FENCE, (flow_uuid, epoch)).fetchone() is None:
            raise lost_error(flow_uuid, epoch)

    # -- writing ---------------------------------------------------------------------------
    # The row codec is imported where it is used: it brings the record classes,
    # and with them dataclasses, which a process that only opens a store skips.

    def _save_book(self, book: LogBook) -> None:
        from steadyflow.persistence._rows import book_to_row

        book_row = book_to_row(book, self.serializer)
        flows = [self._encode_flow(book.uuid, flow) for flow in book.flows.values()]
        with self._writing() as db:
            db.execute(_UPSERT_BOOK, book_row)
            for flow_row, atom_rows in flows:
                self._write_flow(db, flow_row, None)
                db.executemany(_UPSERT_ATOM, atom_rows)

    def _save_flow(
        self, book_uuid: str, flow: FlowDetail, expected_version: int | None, epoch: int | None
    ) -> int:
        flow_row, atom_rows = self._encode_flow(book_uuid, flow)
        with self._writing() as db:
            self._fence(db, flow.uuid, epoch)
            version = self._write_flow(db, flow_row, expected_version)
            db.executemany(_UPSERT_ATOM, atom_rows)
        return version

    def _save_atoms(self, flow_uuid: str, atoms: Sequence[AtomDetail], epoch: int | None) -> None:
        from steadyflow.persistence._rows import atom_to_row

        rows = [atom_to_row(flow_uuid, atom, self.serializer) for atom in atoms]
        with self._writing() as db:
            self._fence(db, flow_uuid, epoch)
            try:
                db.executemany(_UPSERT_ATOM, rows)
            except sqlite3.IntegrityError as exc:
                # The foreign key names the one way this fails: no such flow.
                raise NotFoundError(f"flow detail {flow_uuid} not found") from exc

    def _encode_flow(self, book_uuid: str, flow: FlowDetail) -> tuple[Row, list[Row]]:
        from steadyflow.persistence._rows import atom_to_row, flow_to_row

        atom_rows = [atom_to_row(flow.uuid, a, self.serializer) for a in flow.atoms.values()]
        return flow_to_row(book_uuid, flow, self.serializer), atom_rows

    def _write_flow(self, db: sqlite3.Connection, row: Row, expected: int | None) -> int:
        """Update the flow row (checking ``expected``) or insert it; its new version."""
        uuid, book_uuid = row["uuid"], row["book_uuid"]
        sql = (
            "UPDATE steadyflow_flows SET name = :name, state = :state, meta = :meta, "
            "created_at = :created_at, updated_at = :updated_at, version = version + 1 "
            "WHERE uuid = :uuid AND book_uuid = :book_uuid"
        )
        if expected is not None:
            sql += " AND version = :expected"
        # No RETURNING: it needs SQLite 3.35, newer than some systems' Python links.
        updated = db.execute(sql, {**row, "expected": expected}).rowcount == 1
        stored = db.execute(
            "SELECT book_uuid, version FROM steadyflow_flows WHERE uuid = ?", (uuid,)
        ).fetchone()
        if updated:
            return int(stored["version"])
        if stored is not None and stored["book_uuid"] != book_uuid:
            raise ConflictError(
                f"flow detail {uuid} belongs to logbook {stored['book_uuid']}, not {book_uuid}"
            )
        if stored is not None or expected not in (None, 0):
            current = 0 if stored is None else stored["version"]
            raise ConflictError(
                f"flow detail {uuid} is at version {current}, not the expected {expected}"
            )
        book = db.execute("SELECT 1 FROM steadyflow_logbooks WHERE uuid = ?", (book_uuid,))
        if book.fetchone() is None:
            raise NotFoundError(f"logbook {book_uuid} not found")
        db.execute(
            "INSERT INTO steadyflow_flows (uuid, book_uuid, name, state, meta, version, "
            "created_at, updated_at) VALUES (:uuid, :book_uuid, :name, :state, :meta, 1, "
            ":created_at, :updated_at)",
            row,
        )
        return 1

    # -- reading ------------------------------------------------------------------------------

    def _load_books(self, uuid: str | None, *, with_flows: bool = True) -> list[LogBook]:
        from steadyflow.persistence._rows import book_from_row

        where, params = ("WHERE uuid = ?", (uuid,)) if uuid is not None else ("", ())
        by_book: dict[str, list[FlowDetail]] = defaultdict(list)
        with self._reading() as db:
            rows = db.execute(
                f"SELECT * FROM steadyflow_logbooks {where} ORDER BY created_at, uuid", params
            ).fetchall()
            if rows and with_flows:
                flow_where = "WHERE book_uuid = ?" if uuid is not None else ""
                for book_uuid, flow in self._query_flows(db, flow_where, params):
                    by_book[book_uuid].append(flow)
        return [book_from_row(row, by_book[row["uuid"]], self.serializer) for row in rows]

    def _load_flows(
        self, *, flow_uuid: str | None = None, book_uuid: str | None = None
    ) -> list[FlowDetail]:
        where = ""
        params: tuple[str, ...] = ()
        if flow_uuid is not None:
            where, params = "WHERE uuid = ?", (flow_uuid,)
        elif book_uuid is not None:
            where, params = "WHERE book_uuid = ?", (book_uuid,)
        with self._reading() as db:
            return [flow for _, flow in self._query_flows(db, where, params)]

    def _query_flows(
        self, db: sqlite3.Connection, where: str, params: tuple[str, ...]
    ) -> list[tuple[str, FlowDetail]]:
        """Flows matching ``where`` with their atoms, in two queries."""
        from steadyflow.persistence._rows import flow_from_row

        flow_rows = db.execute(
            f"SELECT * FROM steadyflow_flows {where} ORDER BY created_at, uuid", params
        ).fetchall()
        if not flow_rows:
            return []
        atoms_of: dict[str, list[Row]] = defaultdict(list)
        atom_rows = db.execute(
            "SELECT * FROM steadyflow_atoms WHERE flow_uuid IN "
            f"(SELECT uuid FROM steadyflow_flows {where}) ORDER BY flow_uuid, created_at, name",
            params,
        )
        for atom_row in atom_rows:
            atoms_of[atom_row["flow_uuid"]].append(atom_row)
        return [
            (row["book_uuid"], flow_from_row(row, atoms_of[row["uuid"]], self.serializer))
            for row in flow_rows
        ]

    def _list_flow_summaries(
        self, where: FlowFilter, limit: int, after: tuple[float, str] | None
    ) -> list[FlowSummary]:
        from steadyflow.persistence.query import FlowSummary

        self._check_open()
        self._count(loads=1)
        conditions, params = _filter_sql(where)
        if after is not None:
            # Spelled so that the created_at bound is a plain index range.
            conditions.append("created_at <= ? AND (created_at < ? OR uuid < ?)")
            params.extend((after[0], after[0], after[1]))
        sql = (
            "SELECT uuid, book_uuid, name, state, created_at, updated_at, version "
            f"FROM steadyflow_flows {_where(conditions)} "
            "ORDER BY created_at DESC, uuid DESC LIMIT ?"
        )
        with self._using() as db:
            rows = db.execute(sql, (*params, limit)).fetchall()
        return [FlowSummary.from_row(row) for row in rows]

    def _count_flow_states(self, where: FlowFilter) -> dict[str, int]:
        self._check_open()
        self._count(loads=1)
        conditions, params = _filter_sql(where)
        sql = (
            f"SELECT state, COUNT(*) AS n FROM steadyflow_flows {_where(conditions)} GROUP BY state"
        )
        with self._using() as db:
            return {row["state"]: int(row["n"]) for row in db.execute(sql, params)}

    def _book_of(self, flow_uuid: str) -> str | None:
        with self._using() as db:
            found = db.execute(
                "SELECT book_uuid FROM steadyflow_flows WHERE uuid = ?", (flow_uuid,)
            ).fetchone()
        return None if found is None else str(found["book_uuid"])

    # -- deleting ---------------------------------------------------------------------------

    def _delete_book(self, uuid: str) -> None:
        # Children first, explicitly: correct even in a file whose foreign keys were off.
        with self._writing() as db:
            db.execute(
                "DELETE FROM steadyflow_atoms WHERE flow_uuid IN "
                "(SELECT uuid FROM steadyflow_flows WHERE book_uuid = ?)",
                (uuid,),
            )
            db.execute("DELETE FROM steadyflow_flows WHERE book_uuid = ?", (uuid,))
            deleted = db.execute("DELETE FROM steadyflow_logbooks WHERE uuid = ?", (uuid,))
            if deleted.rowcount == 0:
                raise NotFoundError(f"logbook {uuid} not found")

    def _delete_flow(self, uuid: str) -> None:
        with self._writing() as db:
            db.execute("DELETE FROM steadyflow_atoms WHERE flow_uuid = ?", (uuid,))
            deleted = db.execute("DELETE FROM steadyflow_flows WHERE uuid = ?", (uuid,))
            if deleted.rowcount == 0:
                raise NotFoundError(f"flow detail {uuid} not found")

    # -- leases ------------------------------------------------------------------------------
    # SQLite has no server clock: every process on the host shares time.time().

    def _acquire_lease(self, flow_uuid: str, owner: str, ttl: float, epoch: int | None) -> Lease:
        with self._writing() as db:
            now = time.time()
            stored = db.execute(
                "SELECT owner, epoch, expires_at FROM steadyflow_leases WHERE flow_uuid = ?",
                (flow_uuid,),
            ).fetchone()
            stored_epoch = 0 if stored is None else int(stored["epoch"])
            live = stored is not None and stored["owner"] is not None and stored["expires_at"] > now
            holder = stored["owner"] if live else None
            expiry = float(stored["expires_at"]) if live else None
            if epoch is not None and epoch <= stored_epoch:
                raise stale_epoch_error(flow_uuid, epoch, stored_epoch, holder, expiry)
            if epoch is None and live:
                raise locked_error(flow_uuid, holder, expiry)
            new_epoch = stored_epoch + 1 if epoch is None else epoch
            expires_at = now + ttl
            db.execute(
                "INSERT INTO steadyflow_leases (flow_uuid, owner, epoch, expires_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (flow_uuid) DO UPDATE SET "
                "owner = excluded.owner, epoch = excluded.epoch, expires_at = excluded.expires_at",
                (flow_uuid, owner, new_epoch, expires_at),
            )
        return Lease(flow_uuid, owner, new_epoch, ttl, expires_at)

    def _renew_lease(self, lease: Lease) -> Lease:
        expires_at = time.time() + lease.ttl
        with self._writing() as db:
            renewed = db.execute(
                "UPDATE steadyflow_leases SET expires_at = ? "
                "WHERE flow_uuid = ? AND epoch = ? AND owner IS NOT NULL",
                (expires_at, lease.flow_uuid, lease.epoch),
            )
            if renewed.rowcount == 0:
                raise lost_error(lease.flow_uuid, lease.epoch)
        return lease.renewed(expires_at)

    def _release_lease(self, lease: Lease) -> None:
        with self._writing() as db:
            db.execute(
                "UPDATE steadyflow_leases SET owner = NULL, expires_at = 0 "
                "WHERE flow_uuid = ? AND epoch = ? AND owner IS NOT NULL",
                (lease.flow_uuid, lease.epoch),
            )

    def _get_lease(self, flow_uuid: str) -> Lease | None:
        with self._using() as db:
            now = time.time()
            row = db.execute(
                "SELECT owner, epoch, expires_at FROM steadyflow_leases "
                "WHERE flow_uuid = ? AND owner IS NOT NULL AND expires_at > ?",
                (flow_uuid, now),
            ).fetchone()
        if row is None:
            return None
        # The ttl is not stored: what is left of it is what a reader can act on.
        expires_at = float(row["expires_at"])
        return Lease(flow_uuid, row["owner"], int(row["epoch"]), expires_at - now, expires_at)

    # -- the rest -------------------------------------------------------------------------------

    def _close(self) -> None:
        with self._mutex:
            self._db.close()
