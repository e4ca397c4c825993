"""The persistence interface every backend implements: :class:`Backend`.

The public methods are concrete and hold the contract (argument checks,
ordering, counters, closed-state checks); each backend implements a handful
of ``_``-prefixed primitives that only move records. Writing a backend means
implementing those primitives and passing ``tests/contract``.
"""

from __future__ import annotations

import abc
import threading
import time
from typing import TYPE_CHECKING, ClassVar, Self

from steadyflow.errors import NotFoundError, PersistenceError
from steadyflow.persistence.serializer import JSONSerializer, Serializer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from steadyflow.persistence.models import AtomDetail, FlowDetail, LogBook
    from steadyflow.persistence.query import FlowFilter, FlowSummary

__all__ = ["Backend", "BackendStatistics", "Lease"]


# Lease and BackendStatistics are plain slotted classes rather than dataclasses:
# importing dataclasses (and the inspect module it pulls in) would cost a
# short-lived process that only opens a store about a third of its start-up.


class _Record:
    """Immutable, compared and hashed by its :attr:`_fields`, in constructor order."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[type[_Record], tuple[object, ...]]:
        return (type(self), self._values())


class Lease(_Record):
    """The right to run one flow, and to write its state, until it expires.

    A lease is kept in the backend itself, so it outlives nothing but its
    expiry: a holder that is killed, paused or cut off is taken over once
    :attr:`expires_at` passes without a renewal. Every acquisition makes a
    new, larger :attr:`epoch`; writes made with a lease carry its epoch, and
    the store refuses them (:class:`~steadyflow.errors.LeaseLostError`) once
    someone has acquired a newer one. That is what makes a zombie holder
    harmless: nothing it writes after losing the lease becomes visible.

    Attributes:
        flow_uuid: the flow detail the lease is for (it need not be stored yet).
        owner: who holds it: a random id per process (see
            :func:`steadyflow.persistence.leases.process_owner`), never a host name.
        epoch: the fencing token: grows on every acquisition of this flow.
        ttl: seconds a renewal extends the lease by.
        expires_at: seconds since the epoch, on the store's clock (the
            database server's where there is one), when the lease runs out.
    """

    __slots__ = ("epoch", "expires_at", "flow_uuid", "owner", "ttl")
    _fields = ("flow_uuid", "owner", "epoch", "ttl", "expires_at")

    flow_uuid: str
    owner: str
    epoch: int
    ttl: float
    expires_at: float

    def __init__(
        self, flow_uuid: str, owner: str, epoch: int, ttl: float, expires_at: float
    ) -> None:
        put = object.__setattr__
        put(self, "flow_uuid", flow_uuid)
        put(self, "owner", owner)
        put(self, "epoch", epoch)
        put(self, "ttl", ttl)
        put(self, "expires_at", expires_at)

    def renewed(self, expires_at: float) -> Lease:
        """This lease with a new expiry (what a renewal returns)."""
        return Lease(self.flow_uuid, self.owner, self.epoch, self.ttl, expires_at)


class BackendStatistics(_Record):
    """Counters of what one backend object has done since it was opened.

    Attributes:
        atom_batches: calls of :meth:`Backend.save_atom_details`.
        atoms_saved: atom details written by those calls.
        atom_batch_seconds: wall time spent in those calls.
        flow_saves: flow rows written (by any save method).
        loads: calls of the ``get_*`` and ``list_*`` methods.
    """

    __slots__ = ("atom_batch_seconds", "atom_batches", "atoms_saved", "flow_saves", "loads")
    _fields = ("atom_batches", "atoms_saved", "atom_batch_seconds", "flow_saves", "loads")

    atom_batches: int
    atoms_saved: int
    atom_batch_seconds: float
    flow_saves: int
    loads: int

    def __init__(
        self,
        atom_batches: int = 0,
        atoms_saved: int = 0,
        atom_batch_seconds: float = 0.0,
        flow_saves: int = 0,
        loads: int = 0,
    ) -> None:
        put = object.__setattr__
        put(self, "atom_batches", atom_batches)
        put(self, "atoms_saved", atoms_saved)
        put(self, "atom_batch_seconds", atom_batch_seconds)
        put(self, "flow_saves", flow_saves)
        put(self, "loads", loads)


class Backend(abc.ABC):
    """Where logbooks, flow details and atom details are kept.

    All methods are thread-safe. Records go in and come out as frozen
    :mod:`~steadyflow.persistence.models` objects; what is stored is a copy,
    so nothing a caller does to its objects changes the store. Values
    (results, meta, history) go through :attr:`serializer`.

    Saves *merge*: saving a logbook or flow never deletes flows or atoms
    that are stored but absent from the object saved; delete them explicitly.
    Timestamps are stored as given (the caller owns them).

    Args:
        serializer: turns values into text; strict JSON by default.
    """

    leases_across_processes: ClassVar[bool] = True
    """Whether a lease excludes other processes, not just other holders in this one."""
    is_durable: ClassVar[bool] = True
    """Whether saved records survive the process ending."""

    def __init__(self, *, serializer: Serializer | None = None) -> None:
        self.serializer: Serializer = serializer if serializer is not None else JSONSerializer()
        self._closed = False
        self._stats_mutex = threading.Lock()
        self._counters: dict[str, float] = dict.fromkeys(BackendStatistics.__slots__, 0.0)

    @classmethod
    def from_url(cls, url: str, **options: object) -> Self:
        """Open the backend ``url`` names; it must be of this class.

        Raises:
            InvalidURLError: the URL does not parse, or names another backend.
        """
        from steadyflow.persistence._urls import open_url

        return open_url(url, expect=cls, **options)

    # -- logbooks ------------------------------------------------------------------

    def save_logbook(self, book: LogBook) -> None:
        """Create or update ``book`` and every flow and atom detail in it.

        Memory and SQL backends write it in one transaction; the directory
        backend writes each file atomically but not the set of them.

        Every flow row written has its version bumped (the returned-less
        objects you hold become stale: reload to keep using expected versions).

        Raises:
            ConflictError: one of the flows belongs to another logbook.
            ResultSerializationError: a value cannot be serialized.
        """
        self._check_open()
        self._save_book(book)
        self._count(flow_saves=len(book.flows))

    def get_logbook(self, uuid: str) -> LogBook:
        """The logbook ``uuid`` with all its flows and their atoms.

        Raises:
            NotFoundError: no such logbook.
            CorruptRecordError: a stored record cannot be decoded.
        """
        self._check_open()
        self._count(loads=1)
        books = self._load_books(uuid)
        if not books:
            raise NotFoundError(f"logbook {uuid} not found")
        return books[0]

    def list_logbooks(self) -> list[LogBook]:
        """Every logbook (with flows and atoms), oldest ``created_at`` first, ties by uuid."""
        self._check_open()
        self._count(loads=1)
        return self._load_books(None)

    def delete_logbook(self, uuid: str) -> None:
        """Delete logbook ``uuid`` with its flows and their atoms.

        Raises:
            NotFoundError: no such logbook.
        """
        self._check_open()
        self._delete_book(uuid)

    # -- flow details ----------------------------------------------------------------

    def save_flow_detail(
        self,
        book_uuid: str,
        flow: FlowDetail,
        *,
        expected_version: int | None = None,
        epoch: int | None = None,
    ) -> FlowDetail:
        """Create or update ``flow`` (its row and its atoms) in logbook ``book_uuid``.

        Args:
            book_uuid: the logbook the flow belongs to; it must exist.
            flow: the flow detail; its own ``version`` is ignored.
            expected_version: when given, the save succeeds only if the stored
                version equals it (0 meaning "not stored yet"): an optimistic
                check against concurrent writers.
            epoch: when given, a fenced write: it succeeds only while ``epoch``
                is the epoch of the flow's current lease (and that lease has
                not been released), checked in the same transaction.

        Returns:
            ``flow`` with its ``version`` set to the new stored version.

        Raises:
            NotFoundError: no logbook ``book_uuid``.
            ConflictError: the stored version differs from ``expected_version``,
                or the flow belongs to another logbook.
            LeaseLostError: ``epoch`` is not the current lease's (nothing saved).
            ResultSerializationError: a value cannot be serialized.
        """
        from dataclasses import replace  # loaded with the models already; not at import

        self._check_open()
        version = self._save_flow(book_uuid, flow, expected_version, epoch)
        self._count(flow_saves=1)
        return replace(flow, version=version)

    def get_flow_detail(self, uuid: str) -> FlowDetail:
        """The flow detail ``uuid`` with its atoms.

        Raises:
            NotFoundError: no such flow detail.
            CorruptRecordError: its row or one of its atoms cannot be decoded.
        """
        self._check_open()
        self._count(loads=1)
        flows = self._load_flows(flow_uuid=uuid)
        if not flows:
            raise NotFoundError(f"flow detail {uuid} not found")
        return flows[0]

    def list_flow_details(self, book_uuid: str | None = None) -> list[FlowDetail]:
        """Flow details (with atoms) of one logbook, or of all; oldest first, ties by uuid.

        Raises:
            NotFoundError: ``book_uuid`` is given and no such logbook exists.
        """
        self._check_open()
        self._count(loads=1)
        if book_uuid is not None:
            self._book_exists_or_raise(book_uuid)
        return self._load_flows(book_uuid=book_uuid)

    def delete_flow_detail(self, uuid: str) -> None:
        """Delete flow detail ``uuid`` and its atoms.

        Raises:
            NotFoundError: no such flow detail.
        """
        self._check_open()
        self._delete_flow(uuid)

    def find_book_of(self, flow_uuid: str) -> str:
        """The uuid of the logbook flow detail ``flow_uuid`` belongs to.

        Raises:
            NotFoundError: no such flow detail.
        """
        self._check_open()
        book_uuid = self._book_of(flow_uuid)
        if book_uuid is None:
            raise NotFoundError(f"flow detail {flow_uuid} not found")
        return book_uuid

    # -- atom details ------------------------------------------------------------------

    def save_atom_details(
        self, flow_uuid: str, atoms: Sequence[AtomDetail], *, epoch: int | None = None
    ) -> None:
        """Create or update ``atoms`` of flow ``flow_uuid`` in one atomic write.

        This is the engine's hot path (one call per scheduling round): either
        the whole batch is durable when this returns, or none of it is stored.
        The flow row and its version are not touched. Atoms are keyed by name;
        two atoms of one name in a batch: the last wins.

        With ``epoch``, the write is fenced as in :meth:`save_flow_detail`:
        checked against the flow's lease in the same transaction, with no
        extra round trip per atom.

        Raises:
            NotFoundError: no flow detail ``flow_uuid``.
            LeaseLostError: ``epoch`` is not the current lease's (nothing saved).
            ResultSerializationError: a value cannot be serialized (nothing saved).
        """
        self._check_open()
        if not atoms:
            return
        started = time.perf_counter()
        self._save_atoms(flow_uuid, atoms, epoch)
        elapsed = time.perf_counter() - started
        self._count(atom_batches=1, atoms_saved=len(atoms), atom_batch_seconds=elapsed)

    def get_atom_details(self, flow_uuid: str) -> dict[str, AtomDetail]:
        """Atom name -> atom detail for flow ``flow_uuid`` (oldest first, ties by name).

        Raises:
            NotFoundError: no such flow detail.
        """
        return dict(self.get_flow_detail(flow_uuid).atoms)

    # -- running -----------------------------------------------------------------------

    def acquire_lease(
        self, flow_uuid: str, owner: str, ttl: float, *, epoch: int | None = None
    ) -> Lease:
        """Take the lease on ``flow_uuid`` for ``ttl`` seconds, without waiting.

        It succeeds when nobody holds the flow: no lease yet, a released one,
        or one whose expiry has passed on the store's clock. A live lease is
        never taken, not even by its own owner. Each success stores an epoch
        larger than any before it for this flow.

        Args:
            flow_uuid: the flow detail (it need not be stored yet).
            owner: the taker's id (a random id per process, see
                :func:`steadyflow.persistence.leases.process_owner`).
            ttl: seconds until the lease expires unless renewed (> 0).
            epoch: an externally issued fencing token (a job claim's epoch):
                the lease is taken with exactly this epoch, even from a live
                holder, provided it is larger than the stored epoch.

        Raises:
            FlowLockedError: someone holds a live lease (it carries the holder and
                its expiry), or ``epoch`` is not larger than the stored one.
            ValueError: ``ttl`` is not a positive number, or ``owner`` is empty.
        """
        self._check_open()
        if not isinstance(owner, str) or not owner:
            raise ValueError(f"a lease owner must be a non-empty string, not {owner!r}")
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ValueError(f"a lease ttl must be a positive number of seconds, not {ttl!r}")
        if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
            raise ValueError(f"a lease epoch must be an int, not {epoch!r}")
        return self._acquire_lease(flow_uuid, owner, float(ttl), epoch)

    def renew_lease(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its ttl from now (the store's clock).

        A lease that expired but that nobody took over since is renewed too:
        its epoch still fences every other writer out.

        Raises:
            LeaseLostError: the lease was released, or someone acquired a newer one.
        """
        self._check_open()
        return self._renew_lease(lease)

    def release_lease(self, lease: Lease) -> None:
        """Give ``lease`` up; does nothing when it is no longer the current lease."""
        self._check_open()
        self._release_lease(lease)

    def get_lease(self, flow_uuid: str) -> Lease | None:
        """The live lease on ``flow_uuid``, or None when nobody holds it now.

        Its ``ttl`` is the time it has left: the store keeps when a lease
        expires, not the ttl its holder chose.
        """
        self._check_open()
        return self._get_lease(flow_uuid)

    # -- life cycle ----------------------------------------------------------------------

    def upgrade(self) -> None:
        """Bring the store's schema up to date; backends call it when opened.

        Raises:
            SchemaVersionError: the store is newer than this code.
        """
        # Schemaless stores (memory) have nothing to migrate.
        return

    def statistics(self) -> BackendStatistics:
        """What this backend object has done since it was opened (cheap)."""
        with self._stats_mutex:
            counters = dict(self._counters)
        return BackendStatistics(
            atom_batches=int(counters["atom_batches"]),
            atoms_saved=int(counters["atoms_saved"]),
            atom_batch_seconds=counters["atom_batch_seconds"],
            flow_saves=int(counters["flow_saves"]),
            loads=int(counters["loads"]),
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Release connections; further use raises. Idempotent.

        Leases are not released: a lease outlives its holder's connections
        until it expires, which is what makes it safe against a holder that
        only lost its connection.
        """
        if self._closed:
            return
        self._closed = True
        self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers for subclasses ---------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise PersistenceError(f"{type(self).__name__} is closed")

    def _count(self, **increments: float) -> None:
        with self._stats_mutex:
            counters = self._counters
            for name, value in increments.items():
                counters[name] += value

    def _book_exists_or_raise(self, book_uuid: str) -> None:
        if not self._load_books(book_uuid, with_flows=False):
            raise NotFoundError(f"logbook {book_uuid} not found")

    # -- queries (steadyflow.persistence.query); override for an efficient one -----------

    def _list_flow_summaries(
        self, where: FlowFilter, limit: int, after: tuple[float, str] | None
    ) -> list[FlowSummary]:
        """Up to ``limit`` flows matching ``where``, strictly after ``after``, newest first.

        The order is ``(created_at, uuid)`` descending; ``after`` is a
        position in it. This fallback reads every flow with its atoms.
        """
        from steadyflow.persistence.query import scan_summaries

        self._check_open()
        self._count(loads=1)
        return scan_summaries(self, where, limit, after)

    def _count_flow_states(self, where: FlowFilter) -> dict[str, int]:
        """State value -> how many flows matching ``where`` are in it (absent: none).

        This fallback reads every flow with its atoms.
        """
        from steadyflow.persistence.query import scan_counts

        self._check_open()
        self._count(loads=1)
        return scan_counts(self, where)

    # -- primitives each backend implements ----------------------------------------------

    @abc.abstractmethod
    def _save_book(self, book: LogBook) -> None:
        """Upsert the book row, its flow rows (bumping versions) and atoms, atomically."""

    @abc.abstractmethod
    def _load_books(self, uuid: str | None, *, with_flows: bool = True) -> list[LogBook]:
        """Book ``uuid`` (a list of 0 or 1), or all books, in listing order."""

    @abc.abstractmethod
    def _delete_book(self, uuid: str) -> None:
        """Delete a book and everything in it; NotFoundError when absent."""

    @abc.abstractmethod
    def _save_flow(
        self,
        book_uuid: str,
        flow: FlowDetail,
        expected_version: int | None,
        epoch: int | None,
    ) -> int:
        """Upsert the flow row and its atoms atomically (fenced by ``epoch``); the new version."""

    @abc.abstractmethod
    def _load_flows(
        self, *, flow_uuid: str | None = None, book_uuid: str | None = None
    ) -> list[FlowDetail]:
        """Flows with atoms: one by uuid, those of a book, or all; in listing order."""

    @abc.abstractmethod
    def _delete_flow(self, uuid: str) -> None:
        """Delete a flow and its atoms; NotFoundError when absent."""

    @abc.abstractmethod
    def _book_of(self, flow_uuid: str) -> str | None:
        """The uuid of the flow's book, or None when the flow does not exist."""

    @abc.abstractmethod
    def _save_atoms(self, flow_uuid: str, atoms: Sequence[AtomDetail], epoch: int | None) -> None:
        """Upsert a non-empty batch of atoms in one transaction (fenced by ``epoch``)."""

    @abc.abstractmethod
    def _acquire_lease(self, flow_uuid: str, owner: str, ttl: float, epoch: int | None) -> Lease:
        """Take the lease atomically (see :meth:`acquire_lease`) or raise FlowLockedError."""

    @abc.abstractmethod
    def _renew_lease(self, lease: Lease) -> Lease:
        """Extend the lease if its epoch is current and not released, else LeaseLostError."""

    @abc.abstractmethod
    def _release_lease(self, lease: Lease) -> None:
        """Mark the lease released if its epoch is current (keep the epoch: it only grows)."""

    @abc.abstractmethod
    def _get_lease(self, flow_uuid: str) -> Lease | None:
        """The current lease unless released or expired."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the backend's own resources; called once."""
