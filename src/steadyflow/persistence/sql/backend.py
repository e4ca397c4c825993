"""The SQL backend: SQLite, PostgreSQL and MySQL/MariaDB through SQLAlchemy Core.

Every write is one transaction. The hot path, :meth:`save_atom_details`, is a
single executemany upsert; the flow row's optimistic version check is done
by the UPDATE itself (``WHERE version = :expected``), so there is no window
between reading a version and writing the row.

Leases are rows of ``steadyflow_leases`` timed by the database server's
clock (see ``_leases.py``). A fenced write adds one statement to its
transaction, never one per atom: a no-op UPDATE of the lease row that
matches only while the writer's epoch is current, and row-locks the lease
so a takeover cannot interleave with the write.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from steadyflow.errors import ConflictError, NotFoundError
from steadyflow.persistence._fencing import locked_error, lost_error
from steadyflow.persistence._rows import (
    atom_to_row,
    book_from_row,
    book_to_row,
    flow_from_row,
    flow_to_row,
)
from steadyflow.persistence.base import Backend, Lease
from steadyflow.persistence.sql import _migrate
from steadyflow.persistence.sql._dialects import (
    Family,
    create_backend_engine,
    family_of,
    is_contention,
    is_memory_sqlite,
    mask,
    normalize_url,
    require_driver,
    translated,
    upsert,
)
from steadyflow.persistence.sql._fenced_atoms import FencedAtomWrite
from steadyflow.persistence.sql._leases import SQLLeases
from steadyflow.persistence.sql._schema import ATOMS, FLOWS, LOGBOOKS

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.sql.elements import ColumnElement

    from steadyflow.persistence.models import AtomDetail, FlowDetail, LogBook
    from steadyflow.persistence.query import FlowFilter, FlowSummary
    from steadyflow.persistence.serializer import Serializer

__all__ = ["SQLBackend"]

Row = Mapping[str, Any]

_ACQUIRE_ATTEMPTS = 3
"""Tries of a lease acquisition that lost a race (deadlock, lock wait timeout)."""


def _id_prefix_clause(prefix: str, family: Family) -> ColumnElement[bool]:
    """``uuid`` starts with ``prefix``, case-sensitively (ids are case-sensitive)."""
    from steadyflow.persistence.query import LIKE_ESCAPE

    if family is Family.SQLITE:
        # SQLite's LIKE ignores case and its GLOB does not; ids hold no GLOB metacharacters.
        return FLOWS.c.uuid.op("GLOB")(prefix + "*")
    pattern = prefix.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("_", LIKE_ESCAPE + "_") + "%"
    if family is Family.MYSQL:
        # The tables' collation ignores case; a binary pattern makes LIKE compare bytes.
        return FLOWS.c.uuid.like(cast(literal(pattern), LargeBinary), escape=LIKE_ESCAPE)
    return FLOWS.c.uuid.like(pattern, escape=LIKE_ESCAPE)


def _filter_clauses(where: FlowFilter, family: Family) -> list[ColumnElement[bool]]:
    """The conditions (ANDed) of a flow filter."""
    from steadyflow.persistence.query import LIKE_ESCAPE

    clauses: list[ColumnElement[bool]] = []
    if where.states:
        clauses.append(FLOWS.c.state.in_(sorted(state.value for state in where.states)))
    if where.since is not None:
        clauses.append(FLOWS.c.created_at >= where.since)
    if where.id_prefix is not None:
        clauses.append(_id_prefix_clause(where.id_prefix, family))
    pattern = where.name_like()
    if pattern is not None:
        clauses.append(func.lower(FLOWS.c.name).like(pattern, escape=LIKE_ESCAPE))
    return clauses


class SQLBackend(Backend):
    """Keeps everything in a SQL database; the schema is migrated on open.

    Args:
        url: a database URL (``sqlite:///state.db``, ``postgresql://...``,
            ``mysql://...``, ``mariadb://...``); rewritten to the supported
            driver (psycopg 3, PyMySQL).
        engine: instead of ``url``, a ready engine; it is not disposed by
            :meth:`close`, and SQLite pragmas are then yours to set.
        serializer: turns values into text; strict JSON by default.
        connect_timeout: seconds to wait for a server before
            :class:`~steadyflow.errors.BackendUnavailableError`.

    Raises:
        InvalidURLError: ``url`` is not a supported database URL.
        MissingDriverError: the database's driver is not installed.
        BackendUnavailableError: the server cannot be reached in time.
        SchemaVersionError: the database's schema is newer than this code.
    """

    def __init__(
        self,
        *,
        url: str | URL | None = None,
        engine: Engine | None = None,
        serializer: Serializer | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        if (url is None) == (engine is None):
            raise TypeError("SQLBackend needs exactly one of url= or engine=")
        super().__init__(serializer=serializer)
        if engine is None:
            assert url is not None
            parsed, self.family = normalize_url(url)
            require_driver(self.family)
            engine = create_backend_engine(parsed, self.family, connect_timeout=connect_timeout)
            self._owns_engine = True
        else:
            self.family = family_of(engine)
            self._owns_engine = False
        self.engine = engine
        self.where = mask(engine.url)
        self._password = engine.url.password
        memory = is_memory_sqlite(engine.url)
        self.leases_across_processes = not memory  # type: ignore[misc]
        self.is_durable = not memory  # type: ignore[misc]
        # A private in-memory SQLite database is one connection: serialize its users.
        self._serial: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if memory else contextlib.nullcontext()
        )
        self._leases = SQLLeases(self.family)
        self._upsert_book = upsert(self.family, LOGBOOKS, ["uuid"])
        self._upsert_atoms = upsert(self.family, ATOMS, ["flow_uuid", "name"])
        self._fenced_atoms = FencedAtomWrite() if self.family is Family.POSTGRESQL else None
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        try:
            self.upgrade()
        except BaseException:
            self._close()
            raise

    def __repr__(self) -> str:
        return f"SQLBackend({self.where!r})"

    def upgrade(self) -> None:
        """Migrate the schema to this code's head (a no-op when already there).

        Raises:
            SchemaVersionError: the schema is newer than this code.
            BackendUnavailableError: the server cannot be reached.
        """
        with self._guard():
            _migrate.upgrade(self.engine, where=self.where)

    # -- plumbing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        with self._serial, translated(self.family, self.where, self._password):
            yield

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._guard(), self.engine.connect() as connection:
            yield connection

    # -- writing -------------------------------------------------------------------------

    def _save_book(self, book: LogBook) -> None:
        book_row = book_to_row(book, self.serializer)
        flows = [self._encode_flow(book.uuid, flow) for flow in book.flows.values()]
        with self._guard():
            try:
                with self.engine.begin() as connection:
                    connection.execute(self._upsert_book, [book_row])
                    for flow_row, atom_rows in flows:
                        self._write_flow(connection, flow_row, None)
                        if atom_rows:
                            connection.execute(self._upsert_atoms, atom_rows)
            except IntegrityError as exc:
                raise ConflictError(f"logbook {book.uuid} changed concurrently") from exc

    def _save_flow(
        self, book_uuid: str, flow: FlowDetail, expected_version: int | None, epoch: int | None
    ) -> int:
        flow_row, atom_rows = self._encode_flow(book_uuid, flow)
        with self._guard():
            try:
                with self.engine.begin() as connection:
                    if epoch is not None:
                        self._leases.fence(connection, flow.uuid, epoch)
                    version = self._write_flow(connection, flow_row, expected_version)
                    if atom_rows:
                        connection.execute(self._upsert_atoms, atom_rows)
            except IntegrityError as exc:
                raise ConflictError(f"flow detail {flow.uuid} changed concurrently") from exc
        return version

    def _save_atoms(self, flow_uuid: str, atoms: Sequence[AtomDetail], epoch: int | None) -> None:
        rows = [atom_to_row(flow_uuid, atom, self.serializer) for atom in atoms]
        with self._guard():
            try:
                if epoch is not None and self._fenced_atoms is not None and rows:
                    # One statement is its own transaction: no BEGIN or COMMIT round trip.
                    with self._autocommit.connect() as connection:
                        if not self._fenced_atoms(connection, flow_uuid, epoch, rows):
                            raise lost_error(flow_uuid, epoch)
                    return
                with self.engine.begin() as connection:
                    if epoch is not None:
                        self._leases.fence(connection, flow_uuid, epoch)
                    connection.execute(self._upsert_atoms, rows)
            except IntegrityError as exc:
                if self._book_of(flow_uuid) is None:
                    raise NotFoundError(f"flow detail {flow_uuid} not found") from exc
                raise

    def _encode_flow(self, book_uuid: str, flow: FlowDetail) -> tuple[Row, list[dict[str, Any]]]:
        atom_rows = [atom_to_row(flow.uuid, a, self.serializer) for a in flow.atoms.values()]
        return flow_to_row(book_uuid, flow, self.serializer), atom_rows

    def _write_flow(self, connection: Connection, row: Row, expected: int | None) -> int:
        uuid, book_uuid = row["uuid"], row["book_uuid"]
        changes = {k: row[k] for k in ("name", "state", "meta", "created_at", "updated_at")}
        stmt = (
            update(FLOWS)
            .where(FLOWS.c.uuid == uuid, FLOWS.c.book_uuid == book_uuid)
            .values(**changes, version=FLOWS.c.version + 1)
        )
        if expected is not None:
            stmt = stmt.where(FLOWS.c.version == expected)
        if connection.execute(stmt).rowcount == 1:
            found = select(FLOWS.c.version).where(FLOWS.c.uuid == uuid)
            return int(connection.execute(found).scalar_one())
        stored = connection.execute(
            select(FLOWS.c.book_uuid, FLOWS.c.version).where(FLOWS.c.uuid == uuid)
        ).first()
        if stored is not None and stored.book_uuid != book_uuid:
            raise ConflictError(
                f"flow detail {uuid} belongs to logbook {stored.book_uuid}, not {book_uuid}"
            )
        current = 0 if stored is None else stored.version
        if stored is not None or expected not in (None, 0):
            raise ConflictError(
                f"flow detail {uuid} is at version {current}, not the expected {expected}"
            )
        book = connection.execute(select(LOGBOOKS.c.uuid).where(LOGBOOKS.c.uuid == book_uuid))
        if book.first() is None:
            raise NotFoundError(f"logbook {book_uuid} not found")
        connection.execute(insert(FLOWS), [{**row, "version": 1}])
        return 1

    # -- reading -------------------------------------------------------------------------

    def _load_books(self, uuid: str | None, *, with_flows: bool = True) -> list[LogBook]:
        books_query = select(LOGBOOKS).order_by(LOGBOOKS.c.created_at, LOGBOOKS.c.uuid)
        flow_filter: ColumnElement[bool] = true()
        if uuid is not None:
            books_query = books_query.where(LOGBOOKS.c.uuid == uuid)
            flow_filter = FLOWS.c.book_uuid == uuid
        with self._reading() as connection:
            rows: Sequence[Row] = connection.execute(books_query).mappings().all()  # type: ignore[assignment]
            by_book: dict[str, list[FlowDetail]] = defaultdict(list)
            if rows and with_flows:
                for book_uuid, flow in self._query_flows(connection, flow_filter):
                    by_book[book_uuid].append(flow)
        return [book_from_row(row, by_book[row["uuid"]], self.serializer) for row in rows]

    def _load_flows(
        self, *, flow_uuid: str | None = None, book_uuid: str | None = None
    ) -> list[FlowDetail]:
        flow_filter: ColumnElement[bool] = true()
        if flow_uuid is not None:
            flow_filter = FLOWS.c.uuid == flow_uuid
        elif book_uuid is not None:
            flow_filter = FLOWS.c.book_uuid == book_uuid
        with self._reading() as connection:
            return [flow for _, flow in self._query_flows(connection, flow_filter)]

    def _query_flows(
        self, connection: Connection, flow_filter: ColumnElement[bool]
    ) -> list[tuple[str, FlowDetail]]:
        """Flows matching ``flow_filter`` with their atoms, in two queries."""
        flow_rows: Sequence[Row] = (
            connection.execute(  # type: ignore[assignment]
                select(FLOWS).where(flow_filter).order_by(FLOWS.c.created_at, FLOWS.c.uuid)
            )
            .mappings()
            .all()
        )
        if not flow_rows:
            return []
        atoms_query = (
            select(ATOMS)
            .where(ATOMS.c.flow_uuid.in_(select(FLOWS.c.uuid).where(flow_filter)))
            .order_by(ATOMS.c.flow_uuid, ATOMS.c.created_at, ATOMS.c.name)
        )
        atoms_of: dict[str, list[Row]] = defaultdict(list)
        for atom_row in connection.execute(atoms_query).mappings():
            atoms_of[atom_row["flow_uuid"]].append(atom_row)  # type: ignore[arg-type]
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
        conditions = _filter_clauses(where, self.family)
        if after is not None:
            created, uuid = after
            # Spelled so that the created_at bound is a plain index range on every database.
            conditions.append(FLOWS.c.created_at <= created)
            conditions.append(or_(FLOWS.c.created_at < created, FLOWS.c.uuid < uuid))
        columns = [c for c in FLOWS.c if c.name != "meta"]
        query = (
            select(*columns)
            .where(*conditions)
            .order_by(FLOWS.c.created_at.desc(), FLOWS.c.uuid.desc())
            .limit(limit)
        )
        with self._reading() as connection:
            rows = connection.execute(query).mappings().all()
        return [FlowSummary.from_row(row) for row in rows]

    def _count_flow_states(self, where: FlowFilter) -> dict[str, int]:
        self._check_open()
        self._count(loads=1)
        query = (
            select(FLOWS.c.state, func.count().label("n"))
            .where(*_filter_clauses(where, self.family))
            .group_by(FLOWS.c.state)
        )
        with self._reading() as connection:
            return {row.state: int(row.n) for row in connection.execute(query)}

    def _book_of(self, flow_uuid: str) -> str | None:
        with self._reading() as connection:
            found = connection.execute(select(FLOWS.c.book_uuid).where(FLOWS.c.uuid == flow_uuid))
            book_uuid = found.scalar_one_or_none()
        return None if book_uuid is None else str(book_uuid)

    # -- deleting --------------------------------------------------------------------------

    def _delete_book(self, uuid: str) -> None:
        # Children first, explicitly: correct even where foreign keys do not cascade.
        flows = select(FLOWS.c.uuid).where(FLOWS.c.book_uuid == uuid)
        with self._guard(), self.engine.begin() as connection:
            connection.execute(delete(ATOMS).where(ATOMS.c.flow_uuid.in_(flows)))
            connection.execute(delete(FLOWS).where(FLOWS.c.book_uuid == uuid))
            deleted = connection.execute(delete(LOGBOOKS).where(LOGBOOKS.c.uuid == uuid))
            if deleted.rowcount == 0:
                raise NotFoundError(f"logbook {uuid} not found")

    def _delete_flow(self, uuid: str) -> None:
        with self._guard(), self.engine.begin() as connection:
            connection.execute(delete(ATOMS).where(ATOMS.c.flow_uuid == uuid))
            deleted = connection.execute(delete(FLOWS).where(FLOWS.c.uuid == uuid))
            if deleted.rowcount == 0:
                raise NotFoundError(f"flow detail {uuid} not found")

    # -- leases ----------------------------------------------------------------------------

    def _acquire_lease(self, flow_uuid: str, owner: str, ttl: float, epoch: int | None) -> Lease:
        raced: DBAPIError | None = None
        for attempt in range(_ACQUIRE_ATTEMPTS):
            if attempt:
                # Deadlock victims retry apart, or they meet again.
                time.sleep(random.uniform(0.005, 0.05) * attempt)
            with self._guard():
                try:
                    with (
                        self.engine.begin() as connection,
                        self._leases.bounded_lock_wait(connection),
                    ):
                        return self._leases.acquire(connection, flow_uuid, owner, ttl, epoch)
                except DBAPIError as exc:
                    if not is_contention(self.family, exc):
                        raise
                    raced = exc
        # Losing every try of a race means someone else is taking the flow right now.
        holder = self._get_lease(flow_uuid)
        raise locked_error(
            flow_uuid,
            None if holder is None else holder.owner,
            None if holder is None else holder.expires_at,
        ) from raced

    def _renew_lease(self, lease: Lease) -> Lease:
        with self._guard(), self.engine.begin() as connection:
            return self._leases.renew(connection, lease)

    def _release_lease(self, lease: Lease) -> None:
        with self._guard(), self.engine.begin() as connection:
            self._leases.release(connection, lease)

    def _get_lease(self, flow_uuid: str) -> Lease | None:
        with self._reading() as connection:
            return self._leases.get(connection, flow_uuid)

    # -- the rest --------------------------------------------------------------------------

    def _close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()
