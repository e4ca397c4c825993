"""Flow runner locks held by the database server, on dedicated connections.

PostgreSQL advisory locks and MySQL named locks belong to a *session*: the
server drops them when the connection ends, which is exactly what happens
when the holding process is killed (the kernel closes its sockets). Each
lock therefore holds its own connection (outside the pool, in autocommit so
no transaction stays open) for as long as it is held.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from steadyflow.errors import FlowLockedError
from steadyflow.persistence.base import FlowLock
from steadyflow.persistence.sql._dialects import Family, translated

__all__ = ["ServerLocks"]

_SQL = {
    Family.POSTGRESQL: ("SELECT pg_try_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)"),
    Family.MYSQL: ("SELECT GET_LOCK(:key, 0)", "SELECT RELEASE_LOCK(:key)"),
}


class _SessionLock(FlowLock):
    __slots__ = ("_connection", "_key", "_unlock_sql")

    def __init__(self, flow_uuid: str, connection: Connection, unlock_sql: str, key: object):
        super().__init__(flow_uuid)
        self._connection = connection
        self._unlock_sql = unlock_sql
        self._key = key

    def _release(self) -> None:
        try:
            self._connection.execute(text(self._unlock_sql), {"key": self._key})
        except Exception:
            pass
        finally:
            self._connection.close()


class ServerLocks:
    """Advisory (PostgreSQL) or named (MySQL/MariaDB) locks, one connection each.

    Args:
        engine: the backend's engine; its URL is reused without its pool.
        family: which database.
        where: the masked address, for messages.
        password: masked out of messages.
        connect_timeout: seconds to wait for a connection.
    """

    def __init__(
        self,
        engine: Engine,
        family: Family,
        where: str,
        password: str | None,
        *,
        connect_timeout: int,
    ) -> None:
        self._engine = create_engine(
            engine.url, poolclass=NullPool, connect_args={"connect_timeout": connect_timeout}
        )
        self._family = family
        self._where = where
        self._password = password
        self._namespace = engine.url.database or ""

    def acquire(self, flow_uuid: str) -> FlowLock:
        """Lock ``flow_uuid`` or raise :class:`FlowLockedError` at once.

        Raises:
            FlowLockedError: another session holds the lock.
            BackendUnavailableError: the server cannot be reached.
        """
        lock_sql, unlock_sql = _SQL[self._family]
        key = self._key(flow_uuid)
        with translated(self._family, self._where, self._password):
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                granted = connection.execute(text(lock_sql), {"key": key}).scalar()
            except BaseException:
                connection.close()
                raise
        if not granted:
            connection.close()
            raise FlowLockedError(f"flow {flow_uuid} is already being run (server lock held)")
        return _SessionLock(flow_uuid, connection, unlock_sql, key)

    def _key(self, flow_uuid: str) -> object:
        # PostgreSQL advisory locks are per database and keyed by a bigint; MySQL
        # named locks are server-wide and names stop at 64 characters.
        if self._family is Family.POSTGRESQL:
            digest = hashlib.blake2b(f"steadyflow:{flow_uuid}".encode(), digest_size=8).digest()
            return int.from_bytes(digest, "big", signed=True)
        digest_hex = hashlib.sha1(f"{self._namespace}/{flow_uuid}".encode()).hexdigest()
        return f"steadyflow:{digest_hex}"

    def close(self) -> None:
        """Dispose of the lock engine (held locks keep their connections)."""
        self._engine.dispose()
