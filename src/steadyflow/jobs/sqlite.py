"""A job board in a SQLite file, through the standard library's :mod:`sqlite3`.

For conductors on one machine (a SQLite file is not for network filesystems).
It needs no third-party package, and it may share a file with a
:class:`~steadyflow.persistence.SQLiteBackend` store: its tables have their
own names, and its schema version is kept in a table of its own (the store
owns ``PRAGMA user_version``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Any

from steadyflow.errors import (
    InvalidURLError,
    SchemaVersionError,
)
from steadyflow.jobs._sqlrows import COLUMNS, JOBS_TABLE, job_from_row, job_to_row, revoked_state
from steadyflow.jobs.base import (
    Claim,
    Job,
    JobBoard,
    JobNotFoundError,
    JobState,
    finished,
    running,
)
from steadyflow.persistence._sqlite3 import Row, connect, translated, write_transaction

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["SCHEMA_STEPS", "SCHEMA_VERSION", "SQLiteBoard"]

VERSION_TABLE = "steadyflow_jobs_version"

SCHEMA_STEPS: tuple[tuple[str, ...], ...] = (
    # 1: the jobs table, its claim index and the per-board idempotency key.
    (
        f"""CREATE TABLE {JOBS_TABLE} (
            seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            id VARCHAR(32) NOT NULL UNIQUE,
            board VARCHAR(255) NOT NULL,
            name VARCHAR(255) NOT NULL,
            flow_id VARCHAR(64) NOT NULL,
            factory VARCHAR(255),
            arguments TEXT NOT NULL,
            store TEXT NOT NULL,
            priority INTEGER NOT NULL,
            job_key VARCHAR(255),
            created_at FLOAT NOT NULL,
            state VARCHAR(16) NOT NULL,
            reason TEXT,
            claims INTEGER NOT NULL,
            owner VARCHAR(255),
            expires_at FLOAT,
            epoch BIGINT NOT NULL,
            not_before FLOAT NOT NULL,
            revoke_reason TEXT)""",
        f"CREATE UNIQUE INDEX ux_{JOBS_TABLE}_key ON {JOBS_TABLE} (board, job_key)",
        f"CREATE INDEX ix_{JOBS_TABLE}_claim ON {JOBS_TABLE} (board, state, priority DESC, seq)",
    ),
)
"""The DDL of each schema version, in order: version N is ``SCHEMA_STEPS[:N]``.

Append a step to change the schema (never edit one that shipped). ``seq``
is AUTOINCREMENT so that it never reuses a deleted job's number: claim order
among equal priorities is posting order, always.
"""

SCHEMA_VERSION = len(SCHEMA_STEPS)

BUSY_TIMEOUT = 5.0
"""Seconds a writer waits for another connection's write lock before failing."""

POLL_INTERVAL = 0.025
"""Seconds between two looks at the board while waiting (SQLite cannot push)."""

_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
"""Seconds since the Unix epoch on SQLite's clock: the one all processes on the machine read.

Every expiry is computed and compared in SQL with it, never with the
caller's ``time.time()``: one statement, one reading of the clock.
"""

_READY = f"(state = 'UNCLAIMED' AND not_before <= {_NOW})"
_LAPSED = f"(state = 'CLAIMED' AND expires_at <= {_NOW})"
_LIVE = "board = :board AND state IN ('UNCLAIMED', 'CLAIMED')"
"""Narrows the claim index to live jobs: finished ones pile up and are never scanned."""
_CLAIMABLE = f"{_LIVE} AND ({_READY} OR ({_LAPSED} AND owner <> :owner))"
_ORDER = "ORDER BY priority DESC, seq"
_ALL = ", ".join(COLUMNS)
_INSERTED = [c for c in COLUMNS if c not in ("seq", "created_at")]

_POST = (
    f"INSERT INTO {JOBS_TABLE} ({', '.join(_INSERTED)}, created_at) "
    f"VALUES ({', '.join(':' + c for c in _INSERTED)}, {_NOW}) "
    f"ON CONFLICT (board, job_key) DO NOTHING RETURNING {_ALL}"
)
_CLAIM = (
    f"UPDATE {JOBS_TABLE} SET state = 'CLAIMED', owner = :owner, "
    f"expires_at = {_NOW} + :ttl, claims = claims + 1, epoch = epoch + 1 "
    f"WHERE seq = (SELECT seq FROM {JOBS_TABLE} WHERE {_CLAIMABLE} {_ORDER} LIMIT 1) "
    f"RETURNING {_ALL}"
)
_CURRENT = "id = :id AND state = 'CLAIMED' AND epoch = :epoch AND owner = :owner"
_RENEW = (
    f"UPDATE {JOBS_TABLE} SET expires_at = {_NOW} + :ttl WHERE {_CURRENT} "
    "RETURNING expires_at, revoke_reason"
)
_REQUEUED = "(:state = 'DONE' AND revoke_reason IS NOT NULL)"
"""Completing a job revoked since its last renewal leaves it claimable, for its revert."""
_FINISH = (
    f"UPDATE {JOBS_TABLE} SET state = CASE WHEN {_REQUEUED} THEN 'UNCLAIMED' ELSE :state END, "
    f"not_before = CASE WHEN {_REQUEUED} THEN 0 ELSE not_before END, "
    f"reason = :reason, owner = NULL, expires_at = NULL WHERE {_CURRENT} "
    "RETURNING state, revoke_reason"
)
_TRASH = (
    f"UPDATE {JOBS_TABLE} SET state = 'TRASHED', reason = :reason, owner = NULL, "
    "expires_at = NULL WHERE id = :id AND board = :board "
    f"AND (state = 'UNCLAIMED' OR {_LAPSED}) RETURNING {_ALL}"
)
"""An operator's trash: unclaimed jobs and lapsed claims only, judged on SQLite's clock."""
_ABANDON = (
    f"UPDATE {JOBS_TABLE} SET state = 'UNCLAIMED', owner = NULL, expires_at = NULL, "
    f"not_before = {_NOW} + :delay WHERE {_CURRENT}"
)
_LOOK = (
    f"SELECT (SELECT COUNT(*) FROM {JOBS_TABLE} WHERE {_LIVE} AND {_READY}) AS ready, "
    f"(SELECT COUNT(*) FROM {JOBS_TABLE} WHERE {_LIVE} AND {_LAPSED}) AS lapsed"
)
"""What a waiting claimer looks at: unclaimed jobs it could take now, and lapsed claims."""


class SQLiteBoard(JobBoard):
    """Jobs as rows of one SQLite table, shared by every process that opens the file.

    Guarantees (beyond :class:`~steadyflow.jobs.base.JobBoard`'s):

    * Every write is one ``BEGIN IMMEDIATE`` transaction, so what it checks
      (the claim's epoch, the job's state) still holds when it writes. A claim
      is one ``UPDATE ... RETURNING`` picking the best claimable row and
      bumping its ``epoch`` and ``claims``; renew, complete, abandon and trash
      are one ``UPDATE`` each that matches only the current claim's epoch.
    * Posting with a key is one ``INSERT ... ON CONFLICT DO NOTHING`` against
      a unique index on (board, key): racing posters make one job.
    * Durable: WAL with ``synchronous=FULL``; a claim, and its epoch, survive
      power loss once ``claim()`` returned.

    Clock: expiries and ``not_before`` are computed inside SQL from SQLite's
    ``julianday('now')``, the clock of the machine the file lives on, which
    every conductor using the file shares; never from the caller's ``time.time()``.

    Wake-ups: SQLite has no push. :meth:`wait` and ``claim(wait=)`` look at the
    board every ``poll_interval`` seconds (one indexed read) and wake while an
    unclaimed job is ready to claim (posted, abandoned, its delay over), or when
    the number of lapsed claims changed.

    Thread-safe: a thread uses a connection of its own for each call (kept
    between calls, as many as were in use at once); SQLite serializes the writers.

    Args:
        path: the database file (created if missing; its directory must exist).
        name: the board's name; boards of different names share the table
            and never see each other's jobs.
        busy_timeout: seconds a write waits for another connection's lock.
        poll_interval: seconds between looks at the board while waiting.

    Raises:
        SchemaVersionError: the file's board schema is newer than this code.
        PersistenceError: the file cannot be opened or is not a database.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str = "default",
        busy_timeout: float = BUSY_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__(name)
        for what, value in (("busy_timeout", busy_timeout), ("poll_interval", poll_interval)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
        self.path = os.path.abspath(os.fspath(path))
        self._busy_timeout = float(busy_timeout)
        self.poll_interval = float(poll_interval)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._connections: list[sqlite3.Connection] = []
        self._idle: list[sqlite3.Connection] = []
        try:
            self._upgrade()
        except BaseException:
            self._close()
            raise

    @classmethod
    def from_url(cls, url: str, *, name: str = "default", **options: Any) -> SQLiteBoard:
        """Open the board a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL names.

        Raises:
            InvalidURLError: the URL is malformed or names an in-memory database
                (use ``memory://`` for a board inside one process).
        """
        from steadyflow.persistence._urls import sqlite_path

        path = sqlite_path(url)
        if path is None:
            raise InvalidURLError(
                f"{url!r}: a SQLite job board needs a file (sqlite:///jobs.db); "
                "use memory:// for a board inside one process"
            )
        return cls(path, name=name, **options)

    def __repr__(self) -> str:
        return f"SQLiteBoard({self.path!r}, name={self.name!r})"

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        with self._translated():
            return connect(self.path, self._busy_timeout)

    @contextlib.contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """A connection for one call, by this thread alone.

        Idle connections are kept and handed to whichever thread needs one, so a
        board holds as many as were ever in use at once, not one per thread
        that ever touched it. After a fork the child opens its own: the
        inherited ones are left unused and unclosed, since closing them could
        disturb the parent's locks on the file.
        """
        if self._pid != os.getpid():
            self._lock = threading.Lock()
            self._connections = []
            self._idle = []
            self._pid = os.getpid()
        with self._lock:
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = self._connect()
            with self._lock:
                self._connections.append(db)
        try:
            yield db
        finally:
            with self._lock:
                self._idle.append(db)

    def _translated(self) -> contextlib.AbstractContextManager[None]:
        return translated(self.path)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``) on a pooled connection."""
        with self._translated(), self._using() as db, write_transaction(db):
            yield db

    def _read(self, sql: str, params: dict[str, Any]) -> list[Row]:
        with self._translated(), self._using() as db:
            return db.execute(sql, params).fetchall()

    def _close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
            self._idle = []
        if self._pid != os.getpid():
            return
        for db in connections:
            db.close()

    # -- schema ------------------------------------------------------------------------------

    def _upgrade(self) -> None:
        with self._using() as db:
            current = self._stored_version(db)
        if current == SCHEMA_VERSION:
            return
        with self._writing() as db:
            # Read again under the write lock: another process may have migrated.
            current = self._stored_version(db)
            for step in SCHEMA_STEPS[current:]:
                for statement in step:
                    db.execute(statement)
            db.execute(f"DELETE FROM {VERSION_TABLE}")
            db.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (?)", (SCHEMA_VERSION,))

    def _stored_version(self, db: sqlite3.Connection) -> int:
        with self._translated():
            db.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
            row = db.execute(f"SELECT MAX(version) AS version FROM {VERSION_TABLE}").fetchone()
        version = int(row["version"] or 0)
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} has job board schema version {version}, newer than this "
                f"steadyflow's {SCHEMA_VERSION}; upgrade steadyflow (schemas are never downgraded)"
            )
        return version

    # -- the board ---------------------------------------------------------------------------

    def _post(self, job: Job) -> Job:
        with self._writing() as db:
            row = db.execute(_POST, job_to_row(self.name, job)).fetchone()
            if row is None:
                row = db.execute(
                    f"SELECT {_ALL} FROM {JOBS_TABLE} WHERE board = ? AND job_key = ?",
                    (self.name, job.key),
                ).fetchone()
        return job_from_row(row)

    def _get(self, job_id: str) -> Job:
        rows = self._read(
            f"SELECT {_ALL} FROM {JOBS_TABLE} WHERE id = :id AND board = :board",
            {"id": job_id, "board": self.name},
        )
        if not rows:
            raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
        return job_from_row(rows[0])

    def _iter_jobs(self, state: JobState | None) -> Iterator[Job]:
        where = "board = :board" + ("" if state is None else " AND state = :state")
        rows = self._read(
            f"SELECT {_ALL} FROM {JOBS_TABLE} WHERE {where} {_ORDER}",
            {"board": self.name, "state": None if state is None else state.value},
        )
        return iter([job_from_row(row) for row in rows])

    def _try_claim(self, owner: str, ttl: float) -> Claim | None:
        params = {"board": self.name, "owner": owner, "ttl": ttl}
        # Look first without the write lock: idle conductors polling an empty
        # board must not queue up behind each other for it.
        if not self._read(f"SELECT 1 FROM {JOBS_TABLE} WHERE {_CLAIMABLE} LIMIT 1", params):
            return None
        with self._writing() as db:
            row = db.execute(_CLAIM, params).fetchone()
        if row is None:
            return None
        job = job_from_row(row)
        assert job.expires_at is not None
        return Claim(self, job, owner, job.epoch, ttl, job.expires_at)

    def _current(self, claim: Claim) -> dict[str, Any]:
        return {"id": claim.job.id, "epoch": claim.epoch, "owner": claim.owner}

    def _renew(self, claim: Claim) -> tuple[float, str | None]:
        with self._writing() as db:
            row = db.execute(_RENEW, {**self._current(claim), "ttl": claim.ttl}).fetchone()
        if row is None:
            raise self._lost(claim)
        return float(row["expires_at"]), row["revoke_reason"]

    def _finish(self, claim: Claim, state: JobState, reason: str | None) -> str | None:
        params = {**self._current(claim), "state": state.value, "reason": reason}
        with self._writing() as db:
            row = db.execute(_FINISH, params).fetchone()
        if row is None:
            raise self._lost(claim)
        if row["state"] == JobState.UNCLAIMED.value:
            return str(row["revoke_reason"])
        return None

    def _finish_and_claim(self, claim: Claim) -> tuple[str | None, Claim | None]:
        owner, ttl = claim.owner, claim.ttl
        with self._writing() as db:
            done = db.execute(
                _FINISH, {**self._current(claim), "state": JobState.DONE.value, "reason": None}
            ).fetchone()
            row = None
            if done is not None:
                row = db.execute(
                    _CLAIM, {"board": self.name, "owner": owner, "ttl": ttl}
                ).fetchone()
        if done is None:
            raise self._lost(claim)
        found = str(done["revoke_reason"]) if done["state"] == JobState.UNCLAIMED.value else None
        if row is None:
            return found, None
        job = job_from_row(row)
        assert job.expires_at is not None
        return found, Claim(self, job, owner, job.epoch, ttl, job.expires_at)

    def _abandon(self, claim: Claim, delay: float) -> None:
        with self._writing() as db:
            done = db.execute(_ABANDON, {**self._current(claim), "delay": delay}).rowcount
        if done != 1:
            raise self._lost(claim)

    def _revoke(self, job_id: str, reason: str) -> Job:
        with self._writing() as db:
            row = db.execute(
                f"SELECT {_ALL} FROM {JOBS_TABLE} WHERE id = ? AND board = ?", (job_id, self.name)
            ).fetchone()
            if row is None:
                raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
            job = job_from_row(row)
            if job.state is JobState.TRASHED:
                return job
            state, trashed = revoked_state(job.state, job.claims)
            row = db.execute(
                f"UPDATE {JOBS_TABLE} SET state = ?, revoke_reason = ?, "
                "reason = CASE WHEN ? THEN ? ELSE reason END, "
                "not_before = CASE WHEN state = 'DONE' THEN 0 ELSE not_before END "
                f"WHERE seq = ? RETURNING {_ALL}",
                (state.value, reason, trashed, reason, row["seq"]),
            ).fetchone()
        return job_from_row(row)

    def _trash_job(self, job_id: str, reason: str) -> Job:
        params = {"id": job_id, "board": self.name, "reason": reason}
        with self._writing() as db:
            row = db.execute(_TRASH, params).fetchone()
            if row is None:  # read in the same transaction: why it was not trashed
                row = db.execute(
                    f"SELECT {_ALL} FROM {JOBS_TABLE} WHERE id = :id AND board = :board", params
                ).fetchone()
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
        job = job_from_row(row)
        if job.state is JobState.DONE:
            raise finished(job_id, self.name)
        if job.state is JobState.CLAIMED:
            raise running(job_id, job.owner, self.name)
        return job

    def _wait_for_change(self, timeout: float | None) -> bool:
        # Wake while an unclaimed job is ready, not only when the board changed since
        # the look began: it may have been posted between the caller's failed claim
        # and this look. Lapsed claims wake only when their number changes, since
        # the one this owner let lapse stays claimable by everyone but it.
        params = {"board": self.name}
        first = self._read(_LOOK, params)[0]
        deadline = None if timeout is None else time.monotonic() + timeout
        look = first
        while look["ready"] == 0 and look["lapsed"] == first["lapsed"]:
            left = self.poll_interval if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.poll_interval, left))
            look = self._read(_LOOK, params)[0]
        return True
