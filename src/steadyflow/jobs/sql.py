"""A job board in PostgreSQL or MariaDB, through SQLAlchemy.

Engines are opened as the SQL store opens them
(:mod:`steadyflow.persistence.sql._dialects`): one supported driver per
database (psycopg 3, PyMySQL), connect timeouts, pre-ping, and sessions idle
inside a transaction ended by the server. The board's table and its Alembic
version table have their own names, so a board may live in a store's database.
Statements are built with SQLAlchemy Core once per board
(:mod:`._sql_statements`) and run as driver SQL on connections the board
keeps checked out between calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from steadyflow.errors import InvalidURLError, MissingDriverError, PersistenceError

try:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.engine import URL, RowMapping
    from sqlalchemy.exc import DBAPIError, IntegrityError
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDriverError(
        "the PostgreSQL and MariaDB job boards need SQLAlchemy: "
        "pip install 'steadyflow[postgres]' (or steadyflow[mysql])"
    ) from exc

from steadyflow.jobs._sql_schema import VERSION_TABLE
from steadyflow.jobs._sql_statements import BoardStatements, Statement
from steadyflow.jobs._sqlrows import channel_name, job_from_row, job_to_row, revoked_state
from steadyflow.jobs.base import (
    Claim,
    Job,
    JobBoard,
    JobNotFoundError,
    JobState,
    finished,
    running,
)
from steadyflow.persistence.sql import _migrate
from steadyflow.persistence.sql._dialects import (
    Family,
    create_backend_engine,
    family_of,
    is_contention,
    mask,
    normalize_url,
    require_driver,
    translated,
)

__all__ = ["SQLBoard"]

POLL_INTERVAL = 0.05
"""Seconds between two looks at the board while waiting, where the database cannot push."""

FRESH_FOR = 1.0
"""Seconds a kept connection is used without a ping; older ones go back to the pool,
which pings what it hands out (so a restarted server costs a reconnect, not an error)."""

_MIGRATIONS = Path(__file__).with_name("_sql_migrations")

MIN_MARIADB = (10, 6)
"""The oldest MariaDB with ``SKIP LOCKED`` (and ``INSERT ... RETURNING``)."""

_POST_ATTEMPTS = 3
"""Tries of a post that lost a race on the key index (MariaDB deadlocks between inserters)."""


def check_server(family: Family, dialect: Any, where: str) -> None:
    """Refuse a server the board's statements do not run on, before any job is touched.

    Raises:
        PersistenceError: MySQL (no ``INSERT ... RETURNING``) or MariaDB older than 10.6.
    """
    if family is not Family.MYSQL:
        return
    version = tuple(dialect.server_version_info or ())
    if not dialect.is_mariadb or version < MIN_MARIADB:
        server = "MariaDB" if dialect.is_mariadb else "MySQL"
        found = ".".join(map(str, version)) or "unknown"
        raise PersistenceError(
            f"{where}: the SQL job board needs MariaDB 10.6 or newer "
            f"(SKIP LOCKED, INSERT ... RETURNING); the server is {server} {found}"
        )


class SQLBoard(JobBoard):
    """Jobs as rows of one table in PostgreSQL or MariaDB (≥ 10.6), shared by every conductor.

    Guarantees (beyond :class:`~steadyflow.jobs.base.JobBoard`'s):

    * A claim picks the best claimable row with ``SELECT ... FOR UPDATE SKIP
      LOCKED`` (racing claimers skip each other's rows instead of queueing)
      and bumps its ``epoch`` and ``claims``, atomically: on PostgreSQL one
      ``UPDATE ... WHERE seq = (SELECT ... SKIP LOCKED) RETURNING``; on MariaDB,
      which cannot update a table its subquery reads, the locking SELECT then
      the UPDATE in one transaction. Renew, complete, abandon and trash are one
      ``UPDATE`` each matching only the current claim's epoch and owner: a
      claim taken over changes nothing.
    * Posting with a key is guarded by a unique constraint on (board, key):
      racing posters make one job (``ON CONFLICT DO NOTHING`` on PostgreSQL;
      the duplicate-key error, then a read of the winner, on MariaDB).
    * The claim lives in the job's row (``state``, ``owner``, ``expires_at``,
      ``epoch``): no second table of workers or claims that could drift from it.
    * Durability is the server's: a returned claim is committed.

    Clock: every expiry and ``not_before`` is computed in SQL from the database
    server's clock (``clock_timestamp()``, ``NOW(6)``); conductors whose
    own clocks disagree still agree on who holds a job.

    Wake-ups: on PostgreSQL, posts, abandons and revokes ``NOTIFY`` a channel
    of the board in their own transaction, and a waiting thread ``LISTEN``\\ s on
    a dedicated connection (kept, still listening, between waits: nothing
    posted between a failed claim and the next wait is missed); it also wakes
    when the next claim or abandon delay runs out (read from the database's
    clock). On MariaDB, which cannot push, waiting looks at the board every
    ``poll_interval`` seconds (one indexed read) and wakes while an unclaimed
    job is ready or when the number of lapsed claims changed.

    Thread-safe. Open boards after forking (a child re-creates its connections).

    Args:
        url: ``postgresql://...`` or ``mysql://...``/``mariadb://...``.
        engine: instead of ``url``, a ready engine (not disposed by :meth:`close`).
        name: the board's name; boards of different names share the table
            and never see each other's jobs.
        connect_timeout: seconds to wait for the server.
        poll_interval: seconds between looks at the board while waiting (MariaDB).

    Raises:
        InvalidURLError: not a PostgreSQL or MariaDB URL.
        MissingDriverError: the database's driver is not installed.
        BackendUnavailableError: the server cannot be reached.
        SchemaVersionError: the board's schema is newer than this code.
    """

    def __init__(
        self,
        *,
        url: str | URL | None = None,
        engine: Engine | None = None,
        name: str = "default",
        connect_timeout: float = 5.0,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__(name)
        if (url is None) == (engine is None):
            raise TypeError("SQLBoard needs exactly one of url= or engine=")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, int | float)
            or not poll_interval > 0
        ):
            raise ValueError(f"poll_interval must be a positive number, not {poll_interval!r}")
        self.poll_interval = float(poll_interval)
        self._owns_engine = engine is None
        if engine is None:
            assert url is not None
            parsed, self.family = normalize_url(url)
            self._check_family(parsed)
            require_driver(self.family)
            # READ COMMITTED: each statement sees the latest commits, and MariaDB's
            # locking reads then lock only the rows they return.
            engine = create_backend_engine(
                parsed,
                self.family,
                connect_timeout=connect_timeout,
                isolation_level="READ COMMITTED",
            )
        else:
            self.family = family_of(engine)
            self._check_family(engine.url)
        self.engine = engine
        self.where = mask(engine.url)
        self._password = engine.url.password
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sql = BoardStatements(self.family, engine.dialect)
        self._pushes = self.family is Family.POSTGRESQL
        self._channel = channel_name(name)
        self._lock = threading.Lock()
        self._idle: list[tuple[Connection, float]] = []
        self._listeners: list[Any] = []
        self._idle_listeners: list[Any] = []
        self._pid = os.getpid()
        try:
            with self._translated():
                # The first connection tells the dialect the server's version.
                engine.connect().close()
                check_server(self.family, engine.dialect, self.where)
                _migrate.upgrade(
                    self.engine,
                    where=self.where,
                    migrations=_MIGRATIONS,
                    version_table=VERSION_TABLE,
                )
        except BaseException:
            self._close()
            raise

    @classmethod
    def from_url(cls, url: str, *, name: str = "default", **options: Any) -> SQLBoard:
        """Open the board named ``name`` in the database ``url`` points at."""
        return cls(url=url, name=name, **options)

    @staticmethod
    def _check_family(url: URL) -> None:
        if url.get_backend_name() == "sqlite":
            raise InvalidURLError(
                f"{mask(url)!r}: SQLBoard serves PostgreSQL and MariaDB; "
                "open SQLite job boards with sqlite:///path.db (SQLiteBoard)"
            )

    def __repr__(self) -> str:
        return f"SQLBoard({self.where!r}, name={self.name!r})"

    # -- connections -------------------------------------------------------------------------

    def _translated(self) -> contextlib.AbstractContextManager[None]:
        return translated(self.family, self.where, self._password)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """An autocommit connection for one call, driver errors as they are.

        Connections are kept between calls (no pool checkout, reset and ping on
        every statement); one unused for :data:`FRESH_FOR` seconds goes back to
        the pool, and one that saw an error is not kept.
        """
        if self._pid != os.getpid():
            self._after_fork()
        now = time.monotonic()
        with self._lock:
            # Every stale one goes back, not only the one taken: after a burst of
            # threads the extra connections would otherwise stay checked out.
            stale = [kept for kept, used in self._idle if now - used > FRESH_FOR]
            self._idle = [(kept, used) for kept, used in self._idle if now - used <= FRESH_FOR]
            connection = self._idle.pop()[0] if self._idle else None
        for kept in stale:
            kept.close()
        if connection is not None and connection.invalidated:
            connection.close()
            connection = None
        if connection is None:
            connection = self._autocommit.connect()
        try:
            yield connection
        except BaseException:
            connection.close()
            raise
        with self._lock:
            self._idle.append((connection, time.monotonic()))

    @contextlib.contextmanager
    def _single(self) -> Iterator[Connection]:
        """A connection for work done in one statement (atomic by itself), errors translated."""
        with self._translated(), self._connection() as connection:
            yield connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A connection inside an explicit transaction, errors translated."""
        with self._translated(), self._connection() as connection:
            connection.exec_driver_sql("BEGIN")
            try:
                yield connection
            except BaseException:
                # A broken connection cannot roll back; it is discarded either way.
                with contextlib.suppress(DBAPIError):
                    connection.exec_driver_sql("ROLLBACK")
                raise
            connection.exec_driver_sql("COMMIT")

    def _run(self, connection: Connection, statement: Statement, **values: Any) -> Any:
        return connection.exec_driver_sql(statement.sql, statement.params(**values))

    def _first(
        self, connection: Connection, statement: Statement, **values: Any
    ) -> RowMapping | None:
        row: RowMapping | None = self._run(connection, statement, **values).mappings().first()
        return row

    def _after_fork(self) -> None:
        # Pooled and kept connections belong to the parent: leave them to it, unclosed.
        self.engine.dispose(close=False)
        self._lock = threading.Lock()
        self._idle = []
        self._listeners = []
        self._idle_listeners = []
        self._pid = os.getpid()

    def _close(self) -> None:
        with self._lock:
            kept, self._idle = self._idle, []
            listeners, self._listeners = self._listeners, []
            self._idle_listeners = []
        if self._pid == os.getpid():
            for connection, _ in kept:
                with contextlib.suppress(Exception):
                    connection.close()
            for listener in listeners:
                with contextlib.suppress(Exception):
                    listener.close()
        if self._owns_engine and hasattr(self, "engine"):
            self.engine.dispose(close=self._pid == os.getpid())

    # -- posting and reading ---------------------------------------------------------------------

    def _post(self, job: Job) -> Job:
        values = {f"p_{key}": value for key, value in job_to_row(self.name, job).items()}
        with self._translated():
            for attempt in range(1, _POST_ATTEMPTS + 1):
                try:
                    return self._insert(job, values)
                except DBAPIError as exc:
                    if attempt == _POST_ATTEMPTS or not is_contention(self.family, exc):
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert(self, job: Job, values: dict[str, Any]) -> Job:
        if self.family is Family.POSTGRESQL:
            with self._connection() as connection:
                row = self._first(connection, self._sql.post, p_channel=self._channel, **values)
                if row is None:
                    # The key is taken: ON CONFLICT waited for its poster to commit.
                    row = self._first(
                        connection, self._sql.by_key, p_board=self.name, p_key=job.key
                    )
            assert row is not None
            return job_from_row(row)
        try:
            with self._connection() as connection:
                row = self._first(connection, self._sql.post, **values)
        except IntegrityError:
            if job.key is None:
                raise
            with self._connection() as connection:
                row = self._first(connection, self._sql.by_key, p_board=self.name, p_key=job.key)
            if row is None:  # the violation was something else than our key
                raise
        assert row is not None
        return job_from_row(row)

    def _get(self, job_id: str) -> Job:
        with self._single() as connection:
            row = self._first(connection, self._sql.by_id, p_id=job_id, p_board=self.name)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
        return job_from_row(row)

    def _iter_jobs(self, state: JobState | None) -> Iterator[Job]:
        with self._single() as connection:
            if state is None:
                result = self._run(connection, self._sql.listing, p_board=self.name)
            else:
                result = self._run(
                    connection, self._sql.listing_state, p_board=self.name, p_state=state.value
                )
            return iter([job_from_row(row) for row in result.mappings()])

    # -- claims ------------------------------------------------------------------------------

    def _try_claim(self, owner: str, ttl: float) -> Claim | None:
        values = {"p_board": self.name, "p_owner": owner, "p_ttl": ttl}
        if self._sql.claim is not None:
            with self._single() as connection:
                row = self._first(connection, self._sql.claim, **values)
        else:
            with self._transaction() as connection:
                found = [
                    row
                    for pick in self._sql.picks
                    if (row := self._run(connection, pick, **values).first()) is not None
                ]
                if not found:
                    return None
                seq = min(found, key=lambda row: (-row[1], row[0]))[0]
                self._run(connection, self._sql.take, p_seq=seq, **values)
                row = self._first(connection, self._sql.by_seq, p_seq=seq)
        if row is None:
            return None
        job = job_from_row(row)
        assert job.expires_at is not None
        return Claim(self, job, owner, job.epoch, ttl, job.expires_at)

    @staticmethod
    def _current(claim: Claim) -> dict[str, Any]:
        return {"p_id": claim.job.id, "p_epoch": claim.epoch, "p_owner": claim.owner}

    def _renew(self, claim: Claim) -> tuple[float, str | None]:
        values = {**self._current(claim), "p_ttl": claim.ttl}
        if self._sql.renew_returning is not None:
            with self._single() as connection:
                row = self._first(connection, self._sql.renew_returning, **values)
        else:
            with self._transaction() as connection:
                row = None
                if self._run(connection, self._sql.renew, **values).rowcount == 1:
                    row = self._first(
                        connection, self._sql.by_id, p_id=claim.job.id, p_board=self.name
                    )
        if row is None:
            raise self._lost(claim)
        return float(row["expires_at"]), row["revoke_reason"]

    def _finish(self, claim: Claim, state: JobState, reason: str | None) -> str | None:
        values = {**self._current(claim), "p_state": state.value, "p_reason": reason}
        if state is not JobState.DONE:
            # Trashing needs no revoke check: one statement, as before.
            with self._single() as connection:
                done = self._run(connection, self._sql.finish, **values).rowcount
            if done != 1:
                raise self._lost(claim)
            return None
        if self._sql.finish_returning is not None:
            with self._single() as connection:
                row = self._first(
                    connection, self._sql.finish_returning, p_channel=self._channel, **values
                )
        else:
            with self._transaction() as connection:
                row = None
                if self._run(connection, self._sql.finish, **values).rowcount == 1:
                    # The row stays locked by the update: this reads what it wrote.
                    row = self._first(
                        connection, self._sql.by_id, p_id=claim.job.id, p_board=self.name
                    )
        if row is None:
            raise self._lost(claim)
        if row["state"] == JobState.UNCLAIMED.value:
            return str(row["revoke_reason"])
        return None

    def _finish_and_claim(self, claim: Claim) -> tuple[str | None, Claim | None]:
        if self._sql.finish_claim is None:
            return super()._finish_and_claim(claim)
        values = {
            **self._current(claim),
            "p_state": JobState.DONE.value,
            "p_reason": None,
            "p_board": self.name,
            "p_ttl": claim.ttl,
            "p_channel": self._channel,
        }
        with self._single() as connection:
            row = self._first(connection, self._sql.finish_claim, **values)
        if row is None:
            raise self._lost(claim)
        found = None
        if row["ended_state"] == JobState.UNCLAIMED.value:
            found = str(row["ended_revoke_reason"])
        following = row["following"]
        if following is None:
            return found, None
        # psycopg decodes json; an engine of the caller's may load it as text instead.
        job = job_from_row(json.loads(following) if isinstance(following, str) else following)
        assert job.expires_at is not None
        return found, Claim(self, job, claim.owner, job.epoch, claim.ttl, job.expires_at)

    def _abandon(self, claim: Claim, delay: float) -> None:
        with self._transaction() as connection:
            done = self._run(
                connection, self._sql.abandon, **self._current(claim), p_delay=delay
            ).rowcount
            if done == 1:
                self._notify(connection)
        if done != 1:
            raise self._lost(claim)

    def _notify(self, connection: Connection) -> None:
        if self._pushes:
            self._run(connection, self._sql.notify, p_channel=self._channel)

    def _revoke(self, job_id: str, reason: str) -> Job:
        with self._transaction() as connection:
            row = self._first(connection, self._sql.lock_by_id, p_id=job_id, p_board=self.name)
            if row is None:
                raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
            job = job_from_row(row)
            if job.state is JobState.TRASHED:
                return job
            state, trashed = revoked_state(job.state, job.claims)
            self._run(
                connection,
                self._sql.revoke,
                p_seq=row["seq"],
                p_state=state.value,
                p_revoke_reason=reason,
                p_reason=reason if trashed else job.reason,
                p_not_before=0.0 if job.state is JobState.DONE else job.not_before,
            )
            if state is JobState.UNCLAIMED:
                self._notify(connection)
            row = self._first(connection, self._sql.by_seq, p_seq=row["seq"])
        assert row is not None
        return job_from_row(row)

    def _trash_job(self, job_id: str, reason: str) -> Job:
        while True:
            with self._transaction() as connection:
                self._run(
                    connection, self._sql.trash, p_id=job_id, p_board=self.name, p_reason=reason
                )
                # Trashed: the row is locked by the update, this reads what it wrote.
                row = self._first(connection, self._sql.by_id, p_id=job_id, p_board=self.name)
            if row is None:
                raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
            job = job_from_row(row)
            if job.state is JobState.DONE:
                raise finished(job_id, self.name)
            if job.state is JobState.CLAIMED:
                raise running(job_id, job.owner, self.name)
            if job.state is JobState.TRASHED:
                return job
            # Handed back between the update and the read (which locks nothing): again.

    # -- waiting -----------------------------------------------------------------------------

    def _wait_for_change(self, timeout: float | None) -> bool:
        if self._pushes:
            return self._wait_for_notify(timeout)
        return self._poll(timeout)

    def _look(self) -> tuple[int, int]:
        """Unclaimed jobs ready to claim, and lapsed claims, on the board now."""
        with self._single() as connection:
            ready, lapsed = self._run(connection, self._sql.look, p_board=self.name).one()
        return int(ready), int(lapsed)

    def _poll(self, timeout: float | None) -> bool:
        # Wake while an unclaimed job is ready, not only when the board changed since
        # the look began: it may have been posted between the caller's failed claim
        # and this look. Lapsed claims wake only when their number changes, since
        # the one this owner let lapse stays claimable by everyone but it.
        ready, lapsed_first = self._look()
        lapsed = lapsed_first
        deadline = None if timeout is None else time.monotonic() + timeout
        while ready == 0 and lapsed == lapsed_first:
            left = self.poll_interval if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.poll_interval, left))
            ready, lapsed = self._look()
        return True

    def _anything_claimable(self) -> bool:
        with self._single() as connection:
            found = self._run(connection, self._sql.any_claimable, p_board=self.name).first()
        return found is not None

    def _seconds_to_next_deadline(self) -> float | None:
        """When the next claim or abandon delay runs out, from now, on the database's clock."""
        with self._single() as connection:
            left = self._run(connection, self._sql.next_deadline, p_board=self.name).scalar()
        return None if left is None else max(0.0, float(left))

    def _wait_for_notify(self, timeout: float | None) -> bool:
        listener, fresh = self._listener()
        try:
            woken = self._listen(listener, fresh, timeout)
        except BaseException:
            self._drop_listener(listener)
            raise
        with self._lock:
            self._idle_listeners.append(listener)
        return woken

    def _listen(self, listener: Any, fresh: bool, timeout: float | None) -> bool:
        with self._translated():
            # Everything heard since the listener last waited counts, at once, as one
            # wake-up: it may have come between the caller's failed claim and now.
            if any(True for _ in listener.notifies(timeout=0)):
                return True
        if fresh and self._anything_claimable():
            # Posted before LISTEN took effect, so not heard: say so now.
            return True
        soonest = self._seconds_to_next_deadline()
        limit = timeout
        if soonest is not None:
            # A little past the deadline, so that the database sees it as passed too.
            limit = soonest + 0.005 if limit is None else min(limit, soonest + 0.005)
        with self._translated():
            for _ in listener.notifies(timeout=limit, stop_after=1):
                return True
        return soonest is not None and (timeout is None or soonest < timeout)

    def _listener(self) -> tuple[Any, bool]:
        """A LISTENing connection for this wait, and whether it was opened just now.

        Listeners are kept between waits and handed to whichever thread waits
        next: each keeps listening while idle, so nothing posted meanwhile is missed.
        """
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            listener = self._idle_listeners.pop() if self._idle_listeners else None
        if listener is not None and not listener.closed:
            return listener, False
        with self._translated():
            raw = self.engine.raw_connection()
            listener = raw.driver_connection
            assert listener is not None
            raw.detach()  # a dedicated connection, never returned to the pool
            listener.rollback()
            listener.autocommit = True
            listener.execute(f'LISTEN "{self._channel}"')
        with self._lock:
            self._listeners.append(listener)
        return listener, True

    def _drop_listener(self, listener: Any) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)
        with contextlib.suppress(Exception):
            listener.close()
