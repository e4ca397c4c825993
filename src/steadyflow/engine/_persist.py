"""The engine's side of persistence: one flow detail kept in step with a Storage.

:class:`FlowRecord` is the :class:`~steadyflow.engine._storage.Persister` of a
persisted run. It loads a stored flow detail into a fresh Storage (or creates
the flow detail), turns each batch of dirty nodes into one backend write, and
holds the flow's runner lock while the engine runs. The engine loop knows
nothing of backends; it only calls ``Storage.flush()`` once per scheduling
round, before it starts anything that depends on what changed.

Durability modes:

- ``"sync"`` (default): every flush is one transaction, committed before the
  engine goes on. A completion is durable before any atom that depends on it
  is scheduled, and RUNNING is durable before ``execute`` is called.
- ``"batched"``: atom changes are grouped and written at the first flush
  :data:`BATCH_INTERVAL` seconds after the previous write (or once
  :data:`BATCH_ATOMS` atoms changed), and whenever the flow's own state
  changes, so a finished, reverted or suspended flow is durable before the
  run returns. A crash can lose what was not written yet: those atoms then
  run again, with the same idempotency keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from steadyflow.engine._factory import FactorySpec
from steadyflow.engine._recovery import RECOVERY_KEY
from steadyflow.engine._recovery import clear as clear_recovery
from steadyflow.engine._storage import Storage
from steadyflow.engine._trail import (
    STRUCTURE_KEY,
    TRANSITIONS_KEY,
    encode_structure,
    record_transition,
)
from steadyflow.errors import (
    BackendUnavailableError,
    ConflictError,
    FlowLockedError,
    IncompatibleFlowError,
    LeaseLostError,
    NotFoundError,
    PersistenceError,
    ResultSerializationError,
)
from steadyflow.persistence._urls import open_backend
from steadyflow.persistence.base import Backend
from steadyflow.persistence.leases import DEFAULT_LEASE_TTL, LeaseKeeper, process_owner
from steadyflow.persistence.models import (
    AtomDetail,
    AtomKind,
    FlowDetail,
    LogBook,
    RetryAttempt,
    is_valid_id,
    new_uuid,
)
from steadyflow.retry import Attempt
from steadyflow.states import AtomState, FlowState

if TYPE_CHECKING:
    from steadyflow.engine._plan import Plan
    from steadyflow.engine._revoke import RequestWatcher, RevokeRequest

__all__ = [
    "BATCH_ATOMS",
    "BATCH_INTERVAL",
    "DURABILITY_MODES",
    "VERSION_POLICIES",
    "FlowRecord",
    "check_flow_id",
    "resolve_backend",
]

DURABILITY_MODES = ("sync", "batched")
"""Accepted values of ``durability=``."""

VERSION_POLICIES = ("error", "accept")
"""Accepted values of ``on_version_change=``."""

BATCH_INTERVAL = 0.05
"""Batched durability: the longest a change waits before it is written (seconds)."""

BATCH_ATOMS = 512
"""Batched durability: changed atoms that trigger a write at once."""

WRITE_ATTEMPTS = 4
"""How many times a failed write is tried before the run stops with its error."""

WRITE_BACKOFF = 0.05
"""Seconds before the first retry of a failed write; doubled for each next one."""

META_FORMAT = 1
"""Version of the engine's keys in ``FlowDetail.meta``."""

# Values of these types always serialize as JSON, so checking them is skipped.
_PLAIN = frozenset({type(None), bool, int, str})


def check_flow_id(flow_id: object) -> str:
    """Return ``flow_id`` when it can name a flow detail, else raise.

    Raises:
        ValueError: not 1-64 characters of ``[A-Za-z0-9._-]`` starting with a
            letter or digit (a uuid4 string qualifies).
    """
    if not is_valid_id(flow_id):
        raise ValueError(
            f"flow_id {flow_id!r} is not a valid flow id: use 1-64 characters of "
            "[A-Za-z0-9._-] starting with a letter or digit (e.g. str(uuid.uuid4()))"
        )
    assert isinstance(flow_id, str)
    return flow_id


def resolve_backend(backend: object) -> tuple[Backend, bool]:
    """The backend ``backend`` names, and whether the caller must close it.

    Raises:
        TypeError: ``backend`` is neither a URL string nor a Backend.
        InvalidURLError: the URL does not parse.
    """
    if isinstance(backend, Backend):
        return backend, False
    if isinstance(backend, str):
        return open_backend(backend), True
    raise TypeError(
        f"backend must be a URL (e.g. 'sqlite:///state.db') or a "
        f"steadyflow.persistence.Backend, not {type(backend).__name__} {backend!r:.80}"
    )


# -- the record ------------------------------------------------------------------------


class FlowRecord:
    """One flow detail in a backend, as the engine reads and writes it.

    Args:
        backend: where the flow detail lives.
        owns_backend: close ``backend`` in :meth:`close`.
        flow_id: the flow detail's uuid.
        book: the logbook to create it in (default: one named after the flow,
            with the flow's id as its uuid).
        durability: ``"sync"`` or ``"batched"`` (see the module docstring).
        factory: how to rebuild the flow from the store alone, if given.
        on_version_change: ``"error"`` refuses to resume an atom whose
            ``version`` changed; ``"accept"`` keeps its stored state and
            records the new version.
        lease_ttl: seconds the flow's lease lasts without renewal (renewed
            every third of it while a run holds it): how long a runner that
            died blocks the flow.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        owns_backend: bool,
        flow_id: str,
        book: str | None = None,
        durability: str = "sync",
        factory: FactorySpec | None = None,
        on_version_change: str = "error",
        lease_ttl: float | None = None,
    ) -> None:
        if lease_ttl is None:
            lease_ttl = DEFAULT_LEASE_TTL
        if isinstance(lease_ttl, bool) or not isinstance(lease_ttl, int | float) or lease_ttl <= 0:
            raise ValueError(f"lease_ttl must be a positive number of seconds, not {lease_ttl!r}")
        if durability not in DURABILITY_MODES:
            raise ValueError(
                f"unknown durability {durability!r}; choose one of {list(DURABILITY_MODES)}"
            )
        if on_version_change not in VERSION_POLICIES:
            raise ValueError(
                f"unknown on_version_change {on_version_change!r}; "
                f"choose one of {list(VERSION_POLICIES)}"
            )
        if book is not None:
            check_flow_id(book)
        self.backend = backend
        self.owns_backend = owns_backend
        self.flow_id = flow_id
        self.book = book or flow_id
        self.batched = durability == "batched"
        self.factory = factory
        self.on_version_change = on_version_change
        self._serializer = backend.serializer
        self.lease_ttl = float(lease_ttl)
        self._keeper: LeaseKeeper | None = None
        self._watcher: RequestWatcher | None = None
        self.on_lease_lost: Callable[[LeaseLostError], None] | None = None
        """Called from the lease keeper's thread when the lease is lost mid-run."""
        self._flow: FlowDetail | None = None
        self._uuids: list[str] = []
        self._created: list[float] = []
        # Per node, and for the flow: the [state, time, attempt] written so far (see _trail.py).
        self._trails: list[list[list[Any]]] = []
        self._flow_trail: list[list[Any]] = []
        self._resuming = False
        self._rerun: set[int] = set()
        self._pending: set[int] = set()
        self._last_write = 0.0
        self.resumed = False

    # -- loading -------------------------------------------------------------------------

    def open(self, plan: Plan, store: Mapping[str, Any]) -> Storage:
        """A Storage for ``plan``: the stored state when the flow detail exists.

        A missing flow detail is created, under the lease (a fenced write).
        State read without holding the lease is only a look: a run reads it
        again once it holds the lease.

        Raises:
            IncompatibleFlowError: the stored flow does not fit ``plan`` (a
                changed atom version, an atom that changed kind, another flow).
            ResultSerializationError: a store value cannot be persisted.
            CorruptRecordError: the stored flow detail cannot be decoded.
        """
        count = len(plan.nodes)
        now = time.time()
        self._uuids = [new_uuid() for _ in range(count)]
        self._created = [now] * count
        self._trails = [[] for _ in range(count)]
        try:
            stored: FlowDetail | None = self.backend.get_flow_detail(self.flow_id)
        except NotFoundError:
            stored = None
        if stored is None:
            self.resumed = False
            stored = self._create_leased(plan, store)
            if stored is None:
                return Storage(plan, store=store, flow_id=self.flow_id, persister=self)
        return self._restore(plan, stored, store)

    def _create_leased(self, plan: Plan, store: Mapping[str, Any]) -> FlowDetail | None:
        """Create the flow detail under the lease (taken for the write when not held).

        A flow detail created ahead of its run (``prepare()``, to hand it to
        another process) is a fenced write like any other. When someone else
        holds the lease meanwhile, they are creating or running it: their
        flow detail, if stored yet, is the one to read.
        """
        if self._keeper is not None:
            return self._create(plan, store)
        try:
            self.acquire()
        except FlowLockedError:
            self._checked_store(store)
            try:
                return self.backend.get_flow_detail(self.flow_id)
            except NotFoundError:
                return None
        try:
            return self._create(plan, store)
        finally:
            self.release()

    def _create(self, plan: Plan, store: Mapping[str, Any]) -> FlowDetail | None:
        """Store a new flow detail; None when created, else the one someone else made."""
        meta: dict[str, Any] = {"format": META_FORMAT, "store": self._checked_store(store)}
        if self.factory is not None:
            meta["factory"] = self.factory.to_dict()
        meta[STRUCTURE_KEY] = encode_structure(plan)
        now = time.time()
        self._flow_trail = [[FlowState.PENDING.value, now, 0]]
        meta[TRANSITIONS_KEY] = list(self._flow_trail)
        detail = FlowDetail(
            uuid=self.flow_id, name=plan.flow_name, meta=meta, created_at=now, updated_at=now
        )
        epoch = self.epoch
        try:
            try:
                saved = self.backend.save_flow_detail(
                    self.book, detail, expected_version=0, epoch=epoch
                )
            except NotFoundError:
                self.backend.save_logbook(LogBook(uuid=self.book, name=plan.flow_name))
                saved = self.backend.save_flow_detail(
                    self.book, detail, expected_version=0, epoch=epoch
                )
        except LeaseLostError:
            raise  # fenced out: not someone else's creation to resume
        except ConflictError:
            # Someone created it between our read and our write: resume theirs.
            return self.backend.get_flow_detail(self.flow_id)
        self._flow = saved
        return None

    def _checked_store(self, store: Mapping[str, Any]) -> dict[str, Any]:
        for name, value in store.items():
            try:
                self._serializer.dumps(value)
            except ResultSerializationError as exc:
                raise ResultSerializationError(
                    f"store value {name!r} of flow {self.flow_id} cannot be persisted: {exc}"
                ) from exc
        return dict(store)

    def _restore(self, plan: Plan, stored: FlowDetail, store: Mapping[str, Any]) -> Storage:
        self.resumed = True
        # Saves name the logbook; the stored flow's own is the one that counts.
        self.book = self.backend.find_book_of(self.flow_id)
        if stored.name != plan.flow_name and self.on_version_change == "error":
            raise IncompatibleFlowError(
                f"flow detail {self.flow_id} belongs to flow {stored.name!r}, not "
                f"{plan.flow_name!r}; pass the flow it was saved with (or "
                "on_version_change='accept' to adopt it)"
            )
        saved_store = stored.meta.get("store")
        merged = dict(saved_store) if isinstance(saved_store, Mapping) else {}
        merged.update(store)
        storage = Storage(plan, store=merged, flow_id=self.flow_id, persister=self)
        for node in plan.nodes:
            atom = stored.atoms.get(node.name)
            if atom is not None:
                self._restore_atom(storage, node.index, atom)
        storage.flow_state = stored.state
        meta = dict(stored.meta)
        if meta.get(STRUCTURE_KEY) is None or stored.name != plan.flow_name:
            meta[STRUCTURE_KEY] = encode_structure(plan)  # stored before this was recorded
        trail = meta.get(TRANSITIONS_KEY)
        self._flow_trail = [list(t) for t in trail] if isinstance(trail, list) else []
        self._resuming = stored.state is not FlowState.PENDING
        if meta.get(RECOVERY_KEY) is not None:
            storage.flow_meta[RECOVERY_KEY] = meta[RECOVERY_KEY]
        if merged != saved_store:
            meta["store"] = self._checked_store(merged)
        self._flow = FlowDetail(
            uuid=stored.uuid,
            name=plan.flow_name,
            state=stored.state,
            meta=meta,
            version=stored.version,
            created_at=stored.created_at,
        )
        if meta != stored.meta or stored.name != plan.flow_name:
            storage.touch_flow()
        return storage

    def _restore_atom(self, storage: Storage, index: int, atom: AtomDetail) -> None:
        node = storage.plan.nodes[index]
        kind = AtomKind.RETRY if node.is_retry else AtomKind.TASK
        if atom.kind is not kind:
            raise IncompatibleFlowError(
                f"atom {node.name!r} of flow {self.flow_id} was stored as a {atom.kind.value} "
                f"and is now a {kind.value}; rename it or start a new flow"
            )
        if atom.version != node.atom.version:
            if self.on_version_change == "error":
                raise IncompatibleFlowError(
                    f"atom {node.name!r} of flow {self.flow_id} changed version from "
                    f"{atom.version!r} (stored, state {atom.state.value}) to "
                    f"{node.atom.version!r}; resuming it could mix old and new behaviour. "
                    "Pass on_version_change='accept' to resume anyway"
                )
            storage.touch(index)
        storage.states[index] = atom.state
        storage.intentions[index] = atom.intention
        storage.results[index] = atom.result
        storage.failures[index] = atom.failure
        storage.revert_results[index] = atom.revert_result
        storage.revert_failures[index] = atom.revert_failure
        meta = dict(atom.meta)
        attempt = meta.pop("attempt", 0)
        storage.attempts[index] = attempt if isinstance(attempt, int) else 0
        trail = meta.pop(TRANSITIONS_KEY, None)
        self._trails[index] = [list(t) for t in trail] if isinstance(trail, list) else []
        if atom.state in (AtomState.RUNNING, AtomState.REVERTING):
            self._rerun.add(index)  # its next write is a new start of the same attempt
        storage.meta[index] = meta or None
        if node.is_retry:
            storage.histories[index] = [Attempt(a.value, dict(a.failures)) for a in atom.history]
        self._uuids[index] = atom.uuid
        self._created[index] = atom.created_at

    # -- writing (the Persister protocol) ------------------------------------------------

    def check(self, value: Any) -> None:
        """Raise :class:`ResultSerializationError` unless ``value`` can be stored."""
        if type(value) in _PLAIN:
            return
        self._serializer.dumps(value)

    def save(self, storage: Storage, dirty: Iterable[int], flow_changed: bool) -> None:
        """Write the changed nodes (and the flow state) as one transaction.

        A batched write that fails keeps what it held back, so no change is
        ever dropped: it is retried, and the run stops with the error if it
        cannot be made durable.

        Raises:
            ConflictError: another engine saved this flow since it was loaded.
            PersistenceError: the write failed :data:`WRITE_ATTEMPTS` times.
        """
        if not self.batched:
            self._write_retrying(storage, dirty, flow_changed)
            return
        self._pending.update(dirty)
        now = time.monotonic()
        due = now - self._last_write >= BATCH_INTERVAL or len(self._pending) >= BATCH_ATOMS
        if not (flow_changed or due):
            return
        self._write_retrying(storage, sorted(self._pending), flow_changed)
        self._pending.clear()
        self._last_write = now

    def commit(self, storage: Storage) -> None:
        """Write whatever batched mode still holds back (a no-op in sync mode)."""
        if self._pending:
            self._write_retrying(storage, sorted(self._pending), False)
            self._pending.clear()

    def _write_retrying(self, storage: Storage, dirty: Iterable[int], flow_changed: bool) -> None:
        """:meth:`_write`, tried again after a short pause when the backend fails.

        Only a store that failed is retried. A conflict is not (another runner
        owns the flow now: a lost lease), nor a value that cannot be stored.
        """
        dirty = list(dirty)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self._write(storage, dirty, flow_changed)
                return
            except (ConflictError, ResultSerializationError, NotFoundError):
                raise
            except (PersistenceError, BackendUnavailableError):
                if attempt == WRITE_ATTEMPTS:
                    raise
                time.sleep(WRITE_BACKOFF * 2 ** (attempt - 1))

    def _write(self, storage: Storage, dirty: Iterable[int], flow_changed: bool) -> None:
        keeper = self._keeper
        if keeper is None:
            raise LeaseLostError(
                f"flow {self.flow_id} is written only by the holder of its lease",
                flow_id=self.flow_id,
            )
        keeper.check()
        try:
            self._write_fenced(storage, dirty, flow_changed, keeper.epoch)
        except LeaseLostError as exc:
            keeper.mark_lost(exc)
            raise

    def _write_fenced(
        self, storage: Storage, dirty: Iterable[int], flow_changed: bool, epoch: int
    ) -> None:
        now = time.time()
        atoms = [self._detail(storage, index, now) for index in dirty]
        if not flow_changed:
            self.backend.save_atom_details(self.flow_id, atoms, epoch=epoch)
            return
        flow = self._flow
        assert flow is not None
        # The engine's own keys of the flow meta (the recovery record) go out in
        # the same transaction as the atoms of the round; None removes a key.
        meta = flow.meta
        changed = False
        if self._resuming:
            self._resuming = False
            changed = record_transition(self._flow_trail, FlowState.RESUMING.value, now, 0)
        changed = record_transition(self._flow_trail, storage.flow_state.value, now, 0) or changed
        if changed:
            meta = dict(meta)
            meta[TRANSITIONS_KEY] = list(self._flow_trail)
        if storage.flow_meta:
            meta = dict(meta)
            for key, value in storage.flow_meta.items():
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value
        update = FlowDetail(
            uuid=flow.uuid,
            name=flow.name,
            state=storage.flow_state,
            meta=meta,
            atoms={atom.name: atom for atom in atoms},
            created_at=flow.created_at,
            updated_at=now,
        )
        # The epoch fences every other writer out, so no version check is needed, and
        # without one a write whose commit was lost with its connection (it may have
        # landed) can simply be made again.
        try:
            saved = self.backend.save_flow_detail(self.book, update, epoch=epoch)
        except LeaseLostError:
            raise  # the runner must see its lost lease as such, not as a plain conflict
        except ConflictError as exc:
            raise ConflictError(f"flow {self.flow_id} cannot be saved: {exc}") from exc
        self._flow = FlowDetail(
            uuid=flow.uuid,
            name=flow.name,
            state=saved.state,
            meta=meta,
            version=saved.version,
            created_at=flow.created_at,
            updated_at=now,
        )

    def _detail(self, storage: Storage, index: int, now: float) -> AtomDetail:
        node = storage.plan.nodes[index]
        extra = storage.meta[index]
        attempt = storage.attempts[index]
        meta: dict[str, Any] = {"attempt": attempt, **extra} if extra else {"attempt": attempt}
        trail = self._trails[index]
        again = index in self._rerun
        if again:
            self._rerun.discard(index)
        record_transition(trail, storage.states[index].value, now, attempt, again=again)
        # A copy: the record may outlive this write while the trail grows (entries never change).
        meta[TRANSITIONS_KEY] = list(trail)
        history: tuple[RetryAttempt, ...] = ()
        if node.is_retry:
            history = tuple(
                RetryAttempt(value=a.value, failures=a.failures) for a in storage.histories[index]
            )
        return AtomDetail(
            uuid=self._uuids[index],
            name=node.name,
            kind=AtomKind.RETRY if node.is_retry else AtomKind.TASK,
            state=storage.states[index],
            intention=storage.intentions[index],
            result=storage.results[index],
            failure=storage.failures[index],
            revert_result=storage.revert_results[index],
            revert_failure=storage.revert_failures[index],
            history=history,
            version=node.atom.version,
            meta=meta,
            created_at=self._created[index],
            updated_at=now,
        )

    def reset(self, storage: Storage) -> Storage:
        """A fresh Storage for a rerun from the start, written at the next flush.

        Attempt counters are kept, so a rerun's attempts get new idempotency
        keys instead of repeating those of the run it replaces.
        """
        fresh = Storage(storage.plan, store=storage.store, flow_id=self.flow_id, persister=self)
        fresh.attempts[:] = storage.attempts
        for index in range(len(storage.plan.nodes)):
            fresh.touch(index)
        fresh.touch_flow()
        clear_recovery(fresh)
        return fresh

    # -- running ---------------------------------------------------------------------------

    @property
    def epoch(self) -> int | None:
        """The epoch of the lease this record holds (None without one)."""
        return None if self._keeper is None else self._keeper.epoch

    @property
    def holds_lease(self) -> bool:
        """Whether a run holds the flow's lease and has not lost it."""
        return self._keeper is not None and self._keeper.lost is None

    def acquire(self) -> None:
        """Take the flow's lease for one run and keep it renewed in the background.

        Raises:
            FlowLockedError: another runner (here or in another process) holds it.
        """
        if self._keeper is not None:
            return
        sent = time.monotonic()
        try:
            lease = self.backend.acquire_lease(self.flow_id, process_owner(), self.lease_ttl)
        except FlowLockedError as exc:
            holder = exc.holder or "another runner"
            until = ""
            if exc.expires_at is not None:
                left = max(0.0, exc.expires_at - time.time())
                until = f" (its lease expires in {left:.1f} s unless renewed)"
            raise FlowLockedError(
                f"cannot run flow {self.flow_id}: {holder} holds it{until}; "
                "a flow has one runner at a time",
                flow_id=self.flow_id,
                holder=exc.holder,
                expires_at=exc.expires_at,
            ) from exc
        self._keeper = LeaseKeeper(
            self.backend, lease, acquired_at=sent, on_lost=self._lease_lost
        ).start()

    def _lease_lost(self, error: LeaseLostError) -> None:
        callback = self.on_lease_lost
        if callback is not None:
            callback(error)

    def watch_revoke(self, on_request: Callable[[RevokeRequest], None]) -> None:
        """Obey a stored revoke request: one read now, then a watcher until :meth:`release`.

        Called with the lease held: a request stored while nobody ran the
        flow is found at once, one stored later within a poll interval.
        """
        from steadyflow.engine._revoke import RequestWatcher, read_request

        request = read_request(self.backend, self.flow_id)
        if request is not None:
            on_request(request)
            return
        if self._watcher is None:
            self._watcher = RequestWatcher(self.backend, self.flow_id, on_request).start()

    def revoke_done(self) -> None:
        """Delete the stored revoke request: the flow is reverted (or failed reverting)."""
        from steadyflow.engine._revoke import delete_request

        delete_request(self.backend, self.flow_id)

    def check_lease(self) -> None:
        """Raise :class:`LeaseLostError` when the lease of the current run is gone."""
        if self._keeper is not None:
            self._keeper.check()

    def release(self) -> None:
        """Stop renewing the lease and give it up (idempotent; a lost one is left alone)."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.stop(release=True)

    def close(self) -> None:
        """Release the lease, and close the backend when this record opened it."""
        self.release()
        if self.owns_backend:
            self.backend.close()
