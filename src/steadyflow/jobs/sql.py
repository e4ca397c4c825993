"""A job board in PostgreSQL or MariaDB, through SQLAlchemy Core.

Engines are opened as the SQL store opens them
(:mod:`steadyflow.persistence.sql._dialects`): one supported driver per
database (psycopg 3, PyMySQL), connect timeouts, pre-ping, and sessions idle
inside a transaction ended by the server. The board's table and its Alembic
version table have their own names, so a board may live in a store's database.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from steadyflow.errors import InvalidURLError, MissingDriverError

try:
    from sqlalchemy import (
        Connection,
        Double,
        Engine,
        and_,
        case,
        func,
        insert,
        literal_column,
        or_,
        select,
        update,
    )
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.engine import URL, RowMapping
    from sqlalchemy.exc import DBAPIError, IntegrityError
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDriverError(
        "the PostgreSQL and MariaDB job boards need SQLAlchemy: "
        "pip install 'steadyflow[postgres]' (or steadyflow[mysql])"
    ) from exc

from pathlib import Path

from steadyflow.jobs._sql_schema import JOBS, VERSION_TABLE
from steadyflow.jobs._sqlrows import channel_name, job_from_row, job_to_row, revoked_state
from steadyflow.jobs.base import Claim, Job, JobBoard, JobNotFoundError, JobState, lost
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

_MIGRATIONS = Path(__file__).with_name("_sql_migrations")

_NOW = {
    Family.POSTGRESQL: "CAST(extract(epoch from clock_timestamp()) AS double precision)",
    Family.MYSQL: "UNIX_TIMESTAMP(NOW(6))",
}
"""Seconds since the Unix epoch on the database server's clock."""

_POST_ATTEMPTS = 3
"""Tries of a post that lost a race on the key index (MariaDB deadlocks between inserters)."""

_c = JOBS.c
_UNCLAIMED = JobState.UNCLAIMED.value
_CLAIMED = JobState.CLAIMED.value


class SQLBoard(JobBoard):
    """Jobs as rows of one table in PostgreSQL or MariaDB (≥ 10.6), shared by every conductor.

    Guarantees (beyond :class:`~steadyflow.jobs.base.JobBoard`'s):

    * A claim is one transaction that picks the best claimable row with
      ``SELECT ... FOR UPDATE SKIP LOCKED`` (racing claimers skip each other's
      rows instead of queueing) and bumps its ``epoch`` and ``claims``; on
      PostgreSQL it is a single ``UPDATE ... WHERE seq = (SELECT ... SKIP LOCKED)
      RETURNING``. Renew, complete, abandon and trash are one ``UPDATE`` each
      matching only the current claim's epoch: a claim taken over changes nothing.
    * Posting with a key is guarded by a unique constraint on (board, key):
      racing posters make one job (``ON CONFLICT DO NOTHING`` on PostgreSQL;
      the duplicate-key error, then a read of the winner, on MariaDB).
    * The claim lives in the job's row (``state``, ``owner``, ``expires_at``,
      ``epoch``): no second table of workers or claims that could drift from it.

    Clock: every expiry and ``not_before`` is computed in SQL from the database
    server's clock (``clock_timestamp()``, ``NOW(6)``); conductors whose
    own clocks disagree still agree on who holds a job.

    Wake-ups: on PostgreSQL, posts, abandons and revokes ``NOTIFY`` a channel
    of the board inside their transaction, and each waiting thread ``LISTEN``\\ s on
    a dedicated connection; it also wakes when the next claim or abandon delay
    runs out (read from the database). On MariaDB, which cannot push, waiting
    looks at the board every ``poll_interval`` seconds (one indexed read).

    Thread-safe: a connection pool; each waiting thread has its own listener.
    Open boards after forking (a child re-creates its connections).

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
            self._owns_engine = True
        else:
            self.family = family_of(engine)
            self._check_family(engine.url)
            self._owns_engine = False
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.where = mask(engine.url)
        self._password = engine.url.password
        self._now = literal_column(_NOW[self.family], Double)
        self._pushes = self.family is Family.POSTGRESQL
        self._channel = channel_name(name)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._listeners: list[Any] = []
        self._pid = os.getpid()
        try:
            with self._translated():
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

    # -- plumbing ----------------------------------------------------------------------------

    def _translated(self) -> contextlib.AbstractContextManager[None]:
        return translated(self.family, self.where, self._password)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """One transaction, driver errors translated."""
        with self._translated(), self._begin_raw() as connection:
            yield connection

    def _begin_raw(self) -> contextlib.AbstractContextManager[Connection]:
        """One transaction, driver errors as they are (for retries)."""
        if self._pid != os.getpid():
            self._after_fork()
        return self.engine.begin()

    @contextlib.contextmanager
    def _single(self) -> Iterator[Connection]:
        """A connection in autocommit mode, driver errors translated.

        For work done in one statement: it is atomic by itself, and saves the
        BEGIN and COMMIT round trips (half the cost of a claim on a busy server).
        """
        with self._translated(), self._single_raw() as connection:
            yield connection

    def _single_raw(self) -> contextlib.AbstractContextManager[Connection]:
        if self._pid != os.getpid():
            self._after_fork()
        return self._autocommit.connect()

    def _after_fork(self) -> None:
        # Pooled connections belong to the parent: leave them to it, unclosed.
        self.engine.dispose(close=False)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._listeners = []
        self._pid = os.getpid()

    def _row(self, connection: Connection, *where: Any) -> RowMapping | None:
        return connection.execute(select(JOBS).where(*where)).mappings().first()

    def _notify(self, connection: Connection) -> None:
        if self._pushes:
            connection.execute(select(func.pg_notify(self._channel, "")))

    def _close(self) -> None:
        with self._lock:
            listeners, self._listeners = self._listeners, []
        if self._pid == os.getpid():
            for listener in listeners:
                with contextlib.suppress(Exception):
                    listener.close()
        if self._owns_engine and hasattr(self, "engine"):
            self.engine.dispose(close=self._pid == os.getpid())

    # -- posting and reading ---------------------------------------------------------------------

    def _post(self, job: Job) -> Job:
        values = {**job_to_row(self.name, job), "created_at": self._now}
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
            # One statement: the insert, and the wake-up of waiting claimers when it
            # inserted (NOTIFY is delivered when the statement's transaction commits).
            posted = (
                postgresql.insert(JOBS)
                .values(values)
                .on_conflict_do_nothing(index_elements=["board", "job_key"])
                .returning(*JOBS.c)
                .cte("posted")
            )
            stmt = select(posted, func.pg_notify(self._channel, "").label("notified"))
            with self._single_raw() as connection:
                row = connection.execute(stmt).mappings().first()
                if row is not None:
                    return job_from_row(row)
                # The key is taken: ON CONFLICT waited for its poster to commit.
                row = self._row(connection, _c.board == self.name, _c.job_key == job.key)
            assert row is not None
            return job_from_row(row)
        try:
            with self._single_raw() as connection:
                row = (
                    connection.execute(insert(JOBS).values(values).returning(*JOBS.c))
                    .mappings()
                    .first()
                )
        except IntegrityError:
            if job.key is None:
                raise
            with self._single_raw() as connection:
                row = self._row(connection, _c.board == self.name, _c.job_key == job.key)
            if row is None:  # the violation was something else than our key
                raise
        assert row is not None
        return job_from_row(row)

    def _get(self, job_id: str) -> Job:
        with self._single() as connection:
            row = self._row(connection, _c.id == job_id, _c.board == self.name)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
        return job_from_row(row)

    def _iter_jobs(self, state: JobState | None) -> Iterator[Job]:
        stmt = select(JOBS).where(_c.board == self.name)
        if state is not None:
            stmt = stmt.where(_c.state == state.value)
        with self._single() as connection:
            rows = connection.execute(stmt.order_by(_c.priority.desc(), _c.seq)).mappings()
            return iter([job_from_row(row) for row in rows])

    # -- claims ------------------------------------------------------------------------------

    def _ready(self) -> Any:
        return and_(_c.state == _UNCLAIMED, _c.not_before <= self._now)

    def _lapsed(self) -> Any:
        return and_(_c.state == _CLAIMED, _c.expires_at <= self._now)

    def _try_claim(self, owner: str, ttl: float) -> Claim | None:
        pick = (
            select(_c.seq)
            .where(
                _c.board == self.name,
                or_(self._ready(), and_(self._lapsed(), _c.owner != owner)),
            )
            .order_by(_c.priority.desc(), _c.seq)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        take = update(JOBS).values(
            state=_CLAIMED,
            owner=owner,
            expires_at=self._now + ttl,
            claims=_c.claims + 1,
            epoch=_c.epoch + 1,
        )
        if self.family is Family.POSTGRESQL:
            stmt = take.where(_c.seq == pick.scalar_subquery()).returning(*JOBS.c)
            with self._single() as connection:
                row = connection.execute(stmt).mappings().first()
        else:
            with self._begin() as connection:
                # MariaDB cannot UPDATE a table it reads in a subquery: lock, then write.
                seq = connection.execute(pick).scalar()
                if seq is None:
                    return None
                connection.execute(take.where(_c.seq == seq))
                row = self._row(connection, _c.seq == seq)
        if row is None:
            return None
        job = job_from_row(row)
        assert job.expires_at is not None
        return Claim(self, job, owner, job.epoch, ttl, job.expires_at)

    def _current(self, claim: Claim) -> Any:
        return and_(
            _c.id == claim.job.id,
            _c.state == _CLAIMED,
            _c.epoch == claim.epoch,
            _c.owner == claim.owner,
        )

    def _lost(self, claim: Claim) -> Exception:
        try:
            job = self._get(claim.job.id)
        except JobNotFoundError:
            return lost(claim, "the job is gone")
        return lost(claim, f"the job is {job.state.value} at epoch {job.epoch}")

    def _renew(self, claim: Claim) -> tuple[float, str | None]:
        stmt = update(JOBS).where(self._current(claim)).values(expires_at=self._now + claim.ttl)
        if self.family is Family.POSTGRESQL:
            with self._single() as connection:
                row = (
                    connection.execute(stmt.returning(_c.expires_at, _c.revoke_reason))
                    .mappings()
                    .first()
                )
        else:
            with self._begin() as connection:
                done = connection.execute(stmt).rowcount == 1
                row = self._row(connection, _c.id == claim.job.id) if done else None
        if row is None:
            raise self._lost(claim)
        return float(row["expires_at"]), row["revoke_reason"]

    def _finish(self, claim: Claim, state: JobState, reason: str | None) -> None:
        stmt = (
            update(JOBS)
            .where(self._current(claim))
            .values(state=state.value, reason=reason, owner=None, expires_at=None)
        )
        with self._single() as connection:
            done = connection.execute(stmt).rowcount
        if done != 1:
            raise self._lost(claim)

    def _abandon(self, claim: Claim, delay: float) -> None:
        stmt = (
            update(JOBS)
            .where(self._current(claim))
            .values(state=_UNCLAIMED, owner=None, expires_at=None, not_before=self._now + delay)
        )
        with self._begin() as connection:
            done = connection.execute(stmt).rowcount
            if done == 1:
                self._notify(connection)
        if done != 1:
            raise self._lost(claim)

    def _revoke(self, job_id: str, reason: str) -> Job:
        mine = and_(_c.id == job_id, _c.board == self.name)
        with self._begin() as connection:
            row = connection.execute(select(JOBS).where(mine).with_for_update()).mappings().first()
            if row is None:
                raise JobNotFoundError(f"no job {job_id!r} on board {self.name!r}")
            job = job_from_row(row)
            if job.state is JobState.TRASHED:
                return job
            state, trashed = revoked_state(job.state, job.claims)
            connection.execute(
                update(JOBS)
                .where(_c.seq == row["seq"])
                .values(
                    state=state.value,
                    revoke_reason=reason,
                    reason=reason if trashed else job.reason,
                    not_before=0.0 if job.state is JobState.DONE else job.not_before,
                )
            )
            if state is JobState.UNCLAIMED:
                self._notify(connection)
            row = self._row(connection, _c.seq == row["seq"])
        assert row is not None
        return job_from_row(row)

    # -- waiting -----------------------------------------------------------------------------

    def _wait_for_change(self, timeout: float | None) -> bool:
        if self._pushes:
            return self._wait_for_notify(timeout)
        return self._poll(timeout)

    def _poll(self, timeout: float | None) -> bool:
        fingerprint = select(
            select(func.coalesce(func.max(_c.seq), 0)).scalar_subquery(),
            select(func.count())
            .where(_c.board == self.name, or_(self._ready(), self._lapsed()))
            .scalar_subquery(),
        )
        with self._single() as connection:
            seen = tuple(connection.execute(fingerprint).one())
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = self.poll_interval if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.poll_interval, left))
            with self._single() as connection:
                if tuple(connection.execute(fingerprint).one()) != seen:
                    return True

    def _anything_claimable(self) -> bool:
        stmt = select(_c.seq).where(_c.board == self.name, or_(self._ready(), self._lapsed()))
        with self._single() as connection:
            return connection.execute(stmt.limit(1)).first() is not None

    def _seconds_to_next_deadline(self) -> float | None:
        """When the next claim or abandon delay runs out, from now, on the database's clock."""
        due = case((_c.state == _CLAIMED, _c.expires_at), else_=_c.not_before)
        stmt = select(func.min(due) - self._now).where(
            _c.board == self.name,
            or_(
                and_(_c.state == _CLAIMED, _c.expires_at > self._now),
                and_(_c.state == _UNCLAIMED, _c.not_before > self._now),
            ),
        )
        with self._single() as connection:
            left = connection.execute(stmt).scalar()
        return None if left is None else max(0.0, float(left))

    def _wait_for_notify(self, timeout: float | None) -> bool:
        listener, fresh = self._listener()
        if fresh and self._anything_claimable():
            # Posted before LISTEN took effect, so not heard: say so now.
            return True
        soonest = self._seconds_to_next_deadline()
        limit = timeout
        if soonest is not None:
            # A little past the deadline, so that the database sees it as passed too.
            limit = soonest + 0.005 if limit is None else min(limit, soonest + 0.005)
        try:
            with self._translated():
                for _ in listener.notifies(timeout=limit, stop_after=1):
                    return True
        except BaseException:
            self._drop_listener(listener)
            raise
        return soonest is not None and (timeout is None or soonest < timeout)

    def _listener(self) -> tuple[Any, bool]:
        """This thread's LISTENing connection, and whether it was opened just now."""
        if self._pid != os.getpid():
            self._after_fork()
        listener = getattr(self._local, "listener", None)
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
        self._local.listener = listener
        with self._lock:
            self._listeners.append(listener)
        return listener, True

    def _drop_listener(self, listener: Any) -> None:
        self._local.listener = None
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)
        with contextlib.suppress(Exception):
            listener.close()
