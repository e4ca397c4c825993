"""TaskFlow's persistence objects over steadyflow's backends and records.

steadyflow's engine writes a run's flow detail itself, under the flow's
uuid, in the logbook it is given. So a TaskFlow program's new, empty flow
detail is not written when its logbook is saved: the backend remembers it
(it still shows in the logbook) until the engine creates the real one.
Store values appear as TaskFlow's ``_TaskFlow_INJECTOR`` task detail.
"""

from __future__ import annotations

import importlib
import uuid as uuidlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import steadyflow as sf
from steadyflow.compat.taskflow import exceptions
from steadyflow.compat.taskflow._internals import FactorySpec
from steadyflow.compat.taskflow.persistence import models
from steadyflow.compat.taskflow.types.failure import Failure

if TYPE_CHECKING:
    from steadyflow.compat.taskflow.engines.action_engine.engine import ActionEngine
    from steadyflow.persistence import AtomDetail as NativeAtom
    from steadyflow.persistence import Backend as NativeBackend
    from steadyflow.persistence import FlowDetail as NativeFlow

__all__ = [
    "Backend",
    "Connection",
    "build_from_factory",
    "engine_options",
    "new_flow_detail",
    "open_native",
    "save_factory",
]

INJECTOR_NAME = "_TaskFlow_INJECTOR"
_HIDDEN_META = frozenset({"format", "store", "factory", "structure", "transitions"})
_ENGINE_ATOM_META = frozenset({"attempt", "transitions"})


def open_native(settings: Mapping[str, Any]) -> NativeBackend:
    """steadyflow's backend for TaskFlow's ``{"connection": URL, "path": ...}``.

    ``memory``, ``dir`` and ``file`` are mapped here; any other URL (``sqlite:``,
    and the PostgreSQL and MySQL ones) goes to steadyflow's ``open_backend``.

    Raises:
        NotFound: steadyflow has no backend for the URL's scheme.
        ValueError: a dir/file backend without a path.
    """
    from steadyflow import persistence

    url = str(settings.get("connection", ""))
    scheme, _, rest = url.partition(":")
    scheme = scheme.partition("+")[0]
    if scheme == "memory":
        return persistence.MemoryBackend()
    if scheme in ("dir", "file"):
        path = settings.get("path") or rest.removeprefix("//")
        if not path:
            raise ValueError("Empty path is disallowed")
        return persistence.DirectoryBackend(str(path))
    try:
        return persistence.open_backend(url)
    except sf.errors.InvalidURLError as exc:
        raise exceptions.NotFound(f"Could not find backend {scheme!r}: {exc}") from exc


class Backend:
    """A TaskFlow persistence backend; :meth:`get_connection` reads and writes logbooks."""

    def __init__(self, native: NativeBackend, conf: Mapping[str, Any]) -> None:
        self.native = native
        self.conf = dict(conf)
        self.pending: dict[str, dict[str, models.FlowDetail]] = {}
        self.known_books: set[str] = set()
        """Logbooks known to exist in the backend (created or seen by this object)."""
        self.atom_order: dict[str, list[PlannedAtom]] = {}
        """flow uuid -> its atoms in declaration order, for flows run in this process."""

    def get_connection(self) -> Connection:
        """A connection to this backend."""
        return Connection(self)

    def close(self) -> None:
        """Release the backend's resources."""
        self.native.close()


class Connection:
    """Reads and writes TaskFlow logbooks in a backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._native = backend.native

    def upgrade(self) -> None:
        """Create or migrate the backend's schema."""
        self._native.upgrade()

    def validate(self) -> None:
        """Check the backend is usable (steadyflow checks on open)."""

    def close(self) -> None:
        """Nothing to release per connection."""

    def save_logbook(self, book: models.LogBook) -> models.LogBook:
        """Save ``book``; its new flow details are written when an engine runs them."""
        ensure_book(self.backend, book)
        for fd in book:
            try:
                self._native.get_flow_detail(fd.uuid)
            except sf.errors.NotFoundError:
                self.backend.pending.setdefault(book.uuid, {})[fd.uuid] = fd
        return book

    def get_logbook(self, book_uuid: str, lazy: bool = False) -> models.LogBook:
        """The logbook ``book_uuid`` with its flow details.

        Raises:
            NotFound: no such logbook.
        """
        try:
            native = self._native.get_logbook(book_uuid)
        except sf.errors.NotFoundError as exc:
            raise exceptions.NotFound(f"No logbook found with uuid '{book_uuid}'") from exc
        return self._book(native)

    def get_logbooks(self, lazy: bool = False) -> list[models.LogBook]:
        """Every logbook."""
        return [self._book(native) for native in self._native.list_logbooks()]

    def get_flows_for_book(self, book_uuid: str, lazy: bool = False) -> list[models.FlowDetail]:
        """The flow details of logbook ``book_uuid``."""
        return list(self.get_logbook(book_uuid))

    def get_flow_details(self, fd_uuid: str, lazy: bool = False) -> models.FlowDetail:
        """The flow detail ``fd_uuid``.

        Raises:
            NotFound: no such flow detail.
        """
        try:
            return flow_detail_of(self._native.get_flow_detail(fd_uuid), self.backend)
        except sf.errors.NotFoundError as exc:
            raise exceptions.NotFound(f"No flow details found with uuid '{fd_uuid}'") from exc

    def get_atoms_for_flow(self, fd_uuid: str) -> list[models.AtomDetail]:
        """The atom details of flow detail ``fd_uuid``."""
        return list(self.get_flow_details(fd_uuid))

    def destroy_logbook(self, book_uuid: str) -> None:
        """Delete logbook ``book_uuid`` and everything in it."""
        self.backend.pending.pop(book_uuid, None)
        self.backend.known_books.discard(book_uuid)
        try:
            self._native.delete_logbook(book_uuid)
        except sf.errors.NotFoundError as exc:
            raise exceptions.NotFound(f"No logbook found with uuid '{book_uuid}'") from exc

    def clear_all(self) -> None:
        """Delete every logbook."""
        for book in self._native.list_logbooks():
            self._native.delete_logbook(book.uuid)
        self.backend.pending.clear()
        self.backend.known_books.clear()

    def _book(self, native: sf.persistence.LogBook) -> models.LogBook:
        book = models.LogBook(native.name, uuid=native.uuid)
        book.meta = dict(native.meta)
        book.created_at, book.updated_at = native.created_at, native.updated_at
        for stored in native.flows.values():
            book.add(flow_detail_of(stored, self.backend))
        for fd_uuid, pending in self.backend.pending.get(native.uuid, {}).items():
            if book.find(fd_uuid) is None:
                book.add(pending)
        return book


def ensure_book(backend: Backend, book: models.LogBook) -> None:
    """Create logbook ``book`` in ``backend`` unless it exists; note its timestamps on it."""
    if book.uuid in backend.known_books:
        return
    try:
        stored = backend.native.get_logbook(book.uuid)
    except sf.errors.NotFoundError:
        from steadyflow.persistence import LogBook

        stored = LogBook(uuid=book.uuid, name=book.name, meta=dict(book.meta))
        backend.native.save_logbook(stored)
    book.created_at, book.updated_at = stored.created_at, stored.updated_at
    backend.known_books.add(book.uuid)


def flow_detail_of(native: NativeFlow, backend: Backend) -> models.FlowDetail:
    """steadyflow's flow detail as TaskFlow's, the store as ``_TaskFlow_INJECTOR``.

    When an engine of this process ran the flow, atom details come in the
    flow's declaration order and atoms that did not start show as PENDING, as
    TaskFlow lists them; otherwise only the atoms stored, in stored order.
    """
    fd = models.FlowDetail(native.name, native.uuid)
    fd.state = str(native.state)
    fd.meta = {k: v for k, v in native.meta.items() if k not in _HIDDEN_META}
    factory = native.meta.get("factory")
    if isinstance(factory, Mapping) and isinstance(factory.get("target"), str):
        fd.meta["factory"] = {
            "name": factory["target"].replace(":", "."),
            "args": list(factory.get("args", ())),
            "kwargs": dict(factory.get("kwargs", {})),
        }
    store = native.meta.get("store")
    if store:
        injector = models.TaskDetail(
            INJECTOR_NAME, str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, fd.uuid))
        )
        injector.state = "SUCCESS"
        injector.results = dict(store)
        fd.add(injector)
    stored = {atom.name: atom for atom in native.atoms.values()}
    for planned in backend.atom_order.get(native.uuid, ()):
        atom = stored.pop(planned.name, None)
        fd.add(_atom_detail_of(atom) if atom is not None else _pending_detail(fd, planned))
    for atom in stored.values():
        fd.add(_atom_detail_of(atom))
    return fd


class PlannedAtom(NamedTuple):
    """An atom of a flow an engine of this process runs: what its detail shows before it starts."""

    name: str
    is_retry: bool
    version: str


def _pending_detail(fd: models.FlowDetail, planned: PlannedAtom) -> models.AtomDetail:
    """The detail TaskFlow shows for an atom that has not started (steadyflow stores none)."""
    made = models.RetryDetail if planned.is_retry else models.TaskDetail
    ad = made(planned.name, str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{fd.uuid}/{planned.name}")))
    ad.state = "PENDING"
    ad.version = planned.version
    return ad


def _atom_detail_of(native: NativeAtom) -> models.AtomDetail:
    is_retry = str(native.kind) == "retry" or bool(native.history)
    ad: models.AtomDetail
    if is_retry:
        ad = models.RetryDetail(native.name, native.uuid)
        ad.results = [
            (attempt.value, {n: Failure.adopt(f) for n, f in attempt.failures.items()})
            for attempt in native.history
        ]
    else:
        ad = models.TaskDetail(native.name, native.uuid)
        ad.results = native.result
    ad.state = str(native.state)
    ad.intention = str(native.intention)
    ad.failure = None if native.failure is None else Failure.adopt(native.failure)
    ad.revert_results = native.revert_result
    ad.revert_failure = (
        None if native.revert_failure is None else Failure.adopt(native.revert_failure)
    )
    # steadyflow's own bookkeeping (attempt counter, transitions) is not TaskFlow's metadata.
    ad.meta = {k: v for k, v in native.meta.items() if k not in _ENGINE_ATOM_META}
    if not is_retry and "progress" not in ad.meta and ad.state != "PENDING":
        # TaskFlow's engine reports 0.0 when a task starts and 1.0 when it ends.
        ad.meta["progress"] = 0.0 if ad.state == "RUNNING" else 1.0
    ad.version = native.version
    return ad


def refresh(engine: ActionEngine) -> None:
    """Bring the program's own flow detail (and logbook) up to date after a run.

    TaskFlow programs often print the objects they passed to ``engines.load``
    after running; steadyflow wrote new records, so copy them in.
    """
    backend: Backend = engine.backend
    fd = engine.flow_detail
    try:
        stored = flow_detail_of(backend.native.get_flow_detail(fd.uuid), backend)
    except sf.errors.NotFoundError:
        return
    fd.update(stored)


def new_flow_detail(backend: Backend, flow: sf.Flow, book: Any) -> tuple[Any, Any]:
    """A logbook (``book``, or a new one) and a new flow detail for ``flow`` in it."""
    if book is None:
        book = models.LogBook(f"{flow.name}-book")
    fd = models.FlowDetail(flow.name, str(uuidlib.uuid4()))
    book.add(fd)
    backend.get_connection().save_logbook(book)
    return book, fd


LEASE_TTL = 5.0
"""The lease of a persisted run under the layer (steadyflow's own default is 30 s).

TaskFlow has no runner exclusion: a program resumes a crashed run at once.
Under the layer a run holds steadyflow's lease, so the resume waits for a
dead runner's lease to run out (see :func:`wait_for_lease`); a short lease
keeps that wait close to TaskFlow's "at once".
"""


def wait_for_lease(native: sf.Engine, backend: Backend) -> None:
    """Wait until nobody holds the lease of ``native``'s flow (a crashed runner's ends).

    Waits at most one lease TTL past the holder's expiry, then lets the run
    try anyway (and raise FlowLockedError when the holder is alive after all).
    """
    import time

    deadline = time.monotonic() + 2 * LEASE_TTL
    while time.monotonic() < deadline:
        lease = backend.native.get_lease(native.flow_id)
        if lease is None:
            return
        time.sleep(min(0.1, LEASE_TTL / 10))


def engine_options(engine: ActionEngine) -> dict[str, Any]:
    """The ``backend``, ``book`` and ``factory`` options of steadyflow's engine."""
    backend: Backend = engine.backend
    options: dict[str, Any] = {"backend": backend.native, "lease_ttl": LEASE_TTL}
    backend.atom_order[engine.flow_uuid] = [
        PlannedAtom(atom.name, isinstance(atom, sf.Retry), atom.version)
        for atom in engine.flow.iter_atoms()
    ]
    if engine.book is not None:
        ensure_book(backend, engine.book)
        options["book"] = engine.book.uuid
    factory = getattr(engine.flow_detail, "meta", {}).get("factory")
    if isinstance(factory, Mapping) and isinstance(factory.get("name"), str):
        module, _, name = factory["name"].rpartition(".")
        # Taken as it is: TaskFlow accepts a factory of the running script
        # (``__main__``), which steadyflow's own API refuses.
        options["factory"] = FactorySpec(
            f"{module}:{name}",
            tuple(factory.get("args") or ()),
            dict(factory.get("kwargs") or {}),
        )
    return options


def save_factory(fd: Any, factory: Any, args: Any, kwargs: Any, backend: Any) -> None:
    """Record in ``fd`` how its flow is rebuilt (saved when its engine first writes)."""
    name = f"{factory.__module__}.{factory.__qualname__}" if callable(factory) else str(factory)
    fd.meta["factory"] = {"name": name, "args": list(args or ()), "kwargs": dict(kwargs or {})}


def build_from_factory(fd: Any) -> sf.Flow:
    """Rebuild ``fd``'s flow with the factory recorded in its meta.

    Raises:
        ValueError: no factory is recorded.
    """
    factory = getattr(fd, "meta", {}).get("factory")
    if not isinstance(factory, Mapping) or not factory.get("name"):
        raise ValueError(f"Cannot reconstruct flow {fd.name} {fd.uuid}: no factory provided")
    module, _, name = str(factory["name"]).rpartition(".")
    function = getattr(importlib.import_module(module), name)
    flow = function(*(factory.get("args") or ()), **(factory.get("kwargs") or {}))
    if not isinstance(flow, sf.Flow):
        raise ValueError(f"factory {factory['name']} returned {flow!r}, not a flow")
    return flow
