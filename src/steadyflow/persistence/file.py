"""A backend in a directory of JSON files: no server, no dependency, readable.

Layout (one file per logbook and one per flow detail, atoms inside it)::

    <root>/steadyflow.json                  store format marker
    <root>/books/<book>/book.json           the logbook row
    <root>/books/<book>/flows/<flow>.json   a flow detail with all its atoms
    <root>/leases/<flow>.json               a flow's lease (kept when the flow is deleted)
    <root>/.write.lock                      serializes writers (flock, bounded wait)

One file per flow makes a batch of atoms atomic (one rename) at the cost of
rewriting the flow's file per batch: fine for flows of hundreds of atoms,
use SQLite beyond. A corrupt file only breaks the records in it.

Leases are read-modify-written under the write lock, and a fenced write
checks the lease under the same hold of the lock as the write itself, so a
takeover and a stale holder's write can never interleave. Expiry is on the
host's clock (the store is shared by processes of one host only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steadyflow.errors import (
    ConflictError,
    CorruptRecordError,
    NotFoundError,
    PersistenceError,
    ResultSerializationError,
    SchemaVersionError,
)
from steadyflow.persistence._fencing import locked_error, lost_error, stale_epoch_error
from steadyflow.persistence._files import (
    DEFAULT_LOCK_TIMEOUT,
    WriteLock,
    fsync_dir,
    make_dirs,
    write_atomic,
)
from steadyflow.persistence._rows import book_sort_key, flow_sort_key
from steadyflow.persistence.base import Backend, Lease
from steadyflow.persistence.models import AtomDetail, FlowDetail, LogBook, is_valid_id
from steadyflow.states import FlowState

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from steadyflow.persistence.query import FlowFilter, FlowSummary
    from steadyflow.persistence.serializer import Serializer

__all__ = ["DirectoryBackend"]

STORE_FORMAT = 1
"""The directory layout this code writes; a newer one is refused."""

_MARKER = "steadyflow.json"


class DirectoryBackend(Backend):
    """Keeps everything as JSON files under ``path`` (created when missing).

    Args:
        path: the store's root directory.
        serializer: turns records into text; strict JSON by default.
        durable: fsync every write (default). Turn off only for throwaway
            stores such as tests: a crash may then lose recent writes.
        lock_timeout: seconds a write waits for the store's write lock before
            :class:`~steadyflow.errors.BackendUnavailableError`.

    Raises:
        SchemaVersionError: the directory was written by a newer steadyflow.
        PersistenceError: the directory cannot be created or read.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        serializer: Serializer | None = None,
        durable: bool = True,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        super().__init__(serializer=serializer)
        self.path = Path(path).absolute()
        self._durable = durable
        self._books_dir = self.path / "books"
        self._leases_dir = self.path / "leases"
        self._write_lock = WriteLock(self.path / ".write.lock", timeout=lock_timeout)
        self._owners: dict[str, str] = {}
        try:
            self.upgrade()
        except BaseException:
            self._write_lock.close()
            raise

    def __repr__(self) -> str:
        return f"DirectoryBackend({str(self.path)!r})"

    def upgrade(self) -> None:
        """Create the store's layout, or check an existing one is readable.

        Raises:
            SchemaVersionError: the store's format is newer than this code.
        """
        marker = self.path / _MARKER
        try:
            make_dirs(self._books_dir)
            make_dirs(self._leases_dir)
            with self._write_lock.held():
                if not marker.exists():
                    doc = {"store": "steadyflow-directory", "format": STORE_FORMAT}
                    self._write(marker, doc)
        except OSError as exc:
            raise PersistenceError(f"cannot create store in {self.path}: {exc}") from exc
        found = self._read(marker).get("format")
        if not isinstance(found, int):
            raise CorruptRecordError(f"{marker}: no store format")
        if found > STORE_FORMAT:
            raise SchemaVersionError(
                f"{self.path} has store format {found}, newer than the {STORE_FORMAT} "
                "this steadyflow understands; upgrade steadyflow (stores are never downgraded)"
            )

    # -- paths and files ----------------------------------------------------------------

    def _book_file(self, book_uuid: str) -> Path:
        return self._books_dir / book_uuid / "book.json"

    def _flow_file(self, book_uuid: str, flow_uuid: str) -> Path:
        return self._books_dir / book_uuid / "flows" / f"{flow_uuid}.json"

    def _write(self, path: Path, doc: Mapping[str, Any]) -> None:
        write_atomic(path, self.serializer.dumps(doc), durable=self._durable)

    def _read(self, path: Path) -> dict[str, Any]:
        """Read a JSON document; CorruptRecordError names the file when it is bad."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptRecordError(f"{path}: cannot read ({exc})") from exc
        try:
            doc = self.serializer.loads(text)
        except Exception as exc:
            raise CorruptRecordError(f"{path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise CorruptRecordError(f"{path}: expected a JSON object")
        return doc

    def _read_flow_doc(self, book_uuid: str, flow_uuid: str) -> dict[str, Any] | None:
        try:
            return self._read(self._flow_file(book_uuid, flow_uuid))
        except FileNotFoundError:
            return None

    def _decode_flow(self, path: Path, doc: Mapping[str, Any]) -> FlowDetail:
        try:
            flow = FlowDetail.from_dict(doc)
        except CorruptRecordError as exc:
            raise CorruptRecordError(f"{path}: {exc}") from exc
        atoms = sorted(flow.atoms.values(), key=lambda a: (a.created_at, a.name))
        return FlowDetail(
            uuid=flow.uuid,
            name=flow.name,
            state=flow.state,
            meta=flow.meta,
            atoms={atom.name: atom for atom in atoms},
            version=flow.version,
            created_at=flow.created_at,
            updated_at=flow.updated_at,
        )

    # -- writing ---------------------------------------------------------------------------

    def _save_book(self, book: LogBook) -> None:
        book_doc = book.to_dict(flows=False)
        flow_docs = [self._flow_doc(book.uuid, flow) for flow in book.flows.values()]
        self.serializer.dumps(book_doc)
        with self._write_lock.held():
            for flow in book.flows.values():
                self._check_owner(book.uuid, flow.uuid)
            make_dirs(self._book_file(book.uuid).parent / "flows")
            self._write(self._book_file(book.uuid), book_doc)
            for doc in flow_docs:
                self._put_flow(book.uuid, doc, expected_version=None)

    def _save_flow(
        self, book_uuid: str, flow: FlowDetail, expected_version: int | None, epoch: int | None
    ) -> int:
        doc = self._flow_doc(book_uuid, flow)
        with self._write_lock.held():
            self._check_epoch(flow.uuid, epoch)
            if not is_valid_id(book_uuid) or not self._book_file(book_uuid).exists():
                raise NotFoundError(f"logbook {book_uuid} not found")
            self._check_owner(book_uuid, flow.uuid)
            return self._put_flow(book_uuid, doc, expected_version)

    def _save_atoms(self, flow_uuid: str, atoms: Sequence[AtomDetail], epoch: int | None) -> None:
        docs = {atom.name: atom.to_dict() for atom in atoms}
        # Serialize up front so an unserializable value names its atom and writes nothing.
        for name, atom_doc in docs.items():
            self._check_serializable(flow_uuid, name, atom_doc)
        with self._write_lock.held():
            self._check_epoch(flow_uuid, epoch)
            book_uuid = self._book_of(flow_uuid)
            stored = None if book_uuid is None else self._read_flow_doc(book_uuid, flow_uuid)
            if book_uuid is None or stored is None:
                raise NotFoundError(f"flow detail {flow_uuid} not found")
            stored.setdefault("atoms", {}).update(docs)
            self._write(self._flow_file(book_uuid, flow_uuid), stored)

    def _flow_doc(self, book_uuid: str, flow: FlowDetail) -> dict[str, Any]:
        doc = flow.to_dict()
        for name, atom_doc in doc["atoms"].items():
            self._check_serializable(flow.uuid, name, atom_doc)
        self.serializer.dumps(doc["meta"])
        doc["book_uuid"] = book_uuid
        return doc

    def _check_serializable(self, flow_uuid: str, name: str, atom_doc: Any) -> None:
        try:
            self.serializer.dumps(atom_doc)
        except ResultSerializationError as exc:
            raise ResultSerializationError(f"atom {name!r} of flow {flow_uuid}: {exc}") from exc

    def _check_owner(self, book_uuid: str, flow_uuid: str) -> None:
        owner = self._book_of(flow_uuid)
        if owner is not None and owner != book_uuid:
            raise ConflictError(
                f"flow detail {flow_uuid} belongs to logbook {owner}, not {book_uuid}"
            )

    def _put_flow(self, book_uuid: str, doc: dict[str, Any], expected_version: int | None) -> int:
        path = self._flow_file(book_uuid, doc["uuid"])
        stored = self._read_flow_doc(book_uuid, doc["uuid"])
        current = 0 if stored is None else int(stored.get("version", 0))
        if expected_version is not None and expected_version != current:
            raise ConflictError(
                f"flow detail {doc['uuid']} is at version {current}, "
                f"not the expected {expected_version}"
            )
        if stored is not None:
            doc["atoms"] = {**stored.get("atoms", {}), **doc["atoms"]}
        doc["version"] = current + 1
        self._write(path, doc)
        return current + 1

    # -- reading -------------------------------------------------------------------------

    def _book_uuids(self) -> list[str]:
        try:
            entries = os.listdir(self._books_dir)
        except FileNotFoundError:
            return []
        return [name for name in entries if is_valid_id(name)]

    def _load_books(self, uuid: str | None, *, with_flows: bool = True) -> list[LogBook]:
        if uuid is not None and not is_valid_id(uuid):
            return []
        books = []
        for book_uuid in [uuid] if uuid is not None else self._book_uuids():
            path = self._book_file(book_uuid)
            try:
                doc = self._read(path)
            except FileNotFoundError:
                continue
            try:
                book = LogBook.from_dict(doc)
            except CorruptRecordError as exc:
                raise CorruptRecordError(f"{path}: {exc}") from exc
            if with_flows:
                book = book.with_flows(*self._load_flows(book_uuid=book_uuid))
            books.append(book)
        return sorted(books, key=book_sort_key)

    def _load_flows(
        self, *, flow_uuid: str | None = None, book_uuid: str | None = None
    ) -> list[FlowDetail]:
        if flow_uuid is not None:
            found = self._book_of(flow_uuid)
            pairs = [] if found is None else [(found, flow_uuid)]
        else:
            books = [book_uuid] if book_uuid is not None else self._book_uuids()
            pairs = [(b, f) for b in books for f in self._flow_uuids(b)]
        flows = []
        for book, flow in pairs:
            doc = self._read_flow_doc(book, flow)
            if doc is not None:
                flows.append(self._decode_flow(self._flow_file(book, flow), doc))
        return sorted(flows, key=flow_sort_key)

    def _flow_rows(self, where: FlowFilter) -> list[tuple[str, dict[str, Any]]]:
        """(book uuid, flow document) of every flow matching ``where``: one file read each."""
        found = []
        for book_uuid in self._book_uuids():
            for flow_uuid in self._flow_uuids(book_uuid):
                if where.id_prefix is not None and not flow_uuid.startswith(where.id_prefix):
                    continue  # the file name is the id: no need to read it
                path = self._flow_file(book_uuid, flow_uuid)
                doc = self._read_flow_doc(book_uuid, flow_uuid)
                if doc is None:
                    continue
                try:
                    keep = where.matches(
                        str(doc["uuid"]), str(doc["name"]), str(doc["state"]), doc["created_at"]
                    )
                except (KeyError, TypeError) as exc:
                    raise CorruptRecordError(f"{path}: not a flow record ({exc})") from exc
                if keep:
                    found.append((book_uuid, doc))
        return found

    def _list_flow_summaries(
        self, where: FlowFilter, limit: int, after: tuple[float, str] | None
    ) -> list[FlowSummary]:
        from steadyflow.persistence.query import FlowSummary, newest_first

        self._check_open()
        self._count(loads=1)
        summaries = []
        for book_uuid, doc in self._flow_rows(where):
            try:
                summaries.append(
                    FlowSummary(
                        uuid=str(doc["uuid"]),
                        book_uuid=book_uuid,
                        name=str(doc["name"]),
                        state=FlowState(doc["state"]),
                        created_at=float(doc["created_at"]),
                        updated_at=float(doc["updated_at"]),
                        version=int(doc["version"]),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                path = self._flow_file(book_uuid, str(doc.get("uuid")))
                raise CorruptRecordError(f"{path}: not a flow record ({exc})") from exc
        return newest_first(summaries, limit, after)

    def _count_flow_states(self, where: FlowFilter) -> dict[str, int]:
        self._check_open()
        self._count(loads=1)
        counts: dict[str, int] = {}
        for _, doc in self._flow_rows(where):
            state = str(doc["state"])
            counts[state] = counts.get(state, 0) + 1
        return counts

    def _flow_uuids(self, book_uuid: str) -> list[str]:
        try:
            names = os.listdir(self._books_dir / book_uuid / "flows")
        except FileNotFoundError:
            return []
        return [n[:-5] for n in names if n.endswith(".json") and is_valid_id(n[:-5])]

    def _book_of(self, flow_uuid: str) -> str | None:
        if not is_valid_id(flow_uuid):
            return None
        # The cache saves a scan of every logbook per atom batch; the file is the truth.
        cached = self._owners.get(flow_uuid)
        if cached is not None and self._flow_file(cached, flow_uuid).exists():
            return cached
        for book_uuid in self._book_uuids():
            if self._flow_file(book_uuid, flow_uuid).exists():
                self._owners[flow_uuid] = book_uuid
                return book_uuid
        self._owners.pop(flow_uuid, None)
        return None

    # -- deleting ------------------------------------------------------------------------

    def _delete_book(self, uuid: str) -> None:
        with self._write_lock.held():
            if not is_valid_id(uuid) or not self._book_file(uuid).exists():
                raise NotFoundError(f"logbook {uuid} not found")
            # Rename first (atomic), so a crash never leaves half a logbook visible.
            trash = self.path / f".trash-{uuid}-{os.getpid()}"
            os.replace(self._books_dir / uuid, trash)
            fsync_dir(self._books_dir)
            shutil.rmtree(trash, ignore_errors=True)

    def _delete_flow(self, uuid: str) -> None:
        with self._write_lock.held():
            book_uuid = self._book_of(uuid)
            if book_uuid is None:
                raise NotFoundError(f"flow detail {uuid} not found")
            path = self._flow_file(book_uuid, uuid)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            fsync_dir(path.parent)

    # -- leases ---------------------------------------------------------------------------

    def _lease_file(self, flow_uuid: str) -> Path:
        if not is_valid_id(flow_uuid):
            raise ValueError(f"invalid flow detail uuid {flow_uuid!r}")
        return self._leases_dir / f"{flow_uuid}.json"

    def _read_lease(self, flow_uuid: str) -> tuple[str | None, int, float]:
        """(owner or None when released, epoch, expires_at); call under the write lock."""
        path = self._lease_file(flow_uuid)
        try:
            doc = self._read(path)
        except FileNotFoundError:
            return None, 0, 0.0
        owner, epoch, expires_at = doc.get("owner"), doc.get("epoch"), doc.get("expires_at")
        if (
            not (owner is None or isinstance(owner, str))
            or isinstance(epoch, bool)
            or not isinstance(epoch, int)
            or not isinstance(expires_at, int | float)
        ):
            raise CorruptRecordError(f"{path}: not a lease record")
        return owner, epoch, float(expires_at)

    def _write_lease(
        self, flow_uuid: str, owner: str | None, epoch: int, expires_at: float
    ) -> None:
        doc = {"flow_uuid": flow_uuid, "owner": owner, "epoch": epoch, "expires_at": expires_at}
        # Always durable: a lease forgotten by a crash would let two runners in.
        write_atomic(self._lease_file(flow_uuid), self.serializer.dumps(doc))

    def _acquire_lease(self, flow_uuid: str, owner: str, ttl: float, epoch: int | None) -> Lease:
        self._lease_file(flow_uuid)  # refuse a bad id before taking the lock
        with self._write_lock.held():
            now = time.time()
            holder, stored, expires_at = self._read_lease(flow_uuid)
            if epoch is None:
                if holder is not None and expires_at > now:
                    raise locked_error(flow_uuid, holder, expires_at)
                epoch = stored + 1
            elif epoch <= stored:
                raise stale_epoch_error(flow_uuid, epoch, stored, holder, expires_at)
            lease = Lease(flow_uuid, owner, epoch, ttl, now + ttl)
            self._write_lease(flow_uuid, owner, epoch, lease.expires_at)
        return lease

    def _renew_lease(self, lease: Lease) -> Lease:
        with self._write_lock.held():
            if not self._is_current(lease.flow_uuid, lease.epoch):
                raise lost_error(lease.flow_uuid, lease.epoch)
            renewed = lease.renewed(time.time() + lease.ttl)
            self._write_lease(lease.flow_uuid, lease.owner, lease.epoch, renewed.expires_at)
        return renewed

    def _release_lease(self, lease: Lease) -> None:
        with self._write_lock.held():
            if self._is_current(lease.flow_uuid, lease.epoch):
                self._write_lease(lease.flow_uuid, None, lease.epoch, 0.0)

    def _get_lease(self, flow_uuid: str) -> Lease | None:
        if not is_valid_id(flow_uuid):
            return None
        # A lease file is replaced atomically: reading it needs no lock.
        holder, epoch, expires_at = self._read_lease(flow_uuid)
        now = time.time()
        if holder is None or expires_at <= now:
            return None
        return Lease(flow_uuid, holder, epoch, expires_at - now, expires_at)

    def _is_current(self, flow_uuid: str, epoch: int) -> bool:
        if not is_valid_id(flow_uuid):
            return False
        holder, stored, _ = self._read_lease(flow_uuid)
        return holder is not None and stored == epoch

    def _check_epoch(self, flow_uuid: str, epoch: int | None) -> None:
        """The fence: called under the write lock, in the same hold as the write."""
        if epoch is not None and not self._is_current(flow_uuid, epoch):
            raise lost_error(flow_uuid, epoch)

    # -- the rest ---------------------------------------------------------------------------

    def _close(self) -> None:
        self._write_lock.close()
