"""What differs between SQLite, PostgreSQL and MySQL/MariaDB, in one place.

URLs as users write them are rewritten to the one driver we support per
database, engines get the connection settings that make them durable and
bounded in time, upserts get each dialect's syntax, and driver exceptions
are translated to steadyflow errors here, at the edge.
"""

from __future__ import annotations

import contextlib
import importlib
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from steadyflow.errors import (
    BackendUnavailableError,
    InvalidURLError,
    MissingDriverError,
    PersistenceError,
    SteadyflowError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy.sql.dml import Insert

__all__ = [
    "Family",
    "create_backend_engine",
    "is_contention",
    "is_memory_sqlite",
    "mask",
    "normalize_url",
    "require_driver",
    "translated",
    "upsert",
]


class Family(StrEnum):
    """The databases the SQL backend supports."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"


_DRIVERS: dict[str, tuple[Family, str]] = {
    "sqlite": (Family.SQLITE, "sqlite+pysqlite"),
    "sqlite+pysqlite": (Family.SQLITE, "sqlite+pysqlite"),
    "postgres": (Family.POSTGRESQL, "postgresql+psycopg"),
    "postgresql": (Family.POSTGRESQL, "postgresql+psycopg"),
    "postgresql+psycopg": (Family.POSTGRESQL, "postgresql+psycopg"),
    "mysql": (Family.MYSQL, "mysql+pymysql"),
    "mysql+pymysql": (Family.MYSQL, "mysql+pymysql"),
    "mariadb": (Family.MYSQL, "mariadb+pymysql"),
    "mariadb+pymysql": (Family.MYSQL, "mariadb+pymysql"),
}

_EXTRAS = {
    Family.SQLITE: ("sqlalchemy", "sql"),
    Family.POSTGRESQL: ("psycopg", "postgres"),
    Family.MYSQL: ("pymysql", "mysql"),
}

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite writer waits for another writer before failing."""

IDLE_TRANSACTION_SECONDS = 1
"""How long a server lets one of our sessions sit idle inside a write transaction.

Our transactions are a few statements sent back to back, so an idle one
means its process is frozen (SIGSTOP, a debugger, a stalled VM) while it
holds the lease row locked: every taker would wait on it for as long as it
stays frozen. The server ends such a session and rolls its transaction back
(nothing of it becomes visible). It must stay below ``LOCK_WAIT_SECONDS``
(:mod:`._leases`), so that a taker waiting on a frozen holder's lock outlasts
it, and below any sensible lease ttl, so that it never keeps a flow blocked
longer than the lease does. Whole seconds: MariaDB's setting is an integer.
"""


def mask(url: URL) -> str:
    """``url`` as text with its password masked."""
    return url.render_as_string(hide_password=True)


def normalize_url(raw: str | URL) -> tuple[URL, Family]:
    """Parse ``raw`` and point it at the driver we support for its database.

    Raises:
        InvalidURLError: the URL does not parse or names an unsupported driver.
    """
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise InvalidURLError(f"not a database URL: {exc}") from exc
    found = _DRIVERS.get(url.drivername.lower())
    if found is None:
        raise InvalidURLError(
            f"unsupported SQL scheme {url.drivername!r} in {mask(url)!r}; accepted: "
            + ", ".join(sorted(_DRIVERS))
        )
    family, drivername = found
    url = url.set(drivername=drivername)
    if family is Family.MYSQL and "charset" not in url.query:
        # utf8mb4, or MySQL mangles every character outside the BMP (emoji...).
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url, family


def family_of(engine: Engine) -> Family:
    """The family of a ready engine handed to the backend.

    Raises:
        InvalidURLError: the engine's database is not supported.
    """
    return normalize_url(engine.url)[1]


def is_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` is a private in-memory SQLite database."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def require_driver(family: Family) -> None:
    """Import the driver of ``family`` now, to fail early with an install hint.

    Raises:
        MissingDriverError: the driver is not installed.
    """
    module, extra = _EXTRAS[family]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingDriverError(
            f"the {family.value} backend needs the {module} package: "
            f"pip install 'steadyflow[{extra}]'"
        ) from exc


def create_backend_engine(
    url: URL, family: Family, *, connect_timeout: float, **options: Any
) -> Engine:
    """An engine configured for durability and bounded waits.

    SQLite: WAL (readers never block the writer), ``synchronous=FULL`` (in
    WAL mode NORMAL may lose the last commits on power loss, and a completion
    we acknowledged must never be lost), foreign keys on, a busy timeout, and
    BEGIN emitted by us so reads get a consistent snapshot. Servers: a connect
    timeout, a pre-ping so a restarted server costs one retry, not an error,
    and an idle-in-transaction timeout (see IDLE_TRANSACTION_SECONDS), set
    once per connection.
    """
    if family is Family.SQLITE:
        return _sqlite_engine(url, **options)
    seconds = max(1, round(connect_timeout))
    connect_args: dict[str, Any] = {"connect_timeout": seconds}
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True, **options)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        statement = _idle_transaction_setting(family, dbapi_connection)
        if statement is None:
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
        dbapi_connection.commit()  # a SET inside a committed transaction stays

    return engine


def _idle_transaction_setting(family: Family, dbapi_connection: Any) -> str | None:
    """The statement ending our sessions idle inside a write transaction, if the server has one.

    Both settings cover every transaction (ours are all short; a no-op
    UPDATE such as the fence, which row-locks the lease, does not make a
    transaction a "write" one for MariaDB). MySQL has no such setting: there a
    holder frozen inside a transaction blocks takers until it resumes or dies.
    """
    if family is Family.POSTGRESQL:
        return f"SET idle_in_transaction_session_timeout = {IDLE_TRANSACTION_SECONDS * 1000}"
    if "mariadb" in str(getattr(dbapi_connection, "server_version", "")).lower():
        return f"SET SESSION idle_transaction_timeout = {IDLE_TRANSACTION_SECONDS}"
    return None


def _sqlite_engine(url: URL, **options: Any) -> Engine:
    memory = is_memory_sqlite(url)
    if memory:
        # One connection is the database; the backend serializes its use.
        options.setdefault("poolclass", StaticPool)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **options,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def upsert(family: Family, table: Table, keys: Sequence[str]) -> Insert:
    """An INSERT that updates every non-key column when the key exists."""
    columns = [c.name for c in table.columns if c.name not in keys]
    if family is Family.MYSQL:
        my_stmt = mysql.insert(table)
        return my_stmt.on_duplicate_key_update({c: my_stmt.inserted[c] for c in columns})
    dialect_insert = postgresql.insert if family is Family.POSTGRESQL else sqlite.insert
    stmt = dialect_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
    )
    if family is Family.POSTGRESQL:
        # RETURNING makes SQLAlchemy send many rows as one multi-row INSERT
        # ("insertmanyvalues") instead of psycopg's pipelined executemany: a
        # process frozen halfway through a pipeline leaves its session "active",
        # waiting for the rest with the lease row locked, which no idle timeout
        # ends; frozen between whole statements, it is idle and the timeout applies.
        return stmt.returning(*(table.c[key] for key in keys))
    return stmt


@contextlib.contextmanager
def translated(family: Family, where: str, password: str | None) -> Iterator[None]:
    """Translate driver and SQLAlchemy errors into steadyflow errors.

    Connection-level failures of a server become
    :class:`~steadyflow.errors.BackendUnavailableError`; anything else a
    :class:`~steadyflow.errors.PersistenceError`. Messages name the database
    with its password masked, and never include statement parameters
    (they hold user results).
    """
    try:
        yield
    except SteadyflowError:
        raise
    except DBAPIError as exc:
        reason = _reason(exc, password)
        if family is not Family.SQLITE and _is_connection_error(exc):
            raise BackendUnavailableError(
                f"cannot reach {family.value} server at {where}: {reason}"
            ) from exc
        raise PersistenceError(f"{family.value} error on {where}: {reason}") from exc
    except SQLAlchemyError as exc:
        raise PersistenceError(f"{family.value} error on {where}: {exc}") from exc


_CONTENDED_SQLSTATES = frozenset({"40001", "40P01", "55P03", "23505"})
"""PostgreSQL: serialization failure, deadlock, lock not available, unique violation."""
_CONTENDED_MYSQL_CODES = frozenset({1205, 1213, 1062})
"""MySQL/MariaDB: lock wait timeout, deadlock, duplicate key."""
_CONTENDED_SQLITE_CODES = frozenset({5, 6})
"""SQLite: SQLITE_BUSY, SQLITE_LOCKED (primary codes)."""


def is_contention(family: Family, exc: DBAPIError) -> bool:
    """Whether ``exc`` means another transaction won a race (retrying may succeed).

    Deadlocks, lock waits that timed out and duplicate keys from a concurrent
    insert: what a transaction gets for racing another one over the same rows,
    as opposed to the database being broken or unreachable.
    """
    orig = exc.orig
    if family is Family.POSTGRESQL:
        return getattr(orig, "sqlstate", None) in _CONTENDED_SQLSTATES
    if family is Family.MYSQL:
        args: tuple[object, ...] = getattr(orig, "args", ())
        return bool(args) and args[0] in _CONTENDED_MYSQL_CODES
    code = getattr(orig, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in _CONTENDED_SQLITE_CODES


def _is_connection_error(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def _reason(exc: DBAPIError, password: str | None) -> str:
    text = str(exc.orig).strip() or type(exc.orig).__name__
    if password:
        text = text.replace(password, "***")
    return text[:500]
