"""Leases in SQL: the statements behind acquire, renew, release and the fence.

Every statement runs on a connection inside the caller's transaction. Time
is the database server's (``now`` below), so runners on hosts with skewed
clocks still agree on when a lease expires. Acquisition is race-free on
every database without table locks: a row is inserted if absent (epoch 0,
no owner), then one conditional UPDATE takes it; the row lock the UPDATE
waits for serializes concurrent takers, and its WHERE is re-evaluated
against the winner's row, so a loser matches nothing.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import Double, literal_column, or_, select, text, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from steadyflow.persistence._fencing import locked_error, lost_error, stale_epoch_error
from steadyflow.persistence.base import Lease
from steadyflow.persistence.sql._dialects import Family
from steadyflow.persistence.sql._schema import LEASES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection
    from sqlalchemy.sql.dml import Insert, Update
    from sqlalchemy.sql.elements import ColumnElement

__all__ = ["LOCK_WAIT_SECONDS", "SQLLeases"]

LOCK_WAIT_SECONDS = 2
"""How long an acquisition waits for a lease row another transaction has locked.

A holder paused in the middle of a fenced write keeps the row locked; without
a bound, every would-be taker would wait for it forever (PostgreSQL) or for
50 s (InnoDB's default). Whole seconds: InnoDB's setting is an integer.
"""

_NOW = {
    Family.POSTGRESQL: "CAST(extract(epoch from clock_timestamp()) AS double precision)",
    Family.MYSQL: "UNIX_TIMESTAMP(NOW(6))",
    Family.SQLITE: "((julianday('now') - 2440587.5) * 86400.0)",
}


class SQLLeases:
    """The lease statements of one database family."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.now: ColumnElement[float] = literal_column(_NOW[family], Double)
        self._returning = family is Family.POSTGRESQL

    def acquire(
        self, connection: Connection, flow_uuid: str, owner: str, ttl: float, epoch: int | None
    ) -> Lease:
        """Take the lease or raise FlowLockedError (see ``Backend.acquire_lease``)."""
        connection.execute(self._insert_if_absent(flow_uuid))
        stmt = update(LEASES).where(LEASES.c.flow_uuid == flow_uuid)
        if epoch is None:
            stmt = stmt.where(or_(LEASES.c.owner.is_(None), LEASES.c.expires_at <= self.now))
            stmt = stmt.values(owner=owner, epoch=LEASES.c.epoch + 1)
        else:
            stmt = stmt.where(LEASES.c.epoch < epoch).values(owner=owner, epoch=epoch)
        stmt = stmt.values(expires_at=self.now + ttl)
        taken = self._updated(connection, stmt, flow_uuid)
        if taken is None:
            raise self._refusal(connection, flow_uuid, epoch)
        return Lease(flow_uuid, owner, int(taken["epoch"]), ttl, float(taken["expires_at"]))

    @contextlib.contextmanager
    def bounded_lock_wait(self, connection: Connection) -> Iterator[None]:
        """Within the transaction, wait at most LOCK_WAIT_SECONDS for a row lock.

        SQLite needs nothing: its busy timeout already bounds every wait.
        """
        if self.family is Family.POSTGRESQL:
            # SET LOCAL ends with the transaction: nothing to restore.
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_SECONDS}s'"))
            yield
            return
        if self.family is Family.SQLITE:
            yield
            return
        # A session setting on a pooled connection: put the server's default back.
        connection.execute(text(f"SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_SECONDS}"))
        try:
            yield
        finally:
            # A connection that cannot take this is broken and will be discarded anyway.
            with contextlib.suppress(DBAPIError):
                connection.execute(text("SET SESSION innodb_lock_wait_timeout = DEFAULT"))

    def renew(self, connection: Connection, lease: Lease) -> Lease:
        """Extend ``lease`` from the server's now, or raise LeaseLostError."""
        stmt = (
            self._current(update(LEASES), lease.flow_uuid, lease.epoch)
            .where(LEASES.c.owner == lease.owner)
            .values(expires_at=self.now + lease.ttl)
        )
        renewed = self._updated(connection, stmt, lease.flow_uuid)
        if renewed is None:
            raise lost_error(lease.flow_uuid, lease.epoch)
        return Lease(
            lease.flow_uuid, lease.owner, lease.epoch, lease.ttl, float(renewed["expires_at"])
        )

    def release(self, connection: Connection, lease: Lease) -> None:
        """Mark ``lease`` released if it is still current; keep its epoch."""
        stmt = self._current(update(LEASES), lease.flow_uuid, lease.epoch)
        connection.execute(stmt.values(owner=None, expires_at=0.0))

    def get(self, connection: Connection, flow_uuid: str) -> Lease | None:
        """The live lease on ``flow_uuid``, or None."""
        row = self._read(connection, flow_uuid)
        if row is None or row["owner"] is None or row["expires_at"] <= row["now"]:
            return None
        left = row["expires_at"] - row["now"]
        return Lease(flow_uuid, row["owner"], row["epoch"], left, row["expires_at"])

    def fence(self, connection: Connection, flow_uuid: str, epoch: int) -> None:
        """Refuse the transaction's writes unless ``epoch`` is the current lease's.

        A no-op UPDATE rather than a SELECT: it row-locks the lease until the
        transaction ends, so a takeover waits for this write instead of
        slipping in between the check and the write (and on SQLite it opens
        the transaction as a writer at once).
        """
        stmt = self._current(update(LEASES), flow_uuid, epoch).values(epoch=LEASES.c.epoch)
        if connection.execute(stmt).rowcount != 1:
            raise lost_error(flow_uuid, epoch)

    # -- helpers --------------------------------------------------------------------------

    def _insert_if_absent(self, flow_uuid: str) -> Insert:
        values = {"flow_uuid": flow_uuid, "owner": None, "epoch": 0, "expires_at": 0.0}
        if self.family is Family.MYSQL:
            my_insert = mysql.insert(LEASES).values(values)
            # A no-op update (not INSERT IGNORE, which would hide real errors too).
            return my_insert.on_duplicate_key_update(flow_uuid=LEASES.c.flow_uuid)
        dialect_insert = postgresql.insert if self.family is Family.POSTGRESQL else sqlite.insert
        stmt = dialect_insert(LEASES).values(values)
        return stmt.on_conflict_do_nothing(index_elements=["flow_uuid"])

    @staticmethod
    def _current(stmt: Update, flow_uuid: str, epoch: int) -> Update:
        return stmt.where(
            LEASES.c.flow_uuid == flow_uuid, LEASES.c.epoch == epoch, LEASES.c.owner.is_not(None)
        )

    def _updated(
        self, connection: Connection, stmt: Update, flow_uuid: str
    ) -> dict[str, Any] | None:
        """Run ``stmt`` on the lease row; its epoch and expiry after it, or None if unmatched."""
        if self._returning:
            found = connection.execute(stmt.returning(LEASES.c.epoch, LEASES.c.expires_at))
            row = found.mappings().first()
            return None if row is None else dict(row)
        if connection.execute(stmt).rowcount != 1:
            return None
        # Our own uncommitted row, locked by the UPDATE: nobody can change it now.
        query = select(LEASES.c.epoch, LEASES.c.expires_at).where(LEASES.c.flow_uuid == flow_uuid)
        return dict(connection.execute(query).mappings().one())

    def _read(self, connection: Connection, flow_uuid: str) -> dict[str, Any] | None:
        query = select(
            LEASES.c.owner, LEASES.c.epoch, LEASES.c.expires_at, self.now.label("now")
        ).where(LEASES.c.flow_uuid == flow_uuid)
        row = connection.execute(query).mappings().first()
        if row is None:
            return None
        return {
            "owner": row["owner"],
            "epoch": int(row["epoch"]),
            "expires_at": float(row["expires_at"]),
            "now": float(row["now"]),
        }

    def _refusal(self, connection: Connection, flow_uuid: str, epoch: int | None) -> Exception:
        row = self._read(connection, flow_uuid)
        holder, stored, expires_at = None, 0, None
        if row is not None and row["owner"] is not None and row["expires_at"] > row["now"]:
            holder, expires_at = row["owner"], row["expires_at"]
        if row is not None:
            stored = row["epoch"]
        if epoch is not None:
            return stale_epoch_error(flow_uuid, epoch, stored, holder, expires_at)
        return locked_error(flow_uuid, holder, expires_at)
