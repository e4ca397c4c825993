"""A backend in this process's memory: fast, exact, gone when the process ends.

It is first-class (the contract suite runs against it like any other), and
it stores *serialized rows*, not the objects it was given: that is what makes
it impossible for a caller to change stored state by mutating a result after
saving it, and what makes a value that would fail in SQLite fail here too.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from steadyflow.errors import ConflictError, NotFoundError
from steadyflow.persistence._fencing import locked_error, lost_error, stale_epoch_error
from steadyflow.persistence._rows import (
    atom_from_row,
    atom_sort_key,
    atom_to_row,
    book_from_row,
    book_sort_key,
    book_to_row,
    flow_from_row,
    flow_sort_key,
    flow_to_row,
)
from steadyflow.persistence.base import Backend, Lease
from steadyflow.states import FlowState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from steadyflow.persistence.models import AtomDetail, FlowDetail, LogBook
    from steadyflow.persistence.query import FlowFilter, FlowSummary
    from steadyflow.persistence.serializer import Serializer

__all__ = ["MemoryBackend"]

Row = dict[str, Any]


class MemoryBackend(Backend):
    """Keeps everything in this process; thread-safe.

    Leases live in the backend object like everything else, timed by this
    process's clock: they exclude other holders of this object only, which is
    all a store that lives in one process needs.

    Args:
        serializer: turns values into text; strict JSON by default.
    """

    leases_across_processes = False
    is_durable = False

    def __init__(self, *, serializer: Serializer | None = None) -> None:
        super().__init__(serializer=serializer)
        self._mutex = threading.RLock()
        self._books: dict[str, Row] = {}
        self._flows: dict[str, Row] = {}
        self._atoms: dict[str, dict[str, Row]] = {}
        # flow uuid -> (owner or None when released, epoch, expires_at); never deleted.
        self._leases: dict[str, tuple[str | None, int, float]] = {}

    def __repr__(self) -> str:
        return "MemoryBackend()"

    # -- writing -------------------------------------------------------------------

    def _save_book(self, book: LogBook) -> None:
        book_row = book_to_row(book, self.serializer)
        flows = [self._encode_flow(book.uuid, flow) for flow in book.flows.values()]
        with self._mutex:
            for flow_row, _ in flows:
                self._check_owner(book.uuid, flow_row["uuid"])
            self._books[book.uuid] = book_row
            for flow_row, atom_rows in flows:
                self._put_flow(flow_row, atom_rows)

    def _save_flow(
        self, book_uuid: str, flow: FlowDetail, expected_version: int | None, epoch: int | None
    ) -> int:
        flow_row, atom_rows = self._encode_flow(book_uuid, flow)
        with self._mutex:
            self._check_epoch(flow.uuid, epoch)
            if book_uuid not in self._books:
                raise NotFoundError(f"logbook {book_uuid} not found")
            self._check_owner(book_uuid, flow.uuid)
            stored = self._flows.get(flow.uuid)
            current = 0 if stored is None else stored["version"]
            if expected_version is not None and expected_version != current:
                raise ConflictError(
                    f"flow detail {flow.uuid} is at version {current}, "
                    f"not the expected {expected_version}"
                )
            return self._put_flow(flow_row, atom_rows)

    def _save_atoms(self, flow_uuid: str, atoms: Sequence[AtomDetail], epoch: int | None) -> None:
        rows = [atom_to_row(flow_uuid, atom, self.serializer) for atom in atoms]
        with self._mutex:
            self._check_epoch(flow_uuid, epoch)
            stored = self._atoms.get(flow_uuid)
            if stored is None:
                raise NotFoundError(f"flow detail {flow_uuid} not found")
            stored.update((row["name"], row) for row in rows)

    def _encode_flow(self, book_uuid: str, flow: FlowDetail) -> tuple[Row, list[Row]]:
        atom_rows = [atom_to_row(flow.uuid, a, self.serializer) for a in flow.atoms.values()]
        return flow_to_row(book_uuid, flow, self.serializer), atom_rows

    def _check_owner(self, book_uuid: str, flow_uuid: str) -> None:
        stored = self._flows.get(flow_uuid)
        if stored is not None and stored["book_uuid"] != book_uuid:
            raise ConflictError(
                f"flow detail {flow_uuid} belongs to logbook {stored['book_uuid']}, not {book_uuid}"
            )

    def _put_flow(self, flow_row: Row, atom_rows: list[Row]) -> int:
        uuid = flow_row["uuid"]
        stored = self._flows.get(uuid)
        version = 1 if stored is None else stored["version"] + 1
        self._flows[uuid] = {**flow_row, "version": version}
        atoms = self._atoms.setdefault(uuid, {})
        atoms.update((row["name"], row) for row in atom_rows)
        return version

    # -- reading ---------------------------------------------------------------------

    def _load_books(self, uuid: str | None, *, with_flows: bool = True) -> list[LogBook]:
        with self._mutex:
            if uuid is None:
                rows = list(self._books.values())
            else:
                rows = [self._books[uuid]] if uuid in self._books else []
            books = []
            for row in rows:
                flows = self._load_flows(book_uuid=row["uuid"]) if with_flows else []
                books.append(book_from_row(row, flows, self.serializer))
        return sorted(books, key=book_sort_key)

    def _load_flows(
        self, *, flow_uuid: str | None = None, book_uuid: str | None = None
    ) -> list[FlowDetail]:
        with self._mutex:
            if flow_uuid is not None:
                rows = [self._flows[flow_uuid]] if flow_uuid in self._flows else []
            else:
                rows = [
                    row
                    for row in self._flows.values()
                    if book_uuid is None or row["book_uuid"] == book_uuid
                ]
            pairs = [(row, list(self._atoms[row["uuid"]].values())) for row in rows]
        flows = [self._decode_flow(row, atom_rows) for row, atom_rows in pairs]
        return sorted(flows, key=flow_sort_key)

    def _decode_flow(self, row: Row, atom_rows: list[Row]) -> FlowDetail:
        atoms = sorted((atom_from_row(r, self.serializer) for r in atom_rows), key=atom_sort_key)
        flow = flow_from_row(row, (), self.serializer)
        return flow.with_atoms(*atoms)

    def _matching_rows(self, where: FlowFilter) -> list[Row]:
        with self._mutex:
            rows = list(self._flows.values())
        return [
            row
            for row in rows
            if where.matches(row["uuid"], row["name"], row["state"], row["created_at"])
        ]

    def _list_flow_summaries(
        self, where: FlowFilter, limit: int, after: tuple[float, str] | None
    ) -> list[FlowSummary]:
        from steadyflow.persistence.query import FlowSummary, newest_first

        self._check_open()
        self._count(loads=1)
        # Rows are flat: nothing is decoded but the flows that pass the filter.
        summaries = [
            FlowSummary(
                uuid=row["uuid"],
                book_uuid=row["book_uuid"],
                name=row["name"],
                state=FlowState(row["state"]),
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                version=row["version"],
            )
            for row in self._matching_rows(where)
        ]
        return newest_first(summaries, limit, after)

    def _count_flow_states(self, where: FlowFilter) -> dict[str, int]:
        self._check_open()
        self._count(loads=1)
        counts: dict[str, int] = {}
        for row in self._matching_rows(where):
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        return counts

    def _book_of(self, flow_uuid: str) -> str | None:
        with self._mutex:
            row = self._flows.get(flow_uuid)
        return None if row is None else str(row["book_uuid"])

    # -- deleting ----------------------------------------------------------------------

    def _delete_book(self, uuid: str) -> None:
        with self._mutex:
            if self._books.pop(uuid, None) is None:
                raise NotFoundError(f"logbook {uuid} not found")
            for flow_uuid in [u for u, row in self._flows.items() if row["book_uuid"] == uuid]:
                del self._flows[flow_uuid]
                del self._atoms[flow_uuid]

    def _delete_flow(self, uuid: str) -> None:
        with self._mutex:
            if self._flows.pop(uuid, None) is None:
                raise NotFoundError(f"flow detail {uuid} not found")
            del self._atoms[uuid]

    # -- leases ------------------------------------------------------------------------

    def _acquire_lease(self, flow_uuid: str, owner: str, ttl: float, epoch: int | None) -> Lease:
        with self._mutex:
            now = time.time()
            holder, stored, expires_at = self._leases.get(flow_uuid, (None, 0, 0.0))
            if epoch is None:
                if holder is not None and expires_at > now:
                    raise locked_error(flow_uuid, holder, expires_at)
                epoch = stored + 1
            elif epoch <= stored:
                raise stale_epoch_error(flow_uuid, epoch, stored, holder, expires_at)
            lease = Lease(flow_uuid, owner, epoch, ttl, now + ttl)
            self._leases[flow_uuid] = (owner, epoch, lease.expires_at)
        return lease

    def _renew_lease(self, lease: Lease) -> Lease:
        with self._mutex:
            if not self._is_current(lease.flow_uuid, lease.epoch):
                raise lost_error(lease.flow_uuid, lease.epoch)
            renewed = lease.renewed(time.time() + lease.ttl)
            self._leases[lease.flow_uuid] = (lease.owner, lease.epoch, renewed.expires_at)
        return renewed

    def _release_lease(self, lease: Lease) -> None:
        with self._mutex:
            if self._is_current(lease.flow_uuid, lease.epoch):
                self._leases[lease.flow_uuid] = (None, lease.epoch, 0.0)

    def _get_lease(self, flow_uuid: str) -> Lease | None:
        with self._mutex:
            now = time.time()
            holder, epoch, expires_at = self._leases.get(flow_uuid, (None, 0, 0.0))
        if holder is None or expires_at <= now:
            return None
        return Lease(flow_uuid, holder, epoch, expires_at - now, expires_at)

    def _is_current(self, flow_uuid: str, epoch: int) -> bool:
        holder, stored, _ = self._leases.get(flow_uuid, (None, 0, 0.0))
        return holder is not None and stored == epoch

    def _check_epoch(self, flow_uuid: str, epoch: int | None) -> None:
        """The fence: called under the mutex, in the same critical section as the write."""
        if epoch is not None and not self._is_current(flow_uuid, epoch):
            raise lost_error(flow_uuid, epoch)

    # -- the rest ----------------------------------------------------------------------

    def _close(self) -> None:
        with self._mutex:
            self._books.clear()
            self._flows.clear()
            self._atoms.clear()
            self._leases.clear()
